//! Access policies: rules on six axes that a group's owners and admins bind to its
//! secrets, keyrings and keys, checked on every use by an app or machine.
//!
//! This file holds management (create, read, change, delete, bind, unbind), one function
//! per operation so that each can later be wrapped (approvals) on its own. The rules and
//! their pure checks are in `rules`, enforcement on use in `enforce`, the background
//! duties (TTL sweep, queued rotations, pruning counters) in `upkeep`. docs/policies.md is
//! the user's documentation.

mod enforce;
mod rules;
mod upkeep;

pub(in crate::service) use enforce::{BoundPolicies, PolicyObject, PolicyScope, refusal_detail};
pub use rules::{CosignRule, PolicyRules, RateRule, TimeWindowRule, TtlRule};

use super::{Caller, Ctx, Error, Forget, Service, new_id};
use crate::authz::is_valid_name;
use crate::catalogue;
use crate::ids::{AppId, GroupId};
pub use crate::store::PolicyBindingRow as PolicyBinding;
use crate::store::{PolicyBindingRow, PolicyRow};
use serde::{Deserialize, Serialize};

/// What a caller asks for when creating a policy.
#[derive(Debug, Clone)]
pub struct PolicySpec {
    pub group: GroupId,
    pub name: String,
    pub description: Option<String>,
    pub rules: PolicyRules,
}

/// A change to a policy: `None` keeps a field; for the axes, `Some(None)` removes one. It
/// round-trips through JSON (a pending approval stores it): a field left out is kept, a
/// `null` removes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub description: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub time_window: Option<Option<TimeWindowRule>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub sources: Option<Option<Vec<String>>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub rate: Option<Option<RateRule>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub cosign: Option<Option<CosignRule>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub ttl: Option<Option<TtlRule>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub rotate_after_uses: Option<Option<u64>>,
}

/// A field that is present: `null` is `Some(None)` (a missing one is `None` by default).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A policy as shown: its row and its axes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyView {
    pub row: PolicyRow,
    pub rules: PolicyRules,
}

/// The kinds of object a policy binds to.
pub const BINDABLE_KINDS: [&str; 3] = ["secret", "keyring", "key"];

const MAX_DESCRIPTION: usize = 500;

fn check_policy_name(name: &str) -> Result<(), Error> {
    if is_valid_name(name) {
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "policy name {name:?} must be 1-64 chars of [A-Za-z0-9_-]"
    )))
}

fn check_description(description: Option<&str>) -> Result<(), Error> {
    match description {
        Some(text) if text.chars().count() > MAX_DESCRIPTION || text.contains('\n') => {
            Err(Error::InvalidInput(format!(
                "description must be one line of at most {MAX_DESCRIPTION} characters"
            )))
        }
        _ => Ok(()),
    }
}

/// The policy's audit object.
fn object(id: &str) -> String {
    format!("policy/{id}")
}

fn stored_rules(row: &PolicyRow) -> Result<PolicyRules, Error> {
    serde_json::from_str(&row.rules)
        .map_err(|_| Error::Internal(format!("policy {} has unreadable rules", row.id).into()))
}

fn rules_text(rules: &PolicyRules) -> String {
    serde_json::to_string(rules).expect("rules serialize")
}

fn view(row: PolicyRow) -> Result<PolicyView, Error> {
    let rules = stored_rules(&row)?;
    Ok(PolicyView { row, rules })
}

impl PolicyPatch {
    /// The rules after this change.
    fn apply(self, mut rules: PolicyRules) -> PolicyRules {
        fn set<T>(field: &mut Option<T>, change: Option<Option<T>>) {
            if let Some(value) = change {
                *field = value;
            }
        }
        set(&mut rules.time_window, self.time_window);
        set(&mut rules.sources, self.sources);
        set(&mut rules.rate, self.rate);
        set(&mut rules.cosign, self.cosign);
        set(&mut rules.ttl, self.ttl);
        set(&mut rules.rotate_after_uses, self.rotate_after_uses);
        rules
    }
}

