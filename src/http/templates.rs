//! Permission templates over HTTP (docs/templates.md).

use super::handlers::{Reply, all, created, no_content, ok};
use super::{AppState, Authed, JsonBody, dto};
use crate::ids::UserId;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

pub async fn list(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::Template>>> {
    all(&s.service.list_templates(&auth.ctx()).await?)
}

pub async fn create(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateTemplate>,
) -> Reply<(StatusCode, Json<dto::Template>)> {
    created(s.service.create_template(&auth.ctx(), body.into()).await?)
}

pub async fn get(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Reply<Json<dto::Template>> {
    ok(s.service.get_template(&auth.ctx(), &id).await?)
}

pub async fn update(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<dto::PatchTemplate>,
) -> Reply<Json<dto::Template>> {
    ok(s.service
        .update_template(&auth.ctx(), &id, body.into())
        .await?)
}

pub async fn delete(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Reply<StatusCode> {
    no_content(s.service.delete_template(&auth.ctx(), &id).await)
}

pub async fn assign(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<UserId>,
    JsonBody(body): JsonBody<dto::AssignTemplate>,
) -> Reply<Json<dto::Assignment>> {
    let (template, groups) = body.groups()?;
    ok(s.service
        .assign_template(&auth.ctx(), &id, &template, groups)
        .await?)
}
