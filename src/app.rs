//! Composition root: configuration → running server. The only module that names concrete
//! types (`Pkcs11Hsm`, `SqlStore`). Start-up order: HSM, database, audit, service,
//! listener. Shutdown order: stop accepting, finish in-flight requests, flush the audit
//! trail, close the HSM.

use crate::audit::{AuditSettings, AuditSink};
use crate::clock::{Clock, SystemClock};
use crate::hsm::{Hsm, HsmSettings, Pkcs11Hsm};
use crate::http::listener::{ConnectionLimits, GuardedAcceptor, ListenerSettings};
use crate::http::{AppState, Metrics};
use crate::service::{Service, ServiceSettings};
use crate::store::{Database, SqlStore, Store};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Certificate chain and private key of the HTTPS listener, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Default of [`AppConfig::request_timeout`]: twice the HSM's key-generation deadline, so
/// that only a request stuck beyond every deadline of its own is cut.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything needed to run the service.
pub struct AppConfig {
    pub hsm: HsmSettings,
    /// A SQLite file or a PostgreSQL URL.
    pub database: Database,
    /// `None` serves plain HTTP; only allowed on loopback (checked by [`start`]).
    pub tls: Option<TlsFiles>,
    pub audit: AuditSettings,
    pub service: ServiceSettings,
    /// Time limits and connection caps of the listener.
    pub listener: ListenerSettings,
    /// How long the service may take to answer a request once its body is read; past it
    /// the answer is a 503. Above every deadline inside (the HSM's key generation: 30 s).
    pub request_timeout: Duration,
    /// How often scheduled rotation and trash purge run.
    pub maintenance_every: Duration,
    pub clock: Arc<dyn Clock>,
}

