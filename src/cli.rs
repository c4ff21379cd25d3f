//! The `coffer` command line: `serve`, the offline commands (`init`, `migrate`,
//! `hsm check`), and operator commands that go through the HTTPS API like any client.

mod identity;
mod keys;
mod machines;

use crate::app::{self, AppConfig, TlsFiles};
use crate::dev::{BootstrapFile, DevLayout, write_private};
use crate::hsm::HsmSettings;
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "coffer",
    version,
    about = "HSM-backed key management service and its operator CLI"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How log lines are written to stderr: `text` for people, `json` (one object a line).
    #[arg(long, global = true, env = "COFFER_LOG_FORMAT", default_value = "text")]
    pub log_format: crate::app::LogFormat,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Production bootstrap: create the first account and owner, print the owner key once.
    Init(InitArgs),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Check that the configured HSM token can be opened and logged in to.
    Hsm {
        #[command(subcommand)]
        command: HsmCommand,
    },
    /// Keyrings: create, list, show, encrypt, decrypt, rotate, config, keys, ...
    Keyring {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: KeyringCommand,
    },
    /// Log in with email and password (COFFER_PASSWORD or stdin): prints a session token.
    Login {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: identity::LoginArgs,
    },
    /// Your login sessions; `session logout` ends the current one.
    Session {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: identity::SessionCommand,
    },
    /// Change your password, or set one with a reset token.
    Password {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: identity::PasswordCommand,
    },
    /// Accounts: create, list, show, rename, delete (two steps).
    Account {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: identity::AccountCommand,
    },
    /// Users of the account and their roles.
    User {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: identity::UserCommand,
    },
    /// Groups, their HSM master keys and their members.
    Group {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: identity::GroupCommand,
    },
    /// Machines: apps that sign every request with an Ed25519 key kept on the machine.
    Machine {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: machines::MachineCommand,
    },
    /// Apps (non-human clients) and their client certificates.
    App {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: identity::AppCommand,
    },
    /// CAs trusted to issue client certificates.
    TrustedCa {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: identity::TrustedCaCommand,
    },
    /// Certificates here, without the API: `certificate proof` signs a proof of possession.
    Certificate {
        #[command(subcommand)]
        command: identity::LocalCertificateCommand,
    },
    /// The revocation list of client certificates.
    Revocation {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: identity::RevocationCommand,
    },
    /// API keys.
    Apikey {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Asymmetric keys in the HSM: create, import, sign, verify, decrypt, public, csr, rotate, ...
    Key {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: keys::KeyCommand,
    },
    /// Every security object you can see: keyrings, key pairs, public keys, certificates.
    Objects {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        filter: keys::ObjectArgs,
    },
    /// The audit trail, newest first.
    Activity {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        filter: ActivityArgs,
    },
}

#[derive(Args)]
pub struct HsmArgs {
    /// PKCS#11 module path.
    #[arg(long, env = "COFFER_HSM_MODULE", default_value = crate::dev::SOFTHSM_MODULE)]
    pub hsm_module: PathBuf,
    /// Token label (the token is found by label, never by slot id).
    #[arg(long, env = "COFFER_HSM_TOKEN")]
    pub hsm_token: Option<String>,
    /// File holding the user PIN. Alternatively set COFFER_HSM_PIN. Never a flag value.
    #[arg(long, env = "COFFER_HSM_PIN_FILE")]
    pub hsm_pin_file: Option<PathBuf>,
    /// HSM worker threads for cryptographic operations, each with its own session.
    #[arg(long, env = "COFFER_HSM_THREADS", default_value_t = 2)]
    pub hsm_threads: usize,
    /// Longest wait for one HSM operation, in milliseconds; then the request is a 503.
    #[arg(long, env = "COFFER_HSM_TIMEOUT_MS", default_value_t = 2_000)]
    pub hsm_timeout_ms: u64,
    /// Longest wait for one key generation in the HSM, in milliseconds.
    #[arg(long, env = "COFFER_HSM_KEYGEN_TIMEOUT_MS", default_value_t = 30_000)]
    pub hsm_keygen_timeout_ms: u64,
}

impl HsmArgs {
    /// The settings for the token at `module`/`token_label`, with this command's tuning.
    fn settings(&self, module: PathBuf, token_label: String, pin: SecretString) -> HsmSettings {
        let mut settings = HsmSettings::new(module, token_label, pin);
        settings.threads = self.hsm_threads;
        settings.call_timeout = Duration::from_millis(self.hsm_timeout_ms);
        settings.keygen_timeout = Duration::from_millis(self.hsm_keygen_timeout_ms);
        settings
    }
}

