//! Log-in with email, password and account: a session, or a counted, audited refusal.

use super::*;

/// A new session: the token, shown once, and its row.
pub struct LoginOutput {
    pub token: SessionToken,
    pub session: SessionRow,
    pub role: Role,
}

/// Where a refused login is recorded: the account it named (if that exists) and the member
/// the email belongs to (if any).
pub(in crate::service) struct LoginRefusal<'a> {
    object: &'a str,
    account: Option<String>,
    target: Option<String>,
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
        account_id: &str,
    ) -> Result<LoginOutput, Error> {
        let source = meta.source_ip.clone().unwrap_or_else(|| "unknown".into());
        let object = format!("account/{account_id}");
        let now = self.now();
        let user = match normalize_email(email) {
            Ok(email) => self.store.user_by_email(&email).await?,
            Err(_) => None,
        };
        let refusal = LoginRefusal {
            object: &object,
            account: self.store.account(account_id).await?.map(|a| a.id),
            target: match &user {
                Some(user) => self
                    .store
                    .member(account_id, &user.id)
                    .await?
                    .map(|m| m.user_id),
                None => None,
            },
        };
        if let Some(state) = self.store.login_failures(&source).await?
            && let Some(until) = state.locked_until.filter(|until| *until > now)
        {
            let error = Error::RateLimited {
                retry_after_secs: u64::try_from((until - now) / 1_000_000 + 1).unwrap_or(1),
            };
            self.audit_login_refusal(meta, &refusal, &error, "source_locked")
                .await?;
            return Err(error);
        }
        let verified = verify_password(
            user.as_ref().and_then(|u| u.password_hash.clone()),
            password,
        )
        .await?;
        let caller = match (&user, verified) {
            (Some(user), true) => {
                let credential = Credential {
                    method: AuthMethod::Session,
                    id: String::new(),
                    flags: Flags::everything(),
                };
                match self.user_caller(account_id, &user.id, credential).await {
                    Ok(caller) => Some(caller),
                    Err(Error::Unauthenticated) => None,
                    Err(e) => return Err(e),
                }
            }
            _ => None,
        };
        let Some(mut caller) = caller else {
            let failures = self
                .store
                .record_login_failure(
                    &source,
                    LockoutRule {
                        now,
                        window_micros: micros(self.settings.lockout_window),
                        threshold: self.settings.lockout_threshold,
                        lock_micros: micros(self.settings.lockout_duration),
                    },
                )
                .await?;
            // The failure that starts a lockout says so: that is what an owner looks for.
            let detail = if failures.locked_until.is_some_and(|until| until > now) {
                "lockout_started"
            } else {
                "bad_credentials"
            };
            let error = Error::Unauthenticated;
            self.audit_login_refusal(meta, &refusal, &error, detail)
                .await?;
            return Err(error);
        };
        self.store.clear_login_failures(&source).await?;
        let id = new_id("sess");
        let token = SessionToken::generate(&id);
        let digest = self
            .hsm
            .hmac_sha256(APIKEY_PEPPER_LABEL, token.digest_input())
            .await?;
        let session = SessionRow {
            id: id.clone(),
            account_id: account_id.to_owned(),
            user_id: caller.principal_id.clone(),
            digest: digest.to_vec(),
            created_at: now,
            expires_at: now + micros(self.settings.session_ttl),
            revoked_at: None,
            source_ip: meta.source_ip.clone(),
        };
        caller.credential = Some(id);
        let event = self.event(meta, Some(&caller), "auth.login", Some(&object), Ok(()));
        self.store.create_session(&session, &event).await?;
        meta.mark_audited();
        Ok(LoginOutput {
            token,
            session,
            role: caller.role.unwrap_or(Role::Auditor),
        })
    }

    /// Records a refused login in the account the request named, when it exists, so its
    /// owners see password guessing against their users (the user is named, as a claimed
    /// identity, when the email belongs to a member). A login naming no existing account
    /// belongs to no account.
    pub(in crate::service) async fn audit_login_refusal(
        &self,
        meta: &RequestMeta,
        refusal: &LoginRefusal<'_>,
        error: &Error,
        detail: &str,
    ) -> Result<(), Error> {
        let mut event = self.event(meta, None, "auth.login", Some(refusal.object), Err(error));
        event.account_id = refusal.account.clone();
        event.identity = refusal
            .target
            .as_ref()
            .map(|_| crate::audit::Identity::Claimed);
        event.principal = refusal.target.clone();
        event.detail = Some(detail.to_owned());
        self.record(meta, event).await
    }
}