impl AppConfig {
    /// Defaults for everything but where the HSM and the database are.
    pub fn new(hsm: HsmSettings, database: impl Into<Database>, tls: Option<TlsFiles>) -> Self {
        Self {
            hsm,
            database: database.into(),
            tls,
            audit: AuditSettings::default(),
            service: ServiceSettings::default(),
            listener: ListenerSettings::default(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            maintenance_every: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
        }
    }
}

/// A server that is accepting requests.
pub struct Running {
    pub service: Arc<Service>,
    pub local_addr: SocketAddr,
    pub url: String,
    handle: axum_server::Handle<SocketAddr>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    maintenance: tokio::task::JoinHandle<()>,
    /// Applies the other nodes' cache changes (see `Service::follow_changes`).
    changes: tokio::task::JoinHandle<()>,
    /// Works background jobs (see `Service::work_jobs`).
    jobs: tokio::task::JoinHandle<()>,
    /// Chains mutations' audit events and signs checkpoints (see `Service::keep_trail`).
    trail: tokio::task::JoinHandle<()>,
    /// Matches audit events to alert rules and delivers webhooks (`Service::work_alerts`).
    alerts: tokio::task::JoinHandle<()>,
    audit: crate::audit::AuditCommitter,
    hsm: Arc<Pkcs11Hsm>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event, with the span's fields in front.
    #[default]
    Text,
    /// One JSON object per line, for log collectors; the request span's fields (request id,
    /// method, route, principal) are under `span`.
    Json,
}

/// Installs the process's log subscriber: stderr, filtered by `COFFER_LOG` (default
/// `info`), in `format`.
pub fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("COFFER_LOG").unwrap_or_else(|_| "info".into());
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// Installs the process-wide rustls crypto provider (ring); later calls are no-ops.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Starts the service on `listener`.
pub async fn start(config: AppConfig, listener: std::net::TcpListener) -> anyhow::Result<Running> {
    let local_addr = listener.local_addr()?;
    if config.tls.is_none() && !local_addr.ip().is_loopback() {
        anyhow::bail!("plain HTTP is allowed only on a loopback address, not {local_addr}");
    }
    install_crypto_provider();
    let Core {
        service,
        hsm,
        audit,
    } = open(
        config.hsm,
        &config.database,
        config.audit,
        config.clock,
        config.service,
    )
    .await?;
    let maintenance = tokio::spawn(maintain(Arc::clone(&service), config.maintenance_every));
    let changes = tokio::spawn({
        let service = Arc::clone(&service);
        async move { service.follow_changes().await }
    });
    let jobs = tokio::spawn({
        let service = Arc::clone(&service);
        async move { service.work_jobs().await }
    });
    let trail = tokio::spawn({
        let service = Arc::clone(&service);
        async move { service.keep_trail().await }
    });
    let alerts = tokio::spawn({
        let service = Arc::clone(&service);
        async move { service.work_alerts().await }
    });

    let limits = &config.listener;
    let connections = connection_limits(limits);
    let state = AppState {
        service: Arc::clone(&service),
        metrics: Arc::new(Metrics::default()),
        connections: Arc::clone(&connections),
        body_read_timeout: limits.body_read_timeout,
        request_timeout: config.request_timeout,
    };
    let app = crate::http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let (server, scheme) = serve(
        listener,
        limits,
        config.tls.as_ref(),
        connections,
        handle.clone(),
        app,
    )?;
    let host = if local_addr.ip().is_loopback() && local_addr.is_ipv4() {
        "127.0.0.1".to_owned()
    } else {
        local_addr.ip().to_string()
    };
    let url = format!("{scheme}://{host}:{}", local_addr.port());
    tracing::info!(%url, "coffer is serving");
    Ok(Running {
        service,
        local_addr,
        url,
        handle,
        server,
        maintenance,
        changes,
        jobs,
        trail,
        alerts,
        audit,
        hsm,
    })
}

/// The connection caps: the configured ones, with the total lowered to what the process's
/// open-file limit allows.
fn connection_limits(limits: &ListenerSettings) -> Arc<ConnectionLimits> {
    let open_files = crate::http::listener::raise_open_file_limit();
    // Each connection is a file descriptor; keep some for the database, the HSM and logs.
    let max_connections = open_files.map_or(limits.max_connections, |files| {
        limits
            .max_connections
            .min(usize::try_from(files.saturating_sub(256)).unwrap_or(usize::MAX))
    });
    tracing::info!(
        open_files,
        max_connections,
        per_source = limits.max_connections_per_source,
        "listener limits"
    );
    Arc::new(ConnectionLimits::new(
        limits.max_connections_per_source,
        max_connections,
    ))
}

type App = axum::extract::connect_info::IntoMakeServiceWithConnectInfo<axum::Router, SocketAddr>;

/// Serves `app` on `listener` (TLS when configured) in a task; returns it and the scheme.
fn serve(
    listener: std::net::TcpListener,
    limits: &ListenerSettings,
    tls: Option<&TlsFiles>,
    connections: Arc<ConnectionLimits>,
    handle: axum_server::Handle<SocketAddr>,
    app: App,
) -> anyhow::Result<(tokio::task::JoinHandle<std::io::Result<()>>, &'static str)> {
    listener.set_nonblocking(true)?;
    let mut server = axum_server::from_tcp(listener)?.handle(handle);
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    Ok(match tls {
        Some(tls) => {
            let rustls = crate::http::tls::server_config(&tls.cert, &tls.key)
                .context("cannot load the TLS certificate and key")?;
            let tls =
                crate::http::tls::PeerCertificateAcceptor::new(rustls, limits.handshake_timeout);
            let server =
                server.acceptor(GuardedAcceptor::new(tls, connections, limits.idle_timeout));
            (tokio::spawn(server.serve(app)), "https")
        }
        None => {
            let plain = axum_server::accept::DefaultAcceptor::new();
            let server = server.acceptor(GuardedAcceptor::new(
                plain,
                connections,
                limits.idle_timeout,
            ));
            (tokio::spawn(server.serve(app)), "http")
        }
    })
}

/// The service with its HSM session and audit committer, without a listener: what
/// `coffer init` needs, and what [`start`] serves.
pub struct Core {
    pub service: Arc<Service>,
    hsm: Arc<Pkcs11Hsm>,
    audit: crate::audit::AuditCommitter,
}

/// Opens the HSM, the database and the audit committer, and prepares the system keys.
pub async fn open(
    hsm_settings: HsmSettings,
    database: &Database,
    audit_settings: AuditSettings,
    clock: Arc<dyn Clock>,
    service_settings: ServiceSettings,
) -> anyhow::Result<Core> {
    let hsm = tokio::task::spawn_blocking(move || Pkcs11Hsm::connect(hsm_settings))
        .await?
        .context("cannot open the HSM token")?;
    let hsm = Arc::new(hsm);
    let store: Arc<dyn Store> = Arc::new(
        SqlStore::open(database, audit_settings.timeout)
            .await
            .with_context(|| format!("cannot open the database {database}"))?,
    );
    let (audit_sink, audit) = AuditSink::start(store.as_ref(), audit_settings)?;
    let service = Arc::new(Service::new(
        store,
        Arc::clone(&hsm) as Arc<dyn Hsm>,
        audit_sink,
        clock,
        service_settings,
    ));
    service
        .prepare()
        .await
        .context("cannot prepare the HSM system keys")?;
    Ok(Core {
        service,
        hsm,
        audit,
    })
}

impl Core {
    /// Flushes the audit trail and closes the HSM session.
    pub async fn close(self) {
        self.service.close_store().await;
        // The committer ends once the last handle (held by the service) is gone.
        drop(self.service);
        let flushed = tokio::task::spawn_blocking(move || self.audit.join());
        if tokio::time::timeout(Duration::from_secs(5), flushed)
            .await
            .is_err()
        {
            tracing::warn!("audit committer still busy at shutdown");
        }
        self.hsm.close();
    }
}

async fn maintain(service: Arc<Service>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = service.maintain().await {
            tracing::warn!(error = ?e, "maintenance run failed; will retry");
        }
    }
}

impl Running {
    /// Graceful shutdown: stop accepting, let in-flight requests finish (bounded), flush the
    /// audit trail, close the HSM session.
    pub async fn shutdown(self) {
        self.service.close_streams();
        self.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        let _ = self.server.await;
        for task in [
            self.maintenance,
            self.changes,
            self.jobs,
            self.trail,
            self.alerts,
        ] {
            task.abort();
            let _ = task.await;
        }
        Core {
            service: self.service,
            hsm: self.hsm,
            audit: self.audit,
        }
        .close()
        .await;
        tracing::info!("coffer stopped");
    }
}
