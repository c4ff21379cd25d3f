//! Tenancy: bootstrap, groups and their members, apps and API keys.

use super::keyrings::master_label;
use super::{APIKEY_PEPPER_LABEL, Caller, Ctx, Error, RequestMeta, Service, new_id};
use crate::auth::{ApiKeyToken, ResetToken};
use crate::authz::{Flags, PrincipalKind, is_valid_name};
use crate::store::{AccountRow, ApiKeyRow, AppRow, GroupRow, ResetRow, UserRow};
use std::collections::BTreeMap;

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

pub(super) fn check_display_name(what: &str, name: &str) -> Result<(), Error> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{what} name {name:?} must be 1-64 chars of [A-Za-z0-9_-]"
        )))
    }
}

fn check_key_name(name: &str) -> Result<(), Error> {
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
            email: super::normalize_email(owner_email)?,
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
            expires_at: now + super::micros(self.settings.setup_token_ttl),
            used_at: None,
        };
        let meta = RequestMeta::new(super::new_event_id("sys"), None);
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

    pub async fn create_group(&self, ctx: &Ctx<'_>, name: &str) -> Result<GroupRow, Error> {
        self.mutation(
            ctx,
            "group.create",
            Some(&format!("group/{name}")),
            |event| async move {
                Self::require(ctx.caller, "group.write")?;
                check_display_name("group", name)?;
                let group = GroupRow {
                    id: new_id("grp"),
                    account_id: ctx.caller.account_id.clone(),
                    name: name.to_owned(),
                    master_version: 1,
                    created_at: self.now(),
                };
                let label = master_label(&group.id, 1);
                self.hsm.create_master_key(&label).await?;
                if let Err(e) = self.store.create_group(&group, &event).await {
                    self.destroy_quietly(&label).await;
                    return Err(e.into());
                }
                Ok(group)
            },
        )
        .await
    }

    pub async fn list_groups(&self, ctx: &Ctx<'_>) -> Result<Vec<GroupRow>, Error> {
        let result = async {
            Self::require(ctx.caller, "group.read")?;
            let groups = self.store.groups(&ctx.caller.account_id).await?;
            Ok(groups
                .into_iter()
                .filter(|g| ctx.caller.sees_group(&g.id))
                .collect())
        }
        .await;
        self.audited(ctx, "group.list", None, None, result).await
    }

    pub async fn get_group(&self, ctx: &Ctx<'_>, id: &str) -> Result<GroupRow, Error> {
        let result = async {
            Self::require(ctx.caller, "group.read")?;
            self.visible_group(ctx.caller, id).await
        }
        .await;
        self.audited(
            ctx,
            "group.read",
            Some(&format!("group/{id}")),
            None,
            result,
        )
        .await
    }

    pub async fn create_app(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        groups: Vec<String>,
    ) -> Result<AppRow, Error> {
        self.mutation(
            ctx,
            "app.create",
            Some(&format!("app/{name}")),
            |event| async move {
                Self::require(ctx.caller, "app.write")?;
                check_display_name("app", name)?;
                let mut groups = groups;
                groups.sort();
                groups.dedup();
                for group in &groups {
                    if self
                        .store
                        .group(&ctx.caller.account_id, group)
                        .await?
                        .is_none()
                    {
                        return Err(Error::NotFound(format!("group {group}")));
                    }
                }
                let all = crate::authz::Operations::all().names();
                let app = AppRow {
                    id: new_id("app"),
                    account_id: ctx.caller.account_id.clone(),
                    name: name.to_owned(),
                    operations: groups.iter().map(|g| (g.clone(), all.clone())).collect(),
                    groups,
                    enabled: true,
                    created_at: self.now(),
                };
                self.store.create_app(&app, &event).await?;
                Ok(app)
            },
        )
        .await
    }

    pub async fn list_apps(&self, ctx: &Ctx<'_>) -> Result<Vec<AppRow>, Error> {
        let result = async {
            Self::require(ctx.caller, "app.read")?;
            Ok(self
                .store
                .apps(&ctx.caller.account_id)
                .await?
                .into_iter()
                .filter_map(|app| visible_app(ctx.caller, app))
                .collect())
        }
        .await;
        self.audited(ctx, "app.list", None, None, result).await
    }

    pub async fn get_app(&self, ctx: &Ctx<'_>, id: &str) -> Result<AppRow, Error> {
        let result = async {
            Self::require(ctx.caller, "app.read")?;
            self.own_app(ctx.caller, id).await
        }
        .await;
        self.audited(ctx, "app.read", Some(&format!("app/{id}")), None, result)
            .await
    }

    /// The kind of the principal `id` in the caller's account, or 404.
    async fn principal_kind(&self, caller: &Caller, id: &str) -> Result<PrincipalKind, Error> {
        if id.starts_with("app_") {
            match self.own_app(caller, id).await {
                Ok(_) => return Ok(PrincipalKind::App),
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if id.starts_with("usr_")
            && self
                .store
                .membership_role(&caller.account_id, id)
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
            "apikey.create",
            Some(&format!("principal/{}", spec.principal)),
            |event| async move {
                Self::require(ctx.caller, "apikey.write")?;
                check_key_name(&spec.name)?;
                let kind = self.principal_kind(ctx.caller, &spec.principal).await?;
                self.may_mint_key_for(ctx.caller, kind, &spec.principal)
                    .await?;
                let flags = Flags::parse(spec.flags, kind)
                    .map_err(|e| Error::InvalidInput(e.to_string()))?;
                let key_id = new_id("ak");
                let token = ApiKeyToken::generate(&key_id);
                let digest = self
                    .hsm
                    .hmac_sha256(APIKEY_PEPPER_LABEL, token.digest_input())
                    .await?;
                let row = ApiKeyRow {
                    id: key_id,
                    account_id: ctx.caller.account_id.clone(),
                    principal_kind: match kind {
                        PrincipalKind::User => "user".into(),
                        PrincipalKind::App => "app".into(),
                    },
                    principal_id: spec.principal.clone(),
                    name: spec.name,
                    flags_json: flags_json(&flags)?,
                    digest: digest.to_vec(),
                    created_at: self.now(),
                    last_used_at: None,
                    disabled: false,
                };
                self.store.create_api_key(&row, &event).await?;
                Ok(CreatedApiKey { row, token })
            },
        )
        .await
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
            .membership_role(&caller.account_id, principal)
            .await?;
        if target.as_deref() == Some(crate::authz::Role::Owner.as_str()) {
            return Err(Error::Forbidden(
                "only an owner may create an API key for an owner".into(),
            ));
        }
        Ok(())
    }

    pub async fn list_api_keys(&self, ctx: &Ctx<'_>) -> Result<Vec<ApiKeyRow>, Error> {
        let result = async {
            Self::require(ctx.caller, "apikey.read")?;
            Ok(self.store.api_keys(&ctx.caller.account_id).await?)
        }
        .await;
        self.audited(ctx, "apikey.list", None, None, result).await
    }

    async fn own_api_key(&self, caller: &Caller, id: &str) -> Result<ApiKeyRow, Error> {
        self.store
            .api_key(id)
            .await?
            .filter(|k| k.account_id == caller.account_id)
            .ok_or_else(|| Error::NotFound(format!("API key {id}")))
    }

    pub async fn get_api_key(&self, ctx: &Ctx<'_>, id: &str) -> Result<ApiKeyRow, Error> {
        let result = async {
            Self::require(ctx.caller, "apikey.read")?;
            self.own_api_key(ctx.caller, id).await
        }
        .await;
        self.audited(
            ctx,
            "apikey.read",
            Some(&format!("apikey/{id}")),
            None,
            result,
        )
        .await
    }

    /// Disables a key (for good) and/or narrows its flags; effective on the next request.
    pub async fn update_api_key(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        patch: ApiKeyPatch,
    ) -> Result<ApiKeyRow, Error> {
        self.mutation(
            ctx,
            "apikey.update",
            Some(&format!("apikey/{id}")),
            |event| async move {
                Self::require(ctx.caller, "apikey.write")?;
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
                let kind = if row.principal_kind == "app" {
                    PrincipalKind::App
                } else {
                    PrincipalKind::User
                };
                let flags_json = match patch.flags {
                    Some(raw) => {
                        let wanted = Flags::parse(raw, kind)
                            .map_err(|e| Error::InvalidInput(e.to_string()))?;
                        let current_raw = serde_json::from_str(&row.flags_json)
                            .map_err(|e| Error::Internal(Box::new(e)))?;
                        let current = Flags::parse(current_raw, kind)
                            .map_err(|e| Error::Internal(Box::new(e)))?;
                        wanted
                            .narrows(&current)
                            .map_err(|e| Error::InvalidInput(e.to_string()))?;
                        flags_json(&wanted)?
                    }
                    None => row.flags_json.clone(),
                };
                let disabled = row.disabled || patch.disabled == Some(true);
                self.store
                    .update_api_key(id, disabled, &flags_json, &event)
                    .await?;
                self.forget_api_key(id);
                Ok(ApiKeyRow {
                    disabled,
                    flags_json,
                    ..row
                })
            },
        )
        .await
    }
}

