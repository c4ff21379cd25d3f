//! [`ApprovalStore`] on SQLite and PostgreSQL.
//!
//! A vote, the check that it meets the quorum and the move to `executing` happen in one
//! write transaction (which holds the single-writer lock on both engines), and the move is
//! a conditional UPDATE on `status = 'pending'`: of two racing last votes, one takes the
//! row and the other finds the approval no longer pending.

use super::{
    SqlStore, commit_audited, db_error, exec, json_column, json_text, must_change, named,
    u32_column,
};
use crate::ids::{AccountId, ApprovalId};
use crate::store::{
    ApprovalRow, ApprovalStatus, ApprovalStore, AuditEvent, AuthMethod, Conflict, QuorumRow,
    StoreError, Vote, VoteOutcome, VoteRow,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

impl FromRow<'_, AnyRow> for QuorumRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(QuorumRow {
            account_id: r.get("account_id"),
            scope: r.get("scope"),
            approvers: json_column(r, "approvers", "quorum approvers")?,
            required: u32_column(r, "required")?,
            expires_in_seconds: r.get("expires_in_seconds"),
            updated_at: r.get("updated_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for ApprovalRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ApprovalRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            scope: r.get("scope"),
            operation: r.get("operation"),
            target: r.get("target"),
            params: json_column(r, "params", "approval params")?,
            requester: r.get("requester"),
            requester_method: named(r, "requester_method", AuthMethod::parse)?,
            requester_credential: r.get("requester_credential"),
            approvers: json_column(r, "approvers", "approval approvers")?,
            required: u32_column(r, "required")?,
            status: named(r, "status", ApprovalStatus::parse)?,
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
            finished_at: r.get("finished_at"),
            error: r.get("error"),
            votes: Vec::new(),
        })
    }
}

/// A vote with the approval it belongs to.
struct StoredVote {
    approval_id: ApprovalId,
    vote: VoteRow,
}

impl FromRow<'_, AnyRow> for StoredVote {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(StoredVote {
            approval_id: r.get("approval_id"),
            vote: VoteRow {
                user_id: r.get("user_id"),
                vote: named(r, "vote", Vote::parse)?,
                reason: r.get("reason"),
                voted_at: r.get("voted_at"),
            },
        })
    }
}

/// Hands each approval its votes, oldest first.
fn with_votes(mut approvals: Vec<ApprovalRow>, votes: Vec<StoredVote>) -> Vec<ApprovalRow> {
    for stored in votes {
        if let Some(a) = approvals.iter_mut().find(|a| a.id == stored.approval_id) {
            a.votes.push(stored.vote);
        }
    }
    approvals
}

