-- AWS-style access key pairs of apps, the credential of the AWS KMS face (src/store/aws_credentials.rs,
-- docs/aws-kms.md). SigV4 needs the secret access key itself to check a signature, so it is kept
-- wrapped by the master key (`wrapping_key`, a token label) of the group named here, never in clear.
CREATE TABLE aws_credentials (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    app_id          TEXT NOT NULL,
    group_id        TEXT NOT NULL,
    name            TEXT NOT NULL,
    flags           TEXT NOT NULL,
    wrapping_key    TEXT NOT NULL,
    wrapped_secret  BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX aws_credentials_app ON aws_credentials(account_id, app_id);
CREATE INDEX aws_credentials_wrapping ON aws_credentials(wrapping_key);
