//! Asymmetric keys (key pairs in the HSM, imported public keys) and their operations:
//! sign, verify, decrypt, export the public key.

use super::{Certificate, null_refused};
use crate::clock::rfc3339;
use crate::http::openapi::fields::{self, enumeration};
use crate::service::KeyRow;
use crate::service::{KeyVersionView, KeyView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, Schema};

/// `POST /v1/keys`: generate a key pair (`algorithm`) or import a public key (`public_key`).
/// Its schema (exclusive variants) is written in `openapi::variants`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    pub group: String,
    #[serde(default, deserialize_with = "null_refused::algorithm")]
    pub algorithm: Option<String>,
    #[serde(default, deserialize_with = "null_refused::usages")]
    pub usages: Option<Vec<String>>,
    /// PEM `PUBLIC KEY`, or base64 of the DER SubjectPublicKeyInfo.
    #[serde(default, deserialize_with = "null_refused::public_key")]
    pub public_key: Option<String>,
    /// Key pairs: a tripwire whose first use by an app or machine freezes the group.
    #[serde(default, deserialize_with = "null_refused::canary")]
    pub canary: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchKey {
    #[serde(default, deserialize_with = "null_refused::enabled")]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "null_refused::min_version")]
    #[schema(schema_with = fields::lowest_version)]
    pub min_version: Option<u32>,
}

/// A version's state: `current`, `active` or `retired`.
pub(crate) fn version_state() -> Schema {
    enumeration(["current", "active", "retired"]).into()
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = KeyVersionInfo)]
pub struct KeyVersionOut {
    pub version: u32,
    #[schema(schema_with = version_state)]
    pub state: &'static str,
    pub created_at: String,
    pub fingerprint: String,
}

impl From<&KeyVersionView> for KeyVersionOut {
    fn from(v: &KeyVersionView) -> Self {
        Self {
            version: v.version,
            state: v.state,
            created_at: rfc3339(v.created_at),
            fingerprint: v.fingerprint.clone(),
        }
    }
}

fn key_kind() -> Schema {
    enumeration(["key_pair", "public_key"]).into()
}

fn key_usages() -> Schema {
    ArrayBuilder::new()
        .items(enumeration(["sign", "decrypt", "verify"]))
        .into()
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Key {
    pub id: String,
    pub name: String,
    pub group: String,
    #[serde(rename = "type")]
    #[schema(schema_with = key_kind)]
    pub kind: String,
    pub algorithm: String,
    #[schema(schema_with = key_usages)]
    pub usages: Vec<&'static str>,
    pub enabled: bool,
    pub current_version: u32,
    pub min_version: u32,
    pub canary: bool,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub versions: Option<Vec<KeyVersionOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub certificates: Option<Vec<Certificate>>,
}

impl From<&KeyRow> for Key {
    fn from(row: &KeyRow) -> Self {
        let mut usages = Vec::new();
        if row.can_sign {
            usages.push("sign");
        }
        if row.can_decrypt {
            usages.push("decrypt");
        }
        if row.can_sign || row.kind == crate::service::KeyKind::PublicKey {
            usages.push("verify");
        }
        Self {
            id: row.id.to_string(),
            name: row.name.clone(),
            group: row.group_id.to_string(),
            kind: row.kind.as_str().to_owned(),
            algorithm: row.algorithm.name().to_owned(),
            usages,
            enabled: row.enabled,
            current_version: row.current_version,
            min_version: row.min_version,
            canary: row.canary,
            created_at: rfc3339(row.created_at),
            versions: None,
            certificates: None,
        }
    }
}

impl From<&KeyView> for Key {
    fn from(view: &KeyView) -> Self {
        Self {
            versions: Some(view.versions.iter().map(KeyVersionOut::from).collect()),
            certificates: Some(view.certificates.iter().map(Certificate::from).collect()),
            ..Key::from(&view.row)
        }
    }
}

/// Data to sign or verify: exactly one of `message` and `digest`, base64.
/// Its schema (exclusive variants) is written in `openapi::variants`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sign {
    #[serde(default, deserialize_with = "null_refused::message")]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "null_refused::digest")]
    pub digest: Option<String>,
    #[serde(default, deserialize_with = "null_refused::algorithm")]
    pub algorithm: Option<String>,
    #[serde(default, deserialize_with = "null_refused::signature_format")]
    pub signature_format: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    #[schema(schema_with = fields::b64)]
    pub signature: String,
    pub key_version: u32,
    pub algorithm: String,
}

/// A signature to check against `message` or `digest` (exactly one).
/// Its schema (exclusive variants) is written in `openapi::variants`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    #[serde(default, deserialize_with = "null_refused::message")]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "null_refused::digest")]
    pub digest: Option<String>,
    pub signature: String,
    #[serde(default, deserialize_with = "null_refused::algorithm")]
    pub algorithm: Option<String>,
    #[serde(default, deserialize_with = "null_refused::signature_format")]
    pub signature_format: Option<String>,
    #[serde(default, deserialize_with = "null_refused::version")]
    pub version: Option<u32>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verified {
    pub valid: bool,
    pub key_version: Option<u32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyDecrypt {
    #[schema(schema_with = fields::b64)]
    pub ciphertext: String,
    #[serde(default, deserialize_with = "null_refused::version")]
    #[schema(schema_with = fields::version)]
    pub version: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyQuery {
    pub version: Option<u32>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PublicKey)]
pub struct PublicKeyOut {
    pub key_version: u32,
    pub algorithm: &'static str,
    pub pem: String,
    #[schema(value_type = Object)]
    pub jwk: serde_json::Value,
}
