//! Encrypt and decrypt calls with a context, which every keyring test file makes (the
//! `TestServer::encrypt` shorthand sends no context).

use crate::support::*;
use serde_json::json;

/// `POST /v1/keyrings/<ring>/encrypt` of `plaintext` under `context`, as `key`.
pub async fn encrypt(
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

/// `POST /v1/keyrings/<ring>/decrypt` of `ciphertext` under `context`, as `key`.
pub async fn decrypt(
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
