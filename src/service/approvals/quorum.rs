//! Quorums: who must approve a group's (or the account's) dangerous operations, and how
//! many of them. Changing or removing an existing quorum is itself gated by it, so one
//! admin cannot switch it off alone.

use super::*;
use crate::authz::Role;
use crate::store::QuorumRow;

/// How long an approval waits for its quorum unless the quorum says otherwise: 24 hours.
pub const DEFAULT_EXPIRY_SECONDS: i64 = 24 * 3600;
/// The shortest and longest wait a quorum may set: 5 minutes to 30 days.
const EXPIRY_RANGE: std::ops::RangeInclusive<i64> = 300..=30 * 24 * 3600;
/// The most approvers one quorum names.
const MAX_APPROVERS: usize = 20;

/// A quorum as asked for: `required` of `approvers` (user ids of the account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuorumSpec {
    pub approvers: Vec<UserId>,
    pub required: u32,
    pub expires_in_seconds: Option<i64>,
}

impl Service {
    /// Sets the quorum of `group` (none: the account's, for owners). Under an existing
    /// quorum the change waits for its approval.
    pub async fn set_quorum(
        &self,
        ctx: &Ctx<'_>,
        group: Option<&GroupId>,
        spec: QuorumSpec,
    ) -> Result<QuorumRow, Error> {
        let pending = PendingOperation::SetQuorum {
            group: group.cloned(),
            spec: spec.clone(),
        };
        let op = pending.operation();
        let object = pending.target();
        // A quorum that could not be set is refused at once, not after its approval.
        if self.checked_quorum(ctx, group, spec.clone()).await.is_ok() {
            self.gate(ctx, pending).await?;
        }
        self.mutation(ctx, op, "", Some(&object), |event| async move {
            self.quorum_group(ctx, group).await?;
            let row = self.checked_quorum(ctx, group, spec).await?;
            self.store.set_quorum(&row, &event).await?;
            Ok(row)
        })
        .await
    }

    /// The quorum of `group` (none: the account's); 404 when there is none.
    pub async fn get_quorum(
        &self,
        ctx: &Ctx<'_>,
        group: Option<&GroupId>,
    ) -> Result<QuorumRow, Error> {
        let op = match group {
            Some(_) => &catalogue::GET_GROUP_QUORUM,
            None => &catalogue::GET_ACCOUNT_QUORUM,
        };
        let object = quorum_object(&group.cloned());
        self.read(ctx, op, "", Some(&object), async {
            self.quorum_group(ctx, group).await?;
            self.store
                .quorum(&ctx.caller.account_id, &scope_of(group))
                .await?
                .ok_or_else(|| Error::NotFound(format!("quorum of {object}")))
        })
        .await
    }

    /// Removes the quorum of `group` (none: the account's), once its approvers agree.
    pub async fn clear_quorum(&self, ctx: &Ctx<'_>, group: Option<&GroupId>) -> Result<(), Error> {
        let pending = PendingOperation::ClearQuorum {
            group: group.cloned(),
        };
        let op = pending.operation();
        let object = pending.target();
        self.gate(ctx, pending).await?;
        let missing = format!("quorum of {object}");
        self.mutation(ctx, op, "", Some(&object), |event| async move {
            self.quorum_group(ctx, group).await?;
            let scope = scope_of(group);
            if !self
                .store
                .clear_quorum(&ctx.caller.account_id, &scope, &event)
                .await?
            {
                return Err(Error::NotFound(missing));
            }
            Ok(())
        })
        .await
    }

    /// A group quorum's group must exist for the caller.
    async fn quorum_group(&self, ctx: &Ctx<'_>, group: Option<&GroupId>) -> Result<(), Error> {
        if let Some(group) = group {
            self.visible_group(ctx.caller, group).await?;
        }
        Ok(())
    }

    /// The quorum row `spec` asks for, once its rules hold: 1 ≤ required ≤ approvers,
    /// distinct approvers who are active owners or admins of the account (who alone may
    /// hold `approval.decide`), a wait within bounds.
    async fn checked_quorum(
        &self,
        ctx: &Ctx<'_>,
        group: Option<&GroupId>,
        spec: QuorumSpec,
    ) -> Result<QuorumRow, Error> {
        let count = spec.approvers.len();
        if count == 0 || count > MAX_APPROVERS {
            return Err(Error::InvalidInput(format!(
                "approvers: 1 to {MAX_APPROVERS} user ids"
            )));
        }
        let mut distinct = spec.approvers.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() != count {
            return Err(Error::InvalidInput(
                "approvers: a user is named twice".into(),
            ));
        }
        if spec.required == 0 || spec.required as usize > count {
            return Err(Error::InvalidInput(format!(
                "required: between 1 and the number of approvers ({count})"
            )));
        }
        let expires = spec.expires_in_seconds.unwrap_or(DEFAULT_EXPIRY_SECONDS);
        if !EXPIRY_RANGE.contains(&expires) {
            return Err(Error::InvalidInput(format!(
                "expires_in_seconds: {} to {}",
                EXPIRY_RANGE.start(),
                EXPIRY_RANGE.end()
            )));
        }
        for user in &spec.approvers {
            self.check_approver(ctx, user).await?;
        }
        Ok(QuorumRow {
            account_id: ctx.caller.account_id.clone(),
            scope: scope_of(group),
            approvers: spec.approvers,
            required: spec.required,
            expires_in_seconds: expires,
            updated_at: self.now(),
        })
    }

    async fn check_approver(&self, ctx: &Ctx<'_>, user: &UserId) -> Result<(), Error> {
        let member = self.store.member(&ctx.caller.account_id, user).await?;
        match member {
            Some(m) if !m.suspended && matches!(m.role, Role::Owner | Role::Admin) => Ok(()),
            Some(_) => Err(Error::InvalidInput(format!(
                "approver {user} must be an active owner or admin of the account"
            ))),
            None => Err(Error::InvalidInput(format!(
                "approver {user} is not a user of this account"
            ))),
        }
    }
}
