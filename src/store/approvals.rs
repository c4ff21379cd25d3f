//! Rows and persistence of quorum approvals: the quorum a group (or the account) requires
//! for its dangerous operations, the pending approvals those operations became, and each
//! approver's vote.
//!
//! The store decides the one thing that must be decided under the writer lock: whether a
//! vote is the one that meets the quorum. [`ApprovalStore::vote`] records the vote and, when
//! it reaches the required count, moves the approval from `pending` to `executing` with one
//! conditional UPDATE in the same transaction, so of two racing approvers (on two nodes)
//! exactly one is told to run the operation.

use super::{AuditEvent, AuthMethod, StoreError};
use crate::ids::{AccountId, ApprovalId, UserId};
use async_trait::async_trait;

/// The scope of an account-level quorum (removing an owner); a group's quorum has the
/// group id as its scope.
pub const ACCOUNT_SCOPE: &str = "account";

stored_names! {
    /// Where an approval stands.
    pub enum ApprovalStatus {
        /// Waiting for votes; may still be approved, denied or expire.
        Pending => "pending",
        /// The quorum was met and one node is running the operation.
        Executing => "executing",
        /// The operation ran and succeeded.
        Executed => "executed",
        /// The operation ran (or could not run) and failed; `error` says why.
        Failed => "failed",
        /// An approver denied it; nothing ran.
        Denied => "denied",
        /// Nobody met the quorum in time; nothing ran.
        Expired => "expired",
    }
}

stored_names! {
    /// An approver's decision.
    pub enum Vote {
        Approve => "approve",
        Deny => "deny",
    }
}

/// The approvers a scope (a group id, or [`ACCOUNT_SCOPE`]) requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumRow {
    pub account_id: AccountId,
    pub scope: String,
    pub approvers: Vec<UserId>,
    pub required: u32,
    pub expires_in_seconds: i64,
    pub updated_at: i64,
}

/// One approver's vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteRow {
    pub user_id: UserId,
    pub vote: Vote,
    pub reason: Option<String>,
    pub voted_at: i64,
}

/// A dangerous operation waiting for (or past) its quorum. `params` is what the service
/// needs to run it later (names and ids, never a secret value).
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRow {
    pub id: ApprovalId,
    pub account_id: AccountId,
    pub scope: String,
    /// The audit action of the gated operation (`keyring.delete`).
    pub operation: String,
    /// The audit object of the gated operation (`keyring/payments`).
    pub target: String,
    pub params: serde_json::Value,
    /// The user who asked, how they authenticated and with which credential: the operation
    /// runs as them.
    pub requester: UserId,
    pub requester_method: AuthMethod,
    pub requester_credential: Option<String>,
    /// A copy of the quorum at request time: changing the quorum later does not move the
    /// goalposts of approvals already asked for.
    pub approvers: Vec<UserId>,
    pub required: u32,
    pub status: ApprovalStatus,
    pub created_at: i64,
    pub expires_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    pub votes: Vec<VoteRow>,
}

/// What a vote did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteOutcome {
    /// Counted; the quorum is not met yet.
    Counted,
    /// This vote met the quorum and took the approval to `executing`: the caller, and only
    /// the caller, runs the operation.
    Claimed,
    /// The deny ended the approval.
    Denied,
    /// Nothing written: this user already voted.
    AlreadyVoted,
    /// Nothing written: the approval is no longer pending.
    NotPending(ApprovalStatus),
    /// Nothing written: the approval expired (maintenance has not marked it yet).
    Expired,
}

#[async_trait]
pub trait ApprovalStore: Send + Sync {
    async fn quorum(
        &self,
        account_id: &AccountId,
        scope: &str,
    ) -> Result<Option<QuorumRow>, StoreError>;
    /// Creates or replaces the quorum of its scope, with its audit event.
    async fn set_quorum(&self, quorum: &QuorumRow, event: &AuditEvent) -> Result<(), StoreError>;
    /// Removes the quorum of `scope`; answers whether there was one (nothing is written
    /// otherwise).
    async fn clear_quorum(
        &self,
        account_id: &AccountId,
        scope: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Records a new pending approval in the transaction of the request's audit event.
    async fn create_approval(
        &self,
        approval: &ApprovalRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn approval(
        &self,
        account_id: &AccountId,
        id: &ApprovalId,
    ) -> Result<Option<ApprovalRow>, StoreError>;
    /// The account's approvals, newest first, optionally only those with `status`.
    async fn approvals(
        &self,
        account_id: &AccountId,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalRow>, StoreError>;
    /// Records `vote` on a pending, unexpired approval with its audit event and answers
    /// what it did; see the module documentation for the exactly-once rule.
    async fn vote(
        &self,
        id: &ApprovalId,
        vote: &VoteRow,
        event: &AuditEvent,
    ) -> Result<VoteOutcome, StoreError>;
    /// Moves an `executing` approval to `executed` or `failed`, with its audit event.
    async fn finish_approval(
        &self,
        id: &ApprovalId,
        status: ApprovalStatus,
        error: Option<&str>,
        now: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Pending approvals whose expiry is at or before `now`, of every account.
    async fn overdue_approvals(&self, now: i64) -> Result<Vec<ApprovalRow>, StoreError>;
    /// Marks one overdue approval `expired` with its audit event, if it is still pending;
    /// answers whether it was.
    async fn expire_approval(
        &self,
        id: &ApprovalId,
        now: i64,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
}
