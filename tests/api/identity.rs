//! Accounts, users, sessions, lockout, password resets, group members and client
//! certificates, end to end over HTTPS.

use crate::support::{ClientCert, TestCa, TestResult, TestServer, self_signed_client};
use crate::token::token_objects;
use coffer::clock::ManualClock;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const PASSWORD: &str = "correct horse battery staple";

/// A server on a clock the test moves.
async fn server_with_clock() -> anyhow::Result<(TestServer, Arc<ManualClock>)> {
    let clock = Arc::new(ManualClock::starting_now());
    let shared = Arc::clone(&clock);
    let s = TestServer::start_with(move |c| c.clock = shared).await?;
    Ok((s, clock))
}

#[tokio::test]
async fn login_gives_a_session_that_works_until_logout_or_expiry() -> TestResult {
    let (s, clock) = server_with_clock().await?;
    let account = s.account_id().await?;
    s.user("admin@example.test", "admin", PASSWORD).await?;

    let login = s.login("Admin@Example.test", PASSWORD, &account).await?;
    login.assert_status(201);
    assert_eq!(login.str("role"), "admin");
    let token = login.str("session_token");
    assert!(token.starts_with("cs_sess_"));
    assert_eq!(s.get("/v1/users", &token).await?.status, 200);

    let sessions = s.get("/v1/auth/sessions", &token).await?;
    assert_eq!(
        sessions.body[0]["current"],
        json!(true),
        "{}",
        sessions.body
    );

    // Logout ends that session only.
    let second = s
        .login("admin@example.test", PASSWORD, &account)
        .await?
        .str("session_token");
    let out = s
        .call(Method::POST, "/v1/auth/logout", Some(&token), None)
        .await?;
    out.assert_status(204);
    assert_eq!(s.get("/v1/users", &token).await?.status, 401);
    assert_eq!(s.get("/v1/users", &second).await?.status, 200);

    // Sessions expire after an hour.
    clock.advance(Duration::from_secs(3601));
    let expired = s.get("/v1/users", &second).await?;
    expired.assert_error(401, "unauthenticated");

    // The audit trail names the session as the credential.
    let activity = s.get("/v1/activity?action=user.list", &s.owner_key).await?;
    let events = activity.body["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        events.iter().any(|e| e["auth_method"] == "session"
            && e["credential"]
                .as_str()
                .is_some_and(|c| c.starts_with("sess_"))),
        "{}",
        activity.body
    );
    Ok(())
}

#[tokio::test]
async fn failed_logins_look_alike_and_lock_the_source_out_across_a_restart() -> TestResult {
    let (mut s, clock) = server_with_clock().await?;
    let account = s.account_id().await?;
    s.user("member@example.test", "member", PASSWORD).await?;

    let wrong_password = s
        .login("member@example.test", "not the password!", &account)
        .await?;
    let unknown_email = s.login("nobody@example.test", PASSWORD, &account).await?;
    let wrong_account = s
        .login(
            "member@example.test",
            PASSWORD,
            "acct_000000000000000000000000",
        )
        .await?;
    for reply in [&wrong_password, &unknown_email, &wrong_account] {
        reply.assert_status(401);
        assert_eq!(
            reply.body["error"]["message"],
            wrong_password.body["error"]["message"]
        );
    }
    // Two more failures reach the threshold of five.
    for _ in 0..2 {
        assert_eq!(
            s.login("member@example.test", "nope nope nope", &account)
                .await?
                .status,
            401
        );
    }
    let locked = s.login("member@example.test", PASSWORD, &account).await?;
    locked.assert_error(429, "rate_limited");
    let retry: u64 = locked.headers["retry-after"].to_str()?.parse()?;
    assert!((1..=901).contains(&retry), "{retry}");

    // The lockout lives in the database: a restart does not lift it.
    let shared = Arc::clone(&clock);
    s.restart_with(move |c| c.clock = shared).await?;
    assert_eq!(
        s.login("member@example.test", PASSWORD, &account)
            .await?
            .status,
        429
    );

    // It ends after its duration.
    clock.advance(Duration::from_secs(901));
    assert_eq!(
        s.login("member@example.test", PASSWORD, &account)
            .await?
            .status,
        201
    );
    Ok(())
}

