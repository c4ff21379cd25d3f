//! `coffer login|logout|session|password|account|user|group|app|trusted-ca|revocation`:
//! people, groups, apps and their credentials, through the API; `coffer certificate proof`
//! without it.

use super::{Client, print};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Reads a password: from the environment variable `var` if set, else one line of stdin.
/// Never a flag value (flags show in `ps`).
fn password(var: &str) -> anyhow::Result<String> {
    if let Ok(value) = std::env::var(var) {
        return Ok(value);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        bail!("no password: set {var} or write it on stdin");
    }
    Ok(line)
}

#[derive(Args)]
pub struct LoginArgs {
    #[arg(long)]
    pub email: String,
    /// Account id (`coffer account list` shows yours).
    #[arg(long)]
    pub account: String,
    /// Print only the session token (for `export COFFER_API_KEY=$(coffer login ...)`).
    #[arg(long)]
    pub token_only: bool,
}

/// `coffer login`: the password comes from COFFER_PASSWORD or stdin.
pub async fn login(client: &Client, args: LoginArgs) -> anyhow::Result<()> {
    let body = json!({"email": args.email, "password": password("COFFER_PASSWORD")?, "account": args.account});
    let session = client.post("/v1/auth/login", body).await?;
    if args.token_only {
        println!("{}", session["session_token"].as_str().unwrap_or_default());
        Ok(())
    } else {
        print(&session)
    }
}

#[derive(Subcommand)]
pub enum SessionCommand {
    /// Your sessions in this account.
    List,
    /// Revoke one of your sessions.
    Revoke { id: String },
    /// End the session COFFER_API_KEY holds.
    Logout,
}

pub async fn session(client: &Client, command: SessionCommand) -> anyhow::Result<()> {
    match command {
        SessionCommand::List => print(&client.get("/v1/auth/sessions").await?),
        SessionCommand::Revoke { id } => {
            client.delete(&format!("/v1/auth/sessions/{id}")).await?;
            eprintln!("session {id} revoked");
            Ok(())
        }
        SessionCommand::Logout => {
            client.post("/v1/auth/logout", json!({})).await?;
            eprintln!("logged out");
            Ok(())
        }
    }
}

#[derive(Subcommand)]
pub enum PasswordCommand {
    /// Change your password: COFFER_PASSWORD (current) and COFFER_NEW_PASSWORD, or two
    /// stdin lines. Every session ends.
    Change,
    /// Set a new password with a reset token (COFFER_NEW_PASSWORD or stdin).
    Reset {
        #[arg(long)]
        token: String,
    },
}

pub async fn password_command(client: &Client, command: PasswordCommand) -> anyhow::Result<()> {
    match command {
        PasswordCommand::Change => {
            let current = password("COFFER_PASSWORD")?;
            let new = password("COFFER_NEW_PASSWORD")?;
            client
                .post(
                    "/v1/auth/password",
                    json!({"current_password": current, "new_password": new}),
                )
                .await?;
        }
        PasswordCommand::Reset { token } => {
            let new = password("COFFER_NEW_PASSWORD")?;
            client
                .post(
                    "/v1/auth/password-reset",
                    json!({"token": token, "new_password": new}),
                )
                .await?;
        }
    }
    eprintln!("password changed; log in again");
    Ok(())
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Create an account; you become its owner.
    Create {
        name: String,
    },
    /// The accounts you belong to.
    List,
    Show {
        id: String,
    },
    Rename {
        id: String,
        name: String,
    },
    /// Request the deletion (step one); `--confirm` closes it once due, `--cancel` cancels.
    Delete {
        id: String,
        #[arg(long, conflicts_with = "cancel")]
        confirm: bool,
        #[arg(long)]
        cancel: bool,
    },
}

