-- Coffer core schema. Append-only: change the schema with a new migration file.
-- Timestamps are Unix microseconds (UTC). Only wrapped keys and ciphertext are stored.

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE memberships (
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL,
    PRIMARY KEY (account_id, user_id)
);

CREATE TABLE security_groups (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    name            TEXT NOT NULL,
    master_version  INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE apps (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE app_groups (
    app_id    TEXT NOT NULL REFERENCES apps(id),
    group_id  TEXT NOT NULL REFERENCES security_groups(id),
    PRIMARY KEY (app_id, group_id)
);

-- digest = HMAC-SHA-256 under a key that never leaves the HSM.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    principal_kind  TEXT NOT NULL,
    principal_id    TEXT NOT NULL,
    name            TEXT NOT NULL,
    flags           TEXT NOT NULL,
    digest          BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    disabled        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_account ON api_keys(account_id);

CREATE TABLE keyrings (
    id                      TEXT PRIMARY KEY,
    account_id              TEXT NOT NULL REFERENCES accounts(id),
    group_id                TEXT NOT NULL REFERENCES security_groups(id),
    name                    TEXT NOT NULL,
    protection              TEXT NOT NULL,
    current_version         INTEGER NOT NULL,
    min_decryption_version  INTEGER NOT NULL,
    enabled                 INTEGER NOT NULL,
    rotation_period_days    INTEGER,
    max_encrypt_count       INTEGER,
    cache_ttl_seconds       INTEGER NOT NULL,
    created_at              INTEGER NOT NULL,
    rotated_at              INTEGER NOT NULL,
    deleted_at              INTEGER
);
-- A name is unique among live keyrings; one in the trash does not block its reuse.
CREATE UNIQUE INDEX keyrings_live_name ON keyrings(account_id, name) WHERE deleted_at IS NULL;

-- wrapped_key: RFC 5649 wrap under token key `wrapping_key` (protection envelope).
-- token_key: label of the token object holding the key itself (protection hsm).
CREATE TABLE keyring_versions (
    keyring_id     TEXT NOT NULL REFERENCES keyrings(id),
    version        INTEGER NOT NULL,
    key_ref        BLOB NOT NULL,
    wrapped_key    BLOB,
    wrapping_key   TEXT,
    token_key      TEXT,
    kcv            TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    encrypt_count  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (keyring_id, version)
);
CREATE INDEX keyring_versions_ref ON keyring_versions(key_ref);

CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL,
    time         INTEGER NOT NULL,
    account_id   TEXT,
    principal    TEXT,
    auth_method  TEXT NOT NULL,
    action       TEXT NOT NULL,
    object       TEXT,
    outcome      TEXT NOT NULL,
    status       INTEGER NOT NULL,
    source_ip    TEXT,
    request_id   TEXT NOT NULL
);
CREATE INDEX audit_events_account_time ON audit_events(account_id, time);
