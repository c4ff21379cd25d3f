//! `coffer mcp serve`: the MCP server on standard input and output (see [`crate::mcp`]),
//! every tool call signed with the agent identity `coffer mcp install` wrote.

use crate::cli::ai::{AgentClient, AgentIdentity};
use crate::mcp::{Server, Transport};
use serde_json::Value;
use std::path::PathBuf;

impl Transport for AgentClient {
    async fn call(
        &self,
        method: reqwest::Method,
        target: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        AgentClient::call(self, method, target, body).await
    }
}

/// Serves until the client closes standard input.
pub(in crate::cli) async fn serve(identity: Option<PathBuf>) -> anyhow::Result<()> {
    let path = identity.unwrap_or_else(AgentIdentity::default_path);
    let identity = AgentIdentity::load(&path)?;
    let client = AgentClient::new(&identity)?;
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    Server::new(client).run(input, tokio::io::stdout()).await
}
