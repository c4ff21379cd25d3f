//! Apps' AWS access key pairs (docs/aws-kms.md): shown once, kept only wrapped by a group
//! master key (which a rotation re-wraps), refused once disabled or deleted, managed by the
//! CLI. The requests here are signed with the crate's own SigV4 code; the AWS clients'
//! own signers are exercised by `aws_kms.rs` (boto3, the AWS CLI, sops, the Encryption SDK).

use crate::master_rotation::finished;
use crate::support::{TestResult, TestServer, run_cli};
use coffer::auth::sigv4::{self, Authorization, Scope};
use serde_json::{Value, json};
use std::time::Duration;

/// An access key pair as the create route answers it.
struct KeyPair {
    id: String,
    secret: String,
}

/// Creates an app in one new group and an access key pair for it with every flag.
async fn app_with_key_pair(
    s: &TestServer,
    name: &str,
) -> anyhow::Result<(String, String, KeyPair)> {
    let group = s.group(name).await?;
    let (app, _) = s
        .app_with_key(name, &[&group], json!({"*.*.*.*": true}))
        .await?;
    let created = s
        .post(
            &format!("/v1/apps/{app}/aws-credentials"),
            &s.owner_key,
            json!({"name": name, "flags": {"*.*.*.*": true}}),
        )
        .await?;
    anyhow::ensure!(
        created.status == 201,
        "create: {} {}",
        created.status,
        created.body
    );
    let pair = KeyPair {
        id: created.str("access_key_id"),
        secret: created.str("secret_access_key"),
    };
    Ok((group, app, pair))
}

/// Sends one AWS KMS call signed with `pair` at `time` (Unix seconds); (status, body).
async fn kms_at(
    s: &TestServer,
    pair: &KeyPair,
    operation: &str,
    body: Value,
    time: i64,
) -> anyhow::Result<(u16, Value)> {
    let host = s.url.trim_start_matches("https://").to_owned();
    let amz_date = jiff::Timestamp::from_second(time)?
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let target = format!("TrentService.{operation}");
    let body = body.to_string();
    let headers = vec![
        (
            "content-type".to_owned(),
            "application/x-amz-json-1.1".to_owned(),
        ),
        ("host".to_owned(), host),
        ("x-amz-date".to_owned(), amz_date.clone()),
        ("x-amz-target".to_owned(), target.clone()),
    ];
    let scope = Scope {
        date: amz_date[..8].to_owned(),
        region: "eu-west-1".to_owned(),
        service: "kms".to_owned(),
    };
    let auth = Authorization {
        access_key_id: pair.id.clone(),
        scope: scope.clone(),
        signed_headers: headers.iter().map(|(n, _)| n.clone()).collect(),
        signature: [0; 32],
    };
    let request = sigv4::SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: body.as_bytes(),
    };
    let to_sign = sigv4::string_to_sign(&amz_date, &scope, &request.canonical(&auth));
    let key = sigv4::signing_key(pair.secret.as_bytes(), &scope);
    let signature = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key[..]),
        to_sign.as_bytes(),
    );
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{}/eu-west-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={}",
        pair.id,
        scope.date,
        hex::encode(signature.as_ref())
    );
    let reply = s
        .client
        .post(format!("{}/", s.url))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-date", amz_date)
        .header("x-amz-target", target)
        .header("authorization", authorization)
        .body(body)
        .send()
        .await?;
    let status = reply.status().as_u16();
    let text = reply.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

async fn list_keys(s: &TestServer, pair: &KeyPair) -> anyhow::Result<(u16, Value)> {
    kms_at(
        s,
        pair,
        "ListKeys",
        json!({}),
        jiff::Timestamp::now().as_second(),
    )
    .await
}

