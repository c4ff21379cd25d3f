//! Signed requests: the machine whose Ed25519 key signed the request. The canonical form
//! that is signed, and the header parsing, are in [`crate::auth::signed`].
//!
//! Signed requests are checked in this order: well-formed headers naming an existing
//! machine, that machine's lockout from the source, machine state, signature, timestamp,
//! nonce, account. Every refusal is the same 401 (a lockout is a 429); its audit event
//! names the check that failed.
//!
//! On routes that only answer (encrypt, decrypt, sign, verify) the nonce is not claimed here:
//! it waits in the request's [`RequestMeta`] and is claimed in the same commit as the
//! request's first audit event (`Service::record_within`), where a used nonce turns the
//! request into this module's `nonce_reused` refusal; whatever such a request would change
//! beyond its event claims it first ([`Service::settle_nonce`]).
//!
//! Failures are counted in two ways. A request naming an existing machine counts against
//! that machine from that source address: brute force locks the machine out from there,
//! while its other sources and the other machines behind the address keep working. Anything
//! else (unknown id, malformed or missing headers) counts against the source address alone,
//! with a higher threshold, and that lock never refuses an existing machine.

use super::*;
use crate::auth::signed as signed_form;
use crate::ids::{AccountId, MachineId};
use crate::store::MachineStatus;

/// The action of the events of refused signed requests: they reach no route's operation.
const SIGNED_REQUEST_ACTION: &str = "auth.signed";

/// A request that carries the signed-request headers, as the HTTP layer saw it.
pub struct SignedRequest {
    pub headers: Result<SignedHeaders, SignedHeaderError>,
    /// The `X-Machine-Id` header as sent, to attribute a refusal to an account.
    pub claimed_machine_id: Option<String>,
    pub method: String,
    /// The request target: path and query string.
    pub target: String,
    pub body_sha256: [u8; 32],
    /// The route only answers (it changes nothing but the audit trail and usage
    /// counters): the nonce is claimed in the same commit as the request's event instead of
    /// in a commit of its own first. A replay is still refused before its answer leaves.
    pub claim_with_event: bool,
}

/// A signed request's nonce whose claim waits for the request's first audit event (see
/// [`SignedRequest::claim_with_event`]), with what its refusal as a replay records.
#[derive(Debug)]
pub(in crate::service) struct DeferredNonce {
    pub(in crate::service) claim: NonceClaim,
    /// The `nonce_reused` event, recorded instead of the request's if the nonce was used.
    pub(in crate::service) replayed: AuditEvent,
    pub(in crate::service) replay: Replay,
}

/// Whom a replay counts against: the machine the request named, and the request target
/// its lockout event records.
#[derive(Debug)]
pub(in crate::service) struct Replay {
    named: Named,
    target: String,
}

/// The live machine a refused signed request names.
#[derive(Debug)]
struct Named {
    id: MachineId,
    account_id: AccountId,
}

impl Named {
    pub(in crate::service) fn of(machine: &MachineRow) -> Self {
        Self {
            id: machine.id.clone(),
            account_id: machine.account_id.clone(),
        }
    }
}

/// Why a signed request was refused, or a failure of the service itself.
enum Refusal {
    /// A request naming no existing machine failed `reason` (`detail`, when given, is the
    /// audit event's detail instead); it counts against the source address.
    Unnamed {
        reason: &'static str,
        detail: Option<String>,
    },
    /// A request naming an existing machine failed `reason` (the audit event's detail); if
    /// `counted`, against that machine from the source.
    Named {
        reason: &'static str,
        named: Named,
        counted: bool,
    },
    /// The named machine is locked out from this source until then (Unix microseconds).
    Locked {
        named: Named,
        until: i64,
    },
    Failed(Error),
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Refusal::Failed(e)
    }
}

impl From<crate::store::StoreError> for Refusal {
    fn from(e: crate::store::StoreError) -> Self {
        Refusal::Failed(e.into())
    }
}

/// A failed check of a request that named `machine` (counted against it from the source).
fn refuse<T>(reason: &'static str, machine: &MachineRow) -> Result<T, Refusal> {
    Err(Refusal::Named {
        reason,
        named: Named::of(machine),
        counted: true,
    })
}

