//! Asymmetric keys (key pairs in the HSM, imported public keys) and their operations:
//! sign, verify, decrypt, export the public key.

use super::{Certificate, null_refused};
use crate::clock::rfc3339;
use crate::service::{KeyVersionView, KeyView};
use crate::store::KeyRow;
use serde::{Deserialize, Serialize};

/// `POST /v1/keys`: generate a key pair (`algorithm`) or import a public key (`public_key`).
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchKey {
    #[serde(default, deserialize_with = "null_refused::enabled")]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "null_refused::min_version")]
    pub min_version: Option<u32>,
}

#[derive(Serialize)]
pub struct KeyVersionOut {
    pub version: u32,
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

#[derive(Serialize)]
pub struct Key {
    pub id: String,
    pub name: String,
    pub group: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub algorithm: String,
    pub usages: Vec<&'static str>,
    pub enabled: bool,
    pub current_version: u32,
    pub min_version: u32,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<KeyVersionOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
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
        if row.can_sign || row.kind == crate::store::KeyKind::PublicKey {
            usages.push("verify");
        }
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            group: row.group_id.clone(),
            kind: row.kind.as_str().to_owned(),
            algorithm: row.algorithm.name().to_owned(),
            usages,
            enabled: row.enabled,
            current_version: row.current_version,
            min_version: row.min_version,
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

#[derive(Serialize)]
pub struct Signed {
    pub signature: String,
    pub key_version: u32,
    pub algorithm: String,
}

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

#[derive(Serialize)]
pub struct Verified {
    pub valid: bool,
    pub key_version: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyDecrypt {
    pub ciphertext: String,
    #[serde(default, deserialize_with = "null_refused::version")]
    pub version: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyQuery {
    pub version: Option<u32>,
}

#[derive(Serialize)]
pub struct PublicKeyOut {
    pub key_version: u32,
    pub algorithm: &'static str,
    pub pem: String,
    pub jwk: serde_json::Value,
}
