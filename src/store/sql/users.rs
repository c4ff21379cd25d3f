//! [`UserStore`] on SQLite: users, memberships, passwords and password-reset tokens.

use super::{SqlStore, commit_audited, db_error, exec, flag, known, must_change, named};
use crate::authz::Role;
use crate::ids::{AccountId, ResetId, UserId};
use crate::store::{
    AuditEvent, Conflict, Credential, MemberRow, ResetRow, StoreError, UserRecord, UserStore,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

impl FromRow<'_, AnyRow> for UserRecord {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(UserRecord {
            id: r.get("id"),
            email: r.get("email"),
            password_hash: r.get("password_hash"),
            created_at: r.get("created_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for MemberRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(MemberRow {
            account_id: r.get("account_id"),
            user_id: r.get("user_id"),
            email: r.get("email"),
            role: named(r, "role", Role::parse)?,
            suspended: flag(r, "suspended"),
            created_at: r.get("created_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for ResetRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ResetRow {
            id: r.get("id"),
            user_id: r.get("user_id"),
            account_id: r.get("account_id"),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
            used_at: r.get("used_at"),
        })
    }
}

/// The membership columns, as a literal so queries stay `&'static str`.
macro_rules! member_select {
    () => {
        "SELECT m.account_id, m.user_id, u.email, m.role, m.suspended, m.created_at
         FROM memberships m JOIN users u ON u.id = m.user_id"
    };
}

pub(super) async fn insert_user(
    tx: &mut Transaction<'_, Any>,
    id: &UserId,
    email: &str,
    created_at: i64,
    password_hash: Option<&str>,
) -> Result<(), StoreError> {
    exec(
        tx,
        sqlx::query(
            "INSERT INTO users (id, email, created_at, password_hash) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(email)
        .bind(created_at)
        .bind(password_hash),
    )
    .await?;
    Ok(())
}

/// A membership, not suspended.
pub(super) async fn insert_membership(
    tx: &mut Transaction<'_, Any>,
    account_id: &AccountId,
    user_id: &UserId,
    role: Role,
    created_at: i64,
) -> Result<(), StoreError> {
    exec(
        tx,
        sqlx::query(
            "INSERT INTO memberships (account_id, user_id, role, suspended, created_at)
             VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(created_at),
    )
    .await?;
    Ok(())
}

/// A password-reset (or bootstrap setup) token's row.
pub(super) async fn insert_reset(
    tx: &mut Transaction<'_, Any>,
    reset: &Credential<ResetRow>,
) -> Result<(), StoreError> {
    let row = &reset.record;
    exec(
        tx,
        sqlx::query(
            "INSERT INTO password_resets (id, user_id, account_id, digest, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&row.id)
        .bind(&row.user_id)
        .bind(&row.account_id)
        .bind(&reset.digest)
        .bind(row.created_at)
        .bind(row.expires_at),
    )
    .await?;
    Ok(())
}

#[async_trait]
impl UserStore for SqlStore {
    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        self.fetch_optional(sqlx::query_as("SELECT * FROM users WHERE id = $1").bind(id))
            .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.fetch_optional(sqlx::query_as("SELECT * FROM users WHERE email = $1").bind(email))
            .await
    }

    async fn membership_role(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Option<Role>, StoreError> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE account_id = $1 AND user_id = $2",
        )
        .bind(account_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        role.map(|word| known("role", &word, Role::parse))
            .transpose()
    }

    async fn member(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Option<MemberRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as(concat!(
                member_select!(),
                " WHERE m.account_id = $1 AND m.user_id = $2"
            ))
            .bind(account_id)
            .bind(user_id),
        )
        .await
    }

    async fn members(&self, account_id: &AccountId) -> Result<Vec<MemberRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(concat!(
                member_select!(),
                " WHERE m.account_id = $1 ORDER BY u.email"
            ))
            .bind(account_id),
        )
        .await
    }

    async fn add_member(
        &self,
        new_user: Option<&UserRecord>,
        member: &MemberRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if let Some(user) = new_user {
            let hash = user.password_hash.as_deref();
            insert_user(&mut tx, &user.id, &user.email, user.created_at, hash).await?;
        }
        let m = member;
        insert_membership(&mut tx, &m.account_id, &m.user_id, m.role, m.created_at).await?;
        commit_audited(tx, event).await
    }

    async fn update_member(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
        role: Role,
        suspended: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE memberships SET role = $1, suspended = $2 WHERE account_id = $3 AND user_id = $4",
            )
            .bind(role.as_str())
            .bind(i64::from(suspended))
            .bind(account_id)
            .bind(user_id),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn remove_member(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let removed = sqlx::query("DELETE FROM memberships WHERE account_id = $1 AND user_id = $2")
            .bind(account_id)
            .bind(user_id);
        must_change(exec(&mut tx, removed).await?, Conflict::Changed)?;
        let groups = sqlx::query(
            "DELETE FROM group_users WHERE user_id = $1 AND group_id IN
             (SELECT id FROM security_groups WHERE account_id = $2)",
        );
        exec(&mut tx, groups.bind(user_id).bind(account_id)).await?;
        let sessions = sqlx::query(
            "UPDATE sessions SET revoked_at = $1
             WHERE account_id = $2 AND user_id = $3 AND revoked_at IS NULL",
        );
        exec(&mut tx, sessions.bind(at).bind(account_id).bind(user_id)).await?;
        let keys = sqlx::query(
            "UPDATE api_keys SET disabled = 1 WHERE account_id = $1 AND principal_id = $2",
        );
        exec(&mut tx, keys.bind(account_id).bind(user_id)).await?;
        commit_audited(tx, event).await
    }

    async fn set_password(
        &self,
        user_id: &UserId,
        hash: &str,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let set = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2");
        must_change(
            exec(&mut tx, set.bind(hash).bind(user_id)).await?,
            Conflict::Changed,
        )?;
        let sessions = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        );
        exec(&mut tx, sessions.bind(at).bind(user_id)).await?;
        commit_audited(tx, event).await
    }

    async fn create_reset(
        &self,
        row: &Credential<ResetRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_reset(&mut tx, row).await?;
        commit_audited(tx, event).await
    }

    async fn reset(&self, id: &ResetId) -> Result<Option<Credential<ResetRow>>, StoreError> {
        self.fetch_optional(sqlx::query_as("SELECT * FROM password_resets WHERE id = $1").bind(id))
            .await
    }

    async fn consume_reset(
        &self,
        id: &ResetId,
        now: i64,
        hash: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let used = sqlx::query(
            "UPDATE password_resets SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(now)
        .bind(id)
        .bind(now);
        if exec(&mut tx, used).await? == 0 {
            return Ok(false);
        }
        let set = sqlx::query(
            "UPDATE users SET password_hash = $1
             WHERE id = (SELECT user_id FROM password_resets WHERE id = $2)",
        );
        exec(&mut tx, set.bind(hash).bind(id)).await?;
        let sessions = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE revoked_at IS NULL
             AND user_id = (SELECT user_id FROM password_resets WHERE id = $2)",
        );
        exec(&mut tx, sessions.bind(now).bind(id)).await?;
        commit_audited(tx, event).await?;
        Ok(true)
    }
}
