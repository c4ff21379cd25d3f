-- Background jobs (see src/store/jobs.rs): a group master-key rotation re-wraps the group's
-- keys in batches on whichever node holds the job's lease.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    kind          TEXT NOT NULL,
    group_id      TEXT NOT NULL,
    from_version  INTEGER NOT NULL,
    to_version    INTEGER NOT NULL,
    state         TEXT NOT NULL,
    total         INTEGER NOT NULL,
    done          INTEGER NOT NULL DEFAULT 0,
    lease_owner   TEXT,
    lease_until   INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    error         TEXT
);
CREATE INDEX jobs_state ON jobs(state, lease_until);
CREATE INDEX jobs_group ON jobs(group_id, state);
-- The re-wrap finds the versions still wrapped by the old master by its label.
CREATE INDEX keyring_versions_wrapping ON keyring_versions(wrapping_key);
