//! Running an approved operation: once, as the user who asked for it, with the approval
//! named in its audit event; then the approval records how it went.

use super::*;
use crate::authz::{Flags, PrincipalKind};
use crate::ids::ApiKeyId;
use crate::service::caller::Credential;
use crate::service::{AuthMethod, Caller, RequestMeta};
use crate::store::{ApprovalRow, ApprovalStatus};

impl Service {
    /// Runs the operation of `approval`, which the vote of `ctx`'s caller took to
    /// `executing`, and records the outcome (`executed`, or `failed` with a message a person
    /// can act on) with an `approval.execute` event.
    pub(super) async fn execute(&self, ctx: &Ctx<'_>, approval: &ApprovalRow) -> Result<(), Error> {
        let outcome = self.run_as_requester(ctx.meta, approval).await;
        let (status, error) = match &outcome {
            Ok(()) => (ApprovalStatus::Executed, None),
            Err(e) => (ApprovalStatus::Failed, Some(failure_message(e, ctx.meta))),
        };
        let object = approval_object(&approval.id);
        let mut event = self.event(
            ctx.meta,
            Some(ctx.caller),
            "approval.execute",
            Some(&object),
            outcome.as_ref().map(|_| ()),
        );
        event.status = 200;
        event.detail = Some(match &error {
            None => format!("{} {} executed", approval.operation, approval.target),
            Some(why) => format!("{} {} failed: {why}", approval.operation, approval.target),
        });
        self.store
            .finish_approval(&approval.id, status, error.as_deref(), self.now(), &event)
            .await?;
        Ok(())
    }

    /// The operation, run through its service function by the requester as they are now:
    /// a requester who lost the right meanwhile (removed, suspended, a narrowed or disabled
    /// key) is refused as they would be on a request of their own.
    async fn run_as_requester(
        &self,
        meta: &RequestMeta,
        approval: &ApprovalRow,
    ) -> Result<(), Error> {
        let operation: PendingOperation = serde_json::from_value(approval.params.clone())
            .map_err(|e| Error::Internal(Box::new(e)))?;
        let caller = self.requester(approval).await.map_err(|_| {
            Error::Forbidden(format!(
                "the requester {} can no longer act in this account (removed, suspended, or their credential was disabled)",
                approval.requester
            ))
        })?;
        let mut own_meta = RequestMeta::new(meta.request_id.clone(), meta.source_ip.clone());
        own_meta.success_status = operation.operation().status;
        let ctx = Ctx {
            meta: &own_meta,
            caller: &caller,
        };
        RUNNING
            .scope(approval.id.clone(), operation.run(self, &ctx))
            .await
    }

    /// The requester as a caller, rebuilt from the stored identity as their credential
    /// would authenticate them now (an API key's current flags; a session's user).
    async fn requester(&self, approval: &ApprovalRow) -> Result<Caller, Error> {
        let id = approval.requester_credential.clone().unwrap_or_default();
        let flags = match approval.requester_method {
            AuthMethod::ApiKey => {
                let key = self
                    .store
                    .api_key(&ApiKeyId::from(id.as_str()))
                    .await?
                    .map(|c| c.record)
                    .filter(|k| !k.disabled)
                    .ok_or(Error::Unauthenticated)?;
                Flags::parse(key.flags, PrincipalKind::User).map_err(|_| Error::Unauthenticated)?
            }
            _ => Flags::everything(),
        };
        let credential = Credential {
            method: approval.requester_method,
            id,
            flags,
        };
        self.user_caller(&approval.account_id, &approval.requester, credential)
            .await
    }
}

/// What the approval records about a failed run: the refusal a person can act on, or, for
/// a server-side failure, where to look.
fn failure_message(error: &Error, meta: &RequestMeta) -> String {
    if error.status() >= 500 {
        format!(
            "the operation failed on the server's side; see the server log for request {}",
            meta.request_id
        )
    } else {
        error.public_message()
    }
}
