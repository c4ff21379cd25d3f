//! Handlers of machine routes: tokens, registration, provisioning and bundle download, and
//! the machines' lifecycle.

use super::dto;
use super::{Anonymous, ApiError, AppState, Authed, JsonBody};
use crate::clock::rfc3339;
use crate::ids::{MachineId, MachineTokenId};
use crate::service::{Error, MachineTokenKind, MachineTokenSpec, ProvisionSpec};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

type Reply<T> = Result<T, ApiError>;

fn created<T: serde::Serialize>(body: T) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

pub async fn create_token(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateMachineToken>,
) -> Reply<Response> {
    let kind = MachineTokenKind::requestable(&body.kind).ok_or_else(|| {
        Error::InvalidInput("kind must be bootstrap, enrollment or temporary".into())
    })?;
    let spec = MachineTokenSpec {
        kind,
        name: body.name,
        flags: body.flags,
        grants: body.groups,
        lifetime_seconds: body.lifetime_seconds,
        max_uses: body.max_uses,
        machine_lifetime_seconds: body.machine_lifetime_seconds,
        guardrails: body.guardrails,
    };
    let out = s.service.create_machine_token(&auth.ctx(), spec).await?;
    Ok(created(dto::MachineTokenIssued {
        info: dto::MachineTokenInfo::from(&out.row),
        token: out.token.reveal().to_owned(),
    }))
}

pub async fn list_tokens(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::MachineTokenInfo>>> {
    let rows = s.service.list_machine_tokens(&auth.ctx()).await?;
    Ok(Json(rows.iter().map(dto::MachineTokenInfo::from).collect()))
}

pub async fn disable_token(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineTokenId>,
) -> Reply<StatusCode> {
    s.service.disable_machine_token(&auth.ctx(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn register(
    anon: Anonymous,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::RegisterMachine>,
) -> Reply<Response> {
    let machine = s
        .service
        .register_machine(
            &anon.meta,
            &body.token,
            &body.public_key,
            body.name.as_deref(),
        )
        .await?;
    Ok(created(dto::Machine::from(&machine)))
}

pub async fn provision(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::ProvisionMachine>,
) -> Reply<Response> {
    let spec = ProvisionSpec {
        name: body.name,
        flags: body.flags,
        grants: body.groups,
        expires_at: body.expires_at,
    };
    let out = s.service.provision_machine(&auth.ctx(), spec).await?;
    Ok(created(dto::ProvisionedMachine {
        machine: dto::Machine::from(&out.machine),
        bundle_token: out.bundle_token.reveal().to_owned(),
        bundle_path: "/v1/machines/bundle",
        bundle_expires_at: rfc3339(out.bundle_expires_at),
    }))
}

pub async fn download_bundle(
    anon: Anonymous,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::BundleDownload>,
) -> Reply<Json<dto::MachineBundle>> {
    let bundle = s.service.download_bundle(&anon.meta, &body.token).await?;
    Ok(Json(dto::MachineBundle {
        machine_id: bundle.machine_id,
        account_id: bundle.account_id,
        private_key_pem: bundle.private_key_pem.expose_secret().to_owned(),
    }))
}

pub async fn list(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::Machine>>> {
    let rows = s.service.list_machines(&auth.ctx()).await?;
    Ok(Json(rows.iter().map(dto::Machine::from).collect()))
}

pub async fn get(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineId>,
) -> Reply<Json<dto::Machine>> {
    let machine = s.service.get_machine(&auth.ctx(), &id).await?;
    Ok(Json(dto::Machine::from(&machine)))
}

pub async fn delete(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineId>,
) -> Reply<StatusCode> {
    s.service.delete_machine(&auth.ctx(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn approve(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineId>,
) -> Reply<Json<dto::Machine>> {
    let machine = s.service.approve_machine(&auth.ctx(), &id).await?;
    Ok(Json(dto::Machine::from(&machine)))
}

pub async fn disable(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineId>,
) -> Reply<Json<dto::Machine>> {
    set_enabled(auth, s, id, false).await
}

pub async fn enable(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineId>,
) -> Reply<Json<dto::Machine>> {
    set_enabled(auth, s, id, true).await
}

async fn set_enabled(
    auth: Authed,
    s: AppState,
    id: MachineId,
    enabled: bool,
) -> Reply<Json<dto::Machine>> {
    let machine = s
        .service
        .set_machine_enabled(&auth.ctx(), &id, enabled)
        .await?;
    Ok(Json(dto::Machine::from(&machine)))
}

pub async fn extend(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineId>,
    JsonBody(body): JsonBody<dto::ExtendMachine>,
) -> Reply<Json<dto::Machine>> {
    let machine = s
        .service
        .extend_machine(&auth.ctx(), &id, &body.expires_at)
        .await?;
    Ok(Json(dto::Machine::from(&machine)))
}

pub async fn revert_extension(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineId>,
) -> Reply<Json<dto::Machine>> {
    let machine = s.service.revert_machine_extension(&auth.ctx(), &id).await?;
    Ok(Json(dto::Machine::from(&machine)))
}
