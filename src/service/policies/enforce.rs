//! Enforcement: every use of a bound object by an app or machine passes each policy's
//! axes in a fixed order, then counts.
//!
//! Order (docs/policies.md): time window → source → co-sign → TTL → rate cap, then the use
//! is recorded (rate windows, TTL use count, rotate-after count, co-sign history) in one
//! transaction. The checks that refuse without counting come first and the rate cap last,
//! so a refused use never consumes quota. An object with no bound policy costs one cache
//! look-up: the bindings of each object are cached (forgotten on every node when a policy
//! or binding changes), and only bound objects pay database round trips.

use super::rules::source_admitted;
use super::{PolicyView, view};
use crate::authz::{Operation, PrincipalKind};
use crate::catalogue;
use crate::ids::AccountId;
use crate::service::{Caller, Error, RequestMeta, Service};
use crate::store::{CappedCount, PolicyUse, UseRecorded};
use std::sync::{Arc, Mutex};

const MINUTE: i64 = 60_000_000;
const DAY: i64 = 86_400 * 1_000_000;

tokio::task_local! {
    static SCOPE: PolicyScope;
}

/// What enforcement needs of the request beyond its caller: the source address (the
/// caller is cached across requests and carries none), and the objects whose policies this
/// request already passed, so that an operation that loads its object twice (a rewrap, a
/// decrypt that re-reads a keyring) counts one use.
pub struct PolicyScope {
    meta: RequestMeta,
    enforced: Mutex<Vec<String>>,
}

impl PolicyScope {
    /// Runs `body` with the request's facts at hand for enforcement.
    pub async fn around<F: Future>(meta: &RequestMeta, body: F) -> F::Output {
        let scope = PolicyScope {
            meta: meta.clone(),
            enforced: Mutex::new(Vec::new()),
        };
        SCOPE.scope(scope, body).await
    }

    fn source() -> Option<String> {
        SCOPE.try_with(|s| s.meta.source_ip.clone()).ok().flatten()
    }

    /// The request being served, inside a scope.
    pub(in crate::service) fn meta() -> Option<RequestMeta> {
        SCOPE.try_with(|s| s.meta.clone()).ok()
    }

    /// True the first time this request enforces `object_id` (always outside a scope).
    fn first_time(object_id: &str) -> bool {
        SCOPE
            .try_with(|s| {
                let mut seen = s.enforced.lock().unwrap_or_else(|p| p.into_inner());
                if seen.iter().any(|o| o == object_id) {
                    return false;
                }
                seen.push(object_id.to_owned());
                true
            })
            .unwrap_or(true)
    }
}

impl Service {
    /// Claims the deferred nonce of the request in scope, if any (see
    /// [`Service::settle_nonce`]), before a use changes anything.
    pub(in crate::service) async fn settle_scoped_nonce(&self) -> Result<(), Error> {
        match PolicyScope::meta() {
            Some(meta) => self.settle_nonce(&meta).await,
            None => Ok(()),
        }
    }
}

/// The object a use is of: its kind (`secret`, `keyring`, `key`), id, name and the
/// version a rotate-after axis counts (the current one).
pub struct PolicyObject<'a> {
    pub kind: &'static str,
    pub id: &'a str,
    pub name: &'a str,
    pub version: u32,
}

impl<'a> PolicyObject<'a> {
    pub fn keyring(row: &'a crate::store::KeyringRow) -> Self {
        Self {
            kind: "keyring",
            id: row.id.as_str(),
            name: &row.name,
            version: row.current_version,
        }
    }

    pub fn key(row: &'a crate::store::KeyRow) -> Self {
        Self {
            kind: "key",
            id: row.id.as_str(),
            name: &row.name,
            version: row.current_version,
        }
    }

    pub fn secret(row: &'a crate::store::SecretRow) -> Self {
        Self {
            kind: "secret",
            id: row.id.as_str(),
            name: &row.name,
            version: row.current_version,
        }
    }
}

/// The policies bound to one object, as cached.
pub(in crate::service) type BoundPolicies = Arc<Vec<Arc<PolicyView>>>;

fn denied(policy: &PolicyView, axis: &'static str, message: String) -> Error {
    Error::PolicyDenied {
        policy: policy.row.id.clone(),
        axis,
        message,
    }
}

/// The audit detail of a policy's refusal (`None` for any other failure).
pub(in crate::service) fn refusal_detail(error: &Error) -> Option<String> {
    match error {
        Error::PolicyDenied { policy, axis, .. } => Some(format!("policy {policy}: axis {axis}")),
        Error::PolicyRateLimited { policy, .. } => Some(format!("policy {policy}: axis rate")),
        _ => None,
    }
}

