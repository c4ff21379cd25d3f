//! Rows and persistence of AI agents and their one-time bootstrap tokens
//! (docs/ai-agents.md). Agents live in their own tables, never among apps or machines, so a
//! lookup for one can never return the other. A token is kept only as its HSM digest.

use super::{AuditEvent, Credential, StoreError};
use crate::ids::{AccountId, AiAgentId, AiTokenId, GroupId};
use async_trait::async_trait;

stored_names! {
    /// Whether an agent may sign requests.
    pub enum AgentStatus {
        Active => "active",
        Disabled => "disabled",
    }
}

/// An AI agent: its public key, scopes and group allowlist (empty: every group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiAgentRow {
    pub id: AiAgentId,
    pub account_id: AccountId,
    pub name: String,
    pub status: AgentStatus,
    pub scopes: Vec<String>,
    pub groups: Vec<GroupId>,
    /// The raw 32-byte Ed25519 public key (the private key never reaches Coffer).
    pub public_key: Vec<u8>,
    pub created_at: i64,
    pub created_by: String,
    pub last_used_at: Option<i64>,
}

/// A bootstrap token, without its digest (that stays in [`Credential`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiTokenRow {
    pub id: AiTokenId,
    pub account_id: AccountId,
    /// The name, scopes and groups the agent registered with it gets.
    pub name: String,
    pub scopes: Vec<String>,
    pub groups: Vec<GroupId>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub agent_id: Option<AiAgentId>,
}

#[async_trait]
pub trait AiAgentStore: Send + Sync {
    async fn create_ai_token(
        &self,
        token: &Credential<AiTokenRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn ai_token(&self, id: &AiTokenId) -> Result<Option<Credential<AiTokenRow>>, StoreError>;
    async fn ai_tokens(&self, account_id: &AccountId) -> Result<Vec<AiTokenRow>, StoreError>;
    /// Deletes an unused token; answers whether it was there.
    async fn delete_ai_token(
        &self,
        account_id: &AccountId,
        id: &AiTokenId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Marks the token used (only if it is still unused and unexpired at `agent.created_at`)
    /// and stores the agent, in one transaction with `event`; `TokenUnusable` otherwise.
    async fn register_ai_agent(
        &self,
        token: &AiTokenId,
        agent: &AiAgentRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The agent with this id, in any account (the signed-request check finds it by id).
    async fn ai_agent(&self, id: &AiAgentId) -> Result<Option<AiAgentRow>, StoreError>;
    async fn ai_agents(&self, account_id: &AccountId) -> Result<Vec<AiAgentRow>, StoreError>;
    /// Replaces the agent's name, status, scopes and groups; `Changed` if it is gone.
    async fn update_ai_agent(
        &self,
        agent: &AiAgentRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Appends `group` to the agent's allowlist, when the list is not empty (empty means
    /// every group already).
    async fn add_ai_agent_group(&self, id: &AiAgentId, group: &GroupId) -> Result<(), StoreError>;
    async fn delete_ai_agent(
        &self,
        account_id: &AccountId,
        id: &AiAgentId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
    async fn touch_ai_agent(&self, id: &AiAgentId, now: i64) -> Result<(), StoreError>;
}
