-- Machines: apps whose credential is an Ed25519 public key (the private key stays on the
-- machine), the tokens that enroll them, and the nonces of signed requests.
-- A machine's id is also its app id: groups, grants and the audit trail treat it as an app.

CREATE TABLE machines (
    id                   TEXT PRIMARY KEY REFERENCES apps(id),
    account_id           TEXT NOT NULL REFERENCES accounts(id),
    public_key           BLOB NOT NULL,
    -- bootstrap | provisioned | enrollment | temporary
    origin               TEXT NOT NULL,
    -- pending | approved
    status               TEXT NOT NULL,
    enabled              INTEGER NOT NULL DEFAULT 1,
    flags                TEXT NOT NULL,
    created_at           INTEGER NOT NULL,
    approved_at          INTEGER,
    -- Temporary machines: how long the machine lives once approved.
    lifetime_seconds     INTEGER,
    expires_at           INTEGER,
    -- The expiry before the last extension, so that it can be reverted.
    previous_expires_at  INTEGER,
    -- JSON guardrails of a temporary machine (allowed sources, time window).
    guardrails           TEXT,
    token_id             TEXT,
    disabled_at          INTEGER,
    deleted_at           INTEGER
);
CREATE INDEX machines_account ON machines(account_id);

-- Bootstrap, enrollment and temporary tokens, and single-use bundle downloads. Only an HSM
-- HMAC digest of each token is kept. A bundle's private key is kept only encrypted under a
-- key derived from its download token, and erased once downloaded.
CREATE TABLE machine_tokens (
    id                        TEXT PRIMARY KEY,
    account_id                TEXT NOT NULL REFERENCES accounts(id),
    -- bootstrap | enrollment | temporary | bundle
    kind                      TEXT NOT NULL,
    name                      TEXT NOT NULL,
    digest                    BLOB NOT NULL,
    created_by                TEXT NOT NULL,
    created_at                INTEGER NOT NULL,
    expires_at                INTEGER NOT NULL,
    max_uses                  INTEGER NOT NULL,
    uses                      INTEGER NOT NULL DEFAULT 0,
    flags                     TEXT NOT NULL,
    -- JSON object: group id -> operations granted to machines enrolled with the token.
    grants                    TEXT NOT NULL,
    machine_lifetime_seconds  INTEGER,
    guardrails                TEXT,
    machine_id                TEXT,
    sealed_bundle             BLOB,
    disabled_at               INTEGER
);
CREATE INDEX machine_tokens_account ON machine_tokens(account_id);

-- Nonces of accepted signed requests, until their timestamp is out of the window.
CREATE TABLE machine_nonces (
    machine_id  TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (machine_id, nonce)
) WITHOUT ROWID;
CREATE INDEX machine_nonces_expiry ON machine_nonces(expires_at);

-- Why a request was refused, when the outcome code alone does not say (which check of a
-- signed request failed).
ALTER TABLE audit_events ADD COLUMN detail TEXT;
