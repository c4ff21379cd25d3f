//! Every machine lifecycle path end to end over HTTPS on SoftHSM and SQLite: bootstrap and
//! approval, pre-provisioned bundles, enrollment fleets, temporary machines, the README's
//! Python client and the CLI. Signed-request checks are in `machine_requests`, the lockout
//! in `machine_lockout`.

use crate::expect::cli;
use crate::machine_support::*;
use crate::support::{MachineKey, TestResult, TestServer, b64, run_cli, unb64, unix_now};
use coffer::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn bootstrap_machines_wait_for_approval_and_obey_disable() -> TestResult {
    let (s, clock, group) = server_with_clock().await?;
    let grants = json!({ group.clone(): ALL_OPS });
    let bootstrap = token(
        &s,
        json!({"kind": "bootstrap", "name": "host", "flags": {"keyring.*.*": true}, "groups": grants}),
    )
    .await?;
    let mut machine = MachineKey::generate();
    let registered = s.register_machine(&mut machine, &bootstrap).await?;
    registered.assert_status(201);
    assert_eq!(registered.str("status"), "pending");
    // Single use.
    let mut second = MachineKey::generate();
    assert_refused(
        &s.register_machine(&mut second, &bootstrap).await?,
        "reused token",
    );
    let encrypt = |m: &MachineKey| {
        let request = encrypt_request(m, secs(&clock));
        let s = &s;
        async move { s.send_raw(&s.client, &request).await }
    };
    assert_refused(&encrypt(&machine).await?, "pending");
    let path = format!("/v1/machines/{}", machine.id);
    let approve = s.owner_post(&format!("{path}/approve"), json!({})).await?;
    assert_eq!(approve.str("status"), "approved");
    assert_eq!(encrypt(&machine).await?.status, 200);
    s.owner_post(&format!("{path}/disable"), json!({})).await?;
    assert_refused(&encrypt(&machine).await?, "disabled");
    s.owner_post(&format!("{path}/enable"), json!({})).await?;
    assert_eq!(encrypt(&machine).await?.status, 200);
    // A bootstrap token lives ten minutes.
    let late = token(
        &s,
        json!({"kind": "bootstrap", "name": "late", "flags": {"keyring.*.*": true}}),
    )
    .await?;
    clock.advance(Duration::from_secs(601));
    let mut third = MachineKey::generate();
    assert_refused(
        &s.register_machine(&mut third, &late).await?,
        "expired token",
    );
    assert_eq!(refusals(&s).await?, ["machine_pending", "machine_disabled"]);
    // Deleting the machine ends it.
    assert_eq!(s.delete(&path, &s.owner_key).await?.status, 204);
    assert_refused(&encrypt(&machine).await?, "deleted");
    Ok(())
}

#[tokio::test]
async fn a_provisioned_machine_bundle_downloads_once_and_the_server_keeps_only_the_public_key()
-> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("fleet").await?;
    s.keyring("ring", &group, json!({})).await?;
    let created = s.owner_post("/v1/machines", json!({"name": "db-1", "flags": {"keyring.*.*": true}, "groups": {group.clone(): ALL_OPS}}))
        .await?;
    created.assert_status(201);
    assert_eq!(created.body["machine"]["status"], "approved");
    let bundle_token = created.str("bundle_token");
    let download = |t: &str| {
        s.call(
            Method::POST,
            "/v1/machines/bundle",
            None,
            Some(json!({"token": t})),
        )
    };
    let bundle = download(&bundle_token).await?;
    bundle.assert_status(200);
    assert_refused(&download(&bundle_token).await?, "second download");
    let pem = bundle.str("private_key_pem");
    let key = {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)?
    };
    assert_eq!(
        b64(key.verifying_key().as_bytes()),
        created.body["machine"]["public_key"]
            .as_str()
            .unwrap_or_default()
    );
    let machine = MachineKey {
        id: bundle.str("machine_id"),
        key,
    };
    let reply = s
        .send_raw(&s.client, &encrypt_request(&machine, unix_now()))
        .await?;
    reply.assert_status(200);
    // Neither the key nor the bundle token is anywhere in the database files.
    let body_line = pem.lines().nth(1).unwrap_or_default().to_owned();
    for file in s.database_files().await? {
        let bytes = std::fs::read(&file)?;
        for secret in [body_line.as_bytes(), bundle_token.as_bytes()] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "{} holds a secret",
                file.display()
            );
        }
    }
    Ok(())
}