pub(super) fn flags_json(flags: &Flags) -> Result<String, Error> {
    serde_json::to_string(flags.as_map()).map_err(|e| Error::Internal(Box::new(e)))
}

/// A group's members as the API shows them.
pub struct GroupMembersView {
    pub users: Vec<(String, String)>,
    pub apps: Vec<(String, Vec<String>)>,
}

/// A change to an app.
#[derive(Debug, Clone, Default)]
pub struct AppPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
}

impl Service {
    /// A live group of the caller's account that the caller sees.
    pub(super) async fn visible_group(&self, caller: &Caller, id: &str) -> Result<GroupRow, Error> {
        self.store
            .group(&caller.account_id, id)
            .await?
            .filter(|g| caller.sees_group(&g.id))
            .ok_or_else(|| Error::NotFound(format!("group {id}")))
    }

    pub async fn rename_group(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        name: &str,
    ) -> Result<GroupRow, Error> {
        let object = format!("group/{id}");
        self.mutation(ctx, "group.update", Some(&object), |event| async move {
            Self::require(ctx.caller, "group.write")?;
            let group = self.visible_group(ctx.caller, id).await?;
            check_display_name("group", name)?;
            self.store.rename_group(id, name, &event).await?;
            Ok(GroupRow {
                name: name.to_owned(),
                ..group
            })
        })
        .await
    }

