//! `coffer app certificate|trusted-ca|revocation`: client certificates bound to apps, the
//! CAs trusted to issue them and their revocation, through the API; and `coffer certificate
//! proof`, which proves possession of a certificate's key here, without it.

use super::{Client, POST, delete_then_say, given, print};
use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum CertificateCommand {
    /// Bind a certificate you have (PEM), pinned by its SHA-256 fingerprint. With --key,
    /// checks that the key belongs to the certificate and sends a proof of possession made
    /// with it (a proven binding); with --proof, sends a proof the key holder made with
    /// `coffer certificate proof`. Without either the binding is unproven.
    Add {
        app: String,
        #[arg(long = "cert", visible_alias = "pem")]
        cert: PathBuf,
        #[arg(long, conflicts_with = "proof")]
        key: Option<PathBuf>,
        /// A proof of possession (base64) for this account, from the key holder.
        #[arg(long)]
        proof: Option<String>,
        /// The account the proof is for: yours (found with `account list` when you belong
        /// to one account only).
        #[arg(long)]
        account: Option<String>,
    },
    /// Bind every certificate a trusted CA issues with this subject and/or SAN.
    AddRule {
        app: String,
        #[arg(long)]
        ca: String,
        /// Exact subject, e.g. `CN=edge`.
        #[arg(long)]
        subject: Option<String>,
        /// Exact SAN, e.g. `DNS:edge.example.com`.
        #[arg(long)]
        san: Option<String>,
    },
    /// Generate a P-256 key here and either a self-signed certificate that is bound at once
    /// (pinned, proven with the new key) or, with --csr, a CSR for your CA. Writes
    /// <out>.key (0600) and <out>.pem or <out>.csr.
    Generate {
        app: String,
        #[arg(long)]
        cn: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        csr: bool,
        /// Days of validity of the self-signed certificate.
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// The account the proof is for (as for `add`).
        #[arg(long)]
        account: Option<String>,
    },
    /// Unbind a certificate (it stops authenticating at once).
    Remove { app: String, id: String },
}

/// `coffer certificate`: work on certificates and keys here, without the API.
#[derive(Subcommand)]
pub enum LocalCertificateCommand {
    /// Print a proof of possession (base64) of CERT's private key for ACCOUNT, for the
    /// key holder to hand to whoever binds the certificate (`app certificate add --proof`,
    /// `trusted-ca add --proof`). The key never leaves this machine.
    Proof {
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
        /// The id of the account that will bind the certificate (`acct_…`).
        #[arg(long)]
        account: String,
    },
}

