//! Rows and persistence of apps (non-human principals) and of API keys, the credential of
//! apps and users alike.

use super::{AuditEvent, Credential, StoreError};
use crate::authz::PrincipalKind;
use crate::ids::{AccountId, ApiKeyId, AppId, GroupId};
use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRow {
    pub id: AppId,
    pub account_id: AccountId,
    pub name: String,
    /// The groups the app is assigned to, sorted.
    pub groups: Vec<GroupId>,
    /// For each of `groups`, the operations the app may perform there.
    pub operations: std::collections::BTreeMap<GroupId, Vec<String>>,
    pub enabled: bool,
    pub created_at: i64,
}

/// API-key metadata; its digest is kept beside it, in a [`Credential`](super::Credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub principal_kind: PrincipalKind,
    pub principal_id: String,
    pub name: String,
    /// The credential's flags as granted (flag pattern → allowed).
    pub flags: std::collections::BTreeMap<String, bool>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub disabled: bool,
}

#[async_trait]
pub trait AppStore: Send + Sync {
    async fn create_app(&self, app: &AppRow, event: &AuditEvent) -> Result<(), StoreError>;
    async fn app(&self, account_id: &AccountId, id: &AppId) -> Result<Option<AppRow>, StoreError>;
    async fn apps(&self, account_id: &AccountId) -> Result<Vec<AppRow>, StoreError>;
    async fn update_app(
        &self,
        id: &AppId,
        name: &str,
        enabled: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Deletes an app: its API keys are disabled, its certificates and group places removed.
    async fn delete_app(&self, id: &AppId, at: i64, event: &AuditEvent) -> Result<(), StoreError>;

    async fn create_api_key(
        &self,
        key: &Credential<ApiKeyRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Any account's key, for authentication.
    async fn api_key(&self, id: &ApiKeyId) -> Result<Option<Credential<ApiKeyRow>>, StoreError>;
    async fn api_keys(&self, account_id: &AccountId) -> Result<Vec<ApiKeyRow>, StoreError>;
    async fn update_api_key(
        &self,
        id: &ApiKeyId,
        disabled: bool,
        flags: &std::collections::BTreeMap<String, bool>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
}
