//! Rendering errors in the contract's JSON shape, with the request id, whichever layer
//! produced them: the service (through [`ApiError`]), an extractor, or axum itself.

use super::dto::{ErrorDetail, ErrorReply};
use crate::service::Error;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The error code a response carries, for the safety net's event.
#[derive(Clone, Copy)]
pub(super) struct ErrorCode(pub(super) crate::service::ErrorCode);

/// Gives every error the documented JSON shape, whichever layer produced it: extractor
/// rejections (a path parameter that is not UTF-8, a bad query string) answer in plain text
/// otherwise. The original text is kept as the message of a 4xx; a 5xx says nothing more.
pub(super) async fn json_errors_only(response: Response, request_id: &str) -> Response {
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
        // A layer's own 5xx (the request timeout's 503): logged like the service's.
        tracing::error!(request_id, %status, "request failed before the service answered");
        "the service cannot serve this request right now; retry".to_owned()
    };
    let mut rendered = (status, error_body(code.as_str(), message, request_id)).into_response();
    rendered.extensions_mut().insert(ErrorCode(code));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Every 503 tells the client when to retry, whichever layer produced it.
        rendered
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    rendered
}

/// The contract's error code for a status that some layer produced without one.
fn code_for_status(status: StatusCode) -> crate::service::ErrorCode {
    use crate::service::ErrorCode as Code;
    match status.as_u16() {
        401 => Code::Unauthenticated,
        403 => Code::Forbidden,
        404 => Code::NotFound,
        408 => Code::RequestTimeout,
        409 => Code::Conflict,
        413 => Code::PayloadTooLarge,
        429 => Code::RateLimited,
        500 => Code::Internal,
        501..=599 => Code::Unavailable,
        _ => Code::InvalidInput,
    }
}

/// The body of an error reply: the type the OpenAPI `Error` schema is generated from.
fn error_body(code: &str, message: String, request_id: &str) -> Json<ErrorReply> {
    Json(ErrorReply {
        error: ErrorDetail {
            code: code.to_owned(),
            message,
            request_id: request_id.to_owned(),
        },
    })
}

/// Renders a service error in api.md's shape. The full cause of a 5xx goes to the log,
/// with the request id, never to the body.
pub(super) fn error_response(error: &Error, request_id: &str) -> Response {
    if let Error::AwaitingApproval(approval) = error {
        return super::approvals::accepted(approval);
    }
    let (status, code) = error.status_and_code();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(request_id, error = ?error, "request failed");
    }
    let body = error_body(code.as_str(), error.public_message(), request_id);
    let mut response = (status, body).into_response();
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
        Error::PolicyRateLimited {
            retry_after_secs, ..
        } => {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        _ => {}
    }
    response
}

/// A service error on its way out of a handler or extractor. Handlers return service
/// errors with `?`; the request frame, which knows the request id, renders the body.
pub struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError(error)
    }
}

/// A failure waiting for the request frame to render it under the request id.
#[derive(Clone)]
struct Failure(Arc<Error>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        response.extensions_mut().insert(Failure(Arc::new(self.0)));
        response
    }
}

/// Renders a handler's or extractor's failure in api.md's shape, under the request id.
pub(super) fn render_failure(mut response: Response, request_id: &str) -> Response {
    match response.extensions_mut().remove::<Failure>() {
        Some(Failure(error)) => {
            // The status is the one the failure left with: the error's own, or one its
            // producer set over it (405 for a method the path does not serve).
            let mut rendered = error_response(&error, request_id);
            *rendered.status_mut() = response.status();
            rendered
        }
        None => response,
    }
}
