-- Asymmetric security objects: key pairs (private half in the HSM), public keys alone,
-- and the certificates linked to them. Only public material is stored here.

CREATE TABLE keys (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    group_id        TEXT NOT NULL REFERENCES security_groups(id),
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('key_pair', 'public_key')),
    algorithm       TEXT NOT NULL,
    can_sign        INTEGER NOT NULL,
    can_decrypt     INTEGER NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    current_version INTEGER NOT NULL,
    min_version     INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL,
    deleted_at      INTEGER
);
-- Names are unique among live keys of an account; trashed ones keep theirs.
CREATE UNIQUE INDEX keys_live_name ON keys(account_id, name) WHERE deleted_at IS NULL;

CREATE TABLE key_versions (
    key_id      TEXT NOT NULL REFERENCES keys(id),
    version     INTEGER NOT NULL,
    -- DER SubjectPublicKeyInfo.
    public_key  BLOB NOT NULL,
    -- SHA-256 of public_key, hex: how certificates find their key.
    fingerprint TEXT NOT NULL,
    -- Label of the private key in the token; NULL for imported public keys.
    token_label TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (key_id, version)
);

CREATE TABLE certificates (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts(id),
    key_id            TEXT NOT NULL REFERENCES keys(id),
    key_version       INTEGER NOT NULL,
    der               BLOB NOT NULL,
    -- The rest of the imported bundle (intermediates, root), PEM, possibly empty.
    chain_pem         TEXT NOT NULL,
    subject           TEXT NOT NULL,
    issuer            TEXT NOT NULL,
    serial            TEXT NOT NULL,
    not_before        INTEGER NOT NULL,
    not_after         INTEGER NOT NULL,
    subject_alt_names TEXT NOT NULL,
    key_usage         TEXT NOT NULL,
    is_ca             INTEGER NOT NULL,
    fingerprint       TEXT NOT NULL,
    created_at        INTEGER NOT NULL
);
CREATE INDEX certificates_key ON certificates(key_id);
CREATE UNIQUE INDEX certificates_once ON certificates(key_id, fingerprint);