#[derive(Args)]
pub struct DbArgs {
    /// SQLite database file.
    #[arg(long, env = "COFFER_DATABASE")]
    pub database: PathBuf,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Development mode: SoftHSM token, SQLite, TLS and the first account under --data-dir.
    #[arg(long)]
    pub dev: bool,
    #[arg(long, env = "COFFER_DATA_DIR", default_value = "./coffer-data")]
    pub data_dir: PathBuf,
    #[arg(long, env = "COFFER_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Serve plain HTTP (loopback addresses only), e.g. behind a TLS-terminating sidecar.
    #[arg(long)]
    pub plain_http: bool,
    #[command(flatten)]
    pub hsm: HsmArgs,
    /// SQLite database file (production; dev mode uses `<data-dir>/coffer.db`).
    #[arg(long, env = "COFFER_DATABASE")]
    pub database: Option<PathBuf>,
    #[arg(long, env = "COFFER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, env = "COFFER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub limits: ListenerArgs,
}

/// The listener's time limits and connection caps (defaults in the README).
#[derive(Args)]
pub struct ListenerArgs {
    /// Seconds a client has to send a request's headers (HTTP/1.1; also the keep-alive wait).
    #[arg(long, env = "COFFER_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body.
    #[arg(long, env = "COFFER_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Seconds a connection may stay silent before it is closed.
    #[arg(long, env = "COFFER_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Open connections allowed from one source address.
    #[arg(long, env = "COFFER_MAX_CONNECTIONS_PER_SOURCE", default_value_t = 256)]
    pub max_connections_per_source: usize,
    /// Open connections allowed in total.
    #[arg(long, env = "COFFER_MAX_CONNECTIONS", default_value_t = 8_192)]
    pub max_connections: usize,
    /// Seconds the service has to answer a request once its body is read (then 503).
    #[arg(long, env = "COFFER_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub request_timeout_secs: u64,
}

impl ListenerArgs {
    fn settings(&self) -> crate::http::listener::ListenerSettings {
        crate::http::listener::ListenerSettings {
            header_read_timeout: Duration::from_secs(self.header_timeout_secs),
            body_read_timeout: Duration::from_secs(self.body_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_connections_per_source: self.max_connections_per_source,
            max_connections: self.max_connections,
            ..Default::default()
        }
    }
}

#[derive(Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub hsm: HsmArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[arg(long, default_value = "default")]
    pub account_name: String,
    #[arg(long)]
    pub owner_email: String,
}

#[derive(Subcommand)]
pub enum HsmCommand {
    /// Open the token, log in, create the system keys if missing, report.
    Check(HsmArgs),
}

