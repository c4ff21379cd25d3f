//! Groups and apps, and who may do what in a group: the unit of access to keys.

use super::null_refused;
use crate::clock::rfc3339;
use crate::store::{AppRow, GroupRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// For each group, the operations the app may perform there.
    pub operations: BTreeMap<String, Vec<String>>,
    pub enabled: bool,
    pub created_at: String,
}

impl From<&AppRow> for App {
    fn from(row: &AppRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            groups: row.groups.clone(),
            operations: row.operations.clone(),
            enabled: row.enabled,
            created_at: rfc3339(row.created_at),
        }
    }
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupUserRole {
    pub role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupAppOperations {
    pub operations: Vec<String>,
}

#[derive(Serialize)]
pub struct GroupUser {
    pub id: String,
    pub role: String,
}

#[derive(Serialize)]
pub struct GroupApp {
    pub id: String,
    pub operations: Vec<String>,
}

#[derive(Serialize)]
pub struct GroupMembers {
    pub users: Vec<GroupUser>,
    pub apps: Vec<GroupApp>,
}

#[derive(Deserialize)]
pub struct DeleteGroupQuery {
    #[serde(default)]
    pub force: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchApp {
    #[serde(default, deserialize_with = "null_refused::name")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_refused::enabled")]
    pub enabled: Option<bool>,
}
