//! The `coffer` command line: `serve`, the offline commands (`init`, `migrate`,
//! `hsm check`), and operator commands that go through the HTTPS API like any client.
//!
//! This file holds the command tree, its dispatch and the helpers every command shares;
//! each family of commands lives in its own file.

mod activity;
mod agent;
pub(crate) mod ai;
mod alerts;
mod apikeys;
mod approvals;
mod audit;
mod backup;
mod certificates;
pub(crate) mod client;
mod groups;
mod identity;
mod invitations;
mod jobs;
mod keyrings;
mod keys;
mod machines;
mod mcp;
mod policies;
mod secrets;
mod serve;
mod shares;
mod templates;

pub use activity::ActivityArgs;
pub use apikeys::ApikeyCommand;
pub use backup::{BackupArgs, DatabaseLocation, RestoreArgs};
pub use client::ClientArgs;
pub use keyrings::{CryptoArgs, KeyringCommand};
pub use serve::{DbArgs, HsmArgs, HsmCommand, InitArgs, ListenerArgs, ServeArgs, dev_softhsm_conf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use client::{Client, with_query};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

#[derive(Parser)]
#[command(
    name = "coffer",
    version,
    about = "HSM-backed key management service and its operator CLI"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How log lines are written to stderr: `text` for people, `json` (one object a line).
    #[arg(long, global = true, env = "COFFER_LOG_FORMAT", default_value = "text")]
    pub log_format: crate::app::LogFormat,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Production bootstrap: create the first account and owner, print the owner key once.
    Init(InitArgs),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Write a consistent, checked copy of the SQLite database; safe while the server runs.
    Backup(BackupArgs),
    /// Put a backup in place as the database of a new data directory.
    Restore(RestoreArgs),
    /// Check that the configured HSM token can be opened and logged in to.
    Hsm {
        #[command(subcommand)]
        command: HsmCommand,
    },
    /// Secrets: create, list, show, get, field, set, versions, rollback, rotate, grant, ...
    Secret {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: secrets::SecretCommand,
    },
    /// Keyrings: create, list, show, encrypt, decrypt, rotate, config, keys, ...
    Keyring {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: KeyringCommand,
    },
    /// Log in with email and password (COFFER_PASSWORD or stdin): prints a session token.
    Login {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: identity::LoginArgs,
    },
    /// Your login sessions; `session logout` ends the current one.
    Session {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: identity::SessionCommand,
    },
    /// Change your password, or set one with a reset token.
    Password {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: identity::PasswordCommand,
    },
    /// Accounts: create, list, show, rename, delete (two steps).
    Account {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: identity::AccountCommand,
    },
    /// Users of the account and their roles.
    User {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: identity::UserCommand,
    },
    /// Invitations of people without a user: list, revoke, accept (with your own password).
    Invitation {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: invitations::InvitationCommand,
    },
    /// Groups, their HSM master keys and their members.
    Group {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: groups::GroupCommand,
    },
    /// Background jobs (a group's master-key rotation).
    Job {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: jobs::JobCommand,
    },
    /// Machines: apps that sign every request with an Ed25519 key kept on the machine.
    Machine {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: machines::MachineCommand,
    },
    /// Apps (non-human clients) and their client certificates.
    App {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: groups::AppCommand,
    },
    /// CAs trusted to issue client certificates.
    TrustedCa {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: certificates::TrustedCaCommand,
    },
    /// Certificates here, without the API: `certificate proof` signs a proof of possession.
    Certificate {
        #[command(subcommand)]
        command: certificates::LocalCertificateCommand,
    },
    /// The revocation list of client certificates.
    Revocation {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: certificates::RevocationCommand,
    },
    /// API keys.
    Apikey {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Asymmetric keys in the HSM: create, import, sign, verify, decrypt, public, csr, rotate, ...
    Key {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: keys::KeyCommand,
    },
    /// Every security object you can see: keyrings, key pairs, public keys, certificates.
    Objects {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        filter: keys::ObjectArgs,
    },
    /// The audit trail, newest first.
    Activity {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        filter: ActivityArgs,
    },
    /// Agents that apply managed secrets where only they can reach: `agent postgres`.
    Agent {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: agent::AgentCommand,
    },
    /// One-time shares: a value opened once with a passphrase, then destroyed.
    Share {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: shares::ShareCommand,
    },
    /// The tamper-evident trail: export, checkpoints, offline verification.
    Audit {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Access policies of a group and their bindings to secrets, keyrings and keys.
    Policy {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: policies::PolicyCommand,
    },
    /// Alert rules: signed webhooks for matching audit events, and their deliveries.
    Alert {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: alerts::AlertCommand,
    },
    /// Approvals of dangerous operations under a quorum, and the account's quorum.
    Approval {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: approvals::ApprovalCommand,
    },
    /// AI agents (users: owners and admins): bootstrap tokens and registered agents.
    Ai {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: ai::AiCommand,
    },
    /// The AI agent's side on its host: `install` registers it with a bootstrap token.
    Mcp {
        #[command(subcommand)]
        command: mcp::McpCommand,
    },
    /// Permission templates: bundles of capabilities assigned to members (owners only).
    Template {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: templates::TemplateCommand,
    },
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))
}

