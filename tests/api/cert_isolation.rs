//! Client certificates across accounts: a certificate is public, so binding one proves
//! nothing; a proof of possession of its key does. No account can take over, or lock out,
//! another account's certificate login (hardening issue, item 10). How proofs are made and
//! checked is in `cert_proofs`.

use crate::cert_support::*;
use crate::support::{TestCa, TestResult, TestServer, self_signed_client};
use serde_json::{Value, json};

#[tokio::test]
async fn another_account_cannot_take_over_or_lock_out_a_certificate_bound_with_a_proof()
-> TestResult {
    let s = TestServer::start().await?;
    let (a, b) = two_tenants(&s).await?;
    let ca = TestCa::new("Tenant A Client CA")?;
    let cert = ca.issue("edge", "edge.a.test", -1, 30)?;
    let a_proof = prove(&cert.cert_pem, &cert.key_pem, &a.id)?;
    let bound = bind(&s, &a, pin(&cert, &a_proof)).await?;
    assert_created(&bound, true);
    assert_eq!(seen_as(&s, &cert).await?, Some(a.ring.clone()));

    // Account B learns the certificate (every handshake sends it) and binds it to its own
    // app: by fingerprint, then by PEM, both without a proof.
    let fingerprint = fingerprint_of(&cert.cert_pem)?;
    for body in [
        json!({"fingerprint": fingerprint}),
        json!({"certificate": cert.cert_pem}),
    ] {
        let reply = bind(&s, &b, body.clone()).await?;
        assert_created(&reply, false);
        assert_eq!(
            seen_as(&s, &cert).await?,
            Some(a.ring.clone()),
            "A's app, after B bound {body}"
        );
    }

    // B replays A's proof: it names A's account, so it does not verify in B.
    let replayed = bind(&s, &b, pin(&cert, &a_proof)).await?;
    replayed.assert_error(400, "invalid_input");
    assert!(
        message(&replayed).contains(&format!("coffer-possession-proof:v1:{}:", b.id)),
        "the message says what the proof must sign: {}",
        message(&replayed)
    );
    assert_eq!(seen_as(&s, &cert).await?, Some(a.ring.clone()));

    // B trusts A's CA (its certificate is public too) and binds a rule matching A's
    // certificate.
    let trusted = trust(&s, &b, json!({"name": "a-ca", "certificate": ca.pem})).await?;
    assert_created(&trusted, false);
    let rule = bind(&s, &b, ca_rule(&trusted, "subject", "CN=edge")).await?;
    assert_created(&rule, false);
    assert_eq!(
        seen_as(&s, &cert).await?,
        Some(a.ring.clone()),
        "A's app, after B's CA rule"
    );

    // B's three bindings exist, unproven; the replay stored nothing. B's app never got in.
    assert_eq!(proven_flags(&s, &b).await?, vec![json!(false); 3]);
    assert_eq!(proven_flags(&s, &a).await?, vec![json!(true)]);
    let b_app_events = s
        .get(&format!("/v1/activity?principal={}", b.app), &b.key)
        .await?;
    b_app_events.assert_status(200);
    assert_eq!(
        b_app_events.body["events"],
        json!([]),
        "{}",
        b_app_events.body
    );
    // Every request the certificate made was A's app's, by the certificate.
    let a_app_events = s
        .get(&format!("/v1/activity?principal={}", a.app), &a.key)
        .await?;
    let events = a_app_events.body["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(events.len(), 5, "{}", a_app_events.body);
    for event in &events {
        assert_eq!(
            (event["auth_method"].as_str(), event["credential"].as_str()),
            (
                Some("client_certificate"),
                Some(format!("sha256:{fingerprint}").as_str())
            ),
            "{event}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn rules_under_a_proven_ca_win_over_another_account_trusting_the_same_ca_without_its_key()
-> TestResult {
    let s = TestServer::start().await?;
    let (a, b) = two_tenants(&s).await?;
    let ca = TestCa::new("Tenant A Issuing CA")?;
    let ca_proof = prove(&ca.pem, &ca.key_pem, &a.id)?;
    let trusted = trust(&s, &a, ca_with("issuer", &ca, &ca_proof)).await?;
    assert_created(&trusted, true);
    let listed = s.get("/v1/trusted-cas", &a.key).await?;
    assert_eq!(listed.body[0]["proven"], json!(true), "{}", listed.body);
    let rule = bind(&s, &a, ca_rule(&trusted, "san", "DNS:edge.a.test")).await?;
    assert_created(&rule, true);
    let cert = ca.issue("edge", "edge.a.test", -1, 30)?;
    assert_eq!(seen_as(&s, &cert).await?, Some(a.ring.clone()));

    // B trusts the same CA without its key, binds the same rule and pins the certificate.
    let b_trusted = trust(&s, &b, json!({"name": "copy", "certificate": ca.pem})).await?;
    assert_created(&b_trusted, false);
    let b_rule = bind(&s, &b, ca_rule(&b_trusted, "san", "DNS:edge.a.test")).await?;
    assert_created(&b_rule, false);
    let b_pin = bind(&s, &b, json!({"certificate": cert.cert_pem})).await?;
    assert_created(&b_pin, false);
    assert_eq!(seen_as(&s, &cert).await?, Some(a.ring.clone()));
    // A certificate the CA issues later is A's as well.
    let next = ca.issue("edge", "edge.a.test", -1, 30)?;
    assert_eq!(seen_as(&s, &next).await?, Some(a.ring.clone()));

    // A's CA proof does not verify in B.
    let replayed = trust(&s, &b, ca_with("replayed", &ca, &ca_proof)).await?;
    replayed.assert_error(400, "invalid_input");
    let b_cas = s.get("/v1/trusted-cas", &b.key).await?;
    assert_eq!(b_cas.array_len(), Some(1), "{}", b_cas.body);
    Ok(())
}

#[tokio::test]
async fn a_proven_pin_of_the_certificate_wins_over_a_rule_under_a_ca_proven_in_another_account()
-> TestResult {
    let s = TestServer::start().await?;
    let (a, b) = two_tenants(&s).await?;
    // B runs the CA that issued A's certificate, proves it, and binds a rule matching it.
    let ca = TestCa::new("Tenant B Issuing CA")?;
    let trusted = trust(&s, &b, proven_ca("own", &ca, &b.id)?).await?;
    assert_created(&trusted, true);
    let rule = bind(&s, &b, ca_rule(&trusted, "subject", "CN=edge")).await?;
    assert_created(&rule, true);
    let issued_to_a = ca.issue("edge", "edge.a.test", -1, 30)?;
    assert_eq!(
        seen_as(&s, &issued_to_a).await?,
        Some(b.ring.clone()),
        "B's rule, while nobody proved the certificate itself"
    );

    // The holder of the certificate's own key proves it in A: the CA's key cannot compete.
    let pinned = bind(&s, &a, proven_pin(&issued_to_a, &a.id)?).await?;
    assert_created(&pinned, true);
    assert_eq!(seen_as(&s, &issued_to_a).await?, Some(a.ring.clone()));
    // B's rule still serves every certificate nobody pinned with a proof.
    let issued_to_b = ca.issue("edge", "edge.b.test", -1, 30)?;
    assert_eq!(seen_as(&s, &issued_to_b).await?, Some(b.ring.clone()));
    Ok(())
}

#[tokio::test]
async fn a_second_proven_registration_in_another_account_is_a_409_that_names_no_account()
-> TestResult {
    let s = TestServer::start().await?;
    let (a, b) = two_tenants(&s).await?;
    let cert = self_signed_client("shared")?;
    let bound = bind(&s, &a, proven_pin(&cert, &a.id)?).await?;
    assert_created(&bound, true);

    // Only the key holder can make a proof for B; it still may not make the certificate
    // proven in two accounts.
    let second = bind(&s, &b, proven_pin(&cert, &b.id)?).await?;
    second.assert_error(409, "conflict");
    let said = message(&second);
    assert!(
        said.contains("proof of possession") && said.contains("another account"),
        "{said}"
    );
    assert!(!said.contains(&a.id) && !said.contains(&a.app), "{said}");
    assert_eq!(proven_flags(&s, &b).await?, Vec::<Value>::new());
    assert_eq!(seen_as(&s, &cert).await?, Some(a.ring.clone()));

    // The same for a trusted CA.
    let ca = TestCa::new("Shared CA")?;
    let ca_for_a = prove(&ca.pem, &ca.key_pem, &a.id)?;
    let ca_for_b = prove(&ca.pem, &ca.key_pem, &b.id)?;
    let trusted = trust(&s, &a, ca_with("shared", &ca, &ca_for_a)).await?;
    assert_created(&trusted, true);
    let again = trust(&s, &b, ca_with("shared", &ca, &ca_for_b)).await?;
    again.assert_error(409, "conflict");
    assert!(!message(&again).contains(&a.id), "{}", message(&again));
    assert_eq!(s.get("/v1/trusted-cas", &b.key).await?.body, json!([]));
    Ok(())
}

#[tokio::test]
async fn a_certificate_proven_in_an_account_that_was_closed_can_be_proven_in_another() -> TestResult
{
    let clock = std::sync::Arc::new(coffer::clock::ManualClock::starting_now());
    let shared = std::sync::Arc::clone(&clock);
    let s = TestServer::start_with(move |c| c.clock = shared).await?;
    let (a, b) = two_tenants(&s).await?;
    let cert = self_signed_client("moving")?;
    let ca = TestCa::new("Moving CA")?;
    let pinned = bind(&s, &b, proven_pin(&cert, &b.id)?).await?;
    assert_created(&pinned, true);
    let trusted = trust(&s, &b, proven_ca("moving", &ca, &b.id)?).await?;
    assert_created(&trusted, true);
    let a_pin = proven_pin(&cert, &a.id)?;
    let a_ca = proven_ca("moving", &ca, &a.id)?;
    assert_eq!(bind(&s, &a, a_pin.clone()).await?.status, 409);
    assert_eq!(trust(&s, &a, a_ca.clone()).await?.status, 409);

    // B closes (a deletion request, the wait, the confirmation).
    let path = format!("/v1/accounts/{}", b.id);
    let requested = s
        .post(&format!("{path}/deletion"), &b.key, json!({}))
        .await?;
    requested.assert_status(202);
    clock.advance(std::time::Duration::from_secs(7 * 86_400 + 1));
    let closed = s.delete(&path, &b.key).await?;
    closed.assert_status(204);

    let moved = bind(&s, &a, a_pin).await?;
    assert_created(&moved, true);
    let moved_ca = trust(&s, &a, a_ca).await?;
    assert_created(&moved_ca, true);
    assert_eq!(seen_as(&s, &cert).await?, Some(a.ring.clone()));
    Ok(())
}

#[tokio::test]
async fn two_unproven_bindings_in_two_accounts_are_ambiguous_until_the_key_holder_proves_one()
-> TestResult {
    let s = TestServer::start().await?;
    let (a, b) = two_tenants(&s).await?;
    let cert = self_signed_client("edge")?;
    let first = bind(&s, &a, json!({"certificate": cert.cert_pem})).await?;
    assert_created(&first, false);
    assert_eq!(seen_as(&s, &cert).await?, Some(a.ring.clone()));
    // Without proofs nobody can tell whose certificate it is: a 401, as documented.
    let second = bind(&s, &b, json!({"certificate": cert.cert_pem})).await?;
    assert_created(&second, false);
    assert_eq!(seen_as(&s, &cert).await?, None, "ambiguous");
    // The key holder's proof settles it.
    let proven = bind(&s, &a, proven_pin(&cert, &a.id)?).await?;
    assert_created(&proven, true);
    let unbind = s
        .delete(
            &format!("/v1/apps/{}/certificates/{}", a.app, first.str("id")),
            &a.key,
        )
        .await?;
    unbind.assert_status(204);
    assert_eq!(seen_as(&s, &cert).await?, Some(a.ring.clone()));
    Ok(())
}
