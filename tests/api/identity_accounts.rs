//! Accounts and what bounds people in them: roles and group membership, group renames and
//! guarded deletion, account deletion with its grace period, the same 404 for every other
//! account's ids, and bad identity input refused without a change.

use crate::identity_support::{PASSWORD, server_with_clock};
use crate::support::{TestResult, TestServer, self_signed_client};
use crate::token::token_objects;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

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
