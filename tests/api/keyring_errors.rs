//! What keyring routes refuse: bad input gets the contract's status and changes nothing,
//! and unauthenticated answers are identical whatever failed.

use crate::keyring_support::*;
use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

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
