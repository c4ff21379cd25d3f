//! Rows and persistence of identity: accounts' lifecycle, users and memberships, sessions,
//! login lockouts, password resets, group membership and client-certificate credentials.

use super::StoreError;
use crate::audit::AuditEvent;
use async_trait::async_trait;

/// An account with its lifecycle state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub deletion_requested_at: Option<i64>,
    pub deletion_due_at: Option<i64>,
    pub closed_at: Option<i64>,
}

/// A user as stored: the password only as an Argon2id PHC string.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: String,
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
    pub account_id: String,
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub suspended: bool,
    pub created_at: i64,
}

/// A login session; `digest` is an HSM HMAC of the token, never the token.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub digest: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub source_ip: Option<String>,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
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

/// A one-time password-reset token (digest only).
#[derive(Clone, PartialEq, Eq)]
pub struct ResetRow {
    pub id: String,
    pub user_id: String,
    pub account_id: String,
    pub digest: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// A trusted certificate authority for client certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCaRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub der: Vec<u8>,
    pub subject: String,
    pub fingerprint: String,
    /// Registered with a proof of possession of the CA's private key.
    pub proven: bool,
    pub created_at: i64,
}

/// A client-certificate credential of an app: pinned, or CA plus subject/SAN rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCertificateRow {
    pub id: String,
    pub account_id: String,
    pub app_id: String,
    /// `pinned` or `ca`.
    pub kind: String,
    pub fingerprint: Option<String>,
    pub ca_id: Option<String>,
    pub subject: Option<String>,
    pub san: Option<String>,
    pub not_after: Option<i64>,
    /// Pinned: bound with a proof of possession of the certificate's key. CA rule: its
    /// trusted CA is proven (copied when bound; a trusted CA never changes).
    pub proven: bool,
    pub created_at: i64,
}

/// Why a proven binding or trusted CA is refused: the same certificate is already proven
/// in another account (not closed). Only its key holder could have done that; the other
/// account is not named.
pub const PROVEN_ELSEWHERE: &str = "this certificate is already registered with a proof of \
     possession in another account; only the holder of its private key could have done that, \
     and a certificate is proven in one account at a time";

/// A revoked client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRow {
    pub account_id: String,
    pub fingerprint: String,
    pub reason: Option<String>,
    pub revoked_at: i64,
}

