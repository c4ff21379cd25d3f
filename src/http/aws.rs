//! The AWS KMS face (docs/aws-kms.md): `POST /` on the API's own listener and TLS, with the
//! operation in `X-Amz-Target: TrentService.<Operation>`, a JSON 1.1 body and a SigV4
//! signature, which is what AWS SDKs send to an endpoint URL. It is a second protocol, not a
//! route of the catalogue: the operations are dispatched by header, answered in AWS's shapes
//! and errors (`{"__type": …, "message": …}`), and documented in docs/aws-kms.md rather than
//! in the OpenAPI document. Behind it is the same service, with the access key's app as the
//! caller, so flags, groups, policies and the audit trail apply unchanged.
//!
//! Also here: the native routes that manage an app's AWS access key pairs.

use super::errors::ErrorCode as Rendered;
use super::handlers::{Created, Reply, all, created, no_content, ok};
use super::{AppState, Authed, CallerSlot, JsonBody, dto};
use crate::auth::sigv4;
use crate::ids::{AppId, AwsAccessKeyId};
use crate::service::{
    AwsCall, AwsErrorType, AwsFault, Caller, Ctx, ErrorCode, Outcome, RequestMeta,
};
use crate::service::{SigV4Caller, SigV4Failure};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The JSON 1.1 content type AWS answers with.
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The target prefix of every KMS operation.
const TARGET_PREFIX: &str = "TrentService.";

/// `POST /`: one AWS KMS call.
pub async fn kms(
    State(state): State<AppState>,
    Extension(meta): Extension<RequestMeta>,
    Extension(slot): Extension<CallerSlot>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = operation_of(&headers);
    let mut meta = meta;
    meta.via = Some(format!("aws-kms:{}", operation.unwrap_or("?")));
    let mut claimed = None;
    let answer = match operation {
        None => Err(AwsFault {
            error: AwsErrorType::UnknownOperation,
            message: format!("X-Amz-Target must be {TARGET_PREFIX}<Operation>"),
        }),
        Some(operation) => {
            let request = Arrived {
                uri: &uri,
                headers: &headers,
                body: &body,
            };
            call(&state, &meta, &slot, &mut claimed, request, operation).await
        }
    };
    let answer = match answer {
        Err(fault) if meta.audit_pending() => {
            audit_refusal(&state, &meta, &slot, claimed, fault).await
        }
        other => other,
    };
    render(answer, &meta.request_id)
}