/// Whole seconds from `now` to `end`, at least 1 (a `Retry-After` of 0 invites a storm).
fn seconds_until(end: i64, now: i64) -> u64 {
    let micros = end.saturating_sub(now).max(0);
    u64::try_from((micros + 999_999) / 1_000_000)
        .unwrap_or(1)
        .max(1)
}

impl Service {
    /// A cryptographic use of a keyring or key (`op` encrypts, decrypts, signs or
    /// verifies): enforced for apps and machines, once per request and object.
    pub(in crate::service) async fn enforce_use(
        &self,
        caller: &Caller,
        op: &catalogue::Operation,
        object: PolicyObject<'_>,
    ) -> Result<(), Error> {
        use Operation::{Decrypt, Encrypt, Sign, Verify};
        let is_use = op
            .group
            .iter()
            .any(|g| matches!(g, Encrypt | Decrypt | Sign | Verify));
        if !is_use || caller.kind != PrincipalKind::App {
            return Ok(());
        }
        let source = PolicyScope::source();
        self.enforce_policies(caller, source.as_deref(), object)
            .await
    }

    /// Every policy bound to `object`, for a use by `caller` from `source`.
    pub(in crate::service) async fn enforce_policies(
        &self,
        caller: &Caller,
        source: Option<&str>,
        object: PolicyObject<'_>,
    ) -> Result<(), Error> {
        if caller.kind != PrincipalKind::App {
            return Ok(());
        }
        let policies = self.bound_policies(&caller.account_id, &object).await?;
        if policies.is_empty() || !PolicyScope::first_time(object.id) {
            return Ok(());
        }
        let now = self.now();
        for policy in policies.iter() {
            self.check_axes(caller, source, &object, policy, now)
                .await?;
        }
        // Counting is a change: a replayed signed request must not consume the quota.
        // Boxed, like every settling: a cold path that would otherwise grow every future
        // that can reach it.
        Box::pin(self.settle_scoped_nonce()).await?;
        for policy in policies.iter() {
            self.count_use(caller, &object, policy, now).await?;
        }
        Ok(())
    }

