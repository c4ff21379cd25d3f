//! Secrets: creation, metadata, values (read, revealed, set), versions, rotation, grants,
//! managed versions, and frozen groups.

use super::null_refused;
use crate::clock::rfc3339;
use crate::http::openapi::fields::{self, enumeration};
use crate::service::{
    ManagedTarget, PendingVersion, RotationPolicy, SecretContent, SecretGrantRow, SecretRead,
    SecretRow, SecretVersionInfo, SecretView,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;
use zeroize::Zeroizing;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSecret {
    #[schema(schema_with = fields::name)]
    pub name: String,
    pub group: String,
    /// `single` (default), `structured`, `managed` or `canary`.
    #[serde(default = "default_kind")]
    #[schema(schema_with = kind)]
    pub kind: String,
    /// The value of a single or canary secret (at most 64 KiB). Leave out to generate it by
    /// `rotation`.
    #[serde(default, deserialize_with = "null_refused::value")]
    #[schema(nullable = false, max_length = 65536, value_type = Option<String>)]
    pub value: Option<Zeroizing<String>>,
    /// The fields of a structured secret (names of `[A-Za-z0-9_-]{1,64}`; 64 KiB together).
    #[serde(default, deserialize_with = "null_refused::fields")]
    #[schema(nullable = false, value_type = Option<BTreeMap<String, String>>)]
    pub fields: Option<BTreeMap<String, Zeroizing<String>>>,
    #[serde(default, deserialize_with = "null_refused::rotation")]
    #[schema(nullable = false)]
    pub rotation: Option<SecretRotation>,
    /// Versions kept (default 20).
    #[serde(default, deserialize_with = "null_refused::retention")]
    #[schema(nullable = false, minimum = 1, maximum = 1000)]
    pub retention: Option<u32>,
    #[serde(default, deserialize_with = "null_refused::managed")]
    #[schema(nullable = false)]
    pub managed: Option<Managed>,
    /// Canaries: names of related canaries tripped with this one.
    #[serde(default, deserialize_with = "null_refused::cascade")]
    #[schema(nullable = false)]
    pub cascade: Option<Vec<String>>,
}

fn default_kind() -> String {
    "single".to_owned()
}

fn kind() -> Schema {
    enumeration(["single", "structured", "managed", "canary"]).into()
}

fn charset() -> Schema {
    enumeration(["symbols", "alphanumeric", "numbers", "uuid"]).into()
}

/// An automatic rotation policy.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRotation {
    /// At least 300 (5 minutes).
    #[schema(minimum = 300, maximum = 315360000)]
    pub interval_seconds: u32,
    /// Characters per generated value (default 32; ignored by `uuid`).
    #[serde(default, deserialize_with = "null_refused::length")]
    #[schema(nullable = false, minimum = 8, maximum = 256)]
    pub length: Option<u32>,
    /// default `symbols`
    #[serde(default, deserialize_with = "null_refused::charset")]
    #[schema(nullable = false, schema_with = charset)]
    pub charset: Option<String>,
    /// Structured secrets: the fields that rotate.
    #[serde(default, deserialize_with = "null_refused::fields")]
    #[schema(nullable = false)]
    pub fields: Option<Vec<String>>,
}

impl From<SecretRotation> for RotationPolicy {
    fn from(r: SecretRotation) -> Self {
        RotationPolicy::requested(
            r.interval_seconds,
            r.length,
            r.charset,
            r.fields.unwrap_or_default(),
        )
    }
}

/// The policy as shown, with when the next rotation is due.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRotationOut {
    pub interval_seconds: u32,
    pub length: u32,
    #[schema(schema_with = charset)]
    pub charset: String,
    pub fields: Vec<String>,
    pub next_rotation_at: Option<String>,
}

/// Where a managed credential applies.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Managed {
    /// `alternating` (default; two roles take turns) or `single` (one role).
    #[serde(default = "default_mode")]
    #[schema(schema_with = mode)]
    pub mode: String,
    /// Two roles for `alternating`, one for `single`.
    pub usernames: Vec<String>,
    pub host: String,
    pub port: u16,
    pub database: String,
}

fn default_mode() -> String {
    "alternating".to_owned()
}

fn mode() -> Schema {
    enumeration(["alternating", "single"]).into()
}

impl TryFrom<Managed> for ManagedTarget {
    type Error = crate::service::Error;

    fn try_from(m: Managed) -> Result<Self, Self::Error> {
        let mode =
            serde_json::from_value(serde_json::Value::String(m.mode.clone())).map_err(|_| {
                crate::service::Error::InvalidInput(format!(
                    "mode must be \"alternating\" or \"single\", not {:?}",
                    m.mode
                ))
            })?;
        Ok(ManagedTarget {
            mode,
            usernames: m.usernames,
            host: m.host,
            port: m.port,
            database: m.database,
        })
    }
}

impl From<&ManagedTarget> for Managed {
    fn from(t: &ManagedTarget) -> Self {
        Self {
            mode: serde_json::to_value(t.mode)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            usernames: t.usernames.clone(),
            host: t.host.clone(),
            port: t.port,
            database: t.database.clone(),
        }
    }
}

