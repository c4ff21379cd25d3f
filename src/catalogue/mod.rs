//! The catalogue: every operation the server answers, declared once.
//!
//! Each entry names the method and path, the flag(s) the caller needs (with `<ring>` or
//! `<key>` standing for the object's name), the group operations it exercises on the
//! object's group, the action its audit event records, the request and response schemas
//! and the status of success. The router registers handlers only through these entries
//! (so a route missing here cannot be served), the service authorizes and audits with
//! them, the OpenAPI document and the authorization matrix test are generated from them.
//! A reviewer sees here, in one place, what every route requires and records.
//!
//! This module is data only: it imports neither the HTTP framework nor the service.

mod approvals;
mod identity;
mod keyrings;
mod keys;
mod machines;
mod operations;
mod policies;
mod secrets;
mod shares;

mod ai;
mod alerts;
mod templates;
mod tenancy;
mod trail;

pub use approvals::*;
pub use identity::*;
pub use keyrings::*;
pub use keys::*;
pub use machines::*;
pub use operations::*;
pub use policies::*;
pub use secrets::*;
pub use shares::*;

pub use ai::*;
pub use alerts::*;
pub use templates::*;
pub use tenancy::*;
pub use trail::*;

use crate::authz::Operation as GroupOp;
use Method::{Delete, Get, Patch, Post, Put};

/// An HTTP method the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// The lowercase name, as the OpenAPI document keys operations.
    pub const fn as_str(self) -> &'static str {
        match self {
            Get => "get",
            Post => "post",
            Put => "put",
            Patch => "patch",
            Delete => "delete",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One operation of the API.
#[derive(Debug)]
pub struct Operation {
    pub method: Method,
    /// The path template, with `{name}` segments as the router and OpenAPI write them.
    pub path: &'static str,
    pub summary: &'static str,
    /// Every flag the caller needs; empty for routes without a credential (operations
    /// routes, log-in, and routes whose credential is a one-time token in the body).
    pub flags: &'static [&'static str],
    /// What the operation does to its object's group, checked against the caller's group
    /// operations (an app's grants, a member's role) once the object's group is known.
    pub group: &'static [GroupOp],
    /// The audit event's action; `None` for the operations routes, which are not audited.
    pub action: Option<&'static str>,
    /// The OpenAPI schema names of the body and of the success answer.
    pub request: Option<&'static str>,
    pub response: Option<&'static str>,
    /// The status of success.
    pub status: u16,
    /// Answering changes nothing but the audit trail and usage counters (encrypt, decrypt,
    /// sign, verify): a signed request's nonce is claimed in the same commit as its event.
    pub answers_only: bool,
}

/// An entry's start: its method and path. Every other field starts at its most common
/// value (no credential, no group operation, not audited, no body, 200) and the entry sets
/// the rest with the builders below, so an entry reads as what sets it apart.
const fn route(method: Method, path: &'static str) -> Operation {
    Operation {
        method,
        path,
        summary: "",
        flags: &[],
        group: &[],
        action: None,
        request: None,
        response: None,
        status: 200,
        answers_only: false,
    }
}

pub(super) const fn get(path: &'static str) -> Operation {
    route(Get, path)
}

pub(super) const fn post(path: &'static str) -> Operation {
    route(Post, path)
}

pub(super) const fn put(path: &'static str) -> Operation {
    route(Put, path)
}

pub(super) const fn patch(path: &'static str) -> Operation {
    route(Patch, path)
}

pub(super) const fn delete(path: &'static str) -> Operation {
    route(Delete, path)
}

impl Operation {
    pub(super) const fn summary(mut self, summary: &'static str) -> Self {
        self.summary = summary;
        self
    }

    /// The flags a caller needs and the action its audit event records: a route with a
    /// credential always has both.
    pub(super) const fn needs(
        mut self,
        flags: &'static [&'static str],
        action: &'static str,
    ) -> Self {
        self.flags = flags;
        self.action = Some(action);
        self
    }

    pub(super) const fn in_group(mut self, group: &'static [GroupOp]) -> Self {
        self.group = group;
        self
    }

    /// The audit action of a route without a credential (its token is in the body).
    pub(super) const fn audited_as(mut self, action: &'static str) -> Self {
        self.action = Some(action);
        self
    }

    /// The body's schema.
    pub(super) const fn takes(mut self, schema: &'static str) -> Self {
        self.request = Some(schema);
        self
    }

    /// The success answer's schema.
    pub(super) const fn gives(mut self, schema: &'static str) -> Self {
        self.response = Some(schema);
        self
    }

    /// Both schemas: the body's and the success answer's.
    pub(super) const fn exchanges(self, request: &'static str, response: &'static str) -> Self {
        self.takes(request).gives(response)
    }

    /// A `201 Created` answering with `schema`.
    pub(super) const fn created(self, schema: &'static str) -> Self {
        self.gives(schema).status(201)
    }

    pub(super) const fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Marks a cryptographic use that changes nothing but the audit trail and counters.
    pub(super) const fn answers_only(mut self) -> Self {
        self.answers_only = true;
        self
    }

    /// The flags this operation needs on the object named `object`: `<ring>` or `<key>`
    /// replaced by the name.
    pub fn flags_for<'a>(&'a self, object: &'a str) -> impl Iterator<Item = String> + 'a {
        self.flags
            .iter()
            .map(move |flag| concrete_flag(flag, object))
    }

    /// The audit action; the operations routes have none and are never audited.
    pub fn audit_action(&self) -> &'static str {
        self.action.unwrap_or("http.unaudited")
    }

    /// A stable identifier for the OpenAPI document: method and path words, e.g.
    /// `post_keyrings_ring_encrypt`.
    pub fn id(&self) -> String {
        let words: Vec<&str> = self
            .path
            .trim_start_matches("/v1/")
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        format!("{}_{}", self.method.as_str(), words.join("_"))
    }
}

