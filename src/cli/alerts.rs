//! `coffer alert …`: alert rules (a webhook for matching audit events) and their
//! deliveries. `create` and `rotate-secret` print the signing secret, shown once.

use super::{Client, PATCH, given, with_query};
use clap::{Args, Subcommand};
use serde_json::json;

#[derive(Subcommand)]
pub enum AlertCommand {
    /// Create a rule; prints it with its signing secret (shown this once).
    Create(CreateArgs),
    /// The account's rules.
    List,
    Show {
        id: String,
    },
    /// Change a rule's name, URL, actions, severity floor, or turn it on or off.
    Update(UpdateArgs),
    Delete {
        id: String,
    },
    /// Send one signed test delivery now and print what the receiver answered.
    Test {
        id: String,
    },
    /// A new signing secret (printed once); the old one stops verifying at once.
    RotateSecret {
        id: String,
    },
    /// The rule's deliveries, newest first; `--status dead` is the dead-letter list.
    Deliveries {
        id: String,
        /// pending, sending, delivered or dead.
        #[arg(long)]
        status: Option<String>,
    },
    /// Send a dead delivery again.
    Retry {
        delivery: String,
    },
}

#[derive(Args)]
pub struct CreateArgs {
    #[arg(long)]
    name: String,
    /// The receiver: https://…, or http:// to a loopback address. (`--url` is the server's.)
    #[arg(long)]
    webhook: String,
    /// An action (group.freeze) or a prefix ending in * (secret.*); repeat; none: all.
    #[arg(long = "action")]
    actions: Vec<String>,
    /// info, warning or critical (default info).
    #[arg(long)]
    min_severity: Option<String>,
}

#[derive(Args)]
pub struct UpdateArgs {
    id: String,
    #[arg(long)]
    name: Option<String>,
    /// A new receiver URL.
    #[arg(long)]
    webhook: Option<String>,
    /// Replaces the rule's actions; repeat.
    #[arg(long = "action")]
    actions: Option<Vec<String>>,
    #[arg(long)]
    min_severity: Option<String>,
    #[arg(long)]
    enabled: Option<bool>,
}

pub(super) async fn alert(client: &Client, command: AlertCommand) -> anyhow::Result<()> {
    use AlertCommand::*;
    match command {
        Create(a) => {
            let body = given(json!({
                "name": a.name, "url": a.webhook, "actions": a.actions, "min_severity": a.min_severity,
            }));
            super::print(&client.post("/v1/alerts", body).await?)
        }
        List => client.show("/v1/alerts").await,
        Show { id } => client.show(&format!("/v1/alerts/{id}")).await,
        Update(a) => {
            let body = given(json!({
                "name": a.name, "url": a.webhook, "actions": a.actions,
                "min_severity": a.min_severity, "enabled": a.enabled,
            }));
            client
                .send(PATCH, &format!("/v1/alerts/{}", a.id), body)
                .await
        }
        Delete { id } => {
            client.delete(&format!("/v1/alerts/{id}")).await?;
            Ok(())
        }
        Test { id } => post(client, &format!("/v1/alerts/{id}/test")).await,
        RotateSecret { id } => post(client, &format!("/v1/alerts/{id}/rotate-secret")).await,
        Deliveries { id, status } => {
            let query: Vec<(&str, String)> = status.map(|s| ("status", s)).into_iter().collect();
            let path = with_query(&format!("/v1/alerts/{id}/deliveries"), &query);
            client.show(&path).await
        }
        Retry { delivery } => {
            post(client, &format!("/v1/alerts/deliveries/{delivery}/retry")).await
        }
    }
}

async fn post(client: &Client, path: &str) -> anyhow::Result<()> {
    super::print(&client.post(path, json!({})).await?)
}
