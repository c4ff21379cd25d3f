//! Permission templates (docs/templates.md): what a user may ever do, as named bundles of
//! capabilities that many members can hold. The four roles are the built-in templates;
//! an account adds its own. Editing a template, assigning one and changing a member's group
//! scope are for owners only (the built-in owner template), so escalation stays in one
//! hand. A change is in force on every holder's next request on every node: it forgets the
//! account's verified callers here and, through the change log, on every other node.

use super::*;
use crate::authz::templates::{Capabilities, builtin_capabilities};
use crate::ids::{AccountId, GroupId, UserId};
use crate::store::{AssignmentRow, MemberRow, TemplateRow};

/// Custom templates per account.
const MAX_TEMPLATES: usize = 100;

/// A template as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateView {
    /// The role's name for a built-in, `tpl_…` for the account's own.
    pub id: String,
    pub name: String,
    pub builtin: bool,
    pub capabilities: Vec<String>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// A new template, or the whole of a changed one's settings.
#[derive(Debug, Clone, Default)]
pub struct TemplateSpec {
    pub name: Option<String>,
    pub capabilities: Option<Vec<String>>,
}

/// Which groups a holder's group-scoped capabilities reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateGroups {
    All,
    Only(Vec<GroupId>),
}

/// A member's template, as assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentView {
    pub user_id: UserId,
    pub template: String,
    /// `None` for a built-in: its role says which groups it reaches.
    pub groups: Option<TemplateGroups>,
}

fn builtin_view(role: Role) -> TemplateView {
    TemplateView {
        id: role.as_str().to_owned(),
        name: role.as_str().to_owned(),
        builtin: true,
        capabilities: builtin_capabilities(role).names(),
        created_at: None,
        updated_at: None,
    }
}

fn custom_view(row: TemplateRow) -> TemplateView {
    TemplateView {
        id: row.id,
        name: row.name,
        builtin: false,
        capabilities: row.capabilities,
        created_at: Some(row.created_at),
        updated_at: Some(row.updated_at),
    }
}

fn object(id: &str) -> String {
    format!("template/{id}")
}

fn check_name(name: &str) -> Result<(), Error> {
    if !crate::authz::is_valid_name(name) {
        return Err(Error::InvalidInput(
            "name must be 1-64 characters of [A-Za-z0-9_-]".into(),
        ));
    }
    if Role::parse(name).is_some() {
        return Err(Error::InvalidInput(format!(
            "{name:?} is a built-in template's name"
        )));
    }
    Ok(())
}

/// Checks capability names; answers them in the list's order, without repeats.
fn check_capabilities(names: &[String]) -> Result<Vec<String>, Error> {
    Capabilities::parse(names)
        .map(|caps| caps.names())
        .map_err(|bad| {
            Error::InvalidInput(format!(
                "{bad:?} is not a capability (see GET /v1/templates/owner for every one)"
            ))
        })
}

/// Refuses anyone but a holder of the built-in owner template.
fn require_owner(caller: &Caller) -> Result<(), Error> {
    if caller.kind == PrincipalKind::User && caller.role == Some(Role::Owner) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only an owner may edit, assign or re-scope permission templates".into(),
        ))
    }
}

/// A holder's caller parts from their custom template: the capabilities and the groups
/// they reach, each with what the template may do there.
pub(in crate::service) fn custom_scope(
    template: &TemplateRow,
    assignment: &AssignmentRow,
) -> Result<(Capabilities, GroupScope), Error> {
    let caps = Capabilities::parse(&template.capabilities)
        .map_err(|bad| Error::Internal(format!("stored capability {bad}").into()))?;
    let scope = match &assignment.groups {
        None => GroupScope::All,
        Some(groups) => GroupScope::Only(
            groups
                .iter()
                .map(|g| (g.clone(), caps.group_operations()))
                .collect(),
        ),
    };
    Ok((caps, scope))
}

impl Service {
    pub async fn list_templates(&self, ctx: &Ctx<'_>) -> Result<Vec<TemplateView>, Error> {
        self.read(ctx, &catalogue::LIST_TEMPLATES, "", None, async {
            let mut all: Vec<TemplateView> = Role::ALL.into_iter().map(builtin_view).collect();
            let custom = self.store.templates(&ctx.caller.account_id).await?;
            all.extend(custom.into_iter().map(custom_view));
            Ok(all)
        })
        .await
    }

