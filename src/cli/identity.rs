//! `coffer login|session|password|account|user`: people, their sessions and passwords,
//! and the accounts they belong to, through the API.

use super::{Client, PATCH, POST, delete_then_say, given, post_action, print, switch};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::BufRead;

/// Reads a password: from the environment variable `var` if set, else one line of stdin.
/// Never a flag value (flags show in `ps`).
pub(super) fn password(var: &str) -> anyhow::Result<String> {
    if let Ok(value) = std::env::var(var) {
        return Ok(value);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        bail!("no password: set {var} or write it on stdin");
    }
    Ok(line)
}

#[derive(Args)]
pub struct LoginArgs {
    #[arg(long)]
    pub email: String,
    /// Account id (`coffer account list` shows yours).
    #[arg(long)]
    pub account: String,
    /// Print only the session token (for `export COFFER_API_KEY=$(coffer login ...)`).
    #[arg(long)]
    pub token_only: bool,
}

/// `coffer login`: the password comes from COFFER_PASSWORD or stdin.
pub async fn login(client: &Client, args: LoginArgs) -> anyhow::Result<()> {
    let body = json!({"email": args.email, "password": password("COFFER_PASSWORD")?, "account": args.account});
    let session = client.post("/v1/auth/login", body).await?;
    if args.token_only {
        println!("{}", session["session_token"].as_str().unwrap_or_default());
        Ok(())
    } else {
        print(&session)
    }
}

#[derive(Subcommand)]
pub enum SessionCommand {
    /// Your sessions in this account.
    List,
    /// Revoke one of your sessions.
    Revoke { id: String },
    /// End the session COFFER_API_KEY holds.
    Logout,
}

pub async fn session(client: &Client, command: SessionCommand) -> anyhow::Result<()> {
    match command {
        SessionCommand::List => client.show("/v1/auth/sessions").await,
        SessionCommand::Revoke { id } => {
            delete_then_say(
                client,
                &format!("/v1/auth/sessions/{id}"),
                &format!("session {id} revoked"),
            )
            .await
        }
        SessionCommand::Logout => {
            client.post("/v1/auth/logout", json!({})).await?;
            eprintln!("logged out");
            Ok(())
        }
    }
}

#[derive(Subcommand)]
pub enum PasswordCommand {
    /// Change your password: COFFER_PASSWORD (current) and COFFER_NEW_PASSWORD, or two
    /// stdin lines. Every session ends.
    Change,
    /// Set a new password with a reset token (COFFER_NEW_PASSWORD or stdin).
    Reset {
        #[arg(long)]
        token: String,
    },
}

pub async fn password_command(client: &Client, command: PasswordCommand) -> anyhow::Result<()> {
    match command {
        PasswordCommand::Change => {
            let current = password("COFFER_PASSWORD")?;
            let new = password("COFFER_NEW_PASSWORD")?;
            client
                .post(
                    "/v1/auth/password",
                    json!({"current_password": current, "new_password": new}),
                )
                .await?;
        }
        PasswordCommand::Reset { token } => {
            let new = password("COFFER_NEW_PASSWORD")?;
            client
                .post(
                    "/v1/auth/password-reset",
                    json!({"token": token, "new_password": new}),
                )
                .await?;
        }
    }
    eprintln!("password changed; log in again");
    Ok(())
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Create an account; you become its owner.
    Create {
        name: String,
    },
    /// The accounts you belong to.
    List,
    Show {
        id: String,
    },
    Rename {
        id: String,
        name: String,
    },
    /// Request the deletion (step one); `--confirm` closes it once due, `--cancel` cancels.
    Delete {
        id: String,
        #[arg(long, conflicts_with = "cancel")]
        confirm: bool,
        #[arg(long)]
        cancel: bool,
    },
}

pub async fn account(client: &Client, command: AccountCommand) -> anyhow::Result<()> {
    match command {
        AccountCommand::Create { name } => {
            client
                .send(POST, "/v1/accounts", json!({"name": name}))
                .await
        }
        AccountCommand::List => client.show("/v1/accounts").await,
        AccountCommand::Show { id } => client.show(&format!("/v1/accounts/{id}")).await,
        AccountCommand::Rename { id, name } => {
            client
                .send(PATCH, &format!("/v1/accounts/{id}"), json!({"name": name}))
                .await
        }
        AccountCommand::Delete {
            id,
            confirm,
            cancel,
        } => {
            let path = format!("/v1/accounts/{id}");
            if confirm {
                delete_then_say(
                    client,
                    &path,
                    &format!("account {id} closed; its HSM keys are destroyed"),
                )
                .await
            } else if cancel {
                print(&client.delete(&format!("{path}/deletion")).await?)
            } else {
                post_action(client, &format!("{path}/deletion")).await
            }
        }
    }
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a person to the account: a user with this email joins at once; anyone else is
    /// invited, and the one-time token printed is theirs to accept with their own password
    /// (`coffer invitation accept`).
    #[command(alias = "add")]
    Invite {
        email: String,
        /// owner, admin, member or auditor.
        #[arg(long)]
        role: String,
        /// How long the invitation stays acceptable, in seconds (default 7 days, at most 30).
        #[arg(long)]
        ttl_secs: Option<u64>,
    },
    List,
    Show {
        id: String,
    },
    /// Change a member's role, or suspend / unsuspend them.
    Update {
        id: String,
        #[arg(long)]
        role: Option<String>,
        #[arg(long, conflicts_with = "unsuspend")]
        suspend: bool,
        #[arg(long)]
        unsuspend: bool,
    },
    /// Remove a member from the account (the user stays).
    Remove {
        id: String,
    },
    /// Issue a one-time password-reset token (printed once).
    ResetPassword {
        id: String,
    },
}

pub async fn user(client: &Client, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Invite {
            email,
            role,
            ttl_secs,
        } => {
            let body = given(json!({"email": email, "role": role, "ttl_secs": ttl_secs}));
            client.send(POST, "/v1/users", body).await
        }
        UserCommand::List => client.show("/v1/users").await,
        UserCommand::Show { id } => client.show(&format!("/v1/users/{id}")).await,
        UserCommand::Update {
            id,
            role,
            suspend,
            unsuspend,
        } => {
            let body = given(json!({"role": role, "suspended": switch(suspend, unsuspend)}));
            client.send(PATCH, &format!("/v1/users/{id}"), body).await
        }
        UserCommand::Remove { id } => {
            delete_then_say(
                client,
                &format!("/v1/users/{id}"),
                &format!("user {id} removed from the account"),
            )
            .await
        }
        UserCommand::ResetPassword { id } => {
            post_action(client, &format!("/v1/users/{id}/password-reset")).await
        }
    }
}
