//! Quorum approval of dangerous operations.
//!
//! A group (or, for owners, the account) may require M of N named approvers before a
//! dangerous operation runs: deleting a keyring, key or secret, rotating the group master
//! key, unfreezing or deleting the group, removing or demoting an owner, changing or
//! removing the quorum itself. Each such service function calls [`Service::gate`] first,
//! with the [`PendingOperation`] it is about to do. Without a quorum the gate lets it through and the
//! operation behaves as it always did; under a quorum the gate records a pending approval
//! (in the transaction of the request's audit event) and the request answers 202 through
//! [`Error::AwaitingApproval`].
//!
//! Approvers vote (`decide.rs`); the vote that meets the quorum takes the approval to
//! `executing` in the store's one conditional UPDATE, and only that request runs the
//! operation, once, as the original requester (`execute.rs`), through the same service
//! function: the gate knows, from a task-local, that the operation being run is the
//! approved one. Quorums themselves are managed in `quorum.rs`; maintenance marks overdue
//! approvals `expired`.
//!
//! Adding a gated operation is: a variant here with its catalogue entry, flag name, audit
//! object, quorum scope and `run`, and one `self.gate(...)` line at the top of the service
//! function.

mod decide;
mod execute;
mod gate;
mod quorum;

pub use crate::store::{ApprovalRow, ApprovalStatus, QuorumRow, Vote, VoteRow};
pub use quorum::QuorumSpec;

use super::{Ctx, Error, MemberPatch, PolicyPatch, Service};
use crate::catalogue;
use crate::ids::{ApprovalId, GroupId, UserId};
use crate::store::ACCOUNT_SCOPE;
use serde::{Deserialize, Serialize};

tokio::task_local! {
    /// The approval whose operation this task is running: the gate lets that operation
    /// through, and its audit event names the approval.
    static RUNNING: ApprovalId;
}

/// The approval the current task runs the operation of, for the detail of that
/// operation's audit event.
pub(in crate::service) fn running_detail() -> Option<String> {
    RUNNING.try_with(|id| format!("approved under {id}")).ok()
}

/// A dangerous operation, with what it needs to run later. Stored as JSON in the approval
/// (names and ids only, never a secret value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PendingOperation {
    DeleteKeyring {
        ring: String,
    },
    DeleteKey {
        name: String,
    },
    DeleteSecret {
        name: String,
    },
    RotateMaster {
        group: GroupId,
    },
    /// Deleting a group: with `force` its objects go to the trash with it.
    DeleteGroup {
        group: GroupId,
        force: bool,
    },
    UnfreezeGroup {
        group: GroupId,
    },
    /// Removing a member; gated only when the member is an owner.
    RemoveUser {
        user: UserId,
    },
    /// Changing a member's role or suspending them; gated only when an owner would stop
    /// being an active owner.
    UpdateUser {
        user: UserId,
        role: Option<String>,
        suspended: Option<bool>,
    },
    /// Setting a quorum (`group` none: the account's); gated only when one exists.
    SetQuorum {
        group: Option<GroupId>,
        spec: QuorumSpec,
    },
    ClearQuorum {
        group: Option<GroupId>,
    },
    /// Changing an access policy (its axes, name or description).
    UpdatePolicy {
        policy: String,
        patch: Box<PolicyPatch>,
    },
    DeletePolicy {
        policy: String,
    },
    /// Removing a policy from one object (`object_kind` secret, keyring or key).
    UnbindPolicy {
        policy: String,
        object_kind: String,
        object: String,
    },
}

