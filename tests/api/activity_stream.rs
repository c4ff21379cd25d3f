//! `GET /v1/activity/stream`: live events, resumed with `Last-Event-ID` without a gap or a
//! duplicate under load, the severity floor, heartbeats, and a stalled client dropped
//! while the service keeps serving everyone else.

use crate::secrets::{create, grant, read, reader_flags};
use crate::support::{TestResult, TestServer, b64};
use crate::watch_support::Sse;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Encrypts `count` times from `tasks` concurrent clients; every call must succeed.
async fn encrypt_load(s: &TestServer, key: &str, tasks: usize, count: usize) -> TestResult {
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (client, url, key) = (s.client.clone(), s.url.clone(), key.to_owned());
        handles.push(tokio::spawn(async move {
            for _ in 0..count {
                let reply = client
                    .post(format!("{url}/v1/keyrings/ring/encrypt"))
                    .bearer_auth(&key)
                    .json(&json!({"plaintext": b64(b"load")}))
                    .send()
                    .await?;
                anyhow::ensure!(reply.status() == 200, "encrypt: {}", reply.status());
            }
            anyhow::Ok(())
        }));
    }
    for handle in handles {
        handle.await??;
    }
    Ok(())
}

/// The feed's chain positions of the account's encrypt events.
async fn encrypt_positions(s: &TestServer) -> anyhow::Result<BTreeSet<i64>> {
    let feed = s
        .get(
            "/v1/activity?action=keyring.encrypt&limit=1000",
            &s.owner_key,
        )
        .await?;
    anyhow::ensure!(feed.status == 200, "activity: {}", feed.body);
    Ok(feed.body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["position"].as_i64())
        .collect())
}

