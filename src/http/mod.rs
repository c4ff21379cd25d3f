//! HTTP: the router, the request frame (request id, audit safety net), extractors, and the
//! rendering of service errors. Handlers translate JSON to service calls and back; they
//! never touch the HSM or the store.

mod dto;
mod handlers;
mod identity;
mod keys;
pub mod listener;
mod machines;
pub mod openapi;
pub mod tls;

use crate::service::{Caller, Error, RequestMeta, Service};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::Instrument;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    pub metrics: Arc<Metrics>,
    /// Open and refused connections, for `/metrics`.
    pub connections: Arc<listener::ConnectionLimits>,
    /// A request's whole body must arrive within this.
    pub body_read_timeout: std::time::Duration,
    /// A request must be answered within this once its body is read (else 503).
    pub request_timeout: std::time::Duration,
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub responses_2xx: AtomicU64,
    pub responses_4xx: AtomicU64,
    pub responses_5xx: AtomicU64,
}

/// Default body limit: 1 MiB, as api.md says for crypto calls.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Builds the full router.
pub fn router(state: AppState) -> Router {
    use handlers::*;
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi_document))
        .route(
            "/v1/auth/apikey",
            creates(post(create_api_key)).get(list_api_keys),
        )
        .route(
            "/v1/auth/apikey/{id}",
            get(get_api_key).patch(update_api_key),
        )
        .route("/v1/auth/login", creates(post(identity::login)))
        .route("/v1/auth/logout", removes(post(identity::logout)))
        .route("/v1/auth/sessions", get(identity::list_sessions))
        .route(
            "/v1/auth/sessions/{id}",
            removes(delete(identity::revoke_session)),
        )
        .route(
            "/v1/auth/password",
            removes(post(identity::change_password)),
        )
        .route(
            "/v1/auth/password-reset",
            removes(post(identity::complete_password_reset)),
        )
        .route(
            "/v1/accounts",
            creates(post(identity::create_account)).get(identity::list_accounts),
        )
        .route(
            "/v1/accounts/{id}",
            get(identity::get_account)
                .patch(identity::update_account)
                .merge(removes(delete(identity::delete_account))),
        )
        .route(
            "/v1/accounts/{id}/deletion",
            answering(
                StatusCode::ACCEPTED,
                post(identity::request_account_deletion),
            )
            .delete(identity::cancel_account_deletion),
        )
        .route(
            "/v1/users",
            creates(post(identity::create_user)).get(identity::list_users),
        )
        .route(
            "/v1/users/{id}",
            get(identity::get_user)
                .patch(identity::update_user)
                .merge(removes(delete(identity::remove_user))),
        )
        .route(
            "/v1/users/{id}/password-reset",
            creates(post(identity::create_password_reset)),
        )
        .route("/v1/groups", creates(post(create_group)).get(list_groups))
        .route(
            "/v1/groups/{id}",
            get(get_group)
                .patch(identity::update_group)
                .merge(removes(delete(identity::delete_group))),
        )
        .route("/v1/groups/{id}/members", get(identity::group_members))
        .route(
            "/v1/groups/{id}/users/{user}",
            put(identity::set_group_user).merge(removes(delete(identity::remove_group_member))),
        )
        .route(
            "/v1/groups/{id}/apps/{app}",
            put(identity::set_group_app).merge(removes(delete(identity::remove_group_member))),
        )
        .route("/v1/apps", creates(post(create_app)).get(list_apps))
        .route(
            "/v1/apps/{id}",
            get(get_app)
                .patch(identity::update_app)
                .merge(removes(delete(identity::delete_app))),
        )
        .route("/v1/apps/{id}/credentials", get(identity::app_credentials))
        .route(
            "/v1/apps/{id}/certificates",
            creates(post(identity::bind_certificate)),
        )
        .route(
            "/v1/apps/{id}/certificates/{certificate}",
            removes(delete(identity::unbind_certificate)),
        )
        .route(
            "/v1/trusted-cas",
            creates(post(identity::add_trusted_ca)).get(identity::list_trusted_cas),
        )
        .route(
            "/v1/revocations",
            creates(post(identity::revoke_certificate)).get(identity::list_revocations),
        )
        .route(
            "/v1/keyrings",
            creates(post(create_keyring)).get(list_keyrings),
        )
        .route(
            "/v1/keyrings/{ring}",
            get(get_keyring).merge(removes(delete(delete_keyring))),
        )
        .route("/v1/keyrings/{ring}/encrypt", post(encrypt))
        .route("/v1/keyrings/{ring}/decrypt", post(decrypt))
        .route("/v1/keyrings/{ring}/rewrap", post(rewrap))
        .route("/v1/keyrings/{ring}/datakey", post(datakey))
        .route("/v1/keyrings/{ring}/rotate", post(rotate))
        .route("/v1/keyrings/{ring}/restore", post(restore_keyring))
        .route(
            "/v1/keyrings/{ring}/config",
            get(get_config).patch(update_config),
        )
        .route("/v1/keyrings/{ring}/keys", get(keys))
        .route("/v1/keyrings/{ring}/hash/{hash}", get(lookup_hash))
        .route(
            "/v1/keys",
            creates(post(keys::create_key)).get(keys::list_keys),
        )
        .route(
            "/v1/keys/{name}",
            get(keys::get_key)
                .patch(keys::update_key)
                .merge(removes(delete(keys::delete_key))),
        )
        .route("/v1/keys/{name}/public", get(keys::public_key))
        .route("/v1/keys/{name}/sign", post(keys::sign))
        .route("/v1/keys/{name}/verify", post(keys::verify))
        .route("/v1/keys/{name}/decrypt", post(keys::decrypt))
        .route("/v1/keys/{name}/rotate", post(keys::rotate_key))
        .route("/v1/keys/{name}/restore", post(keys::restore_key))
        .route("/v1/keys/{name}/csr", post(keys::csr))
        .route(
            "/v1/keys/{name}/certificates",
            creates(post(keys::import_certificate)).get(keys::list_certificates),
        )
        .route(
            "/v1/keys/{name}/certificates/{id}",
            removes(delete(keys::delete_certificate)),
        )
        .route(
            "/v1/machine-tokens",
            creates(post(machines::create_token)).get(machines::list_tokens),
        )
        .route(
            "/v1/machine-tokens/{id}",
            removes(delete(machines::disable_token)),
        )
        .route(
            "/v1/machines",
            creates(post(machines::provision)).get(machines::list),
        )
        .route("/v1/machines/register", creates(post(machines::register)))
        .route("/v1/machines/bundle", post(machines::download_bundle))
        .route(
            "/v1/machines/{id}",
            get(machines::get).merge(removes(delete(machines::delete))),
        )
        .route("/v1/machines/{id}/approve", post(machines::approve))
        .route("/v1/machines/{id}/disable", post(machines::disable))
        .route("/v1/machines/{id}/enable", post(machines::enable))
        .route("/v1/machines/{id}/extend", post(machines::extend))
        .route(
            "/v1/machines/{id}/revert-extension",
            post(machines::revert_extension),
        )
        .route("/v1/objects", get(keys::objects))
        .route("/v1/activity", get(activity))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Inside `read_body`, so a slow upload stays a 408 and only the service's work counts;
        // inside `request_frame`, so a timed-out request still gets its audit event.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            state.request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            read_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_frame,
        ))
        .with_state(state)
}

