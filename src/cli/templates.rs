//! `coffer template …`: permission templates (docs/templates.md) and their assignment to
//! members. Editing and assigning is for owners; the server refuses anyone else.

use super::{Client, PATCH, PUT, given};
use clap::{Args, Subcommand};
use serde_json::json;

#[derive(Subcommand)]
pub enum TemplateCommand {
    /// The built-in templates, then the account's own.
    List,
    /// One template and its capabilities (`owner` shows every capability).
    Show { id: String },
    /// Create a template from capabilities.
    Create(CreateArgs),
    /// Change a template's name or capabilities; every holder has it on their next request.
    Update(UpdateArgs),
    /// Delete a template nobody holds.
    Delete { id: String },
    /// Give a member a template: a built-in's name (sets their role) or a template id.
    Assign(AssignArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    #[arg(long)]
    name: String,
    /// A capability (manage-secrets, read-audit, …); repeat.
    #[arg(long = "capability", required = true)]
    capabilities: Vec<String>,
}

#[derive(Args)]
pub struct UpdateArgs {
    id: String,
    #[arg(long)]
    name: Option<String>,
    /// Replaces the capabilities; repeat.
    #[arg(long = "capability")]
    capabilities: Option<Vec<String>>,
}

#[derive(Args)]
pub struct AssignArgs {
    /// The member's user id.
    user: String,
    /// A built-in's name (owner, admin, member, auditor) or a template id.
    #[arg(long)]
    template: String,
    /// A group the template's group-scoped capabilities reach; repeat. None: every group.
    #[arg(long = "group")]
    groups: Vec<String>,
}

pub(super) async fn template(client: &Client, command: TemplateCommand) -> anyhow::Result<()> {
    use TemplateCommand::*;
    match command {
        List => client.show("/v1/templates").await,
        Show { id } => client.show(&format!("/v1/templates/{id}")).await,
        Create(a) => {
            let body = json!({"name": a.name, "capabilities": a.capabilities});
            super::print(&client.post("/v1/templates", body).await?)
        }
        Update(a) => {
            let body = given(json!({"name": a.name, "capabilities": a.capabilities}));
            client
                .send(PATCH, &format!("/v1/templates/{}", a.id), body)
                .await
        }
        Delete { id } => {
            client.delete(&format!("/v1/templates/{id}")).await?;
            Ok(())
        }
        Assign(a) => {
            let groups = (!a.groups.is_empty()).then_some(a.groups);
            let body = given(json!({"template": a.template, "groups": groups}));
            client
                .send(PUT, &format!("/v1/users/{}/template", a.user), body)
                .await
        }
    }
}
