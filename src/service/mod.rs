//! The only place that orchestrates: checks authorization, calls the HSM, the store and the
//! in-process crypto, and records the audit event of every request it serves.
//!
//! No HTTP, SQL or PKCS#11 types appear here: only the `Hsm` and `Store` traits.

mod certs;
mod error;
mod identity;
mod keyrings;
mod keys;
mod machines;
mod tenancy;

pub use certs::{CertificateBinding, PossessionProof, RevocationTarget};
pub use error::Error;
pub use identity::{LoginOutput, MemberPatch, ResetOutput, check_password, normalize_email};
pub use keyrings::{
    ConfigPatch, DataKeyOutput, DecryptOutput, EncryptOutput, HashLookup, KeyVersionInfo,
    KeyringSpec, KeyringView, Protection,
};
pub use keys::{
    DecryptOutput as KeyDecryptOutput, KeyPatch, KeySpec, KeyVersionView, KeyView, OBJECT_KINDS,
    ObjectFilter, PublicKeyImport, PublicKeyOutput, SignInput, SignOutput, VerifyInput,
    VerifyOutput, certificate_pem,
};
pub use machines::{
    CreatedMachineToken, MachineBundle, MachineTokenKind, MachineTokenSpec, ProvisionSpec,
    Provisioned, SignedRequest,
};
pub use tenancy::{
    ApiKeyPatch, ApiKeySpec, AppPatch, Bootstrapped, CreatedApiKey, GroupMembersView,
};

use crate::audit::{AuditEvent, AuditSink};
use crate::auth::{ApiKeyToken, SessionToken};
use crate::authz::{self, Flags, Operation, Operations, PrincipalKind, Role};
use crate::cache::TtlCache;
use crate::clock::Clock;
use crate::crypto::DataKey;
use crate::hsm::Hsm;
use crate::store::{ActivityFilter, KeyringRow, Store, StoredEvent, VersionRow};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// Longest `/v1/ready` takes to answer, whatever is stuck.
pub const READY_BOUND: Duration = Duration::from_secs(1);

/// How long the event of a request that already failed with 503 may wait to be durable.
const FAILED_REQUEST_AUDIT_GRACE: Duration = Duration::from_millis(250);

/// Label of the HMAC key that digests API keys. It never leaves the token.
pub const APIKEY_PEPPER_LABEL: &str = "sys/apikey-pepper";

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    ApiKey,
    /// A user's login session token.
    Session,
    /// A TLS client certificate bound to an app.
    ClientCertificate,
    /// An Ed25519-signed request of a machine.
    SignedRequest,
    /// Coffer itself (scheduled rotation, bootstrap).
    System,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Session => "session",
            AuthMethod::ClientCertificate => "client_certificate",
            AuthMethod::SignedRequest => "signed_request",
            AuthMethod::System => "system",
        }
    }
}

/// An authenticated principal and what its credential allows.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
    pub kind: PrincipalKind,
    pub principal_id: String,
    pub api_key_id: Option<String>,
    pub flags: Flags,
    pub method: AuthMethod,
    /// For users: their role in the account.
    pub role: Option<Role>,
    /// Which groups' objects the caller sees, and what it may do there.
    pub scope: GroupScope,
    /// The credential, as the audit trail names it (API key id, session id, certificate
    /// fingerprint).
    pub credential: Option<String>,
}

/// The groups a caller sees.
#[derive(Debug, Clone)]
pub enum GroupScope {
    /// Every group of the account, with every operation its flags and role allow
    /// (owners, admins and auditors).
    All,
    /// Only these groups, each with the operations allowed there (apps, members).
    Only(Vec<(String, Operations)>),
}

impl Caller {
    /// Whether objects of `group_id` exist for this caller.
    pub fn sees_group(&self, group_id: &str) -> bool {
        match &self.scope {
            GroupScope::All => true,
            GroupScope::Only(groups) => groups.iter().any(|(g, _)| g == group_id),
        }
    }

    fn may_operate(&self, group_id: &str, operation: Operation) -> bool {
        match &self.scope {
            GroupScope::All => true,
            GroupScope::Only(groups) => groups
                .iter()
                .any(|(g, ops)| g == group_id && ops.contains(operation)),
        }
    }
}

/// What a credential brings to a caller: how it authenticated, its id for the audit trail,
/// and its flags.
struct Credential {
    method: AuthMethod,
    id: String,
    flags: Flags,
}

