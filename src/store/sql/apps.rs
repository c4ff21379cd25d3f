//! [`AppStore`] on SQLite: apps with their group places, and API keys. A machine is an
//! app, so the machines module writes and deletes its app with this module's helpers.

use super::groups::AppPlace;
use super::{SqlStore, commit_audited, exec, flag, json_column, json_text, must_change, named};
use crate::authz::PrincipalKind;
use crate::ids::{AccountId, ApiKeyId, AppId};
use crate::store::{ApiKeyRow, AppRow, AppStore, AuditEvent, Conflict, Credential, StoreError};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};
use std::collections::BTreeMap;

impl FromRow<'_, AnyRow> for ApiKeyRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ApiKeyRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            principal_kind: named(r, "principal_kind", PrincipalKind::parse)?,
            principal_id: r.get("principal_id"),
            name: r.get("name"),
            flags: json_column(r, "flags", "api_keys flags")?,
            created_at: r.get("created_at"),
            last_used_at: r.get("last_used_at"),
            disabled: flag(r, "disabled"),
        })
    }
}

/// An app's own row, before its group places are read.
impl FromRow<'_, AnyRow> for AppRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AppRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            name: r.get("name"),
            groups: Vec::new(),
            operations: Default::default(),
            enabled: flag(r, "enabled"),
            created_at: r.get("created_at"),
        })
    }
}

/// Inserts an app and its group places (with their operations).
pub(super) async fn insert_app(
    tx: &mut Transaction<'_, Any>,
    app: &AppRow,
) -> Result<(), StoreError> {
    let insert =
        sqlx::query("INSERT INTO apps (id, account_id, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&app.id)
            .bind(&app.account_id)
            .bind(&app.name)
            .bind(app.created_at);
    exec(tx, insert).await?;
    for group in &app.groups {
        let operations = app.operations.get(group).cloned().unwrap_or_default();
        let operations = json_text(&operations);
        let place = sqlx::query(
            "INSERT INTO app_groups (app_id, group_id, operations) VALUES ($1, $2, $3)",
        )
        .bind(&app.id)
        .bind(group)
        .bind(operations);
        exec(tx, place).await?;
    }
    Ok(())
}

pub(super) async fn insert_api_key(
    tx: &mut Transaction<'_, Any>,
    credential: &Credential<ApiKeyRow>,
) -> Result<(), StoreError> {
    let key = &credential.record;
    let insert = sqlx::query(
        "INSERT INTO api_keys (id, account_id, principal_kind, principal_id, name, flags, digest, created_at, last_used_at, disabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)",
    )
    .bind(&key.id)
    .bind(&key.account_id)
    .bind(key.principal_kind.as_str())
    .bind(&key.principal_id)
    .bind(&key.name)
    .bind(json_text(&key.flags))
    .bind(&credential.digest)
    .bind(key.created_at)
    .bind(i64::from(key.disabled));
    exec(tx, insert).await?;
    Ok(())
}

/// Deletes an app: its API keys stop, its certificates and group places go, its name is
/// freed. Returns 0 if it was already deleted.
pub(super) async fn delete_app_rows(
    tx: &mut Transaction<'_, Any>,
    id: &AppId,
    at: i64,
) -> Result<u64, StoreError> {
    for statement in [
        "UPDATE api_keys SET disabled = 1 WHERE principal_id = $1",
        "UPDATE aws_credentials SET disabled = 1 WHERE app_id = $1",
        "DELETE FROM app_certificates WHERE app_id = $1",
        "DELETE FROM app_groups WHERE app_id = $1",
        "DELETE FROM secret_grants WHERE app_id = $1",
    ] {
        exec(tx, sqlx::query(statement).bind(id)).await?;
    }
    let app = sqlx::query(
        "UPDATE apps SET deleted_at = $1, enabled = 0, name = '~' || id
         WHERE id = $2 AND deleted_at IS NULL",
    );
    exec(tx, app.bind(at).bind(id)).await
}

#[async_trait]
impl AppStore for SqlStore {
    async fn create_app(&self, app: &AppRow, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_app(&mut tx, app).await?;
        commit_audited(tx, event).await
    }

    async fn app(&self, account_id: &AccountId, id: &AppId) -> Result<Option<AppRow>, StoreError> {
        let Some(mut app) = self
            .fetch_optional::<AppRow>(
                sqlx::query_as(
                    "SELECT * FROM apps WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL",
                )
                .bind(account_id)
                .bind(id),
            )
            .await?
        else {
            return Ok(None);
        };
        let places: Vec<AppPlace> = self
            .fetch_all(
                sqlx::query_as(
                    "SELECT group_id, operations FROM app_groups WHERE app_id = $1 ORDER BY group_id",
                )
                .bind(id),
            )
            .await?;
        app.operations = places
            .into_iter()
            .map(|AppPlace(group, ops)| (group.into(), ops))
            .collect();
        app.groups = app.operations.keys().cloned().collect();
        Ok(Some(app))
    }

    async fn apps(&self, account_id: &AccountId) -> Result<Vec<AppRow>, StoreError> {
        let ids: Vec<AppId> = sqlx::query_scalar(
            "SELECT id FROM apps WHERE account_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(super::db_error)?;
        let mut apps = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(app) = self.app(account_id, &id).await? {
                apps.push(app);
            }
        }
        Ok(apps)
    }

    async fn update_app(
        &self,
        id: &AppId,
        name: &str,
        enabled: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE apps SET name = $1, enabled = $2 WHERE id = $3 AND deleted_at IS NULL",
            )
            .bind(name)
            .bind(i64::from(enabled))
            .bind(id),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn delete_app(&self, id: &AppId, at: i64, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        must_change(delete_app_rows(&mut tx, id, at).await?, Conflict::Changed)?;
        commit_audited(tx, event).await
    }

    async fn create_api_key(
        &self,
        key: &Credential<ApiKeyRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_api_key(&mut tx, key).await?;
        commit_audited(tx, event).await
    }

    async fn api_key(&self, id: &ApiKeyId) -> Result<Option<Credential<ApiKeyRow>>, StoreError> {
        self.fetch_optional(sqlx::query_as("SELECT * FROM api_keys WHERE id = $1").bind(id))
            .await
    }

    async fn api_keys(&self, account_id: &AccountId) -> Result<Vec<ApiKeyRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as("SELECT * FROM api_keys WHERE account_id = $1 ORDER BY created_at, id")
                .bind(account_id),
        )
        .await
    }

    async fn update_api_key(
        &self,
        id: &ApiKeyId,
        disabled: bool,
        flags: &BTreeMap<String, bool>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query("UPDATE api_keys SET disabled = $1, flags = $2 WHERE id = $3")
                .bind(i64::from(disabled))
                .bind(json_text(flags))
                .bind(id),
            event,
        )
        .await
    }
}
