//! How every operation is served: authorized by its catalogue entry before its body runs,
//! then audited with the entry's action. Reads and crypto are audited through the group
//! committer; mutations write their event in their own transaction.

use super::*;
use crate::ids::{GroupId, KeyringId};

/// How long the event of a request that already failed with 503 may wait to be durable.
const FAILED_REQUEST_AUDIT_GRACE: Duration = Duration::from_millis(250);

impl Service {
    /// Builds the audit event of a request.
    pub(in crate::service) fn event(
        &self,
        meta: &RequestMeta,
        caller: Option<&Caller>,
        action: &str,
        object: Option<&str>,
        outcome: Result<(), &Error>,
    ) -> AuditEvent {
        let refusal = outcome.err().and_then(policies::refusal_detail);
        let (status, outcome) = match outcome {
            Ok(()) => (meta.success_status, Outcome::Success),
            Err(e) => (e.status(), Outcome::Failure(e.code())),
        };
        AuditEvent {
            id: new_event_id("evt"),
            time: self.now(),
            account_id: caller.map(|c| c.account_id.clone()),
            principal: caller.map(|c| c.principal_id.clone()),
            auth_method: caller.map_or(AuthMethod::None, |c| c.method),
            action: action.to_owned(),
            object: object.map(str::to_owned),
            outcome,
            status,
            source_ip: meta.source_ip.clone(),
            request_id: meta.request_id.clone(),
            credential: caller.and_then(|c| c.credential.clone()),
            // An access policy's refusal names its policy and failing axis; an approved
            // operation's run names its approval.
            detail: with_via(meta, refusal.or_else(super::approvals::running_detail)),
            identity: caller.map(|_| crate::audit::Identity::Verified),
            severity: crate::audit::severity::severity_of(action, outcome),
            encrypt_usage: None,
            api_key_id: caller.and_then(|c| c.api_key_id.clone()),
        }
    }

    /// Records `event` through the group committer; the request fails with 503 if it cannot.
    pub(in crate::service) async fn record(
        &self,
        meta: &RequestMeta,
        event: AuditEvent,
    ) -> Result<(), Error> {
        self.record_within(meta, event, None).await
    }

    /// Records `event`, waiting at most `wait` (the audit bound when `None`). Whatever the
    /// outcome, the request's audit is settled: the HTTP layer will not try again.
    ///
    /// A signed request's deferred nonce is claimed in the same commit: if it was used
    /// already, the request's `nonce_reused` refusal is recorded instead of `event` and the
    /// request fails as a refused replay.
    async fn record_within(
        &self,
        meta: &RequestMeta,
        event: AuditEvent,
        wait: Option<Duration>,
    ) -> Result<(), Error> {
        let (recorded, replay) = match meta.take_deferred_nonce() {
            None => (self.audit.record_within(event, wait).await, None),
            Some(deferred) => {
                // Boxed: only signed requests take this branch, and every audited future
                // holds this one.
                let written = Box::pin(self.audit.record_claimed(
                    deferred.claim,
                    event,
                    deferred.replayed,
                    wait,
                ))
                .await;
                match written {
                    Ok(true) => (Ok(()), None),
                    Ok(false) => (Ok(()), Some(deferred.replay)),
                    Err(e) => (Err(e), None),
                }
            }
        };
        match recorded {
            Ok(()) => meta.mark_audited(),
            Err(e) => {
                meta.mark_audit_failed();
                return Err(Error::Unavailable(Box::new(e)));
            }
        }
        match replay {
            Some(replay) => Err(self.replayed(meta, &replay).await),
            None => Ok(()),
        }
    }

    /// [`Service::audited`] at a `severity` other than info (a reveal, a canary read).
    pub(in crate::service) async fn audited_at<T>(
        &self,
        ctx: &Ctx<'_>,
        action: &str,
        object: Option<&str>,
        severity: crate::audit::Severity,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        let outcome = result.as_ref().map(|_| ());
        let mut event = self.event(ctx.meta, Some(ctx.caller), action, object, outcome);
        if severity.at_least(event.severity) {
            event.severity = severity;
        }
        self.record(ctx.meta, event).await?;
        result
    }

