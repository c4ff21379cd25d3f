//! Alert rules and their deliveries over HTTP (docs/alerts.md).

use super::handlers::{Reply, all, created, no_content, ok, query};
use super::{AppState, Authed, JsonBody, dto};
use crate::ids::{AlertId, DeliveryId};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

pub async fn create(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateAlert>,
) -> Reply<(StatusCode, Json<dto::CreatedAlert>)> {
    created(s.service.create_alert(&auth.ctx(), body.into()).await?)
}

pub async fn list(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::Alert>>> {
    all(&s.service.list_alerts(&auth.ctx()).await?)
}

pub async fn get(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AlertId>,
) -> Reply<Json<dto::Alert>> {
    ok(s.service.get_alert(&auth.ctx(), &id).await?)
}

pub async fn update(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AlertId>,
    JsonBody(body): JsonBody<dto::PatchAlert>,
) -> Reply<Json<dto::Alert>> {
    ok(s.service
        .update_alert(&auth.ctx(), &id, body.into())
        .await?)
}

pub async fn delete(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AlertId>,
) -> Reply<StatusCode> {
    no_content(s.service.delete_alert(&auth.ctx(), &id).await)
}

pub async fn rotate_secret(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AlertId>,
) -> Reply<Json<dto::CreatedAlert>> {
    ok(s.service.rotate_alert_secret(&auth.ctx(), &id).await?)
}

pub async fn test(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AlertId>,
) -> Reply<Json<dto::AlertTest>> {
    ok(s.service.test_alert(&auth.ctx(), &id).await?)
}

pub async fn deliveries(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AlertId>,
    q: Result<Query<dto::DeliveriesQuery>, QueryRejection>,
) -> Reply<Json<Vec<dto::Delivery>>> {
    let q = query(q)?;
    let rows = s
        .service
        .alert_deliveries(&auth.ctx(), &id, q.status.as_deref())
        .await?;
    all(&rows)
}

pub async fn retry(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<DeliveryId>,
) -> Reply<Json<dto::Delivery>> {
    ok(s.service.retry_delivery(&auth.ctx(), &id).await?)
}
