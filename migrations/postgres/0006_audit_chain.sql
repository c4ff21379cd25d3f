-- The tamper-evident trail (see src/store/chain.rs and docs/audit.md).
--
-- Each event gets a place in its account's hash chain: `chain_seq` (1, 2, 3 … per account,
-- gapless, in the order the committer sealed them), `prev_hash` (the hash of the event
-- before it, 32 zero bytes for the first) and `hash` (SHA-256 over `prev_hash` and the
-- event's canonical encoding). Events written inside a mutation's transaction arrive
-- unsealed (NULL) and are chained by the committer's next batch.
ALTER TABLE audit_events ADD COLUMN chain_seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash BYTEA;
ALTER TABLE audit_events ADD COLUMN hash BYTEA;
CREATE UNIQUE INDEX audit_events_chain ON audit_events(account_id, chain_seq);
CREATE INDEX audit_events_unsealed ON audit_events(seq) WHERE chain_seq IS NULL;

-- The head of each chain: its length and the hash of its last event. `chain` is the
-- account id, or '-' for events that name no account.
CREATE TABLE audit_chains (
    chain   TEXT COLLATE "C" PRIMARY KEY,
    length  BIGINT NOT NULL,
    head    BYTEA NOT NULL
);

-- The key pair whose private half signs checkpoints; it lives in the HSM under `label`,
-- sensitive and sign-only. Only the public key is kept here.
CREATE TABLE audit_signing_keys (
    id          TEXT COLLATE "C" PRIMARY KEY,
    label       TEXT NOT NULL,
    algorithm   TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- A signed statement that chain `chain` had `chain_seq` events ending in `head` at `time`.
CREATE TABLE audit_checkpoints (
    chain       TEXT COLLATE "C" NOT NULL,
    chain_seq   BIGINT NOT NULL,
    head        BYTEA NOT NULL,
    time        BIGINT NOT NULL,
    key_id      TEXT COLLATE "C" NOT NULL REFERENCES audit_signing_keys(id),
    signature   BYTEA NOT NULL,
    PRIMARY KEY (chain, chain_seq)
);