/// The downloaded key is PKCS#8 v1 (RFC 5208/8410, no embedded public key): OpenSSL 3.0 and
/// Python `cryptography` refuse the v2 form with "extra data".
#[tokio::test]
async fn a_provisioned_machines_private_key_loads_in_openssl_and_python_cryptography() -> TestResult
{
    let s = TestServer::start().await?;
    let created = s
        .owner_post(
            "/v1/machines",
            json!({"name": "db-2", "flags": {"keyring.*.*": true}}),
        )
        .await?;
    created.assert_status(201);
    let public_key = created.body["machine"]["public_key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let bundle = s
        .call(
            Method::POST,
            "/v1/machines/bundle",
            None,
            Some(json!({"token": created.str("bundle_token")})),
        )
        .await?;
    bundle.assert_status(200);
    let file = s.dir.path().join("machine-key.pem");
    std::fs::write(&file, bundle.str("private_key_pem"))?;

    let openssl = std::process::Command::new("openssl")
        .args(["pkey", "-noout", "-in"])
        .arg(&file)
        .output()?;
    assert!(
        openssl.status.success(),
        "openssl pkey: {}",
        String::from_utf8_lossy(&openssl.stderr)
    );
    let python = std::process::Command::new("python3")
        .args([
            "-c",
            "import base64, sys\n\
             from cryptography.hazmat.primitives.serialization import load_pem_private_key, Encoding, PublicFormat\n\
             key = load_pem_private_key(open(sys.argv[1], 'rb').read(), password=None)\n\
             print(base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode())",
        ])
        .arg(&file)
        .output()?;
    assert!(
        python.status.success(),
        "cryptography: {}",
        String::from_utf8_lossy(&python.stderr)
    );
    // Python derives the same public key the server keeps for the machine.
    assert_eq!(String::from_utf8_lossy(&python.stdout).trim(), public_key);
    Ok(())
}

#[tokio::test]
async fn enrollment_tokens_enroll_a_fleet_that_expires_and_is_cleaned_up() -> TestResult {
    let (s, clock, group) = server_with_clock().await?;
    let fleet = token(
        &s,
        json!({"kind": "enrollment", "name": "ci", "flags": {"keyring.*.*": true},
               "groups": {group.clone(): ALL_OPS}, "lifetime_seconds": 86400, "max_uses": 2,
               "machine_lifetime_seconds": 3600}),
    )
    .await?;
    let mut runners = Vec::new();
    for _ in 0..2 {
        let mut runner = MachineKey::generate();
        let reply = s.register_machine(&mut runner, &fleet).await?;
        assert_eq!(reply.str("status"), "approved", "{}", reply.body);
        assert!(reply.body["expires_at"].is_string());
        runners.push(runner);
    }
    let mut extra = MachineKey::generate();
    assert_refused(
        &s.register_machine(&mut extra, &fleet).await?,
        "past max_uses",
    );
    for runner in &runners {
        let reply = s
            .send_raw(&s.client, &encrypt_request(runner, secs(&clock)))
            .await?;
        reply.assert_status(200);
    }
    clock.advance(Duration::from_secs(3601));
    let expired = s
        .send_raw(&s.client, &encrypt_request(&runners[0], secs(&clock)))
        .await?;
    assert_refused(&expired, "expired runner");
    s.service().maintain().await?;
    let path = format!("/v1/machines/{}", runners[0].id);
    let listed = s.get(&path, &s.owner_key).await?;
    assert_eq!(listed.body["enabled"], false, "disabled after expiry");
    clock.advance(Duration::from_secs(30 * 86_400 + 1));
    s.service().maintain().await?;
    assert_eq!(
        s.get(&path, &s.owner_key).await?.status,
        404,
        "deleted after retention"
    );
    // The token itself ends with its lifetime.
    let short = token(
        &s,
        json!({"kind": "enrollment", "name": "short", "flags": {"keyring.*.*": true},
               "lifetime_seconds": 60, "max_uses": 5, "machine_lifetime_seconds": 3600}),
    )
    .await?;
    clock.advance(Duration::from_secs(61));
    assert_refused(
        &s.register_machine(&mut extra, &short).await?,
        "expired token",
    );
    // Limits are checked when the token is made.
    for bad in [
        json!({"max_uses": 10001}),
        json!({"max_uses": 0}),
        json!({"machine_lifetime_seconds": 366 * 86400}),
        json!({"guardrails": {}}),
    ] {
        let mut body = json!({"kind": "enrollment", "name": "bad", "flags": {"keyring.*.*": true},
                              "lifetime_seconds": 60, "max_uses": 5, "machine_lifetime_seconds": 3600});
        for (k, v) in bad.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        let reply = s.owner_post("/v1/machine-tokens", body).await?;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_machines_obey_guardrails_and_can_be_extended_and_reverted() -> TestResult {
    let (s, clock, group) = server_with_clock().await?;
    // A window of one hour around now (UTC), every day.
    let hour = (clock.now_micros() / 3_600_000_000) % 24;
    let window = json!({"time_zone": "UTC", "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                        "start": format!("{hour:02}:00"),
                        "end": if hour == 23 { "24:00".to_owned() } else { format!("{:02}:00", hour + 1) }});
    let body = |lifetime: i64| {
        json!({"kind": "temporary", "name": "contractor", "flags": {"keyring.*.*": true},
               "groups": {group.clone(): ALL_OPS}, "machine_lifetime_seconds": lifetime,
               "guardrails": {"allowed_sources": ["127.0.0.1/32"], "time_window": window.clone()}})
    };
    for lifetime in [3599, 366 * 86_400] {
        let reply = s
            .post("/v1/machine-tokens", &s.owner_key, body(lifetime))
            .await?;
        assert_eq!(reply.status, 400, "lifetime {lifetime}: {}", reply.body);
    }
    let temporary = token(&s, body(3600)).await?;
    let mut machine = MachineKey::generate();
    let reply = s.register_machine(&mut machine, &temporary).await?;
    assert_eq!(reply.str("status"), "pending");
    let path = format!("/v1/machines/{}", machine.id);
    let approved = s.owner_post(&format!("{path}/approve"), json!({})).await?;
    let first_expiry = approved.str("expires_at");

    let send = |client: reqwest::Client| {
        let request = encrypt_request(&machine, secs(&clock));
        let s = &s;
        async move { s.send_raw(&client, &request).await }
    };
    assert_eq!(send(s.client.clone()).await?.status, 200);
    let elsewhere = send(client_from(&s, "127.0.0.2")?).await?;
    elsewhere.assert_error(403, "temp_machine_blocked");

    // Extensions: capped at twelve months from now, revertible once.
    let far = coffer::clock::rfc3339(clock.now_micros() + 366 * 86_400 * 1_000_000);
    let refused = s
        .owner_post(&format!("{path}/extend"), json!({"expires_at": far}))
        .await?;
    refused.assert_status(400);
    let later = coffer::clock::rfc3339(clock.now_micros() + 3 * 3_600_000_000);
    let extended = s
        .owner_post(&format!("{path}/extend"), json!({"expires_at": later}))
        .await?;
    assert_eq!(extended.str("expires_at"), later);
    assert_eq!(extended.str("previous_expires_at"), first_expiry);
    let reverted = s
        .owner_post(&format!("{path}/revert-extension"), json!({}))
        .await?;
    assert_eq!(reverted.str("expires_at"), first_expiry);
    let again = s
        .owner_post(&format!("{path}/revert-extension"), json!({}))
        .await?;
    again.assert_status(409);
    s.owner_post(&format!("{path}/extend"), json!({"expires_at": later}))
        .await?;

    // Two hours on: outside the time window (still within the extended lifetime).
    clock.advance(Duration::from_secs(2 * 3600));
    let outside = send(s.client.clone()).await?;
    outside.assert_error(403, "temp_machine_blocked");
    // Past the expiry: refused before any guardrail.
    clock.advance(Duration::from_secs(3601));
    assert_refused(&send(s.client.clone()).await?, "expired temporary machine");

    let feed = s.get("/v1/activity?limit=1000", &s.owner_key).await?;
    let blocked: Vec<&str> = feed.body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["outcome"] == "temp_machine_blocked")
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert_eq!(blocked, ["outside_time_window", "source_not_allowed"]);
    assert_eq!(
        refusals(&s).await?.last().map(String::as_str),
        Some("machine_expired")
    );
    Ok(())
}

/// The README's Python example, run as is: an enrollment token, a key pair made by Python
/// `cryptography`, and a signed encrypt request the server accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_signed_by_the_readme_python_example_is_accepted() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("fleet").await?;
    s.keyring("ring", &group, json!({})).await?;
    let fleet = token(
        &s,
        json!({"kind": "enrollment", "name": "py", "flags": {"keyring.*.*": true},
               "groups": {group.clone(): ALL_OPS}, "lifetime_seconds": 600, "max_uses": 1,
               "machine_lifetime_seconds": 600}),
    )
    .await?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/python/signed_request.py"
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    let code = std::fs::read_to_string(script)?;
    assert!(
        readme.contains(code.trim()),
        "the README shows examples/python/signed_request.py verbatim"
    );
    let out = std::process::Command::new("python3")
        .arg(script)
        .env("COFFER_URL", &s.url)
        .env("COFFER_CA_CERT", s.ca_cert())
        .env("COFFER_MACHINE_TOKEN", &fleet)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout)?;
    let ciphertext = printed["ciphertext"].as_str().unwrap_or_default();
    assert!(ciphertext.starts_with("coffer:v1:"), "{printed}");
    let (_, key) = s
        .app_with_key("reader", &[&group], json!({"keyring.*.*": true}))
        .await?;
    let opened = s
        .post(
            "/v1/keyrings/ring/decrypt",
            &key,
            json!({"ciphertext": ciphertext}),
        )
        .await?;
    assert_eq!(unb64(&opened.str("plaintext")), b"hello from python");
    Ok(())
}

