//! What the machine tests share: a server on a clock the test moves, machine tokens,
//! signed encrypt requests, clients bound to another source address, and readers of the
//! audit feed. Enrolment, signed-request and lockout tests live in separate files.

use crate::support::{MachineKey, RawRequest, Reply, TestServer, b64};
use coffer::clock::{Clock, ManualClock};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

pub const ALL_OPS: [&str; 2] = ["encrypt", "decrypt"];

/// A server on a clock the test moves, with one group and one envelope keyring in it.
pub async fn server_with_clock() -> anyhow::Result<(TestServer, Arc<ManualClock>, String)> {
    let clock = Arc::new(ManualClock::starting_now());
    let shared = Arc::clone(&clock);
    let s = TestServer::start_with(move |c| c.clock = shared).await?;
    let group = s.group("fleet").await?;
    s.keyring("ring", &group, json!({})).await?;
    Ok((s, clock, group))
}

pub fn secs(clock: &ManualClock) -> i64 {
    clock.now_micros() / 1_000_000
}

pub async fn token(s: &TestServer, body: Value) -> anyhow::Result<String> {
    let reply = s.owner_post("/v1/machine-tokens", body).await?;
    anyhow::ensure!(
        reply.status == 201,
        "token: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply.str("token"))
}

pub fn encrypt_request(machine: &MachineKey, timestamp: i64) -> RawRequest {
    RawRequest::signed(
        machine,
        Method::POST,
        "/v1/keyrings/ring/encrypt",
        Some(&json!({"plaintext": b64(b"machine data")})),
        timestamp,
    )
}

/// The audit details (`detail`) of refused signed requests, oldest first.
pub async fn refusals(s: &TestServer) -> anyhow::Result<Vec<String>> {
    let feed = s.get("/v1/activity?limit=1000", &s.owner_key).await?;
    let mut details: Vec<String> = feed.body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "auth.signed")
        .filter_map(|e| e["detail"].as_str().map(str::to_owned))
        .collect();
    details.reverse();
    Ok(details)
}

/// A client whose connections come from `ip` (127.0.0.x all reach the server on Linux).
pub fn client_from(s: &TestServer, ip: &str) -> anyhow::Result<reqwest::Client> {
    let pem = std::fs::read(s.ca_cert())?;
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
        .local_address(ip.parse::<std::net::IpAddr>()?)
        .build()?)
}

pub fn assert_refused(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.body);
    assert_eq!(reply.code(), "unauthenticated", "{what}");
}

/// The events of the owner's feed, newest first.
pub async fn events(s: &TestServer) -> anyhow::Result<Vec<Value>> {
    let feed = s.get("/v1/activity?limit=1000", &s.owner_key).await?;
    Ok(feed.body["events"].as_array().cloned().unwrap_or_default())
}

/// A machine identity directory for `machine`, as `coffer machine bootstrap` writes it.
pub async fn write_identity(
    s: &TestServer,
    machine: &MachineKey,
    name: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let dir = s.dir.path().join(name);
    std::fs::create_dir_all(&dir)?;
    let identity = json!({"machine_id": machine.id, "account_id": s.account_id().await?});
    std::fs::write(dir.join("identity.json"), identity.to_string())?;
    // PKCS#8 v1 (the seed alone), as the CLI writes it.
    let pem = coffer::crypto::ed25519_pkcs8_v1_pem(&machine.key.to_bytes());
    std::fs::write(dir.join("private.pem"), pem.as_bytes())?;
    Ok(dir)
}
