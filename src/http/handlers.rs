//! Route handlers: decode, call the service, encode. Nothing else.

use super::dto;
use super::{ApiError, AppState, Authed, JsonBody};
use crate::ids::{ApiKeyId, AppId, GroupId, JobId};
use crate::service::Error;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What a handler answers: its success, or the API error its failure becomes.
pub(super) type Reply<T> = Result<T, ApiError>;

/// A `201 Created` answer.
pub(super) type Created<T> = (StatusCode, Json<T>);

/// `200` with `answer` in its reply shape (a row by reference, an output by value).
pub(super) fn ok<D: From<T>, T>(answer: T) -> Reply<Json<D>> {
    Ok(Json(D::from(answer)))
}

/// `200` with every row in its reply shape.
pub(super) fn all<'a, D: From<&'a T>, T>(rows: &'a [T]) -> Reply<Json<Vec<D>>> {
    Ok(Json(rows.iter().map(D::from).collect()))
}

/// `201` with what was created in its reply shape.
pub(super) fn created<D: From<T>, T>(answer: T) -> Reply<Created<D>> {
    Ok((StatusCode::CREATED, Json(D::from(answer))))
}

/// `204` once the service has done what was asked.
pub(super) fn no_content(done: Result<(), Error>) -> Reply<StatusCode> {
    done?;
    Ok(StatusCode::NO_CONTENT)
}

/// A query string, or the 400 a malformed one is.
pub(super) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Error> {
    query
        .map(|Query(q)| q)
        .map_err(|e| Error::InvalidInput(format!("bad query string: {e}")))
}

pub async fn health() -> Json<dto::ServiceStatus> {
    Json(dto::ServiceStatus { status: "ok" })
}

pub async fn ready(State(state): State<AppState>) -> Response {
    match state.service.ready().await {
        Ok(()) => Json(dto::ServiceStatus { status: "ready" }).into_response(),
        Err(e) => {
            tracing::warn!(error = ?e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(dto::ServiceStatus {
                    status: "unavailable",
                }),
            )
                .into_response()
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        super::metrics::render(&state),
    )
        .into_response()
}

pub async fn openapi_document() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}

pub async fn not_found() -> ApiError {
    Error::NotFound("route".into()).into()
}

pub async fn method_not_allowed(method: axum::http::Method) -> Response {
    let message = format!("method {method} is not allowed on this path");
    let mut response = ApiError::from(Error::InvalidInput(message)).into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

pub async fn create_api_key(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateApiKey>,
) -> Reply<Created<dto::CreatedApiKey>> {
    created(&s.service.create_api_key(&auth.ctx(), body.into()).await?)
}

pub async fn list_api_keys(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::ApiKey>>> {
    all(&s.service.list_api_keys(&auth.ctx()).await?)
}

pub async fn get_api_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<ApiKeyId>,
) -> Reply<Json<dto::ApiKey>> {
    ok(&s.service.get_api_key(&auth.ctx(), &id).await?)
}

pub async fn update_api_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<ApiKeyId>,
    JsonBody(body): JsonBody<dto::PatchApiKey>,
) -> Reply<Json<dto::ApiKey>> {
    ok(&s
        .service
        .update_api_key(&auth.ctx(), &id, body.into())
        .await?)
}

pub async fn create_group(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateGroup>,
) -> Reply<Created<dto::Group>> {
    created(&s.service.create_group(&auth.ctx(), &body.name).await?)
}

