//! Permission templates and their assignment (docs/templates.md).

use crate::clock::rfc3339;
use crate::ids::GroupId;
use crate::service::{AssignmentView, Error, TemplateGroups, TemplateSpec, TemplateView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    /// 1-64 characters of `[A-Za-z0-9_-]`, unique in the account, not a built-in's name.
    pub name: String,
    /// Capability names (docs/templates.md), e.g. `manage-secrets`.
    pub capabilities: Vec<String>,
}

impl From<CreateTemplate> for TemplateSpec {
    fn from(body: CreateTemplate) -> Self {
        Self {
            name: Some(body.name),
            capabilities: Some(body.capabilities),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTemplate {
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[schema(nullable = false)]
    pub capabilities: Option<Vec<String>>,
}

impl From<PatchTemplate> for TemplateSpec {
    fn from(body: PatchTemplate) -> Self {
        Self {
            name: body.name,
            capabilities: body.capabilities,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The role's name for a built-in (`owner`, `admin`, `member`, `auditor`).
    pub id: String,
    pub name: String,
    /// Built-ins are read-only and cannot be deleted.
    pub builtin: bool,
    pub capabilities: Vec<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl From<&TemplateView> for Template {
    fn from(t: &TemplateView) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            builtin: t.builtin,
            capabilities: t.capabilities.clone(),
            created_at: t.created_at.map(rfc3339),
            updated_at: t.updated_at.map(rfc3339),
        }
    }
}

impl From<TemplateView> for Template {
    fn from(t: TemplateView) -> Self {
        Self::from(&t)
    }
}

/// `"all"` or a list of group ids.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TemplateReach {
    Word(String),
    List(Vec<String>),
}

impl TemplateReach {
    fn into_service(self) -> Result<TemplateGroups, Error> {
        match self {
            TemplateReach::Word(word) if word == "all" => Ok(TemplateGroups::All),
            TemplateReach::Word(word) => Err(Error::InvalidInput(format!(
                "groups must be \"all\" or a list of group ids, not {word:?}"
            ))),
            TemplateReach::List(ids) => Ok(TemplateGroups::Only(
                ids.into_iter().map(GroupId::from).collect(),
            )),
        }
    }

    fn from_service(groups: &TemplateGroups) -> Self {
        match groups {
            TemplateGroups::All => TemplateReach::Word("all".to_owned()),
            TemplateGroups::Only(ids) => {
                TemplateReach::List(ids.iter().map(|g| g.to_string()).collect())
            }
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignTemplate {
    /// A built-in's name (`member`) or a template id.
    pub template: String,
    /// For a custom template: `"all"` (the default) or the group ids its group-scoped
    /// capabilities reach. Not for a built-in one (its role says).
    #[schema(nullable = false)]
    pub groups: Option<TemplateReach>,
}

impl AssignTemplate {
    pub fn groups(self) -> Result<(String, Option<TemplateGroups>), Error> {
        let groups = self.groups.map(TemplateReach::into_service).transpose()?;
        Ok((self.template, groups))
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub user_id: String,
    pub template: String,
    pub groups: Option<TemplateReach>,
}

impl From<AssignmentView> for Assignment {
    fn from(a: AssignmentView) -> Self {
        Self {
            user_id: a.user_id.to_string(),
            template: a.template,
            groups: a.groups.as_ref().map(TemplateReach::from_service),
        }
    }
}