/// A route that answers 201 Created on success.
fn creates(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    answering(StatusCode::CREATED, route)
}

/// A route that answers 204 No Content on success.
fn removes(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    answering(StatusCode::NO_CONTENT, route)
}

/// A route whose success is `status` rather than 200, so that its audit event (written
/// before the answer, often in the same transaction as the change) records the status the
/// client gets.
fn answering(status: StatusCode, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.route_layer(from_fn(move |request: Request, next: Next| async move {
        next.run(with_success_status(request, status)).await
    }))
}

fn with_success_status(mut request: Request, status: StatusCode) -> Request {
    if let Some(meta) = request.extensions_mut().get_mut::<RequestMeta>() {
        meta.success_status = status.as_u16();
    }
    request
}

/// Paths that serve operations, not tenants: not audited (they touch no object and carry
/// no credential), so load balancers can poll them freely.
fn is_operations_path(path: &str) -> bool {
    matches!(
        path,
        "/v1/health" | "/v1/ready" | "/metrics" | "/v1/openapi.json"
    )
}

/// The caller, once known, for the safety net's event.
#[derive(Clone, Default)]
struct CallerSlot(Arc<Mutex<Option<Arc<Caller>>>>);

/// The error code a response carries, for the safety net's event.
#[derive(Clone, Copy)]
struct ErrorCode(&'static str);

fn request_id_from(parts: &axum::http::HeaderMap) -> String {
    parts
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| crate::service::new_event_id("req"))
}

