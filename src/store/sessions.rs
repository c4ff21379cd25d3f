//! Rows and persistence of login sessions and of the failed-login counts that lock a
//! source out.

use super::{AuditEvent, Credential, StoreError};
use crate::ids::{AccountId, SessionId, UserId};
use async_trait::async_trait;

/// A login session; the HSM digest of its token is kept beside it, in a [`Credential`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: SessionId,
    pub account_id: AccountId,
    pub user_id: UserId,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub source_ip: Option<String>,
}

/// Failed logins from one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    pub failures: u32,
    pub window_start: i64,
    pub locked_until: Option<i64>,
}

/// The lockout rule, applied atomically by the store.
#[derive(Debug, Clone, Copy)]
pub struct LockoutRule {
    pub now: i64,
    pub window_micros: i64,
    pub threshold: u32,
    pub lock_micros: i64,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(
        &self,
        row: &Credential<SessionRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn session(&self, id: &SessionId) -> Result<Option<Credential<SessionRow>>, StoreError>;
    async fn sessions(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Vec<SessionRow>, StoreError>;
    async fn revoke_session(
        &self,
        id: &SessionId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    async fn login_failures(&self, source: &str) -> Result<Option<LoginFailures>, StoreError>;
    /// Counts one failure under `rule` (a new window when the last one ended) and locks
    /// the source when the threshold is reached. Returns the new state.
    async fn record_login_failure(
        &self,
        source: &str,
        rule: LockoutRule,
    ) -> Result<LoginFailures, StoreError>;
    async fn clear_login_failures(&self, source: &str) -> Result<(), StoreError>;
    /// Forgets failure counts that can no longer lock anyone out: no lock in force at `now`
    /// and a window that started before `window_cutoff` (the next failure would start a new
    /// count anyway). Returns how many were forgotten.
    async fn prune_login_failures(&self, now: i64, window_cutoff: i64) -> Result<u64, StoreError>;
}
