//! Rows and persistence of keyrings (symmetric keys with versions) and their trash.

use super::{AuditEvent, StoreError};
use crate::ids::{AccountId, GroupId, KeyringId};
use async_trait::async_trait;

stored_names! {
    /// Where a keyring's version keys live.
    pub enum Protection {
        /// Wrapped by the group master key; used in process from a short-lived cache.
        Envelope => "envelope",
        /// A non-extractable token object; every operation runs inside the HSM.
        Hsm => "hsm",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringRow {
    pub id: KeyringId,
    pub account_id: AccountId,
    pub group_id: GroupId,
    pub name: String,
    pub protection: Protection,
    pub current_version: u32,
    pub min_decryption_version: u32,
    pub enabled: bool,
    pub rotation_period_days: Option<u32>,
    pub max_encrypt_count: Option<u64>,
    pub cache_ttl_seconds: u32,
    /// A tripwire: its first use by an app freezes the group.
    pub canary: bool,
    pub created_at: i64,
    pub rotated_at: i64,
    pub deleted_at: Option<i64>,
}

/// One version of a keyring's key: wrapped bytes or the label of a token key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub keyring_id: KeyringId,
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

#[async_trait]
pub trait KeyringStore: Send + Sync {
    async fn create_keyring(
        &self,
        keyring: &KeyringRow,
        first: &VersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// A live (not trashed) keyring by name.
    async fn keyring(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<KeyringRow>, StoreError>;
    async fn keyrings(&self, account_id: &AccountId) -> Result<Vec<KeyringRow>, StoreError>;
    async fn versions(&self, keyring_id: &KeyringId) -> Result<Vec<VersionRow>, StoreError>;
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
        keyring_id: &KeyringId,
        config: &KeyringConfig,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Moves a keyring to the trash.
    async fn trash_keyring(
        &self,
        keyring_id: &KeyringId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The most recently trashed, not yet purged keyring with this name.
    async fn trashed_keyring(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<KeyringRow>, StoreError>;
    /// Takes a keyring out of the trash. A live keyring with its name is a conflict.
    async fn restore_keyring(
        &self,
        keyring_id: &KeyringId,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Keyrings of every account whose scheduled or count-based rotation is due.
    async fn keyrings_due_for_rotation(&self, now: i64) -> Result<Vec<KeyringRow>, StoreError>;
    /// Removes keyrings trashed before `cutoff`; returns the token key labels to destroy.
    async fn purge_trash(&self, cutoff: i64) -> Result<Vec<String>, StoreError>;
}
