//! Alert rules and their webhooks: signed deliveries to a local receiver, exactly one per
//! matching event, none for the others, none lost across a restart of Coffer while the
//! receiver is down, the dead-letter list, canary trips, and who may manage rules.

use crate::identity_support::PASSWORD;
use crate::secrets::{create, grant, read, reader_flags};
use crate::support::{Reply, TestResult, TestServer, b64};
use crate::watch_support::Receiver;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn quick_alerts(config: &mut coffer::app::AppConfig) {
    let watch = &mut config.service.watch;
    watch.alert_poll = Duration::from_millis(100);
    watch.alert_backoff = Duration::from_millis(100);
    watch.alert_max_backoff = Duration::from_millis(500);
    // A delivery claimed by the node that stops is sent again once its lease (three
    // timeouts) has expired.
    watch.alert_timeout = Duration::from_secs(2);
}

/// Creates a rule to `url`; returns the reply (201 with the signing secret).
async fn alert(s: &TestServer, name: &str, url: &str, extra: Value) -> anyhow::Result<Reply> {
    let mut body = json!({"name": name, "url": url});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let reply = s.owner_post("/v1/alerts", body).await?;
    anyhow::ensure!(
        reply.status == 201,
        "alert: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply)
}

async fn deliveries(s: &TestServer, alert: &str, status: &str) -> anyhow::Result<Vec<Value>> {
    let reply = s
        .get(
            &format!("/v1/alerts/{alert}/deliveries{status}"),
            &s.owner_key,
        )
        .await?;
    anyhow::ensure!(reply.status == 200, "deliveries: {}", reply.body);
    Ok(reply.body.as_array().cloned().unwrap_or_default())
}

async fn encrypts(s: &TestServer, key: &str, count: usize) -> TestResult {
    for _ in 0..count {
        s.encrypt("ring", key, &b64(b"x")).await?.assert_status(200);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_event_is_delivered_once_signed_and_others_not_at_all() -> TestResult {
    let s = TestServer::start_with(quick_alerts).await?;
    let key = s.ready_keyring("ring", "envelope").await?;
    let mut receiver = Receiver::reserve()?;
    receiver.start().await?;
    let rule = alert(
        &s,
        "rings",
        &receiver.url(),
        json!({"actions": ["keyring.create", "group.*"]}),
    )
    .await?;
    let secret = rule.str("signing_secret");
    assert_eq!(secret.len(), 64, "{}", rule.body);
    receiver.set_secret(&secret);
    let shown = s
        .get(&format!("/v1/alerts/{}", rule.str("id")), &s.owner_key)
        .await?;
    assert!(
        shown.body.get("signing_secret").is_none(),
        "shown once only"
    );

    encrypts(&s, &key, 3).await?; // does not match
    s.keyring("second", &s.group("other").await?, json!({}))
        .await?; // matches: 2 events
    receiver.wait_for(2, WAIT).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = receiver.snapshot();
    assert_eq!(received.bad_signatures, 0);
    let actions: BTreeSet<&str> = received
        .deliveries
        .iter()
        .map(|(_, body)| body["event"]["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, BTreeSet::from(["group.create", "keyring.create"]));
    assert_eq!(received.deliveries.len(), 2, "exactly once each");
    for (id, body) in &received.deliveries {
        assert_eq!(body["delivery"].as_str(), Some(id.as_str()));
        assert_eq!(body["alert"]["name"], "rings");
    }

    // A wrong secret fails the receiver's check: rotation changes it.
    let rotated = s
        .owner_post(
            &format!("/v1/alerts/{}/rotate-secret", rule.str("id")),
            json!({}),
        )
        .await?;
    rotated.assert_status(200);
    assert_ne!(rotated.str("signing_secret"), secret);
    let test = s
        .owner_post(&format!("/v1/alerts/{}/test", rule.str("id")), json!({}))
        .await?;
    assert_eq!(test.body["delivered"], false, "{}", test.body);
    receiver.set_secret(&rotated.str("signing_secret"));
    let test = s
        .owner_post(&format!("/v1/alerts/{}/test", rule.str("id")), json!({}))
        .await?;
    assert_eq!(test.body["delivered"], true, "{}", test.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_raised_while_the_receiver_is_down_survive_a_restart_and_arrive_once() -> TestResult
{
    let mut s = TestServer::start_with(quick_alerts).await?;
    let key = s.ready_keyring("ring", "envelope").await?;
    let mut receiver = Receiver::reserve()?; // not listening yet
    let rule = alert(
        &s,
        "encrypts",
        &receiver.url(),
        json!({"actions": ["keyring.encrypt"]}),
    )
    .await?;
    receiver.set_secret(&rule.str("signing_secret"));
    let id = rule.str("id");
    encrypts(&s, &key, 10).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while deliveries(&s, &id, "").await?.len() < 10 {
        assert!(tokio::time::Instant::now() < deadline, "enqueued");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.restart_with(|config| {
        quick_alerts(config);
        config.service.watch.alert_max_attempts = 100;
    })
    .await?;
    receiver.start().await?;
    receiver.wait_for(10, WAIT).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = receiver.snapshot();
    assert_eq!(received.bad_signatures, 0);
    let ids: BTreeSet<&String> = received.deliveries.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), received.deliveries.len(), "no delivery twice");
    let positions: BTreeSet<i64> = received
        .deliveries
        .iter()
        .filter_map(|(_, body)| body["event"]["seq"].as_i64())
        .collect();
    assert_eq!(positions.len(), 10, "every encrypt once");
    for row in deliveries(&s, &id, "").await? {
        assert_eq!(row["status"], "delivered", "{row}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_keeps_failing_goes_to_the_dead_letter_list_and_can_be_retried()
-> TestResult {
    let s = TestServer::start_with(|config| {
        quick_alerts(config);
        config.service.watch.alert_max_attempts = 2;
    })
    .await?;
    let key = s.ready_keyring("ring", "envelope").await?;
    let mut receiver = Receiver::reserve()?;
    let rule = alert(
        &s,
        "dead",
        &receiver.url(),
        json!({"actions": ["keyring.encrypt"]}),
    )
    .await?;
    receiver.set_secret(&rule.str("signing_secret"));
    let id = rule.str("id");
    encrypts(&s, &key, 3).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let dead = loop {
        let dead = deliveries(&s, &id, "?status=dead").await?;
        if dead.len() == 3 {
            break dead;
        }
        assert!(tokio::time::Instant::now() < deadline, "dead letters");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        dead.iter()
            .all(|d| d["attempts"] == 2 && d["last_error"].is_string())
    );
    let feed = s
        .get("/v1/activity?action=alert.delivery.dead", &s.owner_key)
        .await?;
    let events = feed.body["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 3, "{}", feed.body);
    assert!(events.iter().all(|e| e["severity"] == "warning"));

    receiver.start().await?;
    let retried = s
        .owner_post(
            &format!(
                "/v1/alerts/deliveries/{}/retry",
                dead[0]["id"].as_str().unwrap_or_default()
            ),
            json!({}),
        )
        .await?;
    retried.assert_status(200);
    receiver.wait_for(1, WAIT).await?;
    assert_eq!(
        receiver.snapshot().deliveries[0].0,
        dead[0]["id"].as_str().unwrap_or_default()
    );
    let again = s
        .owner_post(
            &format!(
                "/v1/alerts/deliveries/{}/retry",
                dead[0]["id"].as_str().unwrap_or_default()
            ),
            json!({}),
        )
        .await?;
    again.assert_error(409, "conflict");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_trip_alerts_a_critical_rule() -> TestResult {
    let s = TestServer::start_with(quick_alerts).await?;
    let mut receiver = Receiver::reserve()?;
    receiver.start().await?;
    let rule = alert(
        &s,
        "canaries",
        &receiver.url(),
        json!({"min_severity": "critical"}),
    )
    .await?;
    receiver.set_secret(&rule.str("signing_secret"));
    let g = s.group("G").await?;
    let (app, key) = s.app_with_key("reader", &[&g], reader_flags()).await?;
    create(
        &s,
        json!({"name": "trap", "group": g, "kind": "canary", "value": "bait"}),
    )
    .await?;
    grant(&s, "trap", &app).await?;
    read(&s, "trap", &key).await?.assert_status(200);
    receiver.wait_for(2, WAIT).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = receiver.snapshot();
    assert_eq!(
        received.deliveries.len(),
        2,
        "the read and the freeze, nothing else"
    );
    let actions: BTreeSet<&str> = received
        .deliveries
        .iter()
        .inspect(|(_, body)| assert_eq!(body["event"]["severity"], "critical"))
        .map(|(_, body)| body["event"]["action"].as_str().unwrap_or_default())
        .collect();
    assert!(actions.contains("group.freeze"), "{actions:?}");
    let text = serde_json::to_string(&received.deliveries)?;
    assert!(!text.contains("bait"), "no value in an alert");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_owners_and_admins_manage_rules_bad_input_stores_nothing_and_no_secret_is_stored()
-> TestResult {
    let mut s = TestServer::start().await?;
    let account = s.account_id().await?;
    s.user("auditor@example.test", "auditor", PASSWORD).await?;
    let auditor = s
        .login("auditor@example.test", PASSWORD, &account)
        .await?
        .str("session_token");
    let g = s.group("G").await?;
    let (_, member) = s.group_member("member@example.test", PASSWORD, &g).await?;
    let body = json!({"name": "a", "url": "https://hooks.example.test/x"});
    for session in [&auditor, &member] {
        s.post("/v1/alerts", session, body.clone())
            .await?
            .assert_error(403, "forbidden");
    }
    s.get("/v1/alerts", &member)
        .await?
        .assert_error(403, "forbidden");
    s.get("/v1/alerts", &auditor).await?.assert_status(200);
    for bad in [
        json!({"name": "a", "url": "http://hooks.example.test/x"}),
        json!({"name": "a", "url": "https://u:p@hooks.example.test/x"}),
        json!({"name": "a", "url": "not a url"}),
        json!({"name": "a", "url": "https://hooks.example.test/x", "min_severity": "loud"}),
        json!({"name": "a b", "url": "https://hooks.example.test/x"}),
        json!({"name": "a", "url": "https://hooks.example.test/x", "actions": ["Bad*x"]}),
    ] {
        s.owner_post("/v1/alerts", bad)
            .await?
            .assert_error(400, "invalid_input");
    }
    assert_eq!(s.get("/v1/alerts", &s.owner_key).await?.body, json!([]));
    let created = alert(&s, "kept", "https://hooks.example.test/x", json!({})).await?;
    let secret = created.str("signing_secret");
    let id = created.str("id");
    s.owner_post(
        "/v1/alerts",
        json!({"name": "kept", "url": "https://hooks.example.test/y"}),
    )
    .await?
    .assert_error(409, "conflict");
    let patched = s
        .patch(
            &format!("/v1/alerts/{id}"),
            &s.owner_key,
            json!({"enabled": false, "min_severity": "warning"}),
        )
        .await?;
    patched.assert_status(200);
    assert_eq!(patched.body["enabled"], false);
    assert_eq!(patched.body["min_severity"], "warning");
    s.stop().await;
    for file in s.database_files().await? {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the signing secret is in {}",
            file.display()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coffer_alert_creates_lists_and_shows_dead_letters() -> TestResult {
    let s = TestServer::start().await?;
    let env = [("COFFER_API_KEY", s.owner_key.as_str())];
    let (ok, out) = crate::support::run_cli(
        &s,
        &env,
        &[
            "alert",
            "create",
            "--name",
            "canaries",
            "--webhook",
            "https://hooks.example.test/coffer",
            "--action",
            "group.freeze",
            "--min-severity",
            "critical",
        ],
        None,
    )?;
    assert!(ok, "{out}");
    let created: Value = serde_json::from_str(&out)?;
    assert_eq!(created["signing_secret"].as_str().map(str::len), Some(64));
    assert_eq!(created["actions"], json!(["group.freeze"]));
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let (ok, out) = crate::support::run_cli(&s, &env, &["alert", "list"], None)?;
    assert!(
        ok && out.contains("canaries") && !out.contains("signing_secret"),
        "{out}"
    );
    let (ok, out) = crate::support::run_cli(
        &s,
        &env,
        &["alert", "deliveries", &id, "--status", "dead"],
        None,
    )?;
    assert!(ok, "{out}");
    assert_eq!(serde_json::from_str::<Value>(&out)?, json!([]));
    let (ok, _) = crate::support::run_cli(&s, &env, &["alert", "delete", &id], None)?;
    assert!(ok);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_enqueue_and_send_each_matching_event_once() -> TestResult {
    let s = TestServer::start_with(quick_alerts).await?;
    let key = s.ready_keyring("ring", "envelope").await?;
    let nodes = [s.node().await?, s.node().await?];
    let mut receiver = Receiver::reserve()?;
    receiver.start().await?;
    let rule = alert(
        &s,
        "encrypts",
        &receiver.url(),
        json!({"actions": ["keyring.encrypt"]}),
    )
    .await?;
    receiver.set_secret(&rule.str("signing_secret"));
    let urls = [s.url.clone(), nodes[0].url.clone(), nodes[1].url.clone()];
    for round in 0..30 {
        let url = &urls[round % urls.len()];
        let reply = s
            .client
            .post(format!("{url}/v1/keyrings/ring/encrypt"))
            .bearer_auth(&key)
            .json(&json!({"plaintext": b64(b"x")}))
            .send()
            .await?;
        assert_eq!(reply.status(), 200);
    }
    receiver.wait_for(30, WAIT).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = receiver.snapshot();
    assert_eq!(received.bad_signatures, 0);
    let ids: BTreeSet<&String> = received.deliveries.iter().map(|(id, _)| id).collect();
    let events: BTreeSet<i64> = received
        .deliveries
        .iter()
        .filter_map(|(_, body)| body["event"]["seq"].as_i64())
        .collect();
    assert_eq!(received.deliveries.len(), 30, "each event once");
    assert_eq!((ids.len(), events.len()), (30, 30));
    Ok(())
}