#[tokio::test]
async fn a_reset_token_works_once_and_ends_every_session() -> TestResult {
    let (s, clock) = server_with_clock().await?;
    let account = s.account_id().await?;
    let user = s.user("forgetful@example.test", "member", PASSWORD).await?;
    let session = s
        .login("forgetful@example.test", PASSWORD, &account)
        .await?
        .str("session_token");

    let issued = s
        .owner_post(&format!("/v1/users/{user}/password-reset"), json!({}))
        .await?;
    issued.assert_status(201);
    let token = issued.str("reset_token");
    let complete = |new: &str| {
        s.call(
            Method::POST,
            "/v1/auth/password-reset",
            None,
            Some(json!({"token": token, "new_password": new})),
        )
    };
    // A weak password is refused and leaves the token usable.
    assert_eq!(complete("short").await?.status, 400);
    assert_eq!(complete("a brand new passphrase").await?.status, 204);
    let again = complete("another new passphrase").await?;
    again.assert_error(401, "unauthenticated");

    assert_eq!(
        s.get("/v1/users", &session).await?.status,
        401,
        "sessions end"
    );
    assert_eq!(
        s.login("forgetful@example.test", PASSWORD, &account)
            .await?
            .status,
        401
    );
    assert_eq!(
        s.login("forgetful@example.test", "a brand new passphrase", &account)
            .await?
            .status,
        201
    );

    // Tokens expire after an hour.
    let late = s
        .owner_post(&format!("/v1/users/{user}/password-reset"), json!({}))
        .await?
        .str("reset_token");
    clock.advance(Duration::from_secs(3601));
    let expired = s
        .call(
            Method::POST,
            "/v1/auth/password-reset",
            None,
            Some(json!({"token": late, "new_password": "yet another passphrase"})),
        )
        .await?;
    expired.assert_status(401);
    Ok(())
}

