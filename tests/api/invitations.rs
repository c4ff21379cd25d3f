//! Invitations end to end: a person without a user joins an account only by accepting an
//! invitation with a password they choose; an existing user joins at once; nobody sets
//! another person's password. Tokens are single use, expire and can be revoked, and every
//! step is in the audit trail.

use crate::identity_support::{PASSWORD, server_with_clock};
use crate::support::{Reply, TestResult, TestServer, run_cli};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const ACCEPT: &str = "/v1/invitations/accept";

async fn invite(s: &TestServer, email: &str, role: &str) -> anyhow::Result<Reply> {
    s.owner_post("/v1/users", json!({"email": email, "role": role}))
        .await
}

async fn accept(s: &TestServer, token: &str, password: &str) -> anyhow::Result<Reply> {
    let body = json!({"token": token, "password": password});
    s.call(Method::POST, ACCEPT, None, Some(body)).await
}

fn emails(reply: &Reply) -> Vec<String> {
    let rows = reply.body.as_array().cloned().unwrap_or_default();
    rows.iter()
        .filter_map(|u| u["email"].as_str().map(str::to_owned))
        .collect()
}

/// The account's audit events of `action`, newest first.
async fn events(s: &TestServer, action: &str) -> anyhow::Result<Vec<Value>> {
    let reply = s
        .get(&format!("/v1/activity?action={action}"), &s.owner_key)
        .await?;
    Ok(reply.body["events"].as_array().cloned().unwrap_or_default())
}

#[tokio::test]
async fn an_invited_person_sets_their_own_password_and_logs_in() -> TestResult {
    let s = TestServer::start().await?;
    let account = s.account_id().await?;
    let invited = invite(&s, "Bob@Example.test", "member").await?;
    invited.assert_status(201);
    let invitation = &invited.body["invitation"];
    assert_eq!(invitation["email"], "bob@example.test");
    assert_eq!(invitation["role"], "member");
    assert!(invitation["expires_at"].is_string(), "{}", invited.body);
    let token = invited.str("token");
    assert!(token.starts_with("ci_inv_"), "{token}");

    // No user yet: only a pending invitation, listed without its token.
    let users = s.get("/v1/users", &s.owner_key).await?;
    assert_eq!(emails(&users), ["owner@example.test"]);
    let pending = s.get("/v1/invitations", &s.owner_key).await?;
    pending.assert_status(200);
    assert_eq!(emails(&pending), ["bob@example.test"]);
    assert!(!pending.body.to_string().contains(&token));
    assert_eq!(pending.body[0]["id"], invitation["id"]);

    // A weak password is refused and leaves the invitation usable.
    accept(&s, &token, "short")
        .await?
        .assert_error(400, "invalid_input");
    let accepted = accept(&s, &token, PASSWORD).await?;
    accepted.assert_status(201);
    assert_eq!(accepted.str("email"), "bob@example.test");
    assert_eq!(accepted.str("role"), "member");
    let user = accepted.str("id");

    let login = s.login("bob@example.test", PASSWORD, &account).await?;
    login.assert_status(201);
    assert_eq!(
        (login.str("user_id"), login.str("role")),
        (user, "member".into())
    );

    // Single use: the token is spent, and nothing is pending any more.
    accept(&s, &token, "another good password")
        .await?
        .assert_error(401, "unauthenticated");
    let pending = s.get("/v1/invitations", &s.owner_key).await?;
    assert_eq!(pending.body, json!([]));
    Ok(())
}

#[tokio::test]
async fn an_existing_user_joins_at_once_without_an_invitation() -> TestResult {
    let s = TestServer::start().await?;
    let account = s.account_id().await?;
    s.user("alice@example.test", "admin", PASSWORD).await?;
    let session = s
        .login("alice@example.test", PASSWORD, &account)
        .await?
        .str("session_token");
    let created = s
        .post("/v1/accounts", &session, json!({"name": "alice's"}))
        .await?;
    created.assert_status(201);
    let other = created.str("id");
    let alice_there = s
        .login("alice@example.test", PASSWORD, &other)
        .await?
        .str("session_token");

    // The bootstrap owner has a user: Alice's account adds them as they are.
    let added = s
        .post(
            "/v1/users",
            &alice_there,
            json!({"email": "owner@example.test", "role": "auditor"}),
        )
        .await?;
    added.assert_status(201);
    assert_eq!(added.str("email"), "owner@example.test");
    assert_eq!(added.str("role"), "auditor");
    assert!(added.body.get("invitation").is_none() && added.body.get("token").is_none());
    let pending = s.get("/v1/invitations", &alice_there).await?;
    assert_eq!(pending.body, json!([]));
    let accounts = s.get("/v1/accounts", &s.owner_key).await?;
    assert_eq!(accounts.body.as_array().map(Vec::len), Some(2));
    Ok(())
}

