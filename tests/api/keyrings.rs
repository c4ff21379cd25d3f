//! Keyring routes end to end over HTTPS, on SoftHSM and SQLite.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn encrypt(
    s: &TestServer,
    key: &str,
    ring: &str,
    plaintext: &[u8],
    context: serde_json::Value,
) -> anyhow::Result<Reply> {
    s.post(
        &format!("/v1/keyrings/{ring}/encrypt"),
        key,
        json!({"plaintext": b64(plaintext), "context": context}),
    )
    .await
}

async fn decrypt(
    s: &TestServer,
    key: &str,
    ring: &str,
    ciphertext: &str,
    context: serde_json::Value,
) -> anyhow::Result<Reply> {
    s.post(
        &format!("/v1/keyrings/{ring}/decrypt"),
        key,
        json!({"ciphertext": ciphertext, "context": context}),
    )
    .await
}

#[tokio::test]
async fn every_keyring_route_works_for_both_protection_levels() -> TestResult {
    let s = TestServer::start().await?;
    for protection in ["envelope", "hsm"] {
        let ring = format!("r-{protection}");
        let key = s.ready_keyring(&ring, protection).await?;

        let shown = s.get(&format!("/v1/keyrings/{ring}"), &key).await?;
        assert_eq!(
            (shown.status, shown.str("protection")),
            (200, protection.to_owned())
        );
        let listed = s.get("/v1/keyrings", &key).await?;
        listed.assert_status(200);
        assert!(
            listed
                .body
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == ring.as_str())
        );

        let ctx = json!({"tenant": "acme", "purpose": "test"});
        let sealed = encrypt(&s, &key, &ring, b"attack at dawn", ctx.clone()).await?;
        sealed.assert_status(200);
        assert!(sealed.str("ciphertext").starts_with("coffer:v1:"));
        let opened = decrypt(&s, &key, &ring, &sealed.str("ciphertext"), ctx.clone()).await?;
        opened.assert_status(200);
        assert_eq!(unb64(&opened.str("plaintext")), b"attack at dawn");
        assert_eq!(opened.body["key_version"], 1);

        let wrong_context = decrypt(
            &s,
            &key,
            &ring,
            &sealed.str("ciphertext"),
            json!({"tenant": "evil"}),
        )
        .await?;
        wrong_context.assert_error(422, "decrypt_failed");

        let data_key = s
            .post(
                &format!("/v1/keyrings/{ring}/datakey"),
                &key,
                json!({"bytes": 32}),
            )
            .await?;
        data_key.assert_status(200);
        assert_eq!(unb64(&data_key.str("plaintext")).len(), 32);
        let unwrapped = decrypt(&s, &key, &ring, &data_key.str("ciphertext"), json!({})).await?;
        assert_eq!(unwrapped.str("plaintext"), data_key.str("plaintext"));

        let rotated = s
            .post(&format!("/v1/keyrings/{ring}/rotate"), &key, json!({}))
            .await?;
        assert_eq!(
            (rotated.status, rotated.body["current_version"].as_u64()),
            (200, Some(2))
        );
        let rewrapped = s
            .post(
                &format!("/v1/keyrings/{ring}/rewrap"),
                &key,
                json!({"ciphertext": sealed.str("ciphertext"), "context": ctx}),
            )
            .await?;
        assert_eq!(
            (rewrapped.status, rewrapped.body["key_version"].as_u64()),
            (200, Some(2))
        );
        let reopened = decrypt(&s, &key, &ring, &rewrapped.str("ciphertext"), ctx.clone()).await?;
        assert_eq!(unb64(&reopened.str("plaintext")), b"attack at dawn");

        let config = s.get(&format!("/v1/keyrings/{ring}/config"), &key).await?;
        assert_eq!(
            (config.status, config.body["enabled"].as_bool()),
            (200, Some(true))
        );
        let changed = s
            .patch(
                &format!("/v1/keyrings/{ring}/config"),
                &key,
                json!({"cache_ttl_seconds": 60, "rotation_period_days": 90}),
            )
            .await?;
        assert_eq!(
            (changed.status, changed.body["cache_ttl_seconds"].as_u64()),
            (200, Some(60))
        );
        assert_eq!(changed.body["rotation_period_days"], 90);

        let keys = s.get(&format!("/v1/keyrings/{ring}/keys"), &key).await?;
        keys.assert_status(200);
        let versions = keys.body.as_array().unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(
            (versions[0]["state"].as_str(), versions[1]["state"].as_str()),
            (Some("active"), Some("current"))
        );
        assert_eq!(versions[0]["fingerprint"].as_str().map(str::len), Some(16));
        assert!(
            versions[0]["encrypt_count"].as_u64() >= Some(2),
            "{}",
            keys.body
        );

        // The key reference sits right after the format byte of every ciphertext.
        let raw = unb64(sealed.str("ciphertext").rsplit(':').next().unwrap());
        let hash = hex::encode(&raw[1..17]);
        let found = s
            .get(&format!("/v1/keyrings/{ring}/hash/{hash}"), &key)
            .await?;
        assert_eq!(
            (
                found.status,
                found.body["version"].as_u64(),
                found.str("keyring")
            ),
            (200, Some(1), ring.clone())
        );

        let deleted = s.delete(&format!("/v1/keyrings/{ring}"), &key).await?;
        deleted.assert_status(204);
        let gone = decrypt(&s, &key, &ring, &sealed.str("ciphertext"), ctx.clone()).await?;
        gone.assert_error(404, "not_found");
        let restored = s
            .post(&format!("/v1/keyrings/{ring}/restore"), &key, json!({}))
            .await?;
        assert_eq!(
            (restored.status, restored.body["current_version"].as_u64()),
            (200, Some(2)),
            "{}",
            restored.body
        );
        let back = decrypt(&s, &key, &ring, &sealed.str("ciphertext"), ctx).await?;
        assert_eq!(
            back.status, 200,
            "a restored keyring decrypts its old ciphertexts"
        );
        let again = s
            .post(&format!("/v1/keyrings/{ring}/restore"), &key, json!({}))
            .await?;
        again.assert_error_because(404, "not_found", "nothing left in the trash");
    }
    Ok(())
}

