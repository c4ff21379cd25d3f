//! Rows and persistence of secrets: values with versions, sealed per version under a data
//! key that the group master key wraps; the explicit grants that let apps read them; and the
//! trash.

use super::{AuditEvent, StoreError};
use crate::ids::{AccountId, AppId, GroupId, SecretId};
use async_trait::async_trait;

stored_names! {
    /// What a secret holds and how Coffer treats it.
    pub enum SecretKind {
        /// One value.
        Single => "single",
        /// Named fields, sealed together.
        Structured => "structured",
        /// A database credential that Coffer rotates and an agent applies.
        Managed => "managed",
        /// A tripwire: a read by an app freezes the group.
        Canary => "canary",
    }
}

stored_names! {
    /// Where a version stands. Only managed secrets have versions that wait for their agent.
    pub enum VersionState {
        /// Readable; the current one is what readers get.
        Ready => "ready",
        /// Made by a rotation of a managed secret; becomes current once its agent confirms.
        Pending => "pending",
        /// A pending version that a later rotation replaced before it was confirmed.
        Abandoned => "abandoned",
    }
}

stored_names! {
    /// How a version came to be.
    pub enum VersionOrigin {
        Create => "create",
        Set => "set",
        Rotation => "rotation",
        Rollback => "rollback",
    }
}

/// A secret's metadata. Values live in [`SecretVersionRow`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRow {
    pub id: SecretId,
    pub account_id: AccountId,
    pub group_id: GroupId,
    pub name: String,
    pub kind: SecretKind,
    /// The version readers get; 0 for a managed secret whose first value is not applied yet.
    pub current_version: u32,
    /// The highest version number made so far.
    pub latest_version: u32,
    /// How many versions are kept; older ones are deleted.
    pub retention: u32,
    /// The automatic rotation policy, as JSON (the service owns its shape).
    pub rotation: Option<String>,
    /// When the next rotation is due (Unix microseconds); `None` without rotation.
    pub next_rotation_at: Option<i64>,
    /// A managed secret's target (mode, roles, host, port, database), as JSON.
    pub managed: Option<String>,
    /// A canary's related canaries (names), tripped with it.
    pub canary_cascade: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

/// One version of a secret's value: sealed bytes and the wrapped data key that opens them.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretVersionRow {
    pub secret_id: SecretId,
    pub version: u32,
    /// The names of the fields (empty for a single value): metadata, readable without the value.
    pub fields: Vec<String>,
    pub wrapped_key: Vec<u8>,
    pub wrapping_key: String,
    pub nonce: Vec<u8>,
    pub sealed: Vec<u8>,
    pub origin: VersionOrigin,
    /// The principal that made it (`system` for a rotation).
    pub created_by: String,
    pub created_at: i64,
    pub state: VersionState,
    pub applied_at: Option<i64>,
}

impl std::fmt::Debug for SecretVersionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Wrapped and sealed bytes are not secret, but they are noise in a log.
        f.debug_struct("SecretVersionRow")
            .field("secret_id", &self.secret_id)
            .field("version", &self.version)
            .field("fields", &self.fields)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// An app's explicit permission to read a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretGrantRow {
    pub secret_id: SecretId,
    pub app_id: AppId,
    pub created_at: i64,
}

/// How a new version changes its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewVersion {
    /// The version becomes current at once.
    Current,
    /// The version waits for its agent (managed secrets); the current one stays.
    Pending,
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn create_secret(
        &self,
        secret: &SecretRow,
        first: &SecretVersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// A live (not trashed) secret by name.
    async fn secret(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<SecretRow>, StoreError>;
    async fn secrets(&self, account_id: &AccountId) -> Result<Vec<SecretRow>, StoreError>;
    /// Every version kept, oldest first.
    async fn secret_versions(
        &self,
        secret_id: &SecretId,
    ) -> Result<Vec<SecretVersionRow>, StoreError>;
    /// Adds `next` as version `latest_version + 1` of its secret, only if the latest version
    /// is still `next.version - 1` (two concurrent writers cannot both win). With
    /// [`NewVersion::Current`] it becomes current; older versions beyond the secret's
    /// retention are deleted (never the current one). `next_rotation_at` is stored as given.
    async fn add_secret_version(
        &self,
        next: &SecretVersionRow,
        becomes: NewVersion,
        next_rotation_at: Option<i64>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Makes a pending version current (its agent confirmed it); earlier pending versions
    /// are abandoned.
    async fn apply_secret_version(
        &self,
        secret_id: &SecretId,
        version: u32,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Replaces the rotation policy and the next due time.
    async fn set_secret_rotation(
        &self,
        secret_id: &SecretId,
        rotation: Option<&str>,
        next_rotation_at: Option<i64>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Live secrets of every account whose rotation is due at `now`.
    async fn secrets_due_for_rotation(&self, now: i64) -> Result<Vec<SecretRow>, StoreError>;
    async fn secret_grants(&self, secret_id: &SecretId) -> Result<Vec<SecretGrantRow>, StoreError>;
    /// Grants `app_id` the reading of a secret; granting twice is not an error.
    async fn grant_secret(
        &self,
        grant: &SecretGrantRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Takes a grant away; true if there was one.
    async fn revoke_secret(
        &self,
        secret_id: &SecretId,
        app_id: &AppId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Moves a secret to the trash and removes its grants and rotation schedule.
    async fn trash_secret(
        &self,
        secret_id: &SecretId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The most recently trashed, not yet purged secret with this name.
    async fn trashed_secret(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<SecretRow>, StoreError>;
    /// Takes a secret out of the trash (without grants or rotation). A live secret with its
    /// name is a conflict.
    async fn restore_secret(
        &self,
        secret_id: &SecretId,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Removes secrets trashed before `cutoff` with their whole history; returns how many.
    async fn purge_trashed_secrets(&self, cutoff: i64) -> Result<u64, StoreError>;
    /// Freezes a group (a canary tripped or an operator asked); a frozen group stays as it
    /// was frozen first. Written with `event`, in one transaction.
    async fn freeze_group(
        &self,
        group_id: &GroupId,
        at: i64,
        reason: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Unfreezes a group (a group not frozen stays so).
    async fn unfreeze_group(
        &self,
        group_id: &GroupId,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
}
