//! Client certificates across accounts: a certificate is public, so binding one proves
//! nothing; a proof of possession of its key does. No account can take over, or lock out,
//! another account's certificate login (hardening issue, item 10).

use crate::expect::cli;
use crate::support::{ClientCert, Reply, TestCa, TestResult, TestServer, b64};
use crate::support::{self_signed_client, unb64};
use coffer::crypto::possession::KeyHolder;
use coffer::crypto::x509::parse_certificates;
use reqwest::Method;
use serde_json::{Value, json};

/// An account seen from its owner: its id, owner key, and one app in a group holding one
/// keyring. The keyrings a certificate sees tell which app it authenticated as.
struct Tenant {
    id: String,
    key: String,
    app: String,
    ring: String,
}

async fn tenant(s: &TestServer, key: String, label: &str) -> anyhow::Result<Tenant> {
    let accounts = s.get("/v1/accounts", &key).await?;
    let id = accounts.body[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let group = s
        .post(
            "/v1/groups",
            &key,
            json!({"name": format!("{label}-group")}),
        )
        .await?;
    anyhow::ensure!(group.status == 201, "group: {}", group.body);
    let ring = format!("{label}-ring");
    let keyring = s
        .post(
            "/v1/keyrings",
            &key,
            json!({"name": ring, "group": group.str("id")}),
        )
        .await?;
    anyhow::ensure!(keyring.status == 201, "keyring: {}", keyring.body);
    let app = s
        .post(
            "/v1/apps",
            &key,
            json!({"name": format!("{label}-app"), "groups": [group.str("id")]}),
        )
        .await?;
    anyhow::ensure!(app.status == 201, "app: {}", app.body);
    Ok(Tenant {
        id,
        key,
        app: app.str("id"),
        ring,
    })
}

/// Account A (the bootstrap account) and account B, each with an app.
async fn two_tenants(s: &TestServer) -> anyhow::Result<(Tenant, Tenant)> {
    let a = tenant(s, s.owner_key.clone(), "a").await?;
    let other = s.service().bootstrap("b", "owner-b@example.test").await?;
    let b = tenant(s, other.api_key.reveal().to_owned(), "b").await?;
    anyhow::ensure!(a.id != b.id && !b.id.is_empty(), "two accounts");
    Ok((a, b))
}

/// Who `cert` authenticates as: the keyring its app sees, or `None` for a 401.
async fn seen_as(s: &TestServer, cert: &ClientCert) -> anyhow::Result<Option<String>> {
    let client = s.client_presenting(cert)?;
    let reply = s
        .call_as(&client, Method::GET, "/v1/keyrings", None)
        .await?;
    match reply.status {
        401 => Ok(None),
        200 => {
            let names = reply.column("name");
            anyhow::ensure!(names.len() == 1, "one keyring per app: {}", reply.body);
            Ok(Some(names[0].to_owned()))
        }
        other => anyhow::bail!("unexpected {other}: {}", reply.body),
    }
}

fn fingerprint_of(pem: &str) -> anyhow::Result<String> {
    Ok(parse_certificates(pem.as_bytes())
        .map_err(|e| anyhow::anyhow!(e))?
        .remove(0)
        .fingerprint)
}

/// A proof of possession of `key_pem` (the key of `cert_pem`) for `account`, base64.
fn prove(cert_pem: &str, key_pem: &str, account: &str) -> anyhow::Result<String> {
    let cert = parse_certificates(cert_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!(e))?
        .remove(0);
    let holder = KeyHolder::new(&cert, key_pem).map_err(|e| anyhow::anyhow!(e))?;
    Ok(b64(&holder
        .prove(account)
        .map_err(|e| anyhow::anyhow!(e))?))
}

async fn bind(s: &TestServer, tenant: &Tenant, body: Value) -> anyhow::Result<Reply> {
    s.post(
        &format!("/v1/apps/{}/certificates", tenant.app),
        &tenant.key,
        body,
    )
    .await
}

async fn trust(s: &TestServer, tenant: &Tenant, body: Value) -> anyhow::Result<Reply> {
    s.post("/v1/trusted-cas", &tenant.key, body).await
}

/// (status, proven) of a binding or trusted CA reply.
fn outcome(reply: &Reply) -> (u16, Value) {
    (reply.status, reply.body["proven"].clone())
}

/// A pin of `cert` with `proof`.
fn pin(cert: &ClientCert, proof: &str) -> Value {
    json!({"certificate": cert.cert_pem, "proof": proof})
}

/// A pin of `cert` with its key holder's proof for `account`.
fn proven_pin(cert: &ClientCert, account: &str) -> anyhow::Result<Value> {
    Ok(pin(cert, &prove(&cert.cert_pem, &cert.key_pem, account)?))
}

/// A rule matching certificates under the trusted CA `trusted` whose `field` is `value`.
fn ca_rule(trusted: &Reply, field: &str, value: &str) -> Value {
    json!({"ca": trusted.str("id"), field: value})
}

/// A trusted CA named `name` with `proof`.
fn ca_with(name: &str, ca: &TestCa, proof: &str) -> Value {
    json!({"name": name, "certificate": ca.pem, "proof": proof})
}

/// A trusted CA named `name` with the CA key holder's proof for `account`.
fn proven_ca(name: &str, ca: &TestCa, account: &str) -> anyhow::Result<Value> {
    Ok(ca_with(name, ca, &prove(&ca.pem, &ca.key_pem, account)?))
}

/// Fails the test unless `reply` created a binding or trusted CA whose `proven` is `proven`.
#[track_caller]
fn assert_created(reply: &Reply, proven: bool) {
    assert_eq!(outcome(reply), (201, json!(proven)), "{}", reply.body);
}

fn message(reply: &Reply) -> String {
    reply.message().to_owned()
}

/// The proven flags of an app's bindings, in order.
async fn proven_flags(s: &TestServer, tenant: &Tenant) -> anyhow::Result<Vec<Value>> {
    let creds = s
        .get(&format!("/v1/apps/{}/credentials", tenant.app), &tenant.key)
        .await?;
    Ok(creds.body["certificates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["proven"].clone())
        .collect())
}

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
async fn a_proof_that_does_not_verify_is_a_400_that_says_why_and_nothing_is_stored() -> TestResult {
    let s = TestServer::start().await?;
    let a = tenant(&s, s.owner_key.clone(), "a").await?;
    let cert = self_signed_client("edge")?;
    let other = self_signed_client("other")?;
    let ca = TestCa::new("Unproven CA")?;
    let good = prove(&cert.cert_pem, &cert.key_pem, &a.id)?;
    let expected = format!(
        "coffer-possession-proof:v1:{}:{}",
        a.id,
        fingerprint_of(&cert.cert_pem)?
    );
    let bind_path = format!("/v1/apps/{}/certificates", a.app);
    let cases: Vec<(&str, Value, String)> = vec![
        (
            &bind_path,
            json!({"certificate": cert.cert_pem, "proof": "not base64!"}),
            "proof is not valid standard base64".into(),
        ),
        (
            &bind_path,
            json!({"certificate": cert.cert_pem, "proof": b64(b"not a signature")}),
            expected.clone(),
        ),
        (
            &bind_path,
            json!({"certificate": cert.cert_pem,
                   "proof": prove(&other.cert_pem, &other.key_pem, &a.id)?}),
            "not a signature by the certificate's private key".into(),
        ),
        (
            &bind_path,
            json!({"certificate": cert.cert_pem,
                   "proof": prove(&cert.cert_pem, &cert.key_pem, "acct_000000000000000000000000")?}),
            "made for another account".into(),
        ),
        (
            &bind_path,
            json!({"fingerprint": fingerprint_of(&cert.cert_pem)?, "proof": good}),
            "a \"proof\" goes with a \"certificate\" only".into(),
        ),
        (
            &bind_path,
            json!({"ca": "ca_000000000000000000000000", "subject": "CN=edge", "proof": good}),
            "a CA rule is proven by its trusted CA".into(),
        ),
        (
            &bind_path,
            json!({"certificate": cert.cert_pem, "proof": null}),
            "`proof` cannot be null".into(),
        ),
        (
            "/v1/trusted-cas",
            json!({"name": "ca", "certificate": ca.pem, "proof": b64(&[0u8; 64])}),
            "ECDSA P-256 with SHA-256".into(),
        ),
        (
            "/v1/trusted-cas",
            json!({"name": "ca", "certificate": ca.pem, "proof": good}),
            "proof: ".into(),
        ),
    ];
    for (path, body, says) in &cases {
        let reply = s.post(path, &a.key, body.clone()).await?;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "invalid_input"),
            "{path} {body}: {}",
            reply.body
        );
        assert!(
            message(&reply).contains(says.as_str()),
            "{path}: {:?} should say {says:?}",
            message(&reply)
        );
    }
    assert_eq!(proven_flags(&s, &a).await?, Vec::<Value>::new());
    assert_eq!(s.get("/v1/trusted-cas", &a.key).await?.body, json!([]));
    assert_eq!(seen_as(&s, &cert).await?, None);
    Ok(())
}