/// How the CLI reaches the API. Without flags or environment, `./coffer-data/bootstrap.json`
/// (or the file named by COFFER_BOOTSTRAP) supplies all three.
#[derive(Args)]
pub struct ClientArgs {
    #[arg(long, env = "COFFER_URL", global = true)]
    pub url: Option<String>,
    #[arg(long, env = "COFFER_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Prefer the COFFER_API_KEY environment variable: flag values show in `ps`.
    #[arg(long, env = "COFFER_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    #[arg(
        long,
        env = "COFFER_BOOTSTRAP",
        default_value = "./coffer-data/bootstrap.json",
        global = true
    )]
    pub bootstrap: PathBuf,
    /// A TLS client certificate (PEM) bound to an app: authenticates without an API key.
    #[arg(
        long,
        env = "COFFER_CLIENT_CERT",
        global = true,
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, env = "COFFER_CLIENT_KEY", global = true)]
    pub client_key: Option<PathBuf>,
    /// A machine identity directory (`~/.coffer/accounts/<account-id>`, written by `coffer
    /// machine bootstrap` or `install`): every request is signed with its Ed25519 key.
    #[arg(long, env = "COFFER_MACHINE_IDENTITY", global = true)]
    pub machine_identity: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum KeyringCommand {
    Create {
        name: String,
        #[arg(long)]
        group: String,
        #[arg(long, default_value = "envelope")]
        protection: String,
        #[arg(long)]
        rotation_period_days: Option<u32>,
        #[arg(long)]
        max_encrypt_count: Option<u64>,
        #[arg(long)]
        cache_ttl_seconds: Option<u32>,
    },
    List,
    Show {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Take a deleted keyring out of the trash (within 30 days of its deletion).
    Restore {
        name: String,
    },
    /// Encrypt stdin (or --in FILE); prints the ciphertext.
    Encrypt(CryptoArgs),
    /// Decrypt a ciphertext read from stdin (or --in FILE); writes the plaintext bytes.
    Decrypt(CryptoArgs),
    /// Re-encrypt a ciphertext (stdin or --in) under the current version.
    Rewrap(CryptoArgs),
    /// Generate a data key; prints JSON with the plaintext and the wrapped key.
    Datakey {
        name: String,
        #[arg(long, default_value_t = 32)]
        bytes: u32,
        #[arg(long = "context", value_parser = parse_pair)]
        context: Vec<(String, String)>,
    },
    Rotate {
        name: String,
    },
    /// Show the configuration, or change it when any option is given.
    Config {
        name: String,
        #[arg(long)]
        enabled: Option<bool>,
        #[arg(long)]
        min_decryption_version: Option<u32>,
        /// Days, or "none".
        #[arg(long)]
        rotation_period_days: Option<String>,
        /// A count, or "none".
        #[arg(long)]
        max_encrypt_count: Option<String>,
        #[arg(long)]
        cache_ttl_seconds: Option<u32>,
    },
    Keys {
        name: String,
    },
    /// Resolve a ciphertext key reference (hex).
    Hash {
        name: String,
        hash: String,
    },
}

#[derive(Args)]
pub struct CryptoArgs {
    name: String,
    /// Read the input from this file instead of stdin.
    #[arg(long = "in")]
    input: Option<PathBuf>,
    /// Encryption context entry, repeatable.
    #[arg(long = "context", value_parser = parse_pair)]
    context: Vec<(String, String)>,
}

#[derive(Subcommand)]
pub enum ApikeyCommand {
    /// Create a key; prints it once.
    Create {
        #[arg(long)]
        principal: String,
        #[arg(long)]
        name: String,
        /// PATTERN (grant) or PATTERN=false (deny), repeatable.
        #[arg(long = "flag", required = true)]
        flags: Vec<String>,
    },
    List,
    Show {
        id: String,
    },
    Disable {
        id: String,
    },
    /// Replace a key's flags with narrower ones.
    Flags {
        id: String,
        #[arg(long = "flag", required = true)]
        flags: Vec<String>,
    },
}

#[derive(Args)]
pub struct ActivityArgs {
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
    #[arg(long)]
    principal: Option<String>,
    #[arg(long)]
    object: Option<String>,
    #[arg(long)]
    action: Option<String>,
    #[arg(long)]
    outcome: Option<String>,
    #[arg(long)]
    before: Option<i64>,
    #[arg(long)]
    limit: Option<u32>,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))
}

fn parse_flags(items: &[String]) -> anyhow::Result<BTreeMap<String, bool>> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            None => Ok((item.clone(), true)),
            Some((pattern, "true")) => Ok((pattern.to_owned(), true)),
            Some((pattern, "false")) => Ok((pattern.to_owned(), false)),
            Some(_) => bail!("flag {item:?}: write PATTERN, PATTERN=true or PATTERN=false"),
        })
        .collect()
}

/// Reads the PIN from COFFER_HSM_PIN or the pin file; never from a flag value.
fn hsm_settings(args: &HsmArgs) -> anyhow::Result<HsmSettings> {
    let token_label = args
        .hsm_token
        .clone()
        .context("set COFFER_HSM_TOKEN (or --hsm-token) to the token label")?;
    let pin = match (&args.hsm_pin_file, std::env::var("COFFER_HSM_PIN")) {
        (Some(file), _) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the PIN file {}", file.display()))?
            .trim_end()
            .to_owned(),
        (None, Ok(pin)) => pin,
        (None, Err(_)) => {
            bail!("set COFFER_HSM_PIN or COFFER_HSM_PIN_FILE to the token's user PIN")
        }
    };
    Ok(args.settings(
        args.hsm_module.clone(),
        token_label,
        SecretString::from(pin),
    ))
}

