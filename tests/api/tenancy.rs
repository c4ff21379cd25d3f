//! The tenancy objects a service runs on: API keys (shown once, disabled at once, only ever
//! narrowed, with flags refused by name when they match nothing), groups and apps.

use crate::support::*;
use serde_json::{Value, json};

#[tokio::test]
async fn api_keys_are_shown_once_disabled_at_once_and_only_ever_narrowed() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("keys").await?;
    let (app, key) = s
        .app_with_key("holder", &[&group], json!({"keyring.*.*": true}))
        .await?;
    s.keyring("k", &group, json!({})).await?;
    assert_eq!(s.encrypt("k", &key, "eA==").await?.status, 200);

    let listed = s.get("/v1/auth/apikey", &s.owner_key).await?;
    assert!(
        !listed
            .body
            .to_string()
            .contains(key.rsplit('_').next().unwrap()),
        "key text never listed"
    );
    let key_id = key
        .trim_start_matches("ck_")
        .rsplit_once('_')
        .unwrap()
        .0
        .to_owned();
    let key_path = format!("/v1/auth/apikey/{key_id}");
    let update = |body: Value| s.owner_patch(&key_path, body);
    let shown = s.get(&key_path, &s.owner_key).await?;
    assert_eq!((shown.status, shown.str("principal")), (200, app.clone()));
    assert!(shown.body["last_used_at"].is_string(), "{}", shown.body);

    let widen = update(json!({"flags": {"*.*.*.*": true}})).await?;
    widen.assert_error(400, "invalid_input");
    let narrow = update(json!({"flags": {"keyring.k.decrypt": true}})).await?;
    narrow.assert_status(200);
    let now_denied = s.encrypt("k", &key, "eA==").await?;
    assert_eq!(
        now_denied.status, 403,
        "narrowing takes effect on the next request"
    );

    let disabled = update(json!({"disabled": true})).await?;
    assert_eq!(
        (disabled.status, disabled.body["disabled"].as_bool()),
        (200, Some(true))
    );
    assert_eq!(
        s.get("/v1/keyrings", &key).await?.status,
        401,
        "disabling takes effect at once"
    );
    let revive = update(json!({"disabled": false})).await?;
    revive.assert_status(409);
    Ok(())
}

#[tokio::test]
async fn flags_that_match_nothing_or_cannot_apply_are_refused_by_name() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("f").await?;
    let (app, _) = s
        .app_with_key("f", &[&group], json!({"keyring.*": true}))
        .await?;
    let users = s.get("/v1/auth/apikey", &s.owner_key).await?;
    let owner = users.body[0]["principal"].as_str().unwrap().to_owned();
    for (principal, flags, needle) in [
        (
            app.as_str(),
            json!({"keyring.*.explode": true}),
            "keyring.*.explode",
        ),
        (app.as_str(), json!({"group.write": true}), "group.write"),
        (
            owner.as_str(),
            json!({"keyring.k.encrypt": true}),
            "keyring.k.encrypt",
        ),
        (app.as_str(), json!({}), "at least one"),
    ] {
        let reply = s
            .owner_post(
                "/v1/auth/apikey",
                json!({"principal": principal, "name": "x", "flags": flags}),
            )
            .await?;
        reply.assert_error_because(400, "invalid_input", flags);
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{}",
            reply.body
        );
    }
    let nobody = s
        .owner_post(
            "/v1/auth/apikey",
            json!({"principal": "app_000", "name": "x", "flags": {"keyring.*": true}}),
        )
        .await?;
    nobody.assert_status(404);
    Ok(())
}

#[tokio::test]
async fn groups_and_apps_are_created_read_and_validated() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("ops").await?;
    assert_eq!(
        s.get(&format!("/v1/groups/{group}"), &s.owner_key)
            .await?
            .str("name"),
        "ops"
    );
    assert_eq!(
        s.get("/v1/groups", &s.owner_key)
            .await?
            .body
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let duplicate = s.owner_post("/v1/groups", json!({"name": "ops"})).await?;
    duplicate.assert_error(409, "conflict");
    let app = s
        .owner_post("/v1/apps", json!({"name": "svc", "groups": [group]}))
        .await?;
    app.assert_status(201);
    assert_eq!(
        s.get(&format!("/v1/apps/{}", app.str("id")), &s.owner_key)
            .await?
            .body["groups"],
        json!([group])
    );
    assert_eq!(
        s.get("/v1/apps", &s.owner_key)
            .await?
            .body
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let unknown_group = s
        .owner_post("/v1/apps", json!({"name": "svc2", "groups": ["grp_nope"]}))
        .await?;
    unknown_group.assert_status(404);
    assert_eq!(s.get("/v1/apps/app_nope", &s.owner_key).await?.status, 404);
    assert_eq!(
        s.get("/v1/groups/grp_nope", &s.owner_key).await?.status,
        404
    );
    let (_, app_key) = s
        .app_with_key("worker", &[&group], json!({"*.*.*.*": true}))
        .await?;
    let managed_by_app = s
        .post("/v1/groups", &app_key, json!({"name": "sneaky"}))
        .await?;
    assert_eq!(managed_by_app.status, 403, "apps never manage groups");
    Ok(())
}