    /// The policies bound to an object: from the cache, else from the store (and cached,
    /// an empty list too).
    async fn bound_policies(
        &self,
        account: &AccountId,
        object: &PolicyObject<'_>,
    ) -> Result<BoundPolicies, Error> {
        let key = (
            account.clone(),
            object.kind.to_owned(),
            object.id.to_owned(),
        );
        if let Some(hit) = self.policy_bindings.get(&key) {
            return Ok(hit);
        }
        let rows = self.store.object_policies(object.kind, object.id).await?;
        let views = rows
            .into_iter()
            .map(|row| view(row).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let bound = Arc::new(views);
        self.policy_bindings
            .insert(key, Arc::clone(&bound), self.settings.metadata_ttl);
        Ok(bound)
    }

    /// The axes that refuse without counting: time window, source, co-sign, TTL.
    async fn check_axes(
        &self,
        caller: &Caller,
        source: Option<&str>,
        object: &PolicyObject<'_>,
        policy: &PolicyView,
        now: i64,
    ) -> Result<(), Error> {
        let (name, rules) = (&policy.row.name, &policy.rules);
        if let Some(window) = &rules.time_window
            && !window.admits(now)
        {
            let allowed = window.describe();
            return Err(denied(
                policy,
                "time_window",
                format!(
                    "policy '{name}' allows use of {} {} only {allowed}",
                    object.kind, object.name
                ),
            ));
        }
        if let Some(sources) = &rules.sources
            && !source_admitted(sources, source)
        {
            return Err(denied(
                policy,
                "source",
                format!(
                    "policy '{name}' allows use of {} {} only from {} (this request came from {})",
                    object.kind,
                    object.name,
                    sources.join(", "),
                    source.unwrap_or("an unknown address")
                ),
            ));
        }
        self.check_cosign(caller, object, policy, now).await?;
        self.check_ttl(caller, object, policy, now).await
    }

    async fn check_cosign(
        &self,
        caller: &Caller,
        object: &PolicyObject<'_>,
        policy: &PolicyView,
        now: i64,
    ) -> Result<(), Error> {
        let Some(cosign) = &policy.rules.cosign else {
            return Ok(());
        };
        if cosign.principals.contains(&caller.principal_id) {
            return Ok(());
        }
        let window = i64::try_from(cosign.within_seconds).unwrap_or(i64::MAX / 1_000_000);
        let since = now.saturating_sub(window.saturating_mul(1_000_000));
        if self
            .store
            .used_since(object.id, &cosign.principals, since)
            .await?
        {
            return Ok(());
        }
        Err(denied(
            policy,
            "cosign",
            format!(
                "policy '{}' requires a use of {} {} by {} within the {} seconds before this one",
                policy.row.name,
                object.kind,
                object.name,
                cosign.principals.join(" or "),
                cosign.within_seconds
            ),
        ))
    }

    /// A TTL that ended (its time passed, or its uses are spent) destroys the object and
    /// refuses the use.
    async fn check_ttl(
        &self,
        caller: &Caller,
        object: &PolicyObject<'_>,
        policy: &PolicyView,
        now: i64,
    ) -> Result<(), Error> {
        let Some(ttl) = &policy.rules.ttl else {
            return Ok(());
        };
        let expired = ttl.expires_at.is_some_and(|at| now >= at);
        let spent = match ttl.max_uses {
            Some(max) => {
                let used = (self.store)
                    .policy_count(&policy.row.id, object.id, "uses", 0)
                    .await?;
                used >= max
            }
            None => false,
        };
        if !(expired || spent) {
            return Ok(());
        }
        Err(self.ttl_ended(&caller.account_id, object, policy).await)
    }

    /// Destroys the object whose TTL ended and answers the refusal.
    async fn ttl_ended(
        &self,
        account: &AccountId,
        object: &PolicyObject<'_>,
        policy: &PolicyView,
    ) -> Error {
        let target = super::upkeep::Doomed {
            account,
            kind: object.kind,
            id: object.id,
            name: object.name,
            policy: &policy.row,
        };
        self.destroy_by_policy(&target).await;
        let limit = match (&policy.rules.ttl, self.now()) {
            (Some(ttl), now) if ttl.expires_at.is_some_and(|at| now >= at) => {
                format!(
                    "until {}",
                    crate::clock::rfc3339(ttl.expires_at.unwrap_or(now))
                )
            }
            (Some(ttl), _) => format!("for {} uses", ttl.max_uses.unwrap_or(0)),
            (None, _) => String::new(),
        };
        denied(
            policy,
            "ttl",
            format!(
                "policy '{}' allowed {} {} only {limit}: it is over, and the {} was deleted",
                policy.row.name, object.kind, object.name, object.kind
            ),
        )
    }

    /// Counts the use under `policy`: the rate cap refuses (429) a use over a window's cap,
    /// a TTL refuses one over its uses; otherwise everything counts at once.
    async fn count_use(
        &self,
        caller: &Caller,
        object: &PolicyObject<'_>,
        policy: &PolicyView,
        now: i64,
    ) -> Result<(), Error> {
        let rules = &policy.rules;
        let mut capped = Vec::new();
        if let Some(rate) = &rules.rate {
            let windows = [
                ("minute", rate.per_minute, MINUTE),
                ("day", rate.per_day, DAY),
            ];
            for (axis, cap, length) in windows {
                if let Some(cap) = cap {
                    let window_start = now - now.rem_euclid(length);
                    capped.push(CappedCount {
                        axis,
                        window_start,
                        cap,
                    });
                }
            }
        }
        if let Some(max) = rules.ttl.as_ref().and_then(|t| t.max_uses) {
            capped.push(CappedCount {
                axis: "uses",
                window_start: 0,
                cap: max,
            });
        }
        if capped.is_empty() && rules.rotate_after_uses.is_none() && rules.cosign.is_none() {
            return Ok(());
        }
        let record = PolicyUse {
            policy_id: policy.row.id.clone(),
            account_id: caller.account_id.clone(),
            object_kind: object.kind.to_owned(),
            object_id: object.id.to_owned(),
            object_name: object.name.to_owned(),
            principal: caller.principal_id.clone(),
            now,
            rotate_after: rules.rotate_after_uses.map(|n| (object.version, n)),
            remember_principal: rules.cosign.is_some(),
            capped,
        };
        match self.store.record_policy_use(&record).await? {
            UseRecorded::Counted { rotation_queued } => {
                if rotation_queued {
                    tracing::info!(object = %object.id, version = object.version, "a policy queued a rotation");
                }
                Ok(())
            }
            UseRecorded::Capped(index) => {
                let capped = &record.capped[index];
                Err(self.over_cap(caller, object, policy, capped, now).await)
            }
        }
    }

    async fn over_cap(
        &self,
        caller: &Caller,
        object: &PolicyObject<'_>,
        policy: &PolicyView,
        capped: &CappedCount,
        now: i64,
    ) -> Error {
        let length = match capped.axis {
            "minute" => MINUTE,
            "day" => DAY,
            _ => return self.ttl_ended(&caller.account_id, object, policy).await,
        };
        let retry_after_secs = seconds_until(capped.window_start + length, now);
        Error::PolicyRateLimited {
            policy: policy.row.id.clone(),
            message: format!(
                "policy '{}' allows {} uses of {} {} per {} (UTC); retry in {retry_after_secs} seconds",
                policy.row.name, capped.cap, object.kind, object.name, capped.axis
            ),
            retry_after_secs,
        }
    }
}
