//! Rows and persistence of users, their memberships of accounts, their passwords and the
//! one-time tokens that reset them.

use super::{AuditEvent, Credential, StoreError};
use crate::authz::Role;
use crate::ids::{AccountId, ResetId, UserId};
use async_trait::async_trait;

/// A new user, as bootstrap creates the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: UserId,
    pub email: String,
    pub created_at: i64,
}

/// A user as stored: the password only as an Argon2id PHC string.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub password_hash: Option<String>,
    pub created_at: i64,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// A user's membership of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub account_id: AccountId,
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub suspended: bool,
    pub created_at: i64,
}

/// A one-time password-reset token; the HSM digest of its text is kept beside it, in a
/// [`Credential`].
#[derive(Clone, PartialEq, Eq)]
pub struct ResetRow {
    pub id: ResetId,
    pub user_id: UserId,
    pub account_id: AccountId,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;
    /// The role of a user in an account, if they are a member.
    async fn membership_role(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Option<Role>, StoreError>;
    async fn member(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Option<MemberRow>, StoreError>;
    async fn members(&self, account_id: &AccountId) -> Result<Vec<MemberRow>, StoreError>;
    /// Adds a membership, creating `new_user` first when given.
    async fn add_member(
        &self,
        new_user: Option<&UserRecord>,
        member: &MemberRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn update_member(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
        role: Role,
        suspended: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Removes a membership, the user's group memberships and sessions in that account.
    async fn remove_member(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Sets a password and revokes every session of the user.
    async fn set_password(
        &self,
        user_id: &UserId,
        hash: &str,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    async fn create_reset(
        &self,
        row: &Credential<ResetRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn reset(&self, id: &ResetId) -> Result<Option<Credential<ResetRow>>, StoreError>;
    /// Marks the token used and sets the password, only if it is unused and not expired.
    async fn consume_reset(
        &self,
        id: &ResetId,
        now: i64,
        hash: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
}