/// Facts about one request that every audit event carries, and where its audit stands:
/// the HTTP layer records a safety-net event only for requests the service did not audit,
/// and never retries one whose audit already failed (the request is a 503 by then, and a
/// second wait would double the bound).
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub source_ip: Option<String>,
    /// The status a successful answer carries (201 for creations, 204 for deletions), for
    /// the audit event, which is written before the answer.
    pub success_status: u16,
    audit: Arc<AtomicU8>,
}

const AUDIT_PENDING: u8 = 0;
const AUDIT_RECORDED: u8 = 1;
const AUDIT_FAILED: u8 = 2;

impl RequestMeta {
    pub fn new(request_id: String, source_ip: Option<String>) -> Self {
        Self {
            request_id,
            source_ip,
            success_status: 200,
            audit: Arc::new(AtomicU8::new(AUDIT_PENDING)),
        }
    }

    /// Whether the service recorded this request's event.
    pub fn is_audited(&self) -> bool {
        self.audit.load(Ordering::SeqCst) == AUDIT_RECORDED
    }

    /// Whether nobody tried to record this request's event yet.
    pub fn audit_pending(&self) -> bool {
        self.audit.load(Ordering::SeqCst) == AUDIT_PENDING
    }

    fn mark_audited(&self) {
        self.audit.store(AUDIT_RECORDED, Ordering::SeqCst);
    }

    fn mark_audit_failed(&self) {
        self.audit.store(AUDIT_FAILED, Ordering::SeqCst);
    }
}

/// A request as the service sees it: who (if anyone) and the request facts.
pub struct Ctx<'a> {
    pub meta: &'a RequestMeta,
    pub caller: &'a Caller,
}

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
        }
    }
}

/// Keyring metadata and versions, cached together.
struct KeyringState {
    row: KeyringRow,
    versions: Vec<VersionRow>,
}

/// The service. Cheap to share behind an `Arc`.
pub struct Service {
    store: Arc<dyn Store>,
    hsm: Arc<dyn Hsm>,
    audit: AuditSink,
    clock: Arc<dyn Clock>,
    settings: ServiceSettings,
    /// Keyring metadata by (account id, name), for `metadata_ttl`.
    keyrings: TtlCache<(String, String), Arc<KeyringState>>,
    /// Unwrapped data keys by (keyring id, version), for the keyring's `cache_ttl_seconds`.
    data_keys: TtlCache<(String, u32), Arc<DataKey>>,
    /// Asymmetric key metadata by (account id, name), for `metadata_ttl`.
    keys: TtlCache<(String, String), Arc<keys::KeyState>>,
    /// Apps' verified API keys by the token's cache key, for `auth_cache_ttl`.
    callers: TtlCache<[u8; 32], Arc<Caller>>,
    /// Counts HSM unwraps of data keys (exposed in /metrics; tests check the cache with it).
    pub hsm_unwraps: std::sync::atomic::AtomicU64,
    /// Counts refused signed requests whose `X-Machine-Id` no machine ever had (exposed in
    /// /metrics: they belong to no account's trail).
    pub signed_unknown_machine: std::sync::atomic::AtomicU64,
}

/// A unique id for a request or an audit event, without a system call: a random
/// per-process prefix and a counter. Object ids use [`new_id`]; these only need to be unique.
pub fn new_event_id(prefix: &str) -> String {
    static PROCESS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let process = PROCESS.get_or_init(|| hex::encode(&crate::crypto::random_bytes(6)[..]));
    format!(
        "{prefix}_{process}{:012x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new opaque id with a type prefix (`kr_…`, `grp_…`).
pub fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        hex::encode(&crate::crypto::random_bytes(12)[..])
    )
}

