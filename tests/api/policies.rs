//! Access policies: management (owners and admins only, bad input stores nothing, objects
//! of the policy's group only) and the axes that refuse without counting: time window,
//! source allowlist and co-sign, each refused and allowed on an injected clock, and the
//! audit event of a refusal.

use crate::expect::cli;
use crate::machine_support::{client_from, encrypt_request};
use crate::policy_support::{
    app_flags, assert_denied, bind, bound_keyring, create_policy, encrypt_at, events, local_hhmm,
    put, server,
};
use crate::secrets::{create, grant, read};
use crate::support::{TestResult, TestServer, unix_now};
use serde_json::json;
use std::time::Duration;

const PASSWORD: &str = "correct horse battery staple";

/// The session token of a new user of the account with `role`.
async fn session_of(s: &TestServer, email: &str, role: &str) -> anyhow::Result<String> {
    s.user(email, role, PASSWORD).await?;
    let account = s.account_id().await?;
    let login = s.login(email, PASSWORD, &account).await?;
    anyhow::ensure!(
        login.status == 201,
        "login: {} {}",
        login.status,
        login.body
    );
    Ok(login.str("session_token"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_owners_and_admins_manage_policies_and_bad_input_stores_nothing() -> TestResult {
    let (s, _clock, g) = server().await?;
    let id = create_policy(&s, &g, "office", json!({"rate": {"per_minute": 10}})).await?;
    let admin = session_of(&s, "admin@example.test", "admin").await?;
    let listed = s.get("/v1/policies", &admin).await?;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body[0]["id"], id.as_str());
    assert_eq!(listed.body[0]["rate"], json!({"per_minute": 10}));
    for role in ["member", "auditor"] {
        let token = session_of(&s, &format!("{role}@example.test"), role).await?;
        let list = s.get("/v1/policies", &token).await?;
        assert_eq!(list.status, 403, "{role}: {}", list.body);
        let write = s
            .post(
                "/v1/policies",
                &token,
                json!({"group": g, "name": "x", "rate": {"per_day": 1}}),
            )
            .await?;
        assert_eq!(write.status, 403, "{role}: {}", write.body);
    }
    let bad = [
        json!({"time_window": {"days": ["mon"], "from": "09:00", "to": "17:00", "time_zone": "Mars/Olympus"}}),
        json!({"time_window": {"days": ["mon"], "from": "09:00", "to": "09:00", "time_zone": "UTC"}}),
        json!({"sources": ["10.0.0.0/33"]}),
        json!({"sources": ["not-an-address"]}),
        json!({"rate": {}}),
        json!({"cosign": {"principals": ["app_000000000000000000000000"], "within_seconds": 60}}),
        json!({"ttl": {"expires_at": "yesterday"}}),
        json!({}),
    ];
    for (n, axes) in bad.into_iter().enumerate() {
        let mut body = json!({"group": g, "name": format!("bad-{n}")});
        body.as_object_mut()
            .unwrap()
            .extend(axes.as_object().unwrap().clone());
        let reply = s.owner_post("/v1/policies", body.clone()).await?;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_eq!(reply.code(), "invalid_input");
    }
    let after = s.get("/v1/policies", &s.owner_key).await?;
    assert_eq!(
        after.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        after.body
    );
    let patched = s
        .owner_patch(
            &format!("/v1/policies/{id}"),
            json!({"sources": ["10.0.0.0/8"]}),
        )
        .await?;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["sources"], json!(["10.0.0.0/8"]));
    let refused = s
        .owner_patch(
            &format!("/v1/policies/{id}"),
            json!({"sources": ["::/129"]}),
        )
        .await?;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let shown = s.get(&format!("/v1/policies/{id}"), &s.owner_key).await?;
    assert_eq!(
        shown.body["sources"],
        json!(["10.0.0.0/8"]),
        "a refused change stores nothing"
    );
    let cleared = s
        .owner_patch(&format!("/v1/policies/{id}"), json!({"sources": null}))
        .await?;
    assert!(cleared.body.get("sources").is_none(), "{}", cleared.body);

    let deleted = s
        .delete(&format!("/v1/policies/{id}"), &s.owner_key)
        .await?;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let gone = s.get(&format!("/v1/policies/{id}"), &s.owner_key).await?;
    assert_eq!(gone.status, 404);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_binds_only_to_known_objects_of_its_group() -> TestResult {
    let (s, _clock, g) = server().await?;
    let other = s.group("H").await?;
    s.keyring("ours", &g, json!({})).await?;
    s.keyring("theirs", &other, json!({})).await?;
    let id = create_policy(&s, &g, "p", json!({"rate": {"per_day": 5}})).await?;
    bind(&s, &id, "keyring", "ours").await?;
    let unknown = put(&s, &format!("/v1/policies/{id}/bindings/keyring/nowhere")).await?;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let foreign = put(&s, &format!("/v1/policies/{id}/bindings/keyring/theirs")).await?;
    assert_eq!(foreign.status, 400, "{}", foreign.body);
    assert!(
        foreign.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("own group")
    );
    let kind = put(&s, &format!("/v1/policies/{id}/bindings/bucket/ours")).await?;
    assert_eq!(kind.status, 400, "{}", kind.body);
    let bindings = s
        .get(&format!("/v1/policies/{id}/bindings"), &s.owner_key)
        .await?;
    assert_eq!(
        bindings.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        bindings.body
    );
    assert_eq!(bindings.body[0]["object"], "ours");
    assert_eq!(bindings.body[0]["kind"], "keyring");
    let unbound = s
        .delete(
            &format!("/v1/policies/{id}/bindings/keyring/ours"),
            &s.owner_key,
        )
        .await?;
    assert_eq!(unbound.status, 204, "{}", unbound.body);
    let again = s
        .delete(
            &format!("/v1/policies/{id}/bindings/keyring/ours"),
            &s.owner_key,
        )
        .await?;
    assert_eq!(again.status, 404, "{}", again.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_window_in_a_time_zone_refuses_outside_and_allows_inside() -> TestResult {
    let (s, clock, g) = server().await?;
    let (_, key) = s.app_with_key("worker", &[&g], app_flags()).await?;
    // Asia/Kolkata is UTC+05:30 all year: the window opens in two hours, local time.
    let kolkata = 330;
    let window = json!({"time_window": {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "from": local_hhmm(&clock, kolkata, 120),
        "to": local_hhmm(&clock, kolkata, 180),
        "time_zone": "Asia/Kolkata",
    }});
    bound_keyring(&s, &g, "office", window).await?;
    let early = encrypt_at(&s, &s.url, "office", &key).await?;
    assert_denied(&early, "Asia/Kolkata");
    assert!(
        early.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("office-policy")
    );

    clock.advance(Duration::from_secs(150 * 60));
    let inside = encrypt_at(&s, &s.url, "office", &key).await?;
    assert_eq!(inside.status, 200, "{}", inside.body);
    clock.advance(Duration::from_secs(60 * 60));
    assert_denied(&encrypt_at(&s, &s.url, "office", &key).await?, "only");
    // The owner's own use is not an app's: policies bind apps and machines.
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_allowlist_refuses_other_addresses_and_the_refusal_is_audited() -> TestResult {
    let (s, _clock, g) = server().await?;
    let (_, key) = s.app_with_key("worker", &[&g], app_flags()).await?;
    let policy = bound_keyring(
        &s,
        &g,
        "lan",
        json!({"sources": ["10.0.0.0/8", "192.0.2.7"]}),
    )
    .await?;
    let refused = encrypt_at(&s, &s.url, "lan", &key).await?;
    assert_denied(&refused, "127.0.0.1");

    let feed = events(&s).await?;
    let event = feed
        .iter()
        .find(|e| e["action"] == "keyring.encrypt")
        .expect("the refusal's event");
    assert_eq!(event["outcome"], "policy_denied", "{event}");
    assert_eq!(event["status"], 403);
    assert_eq!(event["severity"], "warning");
    assert_eq!(event["detail"], format!("policy {policy}: axis source"));

    let path = format!("/v1/policies/{policy}");
    let widened = s
        .owner_patch(&path, json!({"sources": ["10.0.0.0/8", "127.0.0.0/8"]}))
        .await?;
    assert_eq!(widened.status, 200, "{}", widened.body);
    let allowed = encrypt_at(&s, &s.url, "lan", &key).await?;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_co_signed_secret_is_read_only_after_the_named_app_used_it() -> TestResult {
    let (s, clock, g) = server().await?;
    let (first, first_key) = s.app_with_key("approver", &[&g], app_flags()).await?;
    let (second, second_key) = s.app_with_key("worker", &[&g], app_flags()).await?;
    create(&s, json!({"name": "launch", "group": g, "value": "codes"})).await?;
    grant(&s, "launch", &first).await?;
    grant(&s, "launch", &second).await?;
    let axes = json!({"cosign": {"principals": [first], "within_seconds": 60}});
    let policy = create_policy(&s, &g, "two-person", axes).await?;
    bind(&s, &policy, "secret", "launch").await?;

    assert_denied(&read(&s, "launch", &second_key).await?, &first);
    let approval = read(&s, "launch", &first_key).await?;
    assert_eq!(
        approval.status, 200,
        "the co-signer itself is not held back: {}",
        approval.body
    );
    let read_now = read(&s, "launch", &second_key).await?;
    assert_eq!(read_now.status, 200, "{}", read_now.body);
    assert_eq!(read_now.body["value"], "codes");

    clock.advance(Duration::from_secs(61));
    assert_denied(
        &read(&s, "launch", &second_key).await?,
        "within the 60 seconds",
    );
    let feed = events(&s).await?;
    let refusal = feed
        .iter()
        .find(|e| e["outcome"] == "policy_denied")
        .expect("audited");
    assert_eq!(refusal["detail"], format!("policy {policy}: axis cosign"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_binds_changes_and_deletes_a_policy() -> TestResult {
    let (s, _clock, g) = server().await?;
    s.keyring("payments", &g, json!({})).await?;
    let owner = [("COFFER_API_KEY", s.owner_key.as_str())];
    let create = "policy create --group {} --name office-hours --days mon,tue,wed,thu,fri \
                  --from 09:00 --to 17:30 --time-zone Europe/Paris --source 10.0.0.0/8 --per-minute 100";
    let (ok, out) = cli(&s, &owner, create, &[&g])?;
    assert!(ok, "create: {out}");
    let created: serde_json::Value = serde_json::from_str(&out)?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(created["time_window"]["time_zone"], "Europe/Paris");
    assert_eq!(created["rate"], json!({"per_minute": 100}));
    let (ok, out) = cli(&s, &owner, "policy bind {} keyring payments", &[&id])?;
    assert!(ok, "bind: {out}");
    let (ok, out) = cli(&s, &owner, "policy bindings {}", &[&id])?;
    assert!(ok && out.contains("payments"), "bindings: {out}");
    let (ok, out) = cli(
        &s,
        &owner,
        "policy update {} --clear rate --source 192.0.2.0/24",
        &[&id],
    )?;
    assert!(ok, "update: {out}");
    let changed: serde_json::Value = serde_json::from_str(&out)?;
    assert!(changed.get("rate").is_none(), "{changed}");
    assert_eq!(changed["sources"], json!(["192.0.2.0/24"]));
    let (ok, out) = cli(&s, &owner, "policy list --group {}", &[&g])?;
    assert!(ok && out.contains("office-hours"), "list: {out}");
    let (ok, _) = cli(&s, &owner, "policy unbind {} keyring payments", &[&id])?;
    assert!(ok, "unbind");
    let (ok, _) = cli(&s, &owner, "policy delete {}", &[&id])?;
    assert!(ok, "delete");
    let (ok, _) = cli(&s, &owner, "policy show {}", &[&id])?;
    assert!(!ok, "a deleted policy is gone");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_is_bound_like_an_app_and_its_source_is_its_address() -> TestResult {
    let (s, _clock, g) = server().await?;
    let machine = s
        .approved_machine(&[&g], json!({"keyring.*.*": true}))
        .await?;
    bound_keyring(&s, &g, "ring", json!({"sources": ["127.0.0.2"]})).await?;
    let here = s
        .send_raw(&s.client, &encrypt_request(&machine, unix_now()))
        .await?;
    assert_denied(&here, "127.0.0.1");
    let office = client_from(&s, "127.0.0.2")?;
    let there = s
        .send_raw(&office, &encrypt_request(&machine, unix_now()))
        .await?;
    assert_eq!(there.status, 200, "{}", there.body);
    Ok(())
}
