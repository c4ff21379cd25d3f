//! A keyring over time: rotation and retirement of versions (by hand, on a schedule and by
//! count), disabling, the key cache's lifetime and restoring from the trash.

use crate::keyring_support::*;
use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn rotation_keeps_old_ciphertexts_decrypting_until_retired() -> TestResult {
    let s = TestServer::start().await?;
    let key = s.ready_keyring("rot", "envelope").await?;
    let v1 = encrypt(&s, &key, "rot", b"old", json!({}))
        .await?
        .str("ciphertext");
    s.post("/v1/keyrings/rot/rotate", &key, json!({})).await?;
    let v2 = encrypt(&s, &key, "rot", b"new", json!({})).await?;
    assert_eq!(v2.body["key_version"], 2);
    assert_eq!(decrypt(&s, &key, "rot", &v1, json!({})).await?.status, 200);

    let retire = s
        .patch(
            "/v1/keyrings/rot/config",
            &key,
            json!({"min_decryption_version": 2}),
        )
        .await?;
    retire.assert_status(200);
    let refused = decrypt(&s, &key, "rot", &v1, json!({})).await?;
    refused.assert_error(409, "version_retired");
    assert_eq!(
        decrypt(&s, &key, "rot", &v2.str("ciphertext"), json!({}))
            .await?
            .status,
        200
    );
    let keys = s.get("/v1/keyrings/rot/keys", &key).await?;
    assert_eq!(keys.body[0]["state"], "retired");

    let beyond = s
        .patch(
            "/v1/keyrings/rot/config",
            &key,
            json!({"min_decryption_version": 3}),
        )
        .await?;
    beyond.assert_error(400, "invalid_input");
    // Un-retiring is allowed: retirement is a policy, the key version still exists.
    assert_eq!(
        s.patch(
            "/v1/keyrings/rot/config",
            &key,
            json!({"min_decryption_version": 1})
        )
        .await?
        .status,
        200
    );
    assert_eq!(decrypt(&s, &key, "rot", &v1, json!({})).await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn a_disabled_keyring_refuses_crypto_with_key_disabled() -> TestResult {
    let s = TestServer::start().await?;
    let key = s.ready_keyring("off", "hsm").await?;
    let sealed = encrypt(&s, &key, "off", b"x", json!({}))
        .await?
        .str("ciphertext");
    s.patch("/v1/keyrings/off/config", &key, json!({"enabled": false}))
        .await?;
    let refused = encrypt(&s, &key, "off", b"x", json!({})).await?;
    refused.assert_error(409, "key_disabled");
    assert_eq!(
        decrypt(&s, &key, "off", &sealed, json!({})).await?.code(),
        "key_disabled"
    );
    s.patch("/v1/keyrings/off/config", &key, json!({"enabled": true}))
        .await?;
    assert_eq!(
        decrypt(&s, &key, "off", &sealed, json!({})).await?.status,
        200
    );
    Ok(())
}

#[tokio::test]
async fn the_key_cache_lifetime_bounds_hsm_unwraps_and_zero_unwraps_every_request() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = s.keyring_app("cache", "cacher").await?;
    s.keyring("cached", &group, json!({})).await?;
    s.keyring("uncached", &group, json!({"cache_ttl_seconds": 0}))
        .await?;
    let unwraps = || {
        s.service()
            .hsm_unwraps
            .load(std::sync::atomic::Ordering::SeqCst)
    };

    let before = unwraps();
    for _ in 0..5 {
        assert_eq!(
            encrypt(&s, &key, "cached", b"x", json!({})).await?.status,
            200
        );
    }
    assert_eq!(unwraps() - before, 1, "one unwrap, then the cache serves");

    let before = unwraps();
    for _ in 0..5 {
        assert_eq!(
            encrypt(&s, &key, "uncached", b"x", json!({})).await?.status,
            200
        );
    }
    assert_eq!(
        unwraps() - before,
        5,
        "cache_ttl_seconds 0 unwraps through the HSM every time"
    );
    Ok(())
}

#[tokio::test]
async fn scheduled_and_count_based_rotation_happen_by_themselves() -> TestResult {
    let clock = std::sync::Arc::new(coffer::clock::ManualClock::starting_now());
    let shared = clock.clone();
    let s = TestServer::start_with(move |config| {
        config.clock = shared;
        config.maintenance_every = std::time::Duration::from_millis(100);
    })
    .await?;
    let (group, key) = s.keyring_app("auto", "auto").await?;
    s.keyring("daily", &group, json!({"rotation_period_days": 1}))
        .await?;
    s.keyring("counted", &group, json!({"max_encrypt_count": 3}))
        .await?;

    for _ in 0..3 {
        assert_eq!(
            encrypt(&s, &key, "counted", b"x", json!({})).await?.status,
            200
        );
    }
    clock.advance(std::time::Duration::from_secs(86_400 + 60));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let daily = s.get("/v1/keyrings/daily", &key).await?.body["current_version"].as_u64();
        let counted = s.get("/v1/keyrings/counted", &key).await?.body["current_version"].as_u64();
        if daily == Some(2) && counted == Some(2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no automatic rotation: daily {daily:?}, counted {counted:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let activity = s
        .get("/v1/activity?action=keyring.rotate.scheduled", &s.owner_key)
        .await?;
    assert_eq!(
        activity.body["events"].as_array().map(Vec::len),
        Some(2),
        "{}",
        activity.body
    );
    Ok(())
}

#[tokio::test]
async fn a_restore_refuses_when_a_live_keyring_took_the_name() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = s.keyring_app("trash", "trash").await?;
    s.keyring("reused", &group, json!({})).await?;
    let old = encrypt(&s, &key, "reused", b"first", json!({}))
        .await?
        .str("ciphertext");
    assert_eq!(s.delete("/v1/keyrings/reused", &key).await?.status, 204);
    s.keyring("reused", &group, json!({})).await?;
    let refused = s
        .post("/v1/keyrings/reused/restore", &key, json!({}))
        .await?;
    refused.assert_error(409, "conflict");
    let other = decrypt(&s, &key, "reused", &old, json!({})).await?;
    assert_eq!(
        other.code(),
        "decrypt_failed",
        "the new keyring cannot open the old one's ciphertexts"
    );
    assert_eq!(s.delete("/v1/keyrings/reused", &key).await?.status, 204);
    let restored = s
        .post("/v1/keyrings/reused/restore", &key, json!({}))
        .await?;
    restored.assert_status(200);
    assert_eq!(
        decrypt(&s, &key, "reused", &old, json!({})).await?.status,
        422,
        "the newest deletion comes back first"
    );
    Ok(())
}
