//! Access policies over HTTP: decode, call the service, encode.

use super::handlers::{Created, Reply, all, created, no_content, ok, query};
use super::{AppState, Authed, JsonBody, dto};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

pub async fn create(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreatePolicy>,
) -> Reply<Created<dto::Policy>> {
    let spec = body.try_into()?;
    created(s.service.create_policy(&auth.ctx(), spec).await?)
}

pub async fn list(
    auth: Authed,
    State(s): State<AppState>,
    q: Result<Query<dto::PolicyQuery>, QueryRejection>,
) -> Reply<Json<Vec<dto::Policy>>> {
    let group = query(q)?.group.map(Into::into);
    all(&s.service.list_policies(&auth.ctx(), group.as_ref()).await?)
}

pub async fn get(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Reply<Json<dto::Policy>> {
    ok(s.service.get_policy(&auth.ctx(), &id).await?)
}

pub async fn update(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<dto::PatchPolicy>,
) -> Reply<Json<dto::Policy>> {
    let patch = body.try_into()?;
    ok(s.service.update_policy(&auth.ctx(), &id, patch).await?)
}

pub async fn delete(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Reply<StatusCode> {
    no_content(s.service.delete_policy(&auth.ctx(), &id).await)
}

pub async fn bindings(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Reply<Json<Vec<dto::PolicyBinding>>> {
    all(&s.service.policy_bindings(&auth.ctx(), &id).await?)
}

pub async fn bind(
    auth: Authed,
    State(s): State<AppState>,
    Path((id, kind, object)): Path<(String, String, String)>,
) -> Reply<Json<dto::PolicyBinding>> {
    ok(s.service
        .bind_policy(&auth.ctx(), &id, &kind, &object)
        .await?)
}

pub async fn unbind(
    auth: Authed,
    State(s): State<AppState>,
    Path((id, kind, object)): Path<(String, String, String)>,
) -> Reply<StatusCode> {
    no_content(
        s.service
            .unbind_policy(&auth.ctx(), &id, &kind, &object)
            .await,
    )
}