/// Each keyring route with an app key that holds exactly its flag, then with a key that
/// holds everything but that flag (a `false` entry beats the `true` one).
#[tokio::test]
async fn each_keyring_route_is_allowed_by_its_flag_and_denied_without_it() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("flags").await?;
    s.keyring("pay", &group, json!({})).await?;
    let (app, full) = s
        .app_with_key("flagged", &[&group], json!({"keyring.*.*.*": true}))
        .await?;
    let sealed = encrypt(&s, &full, "pay", b"x", json!({}))
        .await?
        .str("ciphertext");
    let hash = hex::encode(&unb64(sealed.rsplit(':').next().unwrap())[1..17]);

    let table: Vec<(&str, String, Option<serde_json::Value>, Vec<&str>)> = vec![
        ("GET", "/v1/keyrings".into(), None, vec!["keyring.read"]),
        (
            "GET",
            "/v1/keyrings/pay".into(),
            None,
            vec!["keyring.pay.read"],
        ),
        (
            "POST",
            "/v1/keyrings/pay/encrypt".into(),
            Some(json!({"plaintext": "eA=="})),
            vec!["keyring.pay.encrypt"],
        ),
        (
            "POST",
            "/v1/keyrings/pay/decrypt".into(),
            Some(json!({"ciphertext": sealed})),
            vec!["keyring.pay.decrypt"],
        ),
        (
            "POST",
            "/v1/keyrings/pay/rewrap".into(),
            Some(json!({"ciphertext": sealed})),
            vec!["keyring.pay.encrypt", "keyring.pay.decrypt"],
        ),
        (
            "POST",
            "/v1/keyrings/pay/datakey".into(),
            Some(json!({})),
            vec!["keyring.pay.encrypt"],
        ),
        (
            "GET",
            "/v1/keyrings/pay/config".into(),
            None,
            vec!["keyring.pay.config.read"],
        ),
        (
            "PATCH",
            "/v1/keyrings/pay/config".into(),
            Some(json!({"enabled": true})),
            vec!["keyring.pay.config.write"],
        ),
        (
            "GET",
            "/v1/keyrings/pay/keys".into(),
            None,
            vec!["keyring.pay.keys.read"],
        ),
        (
            "GET",
            format!("/v1/keyrings/pay/hash/{hash}"),
            None,
            vec!["keyring.pay.hash.read"],
        ),
        (
            "POST",
            "/v1/keyrings/pay/rotate".into(),
            Some(json!({})),
            vec!["keyring.pay.rotate"],
        ),
        (
            "POST",
            "/v1/keyrings".into(),
            Some(json!({"name": "made-by-app", "group": group})),
            vec!["keyring.create"],
        ),
        (
            "DELETE",
            "/v1/keyrings/made-by-app".into(),
            None,
            vec!["keyring.made-by-app.delete"],
        ),
        (
            "POST",
            "/v1/keyrings/made-by-app/restore".into(),
            Some(json!({})),
            vec!["keyring.made-by-app.restore"],
        ),
    ];
    for (method, path, body, flags) in table {
        let method: Method = method.parse()?;
        let only: serde_json::Map<_, _> =
            flags.iter().map(|f| (f.to_string(), json!(true))).collect();
        let allowed = s.api_key(&app, serde_json::Value::Object(only)).await?;
        let reply = s
            .call(method.clone(), &path, Some(&allowed), body.clone())
            .await?;
        assert!(
            (200..300).contains(&reply.status),
            "{method} {path} with {flags:?}: {} {}",
            reply.status,
            reply.body
        );

        let mut denied: serde_json::Map<_, _> = flags
            .iter()
            .map(|f| (f.to_string(), json!(false)))
            .collect();
        denied.insert("*.*.*.*".into(), json!(true));
        let denied = s.api_key(&app, serde_json::Value::Object(denied)).await?;
        let reply = s.call(method.clone(), &path, Some(&denied), body).await?;
        reply.assert_error_because(
            403,
            "forbidden",
            format!("{method} {path} without {flags:?}"),
        );
    }
    Ok(())
}

