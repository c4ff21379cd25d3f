//! AWS access key pairs of apps, the credential of the AWS KMS face (docs/aws-kms.md). The
//! face itself speaks AWS's JSON 1.1 shapes, which the service reads and writes; these are
//! the native routes that manage the key pairs.

use super::not_null;
use crate::clock::rfc3339;
use crate::http::openapi::fields;
use crate::ids::GroupId;
use crate::service::{self, AwsCredentialSpec};
use crate::store::AwsCredentialRow;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAwsCredential {
    #[schema(schema_with = fields::label)]
    pub name: String,
    /// as an API key's flags
    #[schema(schema_with = fields::flags)]
    pub flags: BTreeMap<String, bool>,
    /// the app's group whose master key wraps the secret; may be left out when the app is in
    /// exactly one group
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = String, nullable = false)]
    pub group: Option<GroupId>,
}

impl From<CreateAwsCredential> for AwsCredentialSpec {
    fn from(body: CreateAwsCredential) -> Self {
        Self {
            name: body.name,
            flags: body.flags,
            group: body.group,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAwsCredential {
    /// true disables the key pair, false enables it again
    pub disabled: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsCredential {
    /// the access key id, also the key pair's id
    pub id: String,
    pub access_key_id: String,
    pub app: String,
    pub group: String,
    pub name: String,
    pub flags: BTreeMap<String, bool>,
    pub created_at: String,
    pub disabled: bool,
}

impl From<&AwsCredentialRow> for AwsCredential {
    fn from(row: &AwsCredentialRow) -> Self {
        Self {
            id: row.id.to_string(),
            access_key_id: row.id.to_string(),
            app: row.app_id.to_string(),
            group: row.group_id.to_string(),
            name: row.name.clone(),
            flags: row.flags.clone(),
            created_at: rfc3339(row.created_at),
            disabled: row.disabled,
        }
    }
}

/// A new key pair: its metadata and, this once, the secret access key.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedAwsCredential {
    pub id: String,
    pub access_key_id: String,
    /// shown once; Coffer keeps it only wrapped by the group's master key
    pub secret_access_key: String,
    pub app: String,
    pub group: String,
    pub name: String,
    pub flags: BTreeMap<String, bool>,
    pub created_at: String,
    pub disabled: bool,
}

impl From<&service::CreatedAwsCredential> for CreatedAwsCredential {
    fn from(created: &service::CreatedAwsCredential) -> Self {
        let meta = AwsCredential::from(&created.row);
        Self {
            id: meta.id,
            access_key_id: meta.access_key_id,
            secret_access_key: created.secret_access_key.expose_secret().to_owned(),
            app: meta.app,
            group: meta.group,
            name: meta.name,
            flags: meta.flags,
            created_at: meta.created_at,
            disabled: meta.disabled,
        }
    }
}
