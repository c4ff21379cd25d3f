//! What the access-policy tests share: a server on a clock the test moves, a second node
//! on the same database, token and clock, and helpers to create and bind policies.

use crate::support::{Reply, TestServer, b64, hsm_settings};
use coffer::app::{AppConfig, Running};
use coffer::clock::{Clock, ManualClock};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

/// Every flag an app of these tests uses.
pub fn app_flags() -> Value {
    json!({"*.*.*.*": true, "secret.*.*": true, "keyring.*.*.*": true, "key.*.*.*": true})
}

/// A server on a clock the test moves, with group `G`; answers (server, clock, group id).
pub async fn server() -> anyhow::Result<(TestServer, Arc<ManualClock>, String)> {
    let clock = Arc::new(ManualClock::starting_now());
    let shared = Arc::clone(&clock);
    let s = TestServer::start_with(move |c| c.clock = shared).await?;
    let group = s.group("G").await?;
    Ok((s, clock, group))
}

/// Another node in this process on the test server's database and token, on the same clock.
pub async fn second_node(s: &TestServer, clock: &Arc<ManualClock>) -> anyhow::Result<Running> {
    let layout = coffer::dev::DevLayout::new(s.dir.path())?;
    let tls = layout.ensure_tls()?;
    let mut config = AppConfig::new(hsm_settings(&s.token), s.database.clone(), Some(tls));
    config.clock = Arc::clone(clock) as Arc<dyn Clock>;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    coffer::app::start(config, listener).await
}

/// `POST /v1/policies` as the owner; fails unless created; answers the policy id.
pub async fn create_policy(
    s: &TestServer,
    group: &str,
    name: &str,
    axes: Value,
) -> anyhow::Result<String> {
    let mut body = json!({"group": group, "name": name});
    if let (Some(body), Some(axes)) = (body.as_object_mut(), axes.as_object()) {
        body.extend(axes.clone());
    }
    let reply = s.owner_post("/v1/policies", body).await?;
    anyhow::ensure!(
        reply.status == 201,
        "policy create: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply.str("id"))
}

/// `PUT /v1/policies/<id>/bindings/<kind>/<object>` as the owner; fails unless 200.
pub async fn bind(s: &TestServer, policy: &str, kind: &str, object: &str) -> anyhow::Result<()> {
    let reply = put(
        s,
        &format!("/v1/policies/{policy}/bindings/{kind}/{object}"),
    )
    .await?;
    anyhow::ensure!(reply.status == 200, "bind: {} {}", reply.status, reply.body);
    Ok(())
}

pub async fn put(s: &TestServer, path: &str) -> anyhow::Result<Reply> {
    s.call(Method::PUT, path, Some(&s.owner_key), None).await
}

/// A policy with `axes` bound to a new envelope keyring `ring` of `group`.
pub async fn bound_keyring(
    s: &TestServer,
    group: &str,
    ring: &str,
    axes: Value,
) -> anyhow::Result<String> {
    s.keyring(ring, group, json!({})).await?;
    let policy = create_policy(s, group, &format!("{ring}-policy"), axes).await?;
    bind(s, &policy, "keyring", ring).await?;
    Ok(policy)
}

/// An encrypt of a short text with keyring `ring` as `key` at `url`.
pub async fn encrypt_at(s: &TestServer, url: &str, ring: &str, key: &str) -> anyhow::Result<Reply> {
    let path = format!("/v1/keyrings/{ring}/encrypt");
    let request = s
        .client
        .post(format!("{url}{path}"))
        .bearer_auth(key)
        .json(&json!({"plaintext": b64(b"policy")}));
    let reply = request.send().await?;
    let status = reply.status().as_u16();
    let headers = reply.headers().clone();
    let body = reply.json().await.unwrap_or(Value::Null);
    Ok(Reply {
        status,
        body,
        headers,
    })
}

/// Asserts a policy refusal: 403 `policy_denied`, with a message that names `words`.
pub fn assert_denied(reply: &Reply, words: &str) {
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.code(), "policy_denied", "{}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{message:?} should name {words:?}");
}

/// `HH:MM` of the clock's time shifted by `minutes` in a zone `offset_minutes` east of UTC.
pub fn local_hhmm(clock: &ManualClock, offset_minutes: i64, minutes: i64) -> String {
    let seconds = clock.now_micros() / 1_000_000 + (offset_minutes + minutes) * 60;
    let of_day = seconds.rem_euclid(86_400) / 60;
    format!("{:02}:{:02}", of_day / 60, of_day % 60)
}

/// The owner's activity feed, newest first.
pub async fn events(s: &TestServer) -> anyhow::Result<Vec<Value>> {
    let feed = s.get("/v1/activity?limit=1000", &s.owner_key).await?;
    Ok(feed.body["events"].as_array().cloned().unwrap_or_default())
}
