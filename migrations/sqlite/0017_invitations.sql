-- Invitations into an account (see src/store/invitations.rs and docs/invitations.md). The
-- person invited sets their own password by accepting; the token that lets them is never
-- stored, only its HSM HMAC digest. A row is pending while `accepted_at` and `revoked_at`
-- are NULL and `expires_at` is in the future.
CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    email        TEXT NOT NULL,
    role         TEXT NOT NULL,
    digest       BLOB NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    accepted_at  INTEGER,
    revoked_at   INTEGER
);

CREATE INDEX invitations_account ON invitations (account_id, created_at);