pub async fn list_groups(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::Group>>> {
    all(&s.service.list_groups(&auth.ctx()).await?)
}

pub async fn get_group(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
) -> Reply<Json<dto::Group>> {
    ok(&s.service.get_group(&auth.ctx(), &id).await?)
}

/// `202 Accepted`: the rotation goes on in the background; the job tells how far it is.
pub async fn rotate_master(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
) -> Reply<(StatusCode, Json<dto::Job>)> {
    let job = s.service.rotate_master(&auth.ctx(), &id).await?;
    Ok((StatusCode::ACCEPTED, Json(dto::Job::from(&job))))
}

pub async fn get_job(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<JobId>,
) -> Reply<Json<dto::Job>> {
    ok(&s.service.get_job(&auth.ctx(), &id).await?)
}

pub async fn create_app(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateApp>,
) -> Reply<Created<dto::App>> {
    created(
        &s.service
            .create_app(
                &auth.ctx(),
                &body.name,
                body.groups.into_iter().map(Into::into).collect(),
            )
            .await?,
    )
}

pub async fn list_apps(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::App>>> {
    all(&s.service.list_apps(&auth.ctx()).await?)
}

pub async fn get_app(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AppId>,
) -> Reply<Json<dto::App>> {
    ok(&s.service.get_app(&auth.ctx(), &id).await?)
}

pub async fn create_keyring(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateKeyring>,
) -> Reply<Created<dto::Keyring>> {
    let spec = body.try_into()?;
    created(&s.service.create_keyring(&auth.ctx(), spec).await?)
}

pub async fn list_keyrings(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::Keyring>>> {
    all(&s.service.list_keyrings(&auth.ctx()).await?)
}

pub async fn get_keyring(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
) -> Reply<Json<dto::Keyring>> {
    ok(&s.service.get_keyring(&auth.ctx(), &ring).await?)
}

pub async fn delete_keyring(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
) -> Reply<StatusCode> {
    no_content(s.service.delete_keyring(&auth.ctx(), &ring).await)
}

pub async fn restore_keyring(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
) -> Reply<Json<dto::Keyring>> {
    ok(&s.service.restore_keyring(&auth.ctx(), &ring).await?)
}

pub async fn encrypt(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
    JsonBody(body): JsonBody<dto::Encrypt>,
) -> Reply<Json<dto::Encrypted>> {
    let plaintext = zeroize::Zeroizing::new(dto::decode_b64("plaintext", &body.plaintext)?);
    ok(s.service
        .encrypt(&auth.ctx(), &ring, &plaintext, &body.context)
        .await?)
}

pub async fn decrypt(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
    JsonBody(body): JsonBody<dto::Decrypt>,
) -> Reply<Json<dto::Decrypted>> {
    ok(s.service
        .decrypt(&auth.ctx(), &ring, &body.ciphertext, &body.context)
        .await?)
}

pub async fn rewrap(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
    JsonBody(body): JsonBody<dto::Decrypt>,
) -> Reply<Json<dto::Encrypted>> {
    ok(s.service
        .rewrap(&auth.ctx(), &ring, &body.ciphertext, &body.context)
        .await?)
}

pub async fn datakey(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
    JsonBody(body): JsonBody<dto::DataKeyRequest>,
) -> Reply<Json<dto::DataKey>> {
    ok(s.service
        .datakey(&auth.ctx(), &ring, body.bytes, &body.context)
        .await?)
}

pub async fn rotate(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
) -> Reply<Json<dto::Rotated>> {
    let current_version = s.service.rotate(&auth.ctx(), &ring).await?;
    Ok(Json(dto::Rotated { current_version }))
}

pub async fn get_config(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
) -> Reply<Json<dto::KeyringConfig>> {
    ok(&s.service.keyring_config(&auth.ctx(), &ring).await?)
}

pub async fn update_config(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
    JsonBody(body): JsonBody<dto::PatchKeyringConfig>,
) -> Reply<Json<dto::KeyringConfig>> {
    ok(&s
        .service
        .update_keyring_config(&auth.ctx(), &ring, body.into())
        .await?)
}

pub async fn keys(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
) -> Reply<Json<Vec<dto::KeyVersion>>> {
    all(&s.service.keyring_keys(&auth.ctx(), &ring).await?)
}

pub async fn lookup_hash(
    auth: Authed,
    State(s): State<AppState>,
    Path((ring, hash)): Path<(String, String)>,
) -> Reply<Json<dto::HashInfo>> {
    ok(s.service.lookup_hash(&auth.ctx(), &ring, &hash).await?)
}

pub async fn activity(
    auth: Authed,
    State(s): State<AppState>,
    q: Result<Query<dto::ActivityQuery>, QueryRejection>,
) -> Reply<Json<dto::Activity>> {
    let q = query(q)?;
    let outcome = q.outcome.clone();
    let filter: crate::service::ActivityFilter = q.try_into()?;
    let limit = filter.limit;
    let events = s
        .service
        .activity(&auth.ctx(), filter, outcome.as_deref())
        .await?;
    let next = (events.len() as u32 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(dto::Activity {
        events: events.iter().map(dto::Event::from).collect(),
        next,
    }))
}
