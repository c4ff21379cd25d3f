//! [`SessionStore`] on SQLite: login sessions, and the failed-login counts whose lockout
//! rule runs inside one statement so that concurrent failures cannot undercount.

use super::{SqliteStore, commit, db_error, exec, u32_column};
use crate::ids::{AccountId, SessionId, UserId};
use crate::store::{
    AuditEvent, Conflict, Credential, LockoutRule, LoginFailures, SessionRow, SessionStore,
    StoreError,
};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};

impl FromRow<'_, SqliteRow> for SessionRow {
    fn from_row(r: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(SessionRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            user_id: r.get("user_id"),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
            revoked_at: r.get("revoked_at"),
            source_ip: r.get("source_ip"),
        })
    }
}

impl FromRow<'_, SqliteRow> for LoginFailures {
    fn from_row(r: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(LoginFailures {
            failures: u32_column(r, "failures")?,
            window_start: r.get("window_start"),
            locked_until: r.get("locked_until"),
        })
    }
}

/// Counts one failure from a source. A failure outside the window (or after a lock ran
/// out) starts a new count. Binds: source, now, window, now, now, window, now, now, now, now.
const COUNT_FAILURE: &str = "INSERT INTO login_failures (source, failures, window_start, locked_until)
    VALUES (?, 1, ?, NULL)
    ON CONFLICT (source) DO UPDATE SET
      failures = CASE WHEN window_start + ? <= ? OR locked_until <= ? THEN 1 ELSE failures + 1 END,
      window_start = CASE WHEN window_start + ? <= ? OR locked_until <= ? THEN ? ELSE window_start END,
      locked_until = CASE WHEN locked_until <= ? THEN NULL ELSE locked_until END";

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(
        &self,
        session: &Credential<SessionRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let row = &session.record;
        self.write_audited(
            sqlx::query(
                "INSERT INTO sessions (id, account_id, user_id, digest, created_at, expires_at, source_ip)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&row.id)
            .bind(&row.account_id)
            .bind(&row.user_id)
            .bind(&session.digest)
            .bind(row.created_at)
            .bind(row.expires_at)
            .bind(&row.source_ip),
            event,
        )
        .await
    }

    async fn session(&self, id: &SessionId) -> Result<Option<Credential<SessionRow>>, StoreError> {
        self.fetch_optional(sqlx::query_as("SELECT * FROM sessions WHERE id = ?").bind(id))
            .await
    }

    async fn sessions(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Vec<SessionRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM sessions WHERE account_id = ? AND user_id = ?
                 ORDER BY created_at DESC, id",
            )
            .bind(account_id)
            .bind(user_id),
        )
        .await
    }

    async fn revoke_session(
        &self,
        id: &SessionId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
                .bind(at)
                .bind(id),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn login_failures(&self, source: &str) -> Result<Option<LoginFailures>, StoreError> {
        self.fetch_optional(
            sqlx::query_as("SELECT * FROM login_failures WHERE source = ?").bind(source),
        )
        .await
    }

    async fn record_login_failure(
        &self,
        source: &str,
        rule: LockoutRule,
    ) -> Result<LoginFailures, StoreError> {
        let (now, window) = (rule.now, rule.window_micros);
        let mut tx = self.begin().await?;
        let count = sqlx::query(COUNT_FAILURE)
            .bind(source)
            .bind(now)
            .bind(window)
            .bind(now)
            .bind(now)
            .bind(window)
            .bind(now)
            .bind(now)
            .bind(now)
            .bind(now);
        exec(&mut tx, count).await?;
        let lock = sqlx::query(
            "UPDATE login_failures SET locked_until = ?
             WHERE source = ? AND failures >= ? AND locked_until IS NULL",
        )
        .bind(now + rule.lock_micros)
        .bind(source)
        .bind(i64::from(rule.threshold));
        exec(&mut tx, lock).await?;
        let state = sqlx::query_as("SELECT * FROM login_failures WHERE source = ?")
            .bind(source)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        commit(tx).await?;
        Ok(state)
    }

    async fn clear_login_failures(&self, source: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE source = ?")
            .bind(source)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn prune_login_failures(&self, now: i64, window_cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM login_failures
             WHERE (locked_until IS NULL OR locked_until <= ?) AND window_start < ?",
        )
        .bind(now)
        .bind(window_cutoff)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
