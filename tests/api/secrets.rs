//! Secrets end to end: what the secret test files share (a granted reader, creating and
//! reading as the owner), the trash, and values that outlive a master key rotation.
//! Values and versions are in `secret_values`, the read rule, bad input and rotation in
//! `secret_rules`, canaries and frozen groups in `secret_canaries`.

use crate::identity_support::server_with_clock;
use crate::support::{Reply, TestResult, TestServer};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The flags of the apps in these tests: every secret and keyring operation, so that only
/// the grant, the group and the freeze decide.
pub fn reader_flags() -> Value {
    json!({"*.*.*.*": true, "secret.*.*": true, "keyring.*.*.*": true})
}

/// `POST /v1/secrets` of `body` as the owner; fails unless created.
pub async fn create(s: &TestServer, body: Value) -> anyhow::Result<Reply> {
    let reply = s.post("/v1/secrets", &s.owner_key, body).await?;
    anyhow::ensure!(
        reply.status == 201,
        "secret create: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply)
}

/// Grants `app` the reading of `name`, as the owner; fails unless 204.
pub async fn grant(s: &TestServer, name: &str, app: &str) -> TestResult {
    let path = format!("/v1/secrets/{name}/grants/{app}");
    let reply = s.call(Method::PUT, &path, Some(&s.owner_key), None).await?;
    anyhow::ensure!(
        reply.status == 204,
        "grant: {} {}",
        reply.status,
        reply.body
    );
    Ok(())
}

/// `GET /v1/secrets/<name>/value` as `key`.
pub async fn read(s: &TestServer, name: &str, key: &str) -> anyhow::Result<Reply> {
    s.get(&format!("/v1/secrets/{name}/value"), key).await
}

/// `GET /v1/secrets/<name>/versions` as the owner; fails unless 200.
pub async fn versions(s: &TestServer, name: &str) -> anyhow::Result<Vec<Value>> {
    let reply = s
        .get(&format!("/v1/secrets/{name}/versions"), &s.owner_key)
        .await?;
    anyhow::ensure!(
        reply.status == 200,
        "versions: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply.body.as_array().cloned().unwrap_or_default())
}

/// The version numbers `versions` lists, in order.
pub fn numbers(versions: &[Value]) -> Vec<u64> {
    versions
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .collect()
}

/// A group `group`, an app in it with a key, and a single secret `name` holding `value`
/// granted to the app: returns (group id, app id, key).
pub async fn granted_reader(
    s: &TestServer,
    group: &str,
    name: &str,
    value: &str,
) -> anyhow::Result<(String, String, String)> {
    let g = s.group(group).await?;
    let (app, key) = s
        .app_with_key(&format!("app-{name}"), &[&g], reader_flags())
        .await?;
    create(s, json!({"name": name, "group": g, "value": value})).await?;
    grant(s, name, &app).await?;
    Ok((g, app, key))
}

/// The names of the secrets the owner sees.
pub async fn secret_names(s: &TestServer) -> anyhow::Result<Vec<String>> {
    let list = s.get("/v1/secrets", &s.owner_key).await?;
    anyhow::ensure!(list.status == 200, "list: {} {}", list.status, list.body);
    Ok(list.column("name").into_iter().map(str::to_owned).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_app_reads_the_value_it_was_given() -> TestResult {
    let s = TestServer::start().await?;
    let g = s.group("G").await?;
    let (app, key) = s
        .app_with_key("reader", &[&g], json!({"*.*.*.*": true}))
        .await?;
    let created = s
        .post(
            "/v1/secrets",
            &s.owner_key,
            json!({"name": "db-url", "group": g, "value": "postgres://u:p@h/db"}),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.body);
    let path = format!("/v1/secrets/db-url/grants/{app}");
    let granted = s.call(Method::PUT, &path, Some(&s.owner_key), None).await?;
    assert_eq!(granted.status, 204, "{}", granted.body);
    let read = s.get("/v1/secrets/db-url/value", &key).await?;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.str("value"), "postgres://u:p@h/db");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_secret_is_gone_restored_without_its_grants_and_purged_after_thirty_days()
-> TestResult {
    let (s, clock) = server_with_clock().await?;
    let (_, app, key) = granted_reader(&s, "G", "db", "hunter2").await?;
    read(&s, "db", &key).await?.assert_status(200);

    s.delete("/v1/secrets/db", &s.owner_key)
        .await?
        .assert_status(204);
    read(&s, "db", &key).await?.assert_error(404, "not_found");
    let meta = s.get("/v1/secrets/db", &s.owner_key).await?;
    meta.assert_error(404, "not_found");
    assert!(!secret_names(&s).await?.contains(&"db".to_owned()));

    let restored = s.owner_post("/v1/secrets/db/restore", json!({})).await?;
    restored.assert_status(200);
    assert_eq!(restored.str("name"), "db");
    let grants = s.get("/v1/secrets/db/grants", &s.owner_key).await?;
    grants.assert_status(200);
    assert_eq!(
        grants.array_len(),
        Some(0),
        "grants do not come back: {}",
        grants.body
    );
    let refused = read(&s, "db", &key).await?;
    refused.assert_error(403, "forbidden");
    // Re-granted, the value is the one it was.
    grant(&s, "db", &app).await?;
    let again = read(&s, "db", &key).await?;
    again.assert_status(200);
    assert_eq!(again.str("value"), "hunter2");

    s.delete("/v1/secrets/db", &s.owner_key)
        .await?
        .assert_status(204);
    clock.advance(Duration::from_secs(31 * 86_400));
    s.service().maintain().await?;
    let purged = s.owner_post("/v1/secrets/db/restore", json!({})).await?;
    purged.assert_error(404, "not_found");
    Ok(())
}

/// Waits (up to a minute) for the job `id` to leave `running`; its last state.
async fn finished_job(s: &TestServer, id: &str) -> anyhow::Result<Value> {
    let since = Instant::now();
    loop {
        let job = s.get(&format!("/v1/jobs/{id}"), &s.owner_key).await?;
        anyhow::ensure!(job.status == 200, "job: {} {}", job.status, job.body);
        if job.body["state"] != "running" {
            return Ok(job.body);
        }
        anyhow::ensure!(
            since.elapsed() < Duration::from_secs(60),
            "job still running: {}",
            job.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_shares_made_before_a_master_key_rotation_still_open_after() -> TestResult {
    let s = TestServer::start().await?;
    let (g, app, key) = granted_reader(&s, "G", "db", "before the rotation").await?;
    create(
        &s,
        json!({"name": "creds", "group": g, "kind": "structured",
               "fields": {"user": "app", "password": "pw-1"}}),
    )
    .await?;
    grant(&s, "creds", &app).await?;
    let share = s
        .owner_post(
            "/v1/shares",
            json!({"group": g, "value": "shared before", "expires_in_seconds": 3600}),
        )
        .await?;
    share.assert_status(201);
    // Two versions, so that more than the current one is re-wrapped.
    s.call(
        Method::PUT,
        "/v1/secrets/db/value",
        Some(&s.owner_key),
        Some(json!({"value": "second value"})),
    )
    .await?
    .assert_status(200);

    let started = s
        .owner_post(&format!("/v1/groups/{g}/rotate-master"), json!({}))
        .await?;
    started.assert_status(202);
    let job = finished_job(&s, &started.str("id")).await?;
    assert_eq!(job["state"], "done", "{job}");
    // The share's data key was re-wrapped too: it still opens, once.
    let opened = s
        .call(
            Method::POST,
            &format!("/v1/shares/{}/open", share.str("id")),
            None,
            Some(json!({"passphrase": share.str("passphrase")})),
        )
        .await?;
    opened.assert_status(200);
    assert_eq!(opened.str("value"), "shared before");

    let current = read(&s, "db", &key).await?;
    current.assert_status(200);
    assert_eq!(current.str("value"), "second value");
    let first = s.get("/v1/secrets/db/value?version=1", &key).await?;
    first.assert_status(200);
    assert_eq!(first.str("value"), "before the rotation");
    let field = s.get("/v1/secrets/creds/fields/password", &key).await?;
    field.assert_status(200);
    assert_eq!(field.str("value"), "pw-1");
    // A value written after the rotation reads too.
    s.call(
        Method::PUT,
        "/v1/secrets/db/value",
        Some(&s.owner_key),
        Some(json!({"value": "after"})),
    )
    .await?
    .assert_status(200);
    assert_eq!(read(&s, "db", &key).await?.str("value"), "after");
    Ok(())
}
