//! What the stream and alert tests share: a server-sent-events reader over a real HTTPS
//! response, and a local webhook receiver that checks Coffer's signatures.

use crate::support::TestServer;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One server-sent event, or a comment (a heartbeat).
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub event: String,
    pub data: String,
    pub comment: bool,
}

/// An open `GET /v1/activity/stream`, read as the events arrive.
pub struct Sse {
    response: reqwest::Response,
    buffer: String,
    ready: VecDeque<SseEvent>,
}

impl Sse {
    /// Opens the stream as `key` with `query`, resuming after `last_id` if given.
    pub async fn open(
        s: &TestServer,
        key: &str,
        query: &str,
        last_id: Option<i64>,
    ) -> anyhow::Result<Self> {
        let mut request = s
            .client
            .get(format!("{}/v1/activity/stream{query}", s.url))
            .bearer_auth(key);
        if let Some(id) = last_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await?;
        anyhow::ensure!(
            response.status() == 200,
            "stream: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
        Ok(Self {
            response,
            buffer: String::new(),
            ready: VecDeque::new(),
        })
    }

    /// The next event or comment within `within`; `None` once the stream ended.
    pub async fn next(&mut self, within: Duration) -> anyhow::Result<Option<SseEvent>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .map_err(|_| anyhow::anyhow!("no event within {within:?}"))??;
            let Some(chunk) = chunk else {
                return Ok(None);
            };
            self.buffer.push_str(std::str::from_utf8(&chunk)?);
            self.parse();
        }
    }

    /// The next `audit` event, skipping heartbeats.
    pub async fn next_audit(&mut self, within: Duration) -> anyhow::Result<Option<SseEvent>> {
        loop {
            match self.next(within).await? {
                Some(e) if e.comment => continue,
                other => return Ok(other),
            }
        }
    }

    fn parse(&mut self) {
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut event = SseEvent::default();
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix(':') {
                    event.comment = true;
                    event.data = rest.trim().to_owned();
                } else if let Some(id) = line.strip_prefix("id: ") {
                    event.id = id.parse().ok();
                } else if let Some(name) = line.strip_prefix("event: ") {
                    event.event = name.to_owned();
                } else if let Some(data) = line.strip_prefix("data: ") {
                    event.data = data.to_owned();
                }
            }
            self.ready.push_back(event);
        }
    }
}

/// What the receiver got: (Coffer-Delivery, body as JSON), and signatures that failed.
#[derive(Default, Clone)]
pub struct Received {
    pub deliveries: Vec<(String, serde_json::Value)>,
    pub bad_signatures: usize,
}

/// A webhook receiver on 127.0.0.1 that checks every delivery's signature and time.
pub struct Receiver {
    pub addr: SocketAddr,
    pub secret: Arc<Mutex<String>>,
    pub received: Arc<Mutex<Received>>,
}

#[derive(Clone)]
struct ReceiverState {
    secret: Arc<Mutex<String>>,
    received: Arc<Mutex<Received>>,
}

impl Receiver {
    /// A receiver on a free port that is not started yet.
    pub fn reserve() -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        Ok(Self {
            addr: listener.local_addr()?,
            secret: Arc::default(),
            received: Arc::default(),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub async fn start(&mut self) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        let state = ReceiverState {
            secret: Arc::clone(&self.secret),
            received: Arc::clone(&self.received),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(())
    }

    /// A copy of what arrived so far.
    pub fn snapshot(&self) -> Received {
        self.received.lock().unwrap().clone()
    }

    pub fn set_secret(&self, secret: &str) {
        *self.secret.lock().unwrap() = secret.to_owned();
    }

    /// Waits until `count` deliveries arrived (at most `within`).
    pub async fn wait_for(&self, count: usize, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        while self.received.lock().unwrap().deliveries.len() < count {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "only {} of {count} deliveries within {within:?}",
                self.received.lock().unwrap().deliveries.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

/// Checks `Coffer-Signature: t=<unix>,v1=<hex>` as a receiver would.
fn signature_ok(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(header) = headers
        .get("coffer-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let fresh = (crate::support::unix_now() - t).abs() <= 300;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    fresh && ring::hmac::verify(&key, &signed, &v1).is_ok()
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let secret = state.secret.lock().unwrap().clone();
    let mut received = state.received.lock().unwrap();
    if !signature_ok(&secret, &headers, &body) {
        received.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let delivery = headers
        .get("coffer-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let json = serde_json::from_slice(&body).unwrap_or_default();
    received.deliveries.push((delivery, json));
    StatusCode::NO_CONTENT
}