fn parse_flags(items: &[String]) -> anyhow::Result<BTreeMap<String, bool>> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            None => Ok((item.clone(), true)),
            Some((pattern, "true")) => Ok((pattern.to_owned(), true)),
            Some((pattern, "false")) => Ok((pattern.to_owned(), false)),
            Some(_) => bail!("flag {item:?}: write PATTERN, PATTERN=true or PATTERN=false"),
        })
        .collect()
}

/// Runs the command line; an error becomes a message and a failing exit status in `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Init(args) => serve::init(args).await,
        Command::Migrate(args) => serve::migrate(args).await,
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::Hsm {
            command: HsmCommand::Check(args),
        } => serve::hsm_check(args).await,
        Command::Keyring { client, command } => {
            keyrings::keyring(&Client::new(&client)?, command).await
        }
        Command::Login { client, args } => {
            identity::login(&Client::anonymous(&client)?, args).await
        }
        Command::Session { client, command } => {
            identity::session(&Client::new(&client)?, command).await
        }
        Command::Password { client, command } => {
            identity::password_command(&Client::anonymous(&client)?, command).await
        }
        Command::Account { client, command } => {
            identity::account(&Client::new(&client)?, command).await
        }
        Command::User { client, command } => identity::user(&Client::new(&client)?, command).await,
        Command::Invitation { client, command } => invitations::invitation(&client, command).await,
        Command::Group { client, command } => groups::group(&Client::new(&client)?, command).await,
        Command::Job { client, command } => jobs::job(&Client::new(&client)?, command).await,
        Command::App { client, command } => groups::app(&Client::new(&client)?, command).await,
        Command::TrustedCa { client, command } => {
            certificates::trusted_ca(&Client::new(&client)?, command).await
        }
        Command::Certificate { command } => certificates::local_certificate(command),
        Command::Revocation { client, command } => {
            certificates::revocation(&Client::new(&client)?, command).await
        }
        Command::Apikey { client, command } => {
            apikeys::apikey(&Client::new(&client)?, command).await
        }
        Command::Secret { client, command } => {
            secrets::secret(&Client::new(&client)?, command).await
        }
        Command::Key { client, command } => keys::key(&Client::new(&client)?, command).await,
        Command::Objects { client, filter } => keys::objects(&Client::new(&client)?, filter).await,
        Command::Activity { client, filter } => {
            activity::activity(&Client::new(&client)?, filter).await
        }
        Command::Machine { client, command } => machines::machine(&client, command).await,
        Command::Agent { client, command } => agent::agent(&Client::new(&client)?, command).await,
        Command::Share { client, command } => {
            let client = match &command {
                shares::ShareCommand::Open(_) => Client::anonymous(&client)?,
                _ => Client::new(&client)?,
            };
            shares::share(&client, command).await
        }
        Command::Audit { client, command } => audit::run(&client, command).await,
        Command::Policy { client, command } => policies::run(&Client::new(&client)?, command).await,
        Command::Alert { client, command } => alerts::alert(&Client::new(&client)?, command).await,
        Command::Approval { client, command } => {
            approvals::approval(&Client::new(&client)?, command).await
        }
        Command::Ai { client, command } => ai::ai(&Client::new(&client)?, command).await,
        Command::Mcp { command } => mcp::mcp(command).await,
        Command::Template { client, command } => {
            templates::template(&Client::new(&client)?, command).await
        }
    }
}

/// The methods commands send a body with (`Client::send`), short so a subcommand stays one
/// line.
const POST: reqwest::Method = reqwest::Method::POST;
const PATCH: reqwest::Method = reqwest::Method::PATCH;
const PUT: reqwest::Method = reqwest::Method::PUT;

/// A request body without its unset options: the API refuses an explicit `null` where it
/// means nothing, so an option the user did not give is left out.
pub(crate) fn given(mut body: Value) -> Value {
    if let Some(fields) = body.as_object_mut() {
        fields.retain(|_, v| !v.is_null());
    }
    body
}

/// A pair of opposite switches (`--enable`/`--disable`, `--suspend`/`--unsuspend`) as the
/// field they set: `Some(on)` when either is given, `None` (the field is left out) when
/// neither is.
fn switch(on: bool, off: bool) -> Option<bool> {
    (on || off).then_some(on)
}

/// Sends a `DELETE` and says on stderr what it did: the reply has nothing to print.
async fn delete_then_say(client: &Client, path: &str, done: &str) -> anyhow::Result<()> {
    if !approvals::say_if_pending(&client.delete(path).await?) {
        eprintln!("{done}");
    }
    Ok(())
}

/// Sends an action without options (a `POST` of `{}`) and prints the reply.
async fn post_action(client: &Client, path: &str) -> anyhow::Result<()> {
    client.send(POST, path, json!({})).await
}

fn print(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn read_input(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let mut data = Vec::new();
    match path {
        Some(path) => {
            data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => {
            std::io::stdin().read_to_end(&mut data)?;
        }
    }
    Ok(data)
}

fn context_json(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}