/// Prepares dev-mode files that must exist before the PKCS#11 library loads, and returns
/// the SoftHSM configuration path to export. Call before any thread is started.
pub fn dev_softhsm_conf(args: &ServeArgs) -> anyhow::Result<Option<PathBuf>> {
    if !args.dev {
        return Ok(None);
    }
    let layout = DevLayout::new(&args.data_dir)?;
    layout.prepare_hsm_files()?;
    Ok(Some(layout.softhsm_conf()))
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let tls_from_flags = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None) => None,
        _ => bail!("give both --tls-cert and --tls-key"),
    };
    let (config, layout) = if args.dev {
        let layout = DevLayout::new(&args.data_dir)?;
        let token = layout.prepare_hsm_files()?;
        let prepared = tokio::task::spawn_blocking({
            let layout = DevLayout::new(&layout.data_dir)?;
            move || layout.ensure_token(&token).map(|()| token)
        });
        let token = prepared.await??;
        let hsm = args.hsm.settings(
            token.module.into(),
            token.token_label,
            SecretString::from(token.user_pin),
        );
        let tls = if args.plain_http {
            None
        } else {
            Some(
                tls_from_flags
                    .clone()
                    .map_or_else(|| layout.ensure_tls(), Ok)?,
            )
        };
        (AppConfig::new(hsm, layout.database(), tls), Some(layout))
    } else {
        let database = args
            .database
            .clone()
            .context("set COFFER_DATABASE (or --database), or use --dev")?;
        let tls = match (args.plain_http, tls_from_flags) {
            (true, _) => None,
            (false, Some(tls)) => Some(tls),
            (false, None) => {
                bail!("HTTPS needs --tls-cert and --tls-key (or --plain-http on loopback)")
            }
        };
        (
            AppConfig::new(hsm_settings(&args.hsm)?, database, tls),
            None,
        )
    };
    let mut config = config;
    config.listener = args.limits.settings();
    config.request_timeout = Duration::from_secs(args.limits.request_timeout_secs);
    let running = app::start(config, listener).await?;
    if let Some(layout) = layout {
        dev_bootstrap(&running, &layout).await?;
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// First dev start: create the account and owner and write `bootstrap.json` (never again).
async fn dev_bootstrap(running: &app::Running, layout: &DevLayout) -> anyhow::Result<()> {
    if running.service.is_bootstrapped().await? {
        return Ok(());
    }
    let done = running
        .service
        .bootstrap("dev", crate::dev::DEV_OWNER_EMAIL)
        .await?;
    let file = BootstrapFile {
        account_id: done.account_id,
        api_key: done.api_key.reveal().to_owned(),
        ca_cert: layout.ca_cert().display().to_string(),
        url: running.url.clone(),
        owner_email: Some(done.owner_email),
        setup_token: Some(done.setup_token.reveal().to_owned()),
    };
    write_private(&layout.bootstrap_file(), &serde_json::to_vec_pretty(&file)?)
        .with_context(|| format!("cannot write {}", layout.bootstrap_file().display()))?;
    eprintln!(
        "coffer: first start; the owner's API key is in {}",
        layout.bootstrap_file().display()
    );
    Ok(())
}

async fn init(args: InitArgs) -> anyhow::Result<()> {
    app::install_crypto_provider();
    let core = app::open(
        hsm_settings(&args.hsm)?,
        &args.db.database,
        Default::default(),
        std::sync::Arc::new(crate::clock::SystemClock),
        Default::default(),
    )
    .await?;
    let outcome = async {
        if core.service.is_bootstrapped().await? {
            bail!("this database already has an account; init runs once");
        }
        let done = core
            .service
            .bootstrap(&args.account_name, &args.owner_email)
            .await?;
        println!(
            "{}",
            json!({
                "account_id": done.account_id,
                "user_id": done.user_id,
                "owner_email": done.owner_email,
                "api_key": done.api_key.reveal(),
                "setup_token": done.setup_token.reveal(),
            })
        );
        Ok(())
    }
    .await;
    core.close().await;
    outcome
}

/// Runs the command line. Returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Init(args) => init(args).await,
        Command::Migrate(args) => {
            crate::store::SqliteStore::open(
                &args.database,
                crate::audit::AuditSettings::default().timeout,
            )
            .await?;
            println!("migrations applied to {}", args.database.display());
            Ok(())
        }
        Command::Hsm {
            command: HsmCommand::Check(args),
        } => {
            let settings = hsm_settings(&args)?;
            let label = settings.token_label.clone();
            let hsm = tokio::task::spawn_blocking(move || crate::hsm::Pkcs11Hsm::connect(settings))
                .await??;
            let pepper = crate::service::APIKEY_PEPPER_LABEL;
            crate::hsm::Hsm::ensure_hmac_key(&hsm, pepper).await?;
            crate::hsm::Hsm::hmac_sha256(&hsm, pepper, b"check".to_vec()).await?;
            hsm.close();
            println!("HSM token {label:?}: logged in, system keys present");
            Ok(())
        }
        Command::Keyring { client, command } => keyring(&Client::new(&client)?, command).await,
        Command::Login { client, args } => {
            identity::login(&Client::anonymous(&client)?, args).await
        }
        Command::Session { client, command } => {
            identity::session(&Client::new(&client)?, command).await
        }
        Command::Password { client, command } => {
            identity::password_command(&Client::anonymous(&client)?, command).await
        }
        Command::Account { client, command } => {
            identity::account(&Client::new(&client)?, command).await
        }
        Command::User { client, command } => identity::user(&Client::new(&client)?, command).await,
        Command::Group { client, command } => {
            identity::group(&Client::new(&client)?, command).await
        }
        Command::App { client, command } => identity::app(&Client::new(&client)?, command).await,
        Command::TrustedCa { client, command } => {
            identity::trusted_ca(&Client::new(&client)?, command).await
        }
        Command::Certificate { command } => identity::local_certificate(command),
        Command::Revocation { client, command } => {
            identity::revocation(&Client::new(&client)?, command).await
        }
        Command::Apikey { client, command } => apikey(&Client::new(&client)?, command).await,
        Command::Key { client, command } => keys::key(&Client::new(&client)?, command).await,
        Command::Objects { client, filter } => keys::objects(&Client::new(&client)?, filter).await,
        Command::Activity { client, filter } => activity(&Client::new(&client)?, filter).await,
        Command::Machine { client, command } => machines::machine(&client, command).await,
    }
}

