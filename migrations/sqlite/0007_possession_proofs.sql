-- Proof of possession for client-certificate credentials. A pinned binding or a trusted CA
-- registered with a signature by the certificate's private key over
-- `coffer-possession-proof:v1:<account id>:<sha256 fingerprint>` is proven (1); a CA rule is
-- proven when its CA is. When a certificate matches a proven binding, unproven ones do not
-- count, so another account cannot lock an app out by binding its public certificate.
-- Rows written before are unproven: nobody showed the key.
ALTER TABLE app_certificates ADD COLUMN proven INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trusted_cas ADD COLUMN proven INTEGER NOT NULL DEFAULT 0;
CREATE INDEX trusted_cas_fingerprint ON trusted_cas(fingerprint);
