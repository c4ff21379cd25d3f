//! API keys, the client certificates bound to apps, trusted CAs and revocations: the
//! credentials that authenticate a caller, and the means to stop them.

use super::null_refused;
use crate::clock::{rfc3339, rfc3339_seconds};
use crate::http::openapi::fields::{self, enumeration};
use crate::service::{ApiKeyRow, AppCertificateRow, RevocationRow, TrustedCaRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// an app or user id
    pub principal: String,
    #[schema(schema_with = fields::label)]
    pub name: String,
    #[schema(schema_with = fields::flags)]
    pub flags: BTreeMap<String, bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchApiKey {
    /// true disables for good; false is refused (409) once disabled
    #[serde(default, deserialize_with = "null_refused::disabled")]
    #[schema(nullable = false)]
    pub disabled: Option<bool>,
    #[serde(default, deserialize_with = "null_refused::flags")]
    #[schema(schema_with = fields::flags)]
    pub flags: Option<BTreeMap<String, bool>>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedApiKey {
    pub id: String,
    pub api_key: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub principal: String,
    pub principal_kind: String,
    pub flags: BTreeMap<String, bool>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub disabled: bool,
}

impl From<&ApiKeyRow> for ApiKey {
    fn from(row: &ApiKeyRow) -> Self {
        Self {
            id: row.id.to_string(),
            name: row.name.clone(),
            principal: row.principal_id.clone(),
            principal_kind: row.principal_kind.as_str().to_owned(),
            flags: row.flags.clone(),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
            disabled: row.disabled,
        }
    }
}
/// A client certificate an app may authenticate with.
/// Its schema (exclusive variants) is written in `openapi::variants`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindCertificate {
    /// A pinned certificate, PEM.
    #[serde(default, deserialize_with = "null_refused::certificate")]
    pub certificate: Option<String>,
    /// Or the pinned certificate's SHA-256 fingerprint.
    #[serde(default, deserialize_with = "null_refused::fingerprint")]
    pub fingerprint: Option<String>,
    /// Or a trusted CA id with a subject and/or SAN rule.
    #[serde(default, deserialize_with = "null_refused::ca")]
    pub ca: Option<String>,
    #[serde(default, deserialize_with = "null_refused::subject")]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "null_refused::san")]
    pub san: Option<String>,
    /// With `certificate`: base64 of a signature by the certificate's key over
    /// `coffer-possession-proof:v1:<account id>:<fingerprint>` (a proven binding).
    #[serde(default, deserialize_with = "null_refused::proof")]
    pub proof: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppCertificate {
    pub id: String,
    #[schema(schema_with = binding_kind)]
    pub kind: String,
    pub fingerprint: Option<String>,
    pub ca: Option<String>,
    pub subject: Option<String>,
    pub san: Option<String>,
    pub not_after: Option<String>,
    /// Pinned with a proof of possession, or a rule under a proven trusted CA; a certificate
    /// that matches a proven binding ignores unproven ones.
    pub proven: bool,
    pub created_at: String,
}

fn binding_kind() -> Schema {
    enumeration(["pinned", "ca"]).into()
}

impl From<&AppCertificateRow> for AppCertificate {
    fn from(row: &AppCertificateRow) -> Self {
        Self {
            id: row.id.to_string(),
            kind: row.kind.as_str().to_owned(),
            fingerprint: row.fingerprint.clone(),
            ca: row.ca_id.as_ref().map(ToString::to_string),
            subject: row.subject.clone(),
            san: row.san.clone(),
            not_after: row.not_after.map(rfc3339_seconds),
            proven: row.proven,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppCredentials {
    pub api_keys: Vec<ApiKey>,
    pub certificates: Vec<AppCertificate>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTrustedCa {
    #[schema(schema_with = fields::name)]
    pub name: String,
    /// PEM of a CA certificate (basicConstraints CA:TRUE)
    pub certificate: String,
    /// Base64 of a signature by the CA's key over
    /// `coffer-possession-proof:v1:<account id>:<fingerprint>` (a proven CA).
    #[serde(default, deserialize_with = "null_refused::proof")]
    #[schema(schema_with = fields::proof)]
    pub proof: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustedCa {
    pub id: String,
    pub name: String,
    pub subject: String,
    pub fingerprint: String,
    /// Registered with a proof of possession of the CA's key; the CA rules under it are
    /// proven.
    pub proven: bool,
    pub created_at: String,
}

impl From<&TrustedCaRow> for TrustedCa {
    fn from(row: &TrustedCaRow) -> Self {
        Self {
            id: row.id.to_string(),
            name: row.name.clone(),
            subject: row.subject.clone(),
            fingerprint: row.fingerprint.clone(),
            proven: row.proven,
            created_at: rfc3339(row.created_at),
        }
    }
}

/// A certificate to refuse from now on, by its PEM or its fingerprint.
/// Its schema (exclusive variants) is written in `openapi::variants`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    #[serde(default, deserialize_with = "null_refused::certificate")]
    pub certificate: Option<String>,
    #[serde(default, deserialize_with = "null_refused::fingerprint")]
    pub fingerprint: Option<String>,
    #[serde(default, deserialize_with = "null_refused::reason")]
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    pub fingerprint: String,
    pub reason: Option<String>,
    pub revoked_at: String,
}

impl From<&RevocationRow> for Revocation {
    fn from(row: &RevocationRow) -> Self {
        Self {
            fingerprint: row.fingerprint.clone(),
            reason: row.reason.clone(),
            revoked_at: rfc3339(row.revoked_at),
        }
    }
}
