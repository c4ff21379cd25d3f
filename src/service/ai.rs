//! AI agents (docs/ai-agents.md): management-plane identities of AI coding clients.
//!
//! An agent is neither an app nor a machine: it has its own table, its own routes under
//! `/v1/ai/`, and it signs its requests with an Ed25519 key (`X-Agent-Id`). What it may do
//! is a set of scopes from a fixed allowlist, and which groups it sees an allowlist of
//! groups (empty: every group, current and future). Coffer turns the scopes into the flags
//! of the agent's [`Caller`] (kind [`PrincipalKind::Agent`]), so the existing operations
//! (secret create, keyring create, share create...) authorize and audit an agent like any
//! other caller, and the agent-facing routes first check the scope their catalogue entry
//! names. No scope reads a value: the plaintext boundary is that the flags an agent can
//! ever hold grant no value read, reveal or decrypt.
//!
//! Only users (owners and admins, `ai-agent.*`) issue bootstrap tokens and manage agents;
//! an agent registers its own public key with a token, once.

mod agents;
mod auth;
mod facing;
mod tokens;

pub use auth::AgentRequest;
pub use tokens::CreatedAgentToken;

use super::{Caller, Ctx, Error, GroupScope, RequestMeta, Service, new_id};
use crate::authz::{Flags, Operation, Operations, PrincipalKind};
use crate::catalogue;
use crate::ids::{AccountId, AiAgentId, AiTokenId, GroupId};
use crate::store::AuthMethod;
pub use crate::store::{AgentStatus, AiAgentRow, AiTokenRow};
use std::collections::BTreeMap;

/// The fixed allowlist of scopes, each with the flags it gives the agent's caller: the
/// agent-facing route's own flag (`ai.…`) and the flags of the operation it reuses.
pub const SCOPES: &[(&str, &[&str])] = &[
    ("groups.read", &["ai.groups.read", "group.read"]),
    ("groups.write", &["ai.groups.write", "group.write"]),
    (
        "secrets.metadata.read",
        &["ai.secrets.metadata.read", "secret.read"],
    ),
    (
        "secrets.write",
        &[
            "ai.secrets.write",
            "secret.create",
            "secret.*.write",
            "secret.*.rotate",
        ],
    ),
    (
        "keyrings.manage",
        &["ai.keyrings.manage", "keyring.create", "keyring.read"],
    ),
    ("machines.read", &["ai.machines.read", "machine.read"]),
    ("audit.read", &["ai.audit.read", "activity.read"]),
    (
        "alerts.write",
        &["ai.alerts.write", "alert.read", "alert.write"],
    ),
    ("shares.create", &["ai.shares.create", "share.create"]),
];

/// A bootstrap token's default lifetime, and the longest one may live.
pub const DEFAULT_TOKEN_TTL_SECS: i64 = 3_600;
pub const MAX_TOKEN_TTL_SECS: i64 = 86_400;

/// A request for a bootstrap token: the agent it registers gets these.
#[derive(Debug, Clone)]
pub struct AgentTokenSpec {
    pub name: String,
    pub scopes: Vec<String>,
    pub groups: Vec<GroupId>,
    pub ttl_secs: Option<i64>,
}

/// A change to an agent (users only).
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub groups: Option<Vec<GroupId>>,
}

/// Scopes as given, checked against the allowlist, without duplicates, in a stable order.
fn checked_scopes(scopes: &[String]) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for scope in scopes {
        if !SCOPES.iter().any(|(known, _)| known == scope) {
            let known: Vec<&str> = SCOPES.iter().map(|(s, _)| *s).collect();
            return Err(Error::InvalidInput(format!(
                "unknown scope {scope:?}: scopes are {}",
                known.join(", ")
            )));
        }
        if !out.contains(scope) {
            out.push(scope.clone());
        }
    }
    out.sort();
    Ok(out)
}

/// An agent's name: 1-64 characters, no control characters.
fn checked_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if (1..=64).contains(&name.chars().count()) && !name.chars().any(char::is_control) {
        Ok(name.to_owned())
    } else {
        Err(Error::InvalidInput(
            "an agent name is 1-64 characters, without control characters".into(),
        ))
    }
}

