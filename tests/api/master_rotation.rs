//! Group master-key rotation: a new master key in the token, a background job that
//! re-wraps the group's keys under it, and the old key destroyed once nothing names it.
//! Requests keep working throughout, and the job survives the death of the node running it.

use crate::support::{TestResult, TestServer, b64, unb64};
use crate::token::token_objects;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Whether the token lists a secret key labelled exactly `label`.
fn token_has(s: &TestServer, label: &str) -> anyhow::Result<bool> {
    let listing = token_objects(s, Some("secrkey"))?;
    Ok(listing
        .lines()
        .any(|line| line.trim().strip_prefix("label:").map(str::trim) == Some(label)))
}

/// Encrypts `plaintext` with `ring` on the node at `url`; the ciphertext.
async fn encrypt(
    s: &TestServer,
    url: &str,
    key: &str,
    ring: &str,
    plaintext: &[u8],
) -> anyhow::Result<String> {
    let (status, body) = s
        .call_at(
            url,
            Method::POST,
            &format!("/v1/keyrings/{ring}/encrypt"),
            key,
            json!({"plaintext": b64(plaintext)}),
        )
        .await?;
    anyhow::ensure!(status == 200, "encrypt {ring}: {status} {body}");
    Ok(body["ciphertext"].as_str().unwrap_or_default().to_owned())
}

/// Decrypts on the node at `url`; fails unless it gives back `plaintext`.
async fn decrypts_to(
    s: &TestServer,
    url: &str,
    key: &str,
    ring: &str,
    ciphertext: &str,
    plaintext: &[u8],
) -> TestResult {
    let (status, body) = s
        .call_at(
            url,
            Method::POST,
            &format!("/v1/keyrings/{ring}/decrypt"),
            key,
            json!({"ciphertext": ciphertext}),
        )
        .await?;
    anyhow::ensure!(status == 200, "decrypt {ring}: {status} {body}");
    anyhow::ensure!(
        unb64(body["plaintext"].as_str().unwrap_or_default()) == plaintext,
        "decrypt {ring}: other plaintext"
    );
    Ok(())
}

/// The job `id` as the in-process node shows it.
async fn job(s: &TestServer, id: &str) -> anyhow::Result<Value> {
    let reply = s.get(&format!("/v1/jobs/{id}"), &s.owner_key).await?;
    anyhow::ensure!(reply.status == 200, "job: {} {}", reply.status, reply.body);
    Ok(reply.body)
}

