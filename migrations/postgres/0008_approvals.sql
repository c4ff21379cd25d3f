-- Quorum approval of dangerous operations (see src/store/approvals.rs, docs/approvals.md).
-- A quorum names the approvers of a group (scope = the group id) or of the account (scope
-- 'account', for removing an owner). A request for a dangerous operation under a quorum is
-- an approval row: what to run later (`params`, JSON), who asked, and a copy of the quorum
-- it must meet. Each approver's decision is one vote row, so the same user counts once.
CREATE TABLE quorums (
    account_id          TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    scope               TEXT COLLATE "C" NOT NULL,
    approvers           TEXT COLLATE "C" NOT NULL,
    required            BIGINT NOT NULL,
    expires_in_seconds  BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (account_id, scope)
);
CREATE TABLE approvals (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    account_id            TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    scope                 TEXT COLLATE "C" NOT NULL,
    operation             TEXT COLLATE "C" NOT NULL,
    target                TEXT COLLATE "C" NOT NULL,
    params                TEXT COLLATE "C" NOT NULL,
    requester             TEXT COLLATE "C" NOT NULL,
    requester_method      TEXT COLLATE "C" NOT NULL,
    requester_credential  TEXT COLLATE "C",
    approvers             TEXT COLLATE "C" NOT NULL,
    required              BIGINT NOT NULL,
    status                TEXT COLLATE "C" NOT NULL,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    finished_at           BIGINT,
    error                 TEXT COLLATE "C"
);
CREATE INDEX approvals_account ON approvals(account_id, created_at);
-- Maintenance looks for pending approvals past their expiry.
CREATE INDEX approvals_pending ON approvals(status, expires_at);
CREATE TABLE approval_votes (
    approval_id  TEXT COLLATE "C" NOT NULL REFERENCES approvals(id),
    user_id      TEXT COLLATE "C" NOT NULL,
    vote         TEXT COLLATE "C" NOT NULL,
    reason       TEXT COLLATE "C",
    voted_at     BIGINT NOT NULL,
    PRIMARY KEY (approval_id, user_id)
);
