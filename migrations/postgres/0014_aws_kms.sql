-- The AWS KMS face (docs/aws-kms.md): what AWS clients name that Coffer's own objects do not
-- carry. Aliases point at a keyring or key by id; a target that was deleted since stays listed
-- (as AWS lists it) and answers NotFound when used. Key metadata holds the AWS description and
-- tags of a keyring or key (tags as a JSON object of key to value). The lookup of a keyring by
-- a ciphertext's key reference uses the index keyring_versions_ref of 0001.
CREATE TABLE aws_aliases (
    account_id  TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    -- The full alias name, `alias/<name>`.
    name        TEXT COLLATE "C" NOT NULL,
    -- A keyring id (kr_...) or a key id (key_...).
    target_id   TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);
CREATE INDEX aws_aliases_target ON aws_aliases(account_id, target_id);

CREATE TABLE aws_key_metadata (
    account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    key_id       TEXT COLLATE "C" NOT NULL,
    description  TEXT COLLATE "C" NOT NULL,
    tags         TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, key_id)
);
