//! Persistent state behind one trait. Rows hold wrapped keys and metadata, never plaintext
//! key material. Every mutation is written in the same transaction as its audit event, so
//! a change that cannot be audited does not happen.

mod identity;
mod machines;
mod sqlite;

pub use identity::*;
pub use machines::*;
pub use sqlite::SqliteStore;

use crate::audit::AuditEvent;
use async_trait::async_trait;

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (name taken) or an expected state had moved on.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database cannot be reached or refused the write: retryable.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A row does not decode: a bug or a damaged database.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub master_version: u32,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    /// The groups the app is assigned to, sorted.
    pub groups: Vec<String>,
    /// For each of `groups`, the operations the app may perform there.
    pub operations: std::collections::BTreeMap<String, Vec<String>>,
    pub enabled: bool,
    pub created_at: i64,
}

/// API-key metadata; `digest` is an HMAC computed in the HSM, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: String,
    pub account_id: String,
    pub principal_kind: String,
    pub principal_id: String,
    pub name: String,
    pub flags_json: String,
    pub digest: Vec<u8>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub disabled: bool,
}

impl std::fmt::Debug for ApiKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRow")
            .field("id", &self.id)
            .field("principal_id", &self.principal_id)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringRow {
    pub id: String,
    pub account_id: String,
    pub group_id: String,
    pub name: String,
    pub protection: String,
    pub current_version: u32,
    pub min_decryption_version: u32,
    pub enabled: bool,
    pub rotation_period_days: Option<u32>,
    pub max_encrypt_count: Option<u64>,
    pub cache_ttl_seconds: u32,
    pub created_at: i64,
    pub rotated_at: i64,
    pub deleted_at: Option<i64>,
}

/// One version of a keyring's key: wrapped bytes or the label of a token key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub keyring_id: String,
    pub version: u32,
    pub key_ref: Vec<u8>,
    pub wrapped_key: Option<Vec<u8>>,
    pub wrapping_key: Option<String>,
    pub token_key: Option<String>,
    pub kcv: String,
    pub created_at: i64,
    pub encrypt_count: u64,
}

/// The configuration fields of a keyring that `PATCH .../config` may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringConfig {
    pub enabled: bool,
    pub min_decryption_version: u32,
    pub rotation_period_days: Option<u32>,
    pub max_encrypt_count: Option<u64>,
    pub cache_ttl_seconds: u32,
}

/// Filters for the activity feed. `before_seq` pages backwards from the newest.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub principal: Option<String>,
    pub object: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// A stored audit event with its position in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: AuditEvent,
}

/// Appends audit events. Runs on the audit committer's dedicated thread, synchronously:
/// every request waits for it, so it must not wait for an async runtime's turn.
pub trait AuditWriter: Send {
    /// Appends a batch of events in one durable transaction, with the usage counters
    /// (encrypt counts, API-key last use) they carry, and inserts the nonce claims in the
    /// same transaction. Answers, for each claim in order, whether its nonce was fresh.
    fn append(
        &mut self,
        events: &[AuditEvent],
        claims: &[crate::audit::NonceClaim],
    ) -> Result<Vec<bool>, StoreError>;
}

/// An asymmetric security object: a key pair (private half in the token) or a public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: String,
    pub account_id: String,
    pub group_id: String,
    pub name: String,
    /// `key_pair` or `public_key`.
    pub kind: String,
    pub algorithm: String,
    pub can_sign: bool,
    pub can_decrypt: bool,
    pub enabled: bool,
    pub current_version: u32,
    /// Versions below this are retired: they neither verify nor decrypt.
    pub min_version: u32,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
}

/// One version of a key: its public half, and the token label of its private half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersionRow {
    pub key_id: String,
    pub version: u32,
    /// DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
    pub fingerprint: String,
    pub token_label: Option<String>,
    pub created_at: i64,
}

/// A certificate linked to one version of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRow {
    pub id: String,
    pub account_id: String,
    pub key_id: String,
    pub key_version: u32,
    pub der: Vec<u8>,
    pub chain_pem: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    pub subject_alt_names: Vec<String>,
    pub key_usage: Vec<String>,
    pub is_ca: bool,
    pub fingerprint: String,
    pub created_at: i64,
}

/// One row of the security-objects view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRow {
    pub id: String,
    /// `keyring`, `key_pair`, `public_key` or `certificate`.
    pub kind: String,
    pub name: String,
    pub group_id: String,
    /// Keyring protection, key algorithm, or the certificate's subject.
    pub detail: String,
    pub enabled: bool,
    pub created_at: i64,
}

