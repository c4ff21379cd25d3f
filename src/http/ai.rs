//! AI agents over HTTP (docs/ai-agents.md): the users' management routes and registration
//! here, the agent-facing routes in [`facing`] behind the [`AgentAuthed`] extractor, which
//! accepts an agent's signature (`X-Agent-Id`) and nothing else.

pub mod facing;

use super::dto::not_null;
use super::handlers::{Created, Reply, created, no_content, ok};
use super::openapi::fields;
use super::{Anonymous, AppState, Authed, JsonBody};
use crate::clock::rfc3339;
use crate::ids::{AiAgentId, AiTokenId, GroupId};
use crate::service::{AgentPatch, AgentStatus, AgentTokenSpec, AiAgentRow, AiTokenRow};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentToken {
    #[schema(schema_with = fields::agent_name)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = fields::agent_scopes)]
    pub scopes: Vec<String>,
    /// The group allowlist; empty (the default) is every group, current and future.
    #[serde(default)]
    #[schema(schema_with = fields::group_ids)]
    pub groups: Vec<GroupId>,
    /// default 3600
    #[schema(schema_with = fields::agent_token_ttl)]
    pub ttl_secs: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    #[schema(schema_with = fields::secret)]
    pub token: String,
    /// base64 of the raw 32-byte Ed25519 public key
    pub public_key: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(schema_with = fields::agent_name)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(schema_with = fields::agent_scopes)]
    pub scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(schema_with = fields::group_ids)]
    pub groups: Option<Vec<GroupId>>,
}

/// A bootstrap token as listed: never its text.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentToken {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub groups: Vec<String>,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub agent_id: Option<String>,
}

impl From<&AiTokenRow> for AgentToken {
    fn from(t: &AiTokenRow) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.clone(),
            scopes: t.scopes.clone(),
            groups: t.groups.iter().map(ToString::to_string).collect(),
            created_by: t.created_by.clone(),
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            used_at: t.used_at.map(rfc3339),
            agent_id: t.agent_id.as_ref().map(ToString::to_string),
        }
    }
}

/// A bootstrap token as issued: its text, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuedAgentToken {
    pub id: String,
    pub token: String,
    pub expires_at: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub groups: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub status: String,
    pub scopes: Vec<String>,
    pub groups: Vec<String>,
    /// Base64 of the raw 32-byte Ed25519 public key.
    pub public_key: String,
    pub created_at: String,
    pub created_by: String,
    pub last_used_at: Option<String>,
}

impl From<&AiAgentRow> for Agent {
    fn from(a: &AiAgentRow) -> Self {
        use base64::Engine;
        Self {
            id: a.id.to_string(),
            account_id: a.account_id.to_string(),
            name: a.name.clone(),
            status: a.status.as_str().to_owned(),
            scopes: a.scopes.clone(),
            groups: a.groups.iter().map(ToString::to_string).collect(),
            public_key: base64::engine::general_purpose::STANDARD.encode(&a.public_key),
            created_at: rfc3339(a.created_at),
            created_by: a.created_by.clone(),
            last_used_at: a.last_used_at.map(rfc3339),
        }
    }
}

pub async fn create_token(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<CreateAgentToken>,
) -> Reply<Created<IssuedAgentToken>> {
    let spec = AgentTokenSpec {
        name: body.name,
        scopes: body.scopes,
        groups: body.groups,
        ttl_secs: body.ttl_secs,
    };
    let issued = s.service.create_agent_token(&auth.ctx(), spec).await?;
    let row = &issued.row;
    Ok((
        StatusCode::CREATED,
        Json(IssuedAgentToken {
            id: row.id.to_string(),
            token: issued.token.expose_secret().to_owned(),
            expires_at: rfc3339(row.expires_at),
            name: row.name.clone(),
            scopes: row.scopes.clone(),
            groups: row.groups.iter().map(ToString::to_string).collect(),
        }),
    ))
}

pub async fn list_tokens(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<AgentToken>>> {
    let rows = s.service.list_agent_tokens(&auth.ctx()).await?;
    Ok(Json(rows.iter().map(AgentToken::from).collect()))
}

pub async fn delete_token(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AiTokenId>,
) -> Reply<StatusCode> {
    no_content(s.service.delete_agent_token(&auth.ctx(), &id).await)
}

pub async fn register(
    anon: Anonymous,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<RegisterAgent>,
) -> Reply<Created<Agent>> {
    let agent = s
        .service
        .register_agent(&anon.meta, &body.token, &body.public_key)
        .await?;
    created(&agent)
}

pub async fn list(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<Agent>>> {
    let rows = s.service.list_agents(&auth.ctx()).await?;
    Ok(Json(rows.iter().map(Agent::from).collect()))
}

pub async fn get(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AiAgentId>,
) -> Reply<Json<Agent>> {
    ok(&s.service.get_agent(&auth.ctx(), &id).await?)
}

pub async fn update(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AiAgentId>,
    JsonBody(body): JsonBody<UpdateAgent>,
) -> Reply<Json<Agent>> {
    let patch = AgentPatch {
        name: body.name,
        scopes: body.scopes,
        groups: body.groups,
    };
    ok(&s.service.update_agent(&auth.ctx(), &id, patch).await?)
}

pub async fn disable(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AiAgentId>,
) -> Reply<Json<Agent>> {
    let agent = s
        .service
        .set_agent_status(&auth.ctx(), &id, AgentStatus::Disabled)
        .await?;
    ok(&agent)
}

pub async fn enable(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AiAgentId>,
) -> Reply<Json<Agent>> {
    let agent = s
        .service
        .set_agent_status(&auth.ctx(), &id, AgentStatus::Active)
        .await?;
    ok(&agent)
}

pub async fn delete(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AiAgentId>,
) -> Reply<StatusCode> {
    no_content(s.service.delete_agent(&auth.ctx(), &id).await)
}
