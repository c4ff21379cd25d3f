//! Who a request is: the authenticated principal, how it proved it, and what it may do.

use super::*;
use crate::ids::{AccountId, ApiKeyId, GroupId, UserId};

/// An authenticated principal and what its credential allows.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: AccountId,
    pub kind: PrincipalKind,
    pub principal_id: String,
    pub api_key_id: Option<ApiKeyId>,
    pub flags: Flags,
    pub method: AuthMethod,
    /// For users: their role in the account.
    pub role: Option<Role>,
    /// Which groups' objects the caller sees, and what it may do there.
    pub scope: GroupScope,
    /// The credential, as the audit trail names it (API key id, session id, certificate
    /// fingerprint).
    pub credential: Option<String>,
    /// For users holding a custom permission template: its capabilities, which then stand
    /// in for the role (`role` is `None`).
    pub template: Option<crate::authz::templates::Capabilities>,
}

/// The groups a caller sees.
#[derive(Debug, Clone)]
pub enum GroupScope {
    /// Every group of the account, with every operation its flags and role allow
    /// (owners, admins and auditors).
    All,
    /// Only these groups, each with the operations allowed there (apps, members).
    Only(Vec<(GroupId, Operations)>),
}

impl Caller {
    /// Whether objects of `group_id` exist for this caller.
    pub fn sees_group(&self, group_id: &GroupId) -> bool {
        match &self.scope {
            GroupScope::All => true,
            GroupScope::Only(groups) => groups.iter().any(|(g, _)| g == group_id),
        }
    }

    /// The principal's id as a user's, for what only a user does (its sessions, password
    /// and accounts).
    pub(in crate::service) fn user_id(&self) -> UserId {
        UserId::from(self.principal_id.as_str())
    }

    pub(in crate::service) fn may_operate(&self, group_id: &GroupId, operation: Operation) -> bool {
        match &self.scope {
            GroupScope::All => true,
            GroupScope::Only(groups) => groups
                .iter()
                .any(|(g, ops)| g == group_id && ops.contains(operation)),
        }
    }
}

/// What a credential brings to a caller: how it authenticated, its id for the audit trail,
/// and its flags.
pub(in crate::service) struct Credential {
    pub(super) method: AuthMethod,
    pub(super) id: String,
    pub(super) flags: Flags,
}

impl Service {
    /// A caller that stands for Coffer itself, for events of background duties.
    pub(in crate::service) fn system_caller(account_id: &AccountId) -> Caller {
        Caller {
            account_id: account_id.clone(),
            kind: PrincipalKind::User,
            principal_id: "system".to_owned(),
            api_key_id: None,
            flags: Flags::everything(),
            method: AuthMethod::System,
            role: Some(Role::Owner),
            scope: GroupScope::All,
            credential: None,
            template: None,
        }
    }
}
