//! One-time shares end to end: created by users, opened once by anyone holding the
//! passphrase, destroyed by the first open, a wrong passphrase, the timer or a deletion;
//! refused to apps and machines; the value and passphrase never stored or audited.

use crate::expect::argv;
use crate::identity_support::server_with_clock;
use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const GONE: &str = "this share is gone (opened, expired or a wrong passphrase)";

async fn create(s: &TestServer, key: &str, body: Value) -> anyhow::Result<Reply> {
    s.post("/v1/shares", key, body).await
}

/// A share of `value` made by the owner, in the group named "team" (made on first use);
/// answers (id, passphrase).
async fn shared(s: &TestServer, value: &str) -> anyhow::Result<(String, String)> {
    let groups = s.get("/v1/groups", &s.owner_key).await?;
    let existing = groups
        .body
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["name"] == "team");
    let group = match existing.and_then(|g| g["id"].as_str()) {
        Some(id) => id.to_owned(),
        None => s.group("team").await?,
    };
    let reply = create(
        s,
        &s.owner_key,
        json!({"group": group, "value": value, "expires_in_seconds": 600}),
    )
    .await?;
    anyhow::ensure!(
        reply.status == 201,
        "create: {} {}",
        reply.status,
        reply.body
    );
    Ok((reply.str("id"), reply.str("passphrase")))
}

async fn open(s: &TestServer, id: &str, passphrase: &str) -> anyhow::Result<Reply> {
    let path = format!("/v1/shares/{id}/open");
    s.call(
        Method::POST,
        &path,
        None,
        Some(json!({"passphrase": passphrase})),
    )
    .await
}

fn assert_gone(reply: &Reply) {
    assert_eq!(
        (reply.status, reply.code()),
        (404, "not_found"),
        "{}",
        reply.body
    );
    assert_eq!(reply.body["error"]["message"], GONE);
}

#[tokio::test]
async fn a_share_opens_once_then_is_gone() -> TestResult {
    let s = TestServer::start().await?;
    let (id, passphrase) = shared(&s, "hunter2 and more").await?;
    assert!(id.starts_with("shr_"));
    assert!(passphrase.replace('-', "").len() >= 24, "{passphrase}");
    let listed = s.get("/v1/shares", &s.owner_key).await?;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
    assert_eq!(listed.body[0]["id"], json!(id));
    assert!(listed.body[0].get("passphrase").is_none());

    let opened = open(&s, &id, &passphrase).await?;
    assert_eq!(opened.status, 200, "{}", opened.body);
    assert_eq!(opened.body, json!({"value": "hunter2 and more"}));
    assert_eq!(opened.headers["cache-control"], "no-store");
    assert_gone(&open(&s, &id, &passphrase).await?);
    let listed = s.get("/v1/shares", &s.owner_key).await?;
    assert_eq!(listed.body, json!([]));
    Ok(())
}

