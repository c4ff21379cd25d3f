//! Route handlers: decode, call the service, encode. Nothing else.

use super::dto;
use super::{ApiError, AppState, Authed, JsonBody};
use crate::clock::parse_rfc3339;
use crate::ids::{ApiKeyId, AppId, GroupId};
use crate::service::{ApiKeyPatch, ApiKeySpec, ConfigPatch, Error, KeyringSpec, Protection};
use crate::store::ActivityFilter;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

type Reply<T> = Result<T, ApiError>;

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

fn decode_b64(field: &str, text: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
    B64.decode(text).map(zeroize::Zeroizing::new).map_err(|_| {
        Error::InvalidInput(format!(
            "{field} is not valid standard base64 (with padding)"
        ))
    })
}

pub async fn create_api_key(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateApiKey>,
) -> Reply<Response> {
    let spec = ApiKeySpec {
        principal: body.principal,
        name: body.name,
        flags: body.flags,
    };
    let created = s.service.create_api_key(&auth.ctx(), spec).await?;
    let body = dto::CreatedApiKey {
        id: created.row.id.to_string(),
        api_key: created.token.reveal().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn list_api_keys(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::ApiKey>>> {
    let rows = s.service.list_api_keys(&auth.ctx()).await?;
    Ok(Json(rows.iter().map(dto::ApiKey::from).collect()))
}

pub async fn get_api_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<ApiKeyId>,
) -> Reply<Json<dto::ApiKey>> {
    let row = s.service.get_api_key(&auth.ctx(), &id).await?;
    Ok(Json(dto::ApiKey::from(&row)))
}

pub async fn update_api_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<ApiKeyId>,
    JsonBody(body): JsonBody<dto::PatchApiKey>,
) -> Reply<Json<dto::ApiKey>> {
    let patch = ApiKeyPatch {
        disabled: body.disabled,
        flags: body.flags,
    };
    let row = s.service.update_api_key(&auth.ctx(), &id, patch).await?;
    Ok(Json(dto::ApiKey::from(&row)))
}

pub async fn create_group(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateGroup>,
) -> Reply<Response> {
    let group = s.service.create_group(&auth.ctx(), &body.name).await?;
    Ok((StatusCode::CREATED, Json(dto::Group::from(&group))).into_response())
}

pub async fn list_groups(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::Group>>> {
    let groups = s.service.list_groups(&auth.ctx()).await?;
    Ok(Json(groups.iter().map(dto::Group::from).collect()))
}

pub async fn get_group(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
) -> Reply<Json<dto::Group>> {
    let group = s.service.get_group(&auth.ctx(), &id).await?;
    Ok(Json(dto::Group::from(&group)))
}

pub async fn create_app(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateApp>,
) -> Reply<Response> {
    let app = s
        .service
        .create_app(
            &auth.ctx(),
            &body.name,
            body.groups.into_iter().map(Into::into).collect(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(dto::App::from(&app))).into_response())
}

pub async fn list_apps(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::App>>> {
    let apps = s.service.list_apps(&auth.ctx()).await?;
    Ok(Json(apps.iter().map(dto::App::from).collect()))
}

pub async fn get_app(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AppId>,
) -> Reply<Json<dto::App>> {
    let app = s.service.get_app(&auth.ctx(), &id).await?;
    Ok(Json(dto::App::from(&app)))
}

pub async fn create_keyring(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateKeyring>,
) -> Reply<Response> {
    let protection = Protection::requested(&body.protection)?;
    let spec = KeyringSpec {
        name: body.name,
        group: body.group.into(),
        protection,
        rotation_period_days: body.rotation_period_days,
        max_encrypt_count: body.max_encrypt_count,
        cache_ttl_seconds: body.cache_ttl_seconds,
    };
    let keyring = s.service.create_keyring(&auth.ctx(), spec).await?;
    Ok((StatusCode::CREATED, Json(dto::Keyring::from(&keyring))).into_response())
}

pub async fn list_keyrings(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::Keyring>>> {
    let rings = s.service.list_keyrings(&auth.ctx()).await?;
    Ok(Json(rings.iter().map(dto::Keyring::from).collect()))
}

pub async fn get_keyring(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
) -> Reply<Json<dto::Keyring>> {
    let keyring = s.service.get_keyring(&auth.ctx(), &ring).await?;
    Ok(Json(dto::Keyring::from(&keyring)))
}

pub async fn delete_keyring(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
) -> Reply<StatusCode> {
    s.service.delete_keyring(&auth.ctx(), &ring).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn restore_keyring(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
) -> Reply<Json<dto::Keyring>> {
    let keyring = s.service.restore_keyring(&auth.ctx(), &ring).await?;
    Ok(Json(dto::Keyring::from(&keyring)))
}

pub async fn encrypt(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
    JsonBody(body): JsonBody<dto::Encrypt>,
) -> Reply<Json<dto::Encrypted>> {
    let plaintext = decode_b64("plaintext", &body.plaintext);
    let plaintext = plaintext?;
    let out = s
        .service
        .encrypt(&auth.ctx(), &ring, &plaintext, &body.context)
        .await?;
    Ok(Json(dto::Encrypted {
        ciphertext: out.ciphertext,
        key_version: out.key_version,
    }))
}

pub async fn decrypt(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
    JsonBody(body): JsonBody<dto::Decrypt>,
) -> Reply<Json<dto::Decrypted>> {
    let out = s
        .service
        .decrypt(&auth.ctx(), &ring, &body.ciphertext, &body.context)
        .await?;
    Ok(Json(dto::Decrypted {
        plaintext: B64.encode(&out.plaintext[..]),
        key_version: out.key_version,
    }))
}

pub async fn rewrap(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
    JsonBody(body): JsonBody<dto::Decrypt>,
) -> Reply<Json<dto::Encrypted>> {
    let out = s
        .service
        .rewrap(&auth.ctx(), &ring, &body.ciphertext, &body.context)
        .await?;
    Ok(Json(dto::Encrypted {
        ciphertext: out.ciphertext,
        key_version: out.key_version,
    }))
}

pub async fn datakey(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
    JsonBody(body): JsonBody<dto::DataKeyRequest>,
) -> Reply<Json<dto::DataKey>> {
    let out = s
        .service
        .datakey(&auth.ctx(), &ring, body.bytes, &body.context)
        .await?;
    Ok(Json(dto::DataKey {
        plaintext: B64.encode(&out.plaintext[..]),
        ciphertext: out.ciphertext,
        key_version: out.key_version,
    }))
}

pub async fn rotate(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
) -> Reply<Json<dto::Rotated>> {
    let version = s.service.rotate(&auth.ctx(), &ring).await?;
    Ok(Json(dto::Rotated {
        current_version: version,
    }))
}

pub async fn get_config(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
) -> Reply<Json<dto::KeyringConfig>> {
    let row = s.service.keyring_config(&auth.ctx(), &ring).await?;
    Ok(Json(dto::KeyringConfig::from(&row)))
}

pub async fn update_config(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
    JsonBody(body): JsonBody<dto::PatchKeyringConfig>,
) -> Reply<Json<dto::KeyringConfig>> {
    let patch = ConfigPatch {
        enabled: body.enabled,
        min_decryption_version: body.min_decryption_version,
        rotation_period_days: body.rotation_period_days,
        max_encrypt_count: body.max_encrypt_count,
        cache_ttl_seconds: body.cache_ttl_seconds,
    };
    let row = s
        .service
        .update_keyring_config(&auth.ctx(), &ring, patch)
        .await?;
    Ok(Json(dto::KeyringConfig::from(&row)))
}

pub async fn keys(
    auth: Authed,
    State(s): State<AppState>,
    Path(ring): Path<String>,
) -> Reply<Json<Vec<dto::KeyVersion>>> {
    let versions = s.service.keyring_keys(&auth.ctx(), &ring).await?;
    Ok(Json(versions.iter().map(dto::KeyVersion::from).collect()))
}

pub async fn lookup_hash(
    auth: Authed,
    State(s): State<AppState>,
    Path((ring, hash)): Path<(String, String)>,
) -> Reply<Json<dto::HashInfo>> {
    let found = s.service.lookup_hash(&auth.ctx(), &ring, &hash).await?;
    Ok(Json(dto::HashInfo {
        keyring: found.keyring,
        version: found.info.version,
        created_at: crate::clock::rfc3339(found.info.created_at),
        state: found.info.state,
    }))
}

fn time_filter(field: &str, value: Option<String>) -> Result<Option<i64>, Error> {
    value
        .map(|text| {
            parse_rfc3339(&text).ok_or_else(|| {
                Error::InvalidInput(format!("{field} must be an RFC 3339 timestamp"))
            })
        })
        .transpose()
}

pub async fn activity(
    auth: Authed,
    State(s): State<AppState>,
    query: Result<Query<dto::ActivityQuery>, QueryRejection>,
) -> Reply<Json<dto::Activity>> {
    let filter = (|| {
        let Query(q) = query.map_err(|e| Error::InvalidInput(format!("bad query string: {e}")))?;
        Ok::<_, Error>(ActivityFilter {
            since: time_filter("since", q.since)?,
            until: time_filter("until", q.until)?,
            principal: q.principal,
            object: q.object,
            action: q.action,
            outcome: q.outcome,
            before_seq: q.before,
            limit: q.limit.unwrap_or(100),
        })
    })();
    let limit = filter.as_ref().map_or(0, |f| f.limit);
    let events = s.service.activity(&auth.ctx(), filter?).await?;
    let next = (events.len() as u32 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(dto::Activity {
        events: events.iter().map(dto::Event::from).collect(),
        next,
    }))
}
