//! The service as a user starts it and as the README describes it: the binary's dev mode and
//! production `init`, plain HTTP refused off loopback, the README's ciphertext vector checked
//! by Python `cryptography`, and the README's status paragraph.

use crate::support::*;

/// The README's test vector, decrypted by an independent implementation (Python
/// `cryptography`), with the AAD built as the README describes.
#[test]
fn the_readme_ciphertext_vector_decrypts_with_python_cryptography() -> TestResult {
    let script = r#"
import base64, hashlib, struct
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key = bytes(range(32))
ct = "coffer:v1:AXUuMub/Rd24ghFVpVUKDaURERERERERERERERHoBfjT1yBMwQ4ZQHAbGR5V7KQiUjDrjwDReQ21"
_, version, body = ct.split(":", 2)
raw = base64.b64decode(body)
header, sealed = raw[:29], raw[29:]
assert header[0] == 1
assert header[1:17] == hashlib.sha256(b"kr_00000000000000000000000000000000:1").digest()[:16]
context = {"tenant": "acme"}
aad = header + struct.pack(">I", len(context))
for k in sorted(context):
    for part in (k, context[k]):
        aad += struct.pack(">I", len(part.encode())) + part.encode()
print(AESGCM(key).decrypt(header[17:29], sealed, aad).decode())
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8(output.stdout)?.trim(), "hello coffer");
    Ok(())
}

#[tokio::test]
async fn plain_http_is_refused_on_a_non_loopback_address() -> TestResult {
    let token = softhsm_test::TestToken::new();
    let dir = tempfile::tempdir()?;
    let hsm = coffer::hsm::HsmSettings::new(
        token.module.clone(),
        token.label.clone(),
        secrecy::SecretString::from(token.user_pin.clone()),
    );
    let config = coffer::app::AppConfig::new(hsm, dir.path().join("c.db"), None);
    let listener = std::net::TcpListener::bind("0.0.0.0:0")?;
    let refused = coffer::app::start(config, listener).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("loopback"), "{message}");
    Ok(())
}

/// The README's first command, as a user runs it: the binary in dev mode, over TLS, twice.
#[tokio::test]
async fn serve_dev_bootstraps_once_and_reuses_everything_on_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["serve", "--dev", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
    };
    let bootstrap = dir.path().join("bootstrap.json");
    let mut child = start()?;
    let first = wait_for_health(&bootstrap, &mut child).await?;
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&bootstrap)?.permissions());
    assert_eq!(mode & 0o777, 0o600);
    let written = std::fs::read(&bootstrap)?;
    owner_sets_a_password_and_signs_in(&serde_json::from_slice(&written)?).await?;
    stop(&mut child)?;

    let mut child = start()?;
    let second = wait_for_health(&bootstrap, &mut child).await?;
    assert_eq!(
        std::fs::read(&bootstrap)?,
        written,
        "bootstrap.json is never rewritten"
    );
    assert_eq!(first, second, "the first key still works after a restart");
    stop(&mut child)?;
    assert!(
        dir.path().join("hsm/dev-token.json").exists()
            && dir.path().join("hsm/softhsm2.conf").exists()
    );
    Ok(())
}

