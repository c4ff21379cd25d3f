//! API keys: bearer credentials of users and apps, shown once, narrowed or disabled later.

use super::*;
use crate::ids::{AccountId, ApiKeyId, AppId, UserId};

/// A request for a new API key.
#[derive(Debug, Clone)]
pub struct ApiKeySpec {
    pub principal: String,
    pub name: String,
    pub flags: BTreeMap<String, bool>,
}

/// A created API key: the only moment its text is known.
pub struct CreatedApiKey {
    pub row: ApiKeyRow,
    pub token: ApiKeyToken,
}

/// A change to an API key: disable it, and/or narrow its flags.
#[derive(Debug, Clone, Default)]
pub struct ApiKeyPatch {
    pub disabled: Option<bool>,
    pub flags: Option<BTreeMap<String, bool>>,
}

pub(super) fn check_key_name(name: &str) -> Result<(), Error> {
    let ok = (1..=128).contains(&name.chars().count()) && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(
            "API key name must be 1-128 printable characters".into(),
        ))
    }
}

impl Service {
    /// The kind of the principal `id` in the caller's account, or 404.
    pub(in crate::service) async fn principal_kind(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<PrincipalKind, Error> {
        if id.starts_with("app_") {
            match self.own_app(caller, &AppId::from(id)).await {
                Ok(_) => return Ok(PrincipalKind::App),
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if id.starts_with("usr_")
            && self
                .store
                .membership_role(&caller.account_id, &UserId::from(id))
                .await?
                .is_some()
        {
            return Ok(PrincipalKind::User);
        }
        Err(Error::NotFound(format!("principal {id}")))
    }

    pub async fn create_api_key(
        &self,
        ctx: &Ctx<'_>,
        spec: ApiKeySpec,
    ) -> Result<CreatedApiKey, Error> {
        self.mutation(
            ctx,
            &catalogue::CREATE_API_KEY,
            "",
            Some(&format!("principal/{}", spec.principal)),
            |event| async move {
                check_key_name(&spec.name)?;
                let kind = self.principal_kind(ctx.caller, &spec.principal).await?;
                self.may_mint_key_for(ctx.caller, kind, &spec.principal)
                    .await?;
                let flags = Flags::parse(spec.flags, kind)
                    .map_err(|e| Error::InvalidInput(e.to_string()))?;
                let principal = (kind, spec.principal.as_str());
                let (token, row) = self
                    .issue_api_key(
                        &ctx.caller.account_id,
                        principal,
                        &spec.name,
                        &flags,
                        self.now(),
                    )
                    .await?;
                self.store.create_api_key(&row, &event).await?;
                Ok(CreatedApiKey {
                    row: row.record,
                    token,
                })
            },
        )
        .await
    }

    /// A new API key of `principal` (its kind and id) in `account_id`: its text, shown
    /// once, and its row with the HSM digest of the text.
    pub(in crate::service) async fn issue_api_key(
        &self,
        account_id: &AccountId,
        (kind, principal_id): (PrincipalKind, &str),
        name: &str,
        flags: &Flags,
        now: i64,
    ) -> Result<(ApiKeyToken, crate::store::Credential<ApiKeyRow>), Error> {
        let key_id: ApiKeyId = new_id("ak");
        let token = ApiKeyToken::generate(&key_id);
        let row = ApiKeyRow {
            id: key_id,
            account_id: account_id.clone(),
            principal_kind: kind,
            principal_id: principal_id.to_owned(),
            name: name.to_owned(),
            flags: flags.as_map().clone(),
            created_at: now,
            last_used_at: None,
            disabled: false,
        };
        let stored = self.credential(row, token.digest_input()).await?;
        Ok((token, stored))
    }

    /// A key acts with its principal's powers: only an owner may mint one for an owner
    /// (else an admin could make themselves an owner's key).
    async fn may_mint_key_for(
        &self,
        caller: &Caller,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<(), Error> {
        if kind == PrincipalKind::App
            || principal == caller.principal_id
            || caller.role == Some(crate::authz::Role::Owner)
        {
            return Ok(());
        }
        let target = self
            .store
            .membership_role(&caller.account_id, &UserId::from(principal))
            .await?;
        if target == Some(crate::authz::Role::Owner) {
            return Err(Error::Forbidden(
                "only an owner may create an API key for an owner".into(),
            ));
        }
        Ok(())
    }

    pub async fn list_api_keys(&self, ctx: &Ctx<'_>) -> Result<Vec<ApiKeyRow>, Error> {
        self.read(ctx, &catalogue::LIST_API_KEYS, "", None, async {
            Ok(self.store.api_keys(&ctx.caller.account_id).await?)
        })
        .await
    }

    async fn own_api_key(&self, caller: &Caller, id: &ApiKeyId) -> Result<ApiKeyRow, Error> {
        self.store
            .api_key(id)
            .await?
            .map(|k| k.record)
            .filter(|k| k.account_id == caller.account_id)
            .ok_or_else(|| Error::NotFound(format!("API key {id}")))
    }

    pub async fn get_api_key(&self, ctx: &Ctx<'_>, id: &ApiKeyId) -> Result<ApiKeyRow, Error> {
        self.read(
            ctx,
            &catalogue::GET_API_KEY,
            "",
            Some(&format!("apikey/{id}")),
            async { self.own_api_key(ctx.caller, id).await },
        )
        .await
    }

    /// Disables a key (for good) and/or narrows its flags; effective on the next request.
    pub async fn update_api_key(
        &self,
        ctx: &Ctx<'_>,
        id: &ApiKeyId,
        patch: ApiKeyPatch,
    ) -> Result<ApiKeyRow, Error> {
        self.mutation(
            ctx,
            &catalogue::UPDATE_API_KEY,
            "",
            Some(&format!("apikey/{id}")),
            |event| async move {
                let row = self.own_api_key(ctx.caller, id).await?;
                if patch.disabled.is_none() && patch.flags.is_none() {
                    return Err(Error::InvalidInput(
                        "nothing to change: give \"disabled\" and/or \"flags\"".into(),
                    ));
                }
                if row.disabled && patch.disabled == Some(false) {
                    return Err(Error::Conflict(
                        "a disabled API key cannot be re-enabled; create a new one".into(),
                    ));
                }
                let kind = row.principal_kind;
                let flags = match patch.flags {
                    Some(raw) => {
                        let wanted = Flags::parse(raw, kind)
                            .map_err(|e| Error::InvalidInput(e.to_string()))?;
                        let current = Flags::parse(row.flags.clone(), kind)
                            .map_err(|e| Error::Internal(Box::new(e)))?;
                        wanted
                            .narrows(&current)
                            .map_err(|e| Error::InvalidInput(e.to_string()))?;
                        wanted.as_map().clone()
                    }
                    None => row.flags.clone(),
                };
                let disabled = row.disabled || patch.disabled == Some(true);
                self.store
                    .update_api_key(id, disabled, &flags, &event)
                    .await?;
                self.forget_api_key(id).await;
                Ok(ApiKeyRow {
                    disabled,
                    flags,
                    ..row
                })
            },
        )
        .await
    }
}
