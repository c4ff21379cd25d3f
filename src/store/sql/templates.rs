//! [`TemplateStore`] on SQLite and PostgreSQL.

use super::{SqlStore, commit_audited, exec, must_change};
use crate::authz::Role;
use crate::ids::{AccountId, GroupId, UserId};
use crate::store::{AssignmentRow, AuditEvent, Conflict, StoreError, TemplateRow, TemplateStore};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

impl FromRow<'_, AnyRow> for TemplateRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(TemplateRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            name: r.get("name"),
            capabilities: super::json_column(r, "capabilities", "template capabilities")?,
            created_by: r.get("created_by"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
        })
    }
}

/// A custom template joined with one holder's assignment.
struct Held(TemplateRow, AssignmentRow);

impl FromRow<'_, AnyRow> for Held {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let groups: Option<Vec<GroupId>> = super::json_or_null(r, "groups", "template groups")?;
        let assignment = AssignmentRow {
            account_id: r.get("account_id"),
            user_id: r.get("user_id"),
            template_id: r.get("template_id"),
            groups,
            assigned_at: r.get("assigned_at"),
        };
        Ok(Held(TemplateRow::from_row(r)?, assignment))
    }
}

/// One holder of a template.
struct Holder(UserId);

impl FromRow<'_, AnyRow> for Holder {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Holder(r.get("user_id")))
    }
}

#[async_trait]
impl TemplateStore for SqlStore {
    async fn create_template(&self, t: &TemplateRow, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let insert = sqlx::query(
            "INSERT INTO permission_templates (id, account_id, name, capabilities, created_by,
                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.id)
        .bind(&t.account_id)
        .bind(&t.name)
        .bind(super::json_text(&t.capabilities))
        .bind(&t.created_by)
        .bind(t.created_at)
        .bind(t.updated_at);
        exec(&mut tx, insert).await?;
        commit_audited(tx, event).await
    }

    async fn templates(&self, account_id: &AccountId) -> Result<Vec<TemplateRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM permission_templates WHERE account_id = $1 ORDER BY name",
            )
            .bind(account_id),
        )
        .await
    }

    async fn template(
        &self,
        account_id: &AccountId,
        id: &str,
    ) -> Result<Option<TemplateRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as("SELECT * FROM permission_templates WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id),
        )
        .await
    }

    async fn update_template(&self, t: &TemplateRow, event: &AuditEvent) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE permission_templates SET name = $1, capabilities = $2, updated_at = $3
                 WHERE account_id = $4 AND id = $5",
            )
            .bind(&t.name)
            .bind(super::json_text(&t.capabilities))
            .bind(t.updated_at)
            .bind(&t.account_id)
            .bind(&t.id),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn delete_template(
        &self,
        account_id: &AccountId,
        id: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query(
                "DELETE FROM permission_templates WHERE account_id = $1 AND id = $2
                   AND NOT EXISTS (SELECT 1 FROM member_templates WHERE template_id = $3)",
            )
            .bind(account_id)
            .bind(id)
            .bind(id),
            event,
        )
        .await
    }

    async fn template_holders(
        &self,
        account_id: &AccountId,
        id: &str,
    ) -> Result<Vec<UserId>, StoreError> {
        let holders: Vec<Holder> = self
            .fetch_all(
                sqlx::query_as(
                    "SELECT user_id FROM member_templates WHERE account_id = $1 AND template_id = $2
                     ORDER BY user_id",
                )
                .bind(account_id)
                .bind(id),
            )
            .await?;
        Ok(holders.into_iter().map(|h| h.0).collect())
    }

    async fn member_template(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Option<(TemplateRow, AssignmentRow)>, StoreError> {
        let held: Option<Held> = self
            .fetch_optional(
                sqlx::query_as(
                    "SELECT t.*, m.user_id, m.template_id, m.groups, m.assigned_at
                     FROM member_templates m JOIN permission_templates t ON t.id = m.template_id
                     WHERE m.account_id = $1 AND m.user_id = $2",
                )
                .bind(account_id)
                .bind(user_id),
            )
            .await?;
        Ok(held.map(|Held(template, assignment)| (template, assignment)))
    }

    async fn assign_template(
        &self,
        a: &AssignmentRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // A custom holder's stored role is `member`, so nothing that still reads roles from
        // the memberships (quorum approvers, the last-owner rule) sees more than that.
        let role =
            sqlx::query("UPDATE memberships SET role = $1 WHERE account_id = $2 AND user_id = $3")
                .bind(Role::Member.as_str())
                .bind(&a.account_id)
                .bind(&a.user_id);
        must_change(exec(&mut tx, role).await?, Conflict::Changed)?;
        let groups = a.groups.as_ref().map(super::json_text);
        let upsert = sqlx::query(
            "INSERT INTO member_templates (account_id, user_id, template_id, groups, assigned_at)
             SELECT $1, $2, $3, $4, $5
             WHERE EXISTS (SELECT 1 FROM memberships WHERE account_id = $6 AND user_id = $7)
               AND EXISTS (SELECT 1 FROM permission_templates WHERE account_id = $8 AND id = $9)
             ON CONFLICT (account_id, user_id) DO UPDATE SET template_id = excluded.template_id,
                groups = excluded.groups, assigned_at = excluded.assigned_at",
        )
        .bind(&a.account_id)
        .bind(&a.user_id)
        .bind(&a.template_id)
        .bind(groups)
        .bind(a.assigned_at)
        .bind(&a.account_id)
        .bind(&a.user_id)
        .bind(&a.account_id)
        .bind(&a.template_id);
        must_change(exec(&mut tx, upsert).await?, Conflict::Changed)?;
        commit_audited(tx, event).await
    }

    async fn assign_builtin(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
        role: Role,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let update =
            sqlx::query("UPDATE memberships SET role = $1 WHERE account_id = $2 AND user_id = $3")
                .bind(role.as_str())
                .bind(account_id)
                .bind(user_id);
        must_change(exec(&mut tx, update).await?, Conflict::Changed)?;
        let custom =
            sqlx::query("DELETE FROM member_templates WHERE account_id = $1 AND user_id = $2")
                .bind(account_id)
                .bind(user_id);
        exec(&mut tx, custom).await?;
        commit_audited(tx, event).await
    }
}