/// A secret's metadata: never its value.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub id: String,
    pub name: String,
    pub group: String,
    #[schema(schema_with = kind)]
    pub kind: String,
    /// The version readers get (0: a managed secret whose first value is not applied yet).
    pub current_version: u32,
    pub latest_version: u32,
    /// A managed secret's version waiting for its agent.
    pub pending_version: Option<u32>,
    /// The current version's field names (empty for one value).
    pub fields: Vec<String>,
    pub retention: u32,
    pub rotation: Option<SecretRotationOut>,
    pub managed: Option<Managed>,
    pub cascade: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&SecretView> for Secret {
    fn from(v: &SecretView) -> Self {
        let row = &v.row;
        Self {
            rotation: v.rotation.as_ref().map(|p| SecretRotationOut {
                interval_seconds: p.interval_seconds,
                length: p.length,
                charset: p.charset.clone(),
                fields: p.fields.clone(),
                next_rotation_at: row.next_rotation_at.map(rfc3339),
            }),
            managed: v.managed.as_ref().map(Managed::from),
            pending_version: v.pending_version,
            fields: v.fields.clone(),
            ..Self::from(row)
        }
    }
}

impl From<&SecretRow> for Secret {
    fn from(row: &SecretRow) -> Self {
        Self {
            id: row.id.to_string(),
            name: row.name.clone(),
            group: row.group_id.to_string(),
            kind: row.kind.as_str().to_owned(),
            current_version: row.current_version,
            latest_version: row.latest_version,
            pending_version: None,
            fields: Vec::new(),
            retention: row.retention,
            rotation: None,
            managed: None,
            cascade: row.canary_cascade.clone(),
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

/// A value as read: `value` for one value, `fields` for a structured secret.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    pub version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub fields: Option<BTreeMap<String, String>>,
}

impl From<SecretRead> for SecretValue {
    fn from(read: SecretRead) -> Self {
        let (value, fields) = content_out(read.content);
        Self {
            version: read.version,
            value,
            fields,
        }
    }
}

/// One field of a structured secret.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretField {
    pub version: u32,
    pub field: String,
    pub value: String,
}

/// A pending version of a managed secret, with its value, for the agent.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PendingSecretVersion {
    pub version: u32,
    pub fields: BTreeMap<String, String>,
}

impl From<PendingVersion> for PendingSecretVersion {
    fn from(p: PendingVersion) -> Self {
        Self {
            version: p.version,
            fields: content_out(p.content).1.unwrap_or_default(),
        }
    }
}

/// The wire form of a value. (The strings leave zeroizing storage here, as every
/// answer's bytes must.)
fn content_out(content: SecretContent) -> (Option<String>, Option<BTreeMap<String, String>>) {
    match content {
        SecretContent::Single(value) => (Some(value.as_str().to_owned()), None),
        SecretContent::Fields(fields) => (
            None,
            Some(
                fields
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().to_owned()))
                    .collect(),
            ),
        ),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSecretValue {
    #[serde(default, deserialize_with = "null_refused::value")]
    #[schema(nullable = false, max_length = 65536, value_type = Option<String>)]
    pub value: Option<Zeroizing<String>>,
    #[serde(default, deserialize_with = "null_refused::fields")]
    #[schema(nullable = false, value_type = Option<BTreeMap<String, String>>)]
    pub fields: Option<BTreeMap<String, Zeroizing<String>>>,
}

/// `value` or `fields`, exactly one.
pub fn content_in(
    value: Option<Zeroizing<String>>,
    fields: Option<BTreeMap<String, Zeroizing<String>>>,
) -> Result<Option<SecretContent>, crate::service::Error> {
    match (value, fields) {
        (Some(value), None) => Ok(Some(SecretContent::Single(value))),
        (None, Some(fields)) => Ok(Some(SecretContent::Fields(fields))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(crate::service::Error::InvalidInput(
            "give \"value\" or \"fields\", not both".into(),
        )),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealSecret {
    /// An earlier version (default: the current one).
    #[serde(default, deserialize_with = "null_refused::version")]
    #[schema(nullable = false, minimum = 1)]
    pub version: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    pub version: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    pub wait: Option<u32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackSecret {
    #[schema(minimum = 1)]
    pub version: u32,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretVersion {
    pub version: u32,
    pub fields: Vec<String>,
    #[schema(schema_with = origin)]
    pub origin: String,
    pub created_by: String,
    pub created_at: String,
    /// `ready`, `pending` (waiting for a managed secret's agent) or `abandoned`.
    #[schema(schema_with = version_state)]
    pub state: String,
    pub current: bool,
    pub applied_at: Option<String>,
}

fn origin() -> Schema {
    enumeration(["create", "set", "rotation", "rollback"]).into()
}

fn version_state() -> Schema {
    enumeration(["ready", "pending", "abandoned"]).into()
}

impl From<&SecretVersionInfo> for SecretVersion {
    fn from(v: &SecretVersionInfo) -> Self {
        Self {
            version: v.version,
            fields: v.fields.clone(),
            origin: v.origin.as_str().to_owned(),
            created_by: v.created_by.clone(),
            created_at: rfc3339(v.created_at),
            state: v.state.as_str().to_owned(),
            current: v.current,
            applied_at: v.applied_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretGrant {
    pub app: String,
    pub created_at: String,
}

impl From<&SecretGrantRow> for SecretGrant {
    fn from(g: &SecretGrantRow) -> Self {
        Self {
            app: g.app_id.to_string(),
            created_at: rfc3339(g.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyFailure {
    /// Why applying failed (never the value); at most 500 characters are kept.
    #[schema(max_length = 2000)]
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeGroup {
    /// Why (shown on the group and in the audit trail).
    #[serde(default, deserialize_with = "null_refused::reason")]
    #[schema(nullable = false, max_length = 200)]
    pub reason: Option<String>,
}