/// An authenticated HTTPS client for the API.
struct Client {
    http: reqwest::Client,
    url: String,
    /// A bearer token (API key or session token); `None` when a machine key, a client
    /// certificate (or nothing, for login) authenticates.
    api_key: Option<SecretString>,
    /// A machine identity that signs every request.
    signer: Option<machines::Signer>,
}

impl Client {
    /// A client that needs a credential: a bearer token or a client certificate.
    fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let client = Self::anonymous(args)?;
        if client.api_key.is_none() && client.signer.is_none() && args.client_cert.is_none() {
            bail!(
                "set COFFER_API_KEY to an API key or session token, or COFFER_MACHINE_IDENTITY to a machine identity, or give --client-cert"
            );
        }
        Ok(client)
    }

    /// A client for routes without a credential (login, password reset); uses one if set.
    fn anonymous(args: &ClientArgs) -> anyhow::Result<Self> {
        let identity = args
            .machine_identity
            .as_deref()
            .map(machines::Identity::load)
            .transpose()?;
        let from_file: Option<BootstrapFile> =
            if args.url.is_none() || args.api_key.is_none() || args.ca_cert.is_none() {
                std::fs::read(&args.bootstrap)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
            } else {
                None
            };
        let url = args
            .url
            .clone()
            .or_else(|| identity.as_ref().and_then(|i| i.url.clone()))
            .or_else(|| from_file.as_ref().map(|f| f.url.clone()));
        let url = url
            .context("set COFFER_URL (or --url), or run from the directory holding coffer-data/")?;
        let api_key = args
            .api_key
            .clone()
            .or_else(|| from_file.as_ref().map(|f| f.api_key.clone()));
        // An explicit key wins over a machine identity or a client certificate; the
        // bootstrap file's key does not.
        let explicit_key = args.api_key.as_ref().is_some_and(|k| !k.is_empty());
        let api_key = api_key
            .filter(|key| !key.is_empty())
            .filter(|_| explicit_key || (args.client_cert.is_none() && identity.is_none()));
        let ca = args
            .ca_cert
            .clone()
            .or_else(|| identity.as_ref().and_then(|i| i.ca_cert.clone()))
            .or_else(|| from_file.as_ref().map(|f| PathBuf::from(&f.ca_cert)));
        app::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false);
        if let Some(ca) = ca {
            let pem = std::fs::read(&ca)
                .with_context(|| format!("cannot read the CA file {}", ca.display()))?;
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
            let mut pem = std::fs::read(cert).with_context(|| {
                format!("cannot read the client certificate {}", cert.display())
            })?;
            pem.extend(
                std::fs::read(key)
                    .with_context(|| format!("cannot read the client key {}", key.display()))?,
            );
            builder = builder.identity(
                reqwest::Identity::from_pem(&pem)
                    .context("the client certificate or key is not valid PEM")?,
            );
        }
        Ok(Self {
            http: builder.build()?,
            url: url.trim_end_matches('/').to_owned(),
            signer: identity
                .filter(|_| !explicit_key)
                .map(machines::Identity::into_signer)
                .transpose()?,
            api_key: api_key.map(SecretString::from),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        use secrecy::ExposeSecret;
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let body = body.map(|b| serde_json::to_vec(&b)).transpose()?;
        if let Some(signer) = &self.signer {
            for (name, value) in signer.headers(method.as_str(), path, body.as_deref()) {
                request = request.header(name, value);
            }
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.url))?;
        let status = response.status();
        let text = response.text().await?;
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let message = value["error"]["message"]
                .as_str()
                .unwrap_or("request failed");
            let code = value["error"]["code"].as_str().unwrap_or("");
            bail!("{} {code}: {message}", status.as_u16());
        }
        Ok(value)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}

