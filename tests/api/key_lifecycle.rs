//! An asymmetric key's life after creation and the requests refused along the way: bad
//! input changes nothing, rotation keeps old versions verifying until they are retired,
//! versions that never existed are not found, and keys are scoped to their groups, trashed,
//! restored and listed as objects.

use crate::key_support::*;
use crate::support::*;
use serde_json::{Value, json};

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "bad").await?;
    generate(&s, &key, &group, "signer", "ec-p256").await?;
    generate(&s, &key, &group, "ed", "ed25519").await?;
    let (pem, _) = public_pem(&s, &key, "signer").await?;
    create(
        &s,
        &key,
        json!({"name": "verifier", "group": group, "public_key": pem}),
    )
    .await?;
    let rsa1024 = run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
        ],
    )?;
    let dir = tempfile::tempdir()?;
    let key_path = write(dir.path(), "k.pem", rsa1024)?;
    let rsa1024_pub = run("openssl", &["pkey", "-in", path_str(&key_path), "-pubout"])?;
    let before = s.get("/v1/objects", &key).await?.body;
    let digest32 = b64(&[7u8; 32]);

    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            "/v1/keys",
            "unsupported algorithm",
            json!({"name": "x", "group": group, "algorithm": "rsa-1024"}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "EC key asked to decrypt",
            json!({"name": "x", "group": group, "algorithm": "ec-p256", "usages": ["decrypt"]}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "unknown usage",
            json!({"name": "x", "group": group, "algorithm": "rsa-2048", "usages": ["wrap"]}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "no usage",
            json!({"name": "x", "group": group, "algorithm": "rsa-2048", "usages": []}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "both generate and import",
            json!({"name": "x", "group": group, "algorithm": "ec-p256", "public_key": pem}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "malformed PEM",
            json!({"name": "x", "group": group, "public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "RSA-1024 public key",
            json!({"name": "x", "group": group, "public_key": rsa1024_pub}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "bad name",
            json!({"name": "a b", "group": group, "algorithm": "ec-p256"}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "duplicate name",
            json!({"name": "signer", "group": group, "algorithm": "ec-p256"}),
            409,
            "conflict",
        ),
        (
            "/v1/keys",
            "unknown group",
            json!({"name": "x", "group": "grp_000000000000000000000000", "algorithm": "ec-p256"}),
            404,
            "not_found",
        ),
        (
            "/v1/keys/verifier/sign",
            "signing with a verify-only key",
            json!({"message": "eA=="}),
            409,
            "usage_not_allowed",
        ),
        (
            "/v1/keys/signer/decrypt",
            "decrypting with a sign-only key",
            json!({"ciphertext": "eA=="}),
            409,
            "usage_not_allowed",
        ),
        (
            "/v1/keys/signer/sign",
            "digest of the wrong length",
            json!({"digest": b64(&[0u8; 20])}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys/signer/sign",
            "P-256 with SHA-384",
            json!({"digest": digest32, "algorithm": "ecdsa-sha384"}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys/signer/sign",
            "unknown signature format",
            json!({"message": "eA==", "signature_format": "jose"}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys/signer/sign",
            "message and digest",
            json!({"message": "eA==", "digest": digest32}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys/signer/sign",
            "bad base64",
            json!({"message": "%%%"}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys/ed/sign",
            "Ed25519 with a digest",
            json!({"digest": b64(&[0u8; 64])}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys/verifier/rotate",
            "rotating an imported public key",
            json!({}),
            409,
            "usage_not_allowed",
        ),
        (
            "/v1/keys/nope/sign",
            "unknown key",
            json!({"message": "eA=="}),
            404,
            "not_found",
        ),
        (
            "/v1/keys/signer/csr",
            "empty common name",
            json!({"common_name": ""}),
            400,
            "invalid_input",
        ),
    ];
    for (path, what, body, status, code) in cases {
        let reply = s.post(path, &key, body).await?;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{what}: {}",
            reply.body
        );
        assert!(!reply.message().is_empty(), "{what}");
    }
    // A signature that does not verify is an answer, not an error.
    let wrong = s
        .post(
            "/v1/keys/verifier/verify",
            &key,
            json!({"message": "eA==", "signature": b64(&[1u8; 70])}),
        )
        .await?;
    assert_eq!(
        (wrong.status, wrong.body.clone()),
        (200, json!({"valid": false, "key_version": null}))
    );
    assert_eq!(
        s.get("/v1/objects", &key).await?.body,
        before,
        "nothing changed"
    );
    Ok(())
}

#[tokio::test]
async fn rotation_keeps_old_versions_verifying_until_they_are_retired() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "rotate").await?;
    generate(&s, &key, &group, "release", "ec-p256").await?;
    let msg = b64(b"release 1.0");
    let sign = |body: Value| s.post("/v1/keys/release/sign", &key, body);
    let old = sign(json!({"message": msg})).await?.str("signature");
    let rotated = s.post("/v1/keys/release/rotate", &key, json!({})).await?;
    assert_eq!(rotated.body["current_version"], 2, "{}", rotated.body);
    let new = sign(json!({"message": msg})).await?;
    assert_eq!(new.body["key_version"], 2);
    let verify = |sig: String| {
        s.post(
            "/v1/keys/release/verify",
            &key,
            json!({"message": msg, "signature": sig}),
        )
    };
    assert_eq!(
        verify(old.clone()).await?.body,
        json!({"valid": true, "key_version": 1})
    );
    assert_eq!(
        verify(new.str("signature")).await?.body,
        json!({"valid": true, "key_version": 2})
    );
    let v1 = s.get("/v1/keys/release/public?version=1", &key).await?;
    let v2 = s.get("/v1/keys/release/public", &key).await?;
    assert_eq!(
        (
            v1.body["key_version"].clone(),
            v2.body["key_version"].clone()
        ),
        (json!(1), json!(2))
    );
    assert_ne!(v1.str("pem"), v2.str("pem"));

    let retired = s
        .patch("/v1/keys/release", &key, json!({"min_version": 2}))
        .await?;
    assert_eq!(
        retired.body["versions"][0]["state"], "retired",
        "{}",
        retired.body
    );
    assert_eq!(verify(old.clone()).await?.body["valid"], false);
    let pinned = s
        .post(
            "/v1/keys/release/verify",
            &key,
            json!({"message": msg, "signature": old, "version": 1}),
        )
        .await?;
    pinned.assert_error(409, "version_retired");

    assert_eq!(
        s.patch("/v1/keys/release", &key, json!({"enabled": false}))
            .await?
            .status,
        200
    );
    let disabled = sign(json!({"message": msg})).await?;
    disabled.assert_error(409, "key_disabled");
    assert_eq!(
        s.patch("/v1/keys/release", &key, json!({"enabled": true}))
            .await?
            .status,
        200
    );
    assert_eq!(sign(json!({"message": msg})).await?.status, 200);
    let out_of_range = s
        .patch("/v1/keys/release", &key, json!({"min_version": 3}))
        .await?;
    out_of_range.assert_status(400);
    Ok(())
}

#[tokio::test]
async fn a_key_version_that_was_never_made_is_not_found_and_a_retired_one_is_a_conflict()
-> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "versions").await?;
    create(
        &s,
        &key,
        json!({"name": "k", "group": group, "algorithm": "rsa-2048", "usages": ["sign", "decrypt"]}),
    )
    .await?;
    let signature = s
        .post("/v1/keys/k/sign", &key, json!({"message": "eA=="}))
        .await?
        .str("signature");
    let missing = [
        s.get("/v1/keys/k/public?version=99", &key).await?,
        s.post(
            "/v1/keys/k/verify",
            &key,
            json!({"message": "eA==", "signature": signature, "version": 99}),
        )
        .await?,
        s.post(
            "/v1/keys/k/decrypt",
            &key,
            json!({"ciphertext": b64(&[1u8; 256]), "version": 99}),
        )
        .await?,
    ];
    for reply in &missing {
        reply.assert_error(404, "not_found");
        assert_eq!(
            reply.body["error"]["message"], "version 99 of key k not found",
            "the message names what is missing"
        );
    }
    // A version that exists but is retired is still a conflict, not a missing object.
    s.post("/v1/keys/k/rotate", &key, json!({})).await?;
    s.patch("/v1/keys/k", &key, json!({"min_version": 2}))
        .await?;
    let retired = s
        .post(
            "/v1/keys/k/verify",
            &key,
            json!({"message": "eA==", "signature": signature, "version": 1}),
        )
        .await?;
    retired.assert_error(409, "version_retired");
    assert_eq!(
        s.get("/v1/keys/k/public?version=1", &key).await?.status,
        200,
        "a retired version's public key stays readable"
    );
    Ok(())
}

#[tokio::test]
async fn keys_are_scoped_to_groups_trashed_restored_and_listed_as_objects() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "scope").await?;
    let (_, outsider) = setup(&s, "outsider").await?;
    generate(&s, &key, &group, "mine", "ed25519").await?;
    s.keyring("ring", &group, json!({})).await?;

    // Another group's app: the key does not exist for it.
    for path in ["/v1/keys/mine", "/v1/keys/mine/public"] {
        let hidden = s.get(path, &outsider).await?;
        hidden.assert_error_because(404, "not_found", path);
    }
    let hidden = s
        .post("/v1/keys/mine/sign", &outsider, json!({"message": "eA=="}))
        .await?;
    hidden.assert_status(404);
    assert_eq!(s.get("/v1/objects", &outsider).await?.body, json!([]));
    // Users manage but never sign.
    let user_sign = s
        .owner_post("/v1/keys/mine/sign", json!({"message": "eA=="}))
        .await?;
    user_sign.assert_error(403, "forbidden");
    // A key whose flags lack the operation.
    let (_, verify_only) = s
        .app_with_key("verify-only", &[&group], json!({"key.*.verify": true}))
        .await?;
    let denied = s
        .post(
            "/v1/keys/mine/sign",
            &verify_only,
            json!({"message": "eA=="}),
        )
        .await?;
    denied.assert_status(403);

    let objects = s.get("/v1/objects", &key).await?;
    let kinds = objects.column("type");
    assert_eq!(kinds, ["key_pair", "keyring"], "{}", objects.body);
    let only_keys = s
        .get(&format!("/v1/objects?type=key_pair&group={group}"), &key)
        .await?;
    assert_eq!(only_keys.body[0]["name"], "mine");
    assert_eq!(only_keys.array_len(), Some(1));
    assert_eq!(s.get("/v1/objects?type=secret", &key).await?.status, 400);

    let deleted = s.delete("/v1/keys/mine", &key).await?;
    deleted.assert_status(204);
    assert_eq!(s.get("/v1/keys/mine", &key).await?.status, 404);
    let restored = s.post("/v1/keys/mine/restore", &key, json!({})).await?;
    restored.assert_status(200);
    assert_eq!(
        s.post("/v1/keys/mine/sign", &key, json!({"message": "eA=="}))
            .await?
            .status,
        200
    );
    let listed = s.get("/v1/keys", &key).await?;
    assert_eq!(listed.body[0]["usages"], json!(["sign", "verify"]));
    Ok(())
}