fn error_type(body: &Value) -> &str {
    body["__type"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_key_pair_is_shown_once_never_stored_in_clear_and_stops_when_disabled_or_deleted()
-> TestResult {
    let mut s = TestServer::start().await?;
    let (_, app, pair) = app_with_key_pair(&s, "shown-once").await?;
    assert!(
        pair.id.starts_with("CFKA") && pair.id.len() == 20,
        "{}",
        pair.id
    );
    assert_eq!(pair.secret.len(), 40, "an AWS-sized secret");
    let base = format!("/v1/apps/{app}/aws-credentials");
    let listed = s.get(&base, &s.owner_key).await?;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body[0]["access_key_id"], pair.id.as_str());
    assert!(!listed.body.to_string().contains(&pair.secret));
    assert!(listed.body[0].get("secret_access_key").is_none());

    let (status, body) = list_keys(&s, &pair).await?;
    assert_eq!(status, 200, "{body}");
    let one = format!("{base}/{}", pair.id);
    let disabled = s
        .patch(&one, &s.owner_key, json!({"disabled": true}))
        .await?;
    assert_eq!(
        (disabled.status, &disabled.body["disabled"]),
        (200, &json!(true))
    );
    let (status, body) = list_keys(&s, &pair).await?;
    assert_eq!(
        (status, error_type(&body)),
        (400, "UnrecognizedClientException"),
        "{body}"
    );
    s.patch(&one, &s.owner_key, json!({"disabled": false}))
        .await?;
    assert_eq!(list_keys(&s, &pair).await?.0, 200);
    let deleted = s
        .call(reqwest::Method::DELETE, &one, Some(&s.owner_key), None)
        .await?;
    assert_eq!(deleted.status, 204);
    let (status, body) = list_keys(&s, &pair).await?;
    assert_eq!(
        (status, error_type(&body)),
        (400, "UnrecognizedClientException"),
        "{body}"
    );
    let again = s
        .call(reqwest::Method::DELETE, &one, Some(&s.owner_key), None)
        .await?;
    assert_eq!(again.status, 404);

    s.stop().await;
    for file in s.database_files().await? {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        assert!(
            !bytes
                .windows(pair.secret.len())
                .any(|w| w == pair.secret.as_bytes()),
            "the secret access key is in {}",
            file.display()
        );
    }
    Ok(())
}

#[tokio::test]
async fn bad_requests_for_a_key_pair_are_refused_and_create_nothing() -> TestResult {
    let s = TestServer::start().await?;
    let g = s.group("one").await?;
    let h = s.group("two").await?;
    let (both, _) = s
        .app_with_key("both", &[&g, &h], json!({"*.*.*.*": true}))
        .await?;
    let (none, _) = s
        .app_with_key("nowhere", &[], json!({"*.*.*.*": true}))
        .await?;
    let cases = [
        (
            &both,
            json!({"name": "k", "flags": {"*.*.*.*": true}}),
            "several groups",
        ),
        (
            &none,
            json!({"name": "k", "flags": {"*.*.*.*": true}}),
            "in no group",
        ),
        (
            &both,
            json!({"name": "k", "flags": {"*.*.*.*": true}, "group": "grp_000000000000000000000000"}),
            "is not in group",
        ),
        (
            &both,
            json!({"name": "k", "flags": {"no.such.flag": true}, "group": g}),
            "flag",
        ),
        (
            &both,
            json!({"name": "k", "flags": {"*.*.*.*": true}, "group": null}),
            "null",
        ),
    ];
    for (app, body, says) in cases {
        let reply = s
            .post(
                &format!("/v1/apps/{app}/aws-credentials"),
                &s.owner_key,
                body.clone(),
            )
            .await?;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "invalid_input"),
            "{body}: {}",
            reply.body
        );
        assert!(
            reply.body.to_string().contains(says),
            "{body}: {}",
            reply.body
        );
    }
    for app in [&both, &none] {
        let listed = s
            .get(&format!("/v1/apps/{app}/aws-credentials"), &s.owner_key)
            .await?;
        assert_eq!(listed.body, json!([]), "nothing was created");
    }
    let named = s
        .post(
            &format!("/v1/apps/{both}/aws-credentials"),
            &s.owner_key,
            json!({"name": "k", "flags": {"*.*.*.*": true}, "group": h}),
        )
        .await?;
    assert_eq!((named.status, named.str("group")), (201, h));
    let missing = s
        .post(
            "/v1/apps/app_000000000000000000000000/aws-credentials",
            &s.owner_key,
            json!({"name": "k", "flags": {"*.*.*.*": true}}),
        )
        .await?;
    assert_eq!(missing.status, 404);
    Ok(())
}

