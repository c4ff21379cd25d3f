//! Handlers of machine routes: tokens, registration, provisioning and bundle download, and
//! the machines' lifecycle.

use super::dto;
use super::handlers::{Created, Reply, all, created, no_content, ok};
use super::{Anonymous, AppState, Authed, JsonBody};
use crate::ids::{MachineId, MachineTokenId};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

pub async fn create_token(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateMachineToken>,
) -> Reply<Created<dto::MachineTokenIssued>> {
    let spec = body.try_into()?;
    created(&s.service.create_machine_token(&auth.ctx(), spec).await?)
}

pub async fn list_tokens(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::MachineTokenInfo>>> {
    all(&s.service.list_machine_tokens(&auth.ctx()).await?)
}

pub async fn disable_token(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineTokenId>,
) -> Reply<StatusCode> {
    no_content(s.service.disable_machine_token(&auth.ctx(), &id).await)
}

pub async fn register(
    anon: Anonymous,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::RegisterMachine>,
) -> Reply<Created<dto::Machine>> {
    let machine = s
        .service
        .register_machine(
            &anon.meta,
            &body.token,
            &body.public_key,
            body.name.as_deref(),
        )
        .await?;
    created(&machine)
}

pub async fn provision(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::ProvisionMachine>,
) -> Reply<Created<dto::ProvisionedMachine>> {
    created(
        &s.service
            .provision_machine(&auth.ctx(), body.into())
            .await?,
    )
}

pub async fn download_bundle(
    anon: Anonymous,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::BundleDownload>,
) -> Reply<Json<dto::MachineBundle>> {
    ok(s.service.download_bundle(&anon.meta, &body.token).await?)
}

pub async fn list(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::Machine>>> {
    all(&s.service.list_machines(&auth.ctx()).await?)
}

pub async fn get(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineId>,
) -> Reply<Json<dto::Machine>> {
    ok(&s.service.get_machine(&auth.ctx(), &id).await?)
}

pub async fn delete(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineId>,
) -> Reply<StatusCode> {
    no_content(s.service.delete_machine(&auth.ctx(), &id).await)
}

pub async fn approve(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineId>,
) -> Reply<Json<dto::Machine>> {
    ok(&s.service.approve_machine(&auth.ctx(), &id).await?)
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

/// `disable` and `enable` differ only in the state they ask for.
async fn set_enabled(
    auth: Authed,
    s: AppState,
    id: MachineId,
    enabled: bool,
) -> Reply<Json<dto::Machine>> {
    ok(&s
        .service
        .set_machine_enabled(&auth.ctx(), &id, enabled)
        .await?)
}

pub async fn extend(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineId>,
    JsonBody(body): JsonBody<dto::ExtendMachine>,
) -> Reply<Json<dto::Machine>> {
    ok(&s
        .service
        .extend_machine(&auth.ctx(), &id, &body.expires_at)
        .await?)
}

pub async fn revert_extension(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<MachineId>,
) -> Reply<Json<dto::Machine>> {
    ok(&s.service.revert_machine_extension(&auth.ctx(), &id).await?)
}
