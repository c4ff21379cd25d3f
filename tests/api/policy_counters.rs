//! Access policies' counters, which every node shares through the database: the rate cap
//! across two nodes, the TTL (uses and a fixed end, with the maintenance sweep) and
//! rotate-after, each on an injected clock.

use crate::policy_support::{
    app_flags, assert_denied, bind, bound_keyring, create_policy, encrypt_at, events, second_node,
    server,
};
use crate::secrets::{create, grant, read};
use crate::support::{TestResult, b64};
use coffer::clock::{Clock, rfc3339};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_cap_holds_across_two_nodes_and_resets_with_its_window() -> TestResult {
    let (s, clock, g) = server().await?;
    let (_, key) = s.app_with_key("worker", &[&g], app_flags()).await?;
    // Start at the beginning of a UTC minute, so the five uses share one window.
    let into_minute = clock.now_micros().rem_euclid(60_000_000);
    clock.advance(Duration::from_micros(u64::try_from(
        60_000_000 - into_minute,
    )?));
    let policy = bound_keyring(&s, &g, "metered", json!({"rate": {"per_minute": 5}})).await?;
    let other = second_node(&s, &clock).await?;
    for url in [&s.url, &other.url, &s.url, &other.url, &s.url] {
        let reply = encrypt_at(&s, url, "metered", &key).await?;
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
    }
    clock.advance(Duration::from_secs(20));
    for url in [&other.url, &s.url] {
        let capped = encrypt_at(&s, url, "metered", &key).await?;
        assert_eq!(capped.status, 429, "{url}: {}", capped.body);
        assert_eq!(capped.code(), "rate_limited");
        let retry = capped
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok());
        assert_eq!(retry, Some("40"), "seconds until the minute resets");
    }
    let feed = events(&s).await?;
    let refusal = feed
        .iter()
        .find(|e| e["outcome"] == "rate_limited")
        .expect("audited");
    assert_eq!(refusal["detail"], format!("policy {policy}: axis rate"));
    assert_eq!(refusal["severity"], "warning");

    clock.advance(Duration::from_secs(40));
    let next_minute = encrypt_at(&s, &other.url, "metered", &key).await?;
    assert_eq!(next_minute.status, 200, "{}", next_minute.body);
    other.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_used_up_by_its_ttl_is_refused_and_deleted() -> TestResult {
    let (s, _clock, g) = server().await?;
    let (_, key) = s.app_with_key("signer", &[&g], app_flags()).await?;
    let made = s
        .owner_post(
            "/v1/keys",
            json!({"name": "once", "group": g, "algorithm": "ec-p256"}),
        )
        .await?;
    assert_eq!(made.status, 201, "{}", made.body);
    let policy = create_policy(&s, &g, "three-uses", json!({"ttl": {"max_uses": 3}})).await?;
    bind(&s, &policy, "key", "once").await?;
    let sign = || s.post("/v1/keys/once/sign", &key, json!({"message": b64(b"m")}));
    for n in 1..=3 {
        let reply = sign().await?;
        assert_eq!(reply.status, 200, "use {n}: {}", reply.body);
    }
    assert_denied(&sign().await?, "for 3 uses");
    let gone = s.get("/v1/keys/once", &s.owner_key).await?;
    assert_eq!(gone.status, 404, "the key is in the trash: {}", gone.body);
    let feed = events(&s).await?;
    let deletion = feed
        .iter()
        .find(|e| e["action"] == "key.delete")
        .expect("audited deletion");
    assert_eq!(deletion["detail"], format!("policy {policy}: axis ttl"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_end_refuses_and_the_sweep_deletes_objects_nobody_uses() -> TestResult {
    let (s, clock, g) = server().await?;
    let (app, key) = s.app_with_key("reader", &[&g], app_flags()).await?;
    for name in ["used", "idle"] {
        create(&s, json!({"name": name, "group": g, "value": "v"})).await?;
        grant(&s, name, &app).await?;
    }
    s.keyring("idle-ring", &g, json!({})).await?;
    let end = rfc3339(clock.now_micros() + 3_600_000_000);
    let policy = create_policy(&s, &g, "one-hour", json!({"ttl": {"expires_at": end}})).await?;
    for (kind, name) in [
        ("secret", "used"),
        ("secret", "idle"),
        ("keyring", "idle-ring"),
    ] {
        bind(&s, &policy, kind, name).await?;
    }
    assert_eq!(read(&s, "used", &key).await?.status, 200);
    s.service().maintain().await?;
    assert_eq!(read(&s, "idle", &key).await?.status, 200, "not over yet");

    clock.advance(Duration::from_secs(3601));
    assert_denied(&read(&s, "used", &key).await?, "until");
    assert_eq!(s.get("/v1/secrets/used", &s.owner_key).await?.status, 404);
    s.service().maintain().await?;
    assert_eq!(s.get("/v1/secrets/idle", &s.owner_key).await?.status, 404);
    assert_eq!(
        s.get("/v1/keyrings/idle-ring", &s.owner_key).await?.status,
        404
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_after_queues_exactly_one_rotation_across_two_nodes() -> TestResult {
    let (s, clock, g) = server().await?;
    let (_, key) = s.app_with_key("worker", &[&g], app_flags()).await?;
    bound_keyring(&s, &g, "busy", json!({"rotate_after_uses": 3})).await?;
    let other = second_node(&s, &clock).await?;
    for url in [&s.url, &other.url, &s.url, &other.url, &s.url] {
        let reply = encrypt_at(&s, url, "busy", &key).await?;
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
        assert_eq!(
            reply.body["key_version"], 1,
            "rotation waits for maintenance"
        );
    }
    let (mine, theirs) = tokio::join!(s.service().maintain(), other.service.maintain());
    mine?;
    theirs?;
    s.service().maintain().await?;
    let versions = s.get("/v1/keyrings/busy/keys", &s.owner_key).await?;
    assert_eq!(
        versions.body.as_array().map(Vec::len),
        Some(2),
        "{}",
        versions.body
    );
    // Version 2 starts its own count: two more uses do not reach 3.
    for url in [&other.url, &s.url] {
        let reply = encrypt_at(&s, url, "busy", &key).await?;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    s.service().maintain().await?;
    let still = s.get("/v1/keyrings/busy/keys", &s.owner_key).await?;
    assert_eq!(
        still.body.as_array().map(Vec::len),
        Some(2),
        "{}",
        still.body
    );
    other.shutdown().await;
    Ok(())
}