/// Waits (at most `limit`) until the job is no longer running; its last state.
pub(crate) async fn finished(s: &TestServer, id: &str, limit: Duration) -> anyhow::Result<Value> {
    let since = Instant::now();
    loop {
        let job = job(s, id).await?;
        if job["state"] != "running" {
            return Ok(job);
        }
        anyhow::ensure!(
            since.elapsed() < limit,
            "job still running after {limit:?}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Ciphertexts of several versions of two keyrings of `group` (one rotated twice).
async fn ciphertexts(s: &TestServer, key: &str) -> anyhow::Result<Vec<(String, String, Vec<u8>)>> {
    let mut made = Vec::new();
    for ring in ["ring-a", "ring-b"] {
        for round in 0..3 {
            for n in 0..3 {
                let plaintext = format!("{ring} round {round} message {n}").into_bytes();
                made.push((
                    ring.to_owned(),
                    encrypt(s, &s.url, key, ring, &plaintext).await?,
                    plaintext,
                ));
            }
            if ring == "ring-a" && round < 2 {
                let rotated = s
                    .post(
                        &format!("/v1/keyrings/{ring}/rotate"),
                        &s.owner_key,
                        json!({}),
                    )
                    .await?;
                anyhow::ensure!(
                    rotated.status == 200,
                    "rotate: {} {}",
                    rotated.status,
                    rotated.body
                );
            }
        }
    }
    Ok(made)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_rewraps_the_group_and_destroys_the_old_master() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("rotated").await?;
    let (_, key) = s
        .app_with_key("app", &[&group], json!({"keyring.*.*.*": true}))
        .await?;
    for ring in ["ring-a", "ring-b"] {
        s.keyring(ring, &group, json!({"protection": "envelope"}))
            .await?;
    }
    s.keyring("ring-hsm", &group, json!({"protection": "hsm"}))
        .await?;
    let sealed = ciphertexts(&s, &key).await?;
    let (old, new) = (format!("mk/{group}/v1"), format!("mk/{group}/v2"));
    assert!(
        token_has(&s, &old)? && !token_has(&s, &new)?,
        "before: v1 only"
    );

    // A member without group.write may not rotate.
    let (_, session) = s
        .group_member(
            "member@example.test",
            "correct horse battery staple",
            &group,
        )
        .await?;
    let refused = s
        .post(
            &format!("/v1/groups/{group}/rotate-master"),
            &session,
            json!({}),
        )
        .await?;
    assert_eq!(refused.status, 403, "{}", refused.body);

    let started = s
        .post(
            &format!("/v1/groups/{group}/rotate-master"),
            &s.owner_key,
            json!({}),
        )
        .await?;
    assert_eq!(started.status, 202, "{}", started.body);
    assert_eq!(started.body["kind"], "rotate_master");
    assert_eq!(started.body["group"], group.as_str());
    // The versions of ring-a (3) and ring-b (1); the hsm keyring has nothing wrapped.
    assert_eq!(started.body["total"], 4, "{}", started.body);
    let again = s
        .post(
            &format!("/v1/groups/{group}/rotate-master"),
            &s.owner_key,
            json!({}),
        )
        .await?;
    assert_eq!(
        again.status, 409,
        "a second rotation while one runs: {}",
        again.body
    );

    // Requests keep working while the job runs.
    for (ring, ciphertext, plaintext) in &sealed {
        decrypts_to(&s, &s.url, &key, ring, ciphertext, plaintext).await?;
    }
    let fresh = encrypt(&s, &s.url, &key, "ring-a", b"during").await?;

    let id = started.str("id");
    let done = finished(&s, &id, Duration::from_secs(30)).await?;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["done"], done["total"], "{done}");
    assert!(done["finished_at"].is_string(), "{done}");
    assert!(done["error"].is_null(), "{done}");

    let shown = s.get(&format!("/v1/groups/{group}"), &s.owner_key).await?;
    assert_eq!(shown.body["master_key_version"], 2, "{}", shown.body);
    assert!(token_has(&s, &new)?, "the new master key is in the token");
    assert!(
        !token_has(&s, &old)?,
        "the old master key is gone from the token"
    );

    // Everything still decrypts, on a node that caches nothing (the in-process one may).
    let node = s.node().await?;
    for (ring, ciphertext, plaintext) in &sealed {
        decrypts_to(&s, &node.url, &key, ring, ciphertext, plaintext).await?;
    }
    decrypts_to(&s, &node.url, &key, "ring-a", &fresh, b"during").await?;
    let rotated = s
        .post("/v1/keyrings/ring-b/rotate", &s.owner_key, json!({}))
        .await?;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let after = encrypt(&s, &node.url, &key, "ring-b", b"after").await?;
    decrypts_to(&s, &s.url, &key, "ring-b", &after, b"after").await?;
    let db = s.db().await?;
    let wrapping: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT wrapping_key FROM keyring_versions WHERE wrapping_key IS NOT NULL",
    )
    .fetch_all(&db)
    .await?;
    assert_eq!(
        wrapping,
        [new.as_str()],
        "every wrapped key is under the new master"
    );
    let unknown = s
        .get("/v1/jobs/job_000000000000000000000000", &s.owner_key)
        .await?;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    Ok(())
}

/// Adds `count` versions to `ring` (after its version 1), each a copy of version 1: a valid
/// wrap under the group's current master key, made without the HSM.
async fn copies_of_version_one(db: &sqlx::AnyPool, ring: &str, count: i64) -> TestResult {
    sqlx::query(
        "WITH RECURSIVE n(v) AS (SELECT 2 UNION ALL SELECT v + 1 FROM n WHERE v < $1)
         INSERT INTO keyring_versions (keyring_id, version, key_ref, wrapped_key, wrapping_key,
             token_key, kcv, created_at, encrypt_count)
         SELECT k.keyring_id, n.v, k.key_ref, k.wrapped_key, k.wrapping_key, k.token_key, k.kcv,
             k.created_at, 0
         FROM n, keyring_versions k
         WHERE k.keyring_id = (SELECT id FROM keyrings WHERE name = $2) AND k.version = 1",
    )
    .bind(count + 1)
    .bind(ring)
    .execute(db)
    .await?;
    Ok(())
}

/// Encrypts and decrypts on the in-process node until told to stop; counts failures.
fn load(
    s: Arc<TestServer>,
    key: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, u64)> {
    tokio::spawn(async move {
        let (ok, failed) = (AtomicU64::new(0), AtomicU64::new(0));
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let plaintext = format!("load {n}").into_bytes();
            let round = async {
                let ciphertext = encrypt(&s, &s.url, &key, "live", &plaintext).await?;
                decrypts_to(&s, &s.url, &key, "live", &ciphertext, &plaintext).await
            };
            match round.await {
                Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    eprintln!("load request failed: {e}");
                    failed.fetch_add(1, Ordering::Relaxed)
                }
            };
        }
        (ok.into_inner(), failed.into_inner())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_of_ten_thousand_versions_survives_its_node_under_load() -> TestResult {
    let s = TestServer::start_with(|c| {
        c.service.job_poll = Duration::from_millis(200);
    })
    .await?;
    let group = s.group("big").await?;
    let (_, key) = s
        .app_with_key("app", &[&group], json!({"keyring.*.*.*": true}))
        .await?;
    s.keyring("live", &group, json!({"protection": "envelope"}))
        .await?;
    let db = s.db().await?;
    for n in 0..4 {
        let ring = format!("filler-{n}");
        s.keyring(&ring, &group, json!({"protection": "envelope"}))
            .await?;
        copies_of_version_one(&db, &ring, 2499).await?;
    }
    let before = encrypt(&s, &s.url, &key, "live", b"before").await?;
    let s = Arc::new(s);
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(Arc::clone(&s), key.clone(), Arc::clone(&stop));

    let mut node = s.node().await?;
    let (status, started) = s
        .call_at(
            &node.url,
            Method::POST,
            &format!("/v1/groups/{group}/rotate-master"),
            &s.owner_key,
            Value::Null,
        )
        .await?;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["total"], 10_001, "{started}");
    let id = started["id"].as_str().unwrap_or_default().to_owned();
    // Kill the node running the job once it is part-way.
    let since = Instant::now();
    loop {
        let job = job(&s, &id).await?;
        let done = job["done"].as_u64().unwrap_or(0);
        anyhow::ensure!(
            job["state"] == "running" && done < 10_001,
            "the job ended before the kill: {job}"
        );
        if done >= 1 {
            node.kill()?;
            eprintln!(
                "killed the node at {done}/10001 after {:?}",
                since.elapsed()
            );
            break;
        }
        anyhow::ensure!(
            since.elapsed() < Duration::from_secs(20),
            "no progress: {job}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let done = finished(&s, &id, Duration::from_secs(60)).await?;
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = load.await?;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["done"], 10_001, "{done}");
    assert_eq!(failed, 0, "failed requests under load ({ok} succeeded)");
    assert!(ok > 0, "the load ran");
    assert!(
        !token_has(&s, &format!("mk/{group}/v1"))?,
        "the old master key is gone"
    );
    assert!(
        token_has(&s, &format!("mk/{group}/v2"))?,
        "the new master key is there"
    );
    decrypts_to(&s, &s.url, &key, "live", &before, b"before").await?;
    Ok(())
}

/// The CLI starts a rotation, follows it to its end and shows the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_rotates_a_master_key_and_waits_for_its_job() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("cli").await?;
    s.keyring("ring", &group, json!({"protection": "envelope"}))
        .await?;
    let env = [("COFFER_API_KEY", s.owner_key.as_str())];
    let (ok, out) = crate::support::run_cli(
        &s,
        &env,
        &["group", "rotate-master", &group, "--wait"],
        None,
    )?;
    assert!(ok, "rotate-master --wait failed: {out}");
    let done: Value = serde_json::from_str(&out)?;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["done"], 1, "{done}");
    let id = done["id"].as_str().unwrap_or_default();
    let (ok, out) = crate::support::run_cli(&s, &env, &["job", "show", id], None)?;
    assert!(ok, "job show failed: {out}");
    let shown: Value = serde_json::from_str(&out)?;
    assert_eq!(shown["id"], id, "{shown}");
    assert!(
        !token_has(&s, &format!("mk/{group}/v1"))?,
        "the old master is gone"
    );
    Ok(())
}
