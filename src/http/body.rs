//! Reading request bodies before routing: size limits, the body deadline, and answering a
//! refused body without leaving the client stuck writing it.

use super::errors::error_response;
use super::{AppState, MAX_BODY_BYTES};
use crate::service::{Error, RequestMeta};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

/// The SHA-256 of a signed request's body, as received.
#[derive(Clone, Copy)]
pub(super) struct BodyDigest(pub(super) [u8; 32]);

/// Reads every request body before its handler runs: a body announced larger than the limit is
/// refused from its `Content-Length` alone, one that turns out larger is refused as soon as
/// it crosses the limit (HTTP/1.1 and HTTP/2 alike: always a 413, never a stream error),
/// and one that does not arrive within the body timeout is a 408. A signed request's body
/// is hashed here, as received, for its signature check.
pub(super) async fn read_body(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
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