/// A duration in the store's unit (microseconds), saturating.
fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        hsm: Arc<dyn Hsm>,
        audit: AuditSink,
        clock: Arc<dyn Clock>,
        settings: ServiceSettings,
    ) -> Self {
        Self {
            store,
            hsm,
            audit,
            clock,
            settings,
            keyrings: TtlCache::default(),
            data_keys: TtlCache::default(),
            keys: TtlCache::default(),
            callers: TtlCache::default(),
            hsm_unwraps: Default::default(),
            signed_unknown_machine: Default::default(),
        }
    }

    /// Creates the system keys the service needs if they are missing.
    pub async fn prepare(&self) -> Result<(), Error> {
        self.hsm.ensure_hmac_key(APIKEY_PEPPER_LABEL).await?;
        identity::warm_up().await?;
        Ok(())
    }

    fn now(&self) -> i64 {
        self.clock.now_micros()
    }

    /// Builds the audit event of a request.
    fn event(
        &self,
        meta: &RequestMeta,
        caller: Option<&Caller>,
        action: &str,
        object: Option<&str>,
        outcome: Result<(), &Error>,
    ) -> AuditEvent {
        let (status, outcome) = match outcome {
            Ok(()) => (meta.success_status, "success".to_owned()),
            Err(e) => (e.status(), e.code().to_owned()),
        };
        AuditEvent {
            id: new_event_id("evt"),
            time: self.now(),
            account_id: caller.map(|c| c.account_id.clone()),
            principal: caller.map(|c| c.principal_id.clone()),
            auth_method: caller
                .map_or(AuthMethod::None, |c| c.method)
                .as_str()
                .to_owned(),
            action: action.to_owned(),
            object: object.map(str::to_owned),
            outcome,
            status,
            source_ip: meta.source_ip.clone(),
            request_id: meta.request_id.clone(),
            credential: caller.and_then(|c| c.credential.clone()),
            detail: None,
            identity: caller.map(|_| crate::audit::Identity::Verified),
            encrypt_usage: None,
            api_key_id: caller.and_then(|c| c.api_key_id.clone()),
        }
    }

    /// Records `event` through the group committer; the request fails with 503 if it cannot.
    async fn record(&self, meta: &RequestMeta, event: AuditEvent) -> Result<(), Error> {
        self.record_within(meta, event, None).await
    }

    /// Records `event`, waiting at most `wait` (the audit bound when `None`). Whatever the
    /// outcome, the request's audit is settled: the HTTP layer will not try again.
    async fn record_within(
        &self,
        meta: &RequestMeta,
        event: AuditEvent,
        wait: Option<Duration>,
    ) -> Result<(), Error> {
        match self.audit.record_within(event, wait).await {
            Ok(()) => {
                meta.mark_audited();
                Ok(())
            }
            Err(e) => {
                meta.mark_audit_failed();
                Err(Error::Unavailable(Box::new(e)))
            }
        }
    }

    /// Audits the outcome of a request with no state change (reads, crypto), then returns it.
    async fn audited<T>(
        &self,
        ctx: &Ctx<'_>,
        action: &str,
        object: Option<&str>,
        usage: Option<(String, u32)>,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        let mut event = self.event(
            ctx.meta,
            Some(ctx.caller),
            action,
            object,
            result.as_ref().map(|_| ()),
        );
        if result.is_ok() {
            event.encrypt_usage = usage;
        }
        self.record(ctx.meta, event).await?;
        result
    }

    /// Runs a mutation that writes `event` in its own transaction; on failure the failure
    /// is audited through the committer instead.
    async fn mutation<T, F, Fut>(
        &self,
        ctx: &Ctx<'_>,
        action: &str,
        object: Option<&str>,
        op: F,
    ) -> Result<T, Error>
    where
        F: FnOnce(AuditEvent) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let event = self.event(ctx.meta, Some(ctx.caller), action, object, Ok(()));
        match op(event).await {
            Ok(value) => {
                ctx.meta.mark_audited();
                Ok(value)
            }
            Err(e) => {
                let failure = self.event(ctx.meta, Some(ctx.caller), action, object, Err(&e));
                self.record_within(ctx.meta, failure, Self::failure_audit_wait(&e))
                    .await?;
                Err(e)
            }
        }
    }

    /// How long the audit event of a failed mutation may wait. A request that is already a
    /// 503 (the storage or the HSM could not serve it) most likely spent the bound waiting
    /// for them: its event gets a short grace only, so the answer comes within the bound
    /// once, not twice. The event stays queued and is written when the storage allows.
    fn failure_audit_wait(error: &Error) -> Option<Duration> {
        match error {
            Error::Unavailable(_) => Some(FAILED_REQUEST_AUDIT_GRACE),
            _ => None,
        }
    }

    /// Authorization: the credential's flags AND what the principal's kind may do AND, for
    /// users, what their role may do.
    fn require(caller: &Caller, flag: &str) -> Result<(), Error> {
        let role_ok = caller
            .role
            .is_none_or(|role| authz::role_allows(role, flag));
        if authz::kind_may_use(caller.kind, flag) && role_ok && caller.flags.allows(flag) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this credential does not grant {flag}"
            )))
        }
    }

    /// Authorization inside a group: the operation `flag` exercises must be allowed to the
    /// caller in `group_id` (an app's group operations, a member's group role).
    fn require_in_group(caller: &Caller, flag: &str, group_id: &str) -> Result<(), Error> {
        match authz::operation_for(flag) {
            Some(op) if !caller.may_operate(group_id, op) => Err(Error::Forbidden(format!(
                "the caller may not {} in group {group_id}",
                op.as_str()
            ))),
            _ => Ok(()),
        }
    }

    /// Records the event of a request that never reached a service operation (no or bad
    /// credential, malformed request, unknown route). `status` and `code` are the answer.
    pub async fn audit_rejected(
        &self,
        meta: &RequestMeta,
        caller: Option<&Caller>,
        action: &str,
        object: &str,
        status: u16,
        code: &str,
    ) -> Result<(), Error> {
        let mut event = self.event(meta, caller, action, Some(object), Ok(()));
        event.status = status;
        event.outcome = code.to_owned();
        self.record(meta, event).await
    }

    /// Turns a bearer token (API key or session token) into a caller. Every failure is the
    /// same `Unauthenticated`, and an unknown id costs the same HSM round trip as a wrong
    /// secret.
    pub async fn authenticate(&self, bearer: &str) -> Result<Arc<Caller>, Error> {
        if let Some(token) = SessionToken::parse(bearer) {
            return self.authenticate_session(&token).await.map(Arc::new);
        }
        let Some(token) = ApiKeyToken::parse(bearer) else {
            return Err(Error::Unauthenticated);
        };
        let cache_key = token.cache_key();
        if let Some(caller) = self.cached_caller(&cache_key) {
            return Ok(caller);
        }
        let row = self.store.api_key(token.key_id()).await?;
        let digest = self
            .hsm
            .hmac_sha256(APIKEY_PEPPER_LABEL, token.digest_input())
            .await?;
        let Some(row) = row else {
            return Err(Error::Unauthenticated);
        };
        let matches: bool = subtle::ConstantTimeEq::ct_eq(&digest[..], &row.digest[..]).into();
        if !matches || row.disabled {
            return Err(Error::Unauthenticated);
        }
        let caller = Arc::new(self.caller_for_key(&row).await?);
        // Only apps' keys are cached (the hot path). A user's role, suspension and removal
        // take effect on their next request, so users are resolved every time.
        if caller.kind == PrincipalKind::App {
            self.remember_caller(cache_key, &caller);
        }
        Ok(caller)
    }

    /// A caller verified within `auth_cache_ttl` under `key`.
    fn cached_caller(&self, key: &[u8; 32]) -> Option<Arc<Caller>> {
        self.callers.get(key)
    }

    fn remember_caller(&self, key: [u8; 32], caller: &Arc<Caller>) {
        self.callers
            .insert(key, Arc::clone(caller), self.settings.auth_cache_ttl);
    }

    async fn caller_for_key(&self, row: &crate::store::ApiKeyRow) -> Result<Caller, Error> {
        let kind = match row.principal_kind.as_str() {
            "user" => PrincipalKind::User,
            "app" => PrincipalKind::App,
            _ => return Err(Error::Unauthenticated),
        };
        let raw =
            serde_json::from_str(&row.flags_json).map_err(|e| Error::Internal(Box::new(e)))?;
        let flags = Flags::parse(raw, kind).map_err(|e| Error::Internal(Box::new(e)))?;
        let credential = Credential {
            method: AuthMethod::ApiKey,
            id: row.id.clone(),
            flags,
        };
        match kind {
            PrincipalKind::User => {
                self.user_caller(&row.account_id, &row.principal_id, credential)
                    .await
            }
            PrincipalKind::App => {
                self.app_caller(&row.account_id, &row.principal_id, credential)
                    .await
            }
        }
    }

    /// A user of an active account who is an unsuspended member, as a caller.
    async fn user_caller(
        &self,
        account_id: &str,
        user_id: &str,
        credential: Credential,
    ) -> Result<Caller, Error> {
        self.active_account(account_id).await?;
        let member = self
            .store
            .member(account_id, user_id)
            .await?
            .filter(|m| !m.suspended)
            .ok_or(Error::Unauthenticated)?;
        let role = Role::parse(&member.role)
            .ok_or_else(|| Error::Internal(format!("stored role {}", member.role).into()))?;
        let scope = if role.sees_all_groups() {
            GroupScope::All
        } else {
            let mut groups = Vec::new();
            for (group, group_role) in self.store.user_groups(account_id, user_id).await? {
                let ops = authz::GroupRole::parse(&group_role)
                    .map(authz::GroupRole::operations)
                    .unwrap_or_default();
                groups.push((group, ops));
            }
            GroupScope::Only(groups)
        };
        Ok(Caller {
            account_id: account_id.to_owned(),
            kind: PrincipalKind::User,
            principal_id: user_id.to_owned(),
            api_key_id: (credential.method == AuthMethod::ApiKey).then(|| credential.id.clone()),
            flags: credential.flags,
            method: credential.method,
            role: Some(role),
            scope,
            credential: Some(credential.id),
        })
    }

    /// An enabled app of an active account, as a caller.
    async fn app_caller(
        &self,
        account_id: &str,
        app_id: &str,
        credential: Credential,
    ) -> Result<Caller, Error> {
        self.active_account(account_id).await?;
        let app = self
            .store
            .app(account_id, app_id)
            .await?
            .filter(|a| a.enabled)
            .ok_or(Error::Unauthenticated)?;
        let groups = app
            .operations
            .iter()
            .map(|(group, ops)| {
                let ops = Operations::parse(ops)
                    .map_err(|op| Error::Internal(format!("stored operation {op}").into()))?;
                Ok((group.clone(), ops))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Caller {
            account_id: account_id.to_owned(),
            kind: PrincipalKind::App,
            principal_id: app_id.to_owned(),
            api_key_id: (credential.method == AuthMethod::ApiKey).then(|| credential.id.clone()),
            flags: credential.flags,
            method: credential.method,
            role: None,
            scope: GroupScope::Only(groups),
            credential: Some(credential.id),
        })
    }

    /// Refuses credentials of a closed account.
    async fn active_account(&self, account_id: &str) -> Result<(), Error> {
        match self.store.account(account_id).await? {
            Some(account) if account.closed_at.is_none() => Ok(()),
            _ => Err(Error::Unauthenticated),
        }
    }

    /// Forgets cached callers of one principal (app changed, deleted or regrouped).
    fn forget_principal(&self, principal_id: &str) {
        self.callers
            .retain(|_, caller| caller.principal_id != principal_id);
    }

    /// Forgets cached verifications of one API key (disabled or re-flagged).
    fn forget_api_key(&self, key_id: &str) {
        self.callers
            .retain(|_, caller| caller.api_key_id.as_deref() != Some(key_id));
    }

    /// Counters of the audit group committer.
    pub fn audit_stats(&self) -> &crate::audit::AuditStats {
        self.audit.stats()
    }

    /// Readiness, decided within [`READY_BOUND`] whatever is stuck: the HSM must use a key
    /// (an HMAC with the API-key pepper, which every authentication needs) and the database
    /// must take a durable write. A logged-in session alone proves neither.
    pub async fn ready(&self) -> Result<(), Error> {
        let probes = async {
            let (hsm, store) = tokio::join!(
                self.hsm
                    .hmac_sha256(APIKEY_PEPPER_LABEL, b"readiness".to_vec()),
                self.store.probe_write(self.now()),
            );
            hsm?;
            store?;
            Ok(())
        };
        tokio::time::timeout(READY_BOUND, probes)
            .await
            .map_err(|_| Error::Unavailable("the readiness probes did not finish in time".into()))?
    }

    /// The activity feed of the caller's account, newest first.
    pub async fn activity(
        &self,
        ctx: &Ctx<'_>,
        filter: ActivityFilter,
    ) -> Result<Vec<StoredEvent>, Error> {
        let result = async {
            Self::require(ctx.caller, "activity.read")?;
            if !(1..=1000).contains(&filter.limit) {
                return Err(Error::InvalidInput(
                    "limit must be between 1 and 1000".into(),
                ));
            }
            Ok(self.store.events(&ctx.caller.account_id, &filter).await?)
        }
        .await;
        self.audited(ctx, "activity.read", None, None, result).await
    }

    /// Background duties: scheduled and count-based rotation, trash purge, cache sweep.
    pub async fn maintain(&self) -> Result<(), Error> {
        self.rotate_due_keyrings().await?;
        self.purge_trash().await?;
        self.purge_trashed_keys().await?;
        self.purge_deleted_groups().await?;
        self.maintain_machines().await?;
        self.prune_failure_counts().await?;
        self.keyrings.sweep();
        self.data_keys.sweep();
        self.keys.sweep();
        self.callers.sweep();
        Ok(())
    }

    /// Forgets login and signed-request failure counts whose window is over and that hold no
    /// lock: one row per source address (and machine) that ever failed would otherwise stay.
    async fn prune_failure_counts(&self) -> Result<(), Error> {
        let now = self.now();
        let longest_window = self
            .settings
            .lockout_window
            .max(self.settings.machine_lockout_window);
        self.store
            .prune_login_failures(now, now.saturating_sub(micros(longest_window)))
            .await?;
        Ok(())
    }

    /// A caller that stands for Coffer itself, for events of background duties.
    fn system_caller(account_id: &str) -> Caller {
        Caller {
            account_id: account_id.to_owned(),
            kind: PrincipalKind::User,
            principal_id: "system".to_owned(),
            api_key_id: None,
            flags: Flags::everything(),
            method: AuthMethod::System,
            role: Some(Role::Owner),
            scope: GroupScope::All,
            credential: None,
        }
    }
}
