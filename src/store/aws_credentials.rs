//! AWS-style access key pairs of apps: the credential of the AWS KMS face (docs/aws-kms.md).
//!
//! Unlike an API key, whose secret is stored only as a digest, a SigV4 signature can be
//! checked only with the secret access key itself. So the secret is kept wrapped by a group
//! master key in the HSM ([`WrappedAwsSecret`]), and only the service unwraps it, to check a
//! signature. The metadata row ([`AwsCredentialRow`]) carries nothing secret-derived.

use super::{AuditEvent, StoreError};
use crate::ids::{AccountId, AppId, AwsAccessKeyId, GroupId};
use async_trait::async_trait;
use std::collections::BTreeMap;

/// An access key pair's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCredentialRow {
    /// The access key id (`CFKA…`), also the row's id.
    pub id: AwsAccessKeyId,
    pub account_id: AccountId,
    pub app_id: AppId,
    /// The group whose master key wraps the secret (one of the app's groups).
    pub group_id: GroupId,
    pub name: String,
    /// The credential's flags as granted (flag pattern → allowed), as an API key's.
    pub flags: BTreeMap<String, bool>,
    pub created_at: i64,
    pub disabled: bool,
}

/// The secret access key as stored: wrapped by a group master key (its token label).
/// No `Debug`: the bytes are wrapped, but nothing about a secret goes to a log.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedAwsSecret {
    pub wrapping_key: String,
    pub wrapped_secret: Vec<u8>,
}

#[async_trait]
pub trait AwsCredentialStore: Send + Sync {
    async fn create_aws_credential(
        &self,
        row: &AwsCredentialRow,
        secret: &WrappedAwsSecret,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Any account's credential with its wrapped secret, for authentication.
    async fn aws_credential(
        &self,
        id: &AwsAccessKeyId,
    ) -> Result<Option<(AwsCredentialRow, WrappedAwsSecret)>, StoreError>;
    /// The credentials of one app, oldest first.
    async fn aws_credentials(
        &self,
        account_id: &AccountId,
        app_id: &AppId,
    ) -> Result<Vec<AwsCredentialRow>, StoreError>;
    /// Sets `disabled`; `Conflict::Changed` if the credential is gone.
    async fn set_aws_credential_disabled(
        &self,
        account_id: &AccountId,
        id: &AwsAccessKeyId,
        disabled: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Deletes a credential; false if it was already gone.
    async fn delete_aws_credential(
        &self,
        account_id: &AccountId,
        id: &AwsAccessKeyId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
}