    pub async fn get_template(&self, ctx: &Ctx<'_>, id: &str) -> Result<TemplateView, Error> {
        self.read(
            ctx,
            &catalogue::GET_TEMPLATE,
            "",
            Some(&object(id)),
            async {
                match Role::parse(id) {
                    Some(role) => Ok(builtin_view(role)),
                    None => Ok(custom_view(
                        self.template_of(&ctx.caller.account_id, id).await?,
                    )),
                }
            },
        )
        .await
    }

    async fn template_of(&self, account: &AccountId, id: &str) -> Result<TemplateRow, Error> {
        self.store
            .template(account, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("template {id}")))
    }

    pub async fn create_template(
        &self,
        ctx: &Ctx<'_>,
        spec: TemplateSpec,
    ) -> Result<TemplateView, Error> {
        let id: String = new_id("tpl");
        let view = self
            .mutation(
                ctx,
                &catalogue::CREATE_TEMPLATE,
                "",
                Some(&object(&id)),
                |event| async move {
                    require_owner(ctx.caller)?;
                    let (Some(name), Some(capabilities)) = (spec.name, spec.capabilities) else {
                        return Err(Error::InvalidInput(
                            "a template needs a name and capabilities".into(),
                        ));
                    };
                    check_name(&name)?;
                    let capabilities = check_capabilities(&capabilities)?;
                    let account = &ctx.caller.account_id;
                    if self.store.templates(account).await?.len() >= MAX_TEMPLATES {
                        return Err(Error::Conflict(format!(
                            "an account has at most {MAX_TEMPLATES} templates"
                        )));
                    }
                    let row = TemplateRow {
                        id,
                        account_id: account.clone(),
                        name,
                        capabilities,
                        created_by: ctx.caller.principal_id.clone(),
                        created_at: self.now(),
                        updated_at: self.now(),
                    };
                    self.store.create_template(&row, &event).await?;
                    Ok(custom_view(row))
                },
            )
            .await?;
        Ok(view)
    }

    pub async fn update_template(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        patch: TemplateSpec,
    ) -> Result<TemplateView, Error> {
        let account = &ctx.caller.account_id;
        let view = self
            .mutation(
                ctx,
                &catalogue::UPDATE_TEMPLATE,
                "",
                Some(&object(id)),
                |event| async move {
                    require_owner(ctx.caller)?;
                    if Role::parse(id).is_some() {
                        return Err(Error::Forbidden("built-in templates are read-only".into()));
                    }
                    let mut row = self.template_of(account, id).await?;
                    if patch.name.is_none() && patch.capabilities.is_none() {
                        return Err(Error::InvalidInput(
                            "nothing to change: give \"name\" and/or \"capabilities\"".into(),
                        ));
                    }
                    if let Some(name) = patch.name {
                        check_name(&name)?;
                        row.name = name;
                    }
                    if let Some(capabilities) = patch.capabilities {
                        row.capabilities = check_capabilities(&capabilities)?;
                    }
                    row.updated_at = self.now();
                    self.store.update_template(&row, &event).await?;
                    Ok(custom_view(row))
                },
            )
            .await?;
        self.forget_account_callers(account).await;
        Ok(view)
    }

    pub async fn delete_template(&self, ctx: &Ctx<'_>, id: &str) -> Result<(), Error> {
        let account = &ctx.caller.account_id;
        self.mutation(
            ctx,
            &catalogue::DELETE_TEMPLATE,
            "",
            Some(&object(id)),
            |event| async move {
                require_owner(ctx.caller)?;
                if Role::parse(id).is_some() {
                    return Err(Error::Forbidden(
                        "built-in templates cannot be deleted".into(),
                    ));
                }
                self.template_of(account, id).await?;
                let holders = self.store.template_holders(account, id).await?;
                if !holders.is_empty() {
                    return Err(Error::Conflict(format!(
                        "the template is assigned to {} member(s); assign them another first",
                        holders.len()
                    )));
                }
                if !self.store.delete_template(account, id, &event).await? {
                    return Err(Error::Conflict(
                        "the template was assigned or deleted meanwhile".into(),
                    ));
                }
                Ok(())
            },
        )
        .await
    }
}