/// Wraps every request: assigns the request id, runs the request inside one tracing span
/// (so every log line it causes names the request), and guarantees an audit event for any
/// request the service did not audit itself (no credential, bad body, unknown route, request
/// timeout). If that event cannot be recorded, the answer becomes a 503.
async fn request_frame(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request_id = request_id_from(request.headers());
    let span = request_span(&request, &request_id);
    framed(state, request, next, request_id)
        .instrument(span)
        .await
}

/// The span of one request. `route` is the route's template (`/v1/keyrings/{ring}/encrypt`),
/// never the raw path, which can name tenants' objects; `principal` is recorded by
/// authentication once the caller is known.
fn request_span(request: &Request, request_id: &str) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str);
    tracing::info_span!(
        "request",
        request_id,
        method = request.method().as_str(),
        route,
        principal = tracing::field::Empty,
    )
}

async fn framed(state: AppState, mut request: Request, next: Next, request_id: String) -> Response {
    state.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let source_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let meta = RequestMeta::new(request_id.clone(), source_ip);
    let slot = CallerSlot::default();
    let action = format!("http.{}", request.method().as_str().to_ascii_lowercase());
    let path = request.uri().path().to_owned();
    request.extensions_mut().insert(meta.clone());
    request.extensions_mut().insert(slot.clone());

    let answer = next.run(request).await;
    let timed_out = is_request_timeout(&answer);
    let mut response = json_errors_only(answer, &request_id).await;
    if timed_out {
        tracing::error!("request failed: not answered within the request timeout");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }

    if meta.audit_pending() && !is_operations_path(&path) {
        let code = response
            .extensions()
            .get::<ErrorCode>()
            .map_or("success", |c| c.0);
        let caller = slot.0.lock().expect("caller slot poisoned").clone();
        let status = response.status().as_u16();
        let recorded = state
            .service
            .audit_rejected(&meta, caller.as_deref(), &action, &path, status, code)
            .await;
        if let Err(e) = recorded {
            response = error_response(&e, &request_id);
        }
    }
    let counter = match response.status().as_u16() {
        200..=399 => &state.metrics.responses_2xx,
        400..=499 => &state.metrics.responses_4xx,
        _ => &state.metrics.responses_5xx,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Whether `response` is the request-timeout layer's: every other 503 is a service error,
/// which carries its code.
fn is_request_timeout(response: &Response) -> bool {
    response.status() == StatusCode::SERVICE_UNAVAILABLE
        && response.extensions().get::<ErrorCode>().is_none()
}

/// The SHA-256 of a signed request's body, as received.
#[derive(Clone, Copy)]
struct BodyDigest([u8; 32]);

/// Reads every request body before routing: a body announced larger than the limit is
/// refused from its `Content-Length` alone, one that turns out larger is refused as soon as
/// it crosses the limit (HTTP/1.1 and HTTP/2 alike: always a 413, never a stream error),
/// and one that does not arrive within the body timeout is a 408. A signed request's body
/// is hashed here, as received, for its signature check.
async fn read_body(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestMeta>()
        .map(|m| m.request_id.clone())
        .unwrap_or_default();
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (mut parts, mut body) = request.into_parts();
    if announced.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return refused_before_reading(
            parts.version,
            state.body_read_timeout,
            error_response(&Error::PayloadTooLarge, &request_id),
            body,
        );
    }
    let read = tokio::time::timeout(
        state.body_read_timeout,
        read_limited(&mut body, MAX_BODY_BYTES),
    )
    .await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(unread)) => {
            if parts.version < axum::http::Version::HTTP_2 {
                let _ = tokio::time::timeout(state.body_read_timeout, discard(&mut body)).await;
            }
            let response = error_response(&unread.error(), &request_id);
            return refused_before_reading(parts.version, state.body_read_timeout, response, body);
        }
        Err(_) => {
            let response = error_response(&Error::RequestTimeout, &request_id);
            return refused_before_reading(parts.version, state.body_read_timeout, response, body);
        }
    };
    if crate::auth::signed::is_signed(&parts.headers) {
        let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
        parts.extensions.insert(BodyDigest(digest));
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// Why a body could not be read.
enum Unread {
    TooLarge,
    Broken,
}

impl Unread {
    fn error(&self) -> Error {
        match self {
            Unread::TooLarge => Error::PayloadTooLarge,
            Unread::Broken => Error::InvalidInput("the request body could not be read".into()),
        }
    }
}

/// The body's bytes, refused as soon as they exceed `limit`. A body in one frame (the
/// usual small request) is taken as is, without a copy.
async fn read_limited(
    body: &mut axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, Unread> {
    use http_body_util::BodyExt;
    let mut chunks: Vec<axum::body::Bytes> = Vec::new();
    let mut length = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| Unread::Broken)?.into_data() else {
            continue; // trailers carry nothing Coffer reads
        };
        length += data.len();
        if length > limit {
            return Err(Unread::TooLarge);
        }
        chunks.push(data);
    }
    Ok(match chunks.len() {
        0 => axum::body::Bytes::new(),
        1 => chunks.remove(0),
        _ => chunks.concat().into(),
    })
}

