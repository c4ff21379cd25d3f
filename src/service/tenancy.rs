//! Tenancy: groups (where objects live and what principals are granted) and their members;
//! apps, API keys and bootstrap in the submodules.

mod api_keys;
mod apps;
mod aws_credentials;
mod bootstrap;

pub use api_keys::{ApiKeyPatch, ApiKeySpec, CreatedApiKey};
pub use apps::AppPatch;
pub use aws_credentials::{AwsCredentialSpec, CreatedAwsCredential};
pub use bootstrap::Bootstrapped;

use super::keyrings::master_label;
use super::{Caller, Ctx, Error, RequestMeta, Service, new_id};
use crate::auth::{ApiKeyToken, ResetToken};
use crate::authz::{Flags, PrincipalKind, is_valid_name};
use crate::catalogue;
use crate::ids::{AccountId, AppId, GroupId, UserId};
use crate::store::{AccountRow, ApiKeyRow, AppRow, GroupMember, GroupRow, UserRow};
use std::collections::BTreeMap;

pub(super) fn check_display_name(what: &str, name: &str) -> Result<(), Error> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{what} name {name:?} must be 1-64 chars of [A-Za-z0-9_-]"
        )))
    }
}

impl Service {
    pub async fn create_group(&self, ctx: &Ctx<'_>, name: &str) -> Result<GroupRow, Error> {
        self.mutation(
            ctx,
            &catalogue::CREATE_GROUP,
            "",
            Some(&format!("group/{name}")),
            |event| async move {
                check_display_name("group", name)?;
                let group = GroupRow {
                    id: new_id("grp"),
                    account_id: ctx.caller.account_id.clone(),
                    name: name.to_owned(),
                    master_version: 1,
                    created_at: self.now(),
                    frozen_at: None,
                    frozen_reason: None,
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
        self.read(ctx, &catalogue::LIST_GROUPS, "", None, async {
            let groups = self.store.groups(&ctx.caller.account_id).await?;
            Ok(groups
                .into_iter()
                .filter(|g| ctx.caller.sees_group(&g.id))
                .collect())
        })
        .await
    }

    pub async fn get_group(&self, ctx: &Ctx<'_>, id: &GroupId) -> Result<GroupRow, Error> {
        self.read(
            ctx,
            &catalogue::GET_GROUP,
            "",
            Some(&format!("group/{id}")),
            async { self.visible_group(ctx.caller, id).await },
        )
        .await
    }
}

/// A group's members as the API shows them.
pub struct GroupMembersView {
    pub users: Vec<(UserId, crate::authz::GroupRole)>,
    pub apps: Vec<(AppId, Vec<String>)>,
}

impl Service {
    /// A live group of the caller's account that the caller sees.
    pub(super) async fn visible_group(
        &self,
        caller: &Caller,
        id: &GroupId,
    ) -> Result<GroupRow, Error> {
        self.store
            .group(&caller.account_id, id)
            .await?
            .filter(|g| caller.sees_group(&g.id))
            .ok_or_else(|| Error::NotFound(format!("group {id}")))
    }

    pub async fn rename_group(
        &self,
        ctx: &Ctx<'_>,
        id: &GroupId,
        name: &str,
    ) -> Result<GroupRow, Error> {
        let object = format!("group/{id}");
        self.mutation(
            ctx,
            &catalogue::UPDATE_GROUP,
            "",
            Some(&object),
            |event| async move {
                let group = self.visible_group(ctx.caller, id).await?;
                check_display_name("group", name)?;
                self.store.rename_group(id, name, &event).await?;
                Ok(GroupRow {
                    name: name.to_owned(),
                    ..group
                })
            },
        )
        .await
    }

    /// Deletes a group. While it holds objects this is refused, unless `force` moves them to
    /// the trash first. An empty group's master key is destroyed at once.
    pub async fn delete_group(
        &self,
        ctx: &Ctx<'_>,
        id: &GroupId,
        force: bool,
    ) -> Result<(), Error> {
        let group = id.clone();
        self.gate(ctx, super::PendingOperation::DeleteGroup { group, force })
            .await?;
        let object = format!("group/{id}");
        self.mutation(ctx, &catalogue::DELETE_GROUP, "", Some(&object), |event| async move {
            let group = self.visible_group(ctx.caller, id).await?;
            let objects = self.store.group_object_count(id).await?;
            if objects > 0 && !force {
                return Err(Error::Conflict(format!(
                    "group {id} holds {objects} objects; delete them first, or pass force=true to move them to the trash"
                )));
            }
            // The count above names the objects in the refusal; the store counts again in
            // the deletion's transaction, so one created meanwhile is never left behind.
            let trashed = self.store.delete_group(id, self.now(), force, &event).await?;
            // The group's objects went to the trash: drop them from the metadata caches.
            self.keyrings.retain(|_, state| state.row.group_id != *id);
            self.keys.retain(|_, state| state.row.group_id != *id);
            if trashed == 0 {
                for version in 1..=group.master_version {
                    self.destroy_quietly(&master_label(id, version)).await;
                }
            }
            self.forget_account_callers(&ctx.caller.account_id).await;
            Ok(())
        })
        .await
    }

    pub async fn group_members(
        &self,
        ctx: &Ctx<'_>,
        id: &GroupId,
    ) -> Result<GroupMembersView, Error> {
        let object = format!("group/{id}");
        self.read(ctx, &catalogue::GROUP_MEMBERS, "", Some(&object), async {
            self.visible_group(ctx.caller, id).await?;
            let members = self.store.group_members(id).await?;
            Ok(GroupMembersView {
                users: members.users,
                apps: members.apps,
            })
        })
        .await
    }

    /// Puts a user in a group with a group role (`member` or `auditor`), or changes it.
    pub async fn set_group_user(
        &self,
        ctx: &Ctx<'_>,
        group_id: &GroupId,
        user_id: &UserId,
        role: &str,
    ) -> Result<(), Error> {
        let object = format!("group/{group_id}/user/{user_id}");
        self.mutation(
            ctx,
            &catalogue::SET_GROUP_USER,
            "",
            Some(&object),
            |event| async move {
                self.visible_group(ctx.caller, group_id).await?;
                let role = crate::authz::GroupRole::parse(role).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "group role {role:?} is not one of member, auditor"
                    ))
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
                    .set_group_user(group_id, user_id, role, &event)
                    .await?;
                Ok(())
            },
        )
        .await
    }

    /// Assigns an app to a group with the operations it may perform there, or changes them.
    pub async fn set_group_app(
        &self,
        ctx: &Ctx<'_>,
        group_id: &GroupId,
        app_id: &AppId,
        operations: &[String],
    ) -> Result<Vec<String>, Error> {
        let object = format!("group/{group_id}/app/{app_id}");
        self.mutation(ctx, &catalogue::SET_GROUP_APP, "", Some(&object), |event| async move {
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
            self.forget_principal(app_id).await;
            Ok(names)
        })
        .await
    }

    /// Takes a user or an app out of a group.
    pub async fn remove_group_member(
        &self,
        ctx: &Ctx<'_>,
        group_id: &GroupId,
        member: GroupMember<'_>,
    ) -> Result<(), Error> {
        let member_id = member.id();
        let object = format!("group/{group_id}/member/{member_id}");
        // Users and apps leave a group through their own routes, alike but for the path.
        let op = match member {
            GroupMember::User(_) => &catalogue::REMOVE_GROUP_USER,
            GroupMember::App(_) => &catalogue::REMOVE_GROUP_APP,
        };
        self.mutation(ctx, op, "", Some(&object), |event| async move {
            self.visible_group(ctx.caller, group_id).await?;
            if !self
                .store
                .remove_group_member(group_id, member, &event)
                .await?
            {
                return Err(Error::NotFound(format!(
                    "member {member_id} of group {group_id}"
                )));
            }
            self.forget_principal(member_id).await;
            if let GroupMember::App(_) = member {
                self.forget_group_secrets(&ctx.caller.account_id, group_id)
                    .await;
            }
            Ok(())
        })
        .await
    }

    /// Refuses to bring an object back into a group that was deleted.
    pub(super) async fn require_live_group(
        &self,
        account_id: &AccountId,
        group_id: &GroupId,
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
        let retention = super::micros(self.settings.trash_retention);
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
}
