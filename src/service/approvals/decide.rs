//! Reading approvals, voting on them, and their expiry.

use super::*;
use crate::authz::PrincipalKind;
use crate::clock::rfc3339;
use crate::service::{Caller, GroupScope, RequestMeta, new_event_id};
use crate::store::{ApprovalRow, ApprovalStatus, Vote, VoteOutcome, VoteRow};

/// The longest reason a deny may give.
const MAX_REASON_CHARS: usize = 500;

impl Service {
    /// The account's approvals the caller may see, newest first.
    pub async fn list_approvals(
        &self,
        ctx: &Ctx<'_>,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalRow>, Error> {
        self.read(ctx, &catalogue::LIST_APPROVALS, "", None, async {
            // An overdue approval is expired whether or not maintenance marked it yet, so
            // `expired` reads every status and the filter below sorts them.
            let wanted = |a: &ApprovalRow| status.is_none_or(|s| a.status == s);
            let now = self.now();
            Ok(self
                .store
                .approvals(
                    &ctx.caller.account_id,
                    status.filter(|s| *s != ApprovalStatus::Expired),
                )
                .await?
                .into_iter()
                .filter(|a| sees_approval(ctx.caller, a))
                .map(|a| as_of(a, now))
                .filter(wanted)
                .collect())
        })
        .await
    }

    pub async fn get_approval(&self, ctx: &Ctx<'_>, id: &ApprovalId) -> Result<ApprovalRow, Error> {
        let object = approval_object(id);
        self.read(ctx, &catalogue::GET_APPROVAL, "", Some(&object), async {
            self.visible_approval(ctx.caller, id).await
        })
        .await
    }

    /// An approval vote; the one that meets the quorum runs the operation before answering.
    pub async fn approve(&self, ctx: &Ctx<'_>, id: &ApprovalId) -> Result<ApprovalRow, Error> {
        self.decide(ctx, id, Vote::Approve, None).await
    }

    /// A deny: the approval ends and nothing runs.
    pub async fn deny(
        &self,
        ctx: &Ctx<'_>,
        id: &ApprovalId,
        reason: Option<&str>,
    ) -> Result<ApprovalRow, Error> {
        self.decide(ctx, id, Vote::Deny, reason).await
    }

    async fn decide(
        &self,
        ctx: &Ctx<'_>,
        id: &ApprovalId,
        vote: Vote,
        reason: Option<&str>,
    ) -> Result<ApprovalRow, Error> {
        let op = match vote {
            Vote::Approve => &catalogue::APPROVE,
            Vote::Deny => &catalogue::DENY,
        };
        let object = approval_object(id);
        let (claimed, approval) = self
            .mutation(ctx, op, "", Some(&object), |mut event| async move {
                let approval = self.visible_approval(ctx.caller, id).await?;
                may_decide(ctx.caller, &approval, vote)?;
                let ballot = VoteRow {
                    user_id: ctx.caller.user_id(),
                    vote,
                    reason: checked_reason(reason)?,
                    voted_at: self.now(),
                };
                event.detail = Some(format!("{} {}", approval.operation, approval.target));
                let outcome = self.store.vote(id, &ballot, &event).await?;
                Ok((counted(outcome, &approval)?, approval))
            })
            .await?;
        if claimed {
            self.execute(ctx, &approval).await?;
        }
        self.visible_approval(ctx.caller, id).await
    }

    /// An approval of the caller's account that the caller may see, with an overdue
    /// pending one shown as expired.
    async fn visible_approval(
        &self,
        caller: &Caller,
        id: &ApprovalId,
    ) -> Result<ApprovalRow, Error> {
        let approval = self
            .store
            .approval(&caller.account_id, id)
            .await?
            .filter(|a| sees_approval(caller, a))
            .ok_or_else(|| Error::NotFound(format!("approval {id}")))?;
        Ok(as_of(approval, self.now()))
    }

    /// Marks pending approvals past their expiry `expired`, each with its event.
    pub(in crate::service) async fn expire_approvals(&self) -> Result<(), Error> {
        let now = self.now();
        for approval in self.store.overdue_approvals(now).await? {
            let caller = Self::system_caller(&approval.account_id);
            let meta = RequestMeta::new(new_event_id("sys"), None);
            let object = approval_object(&approval.id);
            let mut event = self.event(
                &meta,
                Some(&caller),
                "approval.expire",
                Some(&object),
                Ok(()),
            );
            event.detail = Some(format!(
                "{} {} expired with {} of {} approvals",
                approval.operation,
                approval.target,
                approvals_of(&approval),
                approval.required
            ));
            self.store
                .expire_approval(&approval.id, now, &event)
                .await?;
        }
        Ok(())
    }
}

/// Objects of a group exist for a caller who sees the group; an account's approvals (owner
/// removals) for those who see every group.
fn sees_approval(caller: &Caller, approval: &ApprovalRow) -> bool {
    match &caller.scope {
        GroupScope::All => true,
        GroupScope::Only(_) => {
            approval.scope != crate::store::ACCOUNT_SCOPE
                && caller.sees_group(&GroupId::from(approval.scope.as_str()))
        }
    }
}

/// A pending approval past its expiry is expired, marked by maintenance or not.
fn as_of(mut approval: ApprovalRow, now: i64) -> ApprovalRow {
    if approval.status == ApprovalStatus::Pending && approval.expires_at <= now {
        approval.status = ApprovalStatus::Expired;
    }
    approval
}

/// Only named approvers decide, and never on their own request.
fn may_decide(caller: &Caller, approval: &ApprovalRow, vote: Vote) -> Result<(), Error> {
    if caller.kind != PrincipalKind::User
        || !approval
            .approvers
            .iter()
            .any(|a| *a == caller.principal_id.as_str())
    {
        return Err(Error::Forbidden(format!(
            "only the approvers named by the quorum decide on approval {}",
            approval.id
        )));
    }
    if vote == Vote::Approve && approval.requester == caller.principal_id.as_str() {
        return Err(Error::Forbidden(
            "you asked for this operation: another approver must approve it (you may deny it)"
                .into(),
        ));
    }
    Ok(())
}

fn checked_reason(reason: Option<&str>) -> Result<Option<String>, Error> {
    match reason {
        Some(r) if r.chars().count() > MAX_REASON_CHARS || r.chars().any(char::is_control) => {
            Err(Error::InvalidInput(format!(
                "reason: at most {MAX_REASON_CHARS} characters on one line"
            )))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

/// Whether the vote took the approval to run; a vote the store did not count is a 409.
fn counted(outcome: VoteOutcome, approval: &ApprovalRow) -> Result<bool, Error> {
    let id = &approval.id;
    match outcome {
        VoteOutcome::Counted | VoteOutcome::Denied => Ok(false),
        VoteOutcome::Claimed => Ok(true),
        VoteOutcome::AlreadyVoted => Err(Error::Conflict(format!(
            "you already voted on approval {id}; a vote counts once"
        ))),
        VoteOutcome::NotPending(status) => Err(Error::Conflict(format!(
            "approval {id} is {}: it takes no more votes",
            status.as_str()
        ))),
        VoteOutcome::Expired => Err(Error::Conflict(format!(
            "approval {id} expired at {}: ask again",
            rfc3339(approval.expires_at)
        ))),
    }
}

/// How many approving votes an approval has.
pub(super) fn approvals_of(approval: &ApprovalRow) -> usize {
    approval
        .votes
        .iter()
        .filter(|v| v.vote == Vote::Approve)
        .count()
}
