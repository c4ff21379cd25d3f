//! Bootstrap: the first account, its owner and the owner's credentials.

use super::*;
use crate::ids::{AccountId, UserId};
use crate::service::{new_event_id, normalize_email};

/// What bootstrap hands to the first owner, once.
pub struct Bootstrapped {
    pub account_id: AccountId,
    pub user_id: UserId,
    pub owner_email: String,
    pub api_key: ApiKeyToken,
    /// A one-time token with which the owner sets their password (`POST
    /// /v1/auth/password-reset`), so that they can sign in to any account they create.
    pub setup_token: ResetToken,
}

/// The action of bootstrap's event: it runs from the command line, not through a route.
const BOOTSTRAP_ACTION: &str = "account.bootstrap";

impl Service {
    /// Creates the first account, its owner and the owner's `*.*.*.*` API key.
    pub async fn bootstrap(
        &self,
        account_name: &str,
        owner_email: &str,
    ) -> Result<Bootstrapped, Error> {
        let now = self.now();
        let account = AccountRow {
            id: new_id("acct"),
            name: account_name.to_owned(),
            created_at: now,
        };
        let owner = UserRow {
            id: new_id("usr"),
            email: normalize_email(owner_email)?,
            created_at: now,
        };
        let owner_key = (PrincipalKind::User, owner.id.as_str());
        let (token, row) = self
            .issue_api_key(
                &account.id,
                owner_key,
                "bootstrap",
                &Flags::everything(),
                now,
            )
            .await?;
        let (setup_token, setup) = self
            .issue_reset(&account.id, &owner.id, self.settings.setup_token_ttl, now)
            .await?;
        let meta = RequestMeta::new(new_event_id("sys"), None);
        let caller = Self::system_caller(&account.id);
        let event = self.event(
            &meta,
            Some(&caller),
            BOOTSTRAP_ACTION,
            Some(&account.id),
            Ok(()),
        );
        self.store
            .create_account_with_owner(&account, &owner, &row, &setup, &event)
            .await?;
        Ok(Bootstrapped {
            account_id: account.id,
            user_id: owner.id,
            owner_email: owner.email,
            api_key: token,
            setup_token,
        })
    }

    /// Whether an account exists already (bootstrap ran).
    pub async fn is_bootstrapped(&self) -> Result<bool, Error> {
        Ok(self.store.first_account().await?.is_some())
    }
}
