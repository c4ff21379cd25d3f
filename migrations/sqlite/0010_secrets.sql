-- Secrets (see src/store/secrets.rs): values with versions, each version sealed with its own
-- data key (wrapped by the group master key); explicit read grants; frozen groups.
CREATE TABLE secrets (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id),
    group_id         TEXT NOT NULL REFERENCES security_groups(id),
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('single', 'structured', 'managed', 'canary')),
    current_version  INTEGER NOT NULL,
    latest_version   INTEGER NOT NULL,
    retention        INTEGER NOT NULL,
    rotation         TEXT,
    next_rotation_at INTEGER,
    managed          TEXT,
    canary_cascade   TEXT NOT NULL DEFAULT '[]',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    deleted_at       INTEGER
);
CREATE UNIQUE INDEX secrets_live_name ON secrets(account_id, name) WHERE deleted_at IS NULL;
CREATE INDEX secrets_group ON secrets(group_id);
CREATE INDEX secrets_due ON secrets(next_rotation_at) WHERE next_rotation_at IS NOT NULL;

CREATE TABLE secret_versions (
    secret_id    TEXT NOT NULL REFERENCES secrets(id),
    version      INTEGER NOT NULL,
    fields       TEXT NOT NULL,
    wrapped_key  BLOB NOT NULL,
    wrapping_key TEXT NOT NULL,
    nonce        BLOB NOT NULL,
    sealed       BLOB NOT NULL,
    origin       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    state        TEXT NOT NULL,
    applied_at   INTEGER,
    PRIMARY KEY (secret_id, version)
);
CREATE INDEX secret_versions_wrapping ON secret_versions(wrapping_key);

CREATE TABLE secret_grants (
    secret_id  TEXT NOT NULL REFERENCES secrets(id),
    app_id     TEXT NOT NULL REFERENCES apps(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (secret_id, app_id)
);
CREATE INDEX secret_grants_app ON secret_grants(app_id);

-- A frozen group serves no app or machine read of a secret and no decrypt until an owner or
-- admin unfreezes it (a canary tripped, or an operator froze it).
ALTER TABLE security_groups ADD COLUMN frozen_at INTEGER;
ALTER TABLE security_groups ADD COLUMN frozen_reason TEXT;

-- How loud an event is: info, warning (a user revealed a secret) or critical (a canary).
ALTER TABLE audit_events ADD COLUMN severity TEXT NOT NULL DEFAULT 'info';

-- A keyring or key marked canary freezes its group on its first use by an app.
ALTER TABLE keyrings ADD COLUMN canary INTEGER NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN canary INTEGER NOT NULL DEFAULT 0;
