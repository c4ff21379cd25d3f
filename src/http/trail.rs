//! The tamper-evident trail over HTTP: the streamed export (JSON lines), checkpoints and
//! the public key that verifies them.
//!
//! The export streams page by page through a small channel, so a large trail never sits
//! in memory whole; a page that cannot be read ends the stream early, which a verifier
//! reports as a truncated export (the status line was already sent).

use super::handlers::{Reply, created, ok};
use super::{AppState, Authed, dto};
use crate::audit::export::{self, CheckpointLine, EventLine, Header, Line};
use crate::service::{ExportPlan, Service};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub async fn create_checkpoint(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<(axum::http::StatusCode, Json<dto::Checkpoint>)> {
    created(s.service.checkpoint_now(&auth.ctx()).await?)
}

pub async fn list_checkpoints(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<dto::CheckpointList>> {
    let rows = s.service.list_checkpoints(&auth.ctx()).await?;
    Ok(Json(dto::CheckpointList {
        checkpoints: rows.iter().map(dto::Checkpoint::from).collect(),
    }))
}

pub async fn signing_key(auth: Authed, State(s): State<AppState>) -> Reply<Json<dto::SigningKey>> {
    ok(s.service.trail_signing_key(&auth.ctx()).await?)
}

pub async fn export(auth: Authed, State(s): State<AppState>) -> Reply<Response> {
    let plan = s.service.start_export(&auth.ctx()).await?;
    let (lines, body) = mpsc::channel(4);
    tokio::spawn(write_export(Arc::clone(&s.service), plan, lines));
    Ok((
        [(header::CONTENT_TYPE, "application/jsonl")],
        Body::new(ChannelBody(body)),
    )
        .into_response())
}

/// Writes the export's lines into `lines` until the plan's last position or an error.
async fn write_export(service: Arc<Service>, plan: ExportPlan, lines: mpsc::Sender<Bytes>) {
    let send = |text: String| lines.send(Bytes::from(text));
    let header = Line::Header(Header {
        format: export::FORMAT.to_owned(),
        chain: plan.chain.clone(),
        from: plan.after + 1,
        to: plan.end.position,
        signing_key_id: plan.key.id.clone(),
        algorithm: plan.key.algorithm.clone(),
        public_key: plan.key.public_key.clone(),
    });
    if send(export::to_line(&header)).await.is_err() {
        return;
    }
    if let Some(anchor) = &plan.anchor {
        let line = Line::Checkpoint(CheckpointLine::from(anchor));
        if send(export::to_line(&line)).await.is_err() {
            return;
        }
    }
    let mut after = plan.after;
    while after < plan.end.position {
        let page = match service.export_page(&plan, after).await {
            Ok(page) if !page.events.is_empty() => page,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "an audit export stopped early");
                return;
            }
        };
        let mut text = String::new();
        let mut checkpoints = page.checkpoints.iter().peekable();
        for stored in &page.events {
            let Some(link) = stored.link else { continue };
            text.push_str(&export::to_line(&Line::Event(Box::new(EventLine::new(
                &stored.event,
                &link,
            )))));
            while let Some(c) = checkpoints.next_if(|c| c.position == link.position) {
                text.push_str(&export::to_line(&Line::Checkpoint(CheckpointLine::from(c))));
            }
            after = link.position;
        }
        if send(text).await.is_err() {
            return;
        }
    }
}

/// A response body fed by a channel: each message is one chunk; the body ends when the
/// sender is dropped.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}
