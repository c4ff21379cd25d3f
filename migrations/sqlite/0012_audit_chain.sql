-- The tamper-evident trail (see src/store/chain.rs and docs/audit.md).
--
-- Each event gets a place in its account's hash chain: `chain_seq` (1, 2, 3 … per account,
-- gapless, in the order the committer sealed them), `prev_hash` (the hash of the event
-- before it, 32 zero bytes for the first) and `hash` (SHA-256 over `prev_hash` and the
-- event's canonical encoding). Events written inside a mutation's transaction arrive
-- unsealed (NULL) and are chained by the committer's next batch.
ALTER TABLE audit_events ADD COLUMN chain_seq INTEGER;
ALTER TABLE audit_events ADD COLUMN prev_hash BLOB;
ALTER TABLE audit_events ADD COLUMN hash BLOB;
CREATE UNIQUE INDEX audit_events_chain ON audit_events(account_id, chain_seq);
CREATE INDEX audit_events_unsealed ON audit_events(seq) WHERE chain_seq IS NULL;

-- The head of each chain: its length and the hash of its last event. `chain` is the
-- account id, or '-' for events that name no account.
CREATE TABLE audit_chains (
    chain   TEXT PRIMARY KEY,
    length  INTEGER NOT NULL,
    head    BLOB NOT NULL
);

-- The key pair whose private half signs checkpoints; it lives in the HSM under `label`,
-- sensitive and sign-only. Only the public key is kept here.
CREATE TABLE audit_signing_keys (
    id          TEXT PRIMARY KEY,
    label       TEXT NOT NULL,
    algorithm   TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- A signed statement that chain `chain` had `chain_seq` events ending in `head` at `time`.
CREATE TABLE audit_checkpoints (
    chain       TEXT NOT NULL,
    chain_seq   INTEGER NOT NULL,
    head        BLOB NOT NULL,
    time        INTEGER NOT NULL,
    key_id      TEXT NOT NULL REFERENCES audit_signing_keys(id),
    signature   BLOB NOT NULL,
    PRIMARY KEY (chain, chain_seq)
);
