//! HTTP: the router, the request frame (request id, audit safety net), extractors, and the
//! rendering of service errors. Handlers translate JSON to service calls and back; they
//! never touch the HSM or the store.

mod ai;
mod approvals;
mod aws;
mod body;
mod dto;
mod errors;
mod extract;
mod handlers;
mod identity;
mod keys;
pub mod listener;
mod machines;
mod metrics;
pub mod openapi;
mod policies;
mod routes;
mod secrets;
mod shares;

mod alerts;
mod stream;
mod templates;
pub mod tls;
mod trail;

pub use errors::ApiError;
use errors::{ErrorCode, error_response, json_errors_only, render_failure};
pub use extract::{Anonymous, Authed, JsonBody};

use crate::service::{Caller, Outcome, RequestMeta, Service};
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
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
    routes::served()
        // The AWS KMS face: its own protocol, dispatched by `X-Amz-Target` (aws.rs).
        .route("/", axum::routing::post(aws::kms))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Inside `read_body`, so a slow upload stays a 408 and only the service's work counts;
        // inside `request_frame`, so a timed-out request still gets its audit event.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            state.request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body::read_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_frame,
        ))
        .with_state(state)
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

    let answer = render_failure(next.run(request).await, &request_id);
    let mut response = json_errors_only(answer, &request_id).await;

    if meta.audit_pending() && !is_operations_path(&path) {
        let outcome = response
            .extensions()
            .get::<ErrorCode>()
            .map_or(Outcome::Success, |c| Outcome::Failure(c.0));
        let caller = slot.0.lock().expect("caller slot poisoned").clone();
        let status = response.status().as_u16();
        let recorded = state
            .service
            .audit_rejected(&meta, caller.as_deref(), &action, &path, status, outcome)
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