fn with_extension(path: &Path, extension: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The one certificate in `cert_pem`.
fn the_certificate(cert_pem: &str) -> anyhow::Result<crate::crypto::x509::CertificateInfo> {
    let mut certs = crate::crypto::x509::parse_certificates(cert_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("the certificate file: {e}"))?;
    if certs.len() != 1 {
        bail!(
            "the certificate file holds {} certificates; give exactly one",
            certs.len()
        );
    }
    Ok(certs.remove(0))
}

/// The private key in `key_pem`, checked to belong to the certificate in `cert_pem`.
fn key_holder(
    cert_pem: &str,
    key_pem: &str,
) -> anyhow::Result<crate::crypto::possession::KeyHolder> {
    crate::crypto::possession::KeyHolder::new(&the_certificate(cert_pem)?, key_pem)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// A proof of possession for `account`, base64.
fn prove(holder: &crate::crypto::possession::KeyHolder, account: &str) -> anyhow::Result<String> {
    use base64::Engine;
    let proof = holder.prove(account).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(proof))
}

/// The account a proof is for: `given`, or the caller's only account.
async fn proof_account(client: &Client, given: Option<String>) -> anyhow::Result<String> {
    if let Some(account) = given {
        return Ok(account);
    }
    let accounts = client
        .get("/v1/accounts")
        .await
        .context("cannot find your account for the proof of possession; give --account")?;
    match accounts.as_array().map(Vec::as_slice) {
        Some([only]) => only["id"]
            .as_str()
            .map(str::to_owned)
            .context("the account list has no id"),
        Some(list) => {
            let ids: Vec<&str> = list.iter().filter_map(|a| a["id"].as_str()).collect();
            bail!(
                "you belong to several accounts ({}): give --account with the one you are working in",
                ids.join(", ")
            )
        }
        None => bail!("unexpected account list: {accounts}"),
    }
}

/// `coffer certificate proof`.
pub fn local_certificate(command: LocalCertificateCommand) -> anyhow::Result<()> {
    match command {
        LocalCertificateCommand::Proof { cert, key, account } => {
            let key_pem = zeroize::Zeroizing::new(read_text(&key)?);
            let holder = key_holder(&read_text(&cert)?, &key_pem)?;
            println!("{}", prove(&holder, &account)?);
            Ok(())
        }
    }
}

/// The proof of possession to send with `cert_pem`: made here with `key` (checked against
/// the certificate before any request), or the `proof` its key holder made.
async fn proof_to_send(
    client: &Client,
    cert_pem: &str,
    key: Option<PathBuf>,
    proof: Option<String>,
    account: Option<String>,
) -> anyhow::Result<Option<String>> {
    match key {
        Some(key) => {
            let key_pem = zeroize::Zeroizing::new(read_text(&key)?);
            let holder = key_holder(cert_pem, &key_pem)?;
            Ok(Some(prove(
                &holder,
                &proof_account(client, account).await?,
            )?))
        }
        None => Ok(proof),
    }
}

/// `app certificate add`: binds a certificate, with a proof of possession when there is one.
async fn add(
    client: &Client,
    app: &str,
    cert: &Path,
    key: Option<PathBuf>,
    proof: Option<String>,
    account: Option<String>,
) -> anyhow::Result<()> {
    let cert_pem = read_text(cert)?;
    if key.is_none() && proof.is_none() {
        eprintln!(
            "binding without proof of possession (give --key or --proof to prove it): \
             an unproven binding yields to a proven one of the same certificate"
        );
    }
    let proof = proof_to_send(client, &cert_pem, key, proof, account).await?;
    client
        .send(
            POST,
            &format!("/v1/apps/{app}/certificates"),
            given(json!({"certificate": cert_pem, "proof": proof})),
        )
        .await
}

pub(super) async fn certificate(
    client: &Client,
    command: CertificateCommand,
) -> anyhow::Result<()> {
    match command {
        CertificateCommand::Add {
            app,
            cert,
            key,
            proof,
            account,
        } => add(client, &app, &cert, key, proof, account).await,
        CertificateCommand::AddRule {
            app,
            ca,
            subject,
            san,
        } => {
            client
                .send(
                    POST,
                    &format!("/v1/apps/{app}/certificates"),
                    given(json!({"ca": ca, "subject": subject, "san": san})),
                )
                .await
        }
        CertificateCommand::Generate {
            app,
            cn,
            out,
            csr,
            days,
            account,
        } => generate(client, &app, &cn, &out, csr, days, account).await,
        CertificateCommand::Remove { app, id } => {
            delete_then_say(
                client,
                &format!("/v1/apps/{app}/certificates/{id}"),
                &format!("certificate {id} unbound from {app}"),
            )
            .await
        }
    }
}

async fn generate(
    client: &Client,
    app: &str,
    cn: &str,
    out: &Path,
    csr: bool,
    days: i64,
    account: Option<String>,
) -> anyhow::Result<()> {
    // The account the proof is for, before anything is written: a self-signed certificate
    // is bound with a proof at once.
    let account = if csr {
        None
    } else {
        Some(proof_account(client, account).await?)
    };
    let key = rcgen::KeyPair::generate().context("cannot generate a key")?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key_path = with_extension(out, "key");
    crate::dev::write_private(&key_path, key.serialize_pem().as_bytes())
        .with_context(|| format!("cannot write {}", key_path.display()))?;
    if csr {
        let request = params.serialize_request(&key)?;
        let csr_path = with_extension(out, "csr");
        std::fs::write(&csr_path, request.pem()?)?;
        eprintln!(
            "wrote {} and {}; have your CA sign the CSR, then `coffer app certificate add {app} --cert CERT --key {}`",
            key_path.display(),
            csr_path.display(),
            key_path.display()
        );
        return Ok(());
    }
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(days);
    let cert = params.self_signed(&key)?;
    let cert_path = with_extension(out, "pem");
    std::fs::write(&cert_path, cert.pem())?;
    let account = account.context("a bound certificate has an account")?;
    let key_pem = zeroize::Zeroizing::new(key.serialize_pem());
    let proof = prove(&key_holder(&cert.pem(), &key_pem)?, &account)?;
    let bound = client
        .post(
            &format!("/v1/apps/{app}/certificates"),
            json!({"certificate": cert.pem(), "proof": proof}),
        )
        .await?;
    eprintln!(
        "wrote {} and {}; use them with --client-cert and --client-key",
        cert_path.display(),
        key_path.display()
    );
    print(&bound)
}

#[derive(Subcommand)]
pub enum TrustedCaCommand {
    /// Trust a CA certificate (PEM) for client certificates. With --key (the CA's private
    /// key) or --proof, the CA is proven, and so is every rule bound under it.
    Add {
        name: String,
        #[arg(long = "cert", visible_alias = "pem")]
        cert: PathBuf,
        #[arg(long, conflicts_with = "proof")]
        key: Option<PathBuf>,
        /// A proof of possession (base64) for this account, from the CA's key holder.
        #[arg(long)]
        proof: Option<String>,
        /// The account the proof is for (as for `app certificate add`).
        #[arg(long)]
        account: Option<String>,
    },
    List,
}

pub async fn trusted_ca(client: &Client, command: TrustedCaCommand) -> anyhow::Result<()> {
    match command {
        TrustedCaCommand::Add {
            name,
            cert,
            key,
            proof,
            account,
        } => {
            let certificate = read_text(&cert)?;
            let proof = proof_to_send(client, &certificate, key, proof, account).await?;
            client
                .send(
                    POST,
                    "/v1/trusted-cas",
                    given(json!({"name": name, "certificate": certificate, "proof": proof})),
                )
                .await
        }
        TrustedCaCommand::List => client.show("/v1/trusted-cas").await,
    }
}

#[derive(Subcommand)]
pub enum RevocationCommand {
    /// Revoke a client certificate, by PEM file or SHA-256 fingerprint.
    Add {
        #[arg(long, conflicts_with = "fingerprint")]
        pem: Option<PathBuf>,
        #[arg(long)]
        fingerprint: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    List,
}

pub async fn revocation(client: &Client, command: RevocationCommand) -> anyhow::Result<()> {
    match command {
        RevocationCommand::Add {
            pem,
            fingerprint,
            reason,
        } => {
            let mut body: Value = given(json!({"reason": reason}));
            match (pem, fingerprint) {
                (Some(pem), None) => {
                    body["certificate"] = json!(
                        std::fs::read_to_string(&pem)
                            .with_context(|| format!("cannot read {}", pem.display()))?
                    );
                }
                (None, Some(fp)) => body["fingerprint"] = json!(fp),
                _ => bail!("give --pem or --fingerprint"),
            }
            client.send(POST, "/v1/revocations", body).await
        }
        RevocationCommand::List => client.show("/v1/revocations").await,
    }
}
