//! [`SessionStore`] on SQLite: login sessions, and the failed-login counts whose lockout
//! rule runs inside one statement so that concurrent failures cannot undercount.

use super::{SqlStore, commit, db_error, exec, u32_column};
use crate::ids::{AccountId, SessionId, UserId};
use crate::store::{
    AuditEvent, Conflict, Credential, LockoutRule, LoginFailures, SessionRow, SessionStore,
    StoreError,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

impl FromRow<'_, AnyRow> for SessionRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
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

impl FromRow<'_, AnyRow> for LoginFailures {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(LoginFailures {
            failures: u32_column(r, "failures")?,
            window_start: r.get("window_start"),
            locked_until: r.get("locked_until"),
        })
    }
}

/// Counts one failure from a source. A failure outside the window (or after a lock ran
/// out) starts a new count. The stored row's columns are named with their table: on
/// PostgreSQL a bare name in `DO UPDATE` is ambiguous.
/// Binds: source, now, window, now, now, window, now, now, now, now.
const COUNT_FAILURE: &str = "INSERT INTO login_failures (source, failures, window_start, locked_until)
    VALUES ($1, 1, $2, NULL)
    ON CONFLICT (source) DO UPDATE SET
      failures = CASE WHEN login_failures.window_start + $3 <= $4 OR login_failures.locked_until <= $5
                      THEN 1 ELSE login_failures.failures + 1 END,
      window_start = CASE WHEN login_failures.window_start + $6 <= $7 OR login_failures.locked_until <= $8
                          THEN $9 ELSE login_failures.window_start END,
      locked_until = CASE WHEN login_failures.locked_until <= $10 THEN NULL
                          ELSE login_failures.locked_until END";

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(
        &self,
        session: &Credential<SessionRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let row = &session.record;
        self.write_audited(
            sqlx::query(
                "INSERT INTO sessions (id, account_id, user_id, digest, created_at, expires_at, source_ip)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
        self.fetch_optional(sqlx::query_as("SELECT * FROM sessions WHERE id = $1").bind(id))
            .await
    }

    async fn sessions(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Vec<SessionRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM sessions WHERE account_id = $1 AND user_id = $2
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
            sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
                .bind(at)
                .bind(id),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn login_failures(&self, source: &str) -> Result<Option<LoginFailures>, StoreError> {
        self.fetch_optional(
            sqlx::query_as("SELECT * FROM login_failures WHERE source = $1").bind(source),
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
            "UPDATE login_failures SET locked_until = $1
             WHERE source = $2 AND failures >= $3 AND locked_until IS NULL",
        )
        .bind(now + rule.lock_micros)
        .bind(source)
        .bind(i64::from(rule.threshold));
        exec(&mut tx, lock).await?;
        let state = sqlx::query_as("SELECT * FROM login_failures WHERE source = $1")
            .bind(source)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        commit(tx).await?;
        Ok(state)
    }

    async fn clear_login_failures(&self, source: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE source = $1")
            .bind(source)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn prune_login_failures(&self, now: i64, window_cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM login_failures
             WHERE (locked_until IS NULL OR locked_until <= $1) AND window_start < $2",
        )
        .bind(now)
        .bind(window_cutoff)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