#[tokio::test]
async fn suspension_and_removal_take_effect_on_the_next_request() -> TestResult {
    let s = TestServer::start().await?;
    let account = s.account_id().await?;
    let user = s.user("temp@example.test", "admin", PASSWORD).await?;
    let session = s
        .login("temp@example.test", PASSWORD, &account)
        .await?
        .str("session_token");
    let key = s.api_key(&user, json!({"user.read": true})).await?;
    assert_eq!(s.get("/v1/users", &key).await?.status, 200);

    let suspend = s
        .owner_patch(&format!("/v1/users/{user}"), json!({"suspended": true}))
        .await?;
    suspend.assert_status(200);
    assert_eq!(s.get("/v1/users", &session).await?.status, 401);
    assert_eq!(s.get("/v1/users", &key).await?.status, 401);
    assert_eq!(
        s.login("temp@example.test", PASSWORD, &account)
            .await?
            .status,
        401
    );

    s.owner_patch(&format!("/v1/users/{user}"), json!({"suspended": false}))
        .await?;
    assert_eq!(s.get("/v1/users", &key).await?.status, 200);

    let removed = s.delete(&format!("/v1/users/{user}"), &s.owner_key).await?;
    removed.assert_status(204);
    assert_eq!(s.get("/v1/users", &key).await?.status, 401);
    assert_eq!(
        s.get(&format!("/v1/users/{user}"), &s.owner_key)
            .await?
            .status,
        404
    );

    // The user still exists: another account can add them back by email, no password.
    let back = s
        .owner_post(
            "/v1/users",
            json!({"email": "temp@example.test", "role": "auditor"}),
        )
        .await?;
    assert_eq!(
        (back.status, back.str("id")),
        (201, user.clone()),
        "{}",
        back.body
    );
    assert_eq!(
        s.login("temp@example.test", PASSWORD, &account)
            .await?
            .str("role"),
        "auditor"
    );

    // The last owner cannot leave or be demoted.
    let users = s.get("/v1/users", &s.owner_key).await?.body;
    let owner = users
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| u["email"] == "owner@example.test")
        .and_then(|u| u["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let demote = s
        .owner_patch(&format!("/v1/users/{owner}"), json!({"role": "admin"}))
        .await?;
    demote.assert_status(409);
    Ok(())
}

#[tokio::test]
async fn roles_and_group_membership_bound_what_users_see_and_do() -> TestResult {
    let s = TestServer::start().await?;
    let account = s.account_id().await?;
    let mine = s.group("mine").await?;
    let theirs = s.group("theirs").await?;
    s.keyring("mine-ring", &mine, json!({})).await?;
    s.keyring("their-ring", &theirs, json!({})).await?;
    let (_, m) = s.group_member("m@example.test", PASSWORD, &mine).await?;
    s.user("a@example.test", "auditor", PASSWORD).await?;
    let names = |reply: &crate::support::Reply| -> Vec<String> {
        reply
            .body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(names(&s.get("/v1/keyrings", &m).await?), vec!["mine-ring"]);
    assert_eq!(names(&s.get("/v1/groups", &m).await?), vec!["mine"]);
    assert_eq!(s.get("/v1/keyrings/their-ring", &m).await?.status, 404);
    assert_eq!(
        s.post("/v1/keyrings/mine-ring/rotate", &m, json!({}))
            .await?
            .status,
        200
    );
    assert_eq!(
        s.get("/v1/activity", &m).await?.status,
        403,
        "members do not read the audit log"
    );

    let a = s
        .login("a@example.test", PASSWORD, &account)
        .await?
        .str("session_token");
    assert_eq!(names(&s.get("/v1/keyrings", &a).await?).len(), 2);
    assert_eq!(s.get("/v1/activity", &a).await?.status, 200);
    assert_eq!(
        s.post("/v1/keyrings/mine-ring/rotate", &a, json!({}))
            .await?
            .status,
        403
    );

    // An app's group operations bound its crypto: encrypt only.
    let (app, key) = s
        .app_with_key("enc-only", &[&mine], json!({"*.*.*.*": true}))
        .await?;
    let ops = s
        .call(
            Method::PUT,
            &format!("/v1/groups/{mine}/apps/{app}"),
            Some(&s.owner_key),
            Some(json!({"operations": ["encrypt"]})),
        )
        .await?;
    assert_eq!(ops.body["operations"], json!(["encrypt"]));
    let sealed = s.encrypt("mine-ring", &key, "aGk=").await?;
    sealed.assert_status(200);
    let opened = s
        .post(
            "/v1/keyrings/mine-ring/decrypt",
            &key,
            json!({"ciphertext": sealed.str("ciphertext")}),
        )
        .await?;
    opened.assert_error(403, "forbidden");
    let bad_op = s
        .call(
            Method::PUT,
            &format!("/v1/groups/{mine}/apps/{app}"),
            Some(&s.owner_key),
            Some(json!({"operations": ["fly"]})),
        )
        .await?;
    bad_op.assert_status(400);
    assert!(bad_op.message().contains("fly"));
    Ok(())
}

#[tokio::test]
async fn groups_rename_and_refuse_deletion_while_they_hold_objects_unless_forced() -> TestResult {
    let (s, clock) = server_with_clock().await?;
    let group = s.group("busy").await?;
    s.keyring("busy-ring", &group, json!({})).await?;
    let renamed = s
        .owner_patch(&format!("/v1/groups/{group}"), json!({"name": "renamed"}))
        .await?;
    assert_eq!(renamed.str("name"), "renamed");
    let refused = s
        .delete(&format!("/v1/groups/{group}"), &s.owner_key)
        .await?;
    refused.assert_status(409);
    assert_eq!(
        s.get("/v1/keyrings/busy-ring", &s.owner_key).await?.status,
        200
    );
    let forced = s
        .delete(&format!("/v1/groups/{group}?force=true"), &s.owner_key)
        .await?;
    forced.assert_status(204);
    assert_eq!(
        s.get("/v1/keyrings/busy-ring", &s.owner_key).await?.status,
        404
    );
    assert_eq!(
        s.get(&format!("/v1/groups/{group}"), &s.owner_key)
            .await?
            .status,
        404
    );
    let restore = s
        .owner_post("/v1/keyrings/busy-ring/restore", json!({}))
        .await?;
    assert_eq!(
        restore.status, 409,
        "no restoring into a deleted group: {}",
        restore.body
    );
    // The name is free again.
    s.group("renamed").await?;
    // The master key stays while the trashed objects could matter, then goes.
    assert!(token_objects(&s, None)?.contains(&format!("mk/{group}")));
    clock.advance(Duration::from_secs(31 * 86_400));
    s.service().maintain().await?;
    assert!(!token_objects(&s, None)?.contains(&format!("mk/{group}")));
    Ok(())
}

#[tokio::test]
async fn account_deletion_waits_can_be_cancelled_and_then_closes_everything() -> TestResult {
    let (s, clock) = server_with_clock().await?;
    let account = s.account_id().await?;
    let group = s.group("doomed").await?;
    let key = s.ready_keyring("doomed-ring", "hsm").await?;
    let path = format!("/v1/accounts/{account}");
    let deletion = format!("{path}/deletion");

    let early = s.delete(&path, &s.owner_key).await?;
    assert_eq!(early.status, 409, "confirming needs a request first");
    let requested = s.owner_post(&deletion, json!({})).await?;
    requested.assert_status(202);
    assert!(requested.body["deletion_due_at"].is_string());
    assert_eq!(s.delete(&path, &s.owner_key).await?.status, 409);
    let cancelled = s.delete(&deletion, &s.owner_key).await?;
    assert_eq!(
        (cancelled.status, cancelled.body["deletion_due_at"].clone()),
        (200, Value::Null)
    );

    s.owner_post(&deletion, json!({})).await?;
    clock.advance(Duration::from_secs(7 * 86_400 + 1));
    let closed = s.delete(&path, &s.owner_key).await?;
    closed.assert_status(204);
    assert_eq!(s.get("/v1/groups", &s.owner_key).await?.status, 401);
    assert_eq!(s.encrypt("doomed-ring", &key, "aGk=").await?.status, 401);
    // The HSM keys are gone from the token.
    let listing = token_objects(&s, None)?;
    assert!(!listing.contains(&format!("mk/{group}")), "{listing}");
    assert!(!listing.contains("kr/"), "{listing}");
    Ok(())
}

#[tokio::test]
async fn bad_identity_input_is_a_clear_400_and_changes_nothing() -> TestResult {
    let s = TestServer::start().await?;
    let (app, _) = s
        .app_with_key("certless", &[], json!({"object.read": true}))
        .await?;
    s.user("dup@example.test", "member", PASSWORD).await?;
    s.group("taken").await?;
    let leaf = self_signed_client("leaf")?;
    let bind = format!("/v1/apps/{app}/certificates");
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "POST",
            "/v1/users",
            json!({"email": "not-an-email", "role": "member"}),
            "email",
        ),
        (
            "POST",
            "/v1/users",
            json!({"email": "x@example.test", "role": "king"}),
            "role",
        ),
        (
            "POST",
            "/v1/users",
            json!({"email": "x@example.test", "role": "member", "password": "short"}),
            "password",
        ),
        ("POST", "/v1/groups", json!({"name": "bad name!"}), "name"),
        ("POST", "/v1/apps", json!({"name": ""}), "name"),
        ("POST", "/v1/accounts", json!({"name": ""}), "name"),
        (
            "POST",
            "/v1/trusted-cas",
            json!({"name": "ca", "certificate": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"}),
            "certificate",
        ),
        (
            "POST",
            "/v1/trusted-cas",
            json!({"name": "leaf", "certificate": leaf.cert_pem}),
            "not a CA",
        ),
        (
            "POST",
            &bind,
            json!({"certificate": "garbage"}),
            "certificate",
        ),
        ("POST", &bind, json!({}), "either"),
        (
            "POST",
            "/v1/revocations",
            json!({"fingerprint": "abc"}),
            "fingerprint",
        ),
    ];
    for (method, path, body, says) in &cases {
        let reply = s
            .call(
                method.parse()?,
                path,
                Some(&s.owner_key),
                Some(body.clone()),
            )
            .await?;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "invalid_input"),
            "{path} {body}: {}",
            reply.body
        );
        let message = reply.message();
        assert!(
            message.contains(says),
            "{path}: {message:?} should mention {says:?}"
        );
    }
    let duplicates = [
        (
            "/v1/users",
            json!({"email": "DUP@example.test", "role": "member"}),
        ),
        ("/v1/groups", json!({"name": "taken"})),
        ("/v1/apps", json!({"name": "certless"})),
    ];
    for (path, body) in duplicates {
        assert_eq!(
            s.post(path, &s.owner_key, body).await?.status,
            409,
            "{path}"
        );
    }
    assert_eq!(
        s.get("/v1/users", &s.owner_key)
            .await?
            .body
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        s.get("/v1/trusted-cas", &s.owner_key).await?.body,
        json!([])
    );
    let creds = s
        .get(&format!("/v1/apps/{app}/credentials"), &s.owner_key)
        .await?;
    assert_eq!(creds.body["certificates"], json!([]));
    Ok(())
}

