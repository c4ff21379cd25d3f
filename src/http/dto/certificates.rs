//! Certificates of asymmetric keys: the CSRs the HSM signs, and the certificates (with
//! their chains) imported for a key.

use super::null_refused;
use crate::clock::{Clock, SystemClock, rfc3339, rfc3339_seconds};
use crate::crypto::x509::stored_chain;
use crate::http::openapi::fields;
use crate::service::CertificateRow;
use crate::service::certificate_pem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsrRequest {
    #[schema(schema_with = fields::subject_field)]
    pub common_name: String,
    #[serde(default, deserialize_with = "null_refused::organization")]
    #[schema(schema_with = fields::subject_field)]
    pub organization: Option<String>,
    #[serde(default, deserialize_with = "null_refused::organizational_unit")]
    #[schema(schema_with = fields::subject_field)]
    pub organizational_unit: Option<String>,
    /// ISO 3166 alpha-2, upper case
    #[serde(default, deserialize_with = "null_refused::country")]
    #[schema(nullable = false, pattern = "^[A-Z]{2}$")]
    pub country: Option<String>,
    #[serde(default)]
    #[schema(schema_with = fields::subject_alt_names)]
    pub subject_alt_names: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Csr {
    pub csr: String,
    pub key_version: u32,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportCertificate {
    /// PEM (one or more `CERTIFICATE` blocks), or base64 of one DER certificate.
    pub certificate: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainEntry {
    pub subject: String,
    pub issuer: String,
    pub not_after: String,
    pub fingerprint: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub id: String,
    pub key_version: u32,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    /// The certificate is past its `not_after` now (it was still accepted).
    pub expired: bool,
    /// The certificate's `not_before` is in the future (it was still accepted).
    pub not_yet_valid: bool,
    pub subject_alt_names: Vec<String>,
    pub key_usage: Vec<String>,
    pub is_ca: bool,
    pub fingerprint: String,
    pub pem: String,
    pub chain: Vec<ChainEntry>,
    pub created_at: String,
}

impl Certificate {
    /// The reply for a stored certificate, saying whether it is valid at `now_micros`.
    pub fn at(c: &CertificateRow, now_micros: i64) -> Self {
        // X.509 validity is to the second.
        let now = now_micros.div_euclid(1_000_000);
        let chain = stored_chain(&c.chain_pem)
            .into_iter()
            .map(|e| ChainEntry {
                subject: e.subject,
                issuer: e.issuer,
                not_after: rfc3339_seconds(e.not_after),
                fingerprint: e.fingerprint,
            })
            .collect();
        Self {
            id: c.id.to_string(),
            key_version: c.key_version,
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            serial: c.serial.clone(),
            not_before: rfc3339_seconds(c.not_before),
            not_after: rfc3339_seconds(c.not_after),
            expired: now > c.not_after,
            not_yet_valid: now < c.not_before,
            subject_alt_names: c.subject_alt_names.clone(),
            key_usage: c.key_usage.clone(),
            is_ca: c.is_ca,
            fingerprint: c.fingerprint.clone(),
            pem: certificate_pem(&c.der),
            chain,
            created_at: rfc3339(c.created_at),
        }
    }
}

/// As of the system clock: a reply says whether the certificate is valid when it is sent.
impl From<&CertificateRow> for Certificate {
    fn from(c: &CertificateRow) -> Self {
        Self::at(c, SystemClock.now_micros())
    }
}
