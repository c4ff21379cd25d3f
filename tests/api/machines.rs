//! Machines: Ed25519-signed requests (replay, skew, lockout, malformed headers) and every
//! lifecycle path (bootstrap, pre-provisioning, enrollment fleets, temporary machines),
//! end to end over HTTPS on SoftHSM and SQLite, with an injected clock where time matters.

use crate::expect::cli;
use crate::support::{
    MachineKey, RawRequest, Reply, TestResult, TestServer, b64, nonce, run_cli, send_raw_to, unb64,
    unix_now,
};
use coffer::clock::{Clock, ManualClock};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const ALL_OPS: [&str; 2] = ["encrypt", "decrypt"];

/// A server on a clock the test moves, with one group and one envelope keyring in it.
async fn server_with_clock() -> anyhow::Result<(TestServer, Arc<ManualClock>, String)> {
    let clock = Arc::new(ManualClock::starting_now());
    let shared = Arc::clone(&clock);
    let s = TestServer::start_with(move |c| c.clock = shared).await?;
    let group = s.group("fleet").await?;
    s.keyring("ring", &group, json!({})).await?;
    Ok((s, clock, group))
}

fn secs(clock: &ManualClock) -> i64 {
    clock.now_micros() / 1_000_000
}

async fn token(s: &TestServer, body: Value) -> anyhow::Result<String> {
    let reply = s.owner_post("/v1/machine-tokens", body).await?;
    anyhow::ensure!(
        reply.status == 201,
        "token: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply.str("token"))
}

fn encrypt_request(machine: &MachineKey, timestamp: i64) -> RawRequest {
    RawRequest::signed(
        machine,
        Method::POST,
        "/v1/keyrings/ring/encrypt",
        Some(&json!({"plaintext": b64(b"machine data")})),
        timestamp,
    )
}

/// The audit details (`detail`) of refused signed requests, oldest first.
async fn refusals(s: &TestServer) -> anyhow::Result<Vec<String>> {
    let feed = s.get("/v1/activity?limit=1000", &s.owner_key).await?;
    let mut details: Vec<String> = feed.body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "auth.signed")
        .filter_map(|e| e["detail"].as_str().map(str::to_owned))
        .collect();
    details.reverse();
    Ok(details)
}

/// A client whose connections come from `ip` (127.0.0.x all reach the server on Linux).
fn client_from(s: &TestServer, ip: &str) -> anyhow::Result<reqwest::Client> {
    let pem = std::fs::read(s.ca_cert())?;
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
        .local_address(ip.parse::<std::net::IpAddr>()?)
        .build()?)
}

fn assert_refused(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.body);
    assert_eq!(reply.code(), "unauthenticated", "{what}");
}

/// A second `coffer serve` process on the same database and HSM token.
struct SecondNode {
    child: std::process::Child,
    url: String,
}

