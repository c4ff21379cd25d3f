-- Secrets (see src/store/secrets.rs): values with versions, each version sealed with its own
-- data key (wrapped by the group master key); explicit read grants; frozen groups.
CREATE TABLE secrets (
    id               TEXT COLLATE "C" PRIMARY KEY,
    account_id       TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    group_id         TEXT COLLATE "C" NOT NULL REFERENCES security_groups(id),
    name             TEXT COLLATE "C" NOT NULL,
    kind             TEXT COLLATE "C" NOT NULL CHECK (kind IN ('single', 'structured', 'managed', 'canary')),
    current_version  BIGINT NOT NULL,
    latest_version   BIGINT NOT NULL,
    retention        BIGINT NOT NULL,
    rotation         TEXT COLLATE "C",
    next_rotation_at BIGINT,
    managed          TEXT COLLATE "C",
    canary_cascade   TEXT COLLATE "C" NOT NULL DEFAULT '[]',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    deleted_at       BIGINT
);
CREATE UNIQUE INDEX secrets_live_name ON secrets(account_id, name) WHERE deleted_at IS NULL;
CREATE INDEX secrets_group ON secrets(group_id);
CREATE INDEX secrets_due ON secrets(next_rotation_at) WHERE next_rotation_at IS NOT NULL;

CREATE TABLE secret_versions (
    secret_id    TEXT COLLATE "C" NOT NULL REFERENCES secrets(id),
    version      BIGINT NOT NULL,
    fields       TEXT COLLATE "C" NOT NULL,
    wrapped_key  BYTEA NOT NULL,
    wrapping_key TEXT COLLATE "C" NOT NULL,
    nonce        BYTEA NOT NULL,
    sealed       BYTEA NOT NULL,
    origin       TEXT COLLATE "C" NOT NULL,
    created_by   TEXT COLLATE "C" NOT NULL,
    created_at   BIGINT NOT NULL,
    state        TEXT COLLATE "C" NOT NULL,
    applied_at   BIGINT,
    PRIMARY KEY (secret_id, version)
);
CREATE INDEX secret_versions_wrapping ON secret_versions(wrapping_key);

CREATE TABLE secret_grants (
    secret_id  TEXT COLLATE "C" NOT NULL REFERENCES secrets(id),
    app_id     TEXT COLLATE "C" NOT NULL REFERENCES apps(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (secret_id, app_id)
);
CREATE INDEX secret_grants_app ON secret_grants(app_id);

-- A frozen group serves no app or machine read of a secret and no decrypt until an owner or
-- admin unfreezes it (a canary tripped, or an operator froze it).
ALTER TABLE security_groups ADD COLUMN frozen_at BIGINT;
ALTER TABLE security_groups ADD COLUMN frozen_reason TEXT;

-- How loud an event is: info, warning (a user revealed a secret) or critical (a canary).
ALTER TABLE audit_events ADD COLUMN severity TEXT COLLATE "C" NOT NULL DEFAULT 'info';

-- A keyring or key marked canary freezes its group on its first use by an app.
ALTER TABLE keyrings ADD COLUMN canary BIGINT NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN canary BIGINT NOT NULL DEFAULT 0;
