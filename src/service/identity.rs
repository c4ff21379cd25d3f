//! Accounts: creation, renaming and the two-step closing. The people in them are in the
//! submodules (members and roles, passwords, sessions); log-in, being credential
//! verification, is in [`super::auth`].

mod invitations;
mod passwords;
mod sessions;
mod users;

pub use invitations::{InvitationIssued, UserAdded};
pub use passwords::{ResetOutput, check_password};
pub(super) use passwords::{hash_password, verify_password, warm_up};
pub use users::{AddUser, MemberPatch, normalize_email};

use super::{AuthMethod, Caller, Ctx, Error, RequestMeta, Service, micros, new_id};
use crate::auth::ResetToken;
use crate::authz::{PrincipalKind, Role};
use crate::catalogue;
use crate::ids::AccountId;
use crate::store::{AccountState, MemberRow, ResetRow, SessionRow, UserRecord};
use secrecy::{ExposeSecret, SecretString};
use std::sync::OnceLock;

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

impl Service {
    /// Creates an account; the calling user becomes its owner.
    pub async fn create_account(&self, ctx: &Ctx<'_>, name: &str) -> Result<AccountState, Error> {
        self.mutation(
            ctx,
            &catalogue::CREATE_ACCOUNT,
            "",
            None,
            |event| async move {
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
                    .create_account(&account, &ctx.caller.user_id(), &event)
                    .await?;
                Ok(account)
            },
        )
        .await
    }

    /// The accounts the calling user belongs to, with their role in each.
    pub async fn list_accounts(&self, ctx: &Ctx<'_>) -> Result<Vec<(AccountState, Role)>, Error> {
        self.read(ctx, &catalogue::LIST_ACCOUNTS, "", None, async {
            Ok(self.store.accounts_of_user(&ctx.caller.user_id()).await?)
        })
        .await
    }

    /// The caller's own account; every other id is a 404.
    async fn own_account(&self, caller: &Caller, id: &AccountId) -> Result<AccountState, Error> {
        self.store
            .account(id)
            .await?
            .filter(|a| a.id == caller.account_id && a.closed_at.is_none())
            .ok_or_else(|| Error::NotFound(format!("account {id}")))
    }

    pub async fn get_account(&self, ctx: &Ctx<'_>, id: &AccountId) -> Result<AccountState, Error> {
        let object = format!("account/{id}");
        self.read(ctx, &catalogue::GET_ACCOUNT, "", Some(&object), async {
            self.own_account(ctx.caller, id).await
        })
        .await
    }

    pub async fn rename_account(
        &self,
        ctx: &Ctx<'_>,
        id: &AccountId,
        name: &str,
    ) -> Result<AccountState, Error> {
        let object = format!("account/{id}");
        self.mutation(
            ctx,
            &catalogue::UPDATE_ACCOUNT,
            "",
            Some(&object),
            |event| async move {
                let account = self.own_account(ctx.caller, id).await?;
                check_account_name(name)?;
                self.store.rename_account(id, name, &event).await?;
                Ok(AccountState {
                    name: name.to_owned(),
                    ..account
                })
            },
        )
        .await
    }

    /// Step one of closing an account: it can be confirmed once the waiting period is over.
    pub async fn request_account_deletion(
        &self,
        ctx: &Ctx<'_>,
        id: &AccountId,
    ) -> Result<AccountState, Error> {
        self.schedule_deletion(ctx, &catalogue::REQUEST_ACCOUNT_DELETION, id, true)
            .await
    }

    pub async fn cancel_account_deletion(
        &self,
        ctx: &Ctx<'_>,
        id: &AccountId,
    ) -> Result<AccountState, Error> {
        self.schedule_deletion(ctx, &catalogue::CANCEL_ACCOUNT_DELETION, id, false)
            .await
    }

    /// Requests (`request`) or cancels the account's deletion; refused when that is already
    /// the state.
    async fn schedule_deletion(
        &self,
        ctx: &Ctx<'_>,
        op: &catalogue::Operation,
        id: &AccountId,
        request: bool,
    ) -> Result<AccountState, Error> {
        let object = format!("account/{id}");
        self.mutation(ctx, op, "", Some(&object), |event| async move {
            let account = self.own_account(ctx.caller, id).await?;
            match (request, account.deletion_due_at.is_some()) {
                (true, true) => {
                    return Err(Error::Conflict("a deletion is already pending".into()));
                }
                (false, false) => return Err(Error::Conflict("no deletion is pending".into())),
                _ => {}
            }
            let schedule = request.then(|| {
                let now = self.now();
                (now, now + micros(self.settings.account_deletion_delay))
            });
            self.store
                .schedule_account_deletion(id, schedule, &event)
                .await?;
            Ok(AccountState {
                deletion_requested_at: schedule.map(|(requested, _)| requested),
                deletion_due_at: schedule.map(|(_, due)| due),
                ..account
            })
        })
        .await
    }

    /// Step two: closes the account once its deletion is due and destroys its HSM keys.
    pub async fn confirm_account_deletion(
        &self,
        ctx: &Ctx<'_>,
        id: &AccountId,
    ) -> Result<(), Error> {
        let object = format!("account/{id}");
        let op = &catalogue::DELETE_ACCOUNT;
        self.mutation(ctx, op, "", Some(&object), |event| async move {
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
            self.forget_account_callers(id).await;
            Ok(())
        })
        .await
    }
}
