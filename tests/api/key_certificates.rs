//! Certificate signing requests made in the HSM and the certificates issued for them:
//! OpenSSL checks the CSRs and, as a throw-away CA, issues the certificates Coffer imports
//! and links to their keys; subjects and subject alternative names are validated by name.

use crate::key_support::*;
use crate::support::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

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
