//! Client certificates authenticate the apps they are bound to and nothing else, and the
//! CLI drives login, people, groups and certificate authentication through the binary.

use crate::identity_support::PASSWORD;
use crate::support::{ClientCert, TestCa, TestResult, TestServer, self_signed_client};
use reqwest::Method;
use serde_json::{Value, json};

async fn status_with(s: &TestServer, cert: &ClientCert) -> anyhow::Result<u16> {
    let client = s.client_presenting(cert)?;
    Ok(s.call_as(&client, Method::GET, "/v1/keyrings", None)
        .await?
        .status)
}

#[tokio::test]
async fn client_certificates_authenticate_bound_apps_and_nothing_else() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("mtls").await?;
    s.keyring("mtls-ring", &group, json!({})).await?;
    let app = s
        .owner_post("/v1/apps", json!({"name": "edge", "groups": [group]}))
        .await?
        .str("id");

    // Pinned: the certificate works once bound, and stops when unbound (rotation).
    let old = self_signed_client("edge-old")?;
    assert_eq!(status_with(&s, &old).await?, 401, "unbound");
    let bound = s
        .owner_post(
            &format!("/v1/apps/{app}/certificates"),
            json!({"certificate": old.cert_pem}),
        )
        .await?;
    bound.assert_status(201);
    let client = s.client_presenting(&old)?;
    let sealed = s
        .call_as(
            &client,
            Method::POST,
            "/v1/keyrings/mtls-ring/encrypt",
            Some(json!({"plaintext": "aGk="})),
        )
        .await?;
    sealed.assert_status(200);
    let fingerprint = bound.str("fingerprint");

    let new = self_signed_client("edge-new")?;
    // The new one is pinned by its fingerprint alone, colon-separated as openssl prints it.
    let new_fingerprint = coffer::crypto::x509::parse_certificates(new.cert_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!(e))?[0]
        .fingerprint
        .clone();
    let colons: Vec<String> = new_fingerprint
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_uppercase())
        .collect();
    let pinned = s
        .owner_post(
            &format!("/v1/apps/{app}/certificates"),
            json!({"fingerprint": colons.join(":")}),
        )
        .await?;
    assert_eq!(
        pinned.str("fingerprint"),
        new_fingerprint,
        "{}",
        pinned.body
    );
    let unbind = s
        .delete(
            &format!("/v1/apps/{app}/certificates/{}", bound.str("id")),
            &s.owner_key,
        )
        .await?;
    unbind.assert_status(204);
    assert_eq!(
        status_with(&s, &old).await?,
        401,
        "old certificate after rotation"
    );
    assert_eq!(
        status_with(&s, &new).await?,
        200,
        "new certificate after rotation"
    );

    // A bearer token wins over the certificate: the first credential present decides.
    let with_bad_bearer = client
        .get(format!("{}/v1/keyrings", s.url))
        .bearer_auth("ck_nonsense")
        .send()
        .await?;
    assert_eq!(with_bad_bearer.status().as_u16(), 401);

    // Trusted CA plus subject/SAN rule.
    let ca = TestCa::new("Coffer Test Client CA")?;
    let trusted = s
        .owner_post(
            "/v1/trusted-cas",
            json!({"name": "clients", "certificate": ca.pem}),
        )
        .await?;
    trusted.assert_status(201);
    let rule = s
        .owner_post(
            &format!("/v1/apps/{app}/certificates"),
            json!({"ca": trusted.str("id"), "san": "DNS:edge.clients.test"}),
        )
        .await?;
    rule.assert_status(201);
    let good = ca.issue("edge", "edge.clients.test", -1, 30)?;
    assert_eq!(status_with(&s, &good).await?, 200);
    let mismatched = ca.issue("edge", "other.clients.test", -1, 30)?;
    assert_eq!(
        status_with(&s, &mismatched).await?,
        401,
        "SAN does not match"
    );
    let expired = ca.issue("edge", "edge.clients.test", -30, -1)?;
    assert_eq!(status_with(&s, &expired).await?, 401, "expired");
    let stranger =
        TestCa::new("Coffer Test Client CA")?.issue("edge", "edge.clients.test", -1, 30)?;
    assert_eq!(
        status_with(&s, &stranger).await?,
        401,
        "same CA name, other key"
    );

    // Revocation.
    let revoked = s
        .owner_post(
            "/v1/revocations",
            json!({"certificate": good.cert_pem, "reason": "laptop lost"}),
        )
        .await?;
    revoked.assert_status(201);
    assert_eq!(status_with(&s, &good).await?, 401, "revoked");

    // The audit event names the method and the fingerprint.
    let activity = s
        .get("/v1/activity?action=keyring.encrypt", &s.owner_key)
        .await?;
    let event = &activity.body["events"][0];
    assert_eq!(
        event["auth_method"], "client_certificate",
        "{}",
        activity.body
    );
    assert_eq!(event["credential"], json!(format!("sha256:{fingerprint}")));
    Ok(())
}