#[tokio::test]
async fn a_password_chosen_by_the_inviter_is_refused_and_nothing_is_created() -> TestResult {
    let s = TestServer::start().await?;
    for password in [json!(PASSWORD), json!(null)] {
        let body = json!({"email": "carol@example.test", "role": "member", "password": password});
        let refused = s.owner_post("/v1/users", body).await?;
        refused.assert_error(400, "invalid_input");
        assert!(
            refused.message().contains("their own password"),
            "{}",
            refused.body
        );
    }
    let users = s.get("/v1/users", &s.owner_key).await?;
    assert_eq!(emails(&users), ["owner@example.test"]);
    let pending = s.get("/v1/invitations", &s.owner_key).await?;
    assert_eq!(pending.body, json!([]));
    let account = s.account_id().await?;
    assert_eq!(
        s.login("carol@example.test", PASSWORD, &account)
            .await?
            .status,
        401
    );
    // The refusal is audited.
    let refusals = events(&s, "user.create").await?;
    assert!(refusals.iter().any(|e| e["status"] == 400), "{refusals:?}");
    Ok(())
}

#[tokio::test]
async fn invitations_expire() -> TestResult {
    let (s, clock) = server_with_clock().await?;
    for ttl in [0, 30 * 24 * 3600 + 1] {
        let body = json!({"email": "dan@example.test", "role": "member", "ttl_secs": ttl});
        let refused = s.owner_post("/v1/users", body).await?;
        refused.assert_error(400, "invalid_input");
    }
    let body = json!({"email": "dan@example.test", "role": "member", "ttl_secs": 60});
    let short = s.owner_post("/v1/users", body).await?;
    short.assert_status(201);

    clock.advance(Duration::from_secs(61));
    accept(&s, &short.str("token"), PASSWORD)
        .await?
        .assert_error(401, "unauthenticated");
    let pending = s.get("/v1/invitations", &s.owner_key).await?;
    assert_eq!(pending.body, json!([]));

    // The default is seven days: a day before it ends, the invitation still works.
    let again = invite(&s, "dan@example.test", "member").await?;
    again.assert_status(201);
    clock.advance(Duration::from_secs(6 * 24 * 3600));
    accept(&s, &again.str("token"), PASSWORD)
        .await?
        .assert_status(201);
    Ok(())
}

#[tokio::test]
async fn a_revoked_invitation_cannot_be_accepted() -> TestResult {
    let s = TestServer::start().await?;
    let (_, member) = s
        .group_member("mem@example.test", PASSWORD, &s.group("g").await?)
        .await?;
    let invited = invite(&s, "erin@example.test", "member").await?;
    let id = invited.body["invitation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = format!("/v1/invitations/{id}");
    // A second invitation of the same email waits for this one to go.
    invite(&s, "erin@example.test", "member")
        .await?
        .assert_error(409, "conflict");

    s.delete(&path, &member).await?.assert_status(403);
    s.delete(&path, &s.owner_key).await?.assert_status(204);
    s.delete(&path, &s.owner_key).await?.assert_status(404);
    accept(&s, &invited.str("token"), PASSWORD)
        .await?
        .assert_error(401, "unauthenticated");
    let users = s.get("/v1/users", &s.owner_key).await?;
    assert!(!emails(&users).contains(&"erin@example.test".to_owned()));

    // Unknown and malformed tokens are the same 401.
    let unknown = format!("ci_inv_{}_{}", "0".repeat(24), "0".repeat(64));
    for token in [unknown.as_str(), "nonsense"] {
        accept(&s, token, PASSWORD)
            .await?
            .assert_error(401, "unauthenticated");
    }
    Ok(())
}

#[tokio::test]
async fn only_those_who_manage_users_invite() -> TestResult {
    let s = TestServer::start().await?;
    let account = s.account_id().await?;
    let group = s.group("g").await?;
    let (_, member) = s.group_member("m@example.test", PASSWORD, &group).await?;
    s.user("aud@example.test", "auditor", PASSWORD).await?;
    s.user("adm@example.test", "admin", PASSWORD).await?;
    let session = |email: &'static str| {
        let s = &s;
        let account = account.clone();
        async move {
            let login = s.login(email, PASSWORD, &account).await?;
            anyhow::Ok(login.str("session_token"))
        }
    };
    let auditor = session("aud@example.test").await?;
    let admin = session("adm@example.test").await?;
    let body = json!({"email": "frank@example.test", "role": "member"});
    for who in [&member, &auditor] {
        let refused = s.post("/v1/users", who, body.clone()).await?;
        refused.assert_error(403, "forbidden");
    }
    // Admins invite, but only owners invite owners.
    let owner_body = json!({"email": "frank@example.test", "role": "owner"});
    let refused = s.post("/v1/users", &admin, owner_body).await?;
    refused.assert_error(403, "forbidden");
    s.post("/v1/users", &admin, body).await?.assert_status(201);
    // Auditors read the pending invitations; nothing was created by the refusals.
    let pending = s.get("/v1/invitations", &auditor).await?;
    assert_eq!(emails(&pending), ["frank@example.test"]);
    Ok(())
}

