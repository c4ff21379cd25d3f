//! The trail's storage: chained events in position order, heads, checkpoints, pruning.

use super::{SqlStore, db_error, exec};
use crate::store::chain::{Digest, SYSTEM_CHAIN};
use crate::store::{ChainHead, CheckpointRow, SigningKeyRow, StoreError, StoredEvent, TrailStore};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

/// The rows of chain `$1`: an account's events, or those naming no account for `-`.
/// Both forms name `$1`, so every query binds it the same way.
fn owned_by(chain: &str) -> &'static str {
    if chain == SYSTEM_CHAIN {
        "($1 = '-' AND account_id IS NULL)"
    } else {
        "account_id = $1"
    }
}

fn digest(bytes: Vec<u8>, what: &str) -> Result<Digest, sqlx::Error> {
    Digest::try_from(bytes.as_slice()).map_err(|_| super::corrupt(what.into()))
}

impl FromRow<'_, AnyRow> for SigningKeyRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            label: r.try_get("label")?,
            algorithm: r.try_get("algorithm")?,
            public_key: r.try_get("public_key")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl FromRow<'_, AnyRow> for ChainHead {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            chain: r.try_get("chain")?,
            length: r.try_get("length")?,
            head: digest(r.try_get("head")?, "chain head")?,
        })
    }
}

impl FromRow<'_, AnyRow> for CheckpointRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            chain: r.try_get("chain")?,
            position: r.try_get("chain_seq")?,
            head: digest(r.try_get("head")?, "checkpoint head")?,
            time: r.try_get("time")?,
            key_id: r.try_get("key_id")?,
            signature: r.try_get("signature")?,
        })
    }
}

#[async_trait]
impl TrailStore for SqlStore {
    async fn signing_key(&self) -> Result<Option<SigningKeyRow>, StoreError> {
        self.fetch_optional(sqlx::query_as(
            "SELECT * FROM audit_signing_keys ORDER BY created_at, id LIMIT 1",
        ))
        .await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRow) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let existing: Option<(String,)> =
            sqlx::query_as("SELECT id FROM audit_signing_keys LIMIT 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if existing.is_some() {
            return Ok(false);
        }
        exec(
            &mut tx,
            sqlx::query(
                "INSERT INTO audit_signing_keys (id, label, algorithm, public_key, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&key.id)
            .bind(&key.label)
            .bind(&key.algorithm)
            .bind(&key.public_key)
            .bind(key.created_at),
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn chain_head(&self, chain: &str) -> Result<Option<ChainHead>, StoreError> {
        self.fetch_optional(
            sqlx::query_as("SELECT * FROM audit_chains WHERE chain = $1 AND length > 0")
                .bind(chain),
        )
        .await
    }

    async fn unsigned_heads(&self) -> Result<Vec<ChainHead>, StoreError> {
        self.fetch_all(sqlx::query_as(
            "SELECT * FROM audit_chains c WHERE c.length > COALESCE(
                (SELECT MAX(k.chain_seq) FROM audit_checkpoints k WHERE k.chain = c.chain), 0)
             ORDER BY c.chain",
        ))
        .await
    }

    async fn insert_checkpoint(&self, c: &CheckpointRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (chain, chain_seq, head, time, key_id, signature)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&c.chain)
        .bind(c.position)
        .bind(&c.head[..])
        .bind(c.time)
        .bind(&c.key_id)
        .bind(&c.signature)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn checkpoints(
        &self,
        chain: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<CheckpointRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM audit_checkpoints WHERE chain = $1 AND chain_seq >= $2
                   AND chain_seq <= $3 ORDER BY chain_seq",
            )
            .bind(chain)
            .bind(from)
            .bind(to),
        )
        .await
    }

    async fn chained_events(
        &self,
        chain: &str,
        after: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT * FROM audit_events WHERE {} AND chain_seq > $2 AND chain_seq <= $3
             ORDER BY chain_seq, seq LIMIT $4",
            owned_by(chain)
        );
        self.fetch_all(
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(chain)
                .bind(after)
                .bind(to)
                .bind(i64::from(limit)),
        )
        .await
    }

    async fn first_position(&self, chain: &str) -> Result<i64, StoreError> {
        let sql = format!(
            "SELECT MIN(chain_seq) FROM audit_events WHERE {}",
            owned_by(chain)
        );
        let first: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(chain)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(first.unwrap_or(0))
    }

    async fn prune_chain(&self, chain: &str, position: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let events = format!(
            "DELETE FROM audit_events WHERE {} AND chain_seq <= $2",
            owned_by(chain)
        );
        let deleted = exec(
            &mut tx,
            sqlx::query(sqlx::AssertSqlSafe(events))
                .bind(chain)
                .bind(position),
        )
        .await?;
        exec(
            &mut tx,
            sqlx::query("DELETE FROM audit_checkpoints WHERE chain = $1 AND chain_seq < $2")
                .bind(chain)
                .bind(position),
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(deleted)
    }

    async fn prunable_checkpoint(
        &self,
        chain: &str,
        before: i64,
    ) -> Result<Option<i64>, StoreError> {
        let sql = format!(
            "SELECT MAX(k.chain_seq) FROM audit_checkpoints k
             WHERE k.chain = $1 AND EXISTS (SELECT 1 FROM audit_events e
                 WHERE {} AND e.chain_seq = k.chain_seq AND e.time < $2)",
            owned_by(chain).replace("account_id", "e.account_id")
        );
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(chain)
            .bind(before)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn chains(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("SELECT chain FROM audit_chains ORDER BY chain")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)
    }
}