/// A request body without its unset options: the API refuses an explicit `null` where it
/// means nothing, so an option the user did not give is left out.
pub(crate) fn given(mut body: Value) -> Value {
    if let Some(fields) = body.as_object_mut() {
        fields.retain(|_, v| !v.is_null());
    }
    body
}

fn print(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn read_input(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let mut data = Vec::new();
    match path {
        Some(path) => {
            data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => {
            std::io::stdin().read_to_end(&mut data)?;
        }
    }
    Ok(data)
}

fn context_json(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn nullable_number(text: Option<&str>, field: &str) -> anyhow::Result<Option<Value>> {
    Ok(match text {
        None => None,
        Some("none") | Some("null") => Some(Value::Null),
        Some(n) => Some(json!(
            n.parse::<u64>()
                .with_context(|| format!("--{field} takes a number or \"none\""))?
        )),
    })
}

async fn keyring(client: &Client, command: KeyringCommand) -> anyhow::Result<()> {
    match command {
        KeyringCommand::Create {
            name,
            group,
            protection,
            rotation_period_days,
            max_encrypt_count,
            cache_ttl_seconds,
        } => {
            let mut body = json!({"name": name, "group": group, "protection": protection,
                "rotation_period_days": rotation_period_days, "max_encrypt_count": max_encrypt_count});
            if let Some(ttl) = cache_ttl_seconds {
                body["cache_ttl_seconds"] = json!(ttl);
            }
            print(&client.post("/v1/keyrings", body).await?)
        }
        KeyringCommand::List => print(&client.get("/v1/keyrings").await?),
        KeyringCommand::Show { name } => print(&client.get(&format!("/v1/keyrings/{name}")).await?),
        KeyringCommand::Delete { name } => {
            client
                .call(
                    reqwest::Method::DELETE,
                    &format!("/v1/keyrings/{name}"),
                    None,
                )
                .await?;
            eprintln!("keyring {name} moved to the trash");
            Ok(())
        }
        KeyringCommand::Restore { name } => print(
            &client
                .post(&format!("/v1/keyrings/{name}/restore"), json!({}))
                .await?,
        ),
        KeyringCommand::Encrypt(args) => {
            let plaintext = zeroize::Zeroizing::new(read_input(args.input.as_deref())?);
            let body = json!({"plaintext": B64.encode(&plaintext[..]), "context": context_json(&args.context)});
            let out = client
                .post(&format!("/v1/keyrings/{}/encrypt", args.name), body)
                .await?;
            println!("{}", out["ciphertext"].as_str().unwrap_or_default());
            Ok(())
        }
        KeyringCommand::Decrypt(args) => {
            let ciphertext = String::from_utf8(read_input(args.input.as_deref())?)
                .context("the ciphertext is not text")?;
            let body =
                json!({"ciphertext": ciphertext.trim(), "context": context_json(&args.context)});
            let out = client
                .post(&format!("/v1/keyrings/{}/decrypt", args.name), body)
                .await?;
            let plaintext =
                zeroize::Zeroizing::new(B64.decode(out["plaintext"].as_str().unwrap_or_default())?);
            std::io::stdout().write_all(&plaintext)?;
            Ok(())
        }
        KeyringCommand::Rewrap(args) => {
            let ciphertext = String::from_utf8(read_input(args.input.as_deref())?)
                .context("the ciphertext is not text")?;
            let body =
                json!({"ciphertext": ciphertext.trim(), "context": context_json(&args.context)});
            let out = client
                .post(&format!("/v1/keyrings/{}/rewrap", args.name), body)
                .await?;
            println!("{}", out["ciphertext"].as_str().unwrap_or_default());
            Ok(())
        }
        KeyringCommand::Datakey {
            name,
            bytes,
            context,
        } => {
            let body = json!({"bytes": bytes, "context": context_json(&context)});
            print(
                &client
                    .post(&format!("/v1/keyrings/{name}/datakey"), body)
                    .await?,
            )
        }
        KeyringCommand::Rotate { name } => print(
            &client
                .post(&format!("/v1/keyrings/{name}/rotate"), json!({}))
                .await?,
        ),
        KeyringCommand::Config {
            name,
            enabled,
            min_decryption_version,
            rotation_period_days,
            max_encrypt_count,
            cache_ttl_seconds,
        } => {
            let mut patch = serde_json::Map::new();
            if let Some(v) = enabled {
                patch.insert("enabled".into(), json!(v));
            }
            if let Some(v) = min_decryption_version {
                patch.insert("min_decryption_version".into(), json!(v));
            }
            if let Some(v) =
                nullable_number(rotation_period_days.as_deref(), "rotation-period-days")?
            {
                patch.insert("rotation_period_days".into(), v);
            }
            if let Some(v) = nullable_number(max_encrypt_count.as_deref(), "max-encrypt-count")? {
                patch.insert("max_encrypt_count".into(), v);
            }
            if let Some(v) = cache_ttl_seconds {
                patch.insert("cache_ttl_seconds".into(), json!(v));
            }
            let path = format!("/v1/keyrings/{name}/config");
            if patch.is_empty() {
                print(&client.get(&path).await?)
            } else {
                print(&client.patch(&path, Value::Object(patch)).await?)
            }
        }
        KeyringCommand::Keys { name } => {
            print(&client.get(&format!("/v1/keyrings/{name}/keys")).await?)
        }
        KeyringCommand::Hash { name, hash } => print(
            &client
                .get(&format!("/v1/keyrings/{name}/hash/{hash}"))
                .await?,
        ),
    }
}

async fn apikey(client: &Client, command: ApikeyCommand) -> anyhow::Result<()> {
    match command {
        ApikeyCommand::Create {
            principal,
            name,
            flags,
        } => {
            let body = json!({"principal": principal, "name": name, "flags": parse_flags(&flags)?});
            print(&client.post("/v1/auth/apikey", body).await?)
        }
        ApikeyCommand::List => print(&client.get("/v1/auth/apikey").await?),
        ApikeyCommand::Show { id } => print(&client.get(&format!("/v1/auth/apikey/{id}")).await?),
        ApikeyCommand::Disable { id } => print(
            &client
                .patch(&format!("/v1/auth/apikey/{id}"), json!({"disabled": true}))
                .await?,
        ),
        ApikeyCommand::Flags { id, flags } => print(
            &client
                .patch(
                    &format!("/v1/auth/apikey/{id}"),
                    json!({"flags": parse_flags(&flags)?}),
                )
                .await?,
        ),
    }
}

async fn activity(client: &Client, f: ActivityArgs) -> anyhow::Result<()> {
    let mut query: Vec<(&str, String)> = Vec::new();
    let text_filters = [
        ("since", f.since),
        ("until", f.until),
        ("principal", f.principal),
        ("object", f.object),
        ("action", f.action),
        ("outcome", f.outcome),
    ];
    for (name, value) in text_filters {
        if let Some(v) = value {
            query.push((name, v));
        }
    }
    if let Some(v) = f.before {
        query.push(("before", v.to_string()));
    }
    if let Some(v) = f.limit {
        query.push(("limit", v.to_string()));
    }
    let encoded: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    let path = if encoded.is_empty() {
        "/v1/activity".to_owned()
    } else {
        format!("/v1/activity?{}", encoded.join("&"))
    };
    print(&client.get(&path).await?)
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
