//! API keys, groups, apps, the OpenAPI document, the ciphertext format, and the binary.

use crate::support::*;
use serde_json::{Value, json};

#[tokio::test]
async fn api_keys_are_shown_once_disabled_at_once_and_only_ever_narrowed() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("keys").await?;
    let (app, key) = s
        .app_with_key("holder", &[&group], json!({"keyring.*.*": true}))
        .await?;
    s.keyring("k", &group, json!({})).await?;
    assert_eq!(s.encrypt("k", &key, "eA==").await?.status, 200);

    let listed = s.get("/v1/auth/apikey", &s.owner_key).await?;
    assert!(
        !listed
            .body
            .to_string()
            .contains(key.rsplit('_').next().unwrap()),
        "key text never listed"
    );
    let key_id = key
        .trim_start_matches("ck_")
        .rsplit_once('_')
        .unwrap()
        .0
        .to_owned();
    let key_path = format!("/v1/auth/apikey/{key_id}");
    let update = |body: Value| s.owner_patch(&key_path, body);
    let shown = s.get(&key_path, &s.owner_key).await?;
    assert_eq!((shown.status, shown.str("principal")), (200, app.clone()));
    assert!(shown.body["last_used_at"].is_string(), "{}", shown.body);

    let widen = update(json!({"flags": {"*.*.*.*": true}})).await?;
    widen.assert_error(400, "invalid_input");
    let narrow = update(json!({"flags": {"keyring.k.decrypt": true}})).await?;
    narrow.assert_status(200);
    let now_denied = s.encrypt("k", &key, "eA==").await?;
    assert_eq!(
        now_denied.status, 403,
        "narrowing takes effect on the next request"
    );

    let disabled = update(json!({"disabled": true})).await?;
    assert_eq!(
        (disabled.status, disabled.body["disabled"].as_bool()),
        (200, Some(true))
    );
    assert_eq!(
        s.get("/v1/keyrings", &key).await?.status,
        401,
        "disabling takes effect at once"
    );
    let revive = update(json!({"disabled": false})).await?;
    revive.assert_status(409);
    Ok(())
}

#[tokio::test]
async fn flags_that_match_nothing_or_cannot_apply_are_refused_by_name() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("f").await?;
    let (app, _) = s
        .app_with_key("f", &[&group], json!({"keyring.*": true}))
        .await?;
    let users = s.get("/v1/auth/apikey", &s.owner_key).await?;
    let owner = users.body[0]["principal"].as_str().unwrap().to_owned();
    for (principal, flags, needle) in [
        (
            app.as_str(),
            json!({"keyring.*.explode": true}),
            "keyring.*.explode",
        ),
        (app.as_str(), json!({"group.write": true}), "group.write"),
        (
            owner.as_str(),
            json!({"keyring.k.encrypt": true}),
            "keyring.k.encrypt",
        ),
        (app.as_str(), json!({}), "at least one"),
    ] {
        let reply = s
            .owner_post(
                "/v1/auth/apikey",
                json!({"principal": principal, "name": "x", "flags": flags}),
            )
            .await?;
        reply.assert_error_because(400, "invalid_input", flags);
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{}",
            reply.body
        );
    }
    let nobody = s
        .owner_post(
            "/v1/auth/apikey",
            json!({"principal": "app_000", "name": "x", "flags": {"keyring.*": true}}),
        )
        .await?;
    nobody.assert_status(404);
    Ok(())
}