/// `pattern` with its `<...>` segment replaced by `object`.
fn concrete_flag(pattern: &str, object: &str) -> String {
    match (pattern.find('<'), pattern.find('>')) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{object}{}", &pattern[..start], &pattern[end + 1..])
        }
        _ => pattern.to_owned(),
    }
}

/// Every operation the server answers, in the order the OpenAPI document lists them.
pub const ALL: &[&Operation] = &[
    &HEALTH,
    &READY,
    &METRICS,
    &OPENAPI,
    &CREATE_API_KEY,
    &LIST_API_KEYS,
    &GET_API_KEY,
    &UPDATE_API_KEY,
    &CREATE_GROUP,
    &LIST_GROUPS,
    &GET_GROUP,
    &CREATE_APP,
    &LIST_APPS,
    &GET_APP,
    &CREATE_KEYRING,
    &LIST_KEYRINGS,
    &GET_KEYRING,
    &DELETE_KEYRING,
    &RESTORE_KEYRING,
    &ENCRYPT,
    &DECRYPT,
    &REWRAP,
    &DATAKEY,
    &ROTATE_KEYRING,
    &GET_KEYRING_CONFIG,
    &UPDATE_KEYRING_CONFIG,
    &KEYRING_KEYS,
    &LOOKUP_HASH,
    &CREATE_KEY,
    &LIST_KEYS,
    &GET_KEY,
    &UPDATE_KEY,
    &DELETE_KEY,
    &PUBLIC_KEY,
    &SIGN,
    &VERIFY,
    &KEY_DECRYPT,
    &ROTATE_KEY,
    &RESTORE_KEY,
    &CSR,
    &IMPORT_CERTIFICATE,
    &KEY_CERTIFICATES,
    &DELETE_KEY_CERTIFICATE,
    &OBJECTS,
    &ACTIVITY,
    &LOGIN,
    &LOGOUT,
    &LIST_SESSIONS,
    &REVOKE_SESSION,
    &CHANGE_PASSWORD,
    &COMPLETE_PASSWORD_RESET,
    &CREATE_ACCOUNT,
    &LIST_ACCOUNTS,
    &GET_ACCOUNT,
    &UPDATE_ACCOUNT,
    &DELETE_ACCOUNT,
    &REQUEST_ACCOUNT_DELETION,
    &CANCEL_ACCOUNT_DELETION,
    &CREATE_USER,
    &LIST_USERS,
    &GET_USER,
    &UPDATE_USER,
    &REMOVE_USER,
    &CREATE_PASSWORD_RESET,
    &UPDATE_GROUP,
    &DELETE_GROUP,
    &GROUP_MEMBERS,
    &ROTATE_MASTER,
    &GET_JOB,
    &SET_GROUP_USER,
    &REMOVE_GROUP_USER,
    &SET_GROUP_APP,
    &REMOVE_GROUP_APP,
    &UPDATE_APP,
    &DELETE_APP,
    &APP_CREDENTIALS,
    &BIND_CERTIFICATE,
    &UNBIND_CERTIFICATE,
    &CREATE_AWS_CREDENTIAL,
    &LIST_AWS_CREDENTIALS,
    &UPDATE_AWS_CREDENTIAL,
    &DELETE_AWS_CREDENTIAL,
    &ADD_TRUSTED_CA,
    &LIST_TRUSTED_CAS,
    &REVOKE_CERTIFICATE,
    &LIST_REVOCATIONS,
    &CREATE_MACHINE_TOKEN,
    &LIST_MACHINE_TOKENS,
    &DISABLE_MACHINE_TOKEN,
    &PROVISION_MACHINE,
    &LIST_MACHINES,
    &REGISTER_MACHINE,
    &DOWNLOAD_BUNDLE,
    &GET_MACHINE,
    &DELETE_MACHINE,
    &APPROVE_MACHINE,
    &DISABLE_MACHINE,
    &ENABLE_MACHINE,
    &EXTEND_MACHINE,
    &REVERT_MACHINE_EXTENSION,
    &CREATE_SECRET,
    &LIST_SECRETS,
    &GET_SECRET,
    &READ_SECRET_VALUE,
    &READ_SECRET_FIELD,
    &REVEAL_SECRET,
    &SET_SECRET_VALUE,
    &SECRET_VERSIONS,
    &ROLLBACK_SECRET,
    &SET_SECRET_ROTATION,
    &DELETE_SECRET_ROTATION,
    &ROTATE_SECRET,
    &LIST_SECRET_GRANTS,
    &GRANT_SECRET,
    &REVOKE_SECRET,
    &DELETE_SECRET,
    &RESTORE_SECRET,
    &PENDING_SECRET_VERSION,
    &APPLIED_SECRET_VERSION,
    &FAILED_SECRET_VERSION,
    &FREEZE_GROUP,
    &UNFREEZE_GROUP,
    &CREATE_SHARE,
    &LIST_SHARES,
    &DELETE_SHARE,
    &OPEN_SHARE,
    &SHARE_PAGE,
    &EXPORT_ACTIVITY,
    &CREATE_CHECKPOINT,
    &LIST_CHECKPOINTS,
    &TRAIL_SIGNING_KEY,
    &CREATE_POLICY,
    &LIST_POLICIES,
    &GET_POLICY,
    &UPDATE_POLICY,
    &DELETE_POLICY,
    &LIST_POLICY_BINDINGS,
    &BIND_POLICY,
    &UNBIND_POLICY,
    &ACTIVITY_STREAM,
    &CREATE_ALERT,
    &LIST_ALERTS,
    &GET_ALERT,
    &UPDATE_ALERT,
    &DELETE_ALERT,
    &ROTATE_ALERT_SECRET,
    &TEST_ALERT,
    &ALERT_DELIVERIES,
    &RETRY_DELIVERY,
    &SET_GROUP_QUORUM,
    &GET_GROUP_QUORUM,
    &CLEAR_GROUP_QUORUM,
    &SET_ACCOUNT_QUORUM,
    &GET_ACCOUNT_QUORUM,
    &CLEAR_ACCOUNT_QUORUM,
    &LIST_APPROVALS,
    &GET_APPROVAL,
    &APPROVE,
    &DENY,
    &CREATE_AI_TOKEN,
    &LIST_AI_TOKENS,
    &DELETE_AI_TOKEN,
    &REGISTER_AI_AGENT,
    &LIST_AI_AGENTS,
    &GET_AI_AGENT,
    &UPDATE_AI_AGENT,
    &DISABLE_AI_AGENT,
    &ENABLE_AI_AGENT,
    &DELETE_AI_AGENT,
    &AI_WHOAMI,
    &AI_LIST_GROUPS,
    &AI_CREATE_GROUP,
    &AI_LIST_SECRETS,
    &AI_GET_SECRET,
    &AI_CREATE_SECRET,
    &AI_SET_SECRET_VALUE,
    &AI_ROTATE_SECRET,
    &AI_LIST_KEYRINGS,
    &AI_CREATE_KEYRING,
    &AI_LIST_MACHINES,
    &AI_ACTIVITY,
    &AI_LIST_ALERTS,
    &AI_CREATE_ALERT,
    &AI_CREATE_SHARE,
    &LIST_INVITATIONS,
    &REVOKE_INVITATION,
    &ACCEPT_INVITATION,
    &LIST_TEMPLATES,
    &CREATE_TEMPLATE,
    &GET_TEMPLATE,
    &UPDATE_TEMPLATE,
    &DELETE_TEMPLATE,
    &ASSIGN_TEMPLATE,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_operation_is_listed_once() {
        let routes: BTreeSet<(Method, &str)> = ALL.iter().map(|op| (op.method, op.path)).collect();
        assert_eq!(routes.len(), ALL.len(), "an operation is listed twice");
    }

    #[test]
    fn the_group_operations_follow_from_the_flags() {
        for op in ALL {
            let derived: Vec<GroupOp> = op
                .flags_for("object")
                .filter_map(|flag| crate::authz::operation_for(&flag))
                .fold(Vec::new(), |mut all, g| {
                    if !all.contains(&g) {
                        all.push(g);
                    }
                    all
                });
            assert_eq!(derived, op.group, "{} {}", op.method.as_str(), op.path);
        }
    }

    #[test]
    fn every_route_with_a_credential_is_audited() {
        for op in ALL {
            assert!(
                op.flags.is_empty() || op.action.is_some(),
                "{} {} has flags but no audit action",
                op.method.as_str(),
                op.path
            );
        }
    }

    #[test]
    fn every_operation_has_a_summary() {
        for op in ALL {
            assert!(!op.summary.is_empty(), "{} {}", op.method.as_str(), op.path);
        }
    }

    #[test]
    fn a_flag_pattern_takes_the_object_name() {
        assert_eq!(
            ENCRYPT.flags_for("payments").collect::<Vec<_>>(),
            ["keyring.payments.encrypt"]
        );
        assert_eq!(
            CREATE_KEYRING.flags_for("ignored").collect::<Vec<_>>(),
            ["keyring.create"]
        );
    }
}
