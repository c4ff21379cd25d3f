//! Keyrings and keys marked canary: their first use by an app answers as usual and freezes
//! the group, which then refuses decrypts until an owner unfreezes it.

use crate::support::{Reply, TestResult, TestServer};
use serde_json::{Value, json};

/// The group's `frozen_at`, as the owner reads it.
async fn frozen_at(s: &TestServer, group: &str) -> anyhow::Result<Value> {
    Ok(s.get(&format!("/v1/groups/{group}"), &s.owner_key)
        .await?
        .body["frozen_at"]
        .clone())
}

/// The critical `group.freeze` events of the trail.
async fn freeze_events(s: &TestServer) -> anyhow::Result<Vec<Value>> {
    let feed = s
        .get("/v1/activity?action=group.freeze", &s.owner_key)
        .await?;
    Ok(feed.body["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["severity"] == "critical")
        .collect())
}

fn assert_frozen_refusal(reply: &Reply) {
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.code(), "group_frozen", "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_keyring_answers_then_freezes_its_group() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = s.keyring_app("G", "worker").await?;
    let created = s.keyring("bait", &group, json!({"canary": true})).await?;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["canary"], true);
    s.keyring("real", &group, json!({})).await?;
    let sealed = s.encrypt("real", &key, "aGk=").await?;
    assert_eq!(sealed.status, 200, "{}", sealed.body);
    assert!(frozen_at(&s, &group).await?.is_null(), "not frozen before");

    let bait = s.encrypt("bait", &key, "aGk=").await?;
    assert_eq!(
        bait.status, 200,
        "the canary answers as usual: {}",
        bait.body
    );

    assert!(frozen_at(&s, &group).await?.is_string(), "frozen after");
    let events = freeze_events(&s).await?;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("keyring/bait")),
        "{events:?}"
    );
    let decrypt = s
        .post(
            "/v1/keyrings/real/decrypt",
            &key,
            json!({"ciphertext": sealed.str("ciphertext")}),
        )
        .await?;
    assert_frozen_refusal(&decrypt);

    let unfrozen = s
        .owner_post(&format!("/v1/groups/{group}/unfreeze"), json!({}))
        .await?;
    assert_eq!(unfrozen.status, 200, "{}", unfrozen.body);
    assert!(unfrozen.body["frozen_at"].is_null());
    let decrypt = s
        .post(
            "/v1/keyrings/real/decrypt",
            &key,
            json!({"ciphertext": sealed.str("ciphertext")}),
        )
        .await?;
    assert_eq!(decrypt.status, 200, "{}", decrypt.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_key_signs_then_freezes_its_group_and_users_do_not_trip_it() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("G").await?;
    let (_, key) = s
        .app_with_key("signer", &[&group], json!({"*.*.*.*": true}))
        .await?;
    let created = s
        .owner_post(
            "/v1/keys",
            json!({"name": "bait", "group": group, "algorithm": "ec-p256", "canary": true}),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.body);
    // The owner reads it (management, not use): nothing trips.
    let read = s.get("/v1/keys/bait", &s.owner_key).await?;
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(frozen_at(&s, &group).await?.is_null());

    let signed = s
        .post("/v1/keys/bait/sign", &key, json!({"message": "aGk="}))
        .await?;
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert!(frozen_at(&s, &group).await?.is_string());
    assert_eq!(freeze_events(&s).await?.len(), 1);

    // A public key cannot be a canary: it only verifies, and anyone may hold it.
    let pem = s
        .get("/v1/keys/bait/public", &s.owner_key)
        .await?
        .str("pem");
    let import = |canary: bool| {
        let mut body = json!({"name": "pub", "group": group, "public_key": pem});
        if canary {
            body["canary"] = json!(true);
        }
        s.owner_post("/v1/keys", body)
    };
    let refused = import(true).await?;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.to_string().contains("canary"),
        "{}",
        refused.body
    );
    assert_eq!(
        import(false).await?.status,
        201,
        "the same import without canary works"
    );
    Ok(())
}
