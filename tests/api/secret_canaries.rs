//! Canary secrets and frozen groups: the first read of a canary by a granted app or machine
//! answers the value as if nothing happened, and freezes its group (and the groups of
//! related canaries), so that no app reads a secret or decrypts there until an owner
//! unfreezes it.

use crate::identity_support::PASSWORD;
use crate::secrets::{create, grant, read, reader_flags};
use crate::support::{RawRequest, Reply, TestResult, TestServer, b64, unix_now};
use reqwest::Method;
use serde_json::{Value, json};

/// `GET /v1/groups/<g>` as the owner.
async fn group(s: &TestServer, g: &str) -> anyhow::Result<Value> {
    let reply = s.get(&format!("/v1/groups/{g}"), &s.owner_key).await?;
    anyhow::ensure!(
        reply.status == 200,
        "group: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply.body)
}

async fn frozen(s: &TestServer, g: &str) -> anyhow::Result<bool> {
    Ok(group(s, g).await?["frozen_at"].is_string())
}

/// A group with one app (key holds every flag), a keyring `ring`, a canary `trap` holding
/// `bait` and a secret `db`, both granted to the app: returns (group, app, key, ciphertext
/// of the app's encrypt before anything tripped).
async fn trapped_group(s: &TestServer) -> anyhow::Result<(String, String, String, String)> {
    let g = s.group("G").await?;
    let (app, key) = s.app_with_key("reader", &[&g], reader_flags()).await?;
    s.keyring("ring", &g, json!({})).await?;
    create(
        s,
        json!({"name": "trap", "group": g, "kind": "canary", "value": "bait"}),
    )
    .await?;
    create(s, json!({"name": "db", "group": g, "value": "hunter2"})).await?;
    grant(s, "trap", &app).await?;
    grant(s, "db", &app).await?;
    let sealed = s.encrypt("ring", &key, &b64(b"data")).await?;
    anyhow::ensure!(sealed.status == 200, "encrypt: {}", sealed.body);
    Ok((g, app, key, sealed.str("ciphertext")))
}

async fn decrypt(s: &TestServer, key: &str, ciphertext: &str) -> anyhow::Result<Reply> {
    s.post(
        "/v1/keyrings/ring/decrypt",
        key,
        json!({"ciphertext": ciphertext}),
    )
    .await
}

/// The owner's feed: the events with severity `critical`.
async fn critical_events(s: &TestServer) -> anyhow::Result<Vec<Value>> {
    let feed = s.get("/v1/activity?limit=1000", &s.owner_key).await?;
    anyhow::ensure!(feed.status == 200, "activity: {}", feed.body);
    let events = feed.body["events"].as_array().cloned().unwrap_or_default();
    Ok(events
        .into_iter()
        .filter(|e| e["severity"] == "critical")
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_canary_freezes_its_group_until_the_owner_unfreezes_it() -> TestResult {
    let s = TestServer::start().await?;
    let (g, _, key, ciphertext) = trapped_group(&s).await?;
    read(&s, "db", &key).await?.assert_status(200);
    assert!(!frozen(&s, &g).await?);
    assert!(critical_events(&s).await?.is_empty());

    let tripped = read(&s, "trap", &key).await?;
    tripped.assert_status(200);
    assert_eq!(
        tripped.str("value"),
        "bait",
        "the intruder sees nothing unusual"
    );
    let shown = group(&s, &g).await?;
    assert!(shown["frozen_at"].is_string(), "{shown}");

    read(&s, "db", &key)
        .await?
        .assert_error(403, "group_frozen");
    decrypt(&s, &key, &ciphertext)
        .await?
        .assert_error(403, "group_frozen");
    let critical = critical_events(&s).await?;
    assert!(!critical.is_empty(), "a critical event");
    assert!(
        !serde_json::to_string(&critical)?.contains("bait"),
        "no value in the trail"
    );

    let (_, session) = s.group_member("m@example.test", PASSWORD, &g).await?;
    let refused = s
        .post(&format!("/v1/groups/{g}/unfreeze"), &session, json!({}))
        .await?;
    refused.assert_error(403, "forbidden");
    assert!(frozen(&s, &g).await?, "still frozen");
    read(&s, "db", &key)
        .await?
        .assert_error(403, "group_frozen");

    let thawed = s
        .owner_post(&format!("/v1/groups/{g}/unfreeze"), json!({}))
        .await?;
    thawed.assert_status(200);
    assert!(thawed.body["frozen_at"].is_null(), "{}", thawed.body);
    let db = read(&s, "db", &key).await?;
    db.assert_status(200);
    assert_eq!(db.str("value"), "hunter2");
    decrypt(&s, &key, &ciphertext).await?.assert_status(200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_reading_a_canary_freezes_its_group_too() -> TestResult {
    let s = TestServer::start().await?;
    let (g, _, key, _) = trapped_group(&s).await?;
    let machine = s.approved_machine(&[&g], reader_flags()).await?;
    grant(&s, "trap", &machine.id).await?;
    grant(&s, "db", &machine.id).await?;
    let signed = |path: &str| RawRequest::signed(&machine, Method::GET, path, None, unix_now());

    let db = s
        .send_raw(&s.client, &signed("/v1/secrets/db/value"))
        .await?;
    db.assert_status(200);
    assert_eq!(db.str("value"), "hunter2");
    assert!(!frozen(&s, &g).await?);

    let tripped = s
        .send_raw(&s.client, &signed("/v1/secrets/trap/value"))
        .await?;
    tripped.assert_status(200);
    assert_eq!(tripped.str("value"), "bait");
    assert!(frozen(&s, &g).await?);
    let after = s
        .send_raw(&s.client, &signed("/v1/secrets/db/value"))
        .await?;
    after.assert_error(403, "group_frozen");
    read(&s, "db", &key)
        .await?
        .assert_error(403, "group_frozen");
    assert!(!critical_events(&s).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_trips_the_groups_of_its_related_canaries() -> TestResult {
    let s = TestServer::start().await?;
    let g = s.group("G").await?;
    let h = s.group("H").await?;
    let other = s.group("other").await?;
    let (app, key) = s.app_with_key("reader", &[&g], reader_flags()).await?;
    let (h_app, h_key) = s.app_with_key("h-reader", &[&h], reader_flags()).await?;
    create(
        &s,
        json!({"name": "b", "group": h, "kind": "canary", "value": "bait-b"}),
    )
    .await?;
    create(&s, json!({"name": "h-db", "group": h, "value": "h-value"})).await?;
    let a = create(
        &s,
        json!({"name": "a", "group": g, "kind": "canary", "value": "bait-a", "cascade": ["b"]}),
    )
    .await?;
    assert_eq!(a.body["cascade"], json!(["b"]));
    grant(&s, "a", &app).await?;
    grant(&s, "h-db", &h_app).await?;
    read(&s, "h-db", &h_key).await?.assert_status(200);

    read(&s, "a", &key).await?.assert_status(200);
    assert!(frozen(&s, &g).await?, "the canary's group");
    assert!(frozen(&s, &h).await?, "the related canary's group");
    assert!(!frozen(&s, &other).await?, "no other group");
    read(&s, "h-db", &h_key)
        .await?
        .assert_error(403, "group_frozen");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_freezes_a_group_with_a_reason() -> TestResult {
    let s = TestServer::start().await?;
    let (g, _, key, ciphertext) = trapped_group(&s).await?;
    let frozen_now = s
        .owner_post(
            &format!("/v1/groups/{g}/freeze"),
            json!({"reason": "incident"}),
        )
        .await?;
    frozen_now.assert_status(200);
    assert!(
        frozen_now.body["frozen_at"].is_string(),
        "{}",
        frozen_now.body
    );
    assert_eq!(frozen_now.body["frozen_reason"], "incident");
    assert_eq!(group(&s, &g).await?["frozen_reason"], "incident");
    read(&s, "db", &key)
        .await?
        .assert_error(403, "group_frozen");
    decrypt(&s, &key, &ciphertext)
        .await?
        .assert_error(403, "group_frozen");

    s.owner_post(&format!("/v1/groups/{g}/unfreeze"), json!({}))
        .await?
        .assert_status(200);
    read(&s, "db", &key).await?.assert_status(200);
    Ok(())
}