    /// Deletes a group. While it holds objects this is refused, unless `force` moves them to
    /// the trash first. An empty group's master key is destroyed at once.
    pub async fn delete_group(&self, ctx: &Ctx<'_>, id: &str, force: bool) -> Result<(), Error> {
        let object = format!("group/{id}");
        self.mutation(ctx, "group.delete", Some(&object), |event| async move {
            Self::require(ctx.caller, "group.write")?;
            let group = self.visible_group(ctx.caller, id).await?;
            let objects = self.store.group_object_count(id).await?;
            if objects > 0 && !force {
                return Err(Error::Conflict(format!(
                    "group {id} holds {objects} objects; delete them first, or pass force=true to move them to the trash"
                )));
            }
            self.store.delete_group(id, self.now(), &event).await?;
            // The group's objects went to the trash: drop them from the metadata caches.
            self.keyrings.retain(|_, state| state.row.group_id != id);
            self.keys.retain(|_, state| state.row.group_id != id);
            if objects == 0 {
                for version in 1..=group.master_version {
                    self.destroy_quietly(&master_label(id, version)).await;
                }
            }
            self.forget_account_callers(&ctx.caller.account_id);
            Ok(())
        })
        .await
    }

    pub async fn group_members(&self, ctx: &Ctx<'_>, id: &str) -> Result<GroupMembersView, Error> {
        let result = async {
            Self::require(ctx.caller, "group.read")?;
            self.visible_group(ctx.caller, id).await?;
            let members = self.store.group_members(id).await?;
            Ok(GroupMembersView {
                users: members.users,
                apps: members.apps,
            })
        }
        .await;
        let object = format!("group/{id}");
        self.audited(ctx, "group.members.read", Some(&object), None, result)
            .await
    }

