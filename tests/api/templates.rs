//! Permission templates (docs/templates.md): a scoped custom template reaches only its
//! groups, a change is in force on the holder's next request (on every node), only owners
//! edit, assign or re-scope them (refusals audited), built-ins are read-only, bad names are
//! refused, and an assigned template cannot be deleted.

use crate::support::{Reply, TestResult, TestServer};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

async fn put(s: &TestServer, path: &str, key: &str, body: Value) -> anyhow::Result<Reply> {
    s.call(Method::PUT, path, Some(key), Some(body)).await
}

/// Creates a template as the owner; answers its id.
async fn template(s: &TestServer, name: &str, capabilities: &[&str]) -> anyhow::Result<String> {
    let reply = s
        .owner_post(
            "/v1/templates",
            json!({"name": name, "capabilities": capabilities}),
        )
        .await?;
    anyhow::ensure!(
        reply.status == 201,
        "template: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply.str("id"))
}

/// A new user of `role`, signed in: (user id, session token).
async fn signed_in(s: &TestServer, email: &str, role: &str) -> anyhow::Result<(String, String)> {
    let user = s.user(email, role, PASSWORD).await?;
    let account = s.account_id().await?;
    let login = s.login(email, PASSWORD, &account).await?;
    anyhow::ensure!(login.status == 201, "login: {}", login.body);
    Ok((user, login.str("session_token")))
}

async fn assign(s: &TestServer, user: &str, body: Value) -> anyhow::Result<Reply> {
    put(s, &format!("/v1/users/{user}/template"), &s.owner_key, body).await
}

/// Two groups with one keyring each: (group a, group b).
async fn two_groups(s: &TestServer) -> anyhow::Result<(String, String)> {
    let a = s.group("team-a").await?;
    let b = s.group("team-b").await?;
    s.keyring("ring-a", &a, json!({})).await?;
    s.keyring("ring-b", &b, json!({})).await?;
    Ok((a, b))
}

#[tokio::test]
async fn builtins_are_listed_read_only_and_cannot_be_deleted() -> TestResult {
    let s = TestServer::start().await?;
    let list = s.get("/v1/templates", &s.owner_key).await?;
    list.assert_status(200);
    let ids: Vec<&str> = list
        .body
        .as_array()
        .map(|all| all.iter().filter_map(|t| t["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        ids,
        ["owner", "admin", "member", "auditor"],
        "{}",
        list.body
    );
    let admin = s.get("/v1/templates/admin", &s.owner_key).await?;
    assert_eq!(admin.body["builtin"], true);
    let caps = admin.body["capabilities"].to_string();
    assert!(
        caps.contains("manage-users") && !caps.contains("manage-machines"),
        "{caps}"
    );
    s.patch(
        "/v1/templates/admin",
        &s.owner_key,
        json!({"capabilities": ["manage-machines"]}),
    )
    .await?
    .assert_error(403, "forbidden");
    s.delete("/v1/templates/owner", &s.owner_key)
        .await?
        .assert_error(403, "forbidden");
    let again = s.get("/v1/templates/admin", &s.owner_key).await?;
    assert_eq!(again.body, admin.body, "unchanged");
    Ok(())
}

#[tokio::test]
async fn bad_capability_names_and_names_are_invalid_input() -> TestResult {
    let s = TestServer::start().await?;
    for body in [
        json!({"name": "ops", "capabilities": ["manage-secrets", "fly"]}),
        json!({"name": "member", "capabilities": ["manage-secrets"]}),
        json!({"name": "bad name", "capabilities": ["manage-secrets"]}),
    ] {
        s.owner_post("/v1/templates", body)
            .await?
            .assert_error(400, "invalid_input");
    }
    let id = template(&s, "ops", &["manage-secrets"]).await?;
    s.patch(
        &format!("/v1/templates/{id}"),
        &s.owner_key,
        json!({"capabilities": ["nope"]}),
    )
    .await?
    .assert_error(400, "invalid_input");
    let list = s.get("/v1/templates", &s.owner_key).await?;
    assert_eq!(list.body.as_array().map(Vec::len), Some(5), "{}", list.body);
    let shown = s.get(&format!("/v1/templates/{id}"), &s.owner_key).await?;
    assert_eq!(shown.body["capabilities"], json!(["manage-secrets"]));
    Ok(())
}

#[tokio::test]
async fn a_scoped_template_sees_and_manages_only_its_groups() -> TestResult {
    let s = TestServer::start().await?;
    let (a, b) = two_groups(&s).await?;
    let keys = template(&s, "team-keys", &["read-objects", "manage-keys"]).await?;
    let (user, session) = signed_in(&s, "k@example.test", "member").await?;
    let assigned = assign(&s, &user, json!({"template": keys, "groups": [a]})).await?;
    assigned.assert_status(200);
    assert_eq!(assigned.body["groups"], json!([a]));

    s.get("/v1/keyrings/ring-a", &session)
        .await?
        .assert_status(200);
    s.get("/v1/keyrings/ring-b", &session)
        .await?
        .assert_error(404, "not_found");
    let listed = s.get("/v1/keyrings", &session).await?;
    let names = listed.body.to_string();
    assert!(
        names.contains("ring-a") && !names.contains("ring-b"),
        "{names}"
    );
    s.post(
        "/v1/keyrings",
        &session,
        json!({"name": "new-a", "group": a}),
    )
    .await?
    .assert_status(201);
    let elsewhere = s
        .post(
            "/v1/keyrings",
            &session,
            json!({"name": "new-b", "group": b}),
        )
        .await?;
    assert_eq!(elsewhere.status, 404, "{}", elsewhere.body);
    // Nothing beyond the template: no user management, no audit trail.
    s.get("/v1/activity", &session)
        .await?
        .assert_error(403, "forbidden");
    s.post(
        "/v1/users",
        &session,
        json!({"email": "x@example.test", "role": "member", "password": PASSWORD}),
    )
    .await?
    .assert_error(403, "forbidden");

    // Re-scoped to every group, the other group appears on the next request.
    assign(&s, &user, json!({"template": keys, "groups": "all"}))
        .await?
        .assert_status(200);
    s.get("/v1/keyrings/ring-b", &session)
        .await?
        .assert_status(200);
    Ok(())
}

#[tokio::test]
async fn a_template_change_applies_on_the_next_request_on_every_node() -> TestResult {
    let s = TestServer::start().await?;
    let (a, _) = two_groups(&s).await?;
    let keys = template(&s, "team-keys", &["read-objects", "manage-keys"]).await?;
    let (user, session) = signed_in(&s, "k@example.test", "member").await?;
    assign(&s, &user, json!({"template": keys, "groups": [a]}))
        .await?
        .assert_status(200);
    let node = s.node().await?;
    let config = "/v1/keyrings/ring-a/config";
    let (status, _) = s
        .call_at(&node.url, Method::GET, config, &session, Value::Null)
        .await?;
    assert_eq!(status, 200, "the node serves the holder (and caches them)");
    s.get(config, &session).await?.assert_status(200);

    s.patch(
        &format!("/v1/templates/{keys}"),
        &s.owner_key,
        json!({"capabilities": ["manage-secrets"]}),
    )
    .await?
    .assert_status(200);
    s.get(config, &session)
        .await?
        .assert_error(403, "forbidden");
    let since = Instant::now();
    loop {
        let (status, body) = s
            .call_at(&node.url, Method::GET, config, &session, Value::Null)
            .await?;
        if status == 403 {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(2),
            "the other node still answers {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The events of `action` by `principal`.
async fn events(s: &TestServer, action: &str, principal: &str) -> anyhow::Result<Vec<Value>> {
    let feed = s
        .get(&format!("/v1/activity?action={action}"), &s.owner_key)
        .await?;
    Ok(feed.body["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["principal"] == principal)
        .collect())
}

#[tokio::test]
async fn only_owners_edit_assign_or_rescope_templates_and_refusals_are_audited() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("team").await?;
    let people = template(&s, "people", &["read-directory", "manage-users"]).await?;
    let (admin, admin_session) = signed_in(&s, "a@example.test", "admin").await?;
    let (manager, manager_session) = signed_in(&s, "m@example.test", "member").await?;
    let (target, _) = signed_in(&s, "t@example.test", "member").await?;
    assign(&s, &manager, json!({"template": people}))
        .await?
        .assert_status(200);
    // The holder of manage-users may manage users…
    s.get("/v1/users", &manager_session)
        .await?
        .assert_status(200);
    for (who, session) in [(&admin, &admin_session), (&manager, &manager_session)] {
        s.post(
            "/v1/templates",
            session,
            json!({"name": "mine", "capabilities": ["manage-keys"]}),
        )
        .await?
        .assert_error(403, "forbidden");
        s.patch(
            &format!("/v1/templates/{people}"),
            session,
            json!({"capabilities": ["manage-keys"]}),
        )
        .await?
        .assert_error(403, "forbidden");
        s.delete(&format!("/v1/templates/{people}"), session)
            .await?
            .assert_error(403, "forbidden");
        let path = format!("/v1/users/{target}/template");
        put(&s, &path, session, json!({"template": people}))
            .await?
            .assert_error(403, "forbidden");
        put(
            &s,
            &path,
            session,
            json!({"template": people, "groups": [group]}),
        )
        .await?
        .assert_error(403, "forbidden");
        put(&s, &path, session, json!({"template": "admin"}))
            .await?
            .assert_error(403, "forbidden");
        for action in ["template.create", "template.update", "template.delete"] {
            let denied = events(&s, action, who).await?;
            assert_eq!(denied.len(), 1, "{action} by {who}: {denied:?}");
            assert_eq!(denied[0]["status"], 403, "{}", denied[0]);
        }
        assert_eq!(events(&s, "template.assign", who).await?.len(), 3);
    }
    let shown = s
        .get(&format!("/v1/templates/{people}"), &s.owner_key)
        .await?;
    assert_eq!(
        shown.body["capabilities"],
        json!(["read-directory", "manage-users"])
    );
    Ok(())
}

#[tokio::test]
async fn an_assigned_template_cannot_be_deleted_and_a_role_change_replaces_it() -> TestResult {
    let s = TestServer::start().await?;
    let readers = template(&s, "readers", &["read-objects"]).await?;
    let (user, _) = signed_in(&s, "r@example.test", "member").await?;
    let (owner2, _) = signed_in(&s, "o@example.test", "owner").await?;
    assign(&s, &user, json!({"template": readers}))
        .await?
        .assert_status(200);
    // An owner must first be given another built-in (the account keeps an owner).
    assign(&s, &owner2, json!({"template": readers}))
        .await?
        .assert_error(409, "conflict");
    assign(&s, &user, json!({"template": "member", "groups": "all"}))
        .await?
        .assert_error(400, "invalid_input");
    assign(&s, &user, json!({"template": "nosuch"}))
        .await?
        .assert_error(404, "not_found");
    let path = format!("/v1/templates/{readers}");
    s.delete(&path, &s.owner_key)
        .await?
        .assert_error(409, "conflict");
    // Setting the role is assigning that built-in template: the custom one is let go.
    s.patch(
        &format!("/v1/users/{user}"),
        &s.owner_key,
        json!({"role": "auditor"}),
    )
    .await?
    .assert_status(200);
    s.delete(&path, &s.owner_key).await?.assert_status(204);
    s.get(&path, &s.owner_key)
        .await?
        .assert_error(404, "not_found");
    let role = assign(&s, &user, json!({"template": "admin"})).await?;
    role.assert_status(200);
    let member = s.get(&format!("/v1/users/{user}"), &s.owner_key).await?;
    assert_eq!(member.body["role"], "admin", "{}", member.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_updates_assigns_and_deletes_templates() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("team").await?;
    let (user, _) = signed_in(&s, "c@example.test", "member").await?;
    let env = [("COFFER_API_KEY", s.owner_key.as_str())];
    let cli = |args: &[&str]| crate::support::run_cli(&s, &env, args, None);
    let (ok, out) = cli(&[
        "template",
        "create",
        "--name",
        "ops",
        "--capability",
        "manage-secrets",
    ])?;
    assert!(ok, "{out}");
    let created: Value = serde_json::from_str(&out)?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let (ok, out) = cli(&["template", "update", &id, "--capability", "read-objects"])?;
    assert!(ok && out.contains("read-objects"), "{out}");
    let (ok, out) = cli(&[
        "template",
        "assign",
        &user,
        "--template",
        &id,
        "--group",
        &group,
    ])?;
    assert!(ok && out.contains(&group), "{out}");
    let (ok, out) = cli(&["template", "list"])?;
    assert!(
        ok && out.contains("auditor") && out.contains("ops"),
        "{out}"
    );
    let (ok, _) = cli(&["template", "delete", &id])?;
    assert!(!ok, "still assigned");
    let (ok, out) = cli(&["template", "assign", &user, "--template", "member"])?;
    assert!(ok, "{out}");
    let (ok, _) = cli(&["template", "delete", &id])?;
    assert!(ok);
    let (ok, _) = cli(&["template", "show", &id])?;
    assert!(!ok, "gone");
    Ok(())
}