impl Drop for SecondNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn second_node(s: &TestServer) -> anyhow::Result<SecondNode> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let pin = s.dir.path().join("second-node.pin");
    std::fs::write(&pin, &s.token.user_pin)?;
    let tls = s.dir.path().join("tls");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--database")
        .arg(s.database())
        .arg("--tls-cert")
        .arg(tls.join("server.pem"))
        .arg("--tls-key")
        .arg(tls.join("server-key.pem"))
        .env("SOFTHSM2_CONF", &s.token.conf)
        .env("COFFER_HSM_MODULE", &s.token.module)
        .env("COFFER_HSM_TOKEN", &s.token.label)
        .env("COFFER_HSM_PIN_FILE", &pin)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let node = SecondNode {
        child,
        url: format!("https://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if let Ok(r) = s.client.get(format!("{}/v1/ready", node.url)).send().await
            && r.status() == 200
        {
            return Ok(node);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the second node did not become ready")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_request_is_refused_on_replay_after_restart_and_on_another_node() -> TestResult {
    let mut s = TestServer::start().await?;
    let group = s.group("fleet").await?;
    s.keyring("ring", &group, json!({})).await?;
    let machine = s
        .approved_machine(&[&group], json!({"keyring.*.*": true}))
        .await?;
    let captured = encrypt_request(&machine, unix_now());
    let first = s.send_raw(&s.client, &captured).await?;
    first.assert_status(200);
    let sealed = first.str("ciphertext");

    // The replays come from the eavesdropper's address (three failures lock it out).
    let eavesdropper = client_from(&s, "127.0.0.2")?;
    assert_refused(
        &s.send_raw(&eavesdropper, &captured).await?,
        "immediate replay",
    );
    s.restart_with(|_| {}).await?;
    assert_refused(
        &s.send_raw(&eavesdropper, &captured).await?,
        "replay after restart",
    );

    let node = second_node(&s).await?;
    assert_refused(
        &send_raw_to(&node.url, &eavesdropper, &captured).await?,
        "replay on another node",
    );
    // The second node serves fresh requests of the same machine, and decrypts.
    let fresh = RawRequest::signed(
        &machine,
        Method::POST,
        "/v1/keyrings/ring/decrypt",
        Some(&json!({"ciphertext": sealed})),
        unix_now(),
    );
    let opened = send_raw_to(&node.url, &s.client, &fresh).await?;
    opened.assert_status(200);
    assert_eq!(unb64(&opened.str("plaintext")), b"machine data");
    drop(node);

    // Three failures naming the machine from one address lock it out from there.
    assert_eq!(
        refusals(&s).await?,
        [
            "nonce_reused",
            "nonce_reused",
            "nonce_reused",
            "lockout_started"
        ]
    );
    // The accepted request is attributed to the machine and its method.
    let feed = s.get("/v1/activity?limit=1000", &s.owner_key).await?;
    let used = feed.body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["action"] == "keyring.encrypt" && e["outcome"] == "success")
        .cloned()
        .unwrap_or_default();
    assert_eq!(used["auth_method"], "signed_request");
    assert_eq!(used["credential"], json!(machine.id));
    assert_eq!(used["principal"], json!(machine.id));
    Ok(())
}

#[tokio::test]
async fn timestamps_are_accepted_up_to_five_minutes_either_way() -> TestResult {
    let (s, clock, group) = server_with_clock().await?;
    let machine = s
        .approved_machine(&[&group], json!({"keyring.*.*": true}))
        .await?;
    let now = secs(&clock);
    for (offset, ok) in [(-299, true), (299, true), (-301, false), (301, false)] {
        let reply = s
            .send_raw(&s.client, &encrypt_request(&machine, now + offset))
            .await?;
        assert_eq!(reply.status == 200, ok, "offset {offset}: {}", reply.status);
    }
    assert_eq!(refusals(&s).await?, vec!["stale_timestamp"; 2]);
    Ok(())
}

#[tokio::test]
async fn a_timestamp_with_a_leading_zero_is_refused_although_the_signature_covers_its_number()
-> TestResult {
    let (s, clock, group) = server_with_clock().await?;
    let machine = s
        .approved_machine(&[&group], json!({"keyring.*.*": true}))
        .await?;
    // Signed over `<now>`, sent as `0<now>`: the same number, not the bytes that were signed.
    let mut request = encrypt_request(&machine, secs(&clock));
    let signed_value = request.headers[1].1.clone();
    request.headers[1].1 = format!("0{signed_value}");
    assert_refused(
        &s.send_raw(&s.client, &request).await?,
        "timestamp with a leading zero",
    );
    let details = refusals(&s).await?;
    assert_eq!(details.len(), 1, "{details:?}");
    assert!(
        details[0].starts_with("malformed_headers: X-Timestamp"),
        "{details:?}"
    );
    // The header exactly as signed is accepted: the refusal did not spend the nonce.
    request.headers[1].1 = signed_value;
    let accepted = s.send_raw(&s.client, &request).await?;
    accepted.assert_status(200);
    Ok(())
}

#[tokio::test]
async fn malformed_or_tampered_requests_are_refused_audited_and_spare_the_nonce() -> TestResult {
    let clock = Arc::new(ManualClock::starting_now());
    let shared = Arc::clone(&clock);
    let s = TestServer::start_with(move |c| {
        c.clock = shared;
        // Many refusals from one address here; the lockouts have their own tests.
        c.service.machine_lockout_threshold = 1000;
        c.service.machine_unnamed_lockout_threshold = 1000;
    })
    .await?;
    let group = s.group("fleet").await?;
    s.keyring("ring", &group, json!({})).await?;
    let machine = s
        .approved_machine(&[&group], json!({"keyring.*.*.*": true}))
        .await?;
    let now = secs(&clock);
    let good = encrypt_request(&machine, now);
    let nonce_of_good = good.headers[2].1.clone();

    let with = |name: &str, value: Option<&str>| {
        let mut r = good.clone();
        r.headers.retain(|(n, _)| *n != name);
        if let Some(v) = value {
            let static_name = ["x-machine-id", "x-timestamp", "x-nonce", "x-signature"]
                .into_iter()
                .find(|n| *n == name)
                .expect("a signed header");
            r.headers.push((static_name, v.to_owned()));
        }
        r
    };
    let mut duplicated = good.clone();
    duplicated.headers.push(("x-nonce", nonce()));
    let mut other_body = good.clone();
    other_body.body = json!({"plaintext": b64(b"something else")})
        .to_string()
        .into_bytes();
    let mut other_query = good.clone();
    other_query.target = "/v1/keyrings/ring/encrypt?x=1".into();
    let sig = &good.headers[3].1;
    let short_sig = b64(&unb64(sig)[..63]);
    let cases: Vec<(&str, RawRequest, &str)> = vec![
        (
            "missing signature",
            with("x-signature", None),
            "malformed_headers",
        ),
        ("missing nonce", with("x-nonce", None), "malformed_headers"),
        ("duplicated nonce", duplicated, "malformed_headers"),
        (
            "timestamp not an integer",
            with("x-timestamp", Some("17e8")),
            "malformed_headers",
        ),
        (
            "negative timestamp",
            with("x-timestamp", Some("-5")),
            "malformed_headers",
        ),
        (
            "nonce too short",
            with("x-nonce", Some("abc")),
            "malformed_headers",
        ),
        (
            "nonce too long",
            with("x-nonce", Some(&"n".repeat(65))),
            "malformed_headers",
        ),
        (
            "signature not base64",
            with("x-signature", Some("!!!")),
            "malformed_headers",
        ),
        (
            "signature of 63 bytes",
            with("x-signature", Some(&short_sig)),
            "malformed_headers",
        ),
        (
            "unknown machine",
            with("x-machine-id", Some("mch_000000000000000000000000")),
            "unknown_machine",
        ),
        ("body differs", other_body, "bad_signature"),
        ("query differs", other_query, "bad_signature"),
    ];
    for (what, request, _) in &cases {
        assert_refused(&s.send_raw(&s.client, request).await?, what);
    }
    // The same 401 body for every refusal (request ids aside).
    let a = s.send_raw(&s.client, &cases[0].1).await?;
    let b = s.send_raw(&s.client, &cases[10].1).await?;
    assert_eq!(a.body["error"]["message"], b.body["error"]["message"]);
    // None of them consumed the legitimate request's nonce.
    let accepted = s.send_raw(&s.client, &good).await?;
    accepted.assert_status(200);
    assert_eq!(good.headers[2].1, nonce_of_good);

    let details = refusals(&s).await?;
    // Refusals naming an unknown machine belong to no account: the owner does not see them.
    let expected: Vec<&str> = cases
        .iter()
        .map(|(_, _, d)| *d)
        .filter(|d| *d != "unknown_machine")
        .chain(["malformed_headers", "bad_signature"])
        .collect();
    assert_eq!(details.len(), expected.len(), "{details:?}");
    for (got, want) in details.iter().zip(&expected) {
        assert!(got.starts_with(want), "{got} should be {want}");
    }
    Ok(())
}

fn assert_locked(reply: &Reply, retry_after: u64, what: &str) {
    assert_eq!(reply.status, 429, "{what}: {}", reply.body);
    assert_eq!(reply.code(), "rate_limited", "{what}");
    let header = reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(header, Some(retry_after), "{what}: Retry-After");
}

/// What the README says about nonces, refusal by refusal: refused before the nonce check,
/// the same request goes through later; refused after it (guardrail, inactive app), the
/// nonce is spent and the same request is a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_after_the_nonce_check_spend_the_nonce_and_earlier_ones_do_not() -> TestResult {
    let clock = Arc::new(ManualClock::starting_now());
    let shared = Arc::clone(&clock);
    let s = TestServer::start_with(move |c| {
        c.clock = shared;
        // Several refusals of one machine from one address; the lockout has its own test.
        c.service.machine_lockout_threshold = 1000;
    })
    .await?;
    let group = s.group("fleet").await?;
    s.keyring("ring", &group, json!({})).await?;
    let temporary = token(
        &s,
        json!({"kind": "temporary", "name": "contractor", "flags": {"keyring.*.*": true},
               "groups": {group.clone(): ALL_OPS}, "machine_lifetime_seconds": 3600,
               "guardrails": {"allowed_sources": ["127.0.0.1/32"]}}),
    )
    .await?;
    let mut machine = MachineKey::generate();
    s.register_machine(&mut machine, &temporary).await?;
    let path = format!("/v1/machines/{}", machine.id);
    // Pending: refused before the nonce check, so the request works once approved.
    let early = encrypt_request(&machine, secs(&clock));
    assert_refused(&s.send_raw(&s.client, &early).await?, "pending");
    s.owner_post(&format!("{path}/approve"), json!({})).await?;
    assert_eq!(s.send_raw(&s.client, &early).await?.status, 200);

    // A guardrail refusal comes after the nonce check: the nonce is spent.
    let blocked = encrypt_request(&machine, secs(&clock));
    let elsewhere = s.send_raw(&client_from(&s, "127.0.0.2")?, &blocked).await?;
    elsewhere.assert_status(403);
    assert_refused(
        &s.send_raw(&s.client, &blocked).await?,
        "guardrail-spent nonce",
    );

    // So does the account/app check.
    let app = format!("/v1/apps/{}", machine.id);
    let disabled = s.owner_patch(&app, json!({"enabled": false})).await?;
    disabled.assert_status(200);
    let inactive = encrypt_request(&machine, secs(&clock));
    assert_refused(&s.send_raw(&s.client, &inactive).await?, "app disabled");
    s.owner_patch(&app, json!({"enabled": true})).await?;
    assert_refused(
        &s.send_raw(&s.client, &inactive).await?,
        "inactive-spent nonce",
    );
    assert_eq!(
        refusals(&s).await?,
        [
            "machine_pending",
            "source_not_allowed",
            "nonce_reused",
            "account_or_app_inactive",
            "nonce_reused"
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_failures_lock_a_machine_out_from_that_source_only_with_429_until_thirty_minutes_pass()
-> TestResult {
    let (s, clock, group) = server_with_clock().await?;
    let machine = s
        .approved_machine(&[&group], json!({"keyring.*.*": true}))
        .await?;
    let neighbour = s
        .approved_machine(&[&group], json!({"keyring.*.*": true}))
        .await?;
    let impostor = MachineKey {
        id: machine.id.clone(),
        key: MachineKey::generate().key,
    };
    let attacker = client_from(&s, "127.0.0.2")?;
    let elsewhere = client_from(&s, "127.0.0.3")?;
    let send = |client: &reqwest::Client, key: &MachineKey| {
        let request = encrypt_request(key, secs(&clock));
        let client = client.clone();
        let s = &s;
        async move { s.send_raw(&client, &request).await }
    };
    for _ in 0..2 {
        assert_refused(&send(&attacker, &impostor).await?, "forged");
    }
    // Two failures: the machine still works from there.
    assert_eq!(send(&attacker, &machine).await?.status, 200);
    assert_refused(&send(&attacker, &impostor).await?, "third forgery");
    // Three: that machine is locked out from that address, even with a valid signature...
    assert_locked(&send(&attacker, &machine).await?, 1800, "locked machine");
    // ...while another machine behind the same address, and the same machine from another
    // address, keep working.
    assert_eq!(send(&attacker, &neighbour).await?.status, 200);
    assert_eq!(send(&elsewhere, &machine).await?.status, 200);
    clock.advance(Duration::from_secs(29 * 60));
    assert_locked(&send(&attacker, &machine).await?, 60, "still locked");
    clock.advance(Duration::from_secs(61));
    assert_eq!(send(&attacker, &machine).await?.status, 200);

    let details = refusals(&s).await?;
    assert_eq!(
        details,
        [
            "bad_signature",
            "bad_signature",
            "bad_signature",
            "lockout_started",
            "machine_locked",
            "machine_locked"
        ]
    );
    // The owners see when and from where the lock started.
    let feed = s.get("/v1/activity?limit=1000", &s.owner_key).await?;
    let started = feed.body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["detail"] == "lockout_started")
        .cloned()
        .unwrap_or_default();
    assert_eq!(started["source_ip"], "127.0.0.2");
    assert_eq!(started["outcome"], "rate_limited");
    assert_eq!(started["credential"], json!(machine.id));
    Ok(())
}

#[tokio::test]
async fn an_inactive_app_is_refused_without_counting_toward_the_machines_lockout() -> TestResult {
    let (s, clock, group) = server_with_clock().await?;
    let machine = s
        .approved_machine(&[&group], json!({"keyring.*.*": true}))
        .await?;
    let app = format!("/v1/apps/{}", machine.id);
    s.owner_patch(&app, json!({"enabled": false})).await?;
    for i in 0..3 {
        let reply = s
            .send_raw(&s.client, &encrypt_request(&machine, secs(&clock)))
            .await?;
        assert_refused(&reply, &format!("disabled app {i}"));
    }
    s.owner_patch(&app, json!({"enabled": true})).await?;
    // Correctly signed each time: not a guess, so no lockout.
    let reply = s
        .send_raw(&s.client, &encrypt_request(&machine, secs(&clock)))
        .await?;
    reply.assert_status(200);
    assert_eq!(refusals(&s).await?, vec!["account_or_app_inactive"; 3]);
    Ok(())
}

/// Requests carrying nothing but an `X-Nonce` header.
fn junk_request() -> RawRequest {
    RawRequest {
        method: Method::GET,
        target: "/v1/keyrings".into(),
        headers: vec![("x-nonce", nonce())],
        body: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_from_an_address_locks_out_only_requests_naming_no_machine() -> TestResult {
    let (s, clock, group) = server_with_clock().await?;
    let machine = s
        .approved_machine(&[&group], json!({"keyring.*.*": true}))
        .await?;
    let shared_address = client_from(&s, "127.0.0.2")?;
    let stranger = MachineKey {
        id: "mch_000000000000000000000000".into(),
        key: MachineKey::generate().key,
    };
    for i in 0..20 {
        assert_refused(
            &s.send_raw(&shared_address, &junk_request()).await?,
            &format!("junk {i}"),
        );
    }
    // Twenty failures naming no machine: such requests now get 429 at once...
    assert_locked(
        &s.send_raw(&shared_address, &junk_request()).await?,
        1800,
        "junk",
    );
    let unknown = encrypt_request(&stranger, secs(&clock));
    assert_locked(
        &s.send_raw(&shared_address, &unknown).await?,
        1800,
        "unknown machine",
    );
    // ...but a machine that signs correctly from the same address is not affected.
    let reply = s
        .send_raw(&shared_address, &encrypt_request(&machine, secs(&clock)))
        .await?;
    reply.assert_status(200);
    clock.advance(Duration::from_secs(30 * 60 + 1));
    assert_refused(
        &s.send_raw(&shared_address, &junk_request()).await?,
        "after the lock",
    );
    Ok(())
}

/// The events of the owner's feed, newest first.
async fn events(s: &TestServer) -> anyhow::Result<Vec<Value>> {
    let feed = s.get("/v1/activity?limit=1000", &s.owner_key).await?;
    Ok(feed.body["events"].as_array().cloned().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_mark_the_machine_id_as_claimed_and_a_deleted_machine_stays_in_its_account()
-> TestResult {
    let (s, clock, group) = server_with_clock().await?;
    let account = s.account_id().await?;
    let machine = s
        .approved_machine(&[&group], json!({"keyring.*.*": true}))
        .await?;
    let impostor = MachineKey {
        id: machine.id.clone(),
        key: MachineKey::generate().key,
    };
    let accepted = s
        .send_raw(&s.client, &encrypt_request(&machine, secs(&clock)))
        .await?;
    accepted.assert_status(200);
    assert_refused(
        &s.send_raw(&s.client, &encrypt_request(&impostor, secs(&clock)))
            .await?,
        "forged",
    );
    let feed = events(&s).await?;
    let used = feed
        .iter()
        .find(|e| e["action"] == "keyring.encrypt")
        .cloned()
        .unwrap_or_default();
    assert_eq!(used["identity"], "verified", "{used}");
    let forged = feed
        .iter()
        .find(|e| e["detail"] == "bad_signature")
        .cloned()
        .unwrap_or_default();
    assert_eq!(forged["identity"], "claimed", "{forged}");
    assert_eq!(forged["principal"], json!(machine.id));
    assert_eq!(forged["credential"], json!(machine.id));
    assert_eq!(forged["account"], json!(account));
    // Events that name no one say so.
    let anonymous = s.anonymous(Method::GET, "/v1/keyrings").await?;
    anonymous.assert_status(401);
    let feed = events(&s).await?;
    assert!(
        feed.iter()
            .filter(|e| e["principal"].is_null())
            .all(|e| e["identity"].is_null()),
        "{feed:?}"
    );

    // A deleted machine that keeps signing stays visible to its account.
    let path = format!("/v1/machines/{}", machine.id);
    let deleted = s.delete(&path, &s.owner_key).await?;
    deleted.assert_status(204);
    assert_refused(
        &s.send_raw(&s.client, &encrypt_request(&machine, secs(&clock)))
            .await?,
        "deleted machine",
    );
    let feed = events(&s).await?;
    let late = feed
        .iter()
        .find(|e| e["detail"] == "machine_deleted")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&late["identity"], &late["principal"]),
        (&json!("claimed"), &json!(machine.id)),
        "{late}"
    );

    // An id no machine ever had: in no account, but counted in /metrics.
    let stranger = MachineKey {
        id: "mch_000000000000000000000000".into(),
        key: MachineKey::generate().key,
    };
    assert_refused(
        &s.send_raw(&s.client, &encrypt_request(&stranger, secs(&clock)))
            .await?,
        "unknown machine",
    );
    assert!(
        events(&s)
            .await?
            .iter()
            .all(|e| e["principal"] != json!(stranger.id)),
        "an unknown id reaches no account's trail"
    );
    let metrics = s.metrics().await?;
    assert!(
        metrics.contains("\ncoffer_signed_unknown_machine_total 1\n"),
        "{metrics}"
    );

    // Every field of an event is in the OpenAPI document's Event schema.
    let doc = s.anonymous(Method::GET, "/v1/openapi.json").await?;
    let schema = &doc.body["components"]["schemas"]["Event"]["properties"];
    for field in late.as_object().into_iter().flatten().map(|(k, _)| k) {
        assert!(
            schema[field].is_object(),
            "{field} is not in the Event schema"
        );
    }
    assert_eq!(
        schema["identity"]["enum"],
        json!(["verified", "claimed", null])
    );
    Ok(())
}

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
    for file in s.database_files() {
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
