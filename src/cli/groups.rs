//! `coffer group|app`: groups, the apps (non-human clients) and who may do what in a group.

use super::certificates::{CertificateCommand, certificate};
use super::{Client, PATCH, POST, PUT, delete_then_say, given, switch};
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand)]
pub enum GroupCommand {
    Create {
        name: String,
    },
    List,
    Show {
        id: String,
    },
    Rename {
        id: String,
        name: String,
    },
    /// Delete a group; --force moves the objects it holds to the trash first.
    Delete {
        id: String,
        #[arg(long)]
        force: bool,
    },
    /// Rotate the group's master key; the group's keys are re-wrapped in the background.
    RotateMaster {
        id: String,
        /// Follow the re-wrap job to its end with a progress bar.
        #[arg(long)]
        wait: bool,
    },
    /// Freeze a group: no app or machine reads a secret or decrypts there until unfrozen.
    Freeze {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Unfreeze a group (owners and admins).
    Unfreeze {
        id: String,
    },
    /// Users (with group role) and apps (with operations) of a group.
    Members {
        id: String,
    },
    /// Put a user in the group with a role: member or auditor.
    AddUser {
        group: String,
        user: String,
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Assign an app to the group with its operations (repeatable; default all).
    AddApp {
        group: String,
        app: String,
        /// encrypt, decrypt, sign, verify, wrap, unwrap, mac, export, manage-objects.
        #[arg(long = "operation")]
        operations: Vec<String>,
    },
    /// Take a user (usr_…) or an app (app_…) out of the group.
    RemoveMember {
        group: String,
        member: String,
    },
    /// The quorum of approvers the group's dangerous operations need.
    Quorum {
        group: String,
        #[command(subcommand)]
        command: super::approvals::QuorumCommand,
    },
}

pub async fn group(client: &Client, command: GroupCommand) -> anyhow::Result<()> {
    match command {
        GroupCommand::Create { name } => {
            client.send(POST, "/v1/groups", json!({"name": name})).await
        }
        GroupCommand::List => client.show("/v1/groups").await,
        GroupCommand::Show { id } => client.show(&format!("/v1/groups/{id}")).await,
        GroupCommand::Rename { id, name } => {
            client
                .send(PATCH, &format!("/v1/groups/{id}"), json!({"name": name}))
                .await
        }
        GroupCommand::Delete { id, force } => {
            delete_then_say(
                client,
                &format!("/v1/groups/{id}?force={force}"),
                &format!("group {id} deleted"),
            )
            .await
        }
        GroupCommand::RotateMaster { id, wait } => {
            super::jobs::rotate_master(client, &id, wait).await
        }
        GroupCommand::Freeze { id, reason } => {
            let body = given(json!({"reason": reason}));
            client
                .send(POST, &format!("/v1/groups/{id}/freeze"), body)
                .await
        }
        GroupCommand::Unfreeze { id } => {
            client
                .send(POST, &format!("/v1/groups/{id}/unfreeze"), json!({}))
                .await
        }
        GroupCommand::Members { id } => client.show(&format!("/v1/groups/{id}/members")).await,
        GroupCommand::AddUser { group, user, role } => {
            client
                .send(
                    PUT,
                    &format!("/v1/groups/{group}/users/{user}"),
                    json!({"role": role}),
                )
                .await
        }
        GroupCommand::AddApp {
            group,
            app,
            operations,
        } => add_app(client, &group, &app, operations).await,
        GroupCommand::RemoveMember { group, member } => {
            remove_member(client, &group, &member).await
        }
        GroupCommand::Quorum { group, command } => {
            super::approvals::quorum(client, &format!("/v1/groups/{group}/quorum"), command).await
        }
    }
}

/// `group add-app`: without `--operation`, the app may perform every operation.
async fn add_app(
    client: &Client,
    group: &str,
    app: &str,
    operations: Vec<String>,
) -> anyhow::Result<()> {
    let operations: Vec<String> = if operations.is_empty() {
        crate::authz::Operation::ALL
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect()
    } else {
        operations
    };
    client
        .send(
            PUT,
            &format!("/v1/groups/{group}/apps/{app}"),
            json!({"operations": operations}),
        )
        .await
}

/// `group remove-member`: the id's prefix says whether it is an app or a user.
async fn remove_member(client: &Client, group: &str, member: &str) -> anyhow::Result<()> {
    let kind = if member.starts_with("app_") {
        "apps"
    } else {
        "users"
    };
    client
        .delete(&format!("/v1/groups/{group}/{kind}/{member}"))
        .await?;
    eprintln!("{member} removed from group {group}");
    Ok(())
}

#[derive(Subcommand)]
pub enum AppCommand {
    Create {
        name: String,
        /// Group id, repeatable (every operation; narrow with `group add-app`).
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    List,
    Show {
        id: String,
    },
    /// Rename, disable or enable an app.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
    },
    Delete {
        id: String,
    },
    /// API keys (metadata) and client certificates of an app.
    Credentials {
        id: String,
    },
    /// Client certificates of an app.
    Certificate {
        #[command(subcommand)]
        command: CertificateCommand,
    },
}

pub async fn app(client: &Client, command: AppCommand) -> anyhow::Result<()> {
    match command {
        AppCommand::Create { name, groups } => {
            client
                .send(POST, "/v1/apps", json!({"name": name, "groups": groups}))
                .await
        }
        AppCommand::List => client.show("/v1/apps").await,
        AppCommand::Show { id } => client.show(&format!("/v1/apps/{id}")).await,
        AppCommand::Update {
            id,
            name,
            disable,
            enable,
        } => {
            let body = given(json!({"name": name, "enabled": switch(enable, disable)}));
            client.send(PATCH, &format!("/v1/apps/{id}"), body).await
        }
        AppCommand::Delete { id } => {
            delete_then_say(
                client,
                &format!("/v1/apps/{id}"),
                &format!("app {id} deleted"),
            )
            .await
        }
        AppCommand::Credentials { id } => client.show(&format!("/v1/apps/{id}/credentials")).await,
        AppCommand::Certificate { command } => certificate(client, command).await,
    }
}