    /// Puts a user in a group with a group role (`member` or `auditor`), or changes it.
    pub async fn set_group_user(
        &self,
        ctx: &Ctx<'_>,
        group_id: &str,
        user_id: &str,
        role: &str,
    ) -> Result<(), Error> {
        let object = format!("group/{group_id}/user/{user_id}");
        self.mutation(ctx, "group.member.set", Some(&object), |event| async move {
            Self::require(ctx.caller, "group.write")?;
            self.visible_group(ctx.caller, group_id).await?;
            let role = crate::authz::GroupRole::parse(role).ok_or_else(|| {
                Error::InvalidInput(format!("group role {role:?} is not one of member, auditor"))
            })?;
            if self
                .store
                .member(&ctx.caller.account_id, user_id)
                .await?
                .is_none()
            {
                return Err(Error::NotFound(format!("user {user_id}")));
            }
            self.store
                .set_group_user(group_id, user_id, role.as_str(), &event)
                .await?;
            Ok(())
        })
        .await
    }

    /// Assigns an app to a group with the operations it may perform there, or changes them.
    pub async fn set_group_app(
        &self,
        ctx: &Ctx<'_>,
        group_id: &str,
        app_id: &str,
        operations: &[String],
    ) -> Result<Vec<String>, Error> {
        let object = format!("group/{group_id}/app/{app_id}");
        self.mutation(ctx, "group.member.set", Some(&object), |event| async move {
            Self::require(ctx.caller, "group.write")?;
            self.visible_group(ctx.caller, group_id).await?;
            let ops = crate::authz::Operations::parse(operations).map_err(|op| {
                Error::InvalidInput(format!(
                    "operation {op:?} is not one of encrypt, decrypt, sign, verify, wrap, unwrap, mac, export, manage-objects"
                ))
            })?;
            if self
                .store
                .app(&ctx.caller.account_id, app_id)
                .await?
                .is_none()
            {
                return Err(Error::NotFound(format!("app {app_id}")));
            }
            let names = ops.names();
            let json = serde_json::to_string(&names).map_err(|e| Error::Internal(Box::new(e)))?;
            self.store
                .set_group_app(group_id, app_id, &json, &event)
                .await?;
            self.forget_principal(app_id);
            Ok(names)
        })
        .await
    }

    /// Takes a user or an app out of a group.
    pub async fn remove_group_member(
        &self,
        ctx: &Ctx<'_>,
        group_id: &str,
        member_id: &str,
    ) -> Result<(), Error> {
        let object = format!("group/{group_id}/member/{member_id}");
        self.mutation(
            ctx,
            "group.member.remove",
            Some(&object),
            |event| async move {
                Self::require(ctx.caller, "group.write")?;
                self.visible_group(ctx.caller, group_id).await?;
                if !self
                    .store
                    .remove_group_member(group_id, member_id, &event)
                    .await?
                {
                    return Err(Error::NotFound(format!(
                        "member {member_id} of group {group_id}"
                    )));
                }
                self.forget_principal(member_id);
                Ok(())
            },
        )
        .await
    }

    /// An app of the caller's account, as the caller may see it (see [`visible_app`]).
    pub(super) async fn own_app(&self, caller: &Caller, id: &str) -> Result<AppRow, Error> {
        self.store
            .app(&caller.account_id, id)
            .await?
            .and_then(|app| visible_app(caller, app))
            .ok_or_else(|| Error::NotFound(format!("app {id}")))
    }

