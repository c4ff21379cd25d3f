//! Wire shapes of the API (api.md). Requests refuse unknown fields so a typo is a 400, not
//! a silently ignored setting.

use crate::clock::rfc3339;
use crate::service::{KeyVersionInfo, KeyringView};
use crate::store::{ApiKeyRow, AppRow, GroupRow, KeyringRow, StoredEvent};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

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
    pub disabled: Option<bool>,
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
            principal_kind: row.principal_kind.clone(),
            flags: serde_json::from_str(&row.flags_json).unwrap_or_default(),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
            disabled: row.disabled,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
}

#[derive(Serialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub master_key_version: u32,
    pub created_at: String,
}

impl From<&GroupRow> for Group {
    fn from(row: &GroupRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            master_key_version: row.master_version,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    pub name: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Serialize)]
pub struct App {
    pub id: String,
    pub name: String,
    pub groups: Vec<String>,
    pub created_at: String,
}

impl From<&AppRow> for App {
    fn from(row: &AppRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            groups: row.groups.clone(),
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyring {
    pub name: String,
    pub group: String,
    #[serde(default = "default_protection")]
    pub protection: String,
    #[serde(default)]
    pub rotation_period_days: Option<u32>,
    #[serde(default)]
    pub max_encrypt_count: Option<u64>,
    #[serde(default)]
    pub cache_ttl_seconds: Option<u32>,
}

fn default_protection() -> String {
    "envelope".to_owned()
}

#[derive(Serialize)]
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
    pub created_at: String,
    pub rotated_at: String,
}

impl From<&KeyringRow> for Keyring {
    fn from(row: &KeyringRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            group: row.group_id.clone(),
            protection: row.protection.clone(),
            current_version: row.current_version,
            min_decryption_version: row.min_decryption_version,
            enabled: row.enabled,
            rotation_period_days: row.rotation_period_days,
            max_encrypt_count: row.max_encrypt_count,
            cache_ttl_seconds: row.cache_ttl_seconds,
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

#[derive(Serialize)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchKeyringConfig {
    pub enabled: Option<bool>,
    pub min_decryption_version: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    pub rotation_period_days: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    pub max_encrypt_count: Option<Option<u64>>,
    pub cache_ttl_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encrypt {
    pub plaintext: String,
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

#[derive(Serialize)]
pub struct Encrypted {
    pub ciphertext: String,
    pub key_version: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decrypt {
    pub ciphertext: String,
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

#[derive(Serialize)]
pub struct Decrypted {
    pub plaintext: String,
    pub key_version: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataKeyRequest {
    #[serde(default = "default_datakey_bytes")]
    pub bytes: u32,
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

fn default_datakey_bytes() -> u32 {
    32
}

#[derive(Serialize)]
pub struct DataKey {
    pub plaintext: String,
    pub ciphertext: String,
    pub key_version: u32,
}

#[derive(Serialize)]
pub struct Rotated {
    pub current_version: u32,
}

#[derive(Serialize)]
pub struct KeyVersion {
    pub version: u32,
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

#[derive(Serialize)]
pub struct HashInfo {
    pub keyring: String,
    pub version: u32,
    pub created_at: String,
    pub state: &'static str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub principal: Option<String>,
    pub object: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Serialize)]
pub struct Event {
    pub seq: i64,
    pub id: String,
    pub time: String,
    pub account: Option<String>,
    pub principal: Option<String>,
    pub auth_method: String,
    pub action: String,
    pub object: Option<String>,
    pub outcome: String,
    pub status: u16,
    pub source_ip: Option<String>,
    pub request_id: String,
}

impl From<&StoredEvent> for Event {
    fn from(stored: &StoredEvent) -> Self {
        let e = &stored.event;
        Self {
            seq: stored.seq,
            id: e.id.clone(),
            time: rfc3339(e.time),
            account: e.account_id.clone(),
            principal: e.principal.clone(),
            auth_method: e.auth_method.clone(),
            action: e.action.clone(),
            object: e.object.clone(),
            outcome: e.outcome.clone(),
            status: e.status,
            source_ip: e.source_ip.clone(),
            request_id: e.request_id.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct Activity {
    pub events: Vec<Event>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next: Option<i64>,
}
