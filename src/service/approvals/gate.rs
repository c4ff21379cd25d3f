//! The gate every dangerous operation passes first: straight through without a quorum,
//! into a pending approval under one.

use super::*;
use crate::authz::{PrincipalKind, Role};
use crate::store::{ApprovalRow, ApprovalStatus};

/// Microseconds in a second, the store's unit of time.
const MICROS: i64 = 1_000_000;

impl Service {
    /// Decides whether `operation`, asked for by `ctx`'s caller, runs now (`Ok`) or waits
    /// for its quorum: then it records a pending approval with the request's audit event
    /// and answers [`Error::AwaitingApproval`] (a 202). Whatever the gate cannot decide
    /// (an object that does not exist or that the caller may not see, a flag the caller
    /// lacks) it lets through: the operation itself refuses and audits that, as it always
    /// did.
    pub(in crate::service) async fn gate(
        &self,
        ctx: &Ctx<'_>,
        operation: PendingOperation,
    ) -> Result<(), Error> {
        if RUNNING.try_with(|_| ()).is_ok() {
            return Ok(());
        }
        let Some(scope) = self.quorum_scope(ctx, &operation).await? else {
            return Ok(());
        };
        let Some(quorum) = self.store.quorum(&ctx.caller.account_id, &scope).await? else {
            return Ok(());
        };
        if !Self::may_request(ctx, &operation, &scope).await {
            return Ok(());
        }
        let approval = self.request_approval(ctx, operation, quorum).await?;
        Err(Error::AwaitingApproval(Box::new(approval)))
    }

    /// Whether the caller may do `operation` at all, as the operation itself would check:
    /// only then does a request become an approval.
    async fn may_request(ctx: &Ctx<'_>, operation: &PendingOperation, scope: &str) -> bool {
        let op = operation.operation();
        let flags_ok = Self::authorized(ctx.caller, op, operation.flag_name(), async { Ok(()) })
            .await
            .is_ok();
        let group_ok = scope == ACCOUNT_SCOPE
            || Self::require_in_group(ctx.caller, op, &GroupId::from(scope)).is_ok();
        flags_ok && group_ok
    }

    /// The quorum scope `operation` falls under now (its object's group, or the account
    /// for owners), or `None` when it is not gated (no such object for this caller, a
    /// member who is no owner).
    async fn quorum_scope(
        &self,
        ctx: &Ctx<'_>,
        operation: &PendingOperation,
    ) -> Result<Option<String>, Error> {
        let caller = ctx.caller;
        let account = &caller.account_id;
        let group = match operation {
            PendingOperation::DeleteKeyring { ring } => {
                self.store.keyring(account, ring).await?.map(|r| r.group_id)
            }
            PendingOperation::DeleteKey { name } => {
                self.store.key(account, name).await?.map(|r| r.group_id)
            }
            PendingOperation::DeleteSecret { name } => {
                self.store.secret(account, name).await?.map(|r| r.group_id)
            }
            PendingOperation::RotateMaster { group }
            | PendingOperation::DeleteGroup { group, .. }
            | PendingOperation::UnfreezeGroup { group }
            | PendingOperation::SetQuorum {
                group: Some(group), ..
            }
            | PendingOperation::ClearQuorum { group: Some(group) } => Some(group.clone()),
            PendingOperation::RemoveUser { user } => {
                return Ok(self
                    .owner_leaves(ctx, user, true, None, None)
                    .await?
                    .then(account_scope));
            }
            PendingOperation::UpdateUser {
                user,
                role,
                suspended,
            } => {
                let leaves = self.owner_leaves(ctx, user, false, role.as_deref(), *suspended);
                return Ok(leaves.await?.then(account_scope));
            }
            PendingOperation::SetQuorum { group: None, .. }
            | PendingOperation::ClearQuorum { group: None } => return Ok(Some(account_scope())),
            PendingOperation::UpdatePolicy { policy, .. }
            | PendingOperation::DeletePolicy { policy }
            | PendingOperation::UnbindPolicy { policy, .. } => {
                // A policy the caller cannot see is not gated: the operation answers 404.
                self.policy_row(caller, policy)
                    .await
                    .ok()
                    .map(|row| row.group_id)
            }
        };
        Ok(group
            .filter(|g| caller.sees_group(g))
            .map(|g| g.to_string()))
    }

    /// Whether the change takes an active owner away: removed, demoted or suspended. A
    /// change the operation would refuse anyway (by a caller who is no owner, to a role
    /// that does not exist) is not gated: the operation refuses it at once.
    async fn owner_leaves(
        &self,
        ctx: &Ctx<'_>,
        user: &UserId,
        removal: bool,
        role: Option<&str>,
        suspended: Option<bool>,
    ) -> Result<bool, Error> {
        let Some(member) = self.store.member(&ctx.caller.account_id, user).await? else {
            return Ok(false);
        };
        let refused =
            ctx.caller.role != Some(Role::Owner) || role.is_some_and(|r| Role::parse(r).is_none());
        if member.role != Role::Owner || member.suspended || refused {
            return Ok(false);
        }
        let demoted = role.is_some_and(|r| r != Role::Owner.as_str());
        Ok(removal || demoted || suspended == Some(true))
    }

    /// Records the pending approval of `operation` with the request's audit event (the
    /// operation's action, status 202, the approval's id in its detail).
    async fn request_approval(
        &self,
        ctx: &Ctx<'_>,
        operation: PendingOperation,
        quorum: QuorumRow,
    ) -> Result<ApprovalRow, Error> {
        let op = operation.operation();
        let target = operation.target();
        let name = operation.flag_name().to_owned();
        self.mutation(ctx, op, &name, Some(&target), |mut event| async move {
            if ctx.caller.kind != PrincipalKind::User {
                return Err(Error::Forbidden(
                    "this operation needs a quorum's approval: only a user may ask for it".into(),
                ));
            }
            let approval = self.new_approval(ctx, operation, quorum)?;
            event.status = 202;
            event.detail = Some(format!(
                "awaiting approval {} ({} of {})",
                approval.id,
                approval.required,
                approval.approvers.len()
            ));
            self.store.create_approval(&approval, &event).await?;
            Ok(approval)
        })
        .await
    }

    fn new_approval(
        &self,
        ctx: &Ctx<'_>,
        operation: PendingOperation,
        quorum: QuorumRow,
    ) -> Result<ApprovalRow, Error> {
        let now = self.now();
        let params = serde_json::to_value(&operation).map_err(|e| Error::Internal(Box::new(e)))?;
        Ok(ApprovalRow {
            id: super::super::new_id("apr"),
            account_id: ctx.caller.account_id.clone(),
            scope: quorum.scope,
            operation: operation.operation().audit_action().to_owned(),
            target: operation.target(),
            params,
            requester: ctx.caller.user_id(),
            requester_method: ctx.caller.method,
            requester_credential: ctx.caller.credential.clone(),
            approvers: quorum.approvers,
            required: quorum.required,
            status: ApprovalStatus::Pending,
            created_at: now,
            expires_at: now.saturating_add(quorum.expires_in_seconds.saturating_mul(MICROS)),
            finished_at: None,
            error: None,
            votes: Vec::new(),
        })
    }
}

fn account_scope() -> String {
    ACCOUNT_SCOPE.to_owned()
}
