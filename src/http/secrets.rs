//! Handlers of `/v1/secrets` and of freezing groups: decode, call the service, encode.

use super::dto;
use super::handlers::{Created, Reply, all, created, no_content, ok, query};
use super::{AppState, Authed, JsonBody};
use crate::ids::{AppId, GroupId};
use crate::service::{Error, ReadTarget, SecretKind, SecretSpec};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

pub async fn create_secret(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateSecret>,
) -> Reply<Created<dto::Secret>> {
    let spec = SecretSpec {
        kind: SecretKind::requested(&body.kind)?,
        content: dto::content_in(body.value, body.fields)?,
        name: body.name,
        group: body.group.into(),
        rotation: body.rotation.map(Into::into),
        retention: body.retention,
        managed: body.managed.map(TryInto::try_into).transpose()?,
        cascade: body.cascade.unwrap_or_default(),
    };
    created(&s.service.create_secret(&auth.ctx(), spec).await?)
}

pub async fn list_secrets(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::Secret>>> {
    all(&s.service.list_secrets(&auth.ctx()).await?)
}

pub async fn get_secret(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<dto::Secret>> {
    ok(&s.service.get_secret(&auth.ctx(), &name).await?)
}

pub async fn read_value(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    q: Result<Query<dto::VersionQuery>, QueryRejection>,
) -> Reply<Json<dto::SecretValue>> {
    let version = query(q)?.version;
    let target = ReadTarget::Whole(version);
    ok(s.service.read_secret(&auth.ctx(), &name, target).await?)
}

pub async fn read_field(
    auth: Authed,
    State(s): State<AppState>,
    Path((name, field)): Path<(String, String)>,
) -> Reply<Json<dto::SecretField>> {
    let read = s
        .service
        .read_secret(&auth.ctx(), &name, ReadTarget::Field(&field))
        .await?;
    let value = dto::SecretValue::from(read);
    let text = value
        .fields
        .and_then(|mut f| f.remove(&field))
        .ok_or_else(|| Error::Internal("a field read answered no field".into()))?;
    Ok(Json(dto::SecretField {
        version: value.version,
        field,
        value: text,
    }))
}

pub async fn reveal(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::RevealSecret>,
) -> Reply<Json<dto::SecretValue>> {
    ok(s.service
        .reveal_secret(&auth.ctx(), &name, body.version)
        .await?)
}

pub async fn set_value(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::SetSecretValue>,
) -> Reply<Json<dto::Secret>> {
    let content = dto::content_in(body.value, body.fields)?
        .ok_or_else(|| Error::InvalidInput("give \"value\" or \"fields\"".into()))?;
    ok(&s
        .service
        .set_secret_value(&auth.ctx(), &name, content)
        .await?)
}

pub async fn versions(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<Vec<dto::SecretVersion>>> {
    all(&s.service.secret_versions(&auth.ctx(), &name).await?)
}

pub async fn rollback(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::RollbackSecret>,
) -> Reply<Json<dto::Secret>> {
    ok(&s
        .service
        .rollback_secret(&auth.ctx(), &name, body.version)
        .await?)
}

pub async fn set_rotation(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::SecretRotation>,
) -> Reply<Json<dto::Secret>> {
    ok(&s
        .service
        .set_secret_rotation(&auth.ctx(), &name, body.into())
        .await?)
}

pub async fn delete_rotation(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<dto::Secret>> {
    ok(&s.service.delete_secret_rotation(&auth.ctx(), &name).await?)
}

pub async fn rotate(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<dto::Secret>> {
    ok(&s.service.rotate_secret(&auth.ctx(), &name).await?)
}

pub async fn grants(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<Vec<dto::SecretGrant>>> {
    all(&s.service.secret_grants(&auth.ctx(), &name).await?)
}

pub async fn grant(
    auth: Authed,
    State(s): State<AppState>,
    Path((name, app)): Path<(String, AppId)>,
) -> Reply<StatusCode> {
    no_content(s.service.grant_secret(&auth.ctx(), &name, &app).await)
}

pub async fn revoke(
    auth: Authed,
    State(s): State<AppState>,
    Path((name, app)): Path<(String, AppId)>,
) -> Reply<StatusCode> {
    no_content(s.service.revoke_secret(&auth.ctx(), &name, &app).await)
}

pub async fn delete_secret(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<StatusCode> {
    no_content(s.service.delete_secret(&auth.ctx(), &name).await)
}

pub async fn restore_secret(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<dto::Secret>> {
    ok(&s.service.restore_secret(&auth.ctx(), &name).await?)
}

/// A long poll: 200 with the pending version, or 204 when none appeared within `wait`.
pub async fn pending(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    q: Result<Query<dto::WaitQuery>, QueryRejection>,
) -> Reply<Response> {
    let wait = Duration::from_secs(u64::from(query(q)?.wait.unwrap_or(0)));
    match s
        .service
        .pending_secret_version(&auth.ctx(), &name, wait)
        .await?
    {
        Some(version) => Ok(Json(dto::PendingSecretVersion::from(version)).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

pub async fn applied(
    auth: Authed,
    State(s): State<AppState>,
    Path((name, version)): Path<(String, u32)>,
) -> Reply<Json<dto::Secret>> {
    ok(&s
        .service
        .applied_secret_version(&auth.ctx(), &name, version)
        .await?)
}

pub async fn failed(
    auth: Authed,
    State(s): State<AppState>,
    Path((name, version)): Path<(String, u32)>,
    JsonBody(body): JsonBody<dto::ApplyFailure>,
) -> Reply<StatusCode> {
    no_content(
        s.service
            .failed_secret_version(&auth.ctx(), &name, version, &body.reason)
            .await,
    )
}

pub async fn freeze_group(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
    JsonBody(body): JsonBody<dto::FreezeGroup>,
) -> Reply<Json<dto::Group>> {
    ok(&s
        .service
        .freeze_group(&auth.ctx(), &id, body.reason.as_deref())
        .await?)
}

pub async fn unfreeze_group(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
) -> Reply<Json<dto::Group>> {
    ok(&s.service.unfreeze_group(&auth.ctx(), &id).await?)
}
