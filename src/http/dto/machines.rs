//! Machines (apps that sign each request with a key kept on the machine), the tokens that
//! enroll them, and provisioning bundles.

use super::null_refused;
use crate::clock::rfc3339;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMachineToken {
    pub kind: String,
    pub name: String,
    pub flags: BTreeMap<String, bool>,
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    #[serde(default, deserialize_with = "null_refused::lifetime_seconds")]
    pub lifetime_seconds: Option<i64>,
    #[serde(default, deserialize_with = "null_refused::max_uses")]
    pub max_uses: Option<i64>,
    #[serde(default, deserialize_with = "null_refused::machine_lifetime_seconds")]
    pub machine_lifetime_seconds: Option<i64>,
    #[serde(default, deserialize_with = "null_refused::guardrails")]
    pub guardrails: Option<crate::auth::guardrails::Guardrails>,
}

#[derive(Serialize)]
pub struct MachineTokenInfo {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: String,
    pub max_uses: i64,
    pub uses: i64,
    pub flags: serde_json::Value,
    pub groups: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_lifetime_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<serde_json::Value>,
    pub disabled: bool,
}

impl From<&crate::store::MachineTokenRow> for MachineTokenInfo {
    fn from(t: &crate::store::MachineTokenRow) -> Self {
        Self {
            id: t.id.clone(),
            kind: t.kind.as_str().to_owned(),
            name: t.name.clone(),
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            max_uses: t.max_uses,
            uses: t.uses,
            flags: serde_json::to_value(&t.flags).unwrap_or_default(),
            groups: serde_json::to_value(&t.grants).unwrap_or_default(),
            machine_lifetime_seconds: t.machine_lifetime_seconds,
            guardrails: t
                .guardrails
                .as_ref()
                .and_then(|g| serde_json::to_value(g).ok()),
            disabled: t.disabled_at.is_some(),
        }
    }
}

#[derive(Serialize)]
pub struct MachineTokenIssued {
    #[serde(flatten)]
    pub info: MachineTokenInfo,
    /// Shown once.
    pub token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterMachine {
    pub token: String,
    pub public_key: String,
    #[serde(default, deserialize_with = "null_refused::name")]
    pub name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionMachine {
    pub name: String,
    pub flags: BTreeMap<String, bool>,
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    #[serde(default, deserialize_with = "null_refused::expires_at")]
    pub expires_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleDownload {
    pub token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendMachine {
    pub expires_at: String,
}

#[derive(Serialize)]
pub struct Machine {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub origin: String,
    pub status: String,
    pub enabled: bool,
    /// Base64 of the raw 32-byte Ed25519 public key.
    pub public_key: String,
    pub flags: serde_json::Value,
    pub created_at: String,
    pub approved_at: Option<String>,
    pub expires_at: Option<String>,
    pub previous_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<serde_json::Value>,
    pub token_id: Option<String>,
}

impl From<&crate::store::MachineRow> for Machine {
    fn from(m: &crate::store::MachineRow) -> Self {
        use base64::Engine;
        Self {
            id: m.id.clone(),
            account_id: m.account_id.clone(),
            name: m.name.clone(),
            origin: m.origin.as_str().to_owned(),
            status: m.status.as_str().to_owned(),
            enabled: m.enabled,
            public_key: base64::engine::general_purpose::STANDARD.encode(&m.public_key),
            flags: serde_json::to_value(&m.flags).unwrap_or_default(),
            created_at: rfc3339(m.created_at),
            approved_at: m.approved_at.map(rfc3339),
            expires_at: m.expires_at.map(rfc3339),
            previous_expires_at: m.previous_expires_at.map(rfc3339),
            lifetime_seconds: m.lifetime_seconds,
            guardrails: m
                .guardrails
                .as_ref()
                .and_then(|g| serde_json::to_value(g).ok()),
            token_id: m.token_id.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct ProvisionedMachine {
    pub machine: Machine,
    /// Single use; send it to `POST /v1/machines/bundle`. Shown once.
    pub bundle_token: String,
    pub bundle_path: &'static str,
    pub bundle_expires_at: String,
}

#[derive(Serialize)]
pub struct MachineBundle {
    pub machine_id: String,
    pub account_id: String,
    pub private_key_pem: String,
}