impl Service {
    pub async fn create_policy(
        &self,
        ctx: &Ctx<'_>,
        spec: PolicySpec,
    ) -> Result<PolicyView, Error> {
        let op = &catalogue::CREATE_POLICY;
        let target = format!("policy/{}", spec.name);
        self.mutation(ctx, op, "", Some(&target), |event| async move {
            check_policy_name(&spec.name)?;
            check_description(spec.description.as_deref())?;
            let now = self.now();
            spec.rules.validate(now)?;
            self.check_cosigners(ctx.caller, &spec.rules).await?;
            self.visible_group(ctx.caller, &spec.group).await?;
            let row = PolicyRow {
                id: new_id::<String>("pol"),
                account_id: ctx.caller.account_id.clone(),
                group_id: spec.group.clone(),
                name: spec.name.clone(),
                description: spec.description.clone(),
                rules: rules_text(&spec.rules),
                expires_at: spec.rules.ttl.as_ref().and_then(|t| t.expires_at),
                created_at: now,
                updated_at: now,
            };
            self.store.create_policy(&row, &event).await?;
            Ok(PolicyView {
                row,
                rules: spec.rules,
            })
        })
        .await
    }

    pub async fn list_policies(
        &self,
        ctx: &Ctx<'_>,
        group: Option<&GroupId>,
    ) -> Result<Vec<PolicyView>, Error> {
        self.read(ctx, &catalogue::LIST_POLICIES, "", None, async {
            if let Some(group) = group {
                self.visible_group(ctx.caller, group).await?;
            }
            let rows = self.store.policies(&ctx.caller.account_id, group).await?;
            rows.into_iter().map(view).collect()
        })
        .await
    }

    pub async fn get_policy(&self, ctx: &Ctx<'_>, id: &str) -> Result<PolicyView, Error> {
        let op = &catalogue::GET_POLICY;
        self.read(ctx, op, "", Some(&object(id)), async {
            view(self.policy_row(ctx.caller, id).await?)
        })
        .await
    }

    /// Changes a policy. Every node forgets its cached bindings of the account, so the new
    /// rules are in force everywhere within one change-log poll.
    pub async fn update_policy(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        patch: PolicyPatch,
    ) -> Result<PolicyView, Error> {
        let pending = super::PendingOperation::UpdatePolicy {
            policy: id.to_owned(),
            patch: Box::new(patch.clone()),
        };
        self.gate(ctx, pending).await?;
        let op = &catalogue::UPDATE_POLICY;
        self.mutation(ctx, op, "", Some(&object(id)), |event| async move {
            let mut row = self.policy_row(ctx.caller, id).await?;
            if let Some(name) = &patch.name {
                check_policy_name(name)?;
                row.name = name.clone();
            }
            if let Some(description) = &patch.description {
                check_description(description.as_deref())?;
                row.description = description.clone();
            }
            let now = self.now();
            let rules = patch.apply(stored_rules(&row)?);
            rules.validate(now)?;
            self.check_cosigners(ctx.caller, &rules).await?;
            row.rules = rules_text(&rules);
            row.expires_at = rules.ttl.as_ref().and_then(|t| t.expires_at);
            row.updated_at = now;
            self.store.update_policy(&row, &event).await?;
            self.forget_policies(ctx.caller).await;
            Ok(PolicyView { row, rules })
        })
        .await
    }

    pub async fn delete_policy(&self, ctx: &Ctx<'_>, id: &str) -> Result<(), Error> {
        let pending = super::PendingOperation::DeletePolicy {
            policy: id.to_owned(),
        };
        self.gate(ctx, pending).await?;
        let op = &catalogue::DELETE_POLICY;
        self.mutation(ctx, op, "", Some(&object(id)), |event| async move {
            self.policy_row(ctx.caller, id).await?;
            if !self.store.delete_policy(id, &event).await? {
                return Err(Error::NotFound(format!("policy {id}")));
            }
            self.forget_policies(ctx.caller).await;
            Ok(())
        })
        .await
    }

    pub async fn policy_bindings(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
    ) -> Result<Vec<PolicyBindingRow>, Error> {
        let op = &catalogue::LIST_POLICY_BINDINGS;
        self.read(ctx, op, "", Some(&object(id)), async {
            self.policy_row(ctx.caller, id).await?;
            Ok(self.store.policy_bindings(id).await?)
        })
        .await
    }

