-- AI agents (docs/ai-agents.md): management-plane identities of AI coding clients, in tables
-- of their own so that an agent is never an app or a machine. An agent signs its requests
-- with an Ed25519 key whose private half never leaves its host; only the public key is here.
CREATE TABLE ai_agents (
    id            TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    name          TEXT COLLATE "C" NOT NULL,
    -- active | disabled
    status        TEXT COLLATE "C" NOT NULL,
    -- JSON array of scopes from the fixed allowlist.
    scopes        TEXT COLLATE "C" NOT NULL,
    -- JSON array of group ids; empty means every group of the account.
    group_ids     TEXT COLLATE "C" NOT NULL,
    public_key    BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    created_by    TEXT COLLATE "C" NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX ai_agents_account ON ai_agents(account_id);

-- One-time bootstrap tokens that register an agent. Only the HSM HMAC digest of a token is
-- kept (like machine tokens), never its text.
CREATE TABLE ai_bootstrap_tokens (
    id          TEXT COLLATE "C" PRIMARY KEY,
    account_id  TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    name        TEXT COLLATE "C" NOT NULL,
    scopes      TEXT COLLATE "C" NOT NULL,
    group_ids   TEXT COLLATE "C" NOT NULL,
    digest      BYTEA NOT NULL,
    created_by  TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    agent_id    TEXT COLLATE "C"
);
CREATE INDEX ai_bootstrap_tokens_account ON ai_bootstrap_tokens(account_id);