#[tokio::test]
async fn groups_and_apps_are_created_read_and_validated() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("ops").await?;
    assert_eq!(
        s.get(&format!("/v1/groups/{group}"), &s.owner_key)
            .await?
            .str("name"),
        "ops"
    );
    assert_eq!(
        s.get("/v1/groups", &s.owner_key)
            .await?
            .body
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let duplicate = s.owner_post("/v1/groups", json!({"name": "ops"})).await?;
    duplicate.assert_error(409, "conflict");
    let app = s
        .owner_post("/v1/apps", json!({"name": "svc", "groups": [group]}))
        .await?;
    app.assert_status(201);
    assert_eq!(
        s.get(&format!("/v1/apps/{}", app.str("id")), &s.owner_key)
            .await?
            .body["groups"],
        json!([group])
    );
    assert_eq!(
        s.get("/v1/apps", &s.owner_key)
            .await?
            .body
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let unknown_group = s
        .owner_post("/v1/apps", json!({"name": "svc2", "groups": ["grp_nope"]}))
        .await?;
    unknown_group.assert_status(404);
    assert_eq!(s.get("/v1/apps/app_nope", &s.owner_key).await?.status, 404);
    assert_eq!(
        s.get("/v1/groups/grp_nope", &s.owner_key).await?.status,
        404
    );
    let (_, app_key) = s
        .app_with_key("worker", &[&group], json!({"*.*.*.*": true}))
        .await?;
    let managed_by_app = s
        .post("/v1/groups", &app_key, json!({"name": "sneaky"}))
        .await?;
    assert_eq!(managed_by_app.status, 403, "apps never manage groups");
    Ok(())
}

#[tokio::test]
async fn every_documented_route_exists_and_asks_for_a_credential() -> TestResult {
    let s = TestServer::start().await?;
    let doc = s
        .anonymous(reqwest::Method::GET, "/v1/openapi.json")
        .await?;
    assert_eq!(
        (doc.status, doc.body["openapi"].as_str()),
        (200, Some("3.1.0"))
    );
    let mut checked = 0;
    for route in coffer::catalogue::ALL {
        assert!(
            doc.body["paths"][route.path][route.method.as_str()].is_object(),
            "{} {} missing from the document",
            route.method,
            route.path
        );
        let path = route
            .path
            .replace("{ring}", "r")
            .replace("{id}", "x")
            .replace("{hash}", "00")
            .replace("{user}", "usr_x")
            .replace("{app}", "app_x")
            .replace("{certificate}", "acrt_x");
        let reply = s
            .call(
                route.method.as_str().to_uppercase().parse()?,
                &path,
                None,
                None,
            )
            .await?;
        // Routes without a flag: operations reads answer, credential-less posts (login,
        // password reset) want a body.
        let expected = match (route.flags.is_empty(), route.method.as_str()) {
            (false, _) => 401,
            (true, "get") => 200,
            (true, _) => 400,
        };
        assert_eq!(reply.status, expected, "{} {}", route.method, route.path);
        checked += 1;
    }
    assert_eq!(checked, coffer::catalogue::ALL.len());
    let metrics = s.metrics().await?;
    assert!(metrics.contains("coffer_http_requests_total"));
    let audited = metrics
        .lines()
        .find_map(|l| l.strip_prefix("coffer_audit_events_total "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        audited.is_some_and(|n| n > 0),
        "audit events are counted: {metrics}"
    );
    Ok(())
}

#[tokio::test]
async fn a_request_id_is_echoed_when_valid_and_made_up_otherwise() -> TestResult {
    let s = TestServer::start().await?;
    let echoed = s
        .client
        .get(format!("{}/v1/keyrings", s.url))
        .header("x-request-id", "trace-123")
        .send()
        .await?;
    assert_eq!(echoed.headers()["x-request-id"], "trace-123");
    let replaced = s
        .client
        .get(format!("{}/v1/keyrings", s.url))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await?;
    assert!(
        replaced.headers()["x-request-id"]
            .to_str()?
            .starts_with("req_")
    );
    Ok(())
}

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
    let first = coffer(&[
        "init",
        "--database",
        database,
        "--owner-email",
        "ops@example.test",
    ])?;
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
    let again = coffer(&[
        "init",
        "--database",
        database,
        "--owner-email",
        "ops@example.test",
    ])?;
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
    for planned in ["PostgreSQL", "secrets", "governance"] {
        assert!(next.contains(planned), "{planned} is next: {status}");
    }
    assert!(
        !readme.contains("shared/"),
        "the README never points outside the repository (shared/)"
    );
}

/// In a PATCH body `null` would read as "clear this field"; where a field cannot be cleared
/// it is refused with a 400 that names the field, and nothing changes. Where `null` does
/// clear (a keyring's rotation period and encryption cap) it is accepted.
#[tokio::test]
async fn an_explicit_null_is_refused_unless_it_clears_a_setting() -> TestResult {
    let s = TestServer::start().await?;
    let owner = &s.owner_key;
    let user = s
        .user("ops@example.test", "admin", "correct horse battery")
        .await?;
    let group = s.group("nulls").await?;
    let (app, app_key) = s
        .app_with_key("nuller", &[&group], json!({"*.*.*.*": true}))
        .await?;
    let key_id = s.get("/v1/auth/apikey", owner).await?.body[1]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    s.keyring("ring", &group, json!({"rotation_period_days": 30}))
        .await?;
    let created = s
        .post(
            "/v1/keys",
            &app_key,
            json!({"name": "k", "group": group, "algorithm": "ec-p256"}),
        )
        .await?;
    created.assert_status(201);
    let cases = [
        (format!("/v1/users/{user}"), owner.as_str(), "role"),
        (format!("/v1/users/{user}"), owner, "suspended"),
        (format!("/v1/apps/{app}"), owner, "name"),
        (format!("/v1/apps/{app}"), owner, "enabled"),
        (format!("/v1/auth/apikey/{key_id}"), owner, "disabled"),
        (format!("/v1/auth/apikey/{key_id}"), owner, "flags"),
        ("/v1/keyrings/ring/config".to_owned(), &app_key, "enabled"),
        (
            "/v1/keyrings/ring/config".to_owned(),
            &app_key,
            "min_decryption_version",
        ),
        (
            "/v1/keyrings/ring/config".to_owned(),
            &app_key,
            "cache_ttl_seconds",
        ),
        ("/v1/keys/k".to_owned(), &app_key, "enabled"),
        ("/v1/keys/k".to_owned(), &app_key, "min_version"),
    ];
    for (path, key, field) in &cases {
        let before = s.get(path, key).await?.body;
        let reply = s.patch(path, key, json!({ *field: null })).await?;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "invalid_input"),
            "PATCH {path} {{{field}: null}}: {}",
            reply.body
        );
        let message = reply.message();
        assert!(
            message.contains(&format!("`{field}` cannot be null")),
            "{path}: {message}"
        );
        assert_eq!(
            s.get(path, key).await?.body,
            before,
            "{path}: nothing changed"
        );
    }
    // A PATCH that carries a value and a null is refused whole.
    let mixed = s
        .patch(
            &format!("/v1/users/{user}"),
            owner,
            json!({"suspended": true, "role": null}),
        )
        .await?;
    mixed.assert_status(400);
    assert_eq!(
        s.get(&format!("/v1/users/{user}"), owner).await?.body["suspended"],
        false
    );
    // Other bodies refuse a null optional field the same way: leave it out instead.
    let posts = [
        (
            "/v1/keys/k/csr",
            json!({"common_name": "k", "organization": null}),
            "organization",
        ),
        (
            "/v1/keys/k/sign",
            json!({"message": "eA==", "algorithm": null}),
            "algorithm",
        ),
        (
            "/v1/keyrings",
            json!({"name": "r2", "group": group, "cache_ttl_seconds": null}),
            "cache_ttl_seconds",
        ),
    ];
    for (path, body, field) in posts {
        let key = if path == "/v1/keyrings" {
            owner.as_str()
        } else {
            app_key.as_str()
        };
        let reply = s.post(path, key, body).await?;
        reply.assert_error_because(400, "invalid_input", path);
        let message = reply.message();
        assert!(
            message.contains(&format!("`{field}` cannot be null")),
            "{message}"
        );
    }
    let cleared = s
        .patch(
            "/v1/keyrings/ring/config",
            &app_key,
            json!({"rotation_period_days": null, "max_encrypt_count": null}),
        )
        .await?;
    assert_eq!(
        (cleared.status, cleared.body["rotation_period_days"].clone()),
        (200, serde_json::Value::Null),
        "{}",
        cleared.body
    );
    Ok(())
}

