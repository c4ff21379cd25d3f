//! The rules around secret values: who reads (apps with a grant, in the group), who
//! reveals (users with the flag, audited as a warning), what bad input is refused with
//! nothing made, and rotation (by hand and by the schedule).

use crate::identity_support::{PASSWORD, server_with_clock};
use crate::secrets::{
    create, grant, granted_reader, numbers, read, reader_flags, secret_names, versions,
};
use crate::support::{Reply, TestResult, TestServer};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn put(s: &TestServer, path: &str, body: Option<Value>) -> anyhow::Result<Reply> {
    s.call(Method::PUT, path, Some(&s.owner_key), body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_granted_app_of_the_group_reads_and_a_revoked_one_no_longer() -> TestResult {
    let s = TestServer::start().await?;
    let (g, app, key) = granted_reader(&s, "G", "db", "hunter2").await?;
    let (_, idle_key) = s.app_with_key("idle", &[&g], reader_flags()).await?;
    let h = s.group("H").await?;
    let (outsider, outsider_key) = s.app_with_key("outsider", &[&h], reader_flags()).await?;

    read(&s, "db", &key).await?.assert_status(200);
    let no_grant = read(&s, "db", &idle_key).await?;
    no_grant.assert_error_because(403, "forbidden", "in the group without a grant");
    let field = s.get("/v1/secrets/db/fields/x", &idle_key).await?;
    field.assert_error(403, "forbidden");
    let outside = read(&s, "db", &outsider_key).await?;
    outside.assert_error_because(404, "not_found", "an app outside the group sees nothing");
    let owner = read(&s, "db", &s.owner_key).await?;
    owner.assert_error_because(403, "forbidden", "users reveal, they do not read");

    // A grant to an app outside the group is refused and nothing is granted.
    let refused = put(&s, &format!("/v1/secrets/db/grants/{outsider}"), None).await?;
    refused.assert_error(400, "invalid_input");
    let grants = s.get("/v1/secrets/db/grants", &s.owner_key).await?;
    assert_eq!(grants.column("app"), [app.as_str()]);
    read(&s, "db", &outsider_key)
        .await?
        .assert_error(404, "not_found");

    let revoked = s
        .delete(&format!("/v1/secrets/db/grants/{app}"), &s.owner_key)
        .await?;
    revoked.assert_status(204);
    read(&s, "db", &key).await?.assert_error(403, "forbidden");
    let grants = s.get("/v1/secrets/db/grants", &s.owner_key).await?;
    assert_eq!(grants.array_len(), Some(0), "{}", grants.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_taken_out_of_the_group_and_put_back_has_lost_its_grant() -> TestResult {
    let s = TestServer::start().await?;
    let (g, app, key) = granted_reader(&s, "G", "db", "hunter2").await?;
    read(&s, "db", &key).await?.assert_status(200);

    let removed = s
        .delete(&format!("/v1/groups/{g}/apps/{app}"), &s.owner_key)
        .await?;
    assert!(removed.status < 300, "{} {}", removed.status, removed.body);
    read(&s, "db", &key).await?.assert_error(404, "not_found");
    let back = put(
        &s,
        &format!("/v1/groups/{g}/apps/{app}"),
        Some(json!({"operations": ["decrypt", "manage-objects"]})),
    )
    .await?;
    assert!(back.status < 300, "{} {}", back.status, back.body);
    read(&s, "db", &key).await?.assert_error_because(
        403,
        "forbidden",
        "the grant went with the membership",
    );
    let grants = s.get("/v1/secrets/db/grants", &s.owner_key).await?;
    assert_eq!(grants.array_len(), Some(0), "{}", grants.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_reveals_as_a_warning_and_an_auditor_cannot() -> TestResult {
    let s = TestServer::start().await?;
    granted_reader(&s, "G", "db", "hunter2").await?;
    let shown = s.owner_post("/v1/secrets/db/reveal", json!({})).await?;
    shown.assert_status(200);
    assert_eq!(shown.str("value"), "hunter2");

    let feed = s
        .get("/v1/activity?action=secret.reveal", &s.owner_key)
        .await?;
    feed.assert_status(200);
    let events = feed.body["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{}", feed.body);
    assert_eq!(events[0]["severity"], "warning", "{}", events[0]);
    assert!(
        !feed.body.to_string().contains("hunter2"),
        "no value in the audit trail"
    );

    s.user("auditor@example.test", "auditor", PASSWORD).await?;
    let account = s.account_id().await?;
    let login = s.login("auditor@example.test", PASSWORD, &account).await?;
    login.assert_status(201);
    let session = login.str("session_token");
    let refused = s.post("/v1/secrets/db/reveal", &session, json!({})).await?;
    refused.assert_error(403, "forbidden");
    assert!(!refused.body.to_string().contains("hunter2"));
    let read_too = read(&s, "db", &session).await?;
    assert_eq!(read_too.status, 403, "{}", read_too.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_its_code_and_nothing_is_created() -> TestResult {
    let s = TestServer::start().await?;
    let g = s.group("G").await?;
    let cases = [
        (
            "unknown kind",
            json!({"name": "a", "group": g, "kind": "magic", "value": "x"}),
        ),
        (
            "field name with a blank",
            json!({"name": "b", "group": g, "kind": "structured", "fields": {"bad name": "x"}}),
        ),
        (
            "64 KiB + 1",
            json!({"name": "c", "group": g, "value": "x".repeat(64 * 1024 + 1)}),
        ),
        (
            "interval of 299 s",
            json!({"name": "d", "group": g, "rotation": {"interval_seconds": 299}}),
        ),
        (
            "unknown charset",
            json!({"name": "e", "group": g,
                   "rotation": {"interval_seconds": 300, "charset": "emoji"}}),
        ),
        (
            "explicit null value",
            json!({"name": "f", "group": g, "value": null}),
        ),
        (
            "value and fields",
            json!({"name": "h", "group": g, "value": "x", "fields": {"a": "b"}}),
        ),
    ];
    for (why, body) in cases {
        let reply = s.post("/v1/secrets", &s.owner_key, body).await?;
        reply.assert_error_because(400, "invalid_input", why);
        assert!(
            !reply.message().is_empty(),
            "{why}: a message says what is wrong"
        );
        assert!(secret_names(&s).await?.is_empty(), "{why}: nothing created");
    }
    // Exactly 64 KiB is fine.
    create(
        &s,
        json!({"name": "max", "group": g, "value": "x".repeat(64 * 1024)}),
    )
    .await?;
    assert_eq!(secret_names(&s).await?, ["max"]);
    Ok(())
}

/// True when `value` is `length` characters of [A-Za-z0-9].
fn alphanumeric(value: &str, length: usize) -> bool {
    value.len() == length && value.chars().all(|c| c.is_ascii_alphanumeric())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotating_secret_generates_its_values_and_refuses_hand_made_ones() -> TestResult {
    let s = TestServer::start().await?;
    let g = s.group("G").await?;
    let (app, key) = s.app_with_key("reader", &[&g], reader_flags()).await?;
    let policy = json!({"interval_seconds": 300, "charset": "alphanumeric", "length": 40});
    let created = create(&s, json!({"name": "token", "group": g, "rotation": policy})).await?;
    assert_eq!(created.body["rotation"]["length"], 40);
    assert!(
        created.body["rotation"]["next_rotation_at"].is_string(),
        "{}",
        created.body
    );
    grant(&s, "token", &app).await?;
    let first = read(&s, "token", &key).await?.str("value");
    assert!(alphanumeric(&first, 40), "{first:?}");

    let by_hand = put(
        &s,
        "/v1/secrets/token/value",
        Some(json!({"value": "mine"})),
    )
    .await?;
    by_hand.assert_error(409, "conflict");
    let rollback = s
        .owner_post("/v1/secrets/token/rollback", json!({"version": 1}))
        .await?;
    rollback.assert_error(409, "conflict");
    assert_eq!(numbers(&versions(&s, "token").await?), [1]);

    let rotated = s.owner_post("/v1/secrets/token/rotate", json!({})).await?;
    rotated.assert_status(200);
    assert_eq!(rotated.body["current_version"], 2);
    let second = read(&s, "token", &key).await?;
    assert_eq!(second.body["version"], 2);
    let second = second.str("value");
    assert!(alphanumeric(&second, 40) && second != first, "{second:?}");
    assert_eq!(versions(&s, "token").await?[1]["origin"], "rotation");

    let off = s.delete("/v1/secrets/token/rotation", &s.owner_key).await?;
    off.assert_status(200);
    assert!(off.body["rotation"].is_null(), "{}", off.body);
    let now_by_hand = put(
        &s,
        "/v1/secrets/token/value",
        Some(json!({"value": "mine"})),
    )
    .await?;
    now_by_hand.assert_status(200);
    assert_eq!(read(&s, "token", &key).await?.str("value"), "mine");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_rotates_a_due_secret_once() -> TestResult {
    let (s, clock) = server_with_clock().await?;
    let g = s.group("G").await?;
    let (app, key) = s.app_with_key("reader", &[&g], reader_flags()).await?;
    let policy = json!({"interval_seconds": 300, "charset": "alphanumeric", "length": 40});
    create(&s, json!({"name": "token", "group": g, "rotation": policy})).await?;
    grant(&s, "token", &app).await?;
    let first = read(&s, "token", &key).await?.str("value");

    s.service().maintain().await?;
    assert_eq!(numbers(&versions(&s, "token").await?), [1], "not due yet");
    clock.advance(Duration::from_secs(301));
    s.service().maintain().await?;
    let listed = versions(&s, "token").await?;
    assert_eq!(numbers(&listed), [1, 2], "{listed:?}");
    assert_eq!(listed[1]["origin"], "rotation");
    assert_eq!(listed[1]["created_by"], "system");
    assert_eq!(listed[1]["current"], true);
    s.service().maintain().await?;
    assert_eq!(
        numbers(&versions(&s, "token").await?),
        [1, 2],
        "once per due time"
    );

    let second = read(&s, "token", &key).await?;
    assert_eq!(second.body["version"], 2);
    assert!(alphanumeric(&second.str("value"), 40) && second.str("value") != first);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_structured_secret_rotates_only_the_fields_it_names() -> TestResult {
    let (s, clock) = server_with_clock().await?;
    let g = s.group("G").await?;
    let (app, key) = s.app_with_key("reader", &[&g], reader_flags()).await?;
    create(
        &s,
        json!({"name": "creds", "group": g, "kind": "structured",
               "fields": {"username": "svc", "password": "pw-1", "host": "db.internal"},
               "rotation": {"interval_seconds": 300, "fields": ["password"],
                            "charset": "alphanumeric", "length": 24}}),
    )
    .await?;
    grant(&s, "creds", &app).await?;
    s.owner_post("/v1/secrets/creds/rotate", json!({}))
        .await?
        .assert_status(200);
    clock.advance(Duration::from_secs(301));
    s.service().maintain().await?;
    assert_eq!(numbers(&versions(&s, "creds").await?), [1, 2, 3]);

    let now = read(&s, "creds", &key).await?;
    now.assert_status(200);
    let fields = &now.body["fields"];
    assert_eq!(fields["username"], "svc");
    assert_eq!(fields["host"], "db.internal");
    let password = fields["password"].as_str().unwrap_or_default();
    assert!(
        alphanumeric(password, 24) && password != "pw-1",
        "{password:?}"
    );
    let v2 = s.get("/v1/secrets/creds/value?version=2", &key).await?;
    assert_ne!(
        v2.body["fields"]["password"],
        now.body["fields"]["password"]
    );
    assert_eq!(v2.body["fields"]["username"], "svc");
    Ok(())
}