pub async fn account(client: &Client, command: AccountCommand) -> anyhow::Result<()> {
    match command {
        AccountCommand::Create { name } => {
            print(&client.post("/v1/accounts", json!({"name": name})).await?)
        }
        AccountCommand::List => print(&client.get("/v1/accounts").await?),
        AccountCommand::Show { id } => print(&client.get(&format!("/v1/accounts/{id}")).await?),
        AccountCommand::Rename { id, name } => print(
            &client
                .patch(&format!("/v1/accounts/{id}"), json!({"name": name}))
                .await?,
        ),
        AccountCommand::Delete {
            id,
            confirm,
            cancel,
        } => {
            let path = format!("/v1/accounts/{id}");
            if confirm {
                client.delete(&path).await?;
                eprintln!("account {id} closed; its HSM keys are destroyed");
                Ok(())
            } else if cancel {
                print(&client.delete(&format!("{path}/deletion")).await?)
            } else {
                print(&client.post(&format!("{path}/deletion"), json!({})).await?)
            }
        }
    }
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user to the account. With --with-password, the new user's password comes
    /// from COFFER_NEW_PASSWORD or stdin.
    Add {
        email: String,
        /// owner, admin, member or auditor.
        #[arg(long)]
        role: String,
        #[arg(long)]
        with_password: bool,
    },
    List,
    Show {
        id: String,
    },
    /// Change a member's role, or suspend / unsuspend them.
    Update {
        id: String,
        #[arg(long)]
        role: Option<String>,
        #[arg(long, conflicts_with = "unsuspend")]
        suspend: bool,
        #[arg(long)]
        unsuspend: bool,
    },
    /// Remove a member from the account (the user stays).
    Remove {
        id: String,
    },
    /// Issue a one-time password-reset token (printed once).
    ResetPassword {
        id: String,
    },
}

pub async fn user(client: &Client, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            email,
            role,
            with_password,
        } => {
            let mut body = json!({"email": email, "role": role});
            if with_password {
                body["password"] = json!(password("COFFER_NEW_PASSWORD")?);
            }
            print(&client.post("/v1/users", body).await?)
        }
        UserCommand::List => print(&client.get("/v1/users").await?),
        UserCommand::Show { id } => print(&client.get(&format!("/v1/users/{id}")).await?),
        UserCommand::Update {
            id,
            role,
            suspend,
            unsuspend,
        } => {
            let mut body = json!({});
            if let Some(role) = role {
                body["role"] = json!(role);
            }
            if suspend || unsuspend {
                body["suspended"] = json!(suspend);
            }
            print(&client.patch(&format!("/v1/users/{id}"), body).await?)
        }
        UserCommand::Remove { id } => {
            client.delete(&format!("/v1/users/{id}")).await?;
            eprintln!("user {id} removed from the account");
            Ok(())
        }
        UserCommand::ResetPassword { id } => print(
            &client
                .post(&format!("/v1/users/{id}/password-reset"), json!({}))
                .await?,
        ),
    }
}