/// What the README gives a key holder to make a proof with OpenSSL; `-sha256` is
/// `-sha384` for a P-384 key.
const README_OPENSSL_PROOF: &str = r#"fingerprint=$(openssl x509 -in "$CERT" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)
printf 'coffer-possession-proof:v1:%s:%s' "$ACCOUNT" "$fingerprint" | openssl dgst -sha256 -sign "$KEY" | openssl base64 -A"#;

/// The README's variant for Ed25519 keys (`dgst` cannot sign with them).
const README_OPENSSL_ED25519_PROOF: &str = r#"printf 'coffer-possession-proof:v1:%s:%s' "$ACCOUNT" "$fingerprint" > proof-message
openssl pkeyutl -sign -rawin -inkey "$KEY" -in proof-message | openssl base64 -A"#;

/// Runs `script` with sh in `dir`; its stdout.
fn shell(dir: &std::path::Path, script: &str, env: &[(&str, &str)]) -> anyhow::Result<String> {
    let out = std::process::Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// A key and self-signed certificate made by `openssl req`.
fn openssl_certificate(
    dir: &std::path::Path,
    name: &str,
    newkey: &[&str],
) -> anyhow::Result<ClientCert> {
    let (key, cert) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pem")),
    );
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "2", "-subj"])
        .arg(format!("/CN={name}"))
        .args(newkey)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(ClientCert {
        cert_pem: std::fs::read_to_string(cert)?,
        key_pem: std::fs::read_to_string(key)?,
    })
}

