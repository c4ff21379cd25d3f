//! The test token seen from outside the service: what `pkcs11-tool` lists on it, so that
//! custody tests check the HSM objects with a tool Coffer does not control.

use crate::support::TestServer;
use std::process::Command;

/// What `pkcs11-tool --list-objects`, logged in to `s`'s token, prints: objects of `kind`
/// (`secrkey`, `privkey`, `pubkey`) or, with `None`, of every kind.
pub fn token_objects(s: &TestServer, kind: Option<&str>) -> anyhow::Result<String> {
    let token = &s.token;
    let mut command = Command::new("pkcs11-tool");
    command
        .env("SOFTHSM2_CONF", &token.conf)
        .arg("--module")
        .arg(&token.module)
        .args([
            "--token-label",
            &token.label,
            "--login",
            "--pin",
            &token.user_pin,
        ])
        .arg("--list-objects");
    if let Some(kind) = kind {
        command.args(["--type", kind]);
    }
    let output = command
        .output()
        .map_err(|e| anyhow::anyhow!("pkcs11-tool (package opensc) is needed: {e}"))?;
    anyhow::ensure!(
        output.status.success(),
        "pkcs11-tool failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