async fn status_with(s: &TestServer, cert: &ClientCert) -> anyhow::Result<u16> {
    let client = s.client_presenting(cert)?;
    Ok(s.call_as(&client, Method::GET, "/v1/keyrings", None)
        .await?
        .status)
}

#[tokio::test]
async fn client_certificates_authenticate_bound_apps_and_nothing_else() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("mtls").await?;
    s.keyring("mtls-ring", &group, json!({})).await?;
    let app = s
        .owner_post("/v1/apps", json!({"name": "edge", "groups": [group]}))
        .await?
        .str("id");

    // Pinned: the certificate works once bound, and stops when unbound (rotation).
    let old = self_signed_client("edge-old")?;
    assert_eq!(status_with(&s, &old).await?, 401, "unbound");
    let bound = s
        .owner_post(
            &format!("/v1/apps/{app}/certificates"),
            json!({"certificate": old.cert_pem}),
        )
        .await?;
    bound.assert_status(201);
    let client = s.client_presenting(&old)?;
    let sealed = s
        .call_as(
            &client,
            Method::POST,
            "/v1/keyrings/mtls-ring/encrypt",
            Some(json!({"plaintext": "aGk="})),
        )
        .await?;
    sealed.assert_status(200);
    let fingerprint = bound.str("fingerprint");

    let new = self_signed_client("edge-new")?;
    // The new one is pinned by its fingerprint alone, colon-separated as openssl prints it.
    let new_fingerprint = coffer::crypto::x509::parse_certificates(new.cert_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!(e))?[0]
        .fingerprint
        .clone();
    let colons: Vec<String> = new_fingerprint
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_uppercase())
        .collect();
    let pinned = s
        .owner_post(
            &format!("/v1/apps/{app}/certificates"),
            json!({"fingerprint": colons.join(":")}),
        )
        .await?;
    assert_eq!(
        pinned.str("fingerprint"),
        new_fingerprint,
        "{}",
        pinned.body
    );
    let unbind = s
        .delete(
            &format!("/v1/apps/{app}/certificates/{}", bound.str("id")),
            &s.owner_key,
        )
        .await?;
    unbind.assert_status(204);
    assert_eq!(
        status_with(&s, &old).await?,
        401,
        "old certificate after rotation"
    );
    assert_eq!(
        status_with(&s, &new).await?,
        200,
        "new certificate after rotation"
    );

    // A bearer token wins over the certificate: the first credential present decides.
    let with_bad_bearer = client
        .get(format!("{}/v1/keyrings", s.url))
        .bearer_auth("ck_nonsense")
        .send()
        .await?;
    assert_eq!(with_bad_bearer.status().as_u16(), 401);

    // Trusted CA plus subject/SAN rule.
    let ca = TestCa::new("Coffer Test Client CA")?;
    let trusted = s
        .owner_post(
            "/v1/trusted-cas",
            json!({"name": "clients", "certificate": ca.pem}),
        )
        .await?;
    trusted.assert_status(201);
    let rule = s
        .owner_post(
            &format!("/v1/apps/{app}/certificates"),
            json!({"ca": trusted.str("id"), "san": "DNS:edge.clients.test"}),
        )
        .await?;
    rule.assert_status(201);
    let good = ca.issue("edge", "edge.clients.test", -1, 30)?;
    assert_eq!(status_with(&s, &good).await?, 200);
    let mismatched = ca.issue("edge", "other.clients.test", -1, 30)?;
    assert_eq!(
        status_with(&s, &mismatched).await?,
        401,
        "SAN does not match"
    );
    let expired = ca.issue("edge", "edge.clients.test", -30, -1)?;
    assert_eq!(status_with(&s, &expired).await?, 401, "expired");
    let stranger =
        TestCa::new("Coffer Test Client CA")?.issue("edge", "edge.clients.test", -1, 30)?;
    assert_eq!(
        status_with(&s, &stranger).await?,
        401,
        "same CA name, other key"
    );

    // Revocation.
    let revoked = s
        .owner_post(
            "/v1/revocations",
            json!({"certificate": good.cert_pem, "reason": "laptop lost"}),
        )
        .await?;
    revoked.assert_status(201);
    assert_eq!(status_with(&s, &good).await?, 401, "revoked");

    // The audit event names the method and the fingerprint.
    let activity = s
        .get("/v1/activity?action=keyring.encrypt", &s.owner_key)
        .await?;
    let event = &activity.body["events"][0];
    assert_eq!(
        event["auth_method"], "client_certificate",
        "{}",
        activity.body
    );
    assert_eq!(event["credential"], json!(format!("sha256:{fingerprint}")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_from_another_account_always_get_the_same_404_body() -> TestResult {
    use proptest::prelude::*;
    let s = TestServer::start().await?;
    let other = s.service().bootstrap("other", "other@example.test").await?;
    let other_key = other.api_key.reveal().to_owned();
    // Real objects of the other account, and random ids of every prefix.
    let real = s
        .post("/v1/groups", &other_key, json!({"name": "hidden"}))
        .await?
        .str("id");
    let templates = [
        "/v1/groups/{}",
        "/v1/apps/{}",
        "/v1/users/{}",
        "/v1/accounts/{}",
        "/v1/auth/apikey/{}",
        "/v1/keyrings/{}",
        "/v1/keys/{}",
        "/v1/groups/{}/members",
    ];
    let handle = tokio::runtime::Handle::current();
    let body_of = |path: String| -> Value {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let reply = s.get(&path, &s.owner_key).await.expect("request");
                let mut body = reply.body.clone();
                body["error"]["request_id"] = Value::Null;
                // The message names the kind of object asked for, never whether it exists.
                body["error"]["message"] = Value::Null;
                json!({"status": reply.status, "body": body})
            })
        })
    };
    let expected = json!({"status": 404, "body": {"error": {"code": "not_found", "message": null, "request_id": null}}});
    assert_eq!(body_of(format!("/v1/groups/{real}")), expected);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(
            &(
                0..templates.len(),
                "(grp|app|usr|acct|ak|kr|key)_[0-9a-f]{24}",
            ),
            |(template, id)| {
                let path = templates[template].replace("{}", &id);
                prop_assert_eq!(body_of(path), expected.clone());
                Ok(())
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // The message itself is the same for a real hidden group and a random one.
    let real_reply = s.get(&format!("/v1/groups/{real}"), &s.owner_key).await?;
    let random_reply = s
        .get("/v1/groups/grp_000000000000000000000000", &s.owner_key)
        .await?;
    assert_eq!(
        real_reply.body["error"]["message"]
            .as_str()
            .map(|m| m.replace(&real, "ID")),
        random_reply.body["error"]["message"]
            .as_str()
            .map(|m| m.replace("grp_000000000000000000000000", "ID"))
    );
    Ok(())
}

// The CLI runs as a child process calling this process's server: the server needs a
// runtime thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_logs_in_manages_people_and_groups_and_authenticates_with_a_certificate()
-> TestResult {
    use crate::support::run_cli;
    let s = TestServer::start().await?;
    let account = s.account_id().await?;
    let owner = [("COFFER_API_KEY", s.owner_key.as_str())];
    let (ok, out) = run_cli(
        &s,
        &owner,
        &[
            "user",
            "add",
            "ops@example.test",
            "--role",
            "admin",
            "--with-password",
        ],
        Some(format!("{PASSWORD}\n").as_bytes()),
    )?;
    assert!(ok && out.contains("\"admin\""), "{out}");

    let (ok, token) = run_cli(
        &s,
        &[("COFFER_PASSWORD", PASSWORD)],
        &[
            "login",
            "--email",
            "ops@example.test",
            "--account",
            &account,
            "--token-only",
        ],
        None,
    )?;
    assert!(ok && token.starts_with("cs_sess_"), "{token}");
    let session = [("COFFER_API_KEY", token.trim())];
    let (ok, out) = run_cli(&s, &session, &["group", "create", "cli-group"], None)?;
    assert!(ok, "{out}");
    let group: Value = serde_json::from_str(&out)?;
    let group = group["id"].as_str().unwrap_or_default().to_owned();
    s.keyring("cli-ring", &group, json!({})).await?;
    let (ok, out) = run_cli(
        &s,
        &session,
        &["app", "create", "cli-app", "--group", &group],
        None,
    )?;
    assert!(ok, "{out}");
    let app: Value = serde_json::from_str(&out)?;
    let app = app["id"].as_str().unwrap_or_default().to_owned();
    let (ok, out) = run_cli(
        &s,
        &session,
        &["group", "add-app", &group, &app, "--operation", "encrypt"],
        None,
    )?;
    assert!(
        ok && out.contains("encrypt") && !out.contains("decrypt"),
        "{out}"
    );

    let dir = tempfile::tempdir()?;
    let stem = dir.path().join("edge");
    let stem = stem.to_str().unwrap_or_default();
    let (ok, out) = run_cli(
        &s,
        &session,
        &[
            "app",
            "certificate",
            "generate",
            &app,
            "--cn",
            "edge",
            "--out",
            stem,
        ],
        None,
    )?;
    assert!(ok && out.contains("\"pinned\""), "{out}");
    let cert = format!("{stem}.pem");
    let key = format!("{stem}.key");
    // An empty COFFER_API_KEY counts as none: the certificate authenticates.
    let as_app = [
        ("COFFER_API_KEY", ""),
        ("COFFER_CLIENT_CERT", cert.as_str()),
        ("COFFER_CLIENT_KEY", key.as_str()),
    ];
    let (ok, out) = run_cli(&s, &as_app, &["keyring", "list"], None)?;
    assert!(ok && out.contains("cli-ring"), "{out}");

    // A certificate and a key that do not belong together are refused before any request.
    let other = self_signed_client("other")?;
    let other_pem = dir.path().join("other.pem");
    std::fs::write(&other_pem, other.cert_pem)?;
    let (ok, _) = run_cli(
        &s,
        &session,
        &[
            "app",
            "certificate",
            "add",
            &app,
            "--pem",
            other_pem.to_str().unwrap_or_default(),
            "--key",
            &key,
        ],
        None,
    )?;
    assert!(!ok, "mismatched key and certificate");

    let (ok, out) = run_cli(&s, &session, &["account", "list"], None)?;
    assert!(ok && out.contains(&account), "{out}");
    let (ok, _) = run_cli(&s, &session, &["session", "logout"], None)?;
    assert!(ok);
    let (ok, _) = run_cli(&s, &session, &["user", "list"], None)?;
    assert!(!ok, "the session ended");
    Ok(())
}
