//! Quorums and approvals over HTTP, and the 202 a gated operation answers with when its
//! request became a pending approval.

use super::handlers::{Reply, all, no_content, ok, query};
use super::{AppState, Authed, JsonBody, dto};
use crate::ids::{ApprovalId, GroupId};
use crate::service::ApprovalRow;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `202 Accepted` with the pending approval a dangerous operation became.
pub(super) fn accepted(approval: &ApprovalRow) -> Response {
    (StatusCode::ACCEPTED, Json(dto::Approval::from(approval))).into_response()
}

pub async fn set_group_quorum(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
    JsonBody(body): JsonBody<dto::SetQuorum>,
) -> Reply<Json<dto::Quorum>> {
    ok(&s
        .service
        .set_quorum(&auth.ctx(), Some(&id), body.into())
        .await?)
}

pub async fn get_group_quorum(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
) -> Reply<Json<dto::Quorum>> {
    ok(&s.service.get_quorum(&auth.ctx(), Some(&id)).await?)
}

pub async fn clear_group_quorum(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
) -> Reply<StatusCode> {
    no_content(s.service.clear_quorum(&auth.ctx(), Some(&id)).await)
}

pub async fn set_account_quorum(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::SetQuorum>,
) -> Reply<Json<dto::Quorum>> {
    ok(&s.service.set_quorum(&auth.ctx(), None, body.into()).await?)
}

pub async fn get_account_quorum(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<dto::Quorum>> {
    ok(&s.service.get_quorum(&auth.ctx(), None).await?)
}

pub async fn clear_account_quorum(auth: Authed, State(s): State<AppState>) -> Reply<StatusCode> {
    no_content(s.service.clear_quorum(&auth.ctx(), None).await)
}

pub async fn list(
    auth: Authed,
    State(s): State<AppState>,
    q: Result<Query<dto::ApprovalQuery>, QueryRejection>,
) -> Reply<Json<Vec<dto::Approval>>> {
    let status = query(q)?.status()?;
    all(&s.service.list_approvals(&auth.ctx(), status).await?)
}

pub async fn get(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<ApprovalId>,
) -> Reply<Json<dto::Approval>> {
    ok(&s.service.get_approval(&auth.ctx(), &id).await?)
}

pub async fn approve(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<ApprovalId>,
) -> Reply<Json<dto::Approval>> {
    ok(&s.service.approve(&auth.ctx(), &id).await?)
}

pub async fn deny(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<ApprovalId>,
    JsonBody(body): JsonBody<dto::DenyApproval>,
) -> Reply<Json<dto::Approval>> {
    ok(&s
        .service
        .deny(&auth.ctx(), &id, body.reason.as_deref())
        .await?)
}