/// The operation named by `X-Amz-Target`, if it is a KMS one.
fn operation_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-amz-target")?
        .to_str()
        .ok()?
        .strip_prefix(TARGET_PREFIX)
        .filter(|op| !op.is_empty() && op.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// What arrived: what the signature covers.
struct Arrived<'a> {
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

/// Authenticates the request, then runs the operation as its access key's app. A request
/// signed with a wrong secret leaves the app its access key names in `claimed`.
async fn call(
    state: &AppState,
    meta: &RequestMeta,
    slot: &CallerSlot,
    claimed: &mut Option<Arc<Caller>>,
    request: Arrived<'_>,
    operation: &str,
) -> Result<serde_json::Value, AwsFault> {
    let verified = authenticate(state, &request).await.map_err(|failure| {
        if let SigV4Failure::Mismatch(app) = &failure {
            *claimed = Some(Arc::clone(app));
        }
        refusal(failure)
    })?;
    let SigV4Caller { caller, region } = verified;
    *slot.0.lock().expect("caller slot poisoned") = Some(Arc::clone(&caller));
    tracing::Span::current().record("principal", caller.principal_id.as_str());
    let ctx = Ctx {
        meta,
        caller: &caller,
    };
    let call = AwsCall {
        operation,
        region: &region,
        body: request.body,
    };
    state.service.aws_kms(&ctx, call).await
}

/// Checks the SigV4 signature over what arrived.
async fn authenticate(
    state: &AppState,
    arrived: &Arrived<'_>,
) -> Result<SigV4Caller, SigV4Failure> {
    let Arrived { uri, headers, body } = *arrived;
    let mut signed: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    // HTTP/2 carries the host as the `:authority` pseudo-header, which is in the URI.
    if !headers.contains_key(header::HOST)
        && let Some(authority) = uri.authority()
    {
        signed.push(("host".to_owned(), authority.as_str().to_owned()));
    }
    let request = sigv4::SignedRequest {
        method: "POST",
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &signed,
        body,
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    state
        .service
        .authenticate_sigv4(authorization, &request)
        .await
}

/// The AWS error a client expects for each way a signature fails.
fn refusal(failure: SigV4Failure) -> AwsFault {
    let error = match &failure {
        SigV4Failure::Unsigned => AwsErrorType::MissingAuthenticationToken,
        SigV4Failure::Incomplete(_) => AwsErrorType::IncompleteSignature,
        SigV4Failure::Expired | SigV4Failure::Mismatch(_) => AwsErrorType::InvalidSignature,
        SigV4Failure::UnknownAccessKey => AwsErrorType::UnrecognizedClient,
        SigV4Failure::Unavailable(_) => AwsErrorType::DependencyTimeout,
    };
    if let SigV4Failure::Unavailable(cause) = &failure {
        tracing::error!(error = ?cause, "cannot check a SigV4 signature");
    }
    AwsFault {
        error,
        message: failure.message(),
    }
}

/// Records a call the service did not audit (refused before it ran: its signature, its
/// target, or a body the operation could not read). If the event cannot be recorded, the
/// answer becomes the 503 every unaudited request is.
async fn audit_refusal(
    state: &AppState,
    meta: &RequestMeta,
    slot: &CallerSlot,
    claimed: Option<Arc<Caller>>,
    fault: AwsFault,
) -> Result<serde_json::Value, AwsFault> {
    let verified = slot.0.lock().expect("caller slot poisoned").clone();
    let is_claim = verified.is_none() && claimed.is_some();
    let caller = verified.or(claimed);
    let mut meta = meta.clone();
    meta.via = Some(format!(
        "{}; {}",
        meta.via.as_deref().unwrap_or("aws-kms"),
        fault.error.name()
    ));
    let recorded = state
        .service
        .audit_aws_refusal(
            &meta,
            caller.as_deref(),
            is_claim,
            fault.error.status(),
            Outcome::Failure(native_code(fault.error)),
        )
        .await;
    match recorded {
        Ok(()) => Err(fault),
        Err(_) => Err(AwsFault {
            error: AwsErrorType::DependencyTimeout,
            message: "the service cannot serve this request right now; retry".to_owned(),
        }),
    }
}

/// The native error code an AWS error stands for, for the audit trail's outcome.
fn native_code(error: AwsErrorType) -> ErrorCode {
    match error {
        AwsErrorType::UnrecognizedClient
        | AwsErrorType::InvalidSignature
        | AwsErrorType::IncompleteSignature
        | AwsErrorType::MissingAuthenticationToken => ErrorCode::Unauthenticated,
        AwsErrorType::DependencyTimeout => ErrorCode::Unavailable,
        AwsErrorType::Internal => ErrorCode::Internal,
        _ => ErrorCode::InvalidInput,
    }
}

/// The JSON 1.1 answer: the operation's shape, or `{"__type", "message"}`.
fn render(answer: Result<serde_json::Value, AwsFault>, request_id: &str) -> Response {
    let (status, body, code) = match answer {
        Ok(value) => (StatusCode::OK, value, None),
        Err(fault) => {
            let status = StatusCode::from_u16(fault.error.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = serde_json::json!({"__type": fault.error.name(), "message": fault.message});
            (status, body, Some(native_code(fault.error)))
        }
    };
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    // An AWS error is already the answer: the frame must not re-render it as a native one.
    if let Some(code) = code {
        response.extensions_mut().insert(Rendered(code));
    }
    response
}

pub async fn create_credential(
    auth: Authed,
    State(s): State<AppState>,
    Path(app): Path<AppId>,
    JsonBody(body): JsonBody<dto::CreateAwsCredential>,
) -> Reply<Created<dto::CreatedAwsCredential>> {
    created(
        &s.service
            .create_aws_credential(&auth.ctx(), &app, body.into())
            .await?,
    )
}

pub async fn list_credentials(
    auth: Authed,
    State(s): State<AppState>,
    Path(app): Path<AppId>,
) -> Reply<Json<Vec<dto::AwsCredential>>> {
    all(&s.service.list_aws_credentials(&auth.ctx(), &app).await?)
}

pub async fn update_credential(
    auth: Authed,
    State(s): State<AppState>,
    Path((app, id)): Path<(AppId, AwsAccessKeyId)>,
    JsonBody(body): JsonBody<dto::PatchAwsCredential>,
) -> Reply<Json<dto::AwsCredential>> {
    ok(&s
        .service
        .set_aws_credential_disabled(&auth.ctx(), &app, &id, body.disabled)
        .await?)
}

pub async fn delete_credential(
    auth: Authed,
    State(s): State<AppState>,
    Path((app, id)): Path<(AppId, AwsAccessKeyId)>,
) -> Reply<StatusCode> {
    no_content(
        s.service
            .delete_aws_credential(&auth.ctx(), &app, &id)
            .await,
    )
}
