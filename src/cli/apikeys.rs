//! `coffer apikey …`: API keys, the bearer credentials of users and apps.

use super::{Client, PATCH, POST, parse_flags};
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand)]
pub enum ApikeyCommand {
    /// Create a key; prints it once.
    Create {
        #[arg(long)]
        principal: String,
        #[arg(long)]
        name: String,
        /// PATTERN (grant) or PATTERN=false (deny), repeatable.
        #[arg(long = "flag", required = true)]
        flags: Vec<String>,
    },
    List,
    Show {
        id: String,
    },
    Disable {
        id: String,
    },
    /// Replace a key's flags with narrower ones.
    Flags {
        id: String,
        #[arg(long = "flag", required = true)]
        flags: Vec<String>,
    },
}

pub(super) async fn apikey(client: &Client, command: ApikeyCommand) -> anyhow::Result<()> {
    match command {
        ApikeyCommand::Create {
            principal,
            name,
            flags,
        } => {
            let body = json!({"principal": principal, "name": name, "flags": parse_flags(&flags)?});
            client.send(POST, "/v1/auth/apikey", body).await
        }
        ApikeyCommand::List => client.show("/v1/auth/apikey").await,
        ApikeyCommand::Show { id } => client.show(&format!("/v1/auth/apikey/{id}")).await,
        ApikeyCommand::Disable { id } => {
            client
                .send(
                    PATCH,
                    &format!("/v1/auth/apikey/{id}"),
                    json!({"disabled": true}),
                )
                .await
        }
        ApikeyCommand::Flags { id, flags } => {
            client
                .send(
                    PATCH,
                    &format!("/v1/auth/apikey/{id}"),
                    json!({"flags": parse_flags(&flags)?}),
                )
                .await
        }
    }
}