// The CLI runs as a child process calling this process's server: the server needs a
// runtime thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_logs_in_manages_people_and_groups_and_authenticates_with_a_certificate()
-> TestResult {
    use crate::support::run_cli;
    let s = TestServer::start().await?;
    let account = s.account_id().await?;
    let owner = [("COFFER_API_KEY", s.owner_key.as_str())];
    let (ok, out) = run_cli(
        &s,
        &owner,
        &["user", "invite", "ops@example.test", "--role", "admin"],
        None,
    )?;
    assert!(ok && out.contains("\"admin\""), "{out}");
    let invited: Value = serde_json::from_str(&out)?;
    let token = invited["token"].as_str().unwrap_or_default();
    let (ok, out) = run_cli(
        &s,
        &[],
        &["invitation", "accept", "--token", token, "--password-stdin"],
        Some(format!("{PASSWORD}\n").as_bytes()),
    )?;
    assert!(ok && out.contains("\"admin\""), "{out}");

    let (ok, token) = run_cli(
        &s,
        &[("COFFER_PASSWORD", PASSWORD)],
        &[
            "login",
            "--email",
            "ops@example.test",
            "--account",
            &account,
            "--token-only",
        ],
        None,
    )?;
    assert!(ok && token.starts_with("cs_sess_"), "{token}");
    let session = [("COFFER_API_KEY", token.trim())];
    let (ok, out) = run_cli(&s, &session, &["group", "create", "cli-group"], None)?;
    assert!(ok, "{out}");
    let group: Value = serde_json::from_str(&out)?;
    let group = group["id"].as_str().unwrap_or_default().to_owned();
    s.keyring("cli-ring", &group, json!({})).await?;
    let (ok, out) = run_cli(
        &s,
        &session,
        &["app", "create", "cli-app", "--group", &group],
        None,
    )?;
    assert!(ok, "{out}");
    let app: Value = serde_json::from_str(&out)?;
    let app = app["id"].as_str().unwrap_or_default().to_owned();
    let (ok, out) = run_cli(
        &s,
        &session,
        &["group", "add-app", &group, &app, "--operation", "encrypt"],
        None,
    )?;
    assert!(
        ok && out.contains("encrypt") && !out.contains("decrypt"),
        "{out}"
    );

    let dir = tempfile::tempdir()?;
    let stem = dir.path().join("edge");
    let stem = stem.to_str().unwrap_or_default();
    let (ok, out) = run_cli(
        &s,
        &session,
        &[
            "app",
            "certificate",
            "generate",
            &app,
            "--cn",
            "edge",
            "--out",
            stem,
        ],
        None,
    )?;
    assert!(ok && out.contains("\"pinned\""), "{out}");
    let cert = format!("{stem}.pem");
    let key = format!("{stem}.key");
    // An empty COFFER_API_KEY counts as none: the certificate authenticates.
    let as_app = [
        ("COFFER_API_KEY", ""),
        ("COFFER_CLIENT_CERT", cert.as_str()),
        ("COFFER_CLIENT_KEY", key.as_str()),
    ];
    let (ok, out) = run_cli(&s, &as_app, &["keyring", "list"], None)?;
    assert!(ok && out.contains("cli-ring"), "{out}");

    // A certificate and a key that do not belong together are refused before any request.
    let other = self_signed_client("other")?;
    let other_pem = dir.path().join("other.pem");
    std::fs::write(&other_pem, other.cert_pem)?;
    let (ok, _) = run_cli(
        &s,
        &session,
        &[
            "app",
            "certificate",
            "add",
            &app,
            "--pem",
            other_pem.to_str().unwrap_or_default(),
            "--key",
            &key,
        ],
        None,
    )?;
    assert!(!ok, "mismatched key and certificate");

    let (ok, out) = run_cli(&s, &session, &["account", "list"], None)?;
    assert!(ok && out.contains(&account), "{out}");
    let (ok, _) = run_cli(&s, &session, &["session", "logout"], None)?;
    assert!(ok);
    let (ok, _) = run_cli(&s, &session, &["user", "list"], None)?;
    assert!(!ok, "the session ended");
    Ok(())
}