/// Most of an oversized HTTP/1.1 body that is read and thrown away before the 413 goes out:
/// a client still writing its body (chunked, with no length to refuse up front) otherwise
/// meets a closed connection and never reads the answer.
const DISCARD_LIMIT: usize = 8 * MAX_BODY_BYTES;

async fn discard(body: &mut axum::body::Body) {
    use http_body_util::BodyExt;
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |d| d.len());
        if seen > DISCARD_LIMIT {
            break;
        }
    }
}

/// Answers without reading the rest of the request body. Over HTTP/2 the answer goes out
/// at once and the rest of the body is read and thrown away afterwards (bounded), so the
/// stream ends normally: resetting it instead (CANCEL, or even the NO_ERROR the RFC allows)
/// makes common clients, curl among them, report a stream error and never show the answer.
/// HTTP/1.1 closes the connection after the answer either way.
fn refused_before_reading(
    version: axum::http::Version,
    within: std::time::Duration,
    response: Response,
    unread: axum::body::Body,
) -> Response {
    if version != axum::http::Version::HTTP_2 {
        return response;
    }
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        axum::body::Body::new(AnswerFirst {
            answer: body,
            unread: Some(unread),
            within,
        }),
    )
}

/// A response body that, once sent (dropped), discards what is left of the request body.
struct AnswerFirst {
    answer: axum::body::Body,
    unread: Option<axum::body::Body>,
    within: std::time::Duration,
}

impl Drop for AnswerFirst {
    fn drop(&mut self) {
        if let Some(mut unread) = self.unread.take() {
            let within = self.within;
            tokio::spawn(async move {
                let _ = tokio::time::timeout(within, discard(&mut unread)).await;
            });
        }
    }
}

impl axum::body::HttpBody for AnswerFirst {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.answer).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.answer.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.answer.size_hint()
    }
}

/// Gives every error the documented JSON shape, whichever layer produced it: extractor
/// rejections (a path parameter that is not UTF-8, a bad query string) answer in plain text
/// otherwise. The original text is kept as the message of a 4xx; a 5xx says nothing more.
async fn json_errors_only(response: Response, request_id: &str) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<ErrorCode>().is_some()
    {
        return response;
    }
    let code = code_for_status(status);
    let message = if status.is_client_error() {
        let text = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .unwrap_or_default();
        if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("bad request")
                .to_owned()
        } else {
            text
        }
    } else {
        "the service cannot serve this request right now; retry".to_owned()
    };
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message,
            request_id,
        },
    };
    let mut rendered = (status, Json(body)).into_response();
    rendered.extensions_mut().insert(ErrorCode(code));
    rendered
}

/// The contract's error code for a status that some layer produced without one.
fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        408 => "request_timeout",
        409 => "conflict",
        413 => "payload_too_large",
        429 => "rate_limited",
        500 => "internal",
        501..=599 => "unavailable",
        _ => "invalid_input",
    }
}

