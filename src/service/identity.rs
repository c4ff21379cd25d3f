//! Humans: accounts, users and their roles, passwords, login sessions, lockouts and
//! password resets.
//!
//! Passwords are hashed with Argon2id (19 MiB, 2 passes, 1 lane: the OWASP baseline) on a
//! blocking thread. Session and reset tokens are stored as HSM-keyed HMAC digests, like API
//! keys.

use super::{
    APIKEY_PEPPER_LABEL, AuthMethod, Caller, Credential, Ctx, Error, RequestMeta, Service, micros,
    new_id,
};
use crate::auth::{ResetToken, SessionToken};
use crate::authz::{Flags, PrincipalKind, Role};
use crate::store::{AccountState, LockoutRule, MemberRow, ResetRow, SessionRow, UserRecord};
use secrecy::{ExposeSecret, SecretString};
use std::sync::OnceLock;

/// Argon2id cost: memory in KiB, passes, lanes. Documented in the README.
const ARGON2_MEMORY_KIB: u32 = 19_456;
const ARGON2_PASSES: u32 = 2;
const ARGON2_LANES: u32 = 1;

/// Password rule (documented): 12 to 128 characters, at least 6 distinct ones.
const PASSWORD_MIN_CHARS: usize = 12;
const PASSWORD_MAX_CHARS: usize = 128;
const PASSWORD_MIN_DISTINCT: usize = 6;

fn argon2() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .expect("constant Argon2 parameters are valid");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

fn hash_password_blocking(password: &SecretString) -> Result<String, Error> {
    use argon2::PasswordHasher;
    let salt = argon2::password_hash::SaltString::encode_b64(&crate::crypto::random_bytes(16)[..])
        .map_err(|e| Error::Internal(e.to_string().into()))?;
    argon2()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(e.to_string().into()))
}

fn verify_password_blocking(hash: &str, password: &SecretString) -> bool {
    use argon2::PasswordVerifier;
    argon2::PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash nobody knows the password of: verified against when the email is unknown, so a
/// failed login costs the same whether or not the user exists.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let random = SecretString::from(hex::encode(&crate::crypto::random_bytes(32)[..]));
        hash_password_blocking(&random).unwrap_or_default()
    })
}

/// Computes the decoy hash ahead of the first login, so that first unknown-email login
/// costs what every other failed login costs.
pub(super) async fn warm_up() -> Result<(), Error> {
    tokio::task::spawn_blocking(|| {
        decoy_hash();
    })
    .await
    .map_err(|e| Error::Internal(Box::new(e)))
}

async fn hash_password(password: SecretString) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || hash_password_blocking(&password))
        .await
        .map_err(|e| Error::Internal(Box::new(e)))?
}

async fn verify_password(hash: Option<String>, password: SecretString) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| decoy_hash().to_owned());
        verify_password_blocking(&hash, &password) && known
    })
    .await
    .map_err(|e| Error::Internal(Box::new(e)))
}

/// Lower-cases and checks an email address: one `@`, a local part of 1–64 visible
/// characters, a domain of dot-separated labels of letters, digits and hyphens.
pub fn normalize_email(email: &str) -> Result<String, Error> {
    let email = email.trim().to_lowercase();
    let bad = || Error::InvalidInput(format!("{email:?} is not a valid email address"));
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let local_ok = (1..=64).contains(&local.len())
        && local
            .chars()
            .all(|c| c.is_ascii_graphic() && !"@\"(),:;<>[\\]".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = email.len() <= 254
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if local_ok && domain_ok {
        Ok(email)
    } else {
        Err(bad())
    }
}

/// The password rule. The message names the rule, never the password.
pub fn check_password(password: &SecretString) -> Result<(), Error> {
    let text = password.expose_secret();
    let count = text.chars().count();
    let mut distinct: Vec<char> = text.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if (PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&count)
        && distinct.len() >= PASSWORD_MIN_DISTINCT
        && !text.chars().any(char::is_control)
    {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "the password must be {PASSWORD_MIN_CHARS}-{PASSWORD_MAX_CHARS} characters with at least {PASSWORD_MIN_DISTINCT} different ones and no control characters"
        )))
    }
}

