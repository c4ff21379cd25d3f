//! The floor: what this machine serves for Coffer's hot path when nothing but the work
//! itself is done. Bare axum + rustls (the same crates, versions and TLS settings as
//! Coffer's listener) + ring AES-256-GCM of the request's plaintext under one key held in
//! memory: no authentication, no audit, no HSM, no database.
//!
//!   cargo run --release --example floor -- 127.0.0.1:PORT
//!
//! `POST /encrypt {"plaintext": base64}` answers `{"ciphertext": base64(nonce || sealed)}`;
//! `POST /decrypt {"ciphertext": ...}` answers `{"plaintext": ...}`. `bench/compare.sh`
//! loads it with the same wrk scripts and bodies as Coffer and OpenBao.

use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use axum_server::tls_rustls::RustlsConfig;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

static KEY: LazyLock<LessSafeKey> = LazyLock::new(|| {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("random key");
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &bytes).expect("256-bit key"))
});

#[derive(Deserialize)]
struct Plaintext {
    plaintext: String,
}

#[derive(Deserialize, Serialize)]
struct Ciphertext {
    ciphertext: String,
}

#[derive(Serialize)]
struct Opened {
    plaintext: String,
}

async fn encrypt(Json(body): Json<Plaintext>) -> Result<Json<Ciphertext>, StatusCode> {
    let mut sealed = B64
        .decode(body.plaintext)
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    KEY.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::empty(),
        &mut sealed,
    )
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let mut framed = nonce.to_vec();
    framed.extend_from_slice(&sealed);
    Ok(Json(Ciphertext {
        ciphertext: B64.encode(framed),
    }))
}

async fn decrypt(Json(body): Json<Ciphertext>) -> Result<Json<Opened>, StatusCode> {
    let framed = B64
        .decode(body.ciphertext)
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    if framed.len() < NONCE_LEN {
        return Err(StatusCode::BAD_REQUEST);
    }
    let (nonce, sealed) = framed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| StatusCode::BAD_REQUEST)?;
    let mut sealed = sealed.to_vec();
    let plaintext = KEY
        .open_in_place(nonce, Aad::empty(), &mut sealed)
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    Ok(Json(Opened {
        plaintext: B64.encode(plaintext),
    }))
}

/// A self-signed certificate for 127.0.0.1 and a server config like Coffer's: ring
/// provider, safe default protocol versions, h2 and http/1.1 offered.
fn tls_config() -> Result<RustlsConfig, Box<dyn std::error::Error>> {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(address) = std::env::args().nth(1) else {
        return Err("usage: floor 127.0.0.1:PORT".into());
    };
    let address: SocketAddr = address.parse()?;
    LazyLock::force(&KEY);
    let router = axum::Router::new()
        .route("/encrypt", post(encrypt))
        .route("/decrypt", post(decrypt));
    axum_server::bind_rustls(address, tls_config()?)
        .serve(router.into_make_service())
        .await?;
    Ok(())
}
