//! Passwords: the rule, Argon2id hashing on a blocking thread, changes and resets.
//!
//! Passwords are hashed with Argon2id (19 MiB, 2 passes, 1 lane: the OWASP baseline). Reset
//! tokens are stored as HSM-keyed HMAC digests, like API keys.

use super::*;
use crate::ids::{AccountId, ResetId, UserId};

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
pub(in crate::service) async fn warm_up() -> Result<(), Error> {
    tokio::task::spawn_blocking(|| {
        decoy_hash();
    })
    .await
    .map_err(|e| Error::Internal(Box::new(e)))
}

pub(in crate::service) async fn hash_password(password: SecretString) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || hash_password_blocking(&password))
        .await
        .map_err(|e| Error::Internal(Box::new(e)))?
}

pub(in crate::service) async fn verify_password(
    hash: Option<String>,
    password: SecretString,
) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| decoy_hash().to_owned());
        verify_password_blocking(&hash, &password) && known
    })
    .await
    .map_err(|e| Error::Internal(Box::new(e)))
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

/// A new password-reset token, shown once.
pub struct ResetOutput {
    pub token: ResetToken,
    pub row: ResetRow,
}

impl Service {
    /// Changes the caller's own password; every session of the user ends.
    pub async fn change_password(
        &self,
        ctx: &Ctx<'_>,
        current: SecretString,
        new: SecretString,
    ) -> Result<(), Error> {
        self.mutation(
            ctx,
            &catalogue::CHANGE_PASSWORD,
            "",
            None,
            |event| async move {
                check_password(&new)?;
                let user = self
                    .store
                    .user(&ctx.caller.user_id())
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
            },
        )
        .await
    }

    /// Issues a one-time reset token for a member whose only account is the caller's.
    pub async fn create_password_reset(
        &self,
        ctx: &Ctx<'_>,
        user_id: &UserId,
    ) -> Result<ResetOutput, Error> {
        let object = format!("user/{user_id}");
        self.mutation(ctx, &catalogue::CREATE_PASSWORD_RESET, "", Some(&object), |event| async move {
            let member = self.visible_member(ctx.caller, user_id).await?;
            Self::may_manage_member(ctx.caller, &member)?;
            if self.store.accounts_of_user(user_id).await?.len() > 1 {
                return Err(Error::Conflict(
                    "this user belongs to other accounts too; only they can change their password".into(),
                ));
            }
            let (token, reset) = self
                .issue_reset(&ctx.caller.account_id, user_id, self.settings.reset_ttl, self.now())
                .await?;
            self.store.create_reset(&reset, &event).await?;
            Ok(ResetOutput {
                token,
                row: reset.record,
            })
        })
        .await
    }

    /// A new one-time reset token for `user_id`, usable in `account_id` for `ttl`: its
    /// text, shown once, and its row with the HSM digest of the text beside it.
    pub(in crate::service) async fn issue_reset(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
        ttl: std::time::Duration,
        now: i64,
    ) -> Result<(ResetToken, crate::store::Credential<ResetRow>), Error> {
        let id: ResetId = new_id("rst");
        let token = ResetToken::generate(&id);
        let row = ResetRow {
            id,
            user_id: user_id.clone(),
            account_id: account_id.clone(),
            created_at: now,
            expires_at: now + micros(ttl),
            used_at: None,
        };
        let stored = self.credential(row, token.digest_input()).await?;
        Ok((token, stored))
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
            let event = self.event(
                meta,
                None,
                catalogue::COMPLETE_PASSWORD_RESET.audit_action(),
                None,
                Err(error),
            );
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
        let row = self.presented_reset_token(token).await?;
        let hash = hash_password(new).await?;
        let mut caller = Self::system_caller(&row.account_id);
        caller.principal_id = row.user_id.to_string();
        caller.method = AuthMethod::None;
        caller.credential = Some(row.id.to_string());
        let event = self.event(
            meta,
            Some(&caller),
            catalogue::COMPLETE_PASSWORD_RESET.audit_action(),
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