impl PendingOperation {
    /// The catalogue entry of the operation: its flags, group operations and audit action.
    pub fn operation(&self) -> &'static catalogue::Operation {
        match self {
            Self::DeleteKeyring { .. } => &catalogue::DELETE_KEYRING,
            Self::DeleteKey { .. } => &catalogue::DELETE_KEY,
            Self::DeleteSecret { .. } => &catalogue::DELETE_SECRET,
            Self::RotateMaster { .. } => &catalogue::ROTATE_MASTER,
            Self::DeleteGroup { .. } => &catalogue::DELETE_GROUP,
            Self::UnfreezeGroup { .. } => &catalogue::UNFREEZE_GROUP,
            Self::RemoveUser { .. } => &catalogue::REMOVE_USER,
            Self::UpdateUser { .. } => &catalogue::UPDATE_USER,
            Self::SetQuorum { group: Some(_), .. } => &catalogue::SET_GROUP_QUORUM,
            Self::SetQuorum { group: None, .. } => &catalogue::SET_ACCOUNT_QUORUM,
            Self::ClearQuorum { group: Some(_) } => &catalogue::CLEAR_GROUP_QUORUM,
            Self::ClearQuorum { group: None } => &catalogue::CLEAR_ACCOUNT_QUORUM,
            Self::UpdatePolicy { .. } => &catalogue::UPDATE_POLICY,
            Self::DeletePolicy { .. } => &catalogue::DELETE_POLICY,
            Self::UnbindPolicy { .. } => &catalogue::UNBIND_POLICY,
        }
    }

    /// The object name the operation's flags take (`keyring.<ring>.delete`).
    fn flag_name(&self) -> &str {
        match self {
            Self::DeleteKeyring { ring } => ring,
            Self::DeleteKey { name } | Self::DeleteSecret { name } => name,
            _ => "",
        }
    }

    /// The object of the operation's audit event, as the operation itself writes it.
    pub fn target(&self) -> String {
        match self {
            Self::DeleteKeyring { ring } => format!("keyring/{ring}"),
            Self::DeleteKey { name } => format!("key/{name}"),
            Self::DeleteSecret { name } => format!("secret/{name}"),
            Self::RotateMaster { group }
            | Self::UnfreezeGroup { group }
            | Self::DeleteGroup { group, .. } => format!("group/{group}"),
            Self::RemoveUser { user } | Self::UpdateUser { user, .. } => format!("user/{user}"),
            Self::SetQuorum { group, .. } | Self::ClearQuorum { group } => quorum_object(group),
            Self::UpdatePolicy { policy, .. }
            | Self::DeletePolicy { policy }
            | Self::UnbindPolicy { policy, .. } => format!("policy/{policy}"),
        }
    }

    /// Runs the operation through its service function (the gate lets it through when the
    /// task runs an approval); the answer is dropped, the audit trail has it.
    async fn run(self, service: &Service, ctx: &Ctx<'_>) -> Result<(), Error> {
        match self {
            Self::DeleteKeyring { ring } => service.delete_keyring(ctx, &ring).await,
            Self::DeleteKey { name } => service.delete_key(ctx, &name).await,
            Self::DeleteSecret { name } => service.delete_secret(ctx, &name).await,
            Self::RotateMaster { group } => service.rotate_master(ctx, &group).await.map(drop),
            Self::DeleteGroup { group, force } => service.delete_group(ctx, &group, force).await,
            Self::UnfreezeGroup { group } => service.unfreeze_group(ctx, &group).await.map(drop),
            Self::RemoveUser { user } => service.remove_user(ctx, &user).await,
            Self::UpdateUser {
                user,
                role,
                suspended,
            } => {
                let patch = MemberPatch { role, suspended };
                service.update_user(ctx, &user, patch).await.map(drop)
            }
            Self::SetQuorum { group, spec } => service
                .set_quorum(ctx, group.as_ref(), spec)
                .await
                .map(drop),
            Self::ClearQuorum { group } => service.clear_quorum(ctx, group.as_ref()).await,
            Self::UpdatePolicy { policy, patch } => {
                service.update_policy(ctx, &policy, *patch).await.map(drop)
            }
            Self::DeletePolicy { policy } => service.delete_policy(ctx, &policy).await,
            Self::UnbindPolicy {
                policy,
                object_kind,
                object,
            } => {
                let unbind = service.unbind_policy(ctx, &policy, &object_kind, &object);
                unbind.await
            }
        }
    }
}

/// The audit object of a quorum: the group's, or the account's.
fn quorum_object(group: &Option<GroupId>) -> String {
    match group {
        Some(group) => format!("group/{group}/quorum"),
        None => "account/quorum".to_owned(),
    }
}

/// The store's scope of a quorum: the group id, or the account's scope.
fn scope_of(group: Option<&GroupId>) -> String {
    group.map_or_else(|| ACCOUNT_SCOPE.to_owned(), |g| g.to_string())
}

/// The approval's audit object.
fn approval_object(id: &ApprovalId) -> String {
    format!("approval/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an approval stores is what runs later: every variant survives the JSON column,
    /// and an unknown field (a row written by another version) is refused, not ignored.
    #[test]
    fn pending_operations_round_trip_through_their_stored_json() {
        let operations = [
            PendingOperation::DeleteKeyring {
                ring: "payments".into(),
            },
            PendingOperation::DeleteGroup {
                group: "grp_1".into(),
                force: true,
            },
            PendingOperation::UpdateUser {
                user: "usr_1".into(),
                role: Some("admin".into()),
                suspended: None,
            },
            PendingOperation::SetQuorum {
                group: None,
                spec: QuorumSpec {
                    approvers: vec!["usr_1".into(), "usr_2".into()],
                    required: 2,
                    expires_in_seconds: Some(600),
                },
            },
            // A policy change keeps "leave out" (keep) and "null" (remove) apart.
            PendingOperation::UpdatePolicy {
                policy: "pol_1".into(),
                patch: Box::new(PolicyPatch {
                    name: Some("office".into()),
                    rate: Some(None),
                    rotate_after_uses: Some(Some(10)),
                    ..Default::default()
                }),
            },
            PendingOperation::UnbindPolicy {
                policy: "pol_1".into(),
                object_kind: "keyring".into(),
                object: "payments".into(),
            },
        ];
        for operation in operations {
            let stored = serde_json::to_value(&operation).expect("serializes");
            let back: PendingOperation = serde_json::from_value(stored).expect("deserializes");
            assert_eq!(back, operation);
        }
        let unknown = serde_json::json!({"kind": "delete_keyring", "ring": "x", "extra": 1});
        assert!(serde_json::from_value::<PendingOperation>(unknown).is_err());
    }

    #[test]
    fn targets_are_the_objects_the_operations_audit() {
        let ring = PendingOperation::DeleteKeyring {
            ring: "payments".into(),
        };
        assert_eq!(ring.target(), "keyring/payments");
        assert_eq!(ring.operation().audit_action(), "keyring.delete");
        let account = PendingOperation::ClearQuorum { group: None };
        assert_eq!(account.target(), "account/quorum");
        assert_eq!(account.operation().path, "/v1/account/quorum");
    }
}