/// Persistence of asymmetric keys and certificates.
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn create_key(
        &self,
        key: &KeyRow,
        first: &KeyVersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// A live (not trashed) key by name.
    async fn key(&self, account_id: &str, name: &str) -> Result<Option<KeyRow>, StoreError>;
    async fn keys(&self, account_id: &str) -> Result<Vec<KeyRow>, StoreError>;
    async fn key_versions(&self, key_id: &str) -> Result<Vec<KeyVersionRow>, StoreError>;
    /// Adds `next` and makes it current, only if the current version is still
    /// `next.version - 1`.
    async fn add_key_version(
        &self,
        next: &KeyVersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn update_key(
        &self,
        key_id: &str,
        enabled: bool,
        min_version: u32,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn trash_key(&self, key_id: &str, at: i64, event: &AuditEvent) -> Result<(), StoreError>;
    /// The most recently trashed, not yet purged key with this name.
    async fn trashed_key(&self, account_id: &str, name: &str)
    -> Result<Option<KeyRow>, StoreError>;
    async fn restore_key(&self, key_id: &str, event: &AuditEvent) -> Result<(), StoreError>;
    /// Removes keys trashed before `cutoff` with their certificates; returns the token
    /// labels of their private keys, to destroy.
    async fn purge_trashed_keys(&self, cutoff: i64) -> Result<Vec<String>, StoreError>;

    async fn add_certificate(
        &self,
        certificate: &CertificateRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn certificates(&self, key_id: &str) -> Result<Vec<CertificateRow>, StoreError>;
    /// Deletes one certificate of a key; false if there was none.
    async fn delete_certificate(
        &self,
        key_id: &str,
        certificate_id: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Every live security object of an account.
    async fn objects(&self, account_id: &str) -> Result<Vec<ObjectRow>, StoreError>;
}

/// Everything the service needs to persist.
#[async_trait]
pub trait Store: KeyStore + IdentityStore + MachineStore + Send + Sync + 'static {
    /// Whether the database takes a durable write now (readiness).
    async fn probe_write(&self, now: i64) -> Result<(), StoreError>;

    /// The first account, if bootstrap already ran.
    async fn first_account(&self) -> Result<Option<AccountRow>, StoreError>;
    /// Bootstrap: account, owner user, owner membership, the owner's first API key and the
    /// one-time token that sets the owner's password, in one transaction.
    async fn create_account_with_owner(
        &self,
        account: &AccountRow,
        owner: &UserRow,
        key: &ApiKeyRow,
        setup: &ResetRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The role of a user in an account, if they are a member.
    async fn membership_role(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, StoreError>;

    async fn create_group(&self, group: &GroupRow, event: &AuditEvent) -> Result<(), StoreError>;
    async fn group(&self, account_id: &str, id: &str) -> Result<Option<GroupRow>, StoreError>;
    async fn groups(&self, account_id: &str) -> Result<Vec<GroupRow>, StoreError>;

    async fn create_app(&self, app: &AppRow, event: &AuditEvent) -> Result<(), StoreError>;
    async fn app(&self, account_id: &str, id: &str) -> Result<Option<AppRow>, StoreError>;
    async fn apps(&self, account_id: &str) -> Result<Vec<AppRow>, StoreError>;

    async fn create_api_key(&self, key: &ApiKeyRow, event: &AuditEvent) -> Result<(), StoreError>;
    /// Any account's key, for authentication.
    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError>;
    async fn api_keys(&self, account_id: &str) -> Result<Vec<ApiKeyRow>, StoreError>;
    async fn update_api_key(
        &self,
        id: &str,
        disabled: bool,
        flags_json: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    async fn create_keyring(
        &self,
        keyring: &KeyringRow,
        first: &VersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// A live (not trashed) keyring by name.
    async fn keyring(&self, account_id: &str, name: &str)
    -> Result<Option<KeyringRow>, StoreError>;
    async fn keyrings(&self, account_id: &str) -> Result<Vec<KeyringRow>, StoreError>;
    async fn versions(&self, keyring_id: &str) -> Result<Vec<VersionRow>, StoreError>;
    /// Adds `next` and makes it current, only if the current version is still
    /// `next.version - 1` (two concurrent rotations cannot both win).
    async fn add_version(
        &self,
        next: &VersionRow,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn update_keyring_config(
        &self,
        keyring_id: &str,
        config: &KeyringConfig,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Moves a keyring to the trash.
    async fn trash_keyring(
        &self,
        keyring_id: &str,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The most recently trashed, not yet purged keyring with this name.
    async fn trashed_keyring(
        &self,
        account_id: &str,
        name: &str,
    ) -> Result<Option<KeyringRow>, StoreError>;
    /// Takes a keyring out of the trash. A live keyring with its name is a conflict.
    async fn restore_keyring(&self, keyring_id: &str, event: &AuditEvent)
    -> Result<(), StoreError>;
    /// Keyrings of every account whose scheduled or count-based rotation is due.
    async fn keyrings_due_for_rotation(&self, now: i64) -> Result<Vec<KeyringRow>, StoreError>;
    /// Removes keyrings trashed before `cutoff`; returns the token key labels to destroy.
    async fn purge_trash(&self, cutoff: i64) -> Result<Vec<String>, StoreError>;

    /// A synchronous writer for the audit committer's own thread.
    fn audit_writer(&self) -> Result<Box<dyn AuditWriter>, StoreError>;
    async fn events(
        &self,
        account_id: &str,
        filter: &ActivityFilter,
    ) -> Result<Vec<StoredEvent>, StoreError>;
}