fn check_account_name(name: &str) -> Result<(), Error> {
    let ok = (1..=128).contains(&name.chars().count()) && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(
            "account name must be 1-128 printable characters".into(),
        ))
    }
}

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
    account: Option<String>,
    target: Option<String>,
}

/// A new password-reset token, shown once.
pub struct ResetOutput {
    pub token: ResetToken,
    pub row: ResetRow,
}

/// A change to a membership.
#[derive(Debug, Clone, Default)]
pub struct MemberPatch {
    pub role: Option<String>,
    pub suspended: Option<bool>,
}

fn parse_role(text: &str) -> Result<Role, Error> {
    Role::parse(text).ok_or_else(|| {
        Error::InvalidInput(format!(
            "role {text:?} is not one of owner, admin, member, auditor"
        ))
    })
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

    /// A session token → its user, if the session is live and the membership still holds.
    pub(super) async fn authenticate_session(&self, token: &SessionToken) -> Result<Caller, Error> {
        let row = self.store.session(token.key_id()).await?;
        let digest = self
            .hsm
            .hmac_sha256(APIKEY_PEPPER_LABEL, token.digest_input())
            .await?;
        let Some(row) = row else {
            return Err(Error::Unauthenticated);
        };
        let matches: bool = subtle::ConstantTimeEq::ct_eq(&digest[..], &row.digest[..]).into();
        if !matches || row.revoked_at.is_some() || row.expires_at <= self.now() {
            return Err(Error::Unauthenticated);
        }
        let credential = Credential {
            method: AuthMethod::Session,
            id: row.id.clone(),
            flags: Flags::everything(),
        };
        self.user_caller(&row.account_id, &row.user_id, credential)
            .await
    }

    fn own_session_id(caller: &Caller) -> Result<&str, Error> {
        match (caller.method, &caller.credential) {
            (AuthMethod::Session, Some(id)) => Ok(id),
            _ => Err(Error::InvalidInput(
                "this request was not made with a session token".into(),
            )),
        }
    }

    /// Ends the session the request was made with.
    pub async fn logout(&self, ctx: &Ctx<'_>) -> Result<(), Error> {
        self.mutation(ctx, "auth.logout", None, |event| async move {
            Self::require(ctx.caller, "session.write")?;
            let id = Self::own_session_id(ctx.caller)?;
            self.store.revoke_session(id, self.now(), &event).await?;
            Ok(())
        })
        .await
    }

    /// The caller's own sessions in this account.
    pub async fn list_sessions(&self, ctx: &Ctx<'_>) -> Result<Vec<SessionRow>, Error> {
        let result = async {
            Self::require(ctx.caller, "session.read")?;
            Ok(self
                .store
                .sessions(&ctx.caller.account_id, &ctx.caller.principal_id)
                .await?)
        }
        .await;
        self.audited(ctx, "session.list", None, None, result).await
    }

    /// Revokes one of the caller's own sessions.
    pub async fn revoke_session(&self, ctx: &Ctx<'_>, id: &str) -> Result<(), Error> {
        let object = format!("session/{id}");
        self.mutation(ctx, "session.revoke", Some(&object), |event| async move {
            Self::require(ctx.caller, "session.write")?;
            let own = self.store.session(id).await?.filter(|s| {
                s.account_id == ctx.caller.account_id && s.user_id == ctx.caller.principal_id
            });
            if own.is_none() {
                return Err(Error::NotFound(format!("session {id}")));
            }
            self.store.revoke_session(id, self.now(), &event).await?;
            Ok(())
        })
        .await
    }

    /// Changes the caller's own password; every session of the user ends.
    pub async fn change_password(
        &self,
        ctx: &Ctx<'_>,
        current: SecretString,
        new: SecretString,
    ) -> Result<(), Error> {
        self.mutation(ctx, "user.password.change", None, |event| async move {
            Self::require(ctx.caller, "password.write")?;
            check_password(&new)?;
            let user = self
                .store
                .user(&ctx.caller.principal_id)
                .await?
                .ok_or(Error::Unauthenticated)?;
            if !verify_password(user.password_hash.clone(), current).await? {
                return Err(Error::Forbidden("the current password is wrong".into()));
            }
            let hash = hash_password(new).await?;
            self.store
                .set_password(&user.id, &hash, self.now(), &event)
                .await?;
            Ok(())
        })
        .await
    }

    /// Records a refused login in the account the request named, when it exists, so its
    /// owners see password guessing against their users (the user is named, as a claimed
    /// identity, when the email belongs to a member). A login naming no existing account
    /// belongs to no account.
    async fn audit_login_refusal(
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

    /// Issues a one-time reset token for a member whose only account is the caller's.
    pub async fn create_password_reset(
        &self,
        ctx: &Ctx<'_>,
        user_id: &str,
    ) -> Result<ResetOutput, Error> {
        let object = format!("user/{user_id}");
        self.mutation(ctx, "user.password.reset", Some(&object), |event| async move {
            Self::require(ctx.caller, "user.password-reset")?;
            let member = self.visible_member(ctx.caller, user_id).await?;
            Self::may_manage_member(ctx.caller, &member)?;
            if self.store.accounts_of_user(user_id).await?.len() > 1 {
                return Err(Error::Conflict(
                    "this user belongs to other accounts too; only they can change their password".into(),
                ));
            }
            let id = new_id("rst");
            let token = ResetToken::generate(&id);
            let digest = self
                .hsm
                .hmac_sha256(APIKEY_PEPPER_LABEL, token.digest_input())
                .await?;
            let now = self.now();
            let row = ResetRow {
                id,
                user_id: user_id.to_owned(),
                account_id: ctx.caller.account_id.clone(),
                digest: digest.to_vec(),
                created_at: now,
                expires_at: now + micros(self.settings.reset_ttl),
                used_at: None,
            };
            self.store.create_reset(&row, &event).await?;
            Ok(ResetOutput { token, row })
        })
        .await
    }

    /// Sets a new password with a reset token. Unknown, used and expired tokens are the same
    /// 401; a weak password is a 400 that leaves the token usable.
    pub async fn complete_password_reset(
        &self,
        meta: &RequestMeta,
        token: &str,
        new: SecretString,
    ) -> Result<(), Error> {
        let result = self.consume_reset_token(meta, token, new).await;
        if let Err(error) = &result {
            let event = self.event(meta, None, "auth.password-reset", None, Err(error));
            self.record(meta, event).await?;
        }
        result
    }

    async fn consume_reset_token(
        &self,
        meta: &RequestMeta,
        token: &str,
        new: SecretString,
    ) -> Result<(), Error> {
        check_password(&new)?;
        let token = ResetToken::parse(token).ok_or(Error::Unauthenticated)?;
        let row = self.store.reset(token.key_id()).await?;
        let digest = self
            .hsm
            .hmac_sha256(APIKEY_PEPPER_LABEL, token.digest_input())
            .await?;
        let row = row.ok_or(Error::Unauthenticated)?;
        let matches: bool = subtle::ConstantTimeEq::ct_eq(&digest[..], &row.digest[..]).into();
        if !matches {
            return Err(Error::Unauthenticated);
        }
        let hash = hash_password(new).await?;
        let mut caller = Self::system_caller(&row.account_id);
        caller.principal_id = row.user_id.clone();
        caller.method = AuthMethod::None;
        caller.credential = Some(row.id.clone());
        let event = self.event(
            meta,
            Some(&caller),
            "auth.password-reset",
            Some(&format!("user/{}", row.user_id)),
            Ok(()),
        );
        if !self
            .store
            .consume_reset(&row.id, self.now(), &hash, &event)
            .await?
        {
            return Err(Error::Unauthenticated);
        }
        meta.mark_audited();
        Ok(())
    }

    /// A member of the caller's account; anyone else does not exist for the caller.
    async fn visible_member(&self, caller: &Caller, user_id: &str) -> Result<MemberRow, Error> {
        self.store
            .member(&caller.account_id, user_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {user_id}")))
    }

    /// Only owners manage owners.
    fn may_manage_member(caller: &Caller, member: &MemberRow) -> Result<(), Error> {
        if member.role == Role::Owner.as_str() && caller.role != Some(Role::Owner) {
            return Err(Error::Forbidden("only an owner may manage an owner".into()));
        }
        Ok(())
    }

    pub async fn list_users(&self, ctx: &Ctx<'_>) -> Result<Vec<MemberRow>, Error> {
        let result = async {
            Self::require(ctx.caller, "user.read")?;
            Ok(self.store.members(&ctx.caller.account_id).await?)
        }
        .await;
        self.audited(ctx, "user.list", None, None, result).await
    }

    pub async fn get_user(&self, ctx: &Ctx<'_>, id: &str) -> Result<MemberRow, Error> {
        let result = async {
            Self::require(ctx.caller, "user.read")?;
            self.visible_member(ctx.caller, id).await
        }
        .await;
        let object = format!("user/{id}");
        self.audited(ctx, "user.read", Some(&object), None, result)
            .await
    }

    /// Adds a user to the caller's account with a role. A new email creates the user (with
    /// `password` if given); an existing user is added as they are, and may not be given a
    /// password by another account's admin.
    pub async fn add_user(
        &self,
        ctx: &Ctx<'_>,
        email: &str,
        role: &str,
        password: Option<SecretString>,
    ) -> Result<MemberRow, Error> {
        let object = format!("user/{}", email.trim().to_lowercase());
        self.mutation(ctx, "user.create", Some(&object), |event| async move {
            Self::require(ctx.caller, "user.write")?;
            let email = normalize_email(email)?;
            let role = parse_role(role)?;
            if role == Role::Owner && ctx.caller.role != Some(Role::Owner) {
                return Err(Error::Forbidden("only an owner may add an owner".into()));
            }
            if let Some(password) = &password {
                check_password(password)?;
            }
            let now = self.now();
            let existing = self.store.user_by_email(&email).await?;
            let new_user = match (&existing, password) {
                (Some(_), Some(_)) => {
                    return Err(Error::Conflict(
                        "this email already has a Coffer user: add them without a password".into(),
                    ));
                }
                (Some(_), None) => None,
                (None, password) => Some(UserRecord {
                    id: new_id("usr"),
                    email: email.clone(),
                    password_hash: match password {
                        Some(p) => Some(hash_password(p).await?),
                        None => None,
                    },
                    created_at: now,
                }),
            };
            let user_id = existing
                .as_ref()
                .or(new_user.as_ref())
                .map(|u| u.id.clone())
                .unwrap_or_default();
            if self
                .store
                .member(&ctx.caller.account_id, &user_id)
                .await?
                .is_some()
            {
                return Err(Error::Conflict(format!(
                    "{email} is already a member of this account"
                )));
            }
            let member = MemberRow {
                account_id: ctx.caller.account_id.clone(),
                user_id,
                email,
                role: role.as_str().to_owned(),
                suspended: false,
                created_at: now,
            };
            self.store
                .add_member(new_user.as_ref(), &member, &event)
                .await?;
            Ok(member)
        })
        .await
    }

    /// Changes a member's role or suspends them (effective on their next request). The last
    /// active owner cannot be demoted or suspended.
    pub async fn update_user(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        patch: MemberPatch,
    ) -> Result<MemberRow, Error> {
        let object = format!("user/{id}");
        self.mutation(ctx, "user.update", Some(&object), |event| async move {
            Self::require(ctx.caller, "user.write")?;
            let member = self.visible_member(ctx.caller, id).await?;
            Self::may_manage_member(ctx.caller, &member)?;
            if patch.role.is_none() && patch.suspended.is_none() {
                return Err(Error::InvalidInput(
                    "nothing to change: give \"role\" and/or \"suspended\"".into(),
                ));
            }
            let role = match &patch.role {
                Some(role) => parse_role(role)?,
                None => parse_role(&member.role)?,
            };
            if role == Role::Owner && ctx.caller.role != Some(Role::Owner) {
                return Err(Error::Forbidden("only an owner may make an owner".into()));
            }
            let suspended = patch.suspended.unwrap_or(member.suspended);
            let stays_active_owner = role == Role::Owner && !suspended;
            if member.role == Role::Owner.as_str() && !stays_active_owner {
                self.keep_an_owner(&ctx.caller.account_id, id).await?;
            }
            self.store
                .update_member(&ctx.caller.account_id, id, role.as_str(), suspended, &event)
                .await?;
            Ok(MemberRow {
                role: role.as_str().to_owned(),
                suspended,
                ..member
            })
        })
        .await
    }

    /// Removes a member from the account; the user and their other memberships stay.
    pub async fn remove_user(&self, ctx: &Ctx<'_>, id: &str) -> Result<(), Error> {
        let object = format!("user/{id}");
        self.mutation(ctx, "user.remove", Some(&object), |event| async move {
            Self::require(ctx.caller, "user.write")?;
            let member = self.visible_member(ctx.caller, id).await?;
            Self::may_manage_member(ctx.caller, &member)?;
            if member.role == Role::Owner.as_str() {
                self.keep_an_owner(&ctx.caller.account_id, id).await?;
            }
            self.store
                .remove_member(&ctx.caller.account_id, id, self.now(), &event)
                .await?;
            Ok(())
        })
        .await
    }

    /// Refuses a change that would leave the account without an active owner.
    async fn keep_an_owner(&self, account_id: &str, leaving: &str) -> Result<(), Error> {
        let others = self
            .store
            .members(account_id)
            .await?
            .into_iter()
            .filter(|m| m.user_id != leaving && m.role == Role::Owner.as_str() && !m.suspended)
            .count();
        if others == 0 {
            return Err(Error::Conflict(
                "the account must keep at least one active owner".into(),
            ));
        }
        Ok(())
    }

    /// Creates an account; the calling user becomes its owner.
    pub async fn create_account(&self, ctx: &Ctx<'_>, name: &str) -> Result<AccountState, Error> {
        self.mutation(ctx, "account.create", None, |event| async move {
            Self::require(ctx.caller, "account.create")?;
            if ctx.caller.kind != PrincipalKind::User {
                return Err(Error::Forbidden("only users create accounts".into()));
            }
            check_account_name(name)?;
            let account = AccountState {
                id: new_id("acct"),
                name: name.to_owned(),
                created_at: self.now(),
                deletion_requested_at: None,
                deletion_due_at: None,
                closed_at: None,
            };
            let mut event = event;
            event.object = Some(format!("account/{}", account.id));
            self.store
                .create_account(&account, &ctx.caller.principal_id, &event)
                .await?;
            Ok(account)
        })
        .await
    }

    /// The accounts the calling user belongs to, with their role in each.
    pub async fn list_accounts(&self, ctx: &Ctx<'_>) -> Result<Vec<(AccountState, String)>, Error> {
        let result = async {
            Self::require(ctx.caller, "account.read")?;
            Ok(self
                .store
                .accounts_of_user(&ctx.caller.principal_id)
                .await?)
        }
        .await;
        self.audited(ctx, "account.list", None, None, result).await
    }

    /// The caller's own account; every other id is a 404.
    async fn own_account(&self, caller: &Caller, id: &str) -> Result<AccountState, Error> {
        self.store
            .account(id)
            .await?
            .filter(|a| a.id == caller.account_id && a.closed_at.is_none())
            .ok_or_else(|| Error::NotFound(format!("account {id}")))
    }

    pub async fn get_account(&self, ctx: &Ctx<'_>, id: &str) -> Result<AccountState, Error> {
        let result = async {
            Self::require(ctx.caller, "account.read")?;
            self.own_account(ctx.caller, id).await
        }
        .await;
        let object = format!("account/{id}");
        self.audited(ctx, "account.read", Some(&object), None, result)
            .await
    }

    pub async fn rename_account(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        name: &str,
    ) -> Result<AccountState, Error> {
        let object = format!("account/{id}");
        self.mutation(ctx, "account.update", Some(&object), |event| async move {
            Self::require(ctx.caller, "account.write")?;
            let account = self.own_account(ctx.caller, id).await?;
            check_account_name(name)?;
            self.store.rename_account(id, name, &event).await?;
            Ok(AccountState {
                name: name.to_owned(),
                ..account
            })
        })
        .await
    }

    /// Step one of closing an account: it can be confirmed once the waiting period is over.
    pub async fn request_account_deletion(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
    ) -> Result<AccountState, Error> {
        let object = format!("account/{id}");
        self.mutation(
            ctx,
            "account.deletion.request",
            Some(&object),
            |event| async move {
                Self::require(ctx.caller, "account.delete")?;
                let account = self.own_account(ctx.caller, id).await?;
                if account.deletion_due_at.is_some() {
                    return Err(Error::Conflict("a deletion is already pending".into()));
                }
                let now = self.now();
                let due = now + micros(self.settings.account_deletion_delay);
                self.store
                    .schedule_account_deletion(id, Some((now, due)), &event)
                    .await?;
                Ok(AccountState {
                    deletion_requested_at: Some(now),
                    deletion_due_at: Some(due),
                    ..account
                })
            },
        )
        .await
    }

    pub async fn cancel_account_deletion(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
    ) -> Result<AccountState, Error> {
        let object = format!("account/{id}");
        self.mutation(
            ctx,
            "account.deletion.cancel",
            Some(&object),
            |event| async move {
                Self::require(ctx.caller, "account.delete")?;
                let account = self.own_account(ctx.caller, id).await?;
                if account.deletion_due_at.is_none() {
                    return Err(Error::Conflict("no deletion is pending".into()));
                }
                self.store
                    .schedule_account_deletion(id, None, &event)
                    .await?;
                Ok(AccountState {
                    deletion_requested_at: None,
                    deletion_due_at: None,
                    ..account
                })
            },
        )
        .await
    }

    /// Step two: closes the account once its deletion is due and destroys its HSM keys.
    pub async fn confirm_account_deletion(&self, ctx: &Ctx<'_>, id: &str) -> Result<(), Error> {
        let object = format!("account/{id}");
        self.mutation(ctx, "account.delete", Some(&object), |event| async move {
            Self::require(ctx.caller, "account.delete")?;
            let account = self.own_account(ctx.caller, id).await?;
            match account.deletion_due_at {
                None => {
                    return Err(Error::Conflict(
                        "request the deletion first (POST /v1/accounts/{id}/deletion)".into(),
                    ));
                }
                Some(due) if due > self.now() => {
                    return Err(Error::Conflict(format!(
                        "the deletion can be confirmed from {}",
                        crate::clock::rfc3339(due)
                    )));
                }
                Some(_) => {}
            }
            let labels = self.store.close_account(id, self.now(), &event).await?;
            for label in labels {
                self.destroy_quietly(&label).await;
            }
            self.callers.retain(|_, caller| caller.account_id != id);
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(
            normalize_email(" Alice@Example.COM ").ok().as_deref(),
            Some("alice@example.com")
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@com",
            "a b@example.com",
            "alice@-x.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn weak_passwords_are_refused() {
        for bad in ["short", "aaaaaaaaaaaaaaaa", "abcabcabcabc"] {
            assert!(check_password(&SecretString::from(bad)).is_err(), "{bad}");
        }
        assert!(check_password(&SecretString::from("correct horse battery")).is_ok());
    }

    #[test]
    fn password_hashes_verify_only_the_password() {
        let hash =
            hash_password_blocking(&SecretString::from("correct horse battery")).expect("hashes");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password_blocking(
            &hash,
            &SecretString::from("correct horse battery")
        ));
        assert!(!verify_password_blocking(
            &hash,
            &SecretString::from("correct horse battere")
        ));
    }
}