/// Every `$ref` in `value`.
fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v.as_str()) {
                    ("$ref", Some(target)) => out.push(target.to_owned()),
                    _ => refs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The served document is complete enough for a generator (Schemathesis runs over it in
/// CI): query parameters with types and limits, patterns for names, e-mails and base64,
/// closed request bodies, and every error status with the error schema.
#[tokio::test]
async fn the_openapi_document_declares_query_parameters_patterns_and_every_error_status()
-> TestResult {
    let s = TestServer::start().await?;
    let doc = s
        .anonymous(reqwest::Method::GET, "/v1/openapi.json")
        .await?
        .body;
    let params = |method: &str, path: &str| -> Vec<(String, serde_json::Value)> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p["in"] == "query")
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_owned(),
                    p["schema"].clone(),
                )
            })
            .collect()
    };
    let names = |list: &[(String, serde_json::Value)]| -> Vec<String> {
        list.iter().map(|(n, _)| n.clone()).collect()
    };
    let activity = params("get", "/v1/activity");
    assert_eq!(
        names(&activity),
        [
            "since",
            "until",
            "principal",
            "object",
            "action",
            "outcome",
            "before",
            "limit"
        ]
    );
    assert_eq!(
        activity[7].1,
        json!({"type": "integer", "minimum": 1, "maximum": 1000})
    );
    assert_eq!(activity[0].1["format"], "date-time");
    let objects = params("get", "/v1/objects");
    assert_eq!(names(&objects), ["group", "type"]);
    assert_eq!(
        objects[1].1["enum"],
        json!(["keyring", "key_pair", "public_key", "certificate"])
    );
    assert_eq!(names(&params("get", "/v1/keys/{name}/public")), ["version"]);
    assert_eq!(
        params("delete", "/v1/groups/{id}"),
        [("force".to_owned(), json!({"type": "boolean"}))]
    );

    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    let name_pattern = "^[A-Za-z0-9_-]{1,64}$";
    for (body, field) in [
        ("CreateGroup", "name"),
        ("CreateApp", "name"),
        ("CreateTrustedCa", "name"),
        ("PatchApp", "name"),
    ] {
        assert_eq!(
            schema(body)["properties"][field]["pattern"],
            name_pattern,
            "{body}"
        );
    }
    assert_eq!(
        doc["paths"]["/v1/keyrings/{ring}/encrypt"]["post"]["parameters"][0]["schema"]["pattern"],
        name_pattern
    );
    assert!(
        schema("CreateUser")["properties"]["email"]["pattern"]
            .as_str()
            .is_some_and(|p| p.contains('@')),
        "e-mails are patterned"
    );
    let base64 = schema("Encrypt")["properties"]["plaintext"]["pattern"].clone();
    assert!(
        base64.as_str().is_some_and(|p| p.contains("==")),
        "{base64}"
    );
    assert_eq!(
        schema("KeyDecrypt")["properties"]["ciphertext"]["pattern"],
        base64
    );
    assert_eq!(
        schema("CsrRequest")["properties"]["country"]["pattern"],
        "^[A-Z]{2}$"
    );
    // `{"role": null}` is not valid: the role is an enum of strings, and a PATCH needs a field.
    assert_eq!(
        schema("PatchUser")["properties"]["role"],
        json!({"type": "string", "enum": ["owner", "admin", "member", "auditor"]})
    );
    assert_eq!(schema("PatchUser")["minProperties"], 1);
    for (name, body) in doc["components"]["schemas"].as_object().expect("schemas") {
        if body["type"] == "object" {
            assert_eq!(body["additionalProperties"], false, "{name} is closed");
        }
    }

    let mut checked = 0;
    for route in coffer::catalogue::ALL {
        let op = &doc["paths"][route.path][route.method.as_str()];
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            !responses.contains_key("default"),
            "{} {}: statuses are listed",
            route.method,
            route.path
        );
        assert!(responses.contains_key(&route.status.to_string()));
        for (status, response) in responses {
            if status.starts_with('4') || (status.starts_with('5') && route.path != "/v1/ready") {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{} {} {status}",
                    route.method,
                    route.path
                );
            }
        }
        if !route.flags.is_empty() {
            for status in ["401", "403", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{} {} {status}",
                    route.method,
                    route.path
                );
            }
        }
        if route.request.is_some() {
            for status in ["400", "413"] {
                assert!(
                    responses.contains_key(status),
                    "{} {} {status}",
                    route.method,
                    route.path
                );
            }
        }
        if route.path.contains('{') {
            assert!(
                responses.contains_key("404"),
                "{} {}",
                route.method,
                route.path
            );
        }
        checked += 1;
    }
    assert_eq!(checked, coffer::catalogue::ALL.len());
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    for target in targets {
        let name = target.trim_start_matches("#/components/schemas/");
        assert!(schema(name).is_object(), "{target} resolves");
    }
    Ok(())
}

/// A method the path does not serve is a 405 in the contract's JSON shape, under the request
/// id the client sees (the renderer keeps the status its producer set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_the_path_does_not_serve_is_a_json_405() -> TestResult {
    let s = TestServer::start().await?;
    let reply = s.anonymous(reqwest::Method::PUT, "/v1/keyrings").await?;
    reply.assert_status(405);
    assert_eq!(reply.body["error"]["code"], "invalid_input");
    assert_eq!(reply.body["error"]["request_id"], reply.request_id());
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("PUT")),
        "{}",
        reply.body
    );
    Ok(())
}
