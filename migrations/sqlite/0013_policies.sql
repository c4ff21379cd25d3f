-- Access policies (see src/store/policies.rs and docs/policies.md). A policy belongs to a
-- group; its axes are one JSON document (`rules`) that only the service reads, except the
-- TTL's fixed end (`expires_at`), a column so the maintenance sweep finds what is due.
CREATE TABLE policies (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    group_id     TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT,
    rules        TEXT NOT NULL,
    expires_at   INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX policies_group ON policies(account_id, group_id);
CREATE INDEX policies_expiry ON policies(expires_at);
-- A policy bound to a secret, keyring or key, by the object's id (a new object that takes
-- a deleted one's name is not bound); the name is kept for listings.
CREATE TABLE policy_bindings (
    policy_id    TEXT NOT NULL REFERENCES policies(id),
    account_id   TEXT NOT NULL,
    object_kind  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    object_name  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (policy_id, object_kind, object_id)
);
CREATE INDEX policy_bindings_object ON policy_bindings(object_kind, object_id);
-- Counters every node shares: rate windows keyed by their start (UTC minute or day), the
-- TTL's use count (window 0) and the uses of each version (window = the version).
CREATE TABLE policy_counters (
    policy_id    TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    axis         TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (policy_id, object_id, axis, window_start)
);
-- The last use of a bound object by each app or machine, for the co-sign axis.
CREATE TABLE policy_uses (
    object_id    TEXT NOT NULL,
    principal    TEXT NOT NULL,
    used_at      INTEGER NOT NULL,
    PRIMARY KEY (object_id, principal)
);
CREATE INDEX policy_uses_time ON policy_uses(used_at);
-- Rotations a rotate-after axis queued: one row per crossed version, claimed (deleted) by
-- the node that rotates.
CREATE TABLE policy_rotations (
    object_kind  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    version      INTEGER NOT NULL,
    account_id   TEXT NOT NULL,
    object_name  TEXT NOT NULL,
    queued_at    INTEGER NOT NULL,
    PRIMARY KEY (object_kind, object_id, version)
);
