//! Log-in with email, password and account: a session, or a counted, audited refusal.

use super::*;
use crate::ids::{AccountId, SessionId, UserId};
use crate::store::UserRecord;

/// A new session: the token, shown once, and its row.
pub struct LoginOutput {
    pub token: SessionToken,
    pub session: SessionRow,
    pub role: Role,
}

/// Where a refused login is recorded: the account it named (if that exists) and the member
/// the email belongs to (if any).
struct LoginRefusal<'a> {
    object: &'a str,
    account: Option<AccountId>,
    target: Option<UserId>,
}

/// One log-in attempt: where it comes from and what it names.
struct Attempt<'a> {
    meta: &'a RequestMeta,
    /// The source address, which failures count against.
    source: String,
    now: i64,
    refusal: LoginRefusal<'a>,
}

impl Service {
    /// `POST /v1/auth/login`: email + password + account → a session bound to that account.
    /// Every failure is the same 401 after the same work; a source with too many recent
    /// failures gets 429 without its password being checked.
    pub async fn login(
        &self,
        meta: &RequestMeta,
        email: &str,
        password: SecretString,
        account_id: &AccountId,
    ) -> Result<LoginOutput, Error> {
        let object = format!("account/{account_id}");
        let now = self.now();
        let user = match normalize_email(email) {
            Ok(email) => self.store.user_by_email(&email).await?,
            Err(_) => None,
        };
        let attempt = Attempt {
            meta,
            source: meta.source_ip.clone().unwrap_or_else(|| "unknown".into()),
            now,
            refusal: self
                .login_refusal(&object, account_id, user.as_ref())
                .await?,
        };
        self.refuse_locked_source(&attempt).await?;
        let verified = verify_password(
            user.as_ref().and_then(|u| u.password_hash.clone()),
            password,
        )
        .await?;
        let caller = match (&user, verified) {
            (Some(user), true) => self.password_caller(account_id, &user.id).await?,
            _ => None,
        };
        let Some(caller) = caller else {
            return Err(self.refuse_login(&attempt).await?);
        };
        self.store.clear_login_failures(&attempt.source).await?;
        self.open_session(meta, caller, &object, now).await
    }

    /// Where a refusal of a login naming `account_id` as `user` is recorded.
    async fn login_refusal<'a>(
        &self,
        object: &'a str,
        account_id: &AccountId,
        user: Option<&UserRecord>,
    ) -> Result<LoginRefusal<'a>, Error> {
        let account = self.store.account(account_id).await?.map(|a| a.id);
        let target = match user {
            Some(user) => self
                .store
                .member(account_id, &user.id)
                .await?
                .map(|m| m.user_id),
            None => None,
        };
        Ok(LoginRefusal {
            object,
            account,
            target,
        })
    }

    /// 429 (audited) while the attempt's source is locked out.
    async fn refuse_locked_source(&self, attempt: &Attempt<'_>) -> Result<(), Error> {
        let now = attempt.now;
        if let Some(state) = self.store.login_failures(&attempt.source).await?
            && let Some(until) = state.locked_until.filter(|until| *until > now)
        {
            let error = Error::RateLimited {
                retry_after_secs: u64::try_from((until - now) / 1_000_000 + 1).unwrap_or(1),
            };
            self.audit_login_refusal(attempt, &error, "source_locked")
                .await?;
            return Err(error);
        }
        Ok(())
    }

    /// The user whose password verified, as a caller of `account_id`; `None` when they may
    /// not sign in there (not a member, suspended, account closed).
    async fn password_caller(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Option<Caller>, Error> {
        let credential = Credential {
            method: AuthMethod::Session,
            id: String::new(),
            flags: Flags::everything(),
        };
        match self.user_caller(account_id, user_id, credential).await {
            Ok(caller) => Ok(Some(caller)),
            Err(Error::Unauthenticated) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Counts a failed attempt against its source, audits it, and returns the 401.
    async fn refuse_login(&self, attempt: &Attempt<'_>) -> Result<Error, Error> {
        let rule = LockoutRule {
            now: attempt.now,
            window_micros: micros(self.settings.lockout_window),
            threshold: self.settings.lockout_threshold,
            lock_micros: micros(self.settings.lockout_duration),
        };
        let failures = self
            .store
            .record_login_failure(&attempt.source, rule)
            .await?;
        // The failure that starts a lockout says so: that is what an owner looks for.
        let detail = if failures
            .locked_until
            .is_some_and(|until| until > attempt.now)
        {
            "lockout_started"
        } else {
            "bad_credentials"
        };
        let error = Error::Unauthenticated;
        self.audit_login_refusal(attempt, &error, detail).await?;
        Ok(error)
    }

    /// A new session of `caller`, written with the login's audit event.
    async fn open_session(
        &self,
        meta: &RequestMeta,
        mut caller: Caller,
        object: &str,
        now: i64,
    ) -> Result<LoginOutput, Error> {
        let id: SessionId = new_id("sess");
        let token = SessionToken::generate(&id);
        let session = SessionRow {
            id: id.clone(),
            account_id: caller.account_id.clone(),
            user_id: caller.principal_id.as_str().into(),
            created_at: now,
            expires_at: now + micros(self.settings.session_ttl),
            revoked_at: None,
            source_ip: meta.source_ip.clone(),
        };
        let session = self.credential(session, token.digest_input()).await?;
        caller.credential = Some(id.into_string());
        let action = catalogue::LOGIN.audit_action();
        let event = self.event(meta, Some(&caller), action, Some(object), Ok(()));
        self.store.create_session(&session, &event).await?;
        meta.mark_audited();
        Ok(LoginOutput {
            token,
            session: session.record,
            role: caller.role.unwrap_or(Role::Auditor),
        })
    }

    /// Records a refused login in the account the request named, when it exists, so its
    /// owners see password guessing against their users (the user is named, as a claimed
    /// identity, when the email belongs to a member). A login naming no existing account
    /// belongs to no account.
    async fn audit_login_refusal(
        &self,
        attempt: &Attempt<'_>,
        error: &Error,
        detail: &str,
    ) -> Result<(), Error> {
        let refusal = &attempt.refusal;
        let action = catalogue::LOGIN.audit_action();
        let mut event = self.event(attempt.meta, None, action, Some(refusal.object), Err(error));
        event.account_id = refusal.account.clone();
        event.identity = refusal.target.as_ref().map(|_| Identity::Claimed);
        event.principal = refusal.target.as_ref().map(ToString::to_string);
        event.detail = Some(detail.to_owned());
        self.record(attempt.meta, event).await
    }
}
