//! Account-wide views: the audit trail, and every security object a caller can see.

use crate::clock::rfc3339;
use crate::http::openapi::fields::{self, enumeration};
use crate::service::{ObjectRow, StoredEvent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;

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

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    pub credential: Option<String>,
    /// Which check refused the request, when the outcome alone does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub detail: Option<String>,
    /// `verified` (the credential was checked) or `claimed` (named by a refused request);
    /// null when the event names no one.
    #[schema(schema_with = identity)]
    pub identity: Option<&'static str>,
    /// `info`, `notice`, `warning` or `critical` (the table is in docs/audit.md).
    #[schema(schema_with = severity)]
    pub severity: &'static str,
    /// The event's place in the account's hash chain (1, 2, 3 … without gaps); null for
    /// the moment before the committer chains an event written by a change.
    pub position: Option<i64>,
    /// Hex SHA-256 linking the event to the one before it (see docs/audit.md).
    pub hash: Option<String>,
}

fn severity() -> Schema {
    enumeration(crate::audit::Severity::ALL.iter().map(|s| s.as_str())).into()
}

/// Whether an event's principal was verified, or only claimed by a refused request.
fn identity() -> Schema {
    fields::nullable_enumeration(["verified", "claimed"])
        .description(Some(
            "whether the principal was verified, or only claimed by a refused request",
        ))
        .into()
}

/// The kinds of security objects, as the service names them.
pub(crate) fn object_kind() -> Schema {
    enumeration(crate::service::OBJECT_KINDS).into()
}

impl From<&StoredEvent> for Event {
    fn from(stored: &StoredEvent) -> Self {
        let e = &stored.event;
        Self {
            seq: stored.seq,
            id: e.id.clone(),
            time: rfc3339(e.time),
            account: e.account_id.as_ref().map(ToString::to_string),
            principal: e.principal.clone(),
            auth_method: e.auth_method.as_str().to_owned(),
            action: e.action.clone(),
            object: e.object.clone(),
            outcome: e.outcome.as_str().to_owned(),
            status: e.status,
            source_ip: e.source_ip.clone(),
            request_id: e.request_id.clone(),
            credential: e.credential.clone(),
            detail: e.detail.clone(),
            identity: e.identity.map(crate::audit::Identity::as_str),
            severity: e.severity.as_str(),
            position: stored.link.map(|l| l.position),
            hash: stored.link.map(|l| hex::encode(l.hash)),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    pub events: Vec<Event>,
    /// Pass as `before` to get the next (older) page; `null` on the last page.
    pub next: Option<i64>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectQuery {
    pub group: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(schema_with = object_kind)]
    pub kind: String,
    pub name: String,
    pub group: String,
    /// Keyring protection, key algorithm, or certificate subject.
    pub detail: String,
    pub enabled: bool,
    pub created_at: String,
}

impl From<&ObjectRow> for SecurityObject {
    fn from(o: &ObjectRow) -> Self {
        Self {
            id: o.id.clone(),
            kind: o.kind.as_str().to_owned(),
            name: o.name.clone(),
            group: o.group_id.to_string(),
            detail: o.detail.clone(),
            enabled: o.enabled,
            created_at: rfc3339(o.created_at),
        }
    }
}
