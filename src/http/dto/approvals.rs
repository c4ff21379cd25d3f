//! Quorums and approvals: the quorum a group or the account requires, and the approvals
//! dangerous operations wait in (docs/approvals.md).

use super::not_null;
use crate::clock::rfc3339;
use crate::service::{ApprovalRow, ApprovalStatus, QuorumRow, QuorumSpec, Vote};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `required` of `approvers` must approve a dangerous operation before it runs.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuorum {
    /// User ids of active owners or admins of the account, each once.
    #[schema(min_items = 1, max_items = 20)]
    pub approvers: Vec<String>,
    /// How many of them must approve (1 to the number of approvers).
    #[schema(minimum = 1, maximum = 20)]
    pub required: u32,
    /// How long an approval waits for its quorum: 300 to 2592000 seconds, default 86400.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, minimum = 300, maximum = 2592000)]
    pub expires_in_seconds: Option<i64>,
}

impl From<SetQuorum> for QuorumSpec {
    fn from(body: SetQuorum) -> Self {
        Self {
            approvers: body.approvers.into_iter().map(Into::into).collect(),
            required: body.required,
            expires_in_seconds: body.expires_in_seconds,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quorum {
    /// The group id, or `account`.
    pub scope: String,
    pub approvers: Vec<String>,
    pub required: u32,
    pub expires_in_seconds: i64,
    pub updated_at: String,
}

impl From<&QuorumRow> for Quorum {
    fn from(row: &QuorumRow) -> Self {
        Self {
            scope: row.scope.clone(),
            approvers: row.approvers.iter().map(ToString::to_string).collect(),
            required: row.required,
            expires_in_seconds: row.expires_in_seconds,
            updated_at: rfc3339(row.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DenyApproval {
    /// Why (at most 500 characters, one line; kept with the vote).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 500)]
    pub reason: Option<String>,
}

/// One approver's vote.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalVote {
    pub user_id: String,
    pub at: String,
    pub reason: Option<String>,
}

/// A dangerous operation waiting for (or past) its quorum.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub approval_id: String,
    /// `pending`, `executing`, `executed`, `failed`, `denied` or `expired`.
    pub status: String,
    /// The operation's audit action, e.g. `keyring.delete`.
    pub operation: String,
    /// The operation's object, e.g. `keyring/payments`.
    pub target: String,
    /// The group id, or `account`.
    pub scope: String,
    /// The user who asked; the operation runs as them.
    pub requester: String,
    pub approvers: Vec<String>,
    pub required: u32,
    /// The approving votes so far.
    pub approvals: Vec<ApprovalVote>,
    /// The deny that ended it, if one did.
    pub denial: Option<ApprovalVote>,
    pub created_at: String,
    pub expires_at: String,
    pub finished_at: Option<String>,
    /// Why a failed approval's operation failed.
    pub error: Option<String>,
}

impl From<&ApprovalRow> for Approval {
    fn from(row: &ApprovalRow) -> Self {
        let votes = |kind: Vote| {
            row.votes
                .iter()
                .filter(move |v| v.vote == kind)
                .map(|v| ApprovalVote {
                    user_id: v.user_id.to_string(),
                    at: rfc3339(v.voted_at),
                    reason: v.reason.clone(),
                })
        };
        Self {
            approval_id: row.id.to_string(),
            status: row.status.as_str().to_owned(),
            operation: row.operation.clone(),
            target: row.target.clone(),
            scope: row.scope.clone(),
            requester: row.requester.to_string(),
            approvers: row.approvers.iter().map(ToString::to_string).collect(),
            required: row.required,
            approvals: votes(Vote::Approve).collect(),
            denial: votes(Vote::Deny).next(),
            created_at: rfc3339(row.created_at),
            expires_at: rfc3339(row.expires_at),
            finished_at: row.finished_at.map(rfc3339),
            error: row.error.clone(),
        }
    }
}

/// `GET /v1/approvals?status=`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalQuery {
    pub status: Option<String>,
}

impl ApprovalQuery {
    /// The status asked for; an unknown word is a 400.
    pub fn status(&self) -> Result<Option<ApprovalStatus>, crate::service::Error> {
        self.status
            .as_deref()
            .map(|word| {
                ApprovalStatus::parse(word).ok_or_else(|| {
                    crate::service::Error::InvalidInput(format!(
                        "status: one of pending, executing, executed, failed, denied, expired (not {word:?})"
                    ))
                })
            })
            .transpose()
    }
}