#[tokio::test]
async fn signatures_outside_the_clock_window_are_refused_and_repeats_inside_it_accepted()
-> TestResult {
    let s = TestServer::start().await?;
    let (_, _, pair) = app_with_key_pair(&s, "window").await?;
    let now = jiff::Timestamp::now().as_second();
    for (offset, expected) in [(-400, 400), (400, 400), (-240, 200), (240, 200)] {
        let (status, body) = kms_at(&s, &pair, "ListKeys", json!({}), now + offset).await?;
        assert_eq!(status, expected, "{offset} s: {body}");
        if expected == 400 {
            assert_eq!(error_type(&body), "InvalidSignatureException");
        }
    }
    // SigV4 has no nonce: the same signed request twice (a client's retry) is accepted twice.
    for _ in 0..2 {
        assert_eq!(kms_at(&s, &pair, "ListKeys", json!({}), now).await?.0, 200);
    }
    let wrong = KeyPair {
        id: pair.id.clone(),
        secret: "A".repeat(40),
    };
    let (status, body) = list_keys(&s, &wrong).await?;
    assert_eq!(
        (status, error_type(&body)),
        (400, "InvalidSignatureException")
    );
    let events = s.get("/v1/activity?limit=5", &s.owner_key).await?;
    let refused = events.body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["identity"] == "claimed")
        .cloned()
        .unwrap_or_default();
    assert_eq!(refused["credential"], pair.id.as_str(), "{}", events.body);
    assert_eq!(refused["auth_method"], "aws_sigv4");
    assert_eq!(refused["severity"], "warning");
    Ok(())
}

#[tokio::test]
async fn a_master_key_rotation_rewraps_the_secret_and_the_key_pair_keeps_working() -> TestResult {
    let mut s = TestServer::start().await?;
    let (group, _, pair) = app_with_key_pair(&s, "rotated").await?;
    let started = s
        .post(
            &format!("/v1/groups/{group}/rotate-master"),
            &s.owner_key,
            json!({}),
        )
        .await?;
    assert_eq!(started.status, 202, "{}", started.body);
    let job = finished(&s, &started.str("id"), Duration::from_secs(60)).await?;
    assert_eq!(job["state"], "done", "{job}");
    assert!(job["done"].as_u64() >= Some(1), "{job}");
    // A restart forgets the derived signing keys: the secret is unwrapped again, under the
    // new master key (the old one is destroyed once the job is done).
    s.restart_with(|_| {}).await?;
    let (status, body) = list_keys(&s, &pair).await?;
    assert_eq!(status, 200, "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_lists_disables_and_deletes_key_pairs() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("cli").await?;
    let (app, _) = s
        .app_with_key("cli", &[&group], json!({"*.*.*.*": true}))
        .await?;
    let env = [("COFFER_API_KEY", s.owner_key.as_str())];
    let (ok, out) = run_cli(
        &s,
        &env,
        &[
            "apikey",
            "aws",
            "create",
            "--app",
            &app,
            "--name",
            "ci",
            "--flag",
            "keyring.*.encrypt",
        ],
        None,
    )?;
    assert!(ok, "{out}");
    let created: Value = serde_json::from_str(&out)?;
    let id = created["access_key_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        created["secret_access_key"].as_str().map(str::len),
        Some(40)
    );
    let (ok, out) = run_cli(&s, &env, &["apikey", "aws", "list", "--app", &app], None)?;
    assert!(
        ok && out.contains(&id) && !out.contains("secret_access_key"),
        "{out}"
    );
    let (ok, out) = run_cli(
        &s,
        &env,
        &["apikey", "aws", "disable", "--app", &app, &id],
        None,
    )?;
    assert!(ok && out.contains("\"disabled\": true"), "{out}");
    let (ok, _) = run_cli(
        &s,
        &env,
        &["apikey", "aws", "delete", "--app", &app, &id],
        None,
    )?;
    assert!(ok);
    let listed = s
        .get(&format!("/v1/apps/{app}/aws-credentials"), &s.owner_key)
        .await?;
    assert_eq!(listed.body, json!([]));
    Ok(())
}
