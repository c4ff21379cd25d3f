//! The agent-facing routes. [`AgentAuthed`] accepts only an agent's signature; each handler
//! checks the route's scope, then runs the user route's own handler with the agent as the
//! caller, whose answers are metadata only (no value, no decrypted payload).

use super::super::body::BodyDigest;
use super::super::handlers::{Created, Reply};
use super::super::{AppState, Authed, CallerSlot, JsonBody, dto, handlers, tls};
use super::super::{alerts, machines, secrets, shares};
use super::Agent;
use crate::catalogue::{self as op, Operation};
use crate::service::{AgentRequest, Caller, Error, RequestMeta};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{header, request::Parts};
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;

/// A request authenticated by an agent's signature.
pub struct AgentAuthed {
    pub caller: Arc<Caller>,
    pub meta: RequestMeta,
}

impl AgentAuthed {
    pub fn ctx(&self) -> crate::service::Ctx<'_> {
        crate::service::Ctx {
            meta: &self.meta,
            caller: &self.caller,
        }
    }

    /// The same request as the user routes' handlers take it: the caller is the agent.
    fn authed(self) -> Authed {
        Authed {
            caller: self.caller,
            meta: self.meta,
        }
    }
}

fn target_of(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned())
}

/// What the service needs to check an agent's signature.
fn agent_request(parts: &Parts) -> AgentRequest {
    use crate::auth::signed;
    AgentRequest {
        headers: signed::SignedHeaders::parse_agent(&parts.headers),
        claimed_machine_id: parts
            .headers
            .get(signed::AGENT_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        method: parts.method.as_str().to_owned(),
        target: target_of(parts),
        body_sha256: parts.extensions.get::<BodyDigest>().map_or_else(
            || <sha2::Sha256 as sha2::Digest>::digest(b"").into(),
            |d| d.0,
        ),
        // An agent's nonce is always claimed before its request runs.
        claim_with_event: false,
    }
}

/// Why a request on an agent-facing route carries no usable agent credential, if it does not.
fn misplaced(parts: &Parts) -> Option<&'static str> {
    let headers = &parts.headers;
    if headers.contains_key(header::AUTHORIZATION) {
        Some("bearer_on_agent_route")
    } else if headers.contains_key(crate::auth::signed::MACHINE_ID) {
        Some("machine_on_agent_route")
    } else if !headers.contains_key(crate::auth::signed::AGENT_ID) {
        let certificate = parts
            .extensions
            .get::<tls::PeerCertificates>()
            .is_some_and(|c| !c.0.is_empty());
        Some(if certificate {
            "certificate_on_agent_route"
        } else {
            "no_agent_signature"
        })
    } else {
        None
    }
}

impl FromRequestParts<AppState> for AgentAuthed {
    type Rejection = super::super::ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let meta = parts
            .extensions
            .get::<RequestMeta>()
            .cloned()
            .unwrap_or_else(|| RequestMeta::new(crate::service::new_event_id("req"), None));
        if let Some(reason) = misplaced(parts) {
            let target = target_of(parts);
            return Err(state
                .service
                .refuse_misplaced_credential(&meta, &target, reason)
                .await
                .into());
        }
        let caller = state
            .service
            .authenticate_agent(&meta, agent_request(parts))
            .await?;
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            *slot.0.lock().expect("caller slot poisoned") = Some(Arc::clone(&caller));
        }
        tracing::Span::current().record("principal", caller.principal_id.as_str());
        Ok(Self { caller, meta })
    }
}

