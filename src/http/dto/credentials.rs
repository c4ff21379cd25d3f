//! API keys, the client certificates bound to apps, trusted CAs and revocations: the
//! credentials that authenticate a caller, and the means to stop them.

use super::null_refused;
use crate::clock::{rfc3339, rfc3339_seconds};
use crate::store::{ApiKeyRow, AppCertificateRow, RevocationRow, TrustedCaRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub principal: String,
    pub name: String,
    pub flags: BTreeMap<String, bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchApiKey {
    #[serde(default, deserialize_with = "null_refused::disabled")]
    pub disabled: Option<bool>,
    #[serde(default, deserialize_with = "null_refused::flags")]
    pub flags: Option<BTreeMap<String, bool>>,
}

#[derive(Serialize)]
pub struct CreatedApiKey {
    pub id: String,
    pub api_key: String,
}

#[derive(Serialize)]
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
            id: row.id.clone(),
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

#[derive(Serialize)]
pub struct AppCertificate {
    pub id: String,
    pub kind: String,
    pub fingerprint: Option<String>,
    pub ca: Option<String>,
    pub subject: Option<String>,
    pub san: Option<String>,
    pub not_after: Option<String>,
    /// Registered with a proof of possession (pinned), or under a proven trusted CA.
    pub proven: bool,
    pub created_at: String,
}

impl From<&AppCertificateRow> for AppCertificate {
    fn from(row: &AppCertificateRow) -> Self {
        Self {
            id: row.id.clone(),
            kind: row.kind.as_str().to_owned(),
            fingerprint: row.fingerprint.clone(),
            ca: row.ca_id.clone(),
            subject: row.subject.clone(),
            san: row.san.clone(),
            not_after: row.not_after.map(rfc3339_seconds),
            proven: row.proven,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Serialize)]
pub struct AppCredentials {
    pub api_keys: Vec<ApiKey>,
    pub certificates: Vec<AppCertificate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTrustedCa {
    pub name: String,
    pub certificate: String,
    /// Base64 of a signature by the CA's key over
    /// `coffer-possession-proof:v1:<account id>:<fingerprint>` (a proven CA).
    #[serde(default, deserialize_with = "null_refused::proof")]
    pub proof: Option<String>,
}

#[derive(Serialize)]
pub struct TrustedCa {
    pub id: String,
    pub name: String,
    pub subject: String,
    pub fingerprint: String,
    /// Registered with a proof of possession of the CA's key.
    pub proven: bool,
    pub created_at: String,
}

impl From<&TrustedCaRow> for TrustedCa {
    fn from(row: &TrustedCaRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            subject: row.subject.clone(),
            fingerprint: row.fingerprint.clone(),
            proven: row.proven,
            created_at: rfc3339(row.created_at),
        }
    }
}

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

#[derive(Serialize)]
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
