//! Bearer credentials: API keys and login sessions.

use super::*;
use crate::ids::{ApiKeyId, SessionId};

impl Service {
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
        let id = ApiKeyId::from(token.key_id());
        let row = self
            .verified(self.store.api_key(&id), token.digest_input())
            .await?
            .filter(|row| !row.disabled)
            .ok_or(Error::Unauthenticated)?;
        let caller = Arc::new(self.caller_for_key(&row).await?);
        // Only apps' keys are cached (the hot path). A user's role, suspension and removal
        // take effect on their next request, so users are resolved every time.
        if caller.kind == PrincipalKind::App {
            self.remember_caller(cache_key, &caller);
        }
        Ok(caller)
    }

    async fn caller_for_key(&self, row: &crate::store::ApiKeyRow) -> Result<Caller, Error> {
        let kind = row.principal_kind;
        let flags =
            Flags::parse(row.flags.clone(), kind).map_err(|e| Error::Internal(Box::new(e)))?;
        let credential = Credential {
            method: AuthMethod::ApiKey,
            id: row.id.to_string(),
            flags,
        };
        match kind {
            PrincipalKind::User => {
                self.user_caller(
                    &row.account_id,
                    &row.principal_id.as_str().into(),
                    credential,
                )
                .await
            }
            PrincipalKind::App => {
                self.app_caller(
                    &row.account_id,
                    &row.principal_id.as_str().into(),
                    credential,
                )
                .await
            }
            // An agent authenticates only by signature, never with an API key.
            PrincipalKind::Agent => Err(Error::Unauthenticated),
        }
    }

    /// A session token → its user, if the session is live and the membership still holds.
    async fn authenticate_session(&self, token: &SessionToken) -> Result<Caller, Error> {
        let id = SessionId::from(token.key_id());
        let row = self
            .verified(self.store.session(&id), token.digest_input())
            .await?
            .filter(|row| row.revoked_at.is_none() && row.expires_at > self.now())
            .ok_or(Error::Unauthenticated)?;
        let credential = Credential {
            method: AuthMethod::Session,
            id: row.id.to_string(),
            flags: Flags::everything(),
        };
        self.user_caller(&row.account_id, &row.user_id, credential)
            .await
    }
}