/// A key, a self-signed certificate and a proof for `account` made by Python
/// `cryptography`: Ed25519, or P-256 with a raw r||s signature.
const PYTHON_PROOF: &str = r#"
import base64, datetime, json, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

kind, account = sys.argv[1], sys.argv[2]
key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kind)])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, None if kind == "ed25519" else hashes.SHA256()))
message = ("coffer-possession-proof:v1:%s:%s" % (account, cert.fingerprint(hashes.SHA256()).hex())).encode()
if kind == "ed25519":
    proof = key.sign(message)
else:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    proof = r.to_bytes(32, "big") + s.to_bytes(32, "big")
print(json.dumps({
    "certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
    "key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode(),
    "proof": base64.b64encode(proof).decode(),
}))
"#;

#[tokio::test]
async fn proofs_made_with_openssl_and_python_cryptography_are_accepted_and_the_readme_shows_how()
-> TestResult {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    for snippet in [README_OPENSSL_PROOF, README_OPENSSL_ED25519_PROOF] {
        assert!(
            readme.contains(snippet),
            "the README shows, verbatim:\n{snippet}"
        );
    }
    let s = TestServer::start().await?;
    let a = tenant(&s, s.owner_key.clone(), "a").await?;
    let dir = tempfile::tempdir()?;
    let ec = |curve: &str| {
        vec![
            "-newkey".to_owned(),
            "ec".to_owned(),
            "-pkeyopt".to_owned(),
            format!("ec_paramgen_curve:{curve}"),
        ]
    };
    let made: Vec<(&str, Vec<String>, String)> = vec![
        ("p256-der", ec("P-256"), README_OPENSSL_PROOF.to_owned()),
        (
            "p384-der",
            ec("P-384"),
            README_OPENSSL_PROOF.replace("dgst -sha256 -sign", "dgst -sha384 -sign"),
        ),
        (
            "rsa-2048",
            vec!["-newkey".to_owned(), "rsa:2048".to_owned()],
            README_OPENSSL_PROOF.to_owned(),
        ),
        (
            "ed25519-openssl",
            vec!["-newkey".to_owned(), "ed25519".to_owned()],
            format!(
                "{}\n{README_OPENSSL_ED25519_PROOF}",
                README_OPENSSL_PROOF.lines().next().unwrap_or_default()
            ),
        ),
    ];
    let mut certificates = Vec::new();
    for (name, newkey, script) in &made {
        let newkey: Vec<&str> = newkey.iter().map(String::as_str).collect();
        let cert = openssl_certificate(dir.path(), name, &newkey)?;
        let cert_path = dir.path().join(format!("{name}.pem"));
        let key_path = dir.path().join(format!("{name}.key"));
        let proof = shell(
            dir.path(),
            script,
            &[
                ("CERT", cert_path.to_str().unwrap_or_default()),
                ("KEY", key_path.to_str().unwrap_or_default()),
                ("ACCOUNT", &a.id),
            ],
        )?;
        certificates.push((name.to_string(), cert, proof));
    }
    for kind in ["ed25519", "p256"] {
        let out = std::process::Command::new("python3")
            .args(["-c", PYTHON_PROOF, kind, &a.id])
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "python3 (needs `cryptography`): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let made: Value = serde_json::from_slice(&out.stdout)?;
        let proof = made["proof"].as_str().unwrap_or_default().to_owned();
        if kind == "p256" {
            assert_eq!(unb64(&proof).len(), 64, "raw r||s");
        }
        certificates.push((
            format!("python-{kind}"),
            ClientCert {
                cert_pem: made["certificate"].as_str().unwrap_or_default().to_owned(),
                key_pem: made["key"].as_str().unwrap_or_default().to_owned(),
            },
            proof,
        ));
    }
    for (name, cert, proof) in &certificates {
        let bound = bind(
            &s,
            &a,
            json!({"certificate": cert.cert_pem, "proof": proof.trim()}),
        )
        .await?;
        assert_eq!(
            outcome(&bound),
            (201, json!(true)),
            "{name}: {}",
            bound.body
        );
    }
    // The TLS stack takes them as client certificates too.
    for (name, cert, _) in &certificates {
        assert_eq!(
            seen_as(&s, cert).await?,
            Some(a.ring.clone()),
            "{name} authenticates"
        );
    }
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

/// Fails the test unless the CLI succeeded and printed a binding (or trusted CA) whose
/// `proven` is `proven`.
#[track_caller]
fn assert_bound(outcome: (bool, String), proven: bool) {
    let (ok, out) = outcome;
    assert!(ok, "{out}");
    let printed = serde_json::from_str::<Value>(&out).unwrap_or_default();
    assert_eq!(printed["proven"], json!(proven), "{out}");
}

// The CLI runs as a child process calling this process's server: the server needs a
// runtime thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_binds_and_trusts_with_proofs_and_prints_proofs_for_key_holders() -> TestResult {
    let s = TestServer::start().await?;
    let a = tenant(&s, s.owner_key.clone(), "a").await?;
    let owner = [("COFFER_API_KEY", s.owner_key.as_str())];
    let dir = tempfile::tempdir()?;
    let path = |name: &str| {
        dir.path()
            .join(name)
            .to_str()
            .unwrap_or_default()
            .to_owned()
    };
    // Writes `<name>.pem`, and `<name>.key` when there is a key; returns both paths.
    let write = |name: &str, pem: &str, key: Option<&str>| -> anyhow::Result<(String, String)> {
        let (pem_path, key_path) = (path(&format!("{name}.pem")), path(&format!("{name}.key")));
        std::fs::write(&pem_path, pem)?;
        if let Some(key) = key {
            std::fs::write(&key_path, key)?;
        }
        Ok((pem_path, key_path))
    };

    // `generate` binds the new certificate with a proof made with the new key.
    let generate = "app certificate generate {} --cn edge --out {}";
    assert_bound(cli(&s, &owner, generate, &[&a.app, &path("edge")])?, true);
    let generated = ClientCert {
        cert_pem: std::fs::read_to_string(path("edge.pem"))?,
        key_pem: std::fs::read_to_string(path("edge.key"))?,
    };
    assert_eq!(seen_as(&s, &generated).await?, Some(a.ring.clone()));

    // `add --key` proves possession with the key.
    let held = self_signed_client("held")?;
    let (held_pem, held_key) = write("held", &held.cert_pem, Some(&held.key_pem))?;
    let add_with_key = "app certificate add {} --cert {} --key {}";
    assert_bound(
        cli(&s, &owner, add_with_key, &[&a.app, &held_pem, &held_key])?,
        true,
    );

    // A key holder who is not the operator prints a proof; the operator sends it.
    let remote = self_signed_client("remote")?;
    let (remote_pem, remote_key) = write("remote", &remote.cert_pem, Some(&remote.key_pem))?;
    let print_proof = |key: &str| {
        let proof = "certificate proof --cert {} --key {} --account {}";
        cli(&s, &[], proof, &[&remote_pem, key, &a.id])
    };
    let (ok, proof) = print_proof(&remote_key)?;
    assert!(ok, "{proof}");
    assert!(
        proof.trim().lines().count() == 1 && !unb64(proof.trim()).is_empty(),
        "only the base64 proof: {proof}"
    );
    let add_with_proof = "app certificate add {} --cert {} --proof {}";
    let sent = cli(
        &s,
        &owner,
        add_with_proof,
        &[&a.app, &remote_pem, proof.trim()],
    )?;
    assert_bound(sent, true);
    // With someone else's key, no proof is printed.
    let (ok, _) = print_proof(&held_key)?;
    assert!(!ok, "a key that is not the certificate's");

    // `trusted-ca add --key` proves the CA.
    let ca = TestCa::new("CLI CA")?;
    let (ca_pem, ca_key) = write("ca", &ca.pem, Some(&ca.key_pem))?;
    let trust_with_key = "trusted-ca add cli-ca --cert {} --key {}";
    assert_bound(cli(&s, &owner, trust_with_key, &[&ca_pem, &ca_key])?, true);

    // Without a key or a proof the binding is made, unproven.
    let bare = self_signed_client("bare")?;
    let (bare_pem, _) = write("bare", &bare.cert_pem, None)?;
    let add_bare = "app certificate add {} --cert {}";
    assert_bound(cli(&s, &owner, add_bare, &[&a.app, &bare_pem])?, false);
    assert_eq!(
        proven_flags(&s, &a).await?,
        [true, true, true, false].map(|p| json!(p)).to_vec()
    );
    Ok(())
}
