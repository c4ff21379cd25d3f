-- Quorum approval of dangerous operations (see src/store/approvals.rs, docs/approvals.md).
-- A quorum names the approvers of a group (scope = the group id) or of the account (scope
-- 'account', for removing an owner). A request for a dangerous operation under a quorum is
-- an approval row: what to run later (`params`, JSON), who asked, and a copy of the quorum
-- it must meet. Each approver's decision is one vote row, so the same user counts once.
CREATE TABLE quorums (
    account_id          TEXT NOT NULL REFERENCES accounts(id),
    scope               TEXT NOT NULL,
    approvers           TEXT NOT NULL,
    required            INTEGER NOT NULL,
    expires_in_seconds  INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (account_id, scope)
);
CREATE TABLE approvals (
    id                    TEXT PRIMARY KEY,
    account_id            TEXT NOT NULL REFERENCES accounts(id),
    scope                 TEXT NOT NULL,
    operation             TEXT NOT NULL,
    target                TEXT NOT NULL,
    params                TEXT NOT NULL,
    requester             TEXT NOT NULL,
    requester_method      TEXT NOT NULL,
    requester_credential  TEXT,
    approvers             TEXT NOT NULL,
    required              INTEGER NOT NULL,
    status                TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    finished_at           INTEGER,
    error                 TEXT
);
CREATE INDEX approvals_account ON approvals(account_id, created_at);
-- Maintenance looks for pending approvals past their expiry.
CREATE INDEX approvals_pending ON approvals(status, expires_at);
CREATE TABLE approval_votes (
    approval_id  TEXT NOT NULL REFERENCES approvals(id),
    user_id      TEXT NOT NULL,
    vote         TEXT NOT NULL,
    reason       TEXT,
    voted_at     INTEGER NOT NULL,
    PRIMARY KEY (approval_id, user_id)
);