#[tokio::test]
async fn the_passphrase_may_be_typed_in_capitals_and_without_dashes() -> TestResult {
    let s = TestServer::start().await?;
    let (id, passphrase) = shared(&s, "v").await?;
    let typed = format!(" {} ", passphrase.replace('-', "").to_uppercase());
    assert_eq!(open(&s, &id, &typed).await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn a_wrong_passphrase_destroys_the_share() -> TestResult {
    let s = TestServer::start().await?;
    let (id, passphrase) = shared(&s, "v").await?;
    assert_gone(&open(&s, &id, "not-the-passphrase").await?);
    assert_gone(&open(&s, &id, &passphrase).await?);
    let db = s.db().await?;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM shares")
        .fetch_one(&db)
        .await?;
    assert_eq!(rows, 0);
    assert_gone(&open(&s, "shr_000000000000000000000000", "x").await?);
    Ok(())
}

#[tokio::test]
async fn an_expired_share_is_gone_and_swept() -> TestResult {
    let (s, clock) = server_with_clock().await?;
    let group = s.group("team").await?;
    let mut made = Vec::new();
    for _ in 0..2 {
        let reply = create(
            &s,
            &s.owner_key,
            json!({"group": group, "value": "v", "expires_in_seconds": 60}),
        )
        .await?;
        assert_eq!(reply.status, 201, "{}", reply.body);
        made.push((reply.str("id"), reply.str("passphrase")));
    }
    clock.advance(Duration::from_secs(61));
    assert_eq!(s.get("/v1/shares", &s.owner_key).await?.body, json!([]));
    assert_gone(&open(&s, &made[0].0, &made[0].1).await?);
    s.service().maintain().await?;
    let db = s.db().await?;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM shares")
        .fetch_one(&db)
        .await?;
    assert_eq!(rows, 0, "the sweep destroyed the other expired share");
    assert_gone(&open(&s, &made[1].0, &made[1].1).await?);
    Ok(())
}

#[tokio::test]
async fn a_generated_value_follows_the_charset() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("team").await?;
    for (generate, check) in [
        (json!({"length": 40, "charset": "numbers"}), "numbers"),
        (json!({"charset": "uuid"}), "uuid"),
        (json!({}), "symbols"),
    ] {
        let body = json!({"group": group, "generate": generate, "expires_in_seconds": 60});
        let reply = create(&s, &s.owner_key, body).await?;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let value = open(&s, &reply.str("id"), &reply.str("passphrase"))
            .await?
            .str("value");
        match check {
            "numbers" => assert!(value.len() == 40 && value.bytes().all(|b| b.is_ascii_digit())),
            "uuid" => assert!(value.len() == 36 && value.as_bytes()[14] == b'4', "{value}"),
            _ => assert_eq!(value.len(), 32, "{value}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn bad_requests_are_refused_with_400_and_nothing_is_stored() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("team").await?;
    let big = "x".repeat(64 * 1024 + 1);
    for body in [
        json!({"group": group, "value": "v", "expires_in_seconds": 59}),
        json!({"group": group, "value": "v", "expires_in_seconds": 86401}),
        json!({"group": group, "value": big, "expires_in_seconds": 60}),
        json!({"group": group, "value": "", "expires_in_seconds": 60}),
        json!({"group": group, "value": "v", "generate": {}, "expires_in_seconds": 60}),
        json!({"group": group, "expires_in_seconds": 60}),
        json!({"group": group, "generate": {"charset": "emoji"}, "expires_in_seconds": 60}),
        json!({"group": group, "generate": {"length": 7}, "expires_in_seconds": 60}),
        json!({"group": group, "generate": {"length": 257}, "expires_in_seconds": 60}),
        json!({"group": group, "value": null, "expires_in_seconds": 60}),
        json!({"group": group, "value": "v", "expires_in_seconds": 60, "extra": 1}),
    ] {
        let reply = create(&s, &s.owner_key, body.clone()).await?;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "invalid_input"),
            "{body:.80}"
        );
    }
    let unknown = create(
        &s,
        &s.owner_key,
        json!({"group": group, "generate": {"charset": "emoji"}, "expires_in_seconds": 60}),
    )
    .await?;
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("emoji")
    );
    let at_limit = "x".repeat(64 * 1024);
    let ok = create(
        &s,
        &s.owner_key,
        json!({"group": group, "value": at_limit, "expires_in_seconds": 86400}),
    )
    .await?;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(
        s.get("/v1/shares", &s.owner_key)
            .await?
            .body
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    Ok(())
}

#[tokio::test]
async fn apps_and_machines_can_neither_create_nor_open_shares() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("team").await?;
    let (_, app_key) = s
        .app_with_key("worker", &[&group], json!({"*.*.*.*": true}))
        .await?;
    let body = json!({"group": group, "value": "v", "expires_in_seconds": 60});
    assert_eq!(
        create(&s, &app_key, body.clone()).await?.code(),
        "forbidden"
    );
    let machine = s
        .approved_machine(&[&group], json!({"*.*.*.*": true}))
        .await?;
    let signed = RawRequest::signed(
        &machine,
        Method::POST,
        "/v1/shares",
        Some(&body),
        unix_now(),
    );
    assert_eq!(s.send_raw(&s.client, &signed).await?.status, 403);

    let (id, passphrase) = {
        let reply = create(&s, &s.owner_key, body.clone()).await?;
        (reply.str("id"), reply.str("passphrase"))
    };
    let path = format!("/v1/shares/{id}/open");
    let open_body = json!({"passphrase": passphrase});
    let by_app = s
        .call(Method::POST, &path, Some(&app_key), Some(open_body.clone()))
        .await?;
    assert_eq!((by_app.status, by_app.code()), (403, "forbidden"));
    let signed = RawRequest::signed(&machine, Method::POST, &path, Some(&open_body), unix_now());
    assert_eq!(s.send_raw(&s.client, &signed).await?.status, 403);
    // Refused callers did not destroy it; a user still opens it.
    let by_user = s
        .call(Method::POST, &path, Some(&s.owner_key), Some(open_body))
        .await?;
    assert_eq!(by_user.body, json!({"value": "v"}));
    Ok(())
}

#[tokio::test]
async fn members_share_in_their_groups_and_auditors_do_not() -> TestResult {
    let s = TestServer::start().await?;
    let mine = s.group("mine").await?;
    let other = s.group("other").await?;
    let (_, member) = s
        .group_member("member@example.test", "correct horse battery staple", &mine)
        .await?;
    let body = |g: &str| json!({"group": g, "value": "v", "expires_in_seconds": 60});
    let reply = create(&s, &member, body(&mine)).await?;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(create(&s, &member, body(&other)).await?.status, 404);
    let auditor = s
        .user(
            "auditor@example.test",
            "auditor",
            "correct horse battery staple",
        )
        .await?;
    let auditor_key = s.api_key(&auditor, json!({"*.*.*.*": true})).await?;
    assert_eq!(create(&s, &auditor_key, body(&mine)).await?.status, 403);
    let listed = s.get("/v1/shares", &auditor_key).await?;
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.body
    );
    let path = format!("/v1/shares/{}", reply.str("id"));
    assert_eq!(
        s.call(Method::DELETE, &path, Some(&auditor_key), None)
            .await?
            .status,
        403
    );
    assert_eq!(
        s.call(Method::DELETE, &path, Some(&member), None)
            .await?
            .status,
        204
    );
    assert_eq!(
        s.call(Method::DELETE, &path, Some(&member), None)
            .await?
            .status,
        404
    );
    assert_gone(&open(&s, &reply.str("id"), &reply.str("passphrase")).await?);
    Ok(())
}