/// `event` attributed to the machine id a refused request names, marked as claimed, in
/// `account` (the machine's, so its owners see it; `None` when no machine ever had the id).
fn claimed_by(mut event: AuditEvent, machine_id: &str, account: Option<AccountId>) -> AuditEvent {
    event.account_id = account;
    event.principal = Some(machine_id.to_owned());
    event.credential = Some(machine_id.to_owned());
    event.identity = Some(Identity::Claimed);
    event
}

/// The `login_failures` key of failed signed requests naming `machine_id` from `ip`.
fn machine_source(ip: &str, machine_id: &MachineId) -> String {
    format!("machine:{machine_id}@{ip}")
}

/// The `login_failures` key of failed signed requests from `ip` that name no machine.
fn unnamed_source(ip: &str) -> String {
    format!("machine:{ip}")
}

/// 429 until `until`: `Retry-After` is the whole seconds left, rounded up.
fn locked_out(until: i64, now: i64) -> Error {
    let left = (until - now).max(1);
    Error::RateLimited {
        retry_after_secs: u64::try_from((left + MICROS - 1) / MICROS).unwrap_or(1),
    }
}

/// Whether the failure just recorded (leaving `state`) is the one that started the lock.
/// The lock is set once, by the failure that reaches the threshold; failures that raced
/// past the lock check count on but find it set.
fn lock_started(state: &LoginFailures, rule: LockoutRule) -> bool {
    state.locked_until.is_some() && state.failures == rule.threshold
}

/// Why `machine` may not sign requests now, if it may not: pending, disabled or expired.
fn unusable_machine(machine: &MachineRow, now: i64) -> Option<&'static str> {
    if machine.status != MachineStatus::Approved {
        Some("machine_pending")
    } else if !machine.enabled {
        Some("machine_disabled")
    } else if machine.expires_at.is_some_and(|at| at <= now) {
        Some("machine_expired")
    } else {
        None
    }
}

/// The key-cache key of a machine's resolved caller.
fn machine_cache_key(machine_id: &MachineId) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(format!("machine\0{machine_id}").as_bytes()).into()
}

impl Service {
    /// Authenticates a signed request. A refusal is `Unauthenticated`, audited with the
    /// check that failed and counted (see the module documentation); a lockout is
    /// `RateLimited`; a temporary machine's guardrail refusal is `MachineBlocked`.
    pub async fn authenticate_signed(
        &self,
        meta: &RequestMeta,
        request: SignedRequest,
    ) -> Result<Arc<Caller>, Error> {
        let ip = meta.source_ip.as_deref().unwrap_or("unknown");
        match self.verify_signed(meta, ip, &request).await {
            Ok((caller, guardrails)) => {
                if let Some(guardrails) = guardrails {
                    self.check_guardrails(meta, &caller, &request, &guardrails)
                        .await?;
                }
                Ok(caller)
            }
            Err(Refusal::Locked { named, until }) => {
                let error = locked_out(until, self.now());
                let event =
                    self.signed_refusal_event(meta, &request.target, &error, "machine_locked");
                self.audit_signed_refusal(meta, event, &named.id, Some(named.account_id))
                    .await?;
                Err(error)
            }
            Err(Refusal::Named {
                reason,
                named,
                counted,
            }) => {
                let error = Error::Unauthenticated;
                let event = self.signed_refusal_event(meta, &request.target, &error, reason);
                self.audit_signed_refusal(meta, event, &named.id, Some(named.account_id.clone()))
                    .await?;
                if counted {
                    self.count_named_failure(meta, &request.target, &named)
                        .await?;
                }
                Err(error)
            }
            Err(Refusal::Unnamed { reason, detail }) => {
                self.refuse_unnamed(meta, &request, ip, reason, detail)
                    .await
            }
            Err(Refusal::Failed(e)) => Err(e),
        }
    }

