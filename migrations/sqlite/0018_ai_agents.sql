-- AI agents (docs/ai-agents.md): management-plane identities of AI coding clients, in tables
-- of their own so that an agent is never an app or a machine. An agent signs its requests
-- with an Ed25519 key whose private half never leaves its host; only the public key is here.
CREATE TABLE ai_agents (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    name          TEXT NOT NULL,
    -- active | disabled
    status        TEXT NOT NULL,
    -- JSON array of scopes from the fixed allowlist.
    scopes        TEXT NOT NULL,
    -- JSON array of group ids; empty means every group of the account.
    group_ids     TEXT NOT NULL,
    public_key    BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX ai_agents_account ON ai_agents(account_id);

-- One-time bootstrap tokens that register an agent. Only the HSM HMAC digest of a token is
-- kept (like machine tokens), never its text.
CREATE TABLE ai_bootstrap_tokens (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    group_ids   TEXT NOT NULL,
    digest      BLOB NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    agent_id    TEXT
);
CREATE INDEX ai_bootstrap_tokens_account ON ai_bootstrap_tokens(account_id);
