//! `coffer mcp`: the AI agent's side on its host. `install` registers a new agent with a
//! bootstrap token and writes its identity file (docs/ai-agents.md); `serve` is the MCP
//! server an AI client starts, signing as that agent (docs/mcp.md).

mod serve;

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum McpCommand {
    /// Register this host's agent with a one-time bootstrap token: the key pair is made
    /// here, only its public key is sent, and the identity file is written (mode 0600).
    Install(InstallArgs),
    /// Serve the Model Context Protocol on standard input and output, for an AI client to
    /// start: one tool per agent-facing route the agent's scopes allow (docs/mcp.md).
    Serve {
        /// The identity file (default: $XDG_CONFIG_HOME/coffer/ai-agent.json).
        #[arg(long)]
        identity: Option<PathBuf>,
    },
    /// Check the identity file: a signed `GET /v1/ai/whoami` prints the agent as Coffer sees it.
    Whoami {
        /// The identity file (default: $XDG_CONFIG_HOME/coffer/ai-agent.json).
        #[arg(long)]
        identity: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct InstallArgs {
    /// The bootstrap token (`coffer ai token create`). Prefer COFFER_AI_TOKEN: flags show in `ps`.
    #[arg(long, env = "COFFER_AI_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Coffer's URL, e.g. https://127.0.0.1:8443.
    #[arg(long, env = "COFFER_URL")]
    pub url: String,
    /// A PEM CA to trust for Coffer's certificate (instead of the system roots).
    #[arg(long, env = "COFFER_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Where to write the identity (default: $XDG_CONFIG_HOME/coffer/ai-agent.json).
    #[arg(long)]
    pub identity: Option<PathBuf>,
}

pub(super) async fn mcp(command: McpCommand) -> anyhow::Result<()> {
    match command {
        McpCommand::Install(args) => {
            let path = args
                .identity
                .unwrap_or_else(super::ai::AgentIdentity::default_path);
            super::ai::install(&args.token, &args.url, args.ca_cert, &path).await
        }
        McpCommand::Serve { identity } => serve::serve(identity).await,
        McpCommand::Whoami { identity } => {
            let path = identity.unwrap_or_else(super::ai::AgentIdentity::default_path);
            let identity = super::ai::AgentIdentity::load(&path)?;
            let client = super::ai::AgentClient::new(&identity)?;
            let (status, agent) = client
                .call(reqwest::Method::GET, "/v1/ai/whoami", None)
                .await?;
            if status != 200 {
                anyhow::bail!(
                    "{status}: {}",
                    agent["error"]["message"].as_str().unwrap_or("refused")
                );
            }
            super::print(&agent)
        }
    }
}
