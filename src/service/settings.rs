//! The service's tunables and their defaults.

use super::*;

/// Tunables of the service.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSettings {
    /// How long keyring metadata is served from memory before it is read again.
    pub metadata_ttl: Duration,
    /// How long a verified API key is trusted without asking the HSM again.
    pub auth_cache_ttl: Duration,
    /// How long a trashed keyring can be recovered before it is destroyed.
    pub trash_retention: Duration,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// How long a password-reset token stays usable.
    pub reset_ttl: Duration,
    /// Failed logins from one source within `lockout_window` that lock it out.
    pub lockout_threshold: u32,
    pub lockout_window: Duration,
    /// How long a locked-out source is refused.
    pub lockout_duration: Duration,
    /// How long after a deletion request an account can be closed (the owner may cancel
    /// meanwhile).
    pub account_deletion_delay: Duration,
    /// Failed signed requests naming one existing machine from one source within
    /// `machine_lockout_window` that lock that machine out from that source, and for how
    /// long.
    pub machine_lockout_threshold: u32,
    pub machine_lockout_window: Duration,
    pub machine_lockout_duration: Duration,
    /// Failed signed requests from one source that name no existing machine (unknown or
    /// deleted id, malformed or missing headers) within `machine_lockout_window` that lock
    /// the source out for such requests, for `machine_lockout_duration`. Machines that
    /// exist are never refused by this lock.
    pub machine_unnamed_lockout_threshold: u32,
    /// How long a bootstrap token can be used.
    pub bootstrap_token_ttl: Duration,
    /// How long a provisioned machine's bundle can be downloaded.
    pub bundle_ttl: Duration,
    /// How long an expired enrolled machine, or an ended token, is kept before deletion.
    pub machine_retention: Duration,
    /// How long the first owner's setup token (bootstrap) can set their password.
    pub setup_token_ttl: Duration,
    /// How long a node holds a background job without renewing its lease (it renews with
    /// every batch): a node that dies loses its job to another node after this long.
    pub job_lease: Duration,
    /// How often a node looks for a background job whose lease is free.
    pub job_poll: Duration,
    /// Keyring versions re-wrapped per batch (one transaction, one lease renewal).
    pub rewrap_batch: u32,
    /// How often the events mutations wrote are chained when no request comes to do it.
    pub seal_every: Duration,
    /// How often each chain that moved gets a signed checkpoint.
    pub checkpoint_every: Duration,
    /// How long audit events are kept; `None` keeps them all. Pruning stops at a signed
    /// checkpoint, so the oldest kept event is always anchored.
    pub audit_retention: Option<Duration>,
    /// The live activity stream and the alert webhooks (`stream.rs`, `alerts/`).
    pub watch: WatchSettings,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            metadata_ttl: Duration::from_secs(2),
            auth_cache_ttl: Duration::from_secs(30),
            trash_retention: Duration::from_secs(30 * 86_400),
            session_ttl: Duration::from_secs(3600),
            reset_ttl: Duration::from_secs(3600),
            lockout_threshold: 5,
            lockout_window: Duration::from_secs(15 * 60),
            lockout_duration: Duration::from_secs(15 * 60),
            account_deletion_delay: Duration::from_secs(7 * 86_400),
            machine_lockout_threshold: 3,
            machine_lockout_window: Duration::from_secs(5 * 60),
            machine_lockout_duration: Duration::from_secs(30 * 60),
            machine_unnamed_lockout_threshold: 20,
            bootstrap_token_ttl: Duration::from_secs(10 * 60),
            bundle_ttl: Duration::from_secs(24 * 3600),
            machine_retention: Duration::from_secs(30 * 86_400),
            setup_token_ttl: Duration::from_secs(7 * 86_400),
            job_lease: Duration::from_secs(15),
            job_poll: Duration::from_secs(1),
            rewrap_batch: 200,
            seal_every: Duration::from_millis(500),
            checkpoint_every: Duration::from_secs(60),
            audit_retention: None,
            watch: WatchSettings::default(),
        }
    }
}

/// Tunables of the live activity stream and of the alert webhooks.
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    /// How often an open stream sends a heartbeat comment when no event came.
    pub stream_heartbeat: Duration,
    /// How often a stream looks for new events of its account.
    pub stream_poll: Duration,
    /// Events queued per client.
    pub stream_buffer: usize,
    /// How long a client's queue may stay full: a client that long behind is told so
    /// (`overflow`) and disconnected.
    pub stream_stall: Duration,
    /// Streams open at once per account (429 beyond).
    pub streams_per_account: usize,
    /// How often the alert dispatcher matches new events and the sender looks for due
    /// deliveries.
    pub alert_poll: Duration,
    /// Attempts of one delivery before it goes to the dead-letter list.
    pub alert_max_attempts: u32,
    /// The first retry's delay; each next one doubles, up to `alert_max_backoff`.
    pub alert_backoff: Duration,
    pub alert_max_backoff: Duration,
    /// How long one webhook request may take.
    pub alert_timeout: Duration,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            stream_heartbeat: Duration::from_secs(15),
            stream_poll: Duration::from_millis(200),
            stream_buffer: 1024,
            stream_stall: Duration::from_secs(2),
            streams_per_account: 16,
            alert_poll: Duration::from_millis(500),
            alert_max_attempts: 8,
            alert_backoff: Duration::from_secs(1),
            alert_max_backoff: Duration::from_secs(600),
            alert_timeout: Duration::from_secs(10),
        }
    }
}
