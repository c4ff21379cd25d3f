//! The commands that run without the API: `serve` (with its dev mode), `init`, `migrate`
//! and `hsm check`, and the flags that locate the HSM token, the database and TLS files.

use crate::app::{self, AppConfig, TlsFiles};
use crate::dev::{BootstrapFile, DevLayout, write_private};
use crate::hsm::HsmSettings;
use crate::store::Database;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use secrecy::SecretString;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// The database: a SQLite file path (or `sqlite://PATH`) or a `postgres://` URL.
    #[arg(long, env = "COFFER_DATABASE_URL")]
    pub database: Database,
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
    /// The database: a SQLite file path (or `sqlite://PATH`) or a `postgres://` URL
    /// (required in production; dev mode defaults to `<data-dir>/coffer.db`).
    #[arg(long, env = "COFFER_DATABASE_URL")]
    pub database: Option<Database>,
    #[arg(long, env = "COFFER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, env = "COFFER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub limits: ListenerArgs,
    #[command(flatten)]
    pub trail: TrailArgs,
}

/// The audit trail's checkpoints and retention (see docs/audit.md).
#[derive(Args)]
pub struct TrailArgs {
    /// Seconds between signed checkpoints of every account's chain that moved.
    #[arg(long, env = "COFFER_CHECKPOINT_INTERVAL_SECS", default_value_t = 60)]
    pub checkpoint_interval_secs: u64,
    /// Days audit events are kept; without it they are kept for ever. Pruning stops at a
    /// signed checkpoint, which then anchors the oldest kept event.
    #[arg(long, env = "COFFER_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u64>,
}

impl TrailArgs {
    fn apply(&self, settings: &mut crate::service::ServiceSettings) -> anyhow::Result<()> {
        if self.checkpoint_interval_secs == 0 {
            bail!("--checkpoint-interval-secs must be at least 1");
        }
        settings.checkpoint_every = Duration::from_secs(self.checkpoint_interval_secs);
        settings.audit_retention = match self.audit_retention_days {
            Some(0) => bail!("--audit-retention-days must be at least 1"),
            Some(days) => Some(Duration::from_secs(days * 86_400)),
            None => None,
        };
        Ok(())
    }
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

/// `coffer serve`: start the service and run until SIGINT or SIGTERM.
pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
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
    let (mut config, layout) = if args.dev {
        let (config, layout) = dev_config(&args, tls_from_flags).await?;
        (config, Some(layout))
    } else {
        (production_config(&args, tls_from_flags)?, None)
    };
    config.listener = args.limits.settings();
    config.request_timeout = Duration::from_secs(args.limits.request_timeout_secs);
    args.trail.apply(&mut config.service)?;
    let running = app::start(config, listener).await?;
    if let Some(layout) = layout {
        dev_bootstrap(&running, &layout).await?;
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// Dev mode: a SoftHSM token, the database (unless given) and (unless given or plain
/// HTTP) a TLS certificate, all under `--data-dir`, created on first start.
async fn dev_config(
    args: &ServeArgs,
    tls_from_flags: Option<TlsFiles>,
) -> anyhow::Result<(AppConfig, DevLayout)> {
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
        Some(tls_from_flags.map_or_else(|| layout.ensure_tls(), Ok)?)
    };
    // `--database` overrides the data directory's SQLite file (e.g. dev nodes on PostgreSQL).
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| layout.database().into());
    Ok((AppConfig::new(hsm, database, tls), layout))
}

/// Production: every location is given, and HTTPS unless plain HTTP is asked for.
fn production_config(
    args: &ServeArgs,
    tls_from_flags: Option<TlsFiles>,
) -> anyhow::Result<AppConfig> {
    let database = args
        .database
        .clone()
        .context("set COFFER_DATABASE_URL (or --database), or use --dev")?;
    let tls = match (args.plain_http, tls_from_flags) {
        (true, _) => None,
        (false, Some(tls)) => Some(tls),
        (false, None) => {
            bail!("HTTPS needs --tls-cert and --tls-key (or --plain-http on loopback)")
        }
    };
    Ok(AppConfig::new(hsm_settings(&args.hsm)?, database, tls))
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
        account_id: done.account_id.into(),
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

/// `coffer init`: the production bootstrap, once per database.
pub(super) async fn init(args: InitArgs) -> anyhow::Result<()> {
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

/// `coffer migrate`.
pub(super) async fn migrate(args: DbArgs) -> anyhow::Result<()> {
    crate::store::SqlStore::open(
        &args.database,
        crate::audit::AuditSettings::default().timeout,
    )
    .await?;
    println!("migrations applied to {}", args.database);
    Ok(())
}

/// `coffer hsm check`: log in to the token and make sure the system keys work.
pub(super) async fn hsm_check(args: HsmArgs) -> anyhow::Result<()> {
    let settings = hsm_settings(&args)?;
    let label = settings.token_label.clone();
    let hsm =
        tokio::task::spawn_blocking(move || crate::hsm::Pkcs11Hsm::connect(settings)).await??;
    let pepper = crate::service::APIKEY_PEPPER_LABEL;
    crate::hsm::Hsm::ensure_hmac_key(&hsm, pepper).await?;
    crate::hsm::Hsm::hmac_sha256(&hsm, pepper, b"check".to_vec()).await?;
    hsm.close();
    println!("HSM token {label:?}: logged in, system keys present");
    Ok(())
}
