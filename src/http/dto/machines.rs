//! Machines (apps that sign each request with a key kept on the machine), the tokens that
//! enroll them, and provisioning bundles.

use super::null_refused;
use crate::clock::rfc3339;
use crate::http::openapi::fields::{self, enumeration};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;

/// A token that enrolls machines; which fields it takes depends on its `kind`.
/// Its schema (exclusive variants) is written in `openapi::variants`.
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

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MachineToken)]
pub struct MachineTokenInfo {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: String,
    pub max_uses: i64,
    pub uses: i64,
    #[schema(schema_with = fields::object)]
    pub flags: serde_json::Value,
    #[schema(schema_with = fields::object)]
    pub groups: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub machine_lifetime_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = fields::guardrails)]
    pub guardrails: Option<serde_json::Value>,
    pub disabled: bool,
}

impl From<&crate::service::MachineTokenRow> for MachineTokenInfo {
    fn from(t: &crate::service::MachineTokenRow) -> Self {
        Self {
            id: t.id.to_string(),
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

/// Its schema (the token's, plus `token`) is written in `openapi::variants`.
#[derive(Serialize)]
pub struct MachineTokenIssued {
    #[serde(flatten)]
    pub info: MachineTokenInfo,
    /// Shown once.
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterMachine {
    #[schema(schema_with = fields::secret)]
    pub token: String,
    /// base64 of the raw 32-byte Ed25519 public key
    #[schema(pattern = "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")]
    pub public_key: String,
    #[serde(default, deserialize_with = "null_refused::name")]
    #[schema(schema_with = fields::name)]
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionMachine {
    #[schema(schema_with = fields::name)]
    pub name: String,
    #[schema(schema_with = fields::flags)]
    pub flags: BTreeMap<String, bool>,
    #[serde(default)]
    #[schema(schema_with = fields::grants)]
    pub groups: BTreeMap<String, Vec<String>>,
    #[serde(default, deserialize_with = "null_refused::expires_at")]
    #[schema(schema_with = fields::expiry)]
    pub expires_at: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleDownload {
    #[schema(schema_with = fields::secret)]
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendMachine {
    #[schema(schema_with = fields::expiry)]
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    pub id: String,
    pub account_id: String,
    pub name: String,
    #[schema(schema_with = origin)]
    pub origin: String,
    #[schema(schema_with = machine_status)]
    pub status: String,
    pub enabled: bool,
    /// Base64 of the raw 32-byte Ed25519 public key.
    pub public_key: String,
    #[schema(schema_with = fields::object)]
    pub flags: serde_json::Value,
    pub created_at: String,
    pub approved_at: Option<String>,
    pub expires_at: Option<String>,
    pub previous_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub lifetime_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = fields::guardrails)]
    pub guardrails: Option<serde_json::Value>,
    pub token_id: Option<String>,
}

/// How a machine came to be.
fn origin() -> Schema {
    enumeration(["bootstrap", "provisioned", "enrollment", "temporary"]).into()
}

fn machine_status() -> Schema {
    enumeration(["pending", "approved"]).into()
}

impl From<&crate::service::MachineRow> for Machine {
    fn from(m: &crate::service::MachineRow) -> Self {
        use base64::Engine;
        Self {
            id: m.id.to_string(),
            account_id: m.account_id.to_string(),
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
            token_id: m.token_id.as_ref().map(ToString::to_string),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionedMachine {
    pub machine: Machine,
    /// Single use; send it to `POST /v1/machines/bundle`. Shown once.
    pub bundle_token: String,
    pub bundle_path: &'static str,
    pub bundle_expires_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineBundle {
    pub machine_id: String,
    pub account_id: String,
    pub private_key_pem: String,
}
