//! Proofs of possession for client certificates: a proof that does not verify is refused
//! with the reason and stores nothing, proofs made with OpenSSL (as the README shows) and
//! Python `cryptography` are accepted, and the CLI binds, trusts and prints proofs.

use crate::cert_support::*;
use crate::expect::cli;
use crate::support::{ClientCert, TestCa, TestResult, TestServer, b64};
use crate::support::{self_signed_client, unb64};
use serde_json::{Value, json};

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