    /// Binds a policy to an object of its group.
    pub async fn bind_policy(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        kind: &str,
        name: &str,
    ) -> Result<PolicyBindingRow, Error> {
        let op = &catalogue::BIND_POLICY;
        self.mutation(ctx, op, "", Some(&object(id)), |mut event| async move {
            let policy = self.policy_row(ctx.caller, id).await?;
            let (object_id, group) = self.bindable_object(ctx.caller, kind, name).await?;
            if group != policy.group_id {
                return Err(Error::InvalidInput(format!(
                    "{kind} {name} belongs to group {group}, policy {} to group {}: a policy binds only to objects of its own group",
                    policy.name, policy.group_id
                )));
            }
            event.detail = Some(format!("{kind}/{name}"));
            let binding = PolicyBindingRow {
                policy_id: policy.id.clone(),
                account_id: policy.account_id.clone(),
                object_kind: kind.to_owned(),
                object_id,
                object_name: name.to_owned(),
                created_at: self.now(),
            };
            self.store.bind_policy(&binding, &event).await?;
            self.forget_policies(ctx.caller).await;
            Ok(binding)
        })
        .await
    }

    /// Unbinds a policy from an object (404 if it was not bound).
    pub async fn unbind_policy(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        kind: &str,
        name: &str,
    ) -> Result<(), Error> {
        let pending = super::PendingOperation::UnbindPolicy {
            policy: id.to_owned(),
            object_kind: kind.to_owned(),
            object: name.to_owned(),
        };
        self.gate(ctx, pending).await?;
        let op = &catalogue::UNBIND_POLICY;
        self.mutation(ctx, op, "", Some(&object(id)), |mut event| async move {
            self.policy_row(ctx.caller, id).await?;
            let (object_id, _) = self.bindable_object(ctx.caller, kind, name).await?;
            event.detail = Some(format!("{kind}/{name}"));
            let removed = self
                .store
                .unbind_policy(id, kind, &object_id, Some(&event))
                .await?;
            if !removed {
                return Err(Error::NotFound(format!(
                    "binding of policy {id} to {kind} {name}"
                )));
            }
            self.forget_policies(ctx.caller).await;
            Ok(())
        })
        .await
    }

    /// The policy `id` of the caller's account.
    pub(super) async fn policy_row(&self, caller: &Caller, id: &str) -> Result<PolicyRow, Error> {
        if !is_valid_name(id) {
            return Err(Error::NotFound(format!("policy {id}")));
        }
        self.store
            .policy(&caller.account_id, id)
            .await?
            .filter(|row| caller.sees_group(&row.group_id))
            .ok_or_else(|| Error::NotFound(format!("policy {id}")))
    }

    /// The id and group of the live object `name` of `kind`.
    async fn bindable_object(
        &self,
        caller: &Caller,
        kind: &str,
        name: &str,
    ) -> Result<(String, GroupId), Error> {
        let account = &caller.account_id;
        let missing = || Error::NotFound(format!("{kind} {name}"));
        if !is_valid_name(name) {
            return Err(missing());
        }
        let found = match kind {
            "secret" => {
                (self.store.secret(account, name).await?).map(|r| (r.id.to_string(), r.group_id))
            }
            "keyring" => {
                (self.store.keyring(account, name).await?).map(|r| (r.id.to_string(), r.group_id))
            }
            "key" => (self.store.key(account, name).await?).map(|r| (r.id.to_string(), r.group_id)),
            other => {
                return Err(Error::InvalidInput(format!(
                    "a policy binds to a secret, keyring or key, not {other:?}"
                )));
            }
        };
        found
            .filter(|(_, group)| caller.sees_group(group))
            .ok_or_else(missing)
    }

    /// A co-signer must be an app or machine of the account: a typo would otherwise refuse
    /// every use for good.
    async fn check_cosigners(&self, caller: &Caller, rules: &PolicyRules) -> Result<(), Error> {
        let Some(cosign) = &rules.cosign else {
            return Ok(());
        };
        for principal in &cosign.principals {
            let id = AppId::from(principal.clone());
            if self.store.app(&caller.account_id, &id).await?.is_none() {
                return Err(Error::InvalidInput(format!(
                    "cosign.principals: {principal} is not an app or machine of this account"
                )));
            }
        }
        Ok(())
    }

    /// Every node forgets the account's cached bindings.
    async fn forget_policies(&self, caller: &Caller) {
        self.forget(Forget::Policies {
            account: caller.account_id.clone(),
        })
        .await
    }
}
