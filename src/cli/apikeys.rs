//! `coffer apikey …`: API keys, the bearer credentials of users and apps, and (`coffer apikey
//! aws …`) apps' AWS access key pairs, the credential of the AWS KMS face.

use super::{Client, PATCH, POST, delete_then_say, parse_flags};
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
    /// An app's AWS access key pairs (SigV4), for AWS SDKs pointed at Coffer.
    Aws {
        #[command(subcommand)]
        command: AwsKeyCommand,
    },
}

#[derive(Subcommand)]
pub enum AwsKeyCommand {
    /// Create an access key pair for an app; prints the secret access key once.
    Create {
        #[arg(long)]
        app: String,
        #[arg(long)]
        name: String,
        /// PATTERN (grant) or PATTERN=false (deny), repeatable, as for API keys.
        #[arg(long = "flag", required = true)]
        flags: Vec<String>,
        /// The app's group whose master key wraps the secret (needed if the app is in several).
        #[arg(long)]
        group: Option<String>,
    },
    /// An app's access key pairs (no secrets).
    List {
        #[arg(long)]
        app: String,
    },
    Disable {
        #[arg(long)]
        app: String,
        access_key_id: String,
    },
    Enable {
        #[arg(long)]
        app: String,
        access_key_id: String,
    },
    Delete {
        #[arg(long)]
        app: String,
        access_key_id: String,
    },
}

async fn aws_key(client: &Client, command: AwsKeyCommand) -> anyhow::Result<()> {
    let base = |app: &str| format!("/v1/apps/{app}/aws-credentials");
    match command {
        AwsKeyCommand::Create {
            app,
            name,
            flags,
            group,
        } => {
            let mut body = json!({"name": name, "flags": parse_flags(&flags)?});
            if let Some(group) = group {
                body["group"] = json!(group);
            }
            client.send(POST, &base(&app), body).await
        }
        AwsKeyCommand::List { app } => client.show(&base(&app)).await,
        AwsKeyCommand::Disable { app, access_key_id } => {
            let path = format!("{}/{access_key_id}", base(&app));
            client.send(PATCH, &path, json!({"disabled": true})).await
        }
        AwsKeyCommand::Enable { app, access_key_id } => {
            let path = format!("{}/{access_key_id}", base(&app));
            client.send(PATCH, &path, json!({"disabled": false})).await
        }
        AwsKeyCommand::Delete { app, access_key_id } => {
            let path = format!("{}/{access_key_id}", base(&app));
            delete_then_say(client, &path, &format!("deleted {access_key_id}")).await
        }
    }
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
        ApikeyCommand::Aws { command } => aws_key(client, command).await,
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
