//! [`KeyringStore`] on SQLite.

use super::{SqlStore, commit_audited, exec, flag, must_change, named, to_u32, u32_column};
use crate::ids::{AccountId, KeyringId};
use crate::store::{
    AuditEvent, Conflict, KeyringConfig, KeyringRow, KeyringStore, Protection, StoreError,
    VersionRow,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

/// The keyring columns, as a literal so queries stay `&'static str` (no dynamic SQL).
macro_rules! keyring_columns {
    () => {
        "id, account_id, group_id, name, protection, current_version, min_decryption_version, enabled,
         rotation_period_days, max_encrypt_count, cache_ttl_seconds, canary, created_at, rotated_at, deleted_at"
    };
}

/// `SELECT` of the keyring columns from `keyrings`, then `$rest` (a `WHERE …` literal).
macro_rules! select_keyrings {
    ($rest:literal) => {
        concat!("SELECT ", keyring_columns!(), " FROM keyrings ", $rest)
    };
}

/// A count stored as a signed integer; a negative one reads as zero.
fn count(value: i64) -> u64 {
    value.max(0) as u64
}

impl FromRow<'_, AnyRow> for KeyringRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let rotation_period_days = r
            .get::<Option<i64>, _>("rotation_period_days")
            .map(|days| to_u32(days, "rotation_period_days"))
            .transpose()?;
        Ok(KeyringRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            group_id: r.get("group_id"),
            name: r.get("name"),
            protection: named(r, "protection", Protection::parse)?,
            current_version: u32_column(r, "current_version")?,
            min_decryption_version: u32_column(r, "min_decryption_version")?,
            enabled: flag(r, "enabled"),
            rotation_period_days,
            max_encrypt_count: r.get::<Option<i64>, _>("max_encrypt_count").map(count),
            cache_ttl_seconds: u32_column(r, "cache_ttl_seconds")?,
            canary: flag(r, "canary"),
            created_at: r.get("created_at"),
            rotated_at: r.get("rotated_at"),
            deleted_at: r.get("deleted_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for VersionRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(VersionRow {
            keyring_id: r.get("keyring_id"),
            version: u32_column(r, "version")?,
            key_ref: r.get("key_ref"),
            wrapped_key: r.get("wrapped_key"),
            wrapping_key: r.get("wrapping_key"),
            token_key: r.get("token_key"),
            kcv: r.get("kcv"),
            created_at: r.get("created_at"),
            encrypt_count: count(r.get("encrypt_count")),
        })
    }
}

async fn insert_version(tx: &mut Transaction<'_, Any>, v: &VersionRow) -> Result<(), StoreError> {
    require_current_master(tx, v).await?;
    exec(
        tx,
        sqlx::query(
            "INSERT INTO keyring_versions (keyring_id, version, key_ref, wrapped_key, wrapping_key, token_key, kcv, created_at, encrypt_count)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
        )
        .bind(&v.keyring_id)
        .bind(i64::from(v.version))
        .bind(&v.key_ref)
        .bind(&v.wrapped_key)
        .bind(&v.wrapping_key)
        .bind(&v.token_key)
        .bind(&v.kcv)
        .bind(v.created_at),
    )
    .await?;
    Ok(())
}

/// An envelope version may be wrapped only by its group's current master key (its label is
/// `mk/<group>/v<master_version>`, see `service::keyrings::master_label`): one wrapped under
/// a master that a rotation replaced after the key was made would be missed by the
/// rotation's re-wrap and lost with the old master key. Checked under the writer lock, like
/// the rotation's start.
async fn require_current_master(
    tx: &mut Transaction<'_, Any>,
    v: &VersionRow,
) -> Result<(), StoreError> {
    let Some(label) = &v.wrapping_key else {
        return Ok(());
    };
    let current: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM keyrings k JOIN security_groups g ON g.id = k.group_id
         WHERE k.id = $1 AND 'mk/' || g.id || '/v' || CAST(g.master_version AS TEXT) = $2",
    )
    .bind(&v.keyring_id)
    .bind(label)
    .fetch_one(&mut **tx)
    .await
    .map_err(super::db_error)?;
    must_change(current as u64, Conflict::MasterRotated)
}

impl SqlStore {
    /// The keyring `select` finds by account and name: the live one or the last trashed.
    async fn keyring_named(
        &self,
        select: &'static str,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<KeyringRow>, StoreError> {
        self.fetch_optional(sqlx::query_as(select).bind(account_id).bind(name))
            .await
    }
}

