//! [`ShareStore`] on SQLite and PostgreSQL.

use super::{SqlStore, commit, commit_audited, exec, must_change};
use crate::ids::{AccountId, ShareId};
use crate::store::{AuditEvent, Conflict, SealedShareRow, ShareRow, ShareStore, StoreError};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

/// The metadata columns, as a literal so queries stay `&'static str`.
macro_rules! share_columns {
    () => {
        "id, account_id, group_id, created_by, created_at, expires_at"
    };
}

impl FromRow<'_, AnyRow> for ShareRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ShareRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            group_id: r.get("group_id"),
            created_by: r.get("created_by"),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for SealedShareRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(SealedShareRow {
            row: ShareRow::from_row(r)?,
            wrapped_key: r.get("wrapped_key"),
            wrapping_key: r.get("wrapping_key"),
            passphrase_hash: r.get("passphrase_hash"),
            kdf_salt: r.get("kdf_salt"),
            nonce: r.get("nonce"),
            ciphertext: r.get("ciphertext"),
        })
    }
}

/// The share's data key may be wrapped only by its group's current master key (label
/// `mk/<group>/v<master_version>`, see `service::keyrings::master_label`), checked under
/// the writer lock as keyring versions are (`require_current_master` in `keyrings.rs`): a
/// key wrapped under a master that a rotation replaced meanwhile would be missed by the
/// rotation's re-wrap and lost with the old master key.
async fn require_current_master(
    tx: &mut Transaction<'_, Any>,
    share: &SealedShareRow,
) -> Result<(), StoreError> {
    let current: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM security_groups g
         WHERE g.id = $1 AND g.account_id = $2
           AND 'mk/' || g.id || '/v' || CAST(g.master_version AS TEXT) = $3",
    )
    .bind(&share.row.group_id)
    .bind(&share.row.account_id)
    .bind(&share.wrapping_key)
    .fetch_one(&mut **tx)
    .await
    .map_err(super::db_error)?;
    must_change(current as u64, Conflict::MasterRotated)
}

#[async_trait]
impl ShareStore for SqlStore {
    async fn create_share(
        &self,
        share: &SealedShareRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        require_current_master(&mut tx, share).await?;
        let row = &share.row;
        let insert = sqlx::query(concat!(
            "INSERT INTO shares (",
            share_columns!(),
            ", wrapped_key, wrapping_key, passphrase_hash, kdf_salt, nonce, ciphertext)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&row.id)
        .bind(&row.account_id)
        .bind(&row.group_id)
        .bind(&row.created_by)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(&share.wrapped_key)
        .bind(&share.wrapping_key)
        .bind(&share.passphrase_hash)
        .bind(&share.kdf_salt)
        .bind(&share.nonce)
        .bind(&share.ciphertext);
        exec(&mut tx, insert).await?;
        commit_audited(tx, event).await
    }

    async fn share(&self, id: &ShareId) -> Result<Option<SealedShareRow>, StoreError> {
        self.fetch_optional(sqlx::query_as("SELECT * FROM shares WHERE id = $1").bind(id))
            .await
    }

    async fn shares(&self, account_id: &AccountId, now: i64) -> Result<Vec<ShareRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(concat!(
                "SELECT ",
                share_columns!(),
                " FROM shares WHERE account_id = $1 AND expires_at > $2 ORDER BY created_at, id"
            ))
            .bind(account_id)
            .bind(now),
        )
        .await
    }

    async fn destroy_share(&self, id: &ShareId, event: &AuditEvent) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query("DELETE FROM shares WHERE id = $1").bind(id),
            event,
        )
        .await
    }

    async fn purge_expired_shares(&self, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let purged = exec(
            &mut tx,
            sqlx::query("DELETE FROM shares WHERE expires_at <= $1").bind(now),
        )
        .await?;
        commit(tx).await?;
        Ok(purged)
    }
}
