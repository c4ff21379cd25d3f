//! The lockout of signed requests: failures lock a machine out from one source with a 429
//! until the window passes, an inactive app does not count, junk naming no machine locks out
//! only junk, and refusals claim the machine id in its account.

use crate::machine_support::*;
use crate::support::{MachineKey, RawRequest, Reply, TestResult, nonce};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

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
