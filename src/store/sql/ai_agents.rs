//! [`AiAgentStore`] on SQLite and PostgreSQL.

use super::{SqlStore, commit_audited, exec, must_change};
use crate::ids::{AccountId, AiAgentId, AiTokenId, GroupId};
use crate::store::{
    AgentStatus, AiAgentRow, AiAgentStore, AiTokenRow, AuditEvent, Conflict, Credential, StoreError,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

impl FromRow<'_, AnyRow> for AiAgentRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AiAgentRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            name: r.get("name"),
            status: super::named(r, "status", AgentStatus::parse)?,
            scopes: super::json_column(r, "scopes", "agent scopes")?,
            groups: super::json_column(r, "group_ids", "agent groups")?,
            public_key: r.get("public_key"),
            created_at: r.get("created_at"),
            created_by: r.get("created_by"),
            last_used_at: r.get("last_used_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for AiTokenRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AiTokenRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            name: r.get("name"),
            scopes: super::json_column(r, "scopes", "agent token scopes")?,
            groups: super::json_column(r, "group_ids", "agent token groups")?,
            created_by: r.get("created_by"),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
            used_at: r.get("used_at"),
            agent_id: r.get("agent_id"),
        })
    }
}

/// How many times an allowlist append retries when another write changed the list first.
const APPEND_ATTEMPTS: usize = 5;

#[async_trait]
impl AiAgentStore for SqlStore {
    async fn create_ai_token(
        &self,
        token: &Credential<AiTokenRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let t = &token.record;
        let insert = sqlx::query(
            "INSERT INTO ai_bootstrap_tokens (id, account_id, name, scopes, group_ids, digest,
                created_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&t.id)
        .bind(&t.account_id)
        .bind(&t.name)
        .bind(super::json_text(&t.scopes))
        .bind(super::json_text(&t.groups))
        .bind(&token.digest)
        .bind(&t.created_by)
        .bind(t.created_at)
        .bind(t.expires_at);
        let mut tx = self.begin().await?;
        exec(&mut tx, insert).await?;
        commit_audited(tx, event).await
    }

    async fn ai_token(&self, id: &AiTokenId) -> Result<Option<Credential<AiTokenRow>>, StoreError> {
        self.fetch_optional(
            sqlx::query_as("SELECT * FROM ai_bootstrap_tokens WHERE id = $1").bind(id),
        )
        .await
    }

    async fn ai_tokens(&self, account_id: &AccountId) -> Result<Vec<AiTokenRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM ai_bootstrap_tokens WHERE account_id = $1 ORDER BY created_at, id",
            )
            .bind(account_id),
        )
        .await
    }

    async fn delete_ai_token(
        &self,
        account_id: &AccountId,
        id: &AiTokenId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query("DELETE FROM ai_bootstrap_tokens WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id),
            event,
        )
        .await
    }

    async fn register_ai_agent(
        &self,
        token: &AiTokenId,
        a: &AiAgentRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let taken = exec(
            &mut tx,
            sqlx::query(
                "UPDATE ai_bootstrap_tokens SET used_at = $1, agent_id = $2
                 WHERE id = $3 AND used_at IS NULL AND expires_at > $1",
            )
            .bind(a.created_at)
            .bind(&a.id)
            .bind(token),
        )
        .await?;
        must_change(taken, Conflict::TokenUnusable)?;
        let insert = sqlx::query(
            "INSERT INTO ai_agents (id, account_id, name, status, scopes, group_ids, public_key,
                created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&a.id)
        .bind(&a.account_id)
        .bind(&a.name)
        .bind(a.status.as_str())
        .bind(super::json_text(&a.scopes))
        .bind(super::json_text(&a.groups))
        .bind(&a.public_key)
        .bind(a.created_at)
        .bind(&a.created_by);
        exec(&mut tx, insert).await?;
        commit_audited(tx, event).await
    }

    async fn ai_agent(&self, id: &AiAgentId) -> Result<Option<AiAgentRow>, StoreError> {
        self.fetch_optional(sqlx::query_as("SELECT * FROM ai_agents WHERE id = $1").bind(id))
            .await
    }

    async fn ai_agents(&self, account_id: &AccountId) -> Result<Vec<AiAgentRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as("SELECT * FROM ai_agents WHERE account_id = $1 ORDER BY name, id")
                .bind(account_id),
        )
        .await
    }

    async fn update_ai_agent(&self, a: &AiAgentRow, event: &AuditEvent) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE ai_agents SET name = $1, status = $2, scopes = $3, group_ids = $4
                 WHERE account_id = $5 AND id = $6",
            )
            .bind(&a.name)
            .bind(a.status.as_str())
            .bind(super::json_text(&a.scopes))
            .bind(super::json_text(&a.groups))
            .bind(&a.account_id)
            .bind(&a.id),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn add_ai_agent_group(&self, id: &AiAgentId, group: &GroupId) -> Result<(), StoreError> {
        for _ in 0..APPEND_ATTEMPTS {
            let Some(agent) = self.ai_agent(id).await? else {
                return Ok(());
            };
            if agent.groups.is_empty() || agent.groups.contains(group) {
                return Ok(());
            }
            let old = super::json_text(&agent.groups);
            let mut groups = agent.groups;
            groups.push(group.clone());
            // Compare and swap: a concurrent append is not lost, it makes this one retry.
            let changed =
                sqlx::query("UPDATE ai_agents SET group_ids = $1 WHERE id = $2 AND group_ids = $3")
                    .bind(super::json_text(&groups))
                    .bind(id)
                    .bind(old)
                    .execute(&self.pool)
                    .await
                    .map_err(super::db_error)?
                    .rows_affected();
            if changed == 1 {
                return Ok(());
            }
        }
        Err(StoreError::Conflict(Conflict::Changed))
    }

    async fn delete_ai_agent(
        &self,
        account_id: &AccountId,
        id: &AiAgentId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query("DELETE FROM ai_agents WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id),
            event,
        )
        .await
    }

    async fn touch_ai_agent(&self, id: &AiAgentId, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE ai_agents SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(super::db_error)?;
        Ok(())
    }
}
