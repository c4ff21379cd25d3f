-- Background jobs (see src/store/jobs.rs): a group master-key rotation re-wraps the group's
-- keys in batches on whichever node holds the job's lease.
CREATE TABLE jobs (
    id            TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    kind          TEXT COLLATE "C" NOT NULL,
    group_id      TEXT COLLATE "C" NOT NULL,
    from_version  BIGINT NOT NULL,
    to_version    BIGINT NOT NULL,
    state         TEXT COLLATE "C" NOT NULL,
    total         BIGINT NOT NULL,
    done          BIGINT NOT NULL DEFAULT 0,
    lease_owner   TEXT COLLATE "C",
    lease_until   BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    error         TEXT COLLATE "C"
);
CREATE INDEX jobs_state ON jobs(state, lease_until);
CREATE INDEX jobs_group ON jobs(group_id, state);
-- The re-wrap finds the versions still wrapped by the old master by its label.
CREATE INDEX keyring_versions_wrapping ON keyring_versions(wrapping_key);