/// The members of a group: users with their group role, apps with their operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMembers {
    pub users: Vec<(String, String)>,
    pub apps: Vec<(String, Vec<String>)>,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn account(&self, id: &str) -> Result<Option<AccountState>, StoreError>;
    /// Accounts (not closed) the user is a member of, with the role.
    async fn accounts_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<(AccountState, String)>, StoreError>;
    async fn create_account(
        &self,
        account: &AccountState,
        owner_id: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn rename_account(
        &self,
        id: &str,
        name: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Sets (or with `None`, cancels) a pending deletion.
    async fn schedule_account_deletion(
        &self,
        id: &str,
        requested_due: Option<(i64, i64)>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Closes an account: every credential disabled, every session revoked. Returns the
    /// token labels of every key the account owns, for the caller to destroy.
    async fn close_account(
        &self,
        id: &str,
        at: i64,
        event: &AuditEvent,
    ) -> Result<Vec<String>, StoreError>;

    async fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn member(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<Option<MemberRow>, StoreError>;
    async fn members(&self, account_id: &str) -> Result<Vec<MemberRow>, StoreError>;
    /// Adds a membership, creating `new_user` first when given.
    async fn add_member(
        &self,
        new_user: Option<&UserRecord>,
        member: &MemberRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn update_member(
        &self,
        account_id: &str,
        user_id: &str,
        role: &str,
        suspended: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Removes a membership, the user's group memberships and sessions in that account.
    async fn remove_member(
        &self,
        account_id: &str,
        user_id: &str,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Sets a password and revokes every session of the user.
    async fn set_password(
        &self,
        user_id: &str,
        hash: &str,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    async fn create_session(&self, row: &SessionRow, event: &AuditEvent) -> Result<(), StoreError>;
    async fn session(&self, id: &str) -> Result<Option<SessionRow>, StoreError>;
    async fn sessions(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<Vec<SessionRow>, StoreError>;
    async fn revoke_session(&self, id: &str, at: i64, event: &AuditEvent)
    -> Result<(), StoreError>;

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

    async fn create_reset(&self, row: &ResetRow, event: &AuditEvent) -> Result<(), StoreError>;
    async fn reset(&self, id: &str) -> Result<Option<ResetRow>, StoreError>;
    /// Marks the token used and sets the password, only if it is unused and not expired.
    async fn consume_reset(
        &self,
        id: &str,
        now: i64,
        hash: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    async fn rename_group(
        &self,
        id: &str,
        name: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Live keyrings and keys in the group.
    async fn group_object_count(&self, group_id: &str) -> Result<u64, StoreError>;
    /// Deletes a group, moving its live objects to the trash first.
    async fn delete_group(&self, id: &str, at: i64, event: &AuditEvent) -> Result<(), StoreError>;
    async fn group_members(&self, group_id: &str) -> Result<GroupMembers, StoreError>;
    /// Groups deleted before `cutoff` whose master keys are not destroyed yet.
    async fn groups_to_purge(&self, cutoff: i64)
    -> Result<Vec<crate::store::GroupRow>, StoreError>;
    /// Records that a deleted group's master keys are destroyed (`master_version` 0).
    async fn mark_group_purged(&self, id: &str) -> Result<(), StoreError>;
    /// The groups a user belongs to in an account, with the group role.
    async fn user_groups(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError>;
    async fn set_group_user(
        &self,
        group_id: &str,
        user_id: &str,
        role: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn set_group_app(
        &self,
        group_id: &str,
        app_id: &str,
        operations_json: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Removes a user or app from a group; false if it was not a member.
    async fn remove_group_member(
        &self,
        group_id: &str,
        member_id: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    async fn update_app(
        &self,
        id: &str,
        name: &str,
        enabled: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Deletes an app: its API keys are disabled, its certificates and group places removed.
    async fn delete_app(&self, id: &str, at: i64, event: &AuditEvent) -> Result<(), StoreError>;

    /// Adds a trusted CA. A proven one is refused with `Conflict(PROVEN_ELSEWHERE)` when
    /// another open account holds a proven trusted CA with the same fingerprint (atomically).
    async fn add_trusted_ca(
        &self,
        row: &TrustedCaRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn trusted_cas(&self, account_id: &str) -> Result<Vec<TrustedCaRow>, StoreError>;
    /// Trusted CAs of every account with this subject (client-certificate authentication).
    async fn trusted_cas_by_subject(&self, subject: &str) -> Result<Vec<TrustedCaRow>, StoreError>;
    /// Adds a binding. A proven pinned one is refused with `Conflict(PROVEN_ELSEWHERE)` when
    /// another open account holds a proven pinned binding of the same fingerprint
    /// (atomically).
    async fn add_app_certificate(
        &self,
        row: &AppCertificateRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn app_certificates(&self, app_id: &str) -> Result<Vec<AppCertificateRow>, StoreError>;
    async fn delete_app_certificate(
        &self,
        app_id: &str,
        id: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Bindings, in every account, that name this certificate fingerprint (pinned) or CA.
    async fn certificate_bindings(
        &self,
        fingerprint: &str,
        ca_ids: &[String],
    ) -> Result<Vec<AppCertificateRow>, StoreError>;
    async fn revoke_certificate(
        &self,
        row: &RevocationRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn revocations(&self, account_id: &str) -> Result<Vec<RevocationRow>, StoreError>;
    async fn is_revoked(&self, account_id: &str, fingerprint: &str) -> Result<bool, StoreError>;
}
