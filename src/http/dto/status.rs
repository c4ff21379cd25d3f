//! Replies about the service itself rather than an object: its health or readiness, and the
//! body every error carries.

use crate::http::openapi::fields::enumeration;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;

/// `GET /v1/health` and `GET /v1/ready`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Status)]
pub struct ServiceStatus {
    #[schema(schema_with = status)]
    pub status: &'static str,
}

fn status() -> Schema {
    enumeration(["ok", "ready", "unavailable"]).into()
}

/// The body of every error reply, as `http::errors` renders it.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Error)]
pub struct ErrorReply {
    #[schema(inline)]
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// invalid_input, unauthenticated, forbidden, temp_machine_blocked, group_frozen, not_found, conflict, key_disabled, usage_not_allowed, version_retired, payload_too_large, request_timeout, decrypt_failed, rate_limited, unavailable, internal, policy_denied
    pub code: String,
    pub message: String,
    pub request_id: String,
}
