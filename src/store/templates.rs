//! Permission templates and their assignments, as stored (docs/templates.md).
//!
//! Only custom templates are rows: the built-in ones are the roles of the memberships. A
//! member with a row in the assignments holds that custom template instead of their role's;
//! changing their role (by any route) removes the row, in the database itself.

use super::{AuditEvent, StoreError};
use crate::authz::Role;
use crate::ids::{AccountId, GroupId, UserId};
use async_trait::async_trait;

/// A custom template of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRow {
    pub id: String,
    pub account_id: AccountId,
    pub name: String,
    /// Capability names (checked against the fixed list when written).
    pub capabilities: Vec<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A member's custom template and the groups its group-scoped capabilities reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRow {
    pub account_id: AccountId,
    pub user_id: UserId,
    pub template_id: String,
    /// `None`: every group of the account.
    pub groups: Option<Vec<GroupId>>,
    pub assigned_at: i64,
}

#[async_trait]
pub trait TemplateStore: Send + Sync {
    async fn create_template(&self, t: &TemplateRow, event: &AuditEvent) -> Result<(), StoreError>;
    async fn templates(&self, account_id: &AccountId) -> Result<Vec<TemplateRow>, StoreError>;
    async fn template(
        &self,
        account_id: &AccountId,
        id: &str,
    ) -> Result<Option<TemplateRow>, StoreError>;
    /// Replaces the name and capabilities; `Conflict::Changed` if it is gone.
    async fn update_template(&self, t: &TemplateRow, event: &AuditEvent) -> Result<(), StoreError>;
    /// Deletes a template nobody holds; false if it is gone or still held.
    async fn delete_template(
        &self,
        account_id: &AccountId,
        id: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// The members holding the template.
    async fn template_holders(
        &self,
        account_id: &AccountId,
        id: &str,
    ) -> Result<Vec<UserId>, StoreError>;
    /// The custom template a member holds, with their assignment, if any (read on every
    /// caller verification).
    async fn member_template(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Option<(TemplateRow, AssignmentRow)>, StoreError>;
    /// Gives a member a custom template (replacing any other); their stored role becomes
    /// `member`, the least any role-reading rule sees.
    async fn assign_template(
        &self,
        a: &AssignmentRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Gives a member a built-in template: sets their role and drops any custom one.
    async fn assign_builtin(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
        role: Role,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
}
