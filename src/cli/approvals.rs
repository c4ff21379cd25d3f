//! `coffer approval` and `coffer group quorum`: the quorums that guard dangerous
//! operations, and the approvals those operations wait in. Any command whose request
//! became a pending approval (a 202) says so, with the approval's id.

use super::client::with_query;
use super::{Client, POST, PUT, delete_then_say, given, print};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum ApprovalCommand {
    /// Approvals, newest first.
    List {
        /// pending, executing, executed, failed, denied or expired.
        #[arg(long)]
        status: Option<String>,
    },
    Show {
        id: String,
    },
    /// Approve (named approvers only, never your own request); the approval that meets the
    /// quorum runs the operation.
    Approve {
        id: String,
    },
    /// Deny: the approval ends and nothing runs.
    Deny {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// The account's quorum, which guards removing or demoting an owner.
    AccountQuorum {
        #[command(subcommand)]
        command: QuorumCommand,
    },
}

#[derive(Subcommand)]
pub enum QuorumCommand {
    /// Require M of N approvers (changing an existing quorum needs its approval).
    Set(QuorumArgs),
    Show,
    /// Remove the quorum (needs its approval).
    Clear,
}

#[derive(Args)]
pub struct QuorumArgs {
    /// A user id (usr_…) of an owner or admin; repeat for each approver.
    #[arg(long = "approver", required = true)]
    approvers: Vec<String>,
    /// How many approvers must approve.
    #[arg(long)]
    required: u32,
    /// How long an approval waits (300 to 2592000 s; default 86400).
    #[arg(long)]
    expires_in_seconds: Option<i64>,
}

pub async fn approval(client: &Client, command: ApprovalCommand) -> anyhow::Result<()> {
    match command {
        ApprovalCommand::List { status } => {
            let query = status
                .map(|s| ("status", s))
                .into_iter()
                .collect::<Vec<_>>();
            client.show(&with_query("/v1/approvals", &query)).await
        }
        ApprovalCommand::Show { id } => client.show(&format!("/v1/approvals/{id}")).await,
        ApprovalCommand::Approve { id } => {
            let reply = client
                .post(&format!("/v1/approvals/{id}/approve"), json!({}))
                .await;
            print(&reply?)
        }
        ApprovalCommand::Deny { id, reason } => {
            let body = given(json!({"reason": reason}));
            client
                .send(POST, &format!("/v1/approvals/{id}/deny"), body)
                .await
        }
        ApprovalCommand::AccountQuorum { command } => {
            quorum(client, "/v1/account/quorum", command).await
        }
    }
}

/// `coffer group quorum …` and `coffer approval account-quorum …`: the quorum at `path`.
pub async fn quorum(client: &Client, path: &str, command: QuorumCommand) -> anyhow::Result<()> {
    match command {
        QuorumCommand::Set(args) => {
            let body = given(json!({
                "approvers": args.approvers,
                "required": args.required,
                "expires_in_seconds": args.expires_in_seconds,
            }));
            client.send(PUT, path, body).await
        }
        QuorumCommand::Show => client.show(path).await,
        QuorumCommand::Clear => delete_then_say(client, path, "quorum removed").await,
    }
}

/// Says on stderr that `reply` is a pending approval rather than the operation's answer;
/// answers whether it was one.
pub fn say_if_pending(reply: &Value) -> bool {
    let Some(id) = reply.get("approval_id").and_then(Value::as_str) else {
        return false;
    };
    if reply["status"] == "pending" {
        eprintln!(
            "{} {} awaits approval {id} ({} of {} approvers); see `coffer approval show {id}`",
            reply["operation"].as_str().unwrap_or("the operation"),
            reply["target"].as_str().unwrap_or_default(),
            reply["required"],
            reply["approvers"].as_array().map_or(0, Vec::len),
        );
        return true;
    }
    false
}