/// The dev owner's email passes the server's own rule, and the setup token in
/// `bootstrap.json` sets a password they can sign in with.
async fn owner_sets_a_password_and_signs_in(bootstrap: &serde_json::Value) -> TestResult {
    let email = bootstrap["owner_email"].as_str().unwrap_or_default();
    assert!(
        coffer::service::normalize_email(email).is_ok(),
        "the dev owner's email {email:?} passes the server's own rule"
    );
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(
            bootstrap["ca_cert"].as_str().unwrap_or_default(),
        )?)?)
        .http1_only()
        .build()?;
    let url = bootstrap["url"].as_str().unwrap_or_default();
    let password = "correct horse battery";
    let set = client
        .post(format!("{url}/v1/auth/password-reset"))
        .json(&serde_json::json!({"token": bootstrap["setup_token"], "new_password": password}))
        .send()
        .await?;
    assert_eq!(set.status(), 204, "{}", set.text().await?);
    let login = client
        .post(format!("{url}/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password, "account": bootstrap["account_id"]}))
        .send()
        .await?;
    assert_eq!(login.status(), 201);
    Ok(())
}

/// Waits until the server in `child` answers, then lists keyrings with the bootstrap key.
async fn wait_for_health(
    bootstrap: &std::path::Path,
    child: &mut std::process::Child,
) -> anyhow::Result<u16> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        anyhow::ensure!(
            child.try_wait()?.is_none(),
            "coffer serve --dev exited early"
        );
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "coffer serve --dev did not come up"
        );
        if let Ok(text) = std::fs::read(bootstrap) {
            let file: serde_json::Value = serde_json::from_slice(&text)?;
            // HTTP/1.1: an idle HTTP/2 connection would hold graceful shutdown for its grace period.
            coffer::app::install_crypto_provider();
            let ca = std::fs::read(file["ca_cert"].as_str().unwrap_or_default())?;
            let client = reqwest::Client::builder()
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
                .http1_only()
                .build()?;
            let url = file["url"].as_str().unwrap_or_default();
            if let Ok(reply) = client
                .get(format!("{url}/v1/keyrings"))
                .bearer_auth(file["api_key"].as_str().unwrap_or_default())
                .send()
                .await
            {
                return Ok(reply.status().as_u16());
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn stop(child: &mut std::process::Child) -> anyhow::Result<()> {
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let status = child.wait()?;
    anyhow::ensure!(
        status.success(),
        "coffer did not stop cleanly on SIGTERM: {status}"
    );
    Ok(())
}

/// Production bootstrap through the binary: `hsm check`, then `init` once (and only once),
/// against a token found by label with the PIN from a file.
#[test]
fn init_bootstraps_once_against_a_configured_token() -> TestResult {
    let token = softhsm_test::TestToken::new();
    let dir = tempfile::tempdir()?;
    let pin = dir.path().join("pin");
    std::fs::write(&pin, format!("{}\n", token.user_pin))?;
    let coffer = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(args)
            .env("SOFTHSM2_CONF", &token.conf)
            .env("COFFER_HSM_MODULE", &token.module)
            .env("COFFER_HSM_TOKEN", &token.label)
            .env("COFFER_HSM_PIN_FILE", &pin)
            .env_remove("COFFER_HSM_PIN")
            .output()
    };
    let check = coffer(&["hsm", "check"])?;
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let database = dir.path().join("coffer.db");
    let database = database.to_str().unwrap_or_default();
    let init = [
        "init",
        "--database",
        database,
        "--owner-email",
        "ops@example.test",
    ];
    let first = coffer(&init)?;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&first.stdout)?;
    assert!(
        printed["api_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("ck_ak_")),
        "{printed}"
    );
    let again = coffer(&init)?;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("init runs once"));
    let wrong_pin = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["hsm", "check"])
        .env("SOFTHSM2_CONF", &token.conf)
        .env("COFFER_HSM_TOKEN", &token.label)
        .env("COFFER_HSM_PIN", "not-the-pin")
        .env_remove("COFFER_HSM_PIN_FILE")
        .output()?;
    assert!(!wrong_pin.status.success());
    let said = String::from_utf8_lossy(&wrong_pin.stderr);
    assert!(
        !said.contains("not-the-pin"),
        "the PIN never reaches an error message: {said}"
    );
    Ok(())
}

/// The README's "Status" paragraph says what exists today and what comes next; the areas
/// that are built and tested must not be listed among the next steps.
#[test]
fn the_readme_status_names_what_is_built_and_does_not_call_it_next() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let status = readme
        .split("\n\n")
        .find(|p| p.starts_with("Status:"))
        .expect("a paragraph starting with `Status:`")
        .replace('\n', " ");
    let (built, next) = status
        .split_once("Next:")
        .expect("the paragraph says what comes `Next:`");
    for area in [
        "keyrings",
        "identity",
        "asymmetric keys",
        "certificates",
        "machine",
        "hardening",
        "postgresql",
    ] {
        assert!(
            built.to_lowercase().contains(area),
            "the Status paragraph should say {area} exist: {status}"
        );
        assert!(
            !next.to_lowercase().contains(area),
            "{area} are built, yet the Status paragraph lists them as next: {status}"
        );
    }
    for planned in ["secrets", "governance"] {
        assert!(next.contains(planned), "{planned} is next: {status}");
    }
    assert!(
        !readme.contains("shared/"),
        "the README never points outside the repository (shared/)"
    );
}