/// What the service needs to check a signed request.
fn signed_request(parts: &Parts) -> crate::service::SignedRequest {
    use crate::auth::signed;
    crate::service::SignedRequest {
        headers: signed::SignedHeaders::parse(&parts.headers),
        claimed_machine_id: parts
            .headers
            .get(signed::MACHINE_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        method: parts.method.as_str().to_owned(),
        target: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        body_sha256: parts.extensions.get::<BodyDigest>().map_or_else(
            || <sha2::Sha256 as sha2::Digest>::digest(b"").into(),
            |d| d.0,
        ),
    }
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(serde::Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    request_id: &'a str,
}

/// Renders a service error in api.md's shape. The full cause of a 5xx goes to the log,
/// with the request id, never to the body.
fn error_response(error: &Error, request_id: &str) -> Response {
    let (status, code) = error.status_and_code();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(request_id, error = ?error, "request failed");
    }
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message: error.public_message(),
            request_id,
        },
    };
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(ErrorCode(code));
    match error {
        Error::Unauthenticated => {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        Error::Unavailable(_) => {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        Error::RateLimited { retry_after_secs } => {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        _ => {}
    }
    response
}

/// A service error together with the request id to report it under.
pub struct ApiError {
    error: Error,
    request_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self.error, &self.request_id)
    }
}

fn meta_of(parts: &Parts) -> RequestMeta {
    parts
        .extensions
        .get::<RequestMeta>()
        .cloned()
        .unwrap_or_else(|| RequestMeta::new(crate::service::new_event_id("req"), None))
}

/// An authenticated request: the caller and the request facts.
pub struct Authed {
    pub caller: Arc<Caller>,
    pub meta: RequestMeta,
}

impl Authed {
    pub fn ctx(&self) -> crate::service::Ctx<'_> {
        crate::service::Ctx {
            meta: &self.meta,
            caller: &self.caller,
        }
    }

    /// Wraps a service error for rendering.
    pub fn fail(&self, error: Error) -> ApiError {
        ApiError {
            error,
            request_id: self.meta.request_id.clone(),
        }
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let meta = meta_of(parts);
        let reject = |error| ApiError {
            error,
            request_id: meta.request_id.clone(),
        };
        let peer_chain = parts
            .extensions
            .get::<tls::PeerCertificates>()
            .map(|c| Arc::clone(&c.0))
            .filter(|chain| !chain.is_empty());
        // The first credential present decides: a bearer token, else a signed request,
        // else a client certificate.
        let signed = crate::auth::signed::is_signed(&parts.headers);
        let caller = match (parts.headers.get(header::AUTHORIZATION), peer_chain) {
            (None, _) if signed => state
                .service
                .authenticate_signed(&meta, signed_request(parts))
                .await
                .map_err(reject)?,
            (Some(header), _) => {
                let token = header
                    .to_str()
                    .ok()
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .ok_or_else(|| reject(Error::Unauthenticated))?;
                state
                    .service
                    .authenticate(token.trim())
                    .await
                    .map_err(reject)?
            }
            (None, Some(chain)) => Arc::new(
                state
                    .service
                    .authenticate_certificate(&chain)
                    .await
                    .map_err(reject)?,
            ),
            (None, None) => return Err(reject(Error::Unauthenticated)),
        };
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            *slot.0.lock().expect("caller slot poisoned") = Some(Arc::clone(&caller));
        }
        Ok(Self { caller, meta })
    }
}

/// A JSON body, with api.md's errors for bodies that are too large or malformed.
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = request
            .extensions()
            .get::<RequestMeta>()
            .map(|m| m.request_id.clone())
            .unwrap_or_default();
        let reject = |error| ApiError {
            error,
            request_id: request_id.clone(),
        };
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    reject(Error::PayloadTooLarge)
                } else {
                    reject(Error::InvalidInput(
                        "the request body could not be read".into(),
                    ))
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| reject(Error::InvalidInput(format!("malformed JSON body: {e}"))))
    }
}

/// A request that carries no credential (login, password reset): only the request facts.
pub struct Anonymous {
    pub meta: RequestMeta,
}

impl Anonymous {
    pub fn fail(&self, error: Error) -> ApiError {
        ApiError {
            error,
            request_id: self.meta.request_id.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Anonymous {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            meta: meta_of(parts),
        })
    }
}
