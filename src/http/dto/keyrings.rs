//! Keyrings (symmetric keys in the HSM) and their operations: encryption, data keys,
//! rotation, configuration and versions.

use super::{null_refused, present};
use crate::clock::rfc3339;
use crate::http::openapi::fields::{self, enumeration};
use crate::service::KeyringRow;
use crate::service::{KeyVersionInfo, KeyringView};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyring {
    #[schema(schema_with = fields::name)]
    pub name: String,
    pub group: String,
    #[serde(default = "default_protection")]
    #[schema(schema_with = protection)]
    pub protection: String,
    #[serde(default)]
    #[schema(schema_with = fields::rotation_days)]
    pub rotation_period_days: Option<u32>,
    #[serde(default)]
    #[schema(schema_with = fields::encrypt_limit)]
    pub max_encrypt_count: Option<u64>,
    /// default 300
    #[serde(default, deserialize_with = "null_refused::cache_ttl_seconds")]
    #[schema(nullable = false, minimum = 0, maximum = 86400)]
    pub cache_ttl_seconds: Option<u32>,
    /// A tripwire: its first use by an app or machine freezes the group (default false).
    #[serde(default, deserialize_with = "null_refused::canary")]
    #[schema(nullable = false)]
    pub canary: Option<bool>,
}

fn protection() -> Schema {
    enumeration(["envelope", "hsm"]).into()
}

fn default_protection() -> String {
    "envelope".to_owned()
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Keyring {
    pub id: String,
    pub name: String,
    pub group: String,
    pub protection: String,
    pub current_version: u32,
    pub min_decryption_version: u32,
    pub enabled: bool,
    pub rotation_period_days: Option<u32>,
    pub max_encrypt_count: Option<u64>,
    pub cache_ttl_seconds: u32,
    pub canary: bool,
    pub created_at: String,
    pub rotated_at: String,
}

impl From<&KeyringRow> for Keyring {
    fn from(row: &KeyringRow) -> Self {
        Self {
            id: row.id.to_string(),
            name: row.name.clone(),
            group: row.group_id.to_string(),
            protection: row.protection.as_str().to_owned(),
            current_version: row.current_version,
            min_decryption_version: row.min_decryption_version,
            enabled: row.enabled,
            rotation_period_days: row.rotation_period_days,
            max_encrypt_count: row.max_encrypt_count,
            cache_ttl_seconds: row.cache_ttl_seconds,
            canary: row.canary,
            created_at: rfc3339(row.created_at),
            rotated_at: rfc3339(row.rotated_at),
        }
    }
}

impl From<&KeyringView> for Keyring {
    fn from(view: &KeyringView) -> Self {
        Self::from(&view.row)
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyringConfig {
    pub enabled: bool,
    pub min_decryption_version: u32,
    pub rotation_period_days: Option<u32>,
    pub max_encrypt_count: Option<u64>,
    pub cache_ttl_seconds: u32,
}

impl From<&KeyringRow> for KeyringConfig {
    fn from(row: &KeyringRow) -> Self {
        Self {
            enabled: row.enabled,
            min_decryption_version: row.min_decryption_version,
            rotation_period_days: row.rotation_period_days,
            max_encrypt_count: row.max_encrypt_count,
            cache_ttl_seconds: row.cache_ttl_seconds,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchKeyringConfig {
    #[serde(default, deserialize_with = "null_refused::enabled")]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "null_refused::min_decryption_version")]
    #[schema(schema_with = fields::lowest_version)]
    pub min_decryption_version: Option<u32>,
    /// `null` clears the period.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = fields::rotation_days)]
    pub rotation_period_days: Option<Option<u32>>,
    /// `null` clears the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = fields::encrypt_limit)]
    pub max_encrypt_count: Option<Option<u64>>,
    #[serde(default, deserialize_with = "null_refused::cache_ttl_seconds")]
    #[schema(nullable = false, minimum = 0, maximum = 86400)]
    pub cache_ttl_seconds: Option<u32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Encrypt {
    #[schema(schema_with = fields::b64)]
    pub plaintext: String,
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Encrypted {
    pub ciphertext: String,
    pub key_version: u32,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decrypt {
    /// coffer:v<version>:<base64>
    #[schema(pattern = "^coffer:v[1-9][0-9]{0,9}:")]
    pub ciphertext: String,
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decrypted {
    #[schema(schema_with = fields::b64)]
    pub plaintext: String,
    pub key_version: u32,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataKeyRequest {
    #[serde(default = "default_datakey_bytes")]
    #[schema(minimum = 16, maximum = 64)]
    pub bytes: u32,
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

fn default_datakey_bytes() -> u32 {
    32
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataKey {
    #[schema(schema_with = fields::b64)]
    pub plaintext: String,
    pub ciphertext: String,
    pub key_version: u32,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotated {
    pub current_version: u32,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyVersion {
    pub version: u32,
    #[schema(schema_with = super::version_state)]
    pub state: &'static str,
    pub created_at: String,
    pub encrypt_count: u64,
    pub fingerprint: String,
}

impl From<&KeyVersionInfo> for KeyVersion {
    fn from(info: &KeyVersionInfo) -> Self {
        Self {
            version: info.version,
            state: info.state,
            created_at: rfc3339(info.created_at),
            encrypt_count: info.encrypt_count,
            fingerprint: info.fingerprint.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HashInfo {
    pub keyring: String,
    pub version: u32,
    pub created_at: String,
    pub state: &'static str,
}
