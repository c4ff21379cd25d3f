-- Identity: passwords, roles, sessions, login lockouts, password-reset tokens, group
-- membership of users and apps, app lifecycle, TLS client-certificate credentials.
-- Secrets are stored only as Argon2id hashes (passwords) or HSM-keyed HMAC digests (tokens).

ALTER TABLE accounts ADD COLUMN deletion_requested_at INTEGER;
ALTER TABLE accounts ADD COLUMN deletion_due_at INTEGER;
ALTER TABLE accounts ADD COLUMN closed_at INTEGER;

-- PHC string of an Argon2id hash; NULL until the user sets a password (reset token).
ALTER TABLE users ADD COLUMN password_hash TEXT;

ALTER TABLE memberships ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;

-- A deleted group keeps its row (objects trashed with it still point at it) but frees its name.
ALTER TABLE security_groups ADD COLUMN deleted_at INTEGER;

ALTER TABLE apps ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE apps ADD COLUMN deleted_at INTEGER;

-- JSON list of the operations the app may perform on the group's objects.
ALTER TABLE app_groups ADD COLUMN operations TEXT NOT NULL
    DEFAULT '["encrypt","decrypt","sign","verify","wrap","unwrap","mac","export","manage-objects"]';

CREATE TABLE group_users (
    group_id  TEXT NOT NULL REFERENCES security_groups(id),
    user_id   TEXT NOT NULL REFERENCES users(id),
    role      TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_users_user ON group_users(user_id);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    user_id       TEXT NOT NULL REFERENCES users(id),
    digest        BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    source_ip     TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Failed logins per source address; survives restarts and is shared by every node.
CREATE TABLE login_failures (
    source        TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  INTEGER NOT NULL,
    locked_until  INTEGER
);

CREATE TABLE password_resets (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    digest      BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

CREATE TABLE trusted_cas (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    name         TEXT NOT NULL,
    der          BLOB NOT NULL,
    subject      TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX trusted_cas_subject ON trusted_cas(subject);

-- kind 'pinned': fingerprint of the one certificate; kind 'ca': ca_id plus subject/SAN rule.
CREATE TABLE app_certificates (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    app_id       TEXT NOT NULL REFERENCES apps(id),
    kind         TEXT NOT NULL CHECK (kind IN ('pinned', 'ca')),
    fingerprint  TEXT,
    ca_id        TEXT REFERENCES trusted_cas(id),
    subject      TEXT,
    san          TEXT,
    not_after    INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX app_certificates_fingerprint ON app_certificates(fingerprint);
CREATE INDEX app_certificates_ca ON app_certificates(ca_id);

CREATE TABLE revoked_certificates (
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    fingerprint  TEXT NOT NULL,
    reason       TEXT,
    revoked_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, fingerprint)
);

-- Which credential authenticated the request: an API key id, a session id, or
-- `sha256:<fingerprint>` of a client certificate. Never the secret itself.
ALTER TABLE audit_events ADD COLUMN credential TEXT;
