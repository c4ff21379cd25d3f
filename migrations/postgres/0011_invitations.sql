-- Invitations into an account (see src/store/invitations.rs and docs/invitations.md). The
-- person invited sets their own password by accepting; the token that lets them is never
-- stored, only its HSM HMAC digest. A row is pending while `accepted_at` and `revoked_at`
-- are NULL and `expires_at` is in the future.
CREATE TABLE invitations (
    id           TEXT COLLATE "C" PRIMARY KEY,
    account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    email        TEXT COLLATE "C" NOT NULL,
    role         TEXT COLLATE "C" NOT NULL,
    digest       BYTEA NOT NULL,
    created_by   TEXT COLLATE "C" NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT,
    revoked_at   BIGINT
);

CREATE INDEX invitations_account ON invitations (account_id, created_at);