/// Every lifecycle path through the binary: tokens, `machine bootstrap` writing the identity
/// (0600 key), approval, a signed CLI command, provisioning and `machine install`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_enrolls_machines_and_signs_its_requests() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let s = TestServer::start().await?;
    let group = s.group("fleet").await?;
    s.keyring("ring", &group, json!({})).await?;
    let owner = [("COFFER_API_KEY", s.owner_key.as_str())];
    let grant = format!("{group}=encrypt,decrypt");
    // Runs the CLI with `env`, which must succeed; what it printed, as JSON.
    let printed = |env: &[(&str, &str)], template: &str, values: &[&str]| {
        let (ok, out) = cli(&s, env, template, values)?;
        assert!(ok, "{out}");
        anyhow::Ok(serde_json::from_str::<Value>(&out)?)
    };
    // Runs `keyring encrypt ring` of `data` as the machine whose identity is at `identity`.
    let encrypt_as = |identity: &std::path::Path, data: &[u8]| {
        let identity = identity.to_str().unwrap_or_default();
        let env = [
            ("COFFER_MACHINE_IDENTITY", identity),
            ("COFFER_API_KEY", ""),
        ];
        run_cli(&s, &env, &["keyring", "encrypt", "ring"], Some(data))
    };

    let create = "machine token create --kind bootstrap --name host --flag keyring.*.* --group {}";
    let token = printed(&owner, create, &[&grant])?["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let home = tempfile::tempdir()?;
    let home_arg = home.path().to_str().unwrap_or_default();
    let as_token = [
        ("COFFER_MACHINE_TOKEN", token.as_str()),
        ("COFFER_API_KEY", ""),
    ];
    let bootstrap = "machine bootstrap --name web-1 --home {}";
    let registered = printed(&as_token, bootstrap, &[home_arg])?;
    let machine_id = registered["id"].as_str().unwrap_or_default().to_owned();
    let account = registered["account_id"].as_str().unwrap_or_default();
    let identity = home.path().join(".coffer/accounts").join(account);
    let mode = std::fs::metadata(identity.join("private.pem"))?
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let written: Value = serde_json::from_slice(&std::fs::read(identity.join("identity.json"))?)?;
    assert_eq!(written["machine_id"], json!(machine_id));

    let (ok, _) = cli(&s, &owner, "machine approve {}", &[&machine_id])?;
    assert!(ok);
    let (ok, out) = encrypt_as(&identity, b"cli data")?;
    assert!(ok, "{out}");
    let feed = s.get("/v1/activity?limit=50", &s.owner_key).await?;
    let signed = feed.body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| {
            e["action"] == "keyring.encrypt"
                && e["auth_method"] == "signed_request"
                && e["credential"] == json!(machine_id)
        });
    assert!(signed, "the CLI signed its request");

    // Pre-provisioning: `machine provision`, then `machine install` on the machine.
    let provision = "machine provision --name db-1 --flag keyring.*.* --group {}";
    let bundle_token = printed(&owner, provision, &[&grant])?["bundle_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let other_home = tempfile::tempdir()?;
    let as_bundle = [
        ("COFFER_BUNDLE_TOKEN", bundle_token.as_str()),
        ("COFFER_API_KEY", ""),
    ];
    let other_home_arg = other_home.path().to_str().unwrap_or_default();
    let (ok, out) = cli(
        &s,
        &as_bundle,
        "machine install --home {}",
        &[other_home_arg],
    )?;
    assert!(ok, "{out}");
    let installed = other_home.path().join(".coffer/accounts").join(account);
    let (ok, out) = encrypt_as(&installed, b"db data")?;
    assert!(ok, "{out}");
    Ok(())
}