#[tokio::test]
async fn every_step_is_audited_and_the_inviter_never_sees_the_password() -> TestResult {
    let s = TestServer::start().await?;
    let invited = invite(&s, "gina@example.test", "auditor").await?;
    let id = invited.body["invitation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    accept(&s, "nonsense", PASSWORD).await?.assert_status(401);
    let accepted = accept(&s, &invited.str("token"), PASSWORD).await?;
    accepted.assert_status(201);
    let user = accepted.str("id");
    let other = invite(&s, "hal@example.test", "member").await?;
    let other_id = other.body["invitation"]["id"].as_str().unwrap_or_default();
    s.delete(&format!("/v1/invitations/{other_id}"), &s.owner_key)
        .await?
        .assert_status(204);
    s.get("/v1/invitations", &s.owner_key)
        .await?
        .assert_status(200);

    let created = events(&s, "user.create").await?;
    assert!(
        created
            .iter()
            .any(|e| e["object"] == format!("invitation/{id}") && e["status"] == 201),
        "{created:?}"
    );
    let accepts = events(&s, "invitation.accept").await?;
    assert!(
        accepts.iter().any(|e| e["status"] == 201
            && e["principal"] == user.as_str()
            && e["credential"] == id.as_str()
            && e["object"] == format!("user/{user}")),
        "{accepts:?}"
    );
    // A refused token names no account: its event is in the server's trail, not this one's.
    assert!(accepts.iter().all(|e| e["status"] == 201), "{accepts:?}");
    let revokes = events(&s, "invitation.revoke").await?;
    assert_eq!(revokes.len(), 1, "{revokes:?}");
    assert_eq!(events(&s, "invitation.list").await?.len(), 1);

    // Nothing the inviter can read holds the password or the token.
    let trail = s.get("/v1/activity", &s.owner_key).await?.body.to_string();
    for secret in [PASSWORD, invited.str("token").as_str()] {
        assert!(!trail.contains(secret));
    }
    let member = s.get(&format!("/v1/users/{user}"), &s.owner_key).await?;
    assert!(!member.body.to_string().contains(PASSWORD));
    Ok(())
}

// The CLI runs as a child process calling this process's server: the server needs a
// runtime thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_invites_lists_and_accepts() -> TestResult {
    let s = TestServer::start().await?;
    let owner = [("COFFER_API_KEY", s.owner_key.as_str())];
    let (ok, out) = run_cli(
        &s,
        &owner,
        &["user", "invite", "ivy@example.test", "--role", "member"],
        None,
    )?;
    assert!(ok, "{out}");
    let issued: Value = serde_json::from_str(&out)?;
    let token = issued["token"].as_str().unwrap_or_default().to_owned();
    let (ok, out) = run_cli(&s, &owner, &["invitation", "list"], None)?;
    assert!(
        ok && out.contains("ivy@example.test") && !out.contains(&token),
        "{out}"
    );

    let line = format!("{PASSWORD}\n");
    let args = [
        "invitation",
        "accept",
        "--token",
        &token,
        "--password-stdin",
    ];
    let (ok, out) = run_cli(&s, &[], &args, Some(line.as_bytes()))?;
    assert!(ok && out.contains("ivy@example.test"), "{out}");
    let account = s.account_id().await?;
    let login = s.login("ivy@example.test", PASSWORD, &account).await?;
    login.assert_status(201);
    Ok(())
}
