-- Access policies (see src/store/policies.rs and docs/policies.md). A policy belongs to a
-- group; its axes are one JSON document (`rules`) that only the service reads, except the
-- TTL's fixed end (`expires_at`), a column so the maintenance sweep finds what is due.
CREATE TABLE policies (
    id           TEXT COLLATE "C" PRIMARY KEY,
    account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    group_id     TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    description  TEXT COLLATE "C",
    rules        TEXT COLLATE "C" NOT NULL,
    expires_at   BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX policies_group ON policies(account_id, group_id);
CREATE INDEX policies_expiry ON policies(expires_at);
-- A policy bound to a secret, keyring or key, by the object's id (a new object that takes
-- a deleted one's name is not bound); the name is kept for listings.
CREATE TABLE policy_bindings (
    policy_id    TEXT COLLATE "C" NOT NULL REFERENCES policies(id),
    account_id   TEXT COLLATE "C" NOT NULL,
    object_kind  TEXT COLLATE "C" NOT NULL,
    object_id    TEXT COLLATE "C" NOT NULL,
    object_name  TEXT COLLATE "C" NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (policy_id, object_kind, object_id)
);
CREATE INDEX policy_bindings_object ON policy_bindings(object_kind, object_id);
-- Counters every node shares: rate windows keyed by their start (UTC minute or day), the
-- TTL's use count (window 0) and the uses of each version (window = the version).
CREATE TABLE policy_counters (
    policy_id    TEXT COLLATE "C" NOT NULL,
    object_id    TEXT COLLATE "C" NOT NULL,
    axis         TEXT COLLATE "C" NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (policy_id, object_id, axis, window_start)
);
-- The last use of a bound object by each app or machine, for the co-sign axis.
CREATE TABLE policy_uses (
    object_id    TEXT COLLATE "C" NOT NULL,
    principal    TEXT COLLATE "C" NOT NULL,
    used_at      BIGINT NOT NULL,
    PRIMARY KEY (object_id, principal)
);
CREATE INDEX policy_uses_time ON policy_uses(used_at);
-- Rotations a rotate-after axis queued: one row per crossed version, claimed (deleted) by
-- the node that rotates.
CREATE TABLE policy_rotations (
    object_kind  TEXT COLLATE "C" NOT NULL,
    object_id    TEXT COLLATE "C" NOT NULL,
    version      BIGINT NOT NULL,
    account_id   TEXT COLLATE "C" NOT NULL,
    object_name  TEXT COLLATE "C" NOT NULL,
    queued_at    BIGINT NOT NULL,
    PRIMARY KEY (object_kind, object_id, version)
);
