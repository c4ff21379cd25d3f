//! `coffer invitation list|revoke|accept`: the invitations of people who have no Coffer
//! user yet. Accepting needs no credential but the invitation's token, and the password
//! comes from stdin or the environment, never from a flag (flags show in `ps`).

use super::identity::password;
use super::{Client, ClientArgs, delete_then_say, print};
use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;
use std::io::BufRead;

#[derive(Subcommand)]
pub enum InvitationCommand {
    /// The account's pending invitations (their tokens are never shown again).
    List,
    /// Revoke a pending invitation.
    Revoke { id: String },
    /// Accept an invitation: become a user with the password you choose, and a member of
    /// the account. The password is read from stdin with --password-stdin, else from
    /// COFFER_NEW_PASSWORD or stdin.
    Accept {
        /// The invitation token (`ci_…`); prefer COFFER_INVITATION_TOKEN.
        #[arg(long, env = "COFFER_INVITATION_TOKEN", hide_env_values = true)]
        token: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// One line of stdin, without its line ending; empty is refused.
fn stdin_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        bail!("no password on stdin");
    }
    Ok(line)
}

pub async fn invitation(args: &ClientArgs, command: InvitationCommand) -> anyhow::Result<()> {
    match command {
        InvitationCommand::List => Client::new(args)?.show("/v1/invitations").await,
        InvitationCommand::Revoke { id } => {
            delete_then_say(
                &Client::new(args)?,
                &format!("/v1/invitations/{id}"),
                &format!("invitation {id} revoked"),
            )
            .await
        }
        InvitationCommand::Accept {
            token,
            password_stdin,
        } => {
            let password = if password_stdin {
                stdin_password()?
            } else {
                password("COFFER_NEW_PASSWORD")?
            };
            let body = json!({"token": token, "password": password});
            let member = Client::anonymous(args)?
                .post("/v1/invitations/accept", body)
                .await?;
            print(&member)?;
            eprintln!("invitation accepted; log in with your email and password");
            Ok(())
        }
    }
}