fn quick_stream(config: &mut coffer::app::AppConfig) {
    config.service.watch.stream_poll = Duration::from_millis(50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reconnects_with_last_event_id_misses_nothing_and_sees_nothing_twice()
-> TestResult {
    // A queue much smaller than the burst: a client that keeps reading is never dropped.
    let s = TestServer::start_with(|config| {
        quick_stream(config);
        config.service.watch.stream_buffer = 16;
    })
    .await?;
    let key = s.ready_keyring("ring", "envelope").await?;
    let query = "?action=keyring.encrypt";
    let mut first = Sse::open(&s, &s.owner_key, query, None).await?;
    let load = {
        let (s_client, url, key) = (s.client.clone(), s.url.clone(), key.clone());
        tokio::spawn(async move {
            let mut handles = Vec::new();
            for _ in 0..4 {
                let (client, url, key) = (s_client.clone(), url.clone(), key.clone());
                handles.push(tokio::spawn(async move {
                    for _ in 0..50 {
                        let reply = client
                            .post(format!("{url}/v1/keyrings/ring/encrypt"))
                            .bearer_auth(&key)
                            .json(&json!({"plaintext": b64(b"x")}))
                            .send()
                            .await?;
                        anyhow::ensure!(reply.status() == 200, "encrypt {}", reply.status());
                    }
                    anyhow::Ok(())
                }));
            }
            for handle in handles {
                handle.await??;
            }
            anyhow::Ok(())
        })
    };
    let mut seen = Vec::new();
    while seen.len() < 60 {
        let event = first
            .next_audit(WAIT)
            .await?
            .expect("the stream stays open");
        assert_eq!(event.event, "audit");
        let data: Value = serde_json::from_str(&event.data)?;
        assert_eq!(data["action"], "keyring.encrypt");
        assert_eq!(Some(data["position"].as_i64().unwrap_or(-1)), event.id);
        seen.push(event.id.expect("every event has an id"));
    }
    drop(first); // the connection drops mid-load
    let last = *seen.last().expect("events");
    let mut second = Sse::open(&s, &s.owner_key, query, Some(last)).await?;
    while seen.len() < 200 {
        let event = second
            .next_audit(WAIT)
            .await?
            .expect("the stream stays open");
        seen.push(event.id.expect("every event has an id"));
    }
    load.await??;
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice");
    assert_eq!(unique, encrypt_positions(&s).await?, "no event missed");
    let mut ordered = seen.clone();
    ordered.sort_unstable();
    assert_eq!(seen, ordered, "in the order of the trail");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_severity_leaves_out_quieter_events_and_heartbeats_fill_the_silence() -> TestResult {
    let s = TestServer::start_with(|config| {
        quick_stream(config);
        config.service.watch.stream_heartbeat = Duration::from_millis(300);
    })
    .await?;
    let g = s.group("G").await?;
    let (app, key) = s.app_with_key("reader", &[&g], reader_flags()).await?;
    create(
        &s,
        json!({"name": "trap", "group": g, "kind": "canary", "value": "bait"}),
    )
    .await?;
    grant(&s, "trap", &app).await?;
    let mut stream = Sse::open(&s, &s.owner_key, "?min_severity=critical", None).await?;
    let heartbeat = stream.next(Duration::from_secs(5)).await?.expect("open");
    assert!(heartbeat.comment, "a heartbeat first: {heartbeat:?}");

    s.get("/v1/secrets", &key).await?; // info
    read(&s, "trap", &key).await?.assert_status(200); // critical: the canary and the freeze
    let mut actions = BTreeSet::new();
    while actions.len() < 2 {
        let event = stream.next_audit(WAIT).await?.expect("open");
        let data: Value = serde_json::from_str(&event.data)?;
        assert_eq!(data["severity"], "critical", "{data}");
        actions.insert(data["action"].as_str().unwrap_or_default().to_owned());
    }
    assert!(actions.contains("group.freeze"), "{actions:?}");

    let refused = s
        .get("/v1/activity/stream?min_severity=loud", &s.owner_key)
        .await?;
    refused.assert_error(400, "invalid_input");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_dropped_with_an_overflow_while_encrypts_keep_succeeding() -> TestResult
{
    let s = TestServer::start_with(|config| {
        quick_stream(config);
        config.service.watch.stream_buffer = 8;
        config.service.watch.stream_stall = Duration::from_millis(500);
    })
    .await?;
    let key = s.ready_keyring("ring", "envelope").await?;
    let mut stalled = Sse::open(&s, &s.owner_key, "", None).await?;
    assert_eq!(s.service().open_streams(), 1);
    // Never read until the server gave up on it: the socket buffers fill, then its queue.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while s.service().open_streams() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled client was never dropped"
        );
        encrypt_load(&s, &key, 4, 100).await?;
    }
    // What it had in its buffers, then the overflow notice, then the end.
    let mut last_id = None;
    let overflow = loop {
        let event = stalled
            .next(WAIT)
            .await?
            .expect("an overflow before the end");
        if event.event == "overflow" {
            break event;
        }
        last_id = event.id.or(last_id);
    };
    let notice: Value = serde_json::from_str(&overflow.data)?;
    assert_eq!(notice["last_event_id"].as_i64(), last_id, "{notice}");
    assert!(stalled.next(WAIT).await?.is_none(), "the stream ended");
    // The client resumes from there.
    let mut resumed = Sse::open(&s, &s.owner_key, "", last_id).await?;
    encrypt_load(&s, &key, 1, 1).await?;
    let next = resumed.next_audit(WAIT).await?.expect("open");
    assert!(next.id > last_id);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_per_account_are_bounded_and_a_closed_one_frees_its_place() -> TestResult {
    let s = TestServer::start_with(|config| {
        quick_stream(config);
        config.service.watch.streams_per_account = 1;
    })
    .await?;
    let first = Sse::open(&s, &s.owner_key, "", None).await?;
    let refused = s.get("/v1/activity/stream", &s.owner_key).await?;
    refused.assert_error(429, "rate_limited");
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    while s.service().open_streams() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the place is freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Sse::open(&s, &s.owner_key, "", None).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coffer_activity_follow_prints_each_event_as_it_happens() -> TestResult {
    use tokio::io::AsyncBufReadExt;
    let s = TestServer::start_with(quick_stream).await?;
    let key = s.ready_keyring("ring", "envelope").await?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["activity", "--follow", "--action", "keyring.encrypt"])
        .env("COFFER_URL", &s.url)
        .env("COFFER_CA_CERT", s.ca_cert())
        .env("COFFER_BOOTSTRAP", s.dir.path().join("no-bootstrap.json"))
        .env("COFFER_API_KEY", &s.owner_key)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while s.service().open_streams() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the CLI connects");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    encrypt_load(&s, &key, 1, 3).await?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut printed = BTreeSet::new();
    while printed.len() < 3 {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await??
            .expect("a line");
        let event: Value = serde_json::from_str(&line)?;
        assert_eq!(event["action"], "keyring.encrypt", "{line}");
        printed.insert(event["position"].as_i64().unwrap_or_default());
    }
    assert_eq!(printed, encrypt_positions(&s).await?);
    child.kill().await?;
    Ok(())
}
