//! Rows and persistence of accounts: bootstrap of the first one and every account's
//! lifecycle (rename, scheduled deletion, closing).

use super::{ApiKeyRow, AuditEvent, Credential, ResetRow, StoreError, UserRow};
use crate::authz::Role;
use crate::ids::{AccountId, UserId};
use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub id: AccountId,
    pub name: String,
    pub created_at: i64,
}

/// An account with its lifecycle state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub id: AccountId,
    pub name: String,
    pub created_at: i64,
    pub deletion_requested_at: Option<i64>,
    pub deletion_due_at: Option<i64>,
    pub closed_at: Option<i64>,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// The first account, if bootstrap already ran.
    async fn first_account(&self) -> Result<Option<AccountRow>, StoreError>;
    /// Bootstrap: account, owner user, owner membership, the owner's first API key and the
    /// one-time token that sets the owner's password, in one transaction.
    async fn create_account_with_owner(
        &self,
        account: &AccountRow,
        owner: &UserRow,
        key: &Credential<ApiKeyRow>,
        setup: &Credential<ResetRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    async fn account(&self, id: &AccountId) -> Result<Option<AccountState>, StoreError>;
    /// Accounts (not closed) the user is a member of, with the role.
    async fn accounts_of_user(
        &self,
        user_id: &UserId,
    ) -> Result<Vec<(AccountState, Role)>, StoreError>;
    async fn create_account(
        &self,
        account: &AccountState,
        owner_id: &UserId,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn rename_account(
        &self,
        id: &AccountId,
        name: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Sets (or with `None`, cancels) a pending deletion.
    async fn schedule_account_deletion(
        &self,
        id: &AccountId,
        requested_due: Option<(i64, i64)>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Closes an account: every credential disabled, every session revoked. Returns the
    /// token labels of every key the account owns, for the caller to destroy.
    async fn close_account(
        &self,
        id: &AccountId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<Vec<String>, StoreError>;
}