    /// Audits the outcome of a request with no state change (reads, crypto), then returns it.
    pub(in crate::service) async fn audited<T>(
        &self,
        ctx: &Ctx<'_>,
        action: &str,
        object: Option<&str>,
        usage: Option<(KeyringId, u32)>,
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

    /// Serves an operation with no state change (reads, crypto): checks every flag of `op`
    /// on the object named `name` (flags without a name pattern ignore it), runs `body`
    /// only if they are granted, and audits the outcome as `op`'s action on `object`.
    pub(in crate::service) async fn read<T>(
        &self,
        ctx: &Ctx<'_>,
        op: &catalogue::Operation,
        name: &str,
        object: Option<&str>,
        body: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let body = policies::PolicyScope::around(ctx.meta, body);
        let result = Self::authorized(ctx.caller, op, name, body).await;
        self.audited(ctx, op.audit_action(), object, None, result)
            .await
    }

    /// [`Service::read`] for operations that use a keyring version to encrypt: `body` also
    /// returns the (keyring id, version) whose encrypt counter the audit event advances.
    pub(in crate::service) async fn read_counted<T>(
        &self,
        ctx: &Ctx<'_>,
        op: &catalogue::Operation,
        name: &str,
        object: Option<&str>,
        body: impl Future<Output = Result<(T, (KeyringId, u32)), Error>>,
    ) -> Result<T, Error> {
        let body = policies::PolicyScope::around(ctx.meta, body);
        let (result, usage) = match Self::authorized(ctx.caller, op, name, body).await {
            Ok((value, usage)) => (Ok(value), Some(usage)),
            Err(e) => (Err(e), None),
        };
        self.audited(ctx, op.audit_action(), object, usage, result)
            .await
    }

    /// Serves an operation that changes state: checks every flag of `op` on the object
    /// named `name`, then runs `body`, which writes `event` (`op`'s action on `object`) in
    /// its own transaction; on failure the failure is audited through the committer instead.
    pub(in crate::service) async fn mutation<T, F, Fut>(
        &self,
        ctx: &Ctx<'_>,
        op: &catalogue::Operation,
        name: &str,
        object: Option<&str>,
        body: F,
    ) -> Result<T, Error>
    where
        F: FnOnce(AuditEvent) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        // A mutation writes its event in its own transaction: a deferred nonce is claimed
        // before anything changes (boxed: it is rare, and every mutation's future holds it).
        Box::pin(self.settle_nonce(ctx.meta)).await?;
        let action = op.audit_action();
        let event = self.event(ctx.meta, Some(ctx.caller), action, object, Ok(()));
        match Self::authorized(ctx.caller, op, name, async move { body(event).await }).await {
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

    /// Runs `body` only if the caller holds every flag `op` needs on `name`.
    pub(in crate::service) async fn authorized<T>(
        caller: &Caller,
        op: &catalogue::Operation,
        name: &str,
        body: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        for flag in op.flags_for(name) {
            Self::require(caller, &flag)?;
        }
        body.await
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
    /// users, what their role (or custom permission template) may do.
    fn require(caller: &Caller, flag: &str) -> Result<(), Error> {
        let role_ok = match (&caller.template, caller.role) {
            (Some(template), _) => template.allows(flag),
            (None, role) => role.is_none_or(|role| authz::role_allows(role, flag)),
        };
        if authz::kind_may_use(caller.kind, flag) && role_ok && caller.flags.allows(flag) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this credential does not grant {flag}"
            )))
        }
    }

    /// Authorization inside a group: every group operation `op` exercises must be allowed to
    /// the caller in `group_id` (an app's group operations, a member's group role).
    pub(in crate::service) fn require_in_group(
        caller: &Caller,
        op: &catalogue::Operation,
        group_id: &GroupId,
    ) -> Result<(), Error> {
        match op.group.iter().find(|g| !caller.may_operate(group_id, **g)) {
            Some(denied) => Err(Error::Forbidden(format!(
                "the caller may not {} in group {group_id}",
                denied.as_str()
            ))),
            None => Ok(()),
        }
    }

    /// Records the event of a request that never reached a service operation (no or bad
    /// credential, malformed request, unknown route). `status` and `outcome` are the answer.
    pub async fn audit_rejected(
        &self,
        meta: &RequestMeta,
        caller: Option<&Caller>,
        action: &str,
        object: &str,
        status: u16,
        outcome: Outcome,
    ) -> Result<(), Error> {
        let mut event = self.event(meta, caller, action, Some(object), Ok(()));
        event.status = status;
        event.outcome = outcome;
        self.record(meta, event).await
    }
}

/// An event's detail, prefixed with the face the request came through (`aws-kms:Encrypt`),
/// so the trail tells an AWS-face call from a native one.
fn with_via(meta: &RequestMeta, detail: Option<String>) -> Option<String> {
    match (&meta.via, detail) {
        (Some(via), Some(detail)) => Some(format!("{via}; {detail}")),
        (Some(via), None) => Some(via.clone()),
        (None, detail) => detail,
    }
}
