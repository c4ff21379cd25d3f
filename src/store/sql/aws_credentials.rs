//! [`AwsCredentialStore`] in SQL: access key pairs with their wrapped secrets.

use super::{SqlStore, commit_audited, db_error, exec, flag, json_column, json_text, must_change};
use crate::ids::{AccountId, AppId, AwsAccessKeyId};
use crate::store::{
    AuditEvent, AwsCredentialRow, AwsCredentialStore, Conflict, StoreError, WrappedAwsSecret,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

impl FromRow<'_, AnyRow> for AwsCredentialRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AwsCredentialRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            app_id: r.get("app_id"),
            group_id: r.get("group_id"),
            name: r.get("name"),
            flags: json_column(r, "flags", "aws_credentials flags")?,
            created_at: r.get("created_at"),
            disabled: flag(r, "disabled"),
        })
    }
}

/// A credential row with its wrapped secret.
struct WithSecret(AwsCredentialRow, WrappedAwsSecret);

impl FromRow<'_, AnyRow> for WithSecret {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let secret = WrappedAwsSecret {
            wrapping_key: r.get("wrapping_key"),
            wrapped_secret: r.get("wrapped_secret"),
        };
        Ok(WithSecret(AwsCredentialRow::from_row(r)?, secret))
    }
}

/// Refuses (`Conflict::MasterRotated`) a secret wrapped by a master key that is no longer
/// its group's current one: a rotation counted what it must re-wrap when it began, under
/// the writer lock this transaction now holds, so a later wrap by the old key would be lost
/// when that key is destroyed.
async fn require_current_master(
    tx: &mut Transaction<'_, Any>,
    row: &AwsCredentialRow,
    secret: &WrappedAwsSecret,
) -> Result<(), StoreError> {
    let current: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM security_groups g
         WHERE g.id = $1 AND 'mk/' || g.id || '/v' || CAST(g.master_version AS TEXT) = $2",
    )
    .bind(&row.group_id)
    .bind(&secret.wrapping_key)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error)?;
    must_change(current as u64, Conflict::MasterRotated)
}

#[async_trait]
impl AwsCredentialStore for SqlStore {
    async fn create_aws_credential(
        &self,
        row: &AwsCredentialRow,
        secret: &WrappedAwsSecret,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let insert = sqlx::query(
            "INSERT INTO aws_credentials (id, account_id, app_id, group_id, name, flags,
                 wrapping_key, wrapped_secret, created_at, disabled)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&row.id)
        .bind(&row.account_id)
        .bind(&row.app_id)
        .bind(&row.group_id)
        .bind(&row.name)
        .bind(json_text(&row.flags))
        .bind(&secret.wrapping_key)
        .bind(secret.wrapped_secret.clone())
        .bind(row.created_at)
        .bind(i64::from(row.disabled));
        exec(&mut tx, insert).await?;
        require_current_master(&mut tx, row, secret).await?;
        commit_audited(tx, event).await
    }

    async fn aws_credential(
        &self,
        id: &AwsAccessKeyId,
    ) -> Result<Option<(AwsCredentialRow, WrappedAwsSecret)>, StoreError> {
        let found: Option<WithSecret> = self
            .fetch_optional(sqlx::query_as("SELECT * FROM aws_credentials WHERE id = $1").bind(id))
            .await?;
        Ok(found.map(|WithSecret(row, secret)| (row, secret)))
    }

    async fn aws_credentials(
        &self,
        account_id: &AccountId,
        app_id: &AppId,
    ) -> Result<Vec<AwsCredentialRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM aws_credentials WHERE account_id = $1 AND app_id = $2
                 ORDER BY created_at, id",
            )
            .bind(account_id)
            .bind(app_id),
        )
        .await
    }

    async fn set_aws_credential_disabled(
        &self,
        account_id: &AccountId,
        id: &AwsAccessKeyId,
        disabled: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE aws_credentials SET disabled = $1 WHERE account_id = $2 AND id = $3",
            )
            .bind(i64::from(disabled))
            .bind(account_id)
            .bind(id),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn delete_aws_credential(
        &self,
        account_id: &AccountId,
        id: &AwsAccessKeyId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query("DELETE FROM aws_credentials WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id),
            event,
        )
        .await
    }
}
