//! Rows and persistence of the AWS KMS face: aliases, the AWS description and tags of a
//! keyring or key, and the lookups AWS requests need that Coffer's own routes do not (an
//! object by id rather than by name, whether trashed or not; a keyring by a ciphertext's key
//! reference).

use super::{AuditEvent, KeyRow, KeyringRow, StoreError};
use crate::ids::{AccountId, KeyId, KeyringId};
use async_trait::async_trait;
use std::collections::BTreeMap;

/// An alias: `alias/<name>` naming a keyring or key of the account by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsAliasRow {
    pub account_id: AccountId,
    /// The full name, `alias/<name>`.
    pub name: String,
    /// A keyring id (`kr_…`) or a key id (`key_…`); it may name an object deleted since.
    pub target_id: String,
    pub created_at: i64,
}

/// What AWS says about a key that Coffer's rows do not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsKeyMetadata {
    pub description: String,
    /// Tag key to value (AWS tag keys are unique per key).
    pub tags: BTreeMap<String, String>,
}

#[async_trait]
pub trait AwsKmsStore: Send + Sync {
    /// A keyring by id, live or in the trash (`deleted_at` tells which).
    async fn keyring_by_id(
        &self,
        account_id: &AccountId,
        id: &KeyringId,
    ) -> Result<Option<KeyringRow>, StoreError>;
    /// A key by id, live or in the trash (`deleted_at` tells which).
    async fn key_by_id(
        &self,
        account_id: &AccountId,
        id: &KeyId,
    ) -> Result<Option<KeyRow>, StoreError>;
    /// The keyring, live or in the trash, one of whose versions has `key_ref`.
    async fn keyring_by_key_ref(
        &self,
        account_id: &AccountId,
        key_ref: &[u8],
    ) -> Result<Option<KeyringRow>, StoreError>;
    async fn aws_alias(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<AwsAliasRow>, StoreError>;
    /// Every alias of the account, by name.
    async fn aws_aliases(&self, account_id: &AccountId) -> Result<Vec<AwsAliasRow>, StoreError>;
    /// Adds an alias; a name taken is [`super::Conflict::NameTaken`].
    async fn create_aws_alias(
        &self,
        alias: &AwsAliasRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Removes an alias; answers whether there was one (no event is written otherwise).
    async fn delete_aws_alias(
        &self,
        account_id: &AccountId,
        name: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// The AWS metadata of a keyring or key id; `None` when none was ever written.
    async fn aws_key_metadata(
        &self,
        account_id: &AccountId,
        key_id: &str,
    ) -> Result<Option<AwsKeyMetadata>, StoreError>;
    /// Writes (replaces) the AWS metadata of a keyring or key id.
    async fn put_aws_key_metadata(
        &self,
        account_id: &AccountId,
        key_id: &str,
        metadata: &AwsKeyMetadata,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
}
