//! A user's login sessions: listing, revoking, logging out.

use super::*;
use crate::ids::SessionId;

impl Service {
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
        self.mutation(ctx, &catalogue::LOGOUT, "", None, |event| async move {
            let id = Self::own_session_id(ctx.caller)?;
            self.store
                .revoke_session(&SessionId::from(id), self.now(), &event)
                .await?;
            Ok(())
        })
        .await
    }

    /// The caller's own sessions in this account.
    pub async fn list_sessions(&self, ctx: &Ctx<'_>) -> Result<Vec<SessionRow>, Error> {
        self.read(ctx, &catalogue::LIST_SESSIONS, "", None, async {
            Ok(self
                .store
                .sessions(&ctx.caller.account_id, &ctx.caller.user_id())
                .await?)
        })
        .await
    }

    /// Revokes one of the caller's own sessions.
    pub async fn revoke_session(&self, ctx: &Ctx<'_>, id: &SessionId) -> Result<(), Error> {
        let object = format!("session/{id}");
        self.mutation(
            ctx,
            &catalogue::REVOKE_SESSION,
            "",
            Some(&object),
            |event| async move {
                let own = self.store.session(id).await?.map(|s| s.record).filter(|s| {
                    s.account_id == ctx.caller.account_id
                        && s.user_id == ctx.caller.principal_id.as_str()
                });
                if own.is_none() {
                    return Err(Error::NotFound(format!("session {id}")));
                }
                self.store.revoke_session(id, self.now(), &event).await?;
                Ok(())
            },
        )
        .await
    }
}
