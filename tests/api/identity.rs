//! Users' sessions and passwords end to end over HTTPS: login, logout and expiry, failed
//! logins and the source lockout, reset tokens, suspension and removal. Accounts are in
//! `identity_accounts`, client certificates and the CLI in `identity_certificates`.

use crate::identity_support::{PASSWORD, server_with_clock};
use crate::support::{TestResult, TestServer};
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

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
