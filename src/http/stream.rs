//! `GET /v1/activity/stream`: the audit trail live, as server-sent events.
//!
//! Each event is `id: <position>`, `event: audit`, `data: <one item of /v1/activity>`. The
//! body is written straight from the service's bounded queue: a comment (`: heartbeat`)
//! when nothing came for the heartbeat interval, so proxies and the listener's idle timeout
//! see traffic, and an `overflow` event before the end when the client fell behind
//! (docs/stream.md).

use super::handlers::{Reply, query};
use super::{AppState, Authed, dto};
use crate::service::{Error, StreamItem};
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub async fn stream(
    auth: Authed,
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<dto::StreamQuery>, QueryRejection>,
) -> Reply<Response> {
    let spec = query(q)?.into_spec(last_event_id(&headers)?)?;
    let opened = s.service.open_stream(&auth.ctx(), spec).await?;
    let heartbeat = s.service.watch_settings().stream_heartbeat;
    let body = SseBody {
        events: opened.events,
        heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat),
        ended: false,
    };
    let headers = [
        (header::CONTENT_TYPE, "text/event-stream"),
        (header::CACHE_CONTROL, "no-store"),
        (header::HeaderName::from_static("x-accel-buffering"), "no"),
    ];
    Ok((headers, Body::new(body)).into_response())
}

/// The `Last-Event-ID` header: a position, or a 400.
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, Error> {
    headers
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
                .filter(|position| *position >= 0)
                .ok_or_else(|| {
                    Error::InvalidInput("Last-Event-ID must be an event id of this stream".into())
                })
        })
        .transpose()
}

/// One item as the text of a server-sent event.
fn render(item: &StreamItem) -> Bytes {
    match item {
        StreamItem::Event(stored) => {
            let data = serde_json::to_string(&dto::Event::from(stored.as_ref()))
                .expect("an event serializes to JSON");
            let id = crate::service::event_position(stored);
            Bytes::from(format!("id: {id}\nevent: audit\ndata: {data}\n\n"))
        }
        StreamItem::Overflow { last } => {
            let data = serde_json::json!({
                "last_event_id": last,
                "message": "the client fell behind; reconnect with Last-Event-ID",
            });
            Bytes::from(format!("event: overflow\ndata: {data}\n\n"))
        }
    }
}

/// The response body: the stream's queue, with heartbeats in the silences.
struct SseBody {
    events: mpsc::Receiver<StreamItem>,
    heartbeat: tokio::time::Interval,
    ended: bool,
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(item)) => {
                self.ended = matches!(item, StreamItem::Overflow { .. });
                self.heartbeat.reset();
                Poll::Ready(Some(Ok(Frame::data(render(&item)))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.heartbeat.poll_tick(cx) {
                Poll::Ready(_) => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                    b": heartbeat\n\n",
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