    /// Counts a failed check against the machine from the request's source; when that
    /// failure starts a lockout, records it too (the owners see that the machine is locked
    /// out from this address).
    async fn count_named_failure(
        &self,
        meta: &RequestMeta,
        target: &str,
        named: &Named,
    ) -> Result<(), Error> {
        let ip = meta.source_ip.as_deref().unwrap_or("unknown");
        let rule = self.machine_lockout_rule(self.settings.machine_lockout_threshold);
        let source = machine_source(ip, &named.id);
        let state = self.store.record_login_failure(&source, rule).await?;
        self.machine_locks
            .insert(source, state.locked_until, self.settings.metadata_ttl);
        if lock_started(&state, rule) {
            let lock = locked_out(rule.now + rule.lock_micros, rule.now);
            let event = self.signed_refusal_event(meta, target, &lock, "lockout_started");
            self.audit_signed_refusal(meta, event, &named.id, Some(named.account_id.clone()))
                .await?;
        }
        Ok(())
    }

    /// Claims the request's deferred nonce now, if it has one: before anything the request
    /// changes beyond its audit event (a mutation, a policy's use count, a tripped canary).
    /// A used nonce makes the request a refused replay.
    pub(in crate::service) async fn settle_nonce(&self, meta: &RequestMeta) -> Result<(), Error> {
        let Some(deferred) = meta.take_deferred_nonce() else {
            return Ok(());
        };
        let DeferredNonce {
            claim,
            replayed,
            replay,
        } = deferred;
        let fresh = self
            .audit
            .claim_nonce(claim)
            .await
            .map_err(|e| Error::Unavailable(Box::new(e)))?;
        if fresh {
            return Ok(());
        }
        self.record(meta, replayed).await?;
        Err(self.replayed(meta, &replay).await)
    }

    /// A request whose deferred nonce turned out used, once its `nonce_reused` event is
    /// recorded: counted like any failed check naming the machine, and refused.
    pub(in crate::service) async fn replayed(&self, meta: &RequestMeta, replay: &Replay) -> Error {
        // Boxed: counting may record a lockout event, and recording is what found the replay.
        let counted = Box::pin(self.count_named_failure(meta, &replay.target, &replay.named));
        match counted.await {
            Ok(()) => Error::Unauthenticated,
            Err(e) => e,
        }
    }

    fn machine_lockout_rule(&self, threshold: u32) -> LockoutRule {
        LockoutRule {
            now: self.now(),
            window_micros: micros(self.settings.machine_lockout_window),
            threshold,
            lock_micros: micros(self.settings.machine_lockout_duration),
        }
    }

    /// When `source` is locked out, until when.
    pub(in crate::service) async fn locked_until(
        &self,
        source: &str,
        now: i64,
    ) -> Result<Option<i64>, Error> {
        Ok(self
            .store
            .login_failures(source)
            .await?
            .and_then(|state| state.locked_until)
            .filter(|until| *until > now))
    }

    /// The event of a refused signed request (`auth.signed`, the failed check in `detail`).
    fn signed_refusal_event(
        &self,
        meta: &RequestMeta,
        target: &str,
        error: &Error,
        detail: &str,
    ) -> AuditEvent {
        let mut event = self.event(meta, None, SIGNED_REQUEST_ACTION, Some(target), Err(error));
        event.detail = Some(detail.to_owned());
        event
    }

