//! Quorum approvals: the approvers a group (or the account) requires for its dangerous
//! operations, and the approvals those operations wait in.

use super::{Operation, delete, get, post, put};

pub const SET_GROUP_QUORUM: Operation = put("/v1/groups/{id}/quorum")
    .summary("Require M of N named approvers for the group's dangerous operations (changing an existing quorum needs its approval)")
    .needs(&["group.write"], "group.quorum.set")
    .exchanges("SetQuorum", "Quorum");

pub const GET_GROUP_QUORUM: Operation = get("/v1/groups/{id}/quorum")
    .summary("The group's quorum (404 when it has none)")
    .needs(&["group.read"], "group.quorum.read")
    .gives("Quorum");

pub const CLEAR_GROUP_QUORUM: Operation = delete("/v1/groups/{id}/quorum")
    .summary("Remove the group's quorum (needs its approval)")
    .needs(&["group.write"], "group.quorum.clear")
    .status(204);

pub const SET_ACCOUNT_QUORUM: Operation = put("/v1/account/quorum")
    .summary("Require M of N named approvers for removing or demoting an owner (changing an existing quorum needs its approval)")
    .needs(&["account.write"], "account.quorum.set")
    .exchanges("SetQuorum", "Quorum");

pub const GET_ACCOUNT_QUORUM: Operation = get("/v1/account/quorum")
    .summary("The account's quorum (404 when it has none)")
    .needs(&["account.read"], "account.quorum.read")
    .gives("Quorum");

pub const CLEAR_ACCOUNT_QUORUM: Operation = delete("/v1/account/quorum")
    .summary("Remove the account's quorum (needs its approval)")
    .needs(&["account.write"], "account.quorum.clear")
    .status(204);

pub const LIST_APPROVALS: Operation = get("/v1/approvals")
    .summary("Approvals of dangerous operations, newest first (?status=pending)")
    .needs(&["approval.read"], "approval.list")
    .gives("ApprovalList");

pub const GET_APPROVAL: Operation = get("/v1/approvals/{id}")
    .summary("One approval, with its votes")
    .needs(&["approval.read"], "approval.read")
    .gives("Approval");

pub const APPROVE: Operation = post("/v1/approvals/{id}/approve")
    .summary("Approve (named approvers only, never the requester); the vote that meets the quorum runs the operation, once")
    .needs(&["approval.decide"], "approval.approve")
    .gives("Approval");

pub const DENY: Operation = post("/v1/approvals/{id}/deny")
    .summary("Deny (named approvers only): the approval ends and nothing runs")
    .needs(&["approval.decide"], "approval.deny")
    .exchanges("DenyApproval", "Approval");

/// The operations that wait for approval when their object's group (or, for owners, the
/// account) has a quorum: they may also answer `202` with an `Approval`.
pub const GATED: &[&Operation] = &[
    &super::DELETE_KEYRING,
    &super::DELETE_KEY,
    &super::DELETE_SECRET,
    &super::ROTATE_MASTER,
    &super::UNFREEZE_GROUP,
    &super::DELETE_GROUP,
    &super::REMOVE_USER,
    &super::UPDATE_USER,
    &SET_GROUP_QUORUM,
    &CLEAR_GROUP_QUORUM,
    &SET_ACCOUNT_QUORUM,
    &CLEAR_ACCOUNT_QUORUM,
    &super::UPDATE_POLICY,
    &super::DELETE_POLICY,
    &super::UNBIND_POLICY,
];