    /// Renames, disables or re-enables an app; effective on its next request.
    pub async fn update_app(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        patch: AppPatch,
    ) -> Result<AppRow, Error> {
        let object = format!("app/{id}");
        self.mutation(ctx, "app.update", Some(&object), |event| async move {
            Self::require(ctx.caller, "app.write")?;
            let app = self.own_app(ctx.caller, id).await?;
            if patch.name.is_none() && patch.enabled.is_none() {
                return Err(Error::InvalidInput(
                    "nothing to change: give \"name\" and/or \"enabled\"".into(),
                ));
            }
            let name = patch.name.unwrap_or_else(|| app.name.clone());
            check_display_name("app", &name)?;
            let enabled = patch.enabled.unwrap_or(app.enabled);
            self.store.update_app(id, &name, enabled, &event).await?;
            self.forget_principal(id);
            Ok(AppRow {
                name,
                enabled,
                ..app
            })
        })
        .await
    }

    /// Deletes an app: its API keys stop working, its certificates and group places go.
    pub async fn delete_app(&self, ctx: &Ctx<'_>, id: &str) -> Result<(), Error> {
        let object = format!("app/{id}");
        self.mutation(ctx, "app.delete", Some(&object), |event| async move {
            Self::require(ctx.caller, "app.write")?;
            self.own_app(ctx.caller, id).await?;
            self.store.delete_app(id, self.now(), &event).await?;
            self.forget_principal(id);
            Ok(())
        })
        .await
    }

    /// An app's credentials: API-key metadata and client-certificate bindings.
    pub async fn app_credentials(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
    ) -> Result<(Vec<ApiKeyRow>, Vec<crate::store::AppCertificateRow>), Error> {
        let result = async {
            Self::require(ctx.caller, "app.read")?;
            self.own_app(ctx.caller, id).await?;
            let keys = self
                .store
                .api_keys(&ctx.caller.account_id)
                .await?
                .into_iter()
                .filter(|k| k.principal_id == id)
                .collect();
            Ok((keys, self.store.app_certificates(id).await?))
        }
        .await;
        let object = format!("app/{id}");
        self.audited(ctx, "app.credentials.read", Some(&object), None, result)
            .await
    }

    /// Refuses to bring an object back into a group that was deleted.
    pub(super) async fn require_live_group(
        &self,
        account_id: &str,
        group_id: &str,
    ) -> Result<(), Error> {
        if self.store.group(account_id, group_id).await?.is_none() {
            return Err(Error::Conflict(format!(
                "its group {group_id} was deleted; it cannot be restored"
            )));
        }
        Ok(())
    }

    /// Destroys the master keys of groups deleted longer ago than the trash retention (a
    /// forced deletion keeps them meanwhile, with the trashed objects they wrap).
    pub(super) async fn purge_deleted_groups(&self) -> Result<(), Error> {
        let retention =
            i64::try_from(self.settings.trash_retention.as_micros()).unwrap_or(i64::MAX);
        let cutoff = self.now().saturating_sub(retention);
        for group in self.store.groups_to_purge(cutoff).await? {
            for version in 1..=group.master_version {
                self.destroy_quietly(&master_label(&group.id, version))
                    .await;
            }
            self.store.mark_group_purged(&group.id).await?;
        }
        Ok(())
    }

    /// Forgets every cached caller of an account (group structure changed).
    fn forget_account_callers(&self, account_id: &str) {
        self.callers
            .retain(|_, caller| caller.account_id != account_id);
    }
}

/// An app as `caller` may see it: a caller limited to some groups (a member) sees an app
/// only if it is in one of them, and sees only those of its groups; the others do not exist
/// for the caller. `None` when the app is in none of the caller's groups.
fn visible_app(caller: &Caller, mut app: AppRow) -> Option<AppRow> {
    if matches!(caller.scope, super::GroupScope::All) {
        return Some(app);
    }
    app.groups.retain(|group| caller.sees_group(group));
    app.operations.retain(|group, _| caller.sees_group(group));
    (!app.groups.is_empty()).then_some(app)
}