/// The flags an agent's scopes give it (and `ai.whoami`, which every agent has).
fn flags_of(scopes: &[String]) -> Result<Flags, Error> {
    let mut raw = BTreeMap::from([("ai.whoami".to_owned(), true)]);
    for scope in scopes {
        if let Some((_, flags)) = SCOPES.iter().find(|(s, _)| s == scope) {
            raw.extend(flags.iter().map(|f| ((*f).to_owned(), true)));
        }
    }
    Flags::parse(raw, PrincipalKind::Agent).map_err(|e| Error::Internal(Box::new(e)))
}

/// The groups an agent sees: every group (empty allowlist), or those of its allowlist,
/// where it manages objects.
fn scope_of(groups: &[GroupId]) -> GroupScope {
    if groups.is_empty() {
        GroupScope::All
    } else {
        let manage = Operations::only(&[Operation::ManageObjects]);
        GroupScope::Only(groups.iter().map(|g| (g.clone(), manage)).collect())
    }
}

/// The agent as a caller. The audit trail names it by id (`principal`) and by name
/// (`credential`), with the method `ai_agent`.
pub(in crate::service) fn agent_caller(agent: &AiAgentRow) -> Result<Caller, Error> {
    Ok(Caller {
        account_id: agent.account_id.clone(),
        kind: PrincipalKind::Agent,
        principal_id: agent.id.to_string(),
        api_key_id: None,
        flags: flags_of(&agent.scopes)?,
        method: AuthMethod::AiAgent,
        role: None,
        template: None,
        scope: scope_of(&agent.groups),
        credential: Some(agent.name.clone()),
    })
}

impl Service {
    /// The agent `id` of the caller's account, or 404.
    async fn account_agent(
        &self,
        account: &AccountId,
        id: &AiAgentId,
    ) -> Result<AiAgentRow, Error> {
        self.store
            .ai_agent(id)
            .await?
            .filter(|a| &a.account_id == account)
            .ok_or_else(|| Error::NotFound(format!("agent {id}")))
    }

    /// Groups given for an allowlist: each must be a group of the account.
    async fn checked_groups(
        &self,
        account: &AccountId,
        groups: &[GroupId],
    ) -> Result<Vec<GroupId>, Error> {
        let known = self.store.groups(account).await?;
        let mut out: Vec<GroupId> = Vec::new();
        for group in groups {
            if !known.iter().any(|g| &g.id == group) {
                return Err(Error::InvalidInput(format!(
                    "no group {group} in this account"
                )));
            }
            if !out.contains(group) {
                out.push(group.clone());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_scope() -> Vec<String> {
        SCOPES.iter().map(|(s, _)| (*s).to_owned()).collect()
    }

    #[test]
    fn unknown_scopes_are_refused_and_known_ones_kept_once_in_order() {
        assert!(checked_scopes(&["secrets.read".to_owned()]).is_err());
        let twice = [
            "shares.create".to_owned(),
            "groups.read".to_owned(),
            "groups.read".to_owned(),
        ];
        assert_eq!(
            checked_scopes(&twice).expect("known"),
            ["groups.read", "shares.create"]
        );
    }

    #[test]
    fn no_scope_ever_grants_a_value_read_a_reveal_or_a_decrypt() {
        let flags = flags_of(&every_scope()).expect("valid flags");
        for flag in [
            "secret.db.read",
            "secret.db.reveal",
            "secret.db.grant",
            "keyring.ring.decrypt",
            "key.k.decrypt",
            "ai-agent.write",
            "apikey.write",
            "user.write",
        ] {
            assert!(!flags.allows(flag), "{flag}");
        }
        assert!(flags.allows("secret.db.write") && flags.allows("ai.secrets.write"));
        // Value reads are apps' only: an agent's kind can never use them either.
        assert!(!crate::authz::kind_may_use(
            PrincipalKind::Agent,
            "secret.db.read"
        ));
        assert!(!crate::authz::kind_may_use(
            PrincipalKind::User,
            "ai.secrets.write"
        ));
    }

    #[test]
    fn an_empty_allowlist_is_every_group() {
        assert!(matches!(scope_of(&[]), GroupScope::All));
        let only = scope_of(&[GroupId::from("grp_a")]);
        assert!(matches!(only, GroupScope::Only(ref g) if g.len() == 1));
    }
}
