//! Rows and persistence of client-certificate credentials: trusted CAs, the certificates
//! (pinned or by CA rule) bound to apps, and revocations.

use super::{AuditEvent, StoreError};
use crate::ids::{AccountId, AppCertificateId, AppId, CaId};
use async_trait::async_trait;

/// A trusted certificate authority for client certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCaRow {
    pub id: CaId,
    pub account_id: AccountId,
    pub name: String,
    pub der: Vec<u8>,
    pub subject: String,
    pub fingerprint: String,
    /// Registered with a proof of possession of the CA's private key.
    pub proven: bool,
    pub created_at: i64,
}

stored_names! {
    /// How a binding recognises its app's client certificate.
    pub enum AppCertificateKind {
        /// One certificate, by its fingerprint.
        Pinned => "pinned",
        /// Any certificate a trusted CA issued whose subject or SAN matches the rule.
        Ca => "ca",
    }
}

/// A client-certificate credential of an app: pinned, or CA plus subject/SAN rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCertificateRow {
    pub id: AppCertificateId,
    pub account_id: AccountId,
    pub app_id: AppId,
    pub kind: AppCertificateKind,
    pub fingerprint: Option<String>,
    pub ca_id: Option<CaId>,
    pub subject: Option<String>,
    pub san: Option<String>,
    pub not_after: Option<i64>,
    /// Pinned: bound with a proof of possession of the certificate's key. CA rule: its
    /// trusted CA is proven (copied when bound; a trusted CA never changes).
    pub proven: bool,
    pub created_at: i64,
}

/// A revoked client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRow {
    pub account_id: AccountId,
    pub fingerprint: String,
    pub reason: Option<String>,
    pub revoked_at: i64,
}

#[async_trait]
pub trait ClientCertStore: Send + Sync {
    /// Adds a trusted CA. A proven one is refused with [`Conflict::ProvenElsewhere`] when
    /// another open account holds a proven trusted CA with the same fingerprint (atomically).
    ///
    /// [`Conflict::ProvenElsewhere`]: super::Conflict::ProvenElsewhere
    async fn add_trusted_ca(
        &self,
        row: &TrustedCaRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn trusted_cas(&self, account_id: &AccountId) -> Result<Vec<TrustedCaRow>, StoreError>;
    /// Trusted CAs of every account with this subject (client-certificate authentication).
    async fn trusted_cas_by_subject(&self, subject: &str) -> Result<Vec<TrustedCaRow>, StoreError>;
    /// Adds a binding. A proven pinned one is refused with [`Conflict::ProvenElsewhere`]
    /// when another open account holds a proven pinned binding of the same fingerprint
    /// (atomically).
    ///
    /// [`Conflict::ProvenElsewhere`]: super::Conflict::ProvenElsewhere
    async fn add_app_certificate(
        &self,
        row: &AppCertificateRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn app_certificates(&self, app_id: &AppId) -> Result<Vec<AppCertificateRow>, StoreError>;
    async fn delete_app_certificate(
        &self,
        app_id: &AppId,
        id: &AppCertificateId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Bindings, in every account, that name this certificate fingerprint (pinned) or CA.
    async fn certificate_bindings(
        &self,
        fingerprint: &str,
        ca_ids: &[CaId],
    ) -> Result<Vec<AppCertificateRow>, StoreError>;
    async fn revoke_certificate(
        &self,
        row: &RevocationRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn revocations(&self, account_id: &AccountId) -> Result<Vec<RevocationRow>, StoreError>;
    async fn is_revoked(
        &self,
        account_id: &AccountId,
        fingerprint: &str,
    ) -> Result<bool, StoreError>;
}