impl Service {
    /// Gives a member a template: a built-in one sets their role (`groups` must be absent:
    /// the role says which groups it reaches); a custom one reaches `groups` (every group
    /// when absent). Owners only; an owner must be given another built-in template before
    /// a custom one, so the account always keeps an owner.
    pub async fn assign_template(
        &self,
        ctx: &Ctx<'_>,
        user: &UserId,
        template: &str,
        groups: Option<TemplateGroups>,
    ) -> Result<AssignmentView, Error> {
        let account = &ctx.caller.account_id;
        let view = self
            .mutation(
                ctx,
                &catalogue::ASSIGN_TEMPLATE,
                "",
                Some(&format!("user/{user}")),
                |event| async move {
                    require_owner(ctx.caller)?;
                    let member = self
                        .store
                        .member(account, user)
                        .await?
                        .ok_or_else(|| Error::NotFound(format!("user {user}")))?;
                    match Role::parse(template) {
                        Some(role) => self.assign_role(&member, role, groups, &event).await,
                        None => self.assign_custom(&member, template, groups, &event).await,
                    }
                },
            )
            .await?;
        self.forget_account_callers(account).await;
        Ok(view)
    }

    async fn assign_role(
        &self,
        member: &MemberRow,
        role: Role,
        groups: Option<TemplateGroups>,
        event: &AuditEvent,
    ) -> Result<AssignmentView, Error> {
        if groups.is_some() {
            return Err(Error::InvalidInput(
                "a built-in template reaches the groups its role says: give no \"groups\"".into(),
            ));
        }
        if member.role == Role::Owner && role != Role::Owner {
            self.another_owner(&member.account_id, &member.user_id)
                .await?;
        }
        self.store
            .assign_builtin(&member.account_id, &member.user_id, role, event)
            .await?;
        Ok(AssignmentView {
            user_id: member.user_id.clone(),
            template: role.as_str().to_owned(),
            groups: None,
        })
    }

    async fn assign_custom(
        &self,
        member: &MemberRow,
        template: &str,
        groups: Option<TemplateGroups>,
        event: &AuditEvent,
    ) -> Result<AssignmentView, Error> {
        let account = &member.account_id;
        let row = self.template_of(account, template).await?;
        if member.role == Role::Owner {
            return Err(Error::Conflict(
                "an owner holds the owner template: assign them another built-in template first"
                    .into(),
            ));
        }
        let groups = groups.unwrap_or(TemplateGroups::All);
        let stored = match &groups {
            TemplateGroups::All => None,
            TemplateGroups::Only(ids) => Some(self.existing_groups(account, ids).await?),
        };
        let assignment = AssignmentRow {
            account_id: account.clone(),
            user_id: member.user_id.clone(),
            template_id: row.id.clone(),
            groups: stored,
            assigned_at: self.now(),
        };
        self.store.assign_template(&assignment, event).await?;
        Ok(AssignmentView {
            user_id: member.user_id.clone(),
            template: row.id,
            groups: Some(groups),
        })
    }

    /// The given groups, each checked to be a group of the account, without repeats.
    async fn existing_groups(
        &self,
        account: &AccountId,
        ids: &[GroupId],
    ) -> Result<Vec<GroupId>, Error> {
        let mut kept: Vec<GroupId> = Vec::new();
        for id in ids {
            if self.store.group(account, id).await?.is_none() {
                return Err(Error::InvalidInput(format!("group {id} does not exist")));
            }
            if !kept.contains(id) {
                kept.push(id.clone());
            }
        }
        Ok(kept)
    }

    /// Refuses to take the owner template from the account's last active owner.
    async fn another_owner(&self, account: &AccountId, leaving: &UserId) -> Result<(), Error> {
        let others = self
            .store
            .members(account)
            .await?
            .into_iter()
            .filter(|m| m.user_id != *leaving && m.role == Role::Owner && !m.suspended)
            .count();
        if others == 0 {
            return Err(Error::Conflict(
                "the account must keep at least one active owner".into(),
            ));
        }
        Ok(())
    }

    /// The custom template a member holds now, if any, as the caller's capabilities and
    /// group scope (read at every caller verification).
    pub(in crate::service) async fn held_template(
        &self,
        account: &AccountId,
        user: &UserId,
    ) -> Result<Option<(Capabilities, GroupScope)>, Error> {
        match self.store.member_template(account, user).await? {
            Some((template, assignment)) => Ok(Some(custom_scope(&template, &assignment)?)),
            None => Ok(None),
        }
    }
}
