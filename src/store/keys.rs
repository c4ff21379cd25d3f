//! Rows and persistence of asymmetric keys (key pairs and public keys, with versions),
//! their certificates, and the security-objects view that lists them with keyrings.

use super::{AuditEvent, StoreError};
use crate::crypto::asym::KeyAlgorithm;
use crate::ids::{AccountId, CertificateId, GroupId, KeyId};
use async_trait::async_trait;

stored_names! {
    /// What an asymmetric key holds.
    pub enum KeyKind {
        /// A private key in the token and its public half.
        KeyPair => "key_pair",
        /// An imported public key: it verifies (and encrypts) only.
        PublicKey => "public_key",
    }
}

/// An asymmetric security object: a key pair (private half in the token) or a public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: KeyId,
    pub account_id: AccountId,
    pub group_id: GroupId,
    pub name: String,
    pub kind: KeyKind,
    pub algorithm: KeyAlgorithm,
    pub can_sign: bool,
    pub can_decrypt: bool,
    pub enabled: bool,
    pub current_version: u32,
    /// Versions below this are retired: they neither verify nor decrypt.
    pub min_version: u32,
    /// A tripwire: its first use by an app freezes the group.
    pub canary: bool,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
}

/// One version of a key: its public half, and the token label of its private half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersionRow {
    pub key_id: KeyId,
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
    pub id: CertificateId,
    pub account_id: AccountId,
    pub key_id: KeyId,
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

stored_names! {
    /// What a row of the security-objects view is.
    pub enum ObjectKind {
        Keyring => "keyring",
        KeyPair => "key_pair",
        PublicKey => "public_key",
        Certificate => "certificate",
    }
}

/// One row of the security-objects view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRow {
    pub id: String,
    pub kind: ObjectKind,
    pub name: String,
    pub group_id: GroupId,
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
    async fn key(&self, account_id: &AccountId, name: &str) -> Result<Option<KeyRow>, StoreError>;
    async fn keys(&self, account_id: &AccountId) -> Result<Vec<KeyRow>, StoreError>;
    async fn key_versions(&self, key_id: &KeyId) -> Result<Vec<KeyVersionRow>, StoreError>;
    /// Adds `next` and makes it current, only if the current version is still
    /// `next.version - 1`.
    async fn add_key_version(
        &self,
        next: &KeyVersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn update_key(
        &self,
        key_id: &KeyId,
        enabled: bool,
        min_version: u32,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn trash_key(
        &self,
        key_id: &KeyId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The most recently trashed, not yet purged key with this name.
    async fn trashed_key(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<KeyRow>, StoreError>;
    async fn restore_key(&self, key_id: &KeyId, event: &AuditEvent) -> Result<(), StoreError>;
    /// Removes keys trashed before `cutoff` with their certificates; returns the token
    /// labels of their private keys, to destroy.
    async fn purge_trashed_keys(&self, cutoff: i64) -> Result<Vec<String>, StoreError>;

    async fn add_certificate(
        &self,
        certificate: &CertificateRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn certificates(&self, key_id: &KeyId) -> Result<Vec<CertificateRow>, StoreError>;
    /// Deletes one certificate of a key; false if there was none.
    async fn delete_certificate(
        &self,
        key_id: &KeyId,
        certificate_id: &CertificateId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Every live security object of an account.
    async fn objects(&self, account_id: &AccountId) -> Result<Vec<ObjectRow>, StoreError>;
}
