-- One-time, self-destructing shares (see src/store/shares.rs). A row is the whole share:
-- opening it, a wrong passphrase, expiry or a deletion removes the row, and with it the
-- ciphertext, the wrapped data key and the passphrase hash. The value's key needs both the
-- data key (wrapped by the group master key `wrapping_key` in the HSM) and the passphrase
-- (never stored; only its Argon2id hash and the salt of the key stretched from it).
CREATE TABLE shares (
    id               TEXT COLLATE "C" PRIMARY KEY,
    account_id       TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    group_id         TEXT COLLATE "C" NOT NULL,
    created_by       TEXT COLLATE "C" NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    wrapped_key      BYTEA NOT NULL,
    wrapping_key     TEXT COLLATE "C" NOT NULL,
    passphrase_hash  TEXT COLLATE "C" NOT NULL,
    kdf_salt         BYTEA NOT NULL,
    nonce            BYTEA NOT NULL,
    ciphertext       BYTEA NOT NULL
);
CREATE INDEX shares_account ON shares(account_id, expires_at);
CREATE INDEX shares_expiry ON shares(expires_at);
-- A master-key rotation re-wraps the shares still wrapped by the old master, by its label.
CREATE INDEX shares_wrapping ON shares(wrapping_key);