    /// A refused request that names no existing machine: counted against its source
    /// address (429 while that lock holds), recorded in the account of the machine it claims
    /// if that machine ever existed (a deleted one, or a live one behind malformed headers),
    /// else counted in /metrics and logged.
    async fn refuse_unnamed<T>(
        &self,
        meta: &RequestMeta,
        request: &SignedRequest,
        ip: &str,
        reason: &'static str,
        detail: Option<String>,
    ) -> Result<T, Error> {
        let claimed = request
            .claimed_machine_id
            .as_deref()
            .filter(|id| crate::authz::is_valid_name(id));
        let account = match claimed {
            Some(id) => self.store.machine_account(&MachineId::from(id)).await?,
            None => None,
        };
        let detail = match (reason, &account) {
            ("unknown_machine", Some(_)) => "machine_deleted".to_owned(),
            _ => detail.unwrap_or_else(|| reason.to_owned()),
        };
        let unknown = detail == "unknown_machine";
        if unknown {
            self.signed_unknown_machine
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let now = self.now();
        let source = unnamed_source(ip);
        let (error, detail) = match self.locked_until(&source, now).await? {
            Some(until) => (locked_out(until, now), "source_locked".to_owned()),
            None => {
                let rule =
                    self.machine_lockout_rule(self.settings.machine_unnamed_lockout_threshold);
                let state = self.store.record_login_failure(&source, rule).await?;
                if unknown {
                    // No account's trail shows it: the operators' log does (the id is the
                    // caller's text, so it stays out of the line).
                    tracing::warn!(
                        source = ip,
                        request_id = %meta.request_id,
                        "signed request refused: X-Machine-Id names no machine"
                    );
                }
                if lock_started(&state, rule) {
                    tracing::warn!(
                        source = ip,
                        request_id = %meta.request_id,
                        "signed requests naming no machine are refused from this source for a while (too many failures)"
                    );
                }
                (Error::Unauthenticated, detail)
            }
        };
        let event = self.signed_refusal_event(meta, &request.target, &error, &detail);
        match claimed {
            Some(id) => self.audit_signed_refusal(meta, event, id, account).await?,
            None => self.record(meta, event).await?,
        }
        Err(error)
    }

    /// Records a refusal under the machine id it claims, marked as claimed, in `account`
    /// (the machine's, so its owners see it; `None` when no machine ever had the id).
    async fn audit_signed_refusal(
        &self,
        meta: &RequestMeta,
        event: AuditEvent,
        machine_id: &str,
        account: Option<AccountId>,
    ) -> Result<(), Error> {
        self.record(meta, claimed_by(event, machine_id, account))
            .await
    }

    async fn check_guardrails(
        &self,
        meta: &RequestMeta,
        caller: &Caller,
        request: &SignedRequest,
        guardrails: &Guardrails,
    ) -> Result<(), Error> {
        let Err(blocked) = guardrails.admits(meta.source_ip.as_deref(), self.now()) else {
            return Ok(());
        };
        let error = Error::MachineBlocked(blocked.to_string());
        let mut event = self.event(
            meta,
            Some(caller),
            SIGNED_REQUEST_ACTION,
            Some(&request.target),
            Err(&error),
        );
        event.detail = Some(blocked.reason().to_owned());
        self.record(meta, event).await?;
        Err(error)
    }

    /// The checks, in order. On success: the caller and the machine's guardrails.
    async fn verify_signed(
        &self,
        meta: &RequestMeta,
        ip: &str,
        request: &SignedRequest,
    ) -> Result<(Arc<Caller>, Option<Guardrails>), Refusal> {
        let now = self.now();
        let (headers, machine) = self.named_machine(ip, request, now).await?;
        if let Some(reason) = unusable_machine(&machine, now) {
            return refuse(reason, &machine);
        }
        self.verify_signature(meta, request, headers, &machine, now)
            .await?;
        let caller = match self.machine_caller(&machine).await {
            Ok(caller) => caller,
            // The machine's own credential passed every check: not a guess to count.
            Err(Error::Unauthenticated) => {
                return Err(Refusal::Named {
                    reason: "account_or_app_inactive",
                    named: Named::of(&machine),
                    counted: false,
                });
            }
            Err(e) => return Err(e.into()),
        };
        Ok((caller, machine.guardrails.clone()))
    }

    /// The well-formed headers and the existing machine they name, unless that machine is
    /// locked out from `ip`.
    async fn named_machine<'r>(
        &self,
        ip: &str,
        request: &'r SignedRequest,
        now: i64,
    ) -> Result<(&'r SignedHeaders, Arc<MachineRow>), Refusal> {
        let headers = match &request.headers {
            Ok(headers) => headers,
            Err(e) => {
                return Err(Refusal::Unnamed {
                    reason: "malformed_headers",
                    detail: Some(format!("malformed_headers: {e}")),
                });
            }
        };
        let Some(machine) = self.machine_named(&headers.machine_id).await? else {
            return Err(Refusal::Unnamed {
                reason: "unknown_machine",
                detail: None,
            });
        };
        if let Some(until) = self
            .machine_locked_until(&machine_source(ip, &machine.id), now)
            .await?
        {
            return Err(Refusal::Locked {
                named: Named::of(&machine),
                until,
            });
        }
        Ok((headers, machine))
    }

