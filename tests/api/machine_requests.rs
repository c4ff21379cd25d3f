//! Ed25519-signed machine requests: a captured request is a replay after a restart and on
//! another node, timestamps are bounded and read strictly, malformed or tampered requests are
//! refused and audited, and which refusals spend the nonce.

use crate::machine_support::*;
use crate::policy_support::bound_keyring;
use crate::support::{
    MachineKey, RawRequest, TestResult, TestServer, b64, nonce, send_raw_to, unb64, unix_now,
};
use coffer::clock::ManualClock;
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;

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

    let node = s.node().await?;
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

/// Uses (encrypt, decrypt, sign, verify) claim their nonce in the same commit as their
/// event, mutations before they change anything; either way a replay changes nothing: it
/// spends no policy quota, rotates nothing, and leaves no success in the trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_changes_nothing_whether_its_nonce_is_claimed_with_its_event_or_first()
-> TestResult {
    let clock = Arc::new(ManualClock::starting_now());
    let shared = Arc::clone(&clock);
    let s = TestServer::start_with(move |c| {
        c.clock = shared;
        c.service.machine_lockout_threshold = 1000;
    })
    .await?;
    let group = s.group("fleet").await?;
    let machine = s
        .approved_machine(&[&group], json!({"keyring.*.*": true}))
        .await?;
    // Two uses a minute (the clock stands still): a replay that spent one would show.
    bound_keyring(&s, &group, "ring", json!({"rate": {"per_minute": 2}})).await?;
    let captured = encrypt_request(&machine, secs(&clock));
    s.send_raw(&s.client, &captured).await?.assert_status(200);
    for n in 0..2 {
        assert_refused(
            &s.send_raw(&s.client, &captured).await?,
            &format!("replayed use {n}"),
        );
    }
    let second = encrypt_request(&machine, secs(&clock));
    s.send_raw(&s.client, &second).await?.assert_status(200);
    let third = encrypt_request(&machine, secs(&clock));
    let capped = s.send_raw(&s.client, &third).await?;
    assert_eq!(capped.status, 429, "the quota counts: {}", capped.body);

    // A mutation claims first: its replay rotates nothing.
    s.keyring("other", &group, json!({})).await?;
    let rotate = RawRequest::signed(
        &machine,
        Method::POST,
        "/v1/keyrings/other/rotate",
        Some(&json!({})),
        secs(&clock),
    );
    s.send_raw(&s.client, &rotate).await?.assert_status(200);
    assert_refused(&s.send_raw(&s.client, &rotate).await?, "replayed rotation");
    let other = s.get("/v1/keyrings/other", &s.owner_key).await?;
    assert_eq!(other.body["current_version"], 2, "{}", other.body);

    assert_eq!(
        refusals(&s).await?,
        ["nonce_reused", "nonce_reused", "nonce_reused"]
    );
    let successes = events(&s)
        .await?
        .into_iter()
        .filter(|e| e["action"] == "keyring.encrypt" && e["outcome"] == "success")
        .count();
    assert_eq!(successes, 2, "only the two fresh uses succeeded");
    Ok(())
}

/// Each node keeps machines' rows in memory: disabling a machine is in force at once on the
/// node that disabled it and within a second on the others (the change log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_disabled_through_one_node_is_refused_by_the_others_within_a_second() -> TestResult
{
    let s = TestServer::start().await?;
    let group = s.group("fleet").await?;
    s.keyring("ring", &group, json!({})).await?;
    let machine = s
        .approved_machine(&[&group], json!({"keyring.*.*": true}))
        .await?;
    let node = s.node().await?;
    let here = s
        .send_raw(&s.client, &encrypt_request(&machine, unix_now()))
        .await?;
    here.assert_status(200);
    let there = send_raw_to(&node.url, &s.client, &encrypt_request(&machine, unix_now())).await?;
    there.assert_status(200);

    s.owner_post(&format!("/v1/machines/{}/disable", machine.id), json!({}))
        .await?
        .assert_status(200);
    let since = std::time::Instant::now();
    assert_refused(
        &s.send_raw(&s.client, &encrypt_request(&machine, unix_now()))
            .await?,
        "the node that disabled it",
    );
    loop {
        let reply =
            send_raw_to(&node.url, &s.client, &encrypt_request(&machine, unix_now())).await?;
        if reply.status == 401 {
            break;
        }
        assert!(
            since.elapsed() < std::time::Duration::from_secs(1),
            "the other node still answers {} one second after the machine was disabled",
            reply.status
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(())
}
