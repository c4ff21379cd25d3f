//! Groups and apps, and who may do what in a group: the unit of access to keys.

use super::null_refused;
use crate::clock::rfc3339;
use crate::http::openapi::fields::{self, enumeration};
use crate::service::{AppRow, GroupRow, JobRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    #[schema(schema_with = fields::name)]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub master_key_version: u32,
    pub created_at: String,
    /// When the group was frozen (no app or machine reads a secret or decrypts there).
    pub frozen_at: Option<String>,
    /// Why: the canary that tripped, or the operator's reason.
    pub frozen_reason: Option<String>,
}

impl From<&GroupRow> for Group {
    fn from(row: &GroupRow) -> Self {
        Self {
            id: row.id.to_string(),
            name: row.name.clone(),
            master_key_version: row.master_version,
            created_at: rfc3339(row.created_at),
            frozen_at: row.frozen_at.map(rfc3339),
            frozen_reason: row.frozen_reason.clone(),
        }
    }
}

/// A background job (a group master-key rotation): its state and progress.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub id: String,
    /// `rotate_master`.
    pub kind: String,
    /// The group whose master key is rotated.
    pub group: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// Keys to re-wrap, counted when the job started.
    pub total: u64,
    /// Keys re-wrapped so far.
    pub done: u64,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// Why a failed job failed.
    pub error: Option<String>,
}

impl From<&JobRow> for Job {
    fn from(row: &JobRow) -> Self {
        Self {
            id: row.id.to_string(),
            kind: row.kind.as_str().to_owned(),
            group: row.group_id.to_string(),
            state: row.state.as_str().to_owned(),
            total: row.total,
            done: row.done,
            created_at: rfc3339(row.created_at),
            finished_at: row.finished_at.map(rfc3339),
            error: row.error.clone(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    #[schema(schema_with = fields::name)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = fields::group_ids)]
    pub groups: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub id: String,
    pub name: String,
    pub groups: Vec<String>,
    /// For each group, the operations the app may perform there.
    pub operations: BTreeMap<String, Vec<String>>,
    pub enabled: bool,
    pub created_at: String,
}

impl From<&AppRow> for App {
    fn from(row: &AppRow) -> Self {
        Self {
            id: row.id.to_string(),
            name: row.name.clone(),
            groups: row.groups.iter().map(ToString::to_string).collect(),
            operations: row
                .operations
                .iter()
                .map(|(group, ops)| (group.to_string(), ops.clone()))
                .collect(),
            enabled: row.enabled,
            created_at: rfc3339(row.created_at),
        }
    }
}
/// A role inside a group.
fn group_role() -> Schema {
    enumeration(["member", "auditor"]).into()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupUserRole {
    #[schema(schema_with = group_role)]
    pub role: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupAppOperations {
    #[schema(schema_with = fields::operations)]
    pub operations: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupUser {
    pub id: String,
    pub role: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupApp {
    pub id: String,
    pub operations: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMembers {
    pub users: Vec<GroupUser>,
    pub apps: Vec<GroupApp>,
}

#[derive(Deserialize)]
pub struct DeleteGroupQuery {
    #[serde(default)]
    pub force: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchApp {
    #[serde(default, deserialize_with = "null_refused::name")]
    #[schema(schema_with = fields::name)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_refused::enabled")]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
}
