//! Keyring routes end to end over HTTPS, on SoftHSM and SQLite: every route for both
//! protection levels, each route's permission flag, and group scoping of apps and users.
//! Versions and state over time are in `keyring_lifecycle`, refusals in `keyring_errors`.

use crate::keyring_support::*;
use crate::support::*;
use reqwest::Method;
use serde_json::json;

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
        assert!(listed.column("name").contains(&ring.as_str()));

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