    /// The machine with this id: from the cache, else from the store (and cached; an
    /// unknown id is not). Every change to a machine forgets it, on every node.
    async fn machine_named(&self, id: &str) -> Result<Option<Arc<MachineRow>>, Error> {
        if let Some(machine) = self.machines.get(id) {
            return Ok(Some(machine));
        }
        let id = MachineId::from(id);
        let Some(machine) = self.store.machine(&id).await? else {
            return Ok(None);
        };
        let machine = Arc::new(machine);
        self.machines
            .insert(id, Arc::clone(&machine), self.settings.metadata_ttl);
        Ok(Some(machine))
    }

    /// [`Service::locked_until`] for a machine from a source, through the cache of lock
    /// states: this node's failures update it at once, another node's lock holds here once
    /// the cached state expires (`metadata_ttl`).
    async fn machine_locked_until(&self, source: &str, now: i64) -> Result<Option<i64>, Error> {
        let until = match self.machine_locks.get(source) {
            Some(until) => until,
            None => {
                let until = self
                    .store
                    .login_failures(source)
                    .await?
                    .and_then(|state| state.locked_until);
                self.machine_locks
                    .insert(source.to_owned(), until, self.settings.metadata_ttl);
                until
            }
        };
        Ok(until.filter(|until| *until > now))
    }

    /// The signature by the machine's key, the timestamp's freshness, the nonce's first use
    /// (claimed now, or left in `meta` to be claimed with the request's first event).
    async fn verify_signature(
        &self,
        meta: &RequestMeta,
        request: &SignedRequest,
        headers: &SignedHeaders,
        machine: &MachineRow,
        now: i64,
    ) -> Result<(), Refusal> {
        let public_key: [u8; 32] = machine
            .public_key
            .as_slice()
            .try_into()
            .map_err(|_| Error::Internal("a stored machine key is not 32 bytes".into()))?;
        let message = signed_form::canonical_message_for(
            &request.method,
            &request.target,
            headers.timestamp,
            &headers.nonce,
            &request.body_sha256,
        );
        if !signed_form::verifies(&public_key, message.as_bytes(), &headers.signature) {
            return refuse("bad_signature", machine);
        }
        if !headers.is_fresh(now / MICROS) {
            return refuse("stale_timestamp", machine);
        }
        let claim = NonceClaim {
            machine_id: machine.id.clone(),
            nonce: headers.nonce.clone(),
            // Past this the timestamp is out of the window anyway (with the same margin
            // again for nodes whose clocks differ).
            expires_at: secs_to_micros(headers.timestamp + 2 * signed_form::MAX_SKEW_SECS),
        };
        if request.claim_with_event {
            let replayed = self.signed_refusal_event(
                meta,
                &request.target,
                &Error::Unauthenticated,
                "nonce_reused",
            );
            meta.defer_nonce(DeferredNonce {
                claim,
                replayed: claimed_by(
                    replayed,
                    machine.id.as_str(),
                    Some(machine.account_id.clone()),
                ),
                replay: Replay {
                    named: Named::of(machine),
                    target: request.target.clone(),
                },
            });
            return Ok(());
        }
        let fresh = self
            .audit
            .claim_nonce(claim)
            .await
            .map_err(|e| Error::Unavailable(Box::new(e)))?;
        if !fresh {
            return refuse("nonce_reused", machine);
        }
        Ok(())
    }

    /// The machine as a caller: its app's groups and its flags. Cached like apps' API keys
    /// (the machine's own state is checked on every request, from its cached row).
    async fn machine_caller(&self, machine: &MachineRow) -> Result<Arc<Caller>, Error> {
        let cache_key = machine_cache_key(&machine.id);
        if let Some(caller) = self.cached_caller(&cache_key) {
            return Ok(caller);
        }
        let flags = Self::machine_flags(machine.flags.clone())?;
        let credential = Credential {
            method: AuthMethod::SignedRequest,
            id: machine.id.to_string(),
            flags,
        };
        let caller = Arc::new(
            self.app_caller(&machine.account_id, &machine.id.app_id(), credential)
                .await?,
        );
        self.remember_caller(cache_key, &caller);
        Ok(caller)
    }
}
