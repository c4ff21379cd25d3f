//! Rows and persistence of security groups: their lifecycle and their members (users with
//! a group role, apps with the operations they may perform).

use super::{AuditEvent, StoreError};
use crate::authz::GroupRole;
use crate::ids::{AccountId, AppId, GroupId, UserId};
use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: GroupId,
    pub account_id: AccountId,
    pub name: String,
    pub master_version: u32,
    pub created_at: i64,
    /// When the group was frozen (no app or machine reads a secret or decrypts there).
    pub frozen_at: Option<i64>,
    /// Why: the canary that tripped, or the operator's reason.
    pub frozen_reason: Option<String>,
}

/// The members of a group: users with their group role, apps with their operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMembers {
    pub users: Vec<(UserId, GroupRole)>,
    pub apps: Vec<(AppId, Vec<String>)>,
}

/// One member of a group: a user or an app, each kept in its own table.
#[derive(Debug, Clone, Copy)]
pub enum GroupMember<'a> {
    User(&'a UserId),
    App(&'a AppId),
}

impl GroupMember<'_> {
    /// The member's id as text (audit objects, messages, the caller cache).
    pub fn id(&self) -> &str {
        match self {
            GroupMember::User(id) => id,
            GroupMember::App(id) => id,
        }
    }
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    async fn create_group(&self, group: &GroupRow, event: &AuditEvent) -> Result<(), StoreError>;
    async fn group(
        &self,
        account_id: &AccountId,
        id: &GroupId,
    ) -> Result<Option<GroupRow>, StoreError>;
    async fn groups(&self, account_id: &AccountId) -> Result<Vec<GroupRow>, StoreError>;
    async fn rename_group(
        &self,
        id: &GroupId,
        name: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Live keyrings and keys in the group.
    async fn group_object_count(&self, group_id: &GroupId) -> Result<u64, StoreError>;
    /// Deletes a group and returns how many live objects it moved to the trash; without
    /// `force`, a group that holds any is left as it was (`Conflict::GroupHoldsObjects`).
    /// Counted in the deletion's own transaction, so an object created concurrently is
    /// either refused with the deletion or seen by it.
    async fn delete_group(
        &self,
        id: &GroupId,
        at: i64,
        force: bool,
        event: &AuditEvent,
    ) -> Result<u64, StoreError>;
    async fn group_members(&self, group_id: &GroupId) -> Result<GroupMembers, StoreError>;
    /// Groups deleted before `cutoff` whose master keys are not destroyed yet.
    async fn groups_to_purge(&self, cutoff: i64) -> Result<Vec<GroupRow>, StoreError>;
    /// Records that a deleted group's master keys are destroyed (`master_version` 0).
    async fn mark_group_purged(&self, id: &GroupId) -> Result<(), StoreError>;
    /// The groups a user belongs to in an account, with the group role.
    async fn user_groups(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Vec<(GroupId, GroupRole)>, StoreError>;
    async fn set_group_user(
        &self,
        group_id: &GroupId,
        user_id: &UserId,
        role: GroupRole,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn set_group_app(
        &self,
        group_id: &GroupId,
        app_id: &AppId,
        operations_json: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Removes a user or an app from a group; false if it was not a member.
    async fn remove_group_member(
        &self,
        group_id: &GroupId,
        member: GroupMember<'_>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
}
