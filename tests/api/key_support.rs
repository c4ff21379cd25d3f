//! What the asymmetric-key tests share: a group with an app allowed every key operation,
//! key creation shorthands, and the OpenSSL runner the outside checks go through. It is
//! its own module because signing, certificate and lifecycle tests live in separate files.

use crate::support::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A group and an app allowed every key operation and the objects view.
pub async fn setup(s: &TestServer, name: &str) -> anyhow::Result<(String, String)> {
    let group = s.group(&format!("g-{name}")).await?;
    let (_, key) = s
        .app_with_key(
            &format!("a-{name}"),
            &[&group],
            json!({"key.*.*.*": true, "object.read": true}),
        )
        .await?;
    Ok((group, key))
}

pub async fn create(s: &TestServer, key: &str, body: Value) -> anyhow::Result<Reply> {
    let reply = s.post("/v1/keys", key, body).await?;
    anyhow::ensure!(
        reply.status == 201,
        "key create: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply)
}

/// Generates the key `name` of `algorithm` in `group`.
pub async fn generate(
    s: &TestServer,
    key: &str,
    group: &str,
    name: &str,
    algorithm: &str,
) -> anyhow::Result<Reply> {
    let body = json!({"name": name, "group": group, "algorithm": algorithm});
    create(s, key, body).await
}

pub async fn public_pem(s: &TestServer, key: &str, name: &str) -> anyhow::Result<(String, Value)> {
    let reply = s.get(&format!("/v1/keys/{name}/public"), key).await?;
    anyhow::ensure!(reply.status == 200, "public: {}", reply.body);
    Ok((reply.str("pem"), reply.body["jwk"].clone()))
}

pub fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// Runs a command and fails the test with its output unless it succeeds.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("{program} is needed for this test: {e}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// OpenSSL's verdict on a signature over `message` by the PEM public key.
pub fn openssl_verifies(
    dir: &Path,
    scheme: &str,
    pem: &str,
    message: &[u8],
    sig: &[u8],
) -> anyhow::Result<()> {
    let pub_path = write(dir, "pub.pem", pem)?;
    let msg = write(dir, "msg.bin", message)?;
    let sig_path = write(dir, "sig.bin", sig)?;
    let (p, m, g) = (path_str(&pub_path), path_str(&msg), path_str(&sig_path));
    if scheme == "ed25519" {
        run(
            "openssl",
            &[
                "pkeyutl", "-verify", "-pubin", "-inkey", p, "-rawin", "-in", m, "-sigfile", g,
            ],
        )?;
        return Ok(());
    }
    let hash = format!("-{}", &scheme[scheme.len() - 6..]);
    let mut args = vec!["dgst", hash.as_str()];
    if scheme.starts_with("rsa-pss-") {
        args.extend([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]);
    }
    args.extend(["-verify", p, "-signature", g, m]);
    let out = run("openssl", &args)?;
    anyhow::ensure!(out.contains("Verified OK"), "openssl said: {out}");
    Ok(())
}

/// Encrypts `msg` for the PEM public key with OpenSSL: RSA-OAEP, SHA-256, MGF1-SHA-256.
pub fn openssl_oaep_encrypt(public: &Path, msg: &Path, out: &Path) -> anyhow::Result<()> {
    let args = [
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        path_str(public),
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
        "-in",
        path_str(msg),
        "-out",
        path_str(out),
    ];
    run("openssl", &args).map(drop)
}
