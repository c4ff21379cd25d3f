//! Bootstrap: the first account, its owner and the owner's credentials.

use super::*;
use crate::service::{micros, new_event_id, normalize_email};

/// What bootstrap hands to the first owner, once.
pub struct Bootstrapped {
    pub account_id: String,
    pub user_id: String,
    pub owner_email: String,
    pub api_key: ApiKeyToken,
    /// A one-time token with which the owner sets their password (`POST
    /// /v1/auth/password-reset`), so that they can sign in to any account they create.
    pub setup_token: ResetToken,
}

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
        let key_id = new_id("ak");
        let token = ApiKeyToken::generate(&key_id);
        let digest = self
            .hsm
            .hmac_sha256(APIKEY_PEPPER_LABEL, token.digest_input())
            .await?;
        let row = ApiKeyRow {
            id: key_id,
            account_id: account.id.clone(),
            principal_kind: "user".into(),
            principal_id: owner.id.clone(),
            name: "bootstrap".into(),
            flags_json: flags_json(&Flags::everything())?,
            digest: digest.to_vec(),
            created_at: now,
            last_used_at: None,
            disabled: false,
        };
        let setup_id = new_id("rst");
        let setup_token = ResetToken::generate(&setup_id);
        let setup = ResetRow {
            id: setup_id,
            user_id: owner.id.clone(),
            account_id: account.id.clone(),
            digest: self
                .hsm
                .hmac_sha256(APIKEY_PEPPER_LABEL, setup_token.digest_input())
                .await?
                .to_vec(),
            created_at: now,
            expires_at: now + micros(self.settings.setup_token_ttl),
            used_at: None,
        };
        let meta = RequestMeta::new(new_event_id("sys"), None);
        let caller = Self::system_caller(&account.id);
        let event = self.event(
            &meta,
            Some(&caller),
            "account.bootstrap",
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