#[derive(Subcommand)]
pub enum GroupCommand {
    Create {
        name: String,
    },
    List,
    Show {
        id: String,
    },
    Rename {
        id: String,
        name: String,
    },
    /// Delete a group; --force moves the objects it holds to the trash first.
    Delete {
        id: String,
        #[arg(long)]
        force: bool,
    },
    /// Users (with group role) and apps (with operations) of a group.
    Members {
        id: String,
    },
    /// Put a user in the group with a role: member or auditor.
    AddUser {
        group: String,
        user: String,
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Assign an app to the group with its operations (repeatable; default all).
    AddApp {
        group: String,
        app: String,
        /// encrypt, decrypt, sign, verify, wrap, unwrap, mac, export, manage-objects.
        #[arg(long = "operation")]
        operations: Vec<String>,
    },
    /// Take a user (usr_…) or an app (app_…) out of the group.
    RemoveMember {
        group: String,
        member: String,
    },
}

pub async fn group(client: &Client, command: GroupCommand) -> anyhow::Result<()> {
    match command {
        GroupCommand::Create { name } => {
            print(&client.post("/v1/groups", json!({"name": name})).await?)
        }
        GroupCommand::List => print(&client.get("/v1/groups").await?),
        GroupCommand::Show { id } => print(&client.get(&format!("/v1/groups/{id}")).await?),
        GroupCommand::Rename { id, name } => print(
            &client
                .patch(&format!("/v1/groups/{id}"), json!({"name": name}))
                .await?,
        ),
        GroupCommand::Delete { id, force } => {
            client
                .delete(&format!("/v1/groups/{id}?force={force}"))
                .await?;
            eprintln!("group {id} deleted");
            Ok(())
        }
        GroupCommand::Members { id } => {
            print(&client.get(&format!("/v1/groups/{id}/members")).await?)
        }
        GroupCommand::AddUser { group, user, role } => print(
            &client
                .put(
                    &format!("/v1/groups/{group}/users/{user}"),
                    json!({"role": role}),
                )
                .await?,
        ),
        GroupCommand::AddApp {
            group,
            app,
            operations,
        } => {
            let operations: Vec<String> = if operations.is_empty() {
                crate::authz::Operation::ALL
                    .iter()
                    .map(|o| o.as_str().to_owned())
                    .collect()
            } else {
                operations
            };
            print(
                &client
                    .put(
                        &format!("/v1/groups/{group}/apps/{app}"),
                        json!({"operations": operations}),
                    )
                    .await?,
            )
        }
        GroupCommand::RemoveMember { group, member } => {
            let kind = if member.starts_with("app_") {
                "apps"
            } else {
                "users"
            };
            client
                .delete(&format!("/v1/groups/{group}/{kind}/{member}"))
                .await?;
            eprintln!("{member} removed from group {group}");
            Ok(())
        }
    }
}

#[derive(Subcommand)]
pub enum AppCommand {
    Create {
        name: String,
        /// Group id, repeatable (every operation; narrow with `group add-app`).
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    List,
    Show {
        id: String,
    },
    /// Rename, disable or enable an app.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
    },
    Delete {
        id: String,
    },
    /// API keys (metadata) and client certificates of an app.
    Credentials {
        id: String,
    },
    /// Client certificates of an app.
    Certificate {
        #[command(subcommand)]
        command: CertificateCommand,
    },
}

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

async fn certificate(client: &Client, command: CertificateCommand) -> anyhow::Result<()> {
    match command {
        CertificateCommand::Add {
            app,
            cert,
            key,
            proof,
            account,
        } => {
            let cert_pem = read_text(&cert)?;
            let proof = match (key, proof) {
                (Some(key), _) => {
                    // The key is checked against the certificate before any request.
                    let key_pem = zeroize::Zeroizing::new(read_text(&key)?);
                    let holder = key_holder(&cert_pem, &key_pem)?;
                    Some(prove(&holder, &proof_account(client, account).await?)?)
                }
                (None, Some(proof)) => Some(proof),
                (None, None) => {
                    eprintln!(
                        "binding without proof of possession (give --key or --proof to prove it): \
                         an unproven binding yields to a proven one of the same certificate"
                    );
                    None
                }
            };
            print(
                &client
                    .post(
                        &format!("/v1/apps/{app}/certificates"),
                        crate::cli::given(json!({"certificate": cert_pem, "proof": proof})),
                    )
                    .await?,
            )
        }
        CertificateCommand::AddRule {
            app,
            ca,
            subject,
            san,
        } => print(
            &client
                .post(
                    &format!("/v1/apps/{app}/certificates"),
                    crate::cli::given(json!({"ca": ca, "subject": subject, "san": san})),
                )
                .await?,
        ),
        CertificateCommand::Generate {
            app,
            cn,
            out,
            csr,
            days,
            account,
        } => generate(client, &app, &cn, &out, csr, days, account).await,
        CertificateCommand::Remove { app, id } => {
            client
                .delete(&format!("/v1/apps/{app}/certificates/{id}"))
                .await?;
            eprintln!("certificate {id} unbound from {app}");
            Ok(())
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

pub async fn app(client: &Client, command: AppCommand) -> anyhow::Result<()> {
    match command {
        AppCommand::Create { name, groups } => print(
            &client
                .post("/v1/apps", json!({"name": name, "groups": groups}))
                .await?,
        ),
        AppCommand::List => print(&client.get("/v1/apps").await?),
        AppCommand::Show { id } => print(&client.get(&format!("/v1/apps/{id}")).await?),
        AppCommand::Update {
            id,
            name,
            disable,
            enable,
        } => {
            let mut body = json!({});
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            if disable || enable {
                body["enabled"] = json!(enable);
            }
            print(&client.patch(&format!("/v1/apps/{id}"), body).await?)
        }
        AppCommand::Delete { id } => {
            client.delete(&format!("/v1/apps/{id}")).await?;
            eprintln!("app {id} deleted");
            Ok(())
        }
        AppCommand::Credentials { id } => {
            print(&client.get(&format!("/v1/apps/{id}/credentials")).await?)
        }
        AppCommand::Certificate { command } => certificate(client, command).await,
    }
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
            let proof = match (key, proof) {
                (Some(key), _) => {
                    let key_pem = zeroize::Zeroizing::new(read_text(&key)?);
                    let holder = key_holder(&certificate, &key_pem)?;
                    Some(prove(&holder, &proof_account(client, account).await?)?)
                }
                (None, proof) => proof,
            };
            print(
                &client
                    .post(
                        "/v1/trusted-cas",
                        crate::cli::given(
                            json!({"name": name, "certificate": certificate, "proof": proof}),
                        ),
                    )
                    .await?,
            )
        }
        TrustedCaCommand::List => print(&client.get("/v1/trusted-cas").await?),
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
            let mut body: Value = crate::cli::given(json!({"reason": reason}));
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
            print(&client.post("/v1/revocations", body).await?)
        }
        RevocationCommand::List => print(&client.get("/v1/revocations").await?),
    }
}