#[async_trait]
impl KeyringStore for SqlStore {
    async fn create_keyring(
        &self,
        k: &KeyringRow,
        first: &VersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let insert = sqlx::query(concat!(
            "INSERT INTO keyrings (",
            keyring_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL)"
        ))
        .bind(&k.id)
        .bind(&k.account_id)
        .bind(&k.group_id)
        .bind(&k.name)
        .bind(k.protection.as_str())
        .bind(i64::from(k.current_version))
        .bind(i64::from(k.min_decryption_version))
        .bind(i64::from(k.enabled))
        .bind(k.rotation_period_days.map(i64::from))
        .bind(k.max_encrypt_count.map(|v| v as i64))
        .bind(i64::from(k.cache_ttl_seconds))
        .bind(i64::from(k.canary))
        .bind(k.created_at)
        .bind(k.rotated_at);
        exec(&mut tx, insert).await?;
        insert_version(&mut tx, first).await?;
        commit_audited(tx, event).await
    }

    async fn keyring(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<KeyringRow>, StoreError> {
        self.keyring_named(
            select_keyrings!("WHERE account_id = $1 AND name = $2 AND deleted_at IS NULL"),
            account_id,
            name,
        )
        .await
    }

    async fn keyrings(&self, account_id: &AccountId) -> Result<Vec<KeyringRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(select_keyrings!(
                "WHERE account_id = $1 AND deleted_at IS NULL ORDER BY name"
            ))
            .bind(account_id),
        )
        .await
    }

    async fn versions(&self, keyring_id: &KeyringId) -> Result<Vec<VersionRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as("SELECT * FROM keyring_versions WHERE keyring_id = $1 ORDER BY version")
                .bind(keyring_id),
        )
        .await
    }

    async fn add_version(
        &self,
        next: &VersionRow,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let moved = sqlx::query(
            "UPDATE keyrings SET current_version = $1, rotated_at = $2
             WHERE id = $3 AND current_version = $4 AND deleted_at IS NULL",
        )
        .bind(i64::from(next.version))
        .bind(at)
        .bind(&next.keyring_id)
        .bind(i64::from(next.version) - 1);
        must_change(exec(&mut tx, moved).await?, Conflict::KeyringRotated)?;
        insert_version(&mut tx, next).await?;
        commit_audited(tx, event).await
    }

    async fn update_keyring_config(
        &self,
        keyring_id: &KeyringId,
        c: &KeyringConfig,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query(
                "UPDATE keyrings SET enabled = $1, min_decryption_version = $2, rotation_period_days = $3, max_encrypt_count = $4,
                 cache_ttl_seconds = $5 WHERE id = $6 AND deleted_at IS NULL",
            )
            .bind(i64::from(c.enabled))
            .bind(i64::from(c.min_decryption_version))
            .bind(c.rotation_period_days.map(i64::from))
            .bind(c.max_encrypt_count.map(|v| v as i64))
            .bind(i64::from(c.cache_ttl_seconds))
            .bind(keyring_id),
            event,
        )
        .await
    }

    async fn trash_keyring(
        &self,
        keyring_id: &KeyringId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query("UPDATE keyrings SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
                .bind(at)
                .bind(keyring_id),
            event,
        )
        .await
    }

    async fn trashed_keyring(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<KeyringRow>, StoreError> {
        self.keyring_named(
            select_keyrings!(
                "WHERE account_id = $1 AND name = $2 AND deleted_at IS NOT NULL
                 ORDER BY deleted_at DESC LIMIT 1"
            ),
            account_id,
            name,
        )
        .await
    }

    async fn restore_keyring(
        &self,
        keyring_id: &KeyringId,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE keyrings SET deleted_at = NULL WHERE id = $1 AND deleted_at IS NOT NULL",
            )
            .bind(keyring_id),
            Conflict::KeyringLeftTrash,
            event,
        )
        .await
    }

    async fn keyrings_due_for_rotation(&self, now: i64) -> Result<Vec<KeyringRow>, StoreError> {
        // 86400000000 = microseconds in a day.
        self.fetch_all(
            sqlx::query_as(concat!(
                "SELECT ", keyring_columns!(), " FROM keyrings k WHERE deleted_at IS NULL AND enabled = 1 AND (
                    (rotation_period_days IS NOT NULL AND rotated_at + rotation_period_days * 86400000000 <= $1)
                    OR (max_encrypt_count IS NOT NULL AND (SELECT encrypt_count FROM keyring_versions v
                        WHERE v.keyring_id = k.id AND v.version = k.current_version) >= max_encrypt_count))"
            ))
            .bind(now),
        )
        .await
    }

    async fn purge_trash(&self, cutoff: i64) -> Result<Vec<String>, StoreError> {
        self.purge(
            "SELECT v.token_key FROM keyring_versions v JOIN keyrings k ON k.id = v.keyring_id
             WHERE k.deleted_at IS NOT NULL AND k.deleted_at < $1 AND v.token_key IS NOT NULL",
            &[
                "DELETE FROM keyring_versions WHERE keyring_id IN
                 (SELECT id FROM keyrings WHERE deleted_at IS NOT NULL AND deleted_at < $1)",
                "DELETE FROM keyrings WHERE deleted_at IS NOT NULL AND deleted_at < $1",
            ],
            cutoff,
        )
        .await
    }
}