#[tokio::test]
async fn every_open_is_audited_without_the_value_or_passphrase() -> TestResult {
    let s = TestServer::start().await?;
    let (id, passphrase) = shared(&s, "AUDIT-MARKER-value-5e1").await?;
    assert_eq!(open(&s, &id, &passphrase).await?.status, 200);
    assert_gone(&open(&s, &id, &passphrase).await?);
    let db = s.db().await?;
    let events: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "SELECT action, status, account_id FROM audit_events WHERE object = $1 ORDER BY seq",
    )
    .bind(format!("share/{id}"))
    .fetch_all(&db)
    .await?;
    let shown: Vec<(&str, i64)> = events.iter().map(|(a, st, _)| (a.as_str(), *st)).collect();
    assert_eq!(
        shown,
        [
            ("share.create", 201),
            ("share.open", 200),
            ("share.open", 404)
        ]
    );
    assert!(
        events[1].2.is_some(),
        "the opening is on the share's account"
    );
    Ok(())
}

#[tokio::test]
async fn the_value_and_passphrase_are_in_no_database_byte() -> TestResult {
    let mut s = TestServer::start().await?;
    let marker = "SHARE-PLAINTEXT-MARKER-9b7c-never-in-sql";
    let (id, passphrase) = shared(&s, marker).await?;
    let (kept, kept_passphrase) = shared(&s, marker).await?;
    assert_eq!(open(&s, &id, &passphrase).await?.body["value"], marker);
    assert_gone(&open(&s, &kept, "wrong").await?);
    let _ = kept_passphrase;
    let db = s.db().await?;
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT COALESCE(object, '') || ' ' || COALESCE(detail, '') FROM audit_events",
    )
    .fetch_all(&db)
    .await?;
    for row in &audit {
        assert!(!row.contains(marker) && !row.contains(&passphrase), "{row}");
    }
    drop(db);
    s.stop().await;
    let normalized = passphrase.replace('-', "");
    for file in s.database_files().await? {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for needle in [marker, passphrase.as_str(), normalized.as_str()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} found in {}",
                file.display()
            );
        }
    }
    Ok(())
}

// The child process calls this process's server: the server needs a runtime thread of
// its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_and_opens_a_share() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("team").await?;
    let value_file = s.dir.path().join("value.txt");
    std::fs::write(&value_file, "from a file\n")?;
    let key = [("COFFER_API_KEY", s.owner_key.as_str())];
    let path = value_file.display().to_string();
    let args = argv(
        "share create --group {} --value-file {} --expires 5m",
        &[&group, &path],
    );
    let (ok, out) = run_cli(&s, &key, &args, None)?;
    assert!(ok, "{out}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let (id, passphrase) = (field("id"), field("passphrase"));
    assert!(field("url").ends_with(&format!("/s/{id}")), "{out}");
    let (ok, listed) = run_cli(&s, &key, &["share", "list"], None)?;
    assert!(ok && listed.contains(&id), "{listed}");
    let env = [("COFFER_SHARE_PASSPHRASE", passphrase.as_str())];
    let (ok, value) = run_cli(&s, &env, &["share", "open", &id], None)?;
    assert!(ok);
    assert_eq!(value, "from a file\n");
    let (ok, _) = run_cli(
        &s,
        &[],
        &["share", "open", &id],
        Some(passphrase.as_bytes()),
    )?;
    assert!(!ok, "a second open fails");

    let args = argv(
        "share create --group {} --generate --length 12 --charset alphanumeric",
        &[&group],
    );
    let (ok, out) = run_cli(&s, &key, &args, None)?;
    assert!(ok, "{out}");
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let passphrase_file = s.dir.path().join("passphrase");
    let passphrase = out
        .lines()
        .find_map(|l| l.strip_prefix("passphrase:"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    std::fs::write(&passphrase_file, format!("{passphrase}\n"))?;
    let file = passphrase_file.display().to_string();
    let (ok, value) = run_cli(
        &s,
        &[],
        &argv("share open {} --passphrase-file {}", &[&id, &file]),
        None,
    )?;
    assert!(
        ok && value.len() == 12 && value.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{value}"
    );
    Ok(())
}