#[tokio::test]
async fn users_never_encrypt_and_apps_see_only_their_groups() -> TestResult {
    let s = TestServer::start().await?;
    let key = s.ready_keyring("mine", "envelope").await?;
    let other_group = s.group("other").await?;
    s.keyring("theirs", &other_group, json!({})).await?;

    let by_owner = encrypt(&s, &s.owner_key, "mine", b"x", json!({})).await?;
    by_owner.assert_error(403, "forbidden");
    let outside = encrypt(&s, &key, "theirs", b"x", json!({})).await?;
    let missing = encrypt(&s, &key, "no-such-ring", b"x", json!({})).await?;
    outside.assert_error(404, "not_found");
    assert_eq!(
        outside.body["error"]["message"]
            .as_str()
            .map(|m| m.replace("theirs", "R")),
        missing.body["error"]["message"]
            .as_str()
            .map(|m| m.replace("no-such-ring", "R"))
    );
    let listed = s.get("/v1/keyrings", &key).await?;
    assert!(
        listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] != "theirs")
    );
    Ok(())
}

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
async fn bad_input_gets_the_contract_status_and_changes_nothing() -> TestResult {
    let s = TestServer::start().await?;
    let key = s.ready_keyring("strict", "envelope").await?;
    let other = s.ready_keyring("elsewhere", "envelope").await?;
    let foreign = encrypt(&s, &other, "elsewhere", b"x", json!({}))
        .await?
        .str("ciphertext");
    let good = encrypt(&s, &key, "strict", b"payload", json!({"a": "b"}))
        .await?
        .str("ciphertext");
    let (prefix, body) = good.rsplit_once(':').unwrap();
    let mut raw = unb64(body);
    let truncated = format!("{prefix}:{}", b64(&raw[..raw.len() - 5]));
    let relabelled = good.replacen("coffer:v1:", "coffer:v2:", 1);
    let last = raw.len() - 1;
    raw[last] ^= 1;
    let tampered = format!("{prefix}:{}", b64(&raw));
    let url = |p: &str| format!("{}{p}", s.url);

    let post =
        |path: &str, key: &str, body: Value| s.client.post(url(path)).bearer_auth(key).json(&body);
    let encrypt = |body: Value| post("/v1/keyrings/strict/encrypt", &key, body);
    let decrypt = |body: Value| post("/v1/keyrings/strict/decrypt", &key, body);

    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "malformed JSON",
            s.client
                .post(url("/v1/keyrings/strict/encrypt"))
                .bearer_auth(&key)
                .body("{nope"),
            400,
            "invalid_input",
        ),
        (
            "bad base64",
            encrypt(json!({"plaintext": "***"})),
            400,
            "invalid_input",
        ),
        (
            "wrong type",
            encrypt(json!({"plaintext": 7})),
            400,
            "invalid_input",
        ),
        (
            "context not string map",
            encrypt(json!({"plaintext": "eA==", "context": {"a": 1}})),
            400,
            "invalid_input",
        ),
        (
            "unknown field",
            encrypt(json!({"plaintext": "eA==", "contxt": {}})),
            400,
            "invalid_input",
        ),
        (
            "oversized body",
            encrypt(json!({"plaintext": b64(&vec![0u8; 1 << 20])})),
            413,
            "payload_too_large",
        ),
        (
            "unknown keyring",
            post(
                "/v1/keyrings/nope/encrypt",
                &key,
                json!({"plaintext": "eA=="}),
            ),
            404,
            "not_found",
        ),
        (
            "name breaking the rules",
            post(
                "/v1/keyrings",
                &s.owner_key,
                json!({"name": "bad name!", "group": "grp_x"}),
            ),
            400,
            "invalid_input",
        ),
        (
            "truncated ciphertext",
            decrypt(json!({"ciphertext": truncated, "context": {"a": "b"}})),
            422,
            "decrypt_failed",
        ),
        (
            "re-labelled version",
            decrypt(json!({"ciphertext": relabelled, "context": {"a": "b"}})),
            422,
            "decrypt_failed",
        ),
        (
            "tampered byte",
            decrypt(json!({"ciphertext": tampered, "context": {"a": "b"}})),
            422,
            "decrypt_failed",
        ),
        (
            "another keyring's ciphertext",
            decrypt(json!({"ciphertext": foreign})),
            422,
            "decrypt_failed",
        ),
        (
            "not a ciphertext",
            decrypt(json!({"ciphertext": "hello"})),
            422,
            "decrypt_failed",
        ),
        (
            "datakey size",
            post("/v1/keyrings/strict/datakey", &key, json!({"bytes": 4096})),
            400,
            "invalid_input",
        ),
        (
            "bad protection",
            post(
                "/v1/keyrings",
                &s.owner_key,
                json!({"name": "p", "group": "g", "protection": "paper"}),
            ),
            400,
            "invalid_input",
        ),
        (
            "bad hash",
            s.client
                .get(url("/v1/keyrings/strict/hash/xyz"))
                .bearer_auth(&key),
            400,
            "invalid_input",
        ),
        (
            "no credential",
            s.client.get(url("/v1/keyrings")),
            401,
            "unauthenticated",
        ),
        (
            "garbage credential",
            s.client.get(url("/v1/keyrings")).bearer_auth("ck_nope"),
            401,
            "unauthenticated",
        ),
        (
            "unknown route",
            s.client.get(url("/v1/nothing-here")).bearer_auth(&key),
            404,
            "not_found",
        ),
    ];
    for (what, request, status, code) in cases {
        let response = request.send().await?;
        let got = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        assert_eq!(
            (got, body["error"]["code"].as_str().unwrap_or_default()),
            (status, code),
            "{what}: {body}"
        );
        assert!(
            body["error"]["request_id"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{what}: {body}"
        );
    }
    let keys = s.get("/v1/keyrings/strict/keys", &key).await?;
    assert_eq!(keys.array_len(), Some(1), "no version was added");
    let rings = s.get("/v1/keyrings", &s.owner_key).await?;
    assert_eq!(rings.array_len(), Some(2), "no keyring was created");
    Ok(())
}

#[tokio::test]
async fn unauthenticated_answers_are_identical_whatever_failed() -> TestResult {
    let s = TestServer::start().await?;
    let key = s.ready_keyring("same", "envelope").await?;
    let (head, _) = key.rsplit_once('_').unwrap();
    let wrong_secret = format!("{head}_{}", "0".repeat(64));
    let unknown_id = format!("ck_ak_{}_{}", "0".repeat(24), "0".repeat(64));
    let mut bodies = Vec::new();
    for credential in [
        None,
        Some("garbage"),
        Some(wrong_secret.as_str()),
        Some(unknown_id.as_str()),
    ] {
        let reply = s
            .call(Method::GET, "/v1/keyrings", credential, None)
            .await?;
        reply.assert_status(401);
        assert_eq!(
            reply
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        let mut body = reply.body.clone();
        body["error"]["request_id"] = json!("");
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
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
