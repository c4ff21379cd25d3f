//! [`AccountStore`] on SQLite: bootstrap, and the account lifecycle up to closing, which
//! stops every credential and hands back the token keys to destroy.

use super::apps::insert_api_key;
use super::users::{insert_membership, insert_reset, insert_user};
use super::{SqlStore, commit_audited, db_error, exec, must_change, named};
use crate::authz::Role;
use crate::ids::{AccountId, UserId};
use crate::store::{
    AccountRow, AccountState, AccountStore, ApiKeyRow, AuditEvent, Conflict, Credential, GroupRow,
    ResetRow, StoreError, UserRow,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

impl FromRow<'_, AnyRow> for AccountState {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AccountState {
            id: r.get("id"),
            name: r.get("name"),
            created_at: r.get("created_at"),
            deletion_requested_at: r.get("deletion_requested_at"),
            deletion_due_at: r.get("deletion_due_at"),
            closed_at: r.get("closed_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for AccountRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AccountRow {
            id: r.get("id"),
            name: r.get("name"),
            created_at: r.get("created_at"),
        })
    }
}

/// An account with the caller's role in it.
struct AccountWithRole(AccountState, Role);

impl FromRow<'_, AnyRow> for AccountWithRole {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AccountWithRole(
            AccountState::from_row(r)?,
            named(r, "role", Role::parse)?,
        ))
    }
}

async fn insert_account(
    tx: &mut Transaction<'_, Any>,
    id: &AccountId,
    name: &str,
    created_at: i64,
) -> Result<(), StoreError> {
    exec(
        tx,
        sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(created_at),
    )
    .await?;
    Ok(())
}

/// Stops every way into the account: API keys disabled, sessions revoked, certificate
/// bindings removed.
async fn stop_credentials(
    tx: &mut Transaction<'_, Any>,
    id: &AccountId,
    at: i64,
) -> Result<(), StoreError> {
    exec(
        tx,
        sqlx::query("UPDATE api_keys SET disabled = 1 WHERE account_id = $1").bind(id),
    )
    .await?;
    exec(
        tx,
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(id),
    )
    .await?;
    exec(
        tx,
        sqlx::query("DELETE FROM app_certificates WHERE account_id = $1").bind(id),
    )
    .await?;
    Ok(())
}

/// The token labels of every key the account owns: its groups' master keys (every
/// version) and the token keys of its keys and keyrings.
async fn token_labels(
    tx: &mut Transaction<'_, Any>,
    id: &AccountId,
) -> Result<Vec<String>, StoreError> {
    let groups: Vec<GroupRow> =
        sqlx::query_as("SELECT * FROM security_groups WHERE account_id = $1")
            .bind(id)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?;
    let mut labels: Vec<String> = groups
        .iter()
        .flat_map(|g| (1..=g.master_version).map(move |v| format!("mk/{}/v{v}", g.id)))
        .collect();
    let token_keys: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT kv.token_label FROM key_versions kv JOIN keys k ON k.id = kv.key_id
         WHERE k.account_id = $1
         UNION ALL
         SELECT v.token_key FROM keyring_versions v JOIN keyrings r ON r.id = v.keyring_id
         WHERE r.account_id = $2",
    )
    .bind(id)
    .bind(id)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    labels.extend(token_keys.into_iter().flatten());
    Ok(labels)
}

/// Disables and trashes every keyring and key of the account (trashed ones keep the time
/// they were trashed).
async fn trash_objects(
    tx: &mut Transaction<'_, Any>,
    id: &AccountId,
    at: i64,
) -> Result<(), StoreError> {
    for statement in [
        "UPDATE keyrings SET enabled = 0, deleted_at = COALESCE(deleted_at, $1) WHERE account_id = $2",
        "UPDATE keys SET enabled = 0, deleted_at = COALESCE(deleted_at, $1) WHERE account_id = $2",
    ] {
        exec(tx, sqlx::query(statement).bind(at).bind(id)).await?;
    }
    Ok(())
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn first_account(&self) -> Result<Option<AccountRow>, StoreError> {
        self.fetch_optional(sqlx::query_as(
            "SELECT id, name, created_at FROM accounts ORDER BY created_at LIMIT 1",
        ))
        .await
    }

    async fn create_account_with_owner(
        &self,
        account: &AccountRow,
        owner: &UserRow,
        key: &Credential<ApiKeyRow>,
        setup: &Credential<ResetRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_account(&mut tx, &account.id, &account.name, account.created_at).await?;
        insert_user(&mut tx, &owner.id, &owner.email, owner.created_at, None).await?;
        insert_membership(
            &mut tx,
            &account.id,
            &owner.id,
            Role::Owner,
            owner.created_at,
        )
        .await?;
        insert_api_key(&mut tx, key).await?;
        insert_reset(&mut tx, setup).await?;
        commit_audited(tx, event).await
    }

    async fn account(&self, id: &AccountId) -> Result<Option<AccountState>, StoreError> {
        self.fetch_optional(sqlx::query_as("SELECT * FROM accounts WHERE id = $1").bind(id))
            .await
    }

    async fn accounts_of_user(
        &self,
        user_id: &UserId,
    ) -> Result<Vec<(AccountState, Role)>, StoreError> {
        let accounts: Vec<AccountWithRole> = self
            .fetch_all(
                sqlx::query_as(
                    "SELECT a.*, m.role FROM accounts a JOIN memberships m ON m.account_id = a.id
                     WHERE m.user_id = $1 AND a.closed_at IS NULL ORDER BY a.created_at, a.id",
                )
                .bind(user_id),
            )
            .await?;
        Ok(accounts
            .into_iter()
            .map(|AccountWithRole(account, role)| (account, role))
            .collect())
    }

    async fn create_account(
        &self,
        account: &AccountState,
        owner_id: &UserId,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_account(&mut tx, &account.id, &account.name, account.created_at).await?;
        insert_membership(
            &mut tx,
            &account.id,
            owner_id,
            Role::Owner,
            account.created_at,
        )
        .await?;
        commit_audited(tx, event).await
    }

    async fn rename_account(
        &self,
        id: &AccountId,
        name: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query("UPDATE accounts SET name = $1 WHERE id = $2 AND closed_at IS NULL")
                .bind(name)
                .bind(id),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn schedule_account_deletion(
        &self,
        id: &AccountId,
        requested_due: Option<(i64, i64)>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE accounts SET deletion_requested_at = $1, deletion_due_at = $2
                 WHERE id = $3 AND closed_at IS NULL",
            )
            .bind(requested_due.map(|(requested, _)| requested))
            .bind(requested_due.map(|(_, due)| due))
            .bind(id),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn close_account(
        &self,
        id: &AccountId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin().await?;
        let closed = sqlx::query(
            "UPDATE accounts SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL
             AND deletion_due_at IS NOT NULL AND deletion_due_at <= $3",
        )
        .bind(at)
        .bind(id)
        .bind(at);
        must_change(exec(&mut tx, closed).await?, Conflict::DeletionNotDue)?;
        stop_credentials(&mut tx, id, at).await?;
        let labels = token_labels(&mut tx, id).await?;
        trash_objects(&mut tx, id, at).await?;
        commit_audited(tx, event).await?;
        Ok(labels)
    }
}