/// The status and expiry of an approval, read under the writer lock.
async fn pending_state(
    tx: &mut Transaction<'_, Any>,
    id: &ApprovalId,
) -> Result<Option<(String, i64, i64)>, StoreError> {
    sqlx::query_as("SELECT status, expires_at, required FROM approvals WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)
}

/// After an approving vote: takes the approval to `executing` if the approvals now reach
/// the required count. Answers whether this transaction took it.
async fn claim_if_met(
    tx: &mut Transaction<'_, Any>,
    id: &ApprovalId,
    required: i64,
) -> Result<bool, StoreError> {
    let approvals: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM approval_votes WHERE approval_id = $1 AND vote = 'approve'",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error)?;
    if approvals < required {
        return Ok(false);
    }
    let taken = exec(
        tx,
        sqlx::query(
            "UPDATE approvals SET status = 'executing' WHERE id = $1 AND status = 'pending'",
        )
        .bind(id.clone()),
    )
    .await?;
    Ok(taken == 1)
}

#[async_trait]
impl ApprovalStore for SqlStore {
    async fn quorum(
        &self,
        account_id: &AccountId,
        scope: &str,
    ) -> Result<Option<QuorumRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as("SELECT * FROM quorums WHERE account_id = $1 AND scope = $2")
                .bind(account_id)
                .bind(scope),
        )
        .await
    }

    async fn set_quorum(&self, quorum: &QuorumRow, event: &AuditEvent) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query(
                "INSERT INTO quorums
                   (account_id, scope, approvers, required, expires_in_seconds, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (account_id, scope) DO UPDATE SET
                   approvers = excluded.approvers, required = excluded.required,
                   expires_in_seconds = excluded.expires_in_seconds,
                   updated_at = excluded.updated_at",
            )
            .bind(quorum.account_id.clone())
            .bind(quorum.scope.clone())
            .bind(json_text(&quorum.approvers))
            .bind(i64::from(quorum.required))
            .bind(quorum.expires_in_seconds)
            .bind(quorum.updated_at),
            event,
        )
        .await
    }

    async fn clear_quorum(
        &self,
        account_id: &AccountId,
        scope: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query("DELETE FROM quorums WHERE account_id = $1 AND scope = $2")
                .bind(account_id.clone())
                .bind(scope.to_owned()),
            event,
        )
        .await
    }

    async fn create_approval(&self, a: &ApprovalRow, event: &AuditEvent) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query(
                "INSERT INTO approvals (id, account_id, scope, operation, target, params,
                   requester, requester_method, requester_credential, approvers, required,
                   status, created_at, expires_at, finished_at, error)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL, NULL)",
            )
            .bind(a.id.clone())
            .bind(a.account_id.clone())
            .bind(a.scope.clone())
            .bind(a.operation.clone())
            .bind(a.target.clone())
            .bind(a.params.to_string())
            .bind(a.requester.clone())
            .bind(a.requester_method.as_str())
            .bind(a.requester_credential.clone())
            .bind(json_text(&a.approvers))
            .bind(i64::from(a.required))
            .bind(a.status.as_str())
            .bind(a.created_at)
            .bind(a.expires_at),
            event,
        )
        .await
    }

    async fn approval(
        &self,
        account_id: &AccountId,
        id: &ApprovalId,
    ) -> Result<Option<ApprovalRow>, StoreError> {
        let row: Option<ApprovalRow> = self
            .fetch_optional(
                sqlx::query_as("SELECT * FROM approvals WHERE id = $1 AND account_id = $2")
                    .bind(id)
                    .bind(account_id),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let votes = self
            .fetch_all(
                sqlx::query_as(
                    "SELECT * FROM approval_votes WHERE approval_id = $1 ORDER BY voted_at, user_id",
                )
                .bind(id),
            )
            .await?;
        Ok(with_votes(vec![row], votes).pop())
    }

    async fn approvals(
        &self,
        account_id: &AccountId,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalRow>, StoreError> {
        let rows = self
            .fetch_all(
                sqlx::query_as(
                    "SELECT * FROM approvals WHERE account_id = $1 AND ($2 = '' OR status = $2)
                     ORDER BY created_at DESC, id",
                )
                .bind(account_id)
                .bind(status.map_or("", ApprovalStatus::as_str)),
            )
            .await?;
        let votes = self
            .fetch_all(
                sqlx::query_as(
                    "SELECT v.* FROM approval_votes v JOIN approvals a ON a.id = v.approval_id
                     WHERE a.account_id = $1 ORDER BY v.voted_at, v.user_id",
                )
                .bind(account_id),
            )
            .await?;
        Ok(with_votes(rows, votes))
    }

    async fn vote(
        &self,
        id: &ApprovalId,
        vote: &VoteRow,
        event: &AuditEvent,
    ) -> Result<VoteOutcome, StoreError> {
        let mut tx = self.begin().await?;
        let Some((status, expires_at, required)) = pending_state(&mut tx, id).await? else {
            return Err(StoreError::Corrupt(format!("approval {id} vanished")));
        };
        let status = ApprovalStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("approval status {status:?}")))?;
        if status != ApprovalStatus::Pending {
            return Ok(VoteOutcome::NotPending(status));
        }
        if expires_at <= vote.voted_at {
            return Ok(VoteOutcome::Expired);
        }
        let inserted = exec(
            &mut tx,
            sqlx::query(
                "INSERT INTO approval_votes (approval_id, user_id, vote, reason, voted_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (approval_id, user_id) DO NOTHING",
            )
            .bind(id.clone())
            .bind(vote.user_id.clone())
            .bind(vote.vote.as_str())
            .bind(vote.reason.clone())
            .bind(vote.voted_at),
        )
        .await?;
        if inserted == 0 {
            return Ok(VoteOutcome::AlreadyVoted);
        }
        let outcome = match vote.vote {
            Vote::Deny => {
                let denied = exec(
                    &mut tx,
                    sqlx::query(
                        "UPDATE approvals SET status = 'denied', finished_at = $2
                         WHERE id = $1 AND status = 'pending'",
                    )
                    .bind(id.clone())
                    .bind(vote.voted_at),
                )
                .await?;
                must_change(denied, Conflict::Changed)?;
                VoteOutcome::Denied
            }
            Vote::Approve if claim_if_met(&mut tx, id, required).await? => VoteOutcome::Claimed,
            Vote::Approve => VoteOutcome::Counted,
        };
        commit_audited(tx, event).await?;
        Ok(outcome)
    }

    async fn finish_approval(
        &self,
        id: &ApprovalId,
        status: ApprovalStatus,
        error: Option<&str>,
        now: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE approvals SET status = $2, error = $3, finished_at = $4
                 WHERE id = $1 AND status = 'executing'",
            )
            .bind(id.clone())
            .bind(status.as_str())
            .bind(error.map(str::to_owned))
            .bind(now),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn overdue_approvals(&self, now: i64) -> Result<Vec<ApprovalRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM approvals WHERE status = 'pending' AND expires_at <= $1
                 ORDER BY expires_at, id",
            )
            .bind(now),
        )
        .await
    }

    async fn expire_approval(
        &self,
        id: &ApprovalId,
        now: i64,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query(
                "UPDATE approvals SET status = 'expired', finished_at = $2
                 WHERE id = $1 AND status = 'pending' AND expires_at <= $2",
            )
            .bind(id.clone())
            .bind(now),
            event,
        )
        .await
    }
}