/// The agent with `op`'s scope, as the user routes' handlers take a caller.
async fn scoped(s: &AppState, agent: AgentAuthed, op: &Operation) -> Result<Authed, Error> {
    s.service.require_agent_scope(&agent.ctx(), op).await?;
    Ok(agent.authed())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsQuery {
    pub group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachinesQuery {
    pub status: Option<String>,
}

pub async fn whoami(agent: AgentAuthed, State(s): State<AppState>) -> Reply<Json<Agent>> {
    let row = s.service.agent_whoami(&agent.ctx()).await?;
    Ok(Json(Agent::from(&row)))
}

pub async fn list_groups(
    agent: AgentAuthed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::Group>>> {
    let auth = scoped(&s, agent, &op::AI_LIST_GROUPS).await?;
    handlers::list_groups(auth, State(s)).await
}

pub async fn create_group(
    agent: AgentAuthed,
    State(s): State<AppState>,
    body: JsonBody<dto::CreateGroup>,
) -> Reply<Created<dto::Group>> {
    let auth = scoped(&s, agent, &op::AI_CREATE_GROUP).await?;
    let (caller, meta) = (Arc::clone(&auth.caller), auth.meta.clone());
    let created = handlers::create_group(auth, State(s.clone()), body).await?;
    let ctx = crate::service::Ctx {
        meta: &meta,
        caller: &caller,
    };
    let group = crate::ids::GroupId::from(created.1.id.as_str());
    s.service.agent_created_group(&ctx, &group).await?;
    Ok(created)
}

pub async fn list_secrets(
    agent: AgentAuthed,
    State(s): State<AppState>,
    q: Result<Query<SecretsQuery>, QueryRejection>,
) -> Reply<Json<Vec<dto::Secret>>> {
    let group = handlers::query(q)?.group;
    let auth = scoped(&s, agent, &op::AI_LIST_SECRETS).await?;
    let Json(mut secrets) = secrets::list_secrets(auth, State(s)).await?;
    if let Some(group) = group {
        secrets.retain(|secret| secret.group == group);
    }
    Ok(Json(secrets))
}

pub async fn get_secret(
    agent: AgentAuthed,
    State(s): State<AppState>,
    name: Path<String>,
) -> Reply<Json<dto::Secret>> {
    let auth = scoped(&s, agent, &op::AI_GET_SECRET).await?;
    secrets::get_secret(auth, State(s), name).await
}

pub async fn create_secret(
    agent: AgentAuthed,
    State(s): State<AppState>,
    body: JsonBody<dto::CreateSecret>,
) -> Reply<Created<dto::Secret>> {
    let auth = scoped(&s, agent, &op::AI_CREATE_SECRET).await?;
    secrets::create_secret(auth, State(s), body).await
}

pub async fn set_secret_value(
    agent: AgentAuthed,
    State(s): State<AppState>,
    name: Path<String>,
    body: JsonBody<dto::SetSecretValue>,
) -> Reply<Json<dto::Secret>> {
    let auth = scoped(&s, agent, &op::AI_SET_SECRET_VALUE).await?;
    secrets::set_value(auth, State(s), name, body).await
}

pub async fn rotate_secret(
    agent: AgentAuthed,
    State(s): State<AppState>,
    name: Path<String>,
) -> Reply<Json<dto::Secret>> {
    let auth = scoped(&s, agent, &op::AI_ROTATE_SECRET).await?;
    secrets::rotate(auth, State(s), name).await
}

pub async fn list_keyrings(
    agent: AgentAuthed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::Keyring>>> {
    let auth = scoped(&s, agent, &op::AI_LIST_KEYRINGS).await?;
    handlers::list_keyrings(auth, State(s)).await
}

pub async fn create_keyring(
    agent: AgentAuthed,
    State(s): State<AppState>,
    body: JsonBody<dto::CreateKeyring>,
) -> Reply<Created<dto::Keyring>> {
    let auth = scoped(&s, agent, &op::AI_CREATE_KEYRING).await?;
    handlers::create_keyring(auth, State(s), body).await
}

pub async fn list_machines(
    agent: AgentAuthed,
    State(s): State<AppState>,
    q: Result<Query<MachinesQuery>, QueryRejection>,
) -> Reply<Json<Vec<dto::Machine>>> {
    let status = handlers::query(q)?
        .status
        .map(|text| {
            crate::service::MachineStatus::parse(&text).ok_or_else(|| {
                crate::service::Error::InvalidInput(format!(
                    "status {text:?} is not pending or approved"
                ))
            })
        })
        .transpose()?;
    let auth = scoped(&s, agent, &op::AI_LIST_MACHINES).await?;
    let Json(mut machines) = machines::list(auth, State(s)).await?;
    if let Some(status) = status {
        machines.retain(|m| m.status == status.as_str());
    }
    Ok(Json(machines))
}

pub async fn activity(
    agent: AgentAuthed,
    State(s): State<AppState>,
    q: Result<Query<dto::ActivityQuery>, QueryRejection>,
) -> Reply<Json<dto::Activity>> {
    let auth = scoped(&s, agent, &op::AI_ACTIVITY).await?;
    handlers::activity(auth, State(s), q).await
}

pub async fn list_alerts(
    agent: AgentAuthed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::Alert>>> {
    let auth = scoped(&s, agent, &op::AI_LIST_ALERTS).await?;
    alerts::list(auth, State(s)).await
}

pub async fn create_alert(
    agent: AgentAuthed,
    State(s): State<AppState>,
    body: JsonBody<dto::CreateAlert>,
) -> Reply<(axum::http::StatusCode, Json<dto::CreatedAlert>)> {
    let auth = scoped(&s, agent, &op::AI_CREATE_ALERT).await?;
    alerts::create(auth, State(s), body).await
}

pub async fn create_share(
    agent: AgentAuthed,
    State(s): State<AppState>,
    body: JsonBody<dto::CreateShare>,
) -> Reply<Response> {
    let auth = scoped(&s, agent, &op::AI_CREATE_SHARE).await?;
    shares::create(auth, State(s), body).await
}
