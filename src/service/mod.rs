//! The only place that orchestrates: checks authorization, calls the HSM, the store and the
//! in-process crypto, and records the audit event of every request it serves.
//!
//! No HTTP, SQL or PKCS#11 types appear here: only the `Hsm` and `Store` traits.

mod error;
mod keyrings;
mod keys;
mod tenancy;

pub use error::Error;
pub use keyrings::{
    ConfigPatch, DataKeyOutput, DecryptOutput, EncryptOutput, HashLookup, KeyVersionInfo,
    KeyringSpec, KeyringView, Protection,
};
pub use keys::{
    DecryptOutput as KeyDecryptOutput, KeyPatch, KeySpec, KeyVersionView, KeyView, OBJECT_KINDS,
    ObjectFilter, PublicKeyImport, PublicKeyOutput, SignInput, SignOutput, VerifyInput,
    VerifyOutput, certificate_pem,
};
pub use tenancy::{ApiKeyPatch, ApiKeySpec, Bootstrapped, CreatedApiKey};

use crate::audit::{AuditEvent, AuditSink};
use crate::auth::ApiKeyToken;
use crate::authz::{self, Flags, PrincipalKind};
use crate::clock::Clock;
use crate::crypto::DataKey;
use crate::hsm::Hsm;
use crate::store::{ActivityFilter, KeyringRow, Store, StoredEvent, VersionRow};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Label of the HMAC key that digests API keys. It never leaves the token.
pub const APIKEY_PEPPER_LABEL: &str = "sys/apikey-pepper";

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    ApiKey,
    /// Coffer itself (scheduled rotation, bootstrap).
    System,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ApiKey => "api_key",
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
    /// For apps: the groups whose objects they may touch.
    pub groups: Vec<String>,
}

/// Facts about one request that every audit event carries. `audited` tells the HTTP layer
/// whether the service already recorded the event.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub source_ip: Option<String>,
    pub audited: Arc<AtomicBool>,
}

impl RequestMeta {
    pub fn new(request_id: String, source_ip: Option<String>) -> Self {
        Self {
            request_id,
            source_ip,
            audited: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn is_audited(&self) -> bool {
        self.audited.load(Ordering::SeqCst)
    }

    fn mark_audited(&self) {
        self.audited.store(true, Ordering::SeqCst);
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
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            metadata_ttl: Duration::from_secs(2),
            auth_cache_ttl: Duration::from_secs(30),
            trash_retention: Duration::from_secs(30 * 86_400),
        }
    }
}

/// Keyring metadata and versions, cached together.
struct KeyringState {
    row: KeyringRow,
    versions: Vec<VersionRow>,
    loaded: Instant,
}

struct CachedKey {
    key: Arc<DataKey>,
    expires: Instant,
}

struct CachedCaller {
    caller: Arc<Caller>,
    expires: Instant,
}

/// The service. Cheap to share behind an `Arc`.
pub struct Service {
    store: Arc<dyn Store>,
    hsm: Arc<dyn Hsm>,
    audit: AuditSink,
    clock: Arc<dyn Clock>,
    settings: ServiceSettings,
    keyrings: RwLock<HashMap<(String, String), Arc<KeyringState>>>,
    data_keys: RwLock<HashMap<(String, u32), CachedKey>>,
    keys: RwLock<HashMap<(String, String), Arc<keys::KeyState>>>,
    callers: RwLock<HashMap<[u8; 32], CachedCaller>>,
    /// Counts HSM unwraps of data keys (exposed in /metrics; tests check the cache with it).
    pub hsm_unwraps: std::sync::atomic::AtomicU64,
}

/// A new opaque id with a type prefix (`kr_…`, `grp_…`).
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

pub fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        hex::encode(&crate::crypto::random_bytes(12)[..])
    )
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
            keyrings: RwLock::default(),
            data_keys: RwLock::default(),
            keys: RwLock::default(),
            callers: RwLock::default(),
            hsm_unwraps: Default::default(),
        }
    }

    /// Creates the system keys the service needs if they are missing.
    pub async fn prepare(&self) -> Result<(), Error> {
        self.hsm.ensure_hmac_key(APIKEY_PEPPER_LABEL).await?;
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
            Ok(()) => (200, "success".to_owned()),
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
            encrypt_usage: None,
            api_key_id: caller.and_then(|c| c.api_key_id.clone()),
        }
    }

    /// Records `event` through the group committer; the request fails with 503 if it cannot.
    async fn record(&self, meta: &RequestMeta, event: AuditEvent) -> Result<(), Error> {
        self.audit
            .record(event)
            .await
            .map_err(|e| Error::Unavailable(Box::new(e)))?;
        meta.mark_audited();
        Ok(())
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
                self.record(ctx.meta, failure).await?;
                Err(e)
            }
        }
    }

    /// Authorization: the credential's flags AND what the principal's kind may do.
    fn require(caller: &Caller, flag: &str) -> Result<(), Error> {
        if authz::kind_may_use(caller.kind, flag) && caller.flags.allows(flag) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this credential does not grant {flag}"
            )))
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

    /// Turns a bearer token into a caller. Every failure is the same `Unauthenticated`, and an
    /// unknown key id costs the same HSM round trip as a wrong secret.
    pub async fn authenticate(&self, bearer: &str) -> Result<Arc<Caller>, Error> {
        let Some(token) = ApiKeyToken::parse(bearer) else {
            return Err(Error::Unauthenticated);
        };
        let cache_key = token.cache_key();
        if let Some(hit) = self
            .callers
            .read()
            .expect("caller cache poisoned")
            .get(&cache_key)
            && hit.expires > Instant::now()
        {
            return Ok(Arc::clone(&hit.caller));
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
        self.callers.write().expect("caller cache poisoned").insert(
            cache_key,
            CachedCaller {
                caller: Arc::clone(&caller),
                expires: Instant::now() + self.settings.auth_cache_ttl,
            },
        );
        Ok(caller)
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
        let groups = match kind {
            PrincipalKind::User => {
                if self
                    .store
                    .membership_role(&row.account_id, &row.principal_id)
                    .await?
                    .is_none()
                {
                    return Err(Error::Unauthenticated);
                }
                Vec::new()
            }
            PrincipalKind::App => match self.store.app(&row.account_id, &row.principal_id).await? {
                Some(app) => app.groups,
                None => return Err(Error::Unauthenticated),
            },
        };
        Ok(Caller {
            account_id: row.account_id.clone(),
            kind,
            principal_id: row.principal_id.clone(),
            api_key_id: Some(row.id.clone()),
            flags,
            method: AuthMethod::ApiKey,
            groups,
        })
    }

    /// Forgets cached verifications of one API key (disabled or re-flagged).
    fn forget_api_key(&self, key_id: &str) {
        self.callers
            .write()
            .expect("caller cache poisoned")
            .retain(|_, cached| cached.caller.api_key_id.as_deref() != Some(key_id));
    }

    /// Counters of the audit group committer.
    pub fn audit_stats(&self) -> &crate::audit::AuditStats {
        self.audit.stats()
    }

    /// Readiness: the HSM session is logged in and the database answers.
    pub async fn ready(&self) -> Result<(), Error> {
        self.hsm.ping().await?;
        self.store.ping().await?;
        Ok(())
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
        let now = Instant::now();
        self.data_keys
            .write()
            .expect("key cache poisoned")
            .retain(|_, k| k.expires > now);
        self.callers
            .write()
            .expect("caller cache poisoned")
            .retain(|_, c| c.expires > now);
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
            groups: Vec::new(),
        }
    }
}
