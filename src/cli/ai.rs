//! AI agents from the command line (docs/ai-agents.md): the users' commands (`coffer ai
//! token …`, `coffer ai agent …`), and the agent's own side: its identity file and the
//! client that signs every request with its key ([`AgentIdentity`], [`AgentClient`]), which
//! `coffer mcp install` writes and `coffer mcp serve` uses.

use super::client::Client;
use super::{POST, print};
use crate::app;
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub enum AiCommand {
    /// One-time bootstrap tokens that register an agent.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Registered agents.
    #[command(subcommand)]
    Agent(AgentCommand),
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Issue a bootstrap token (shown once; give it to `coffer mcp install --token`).
    Create {
        /// The agent's name.
        #[arg(long)]
        name: String,
        /// A scope the agent gets, repeatable (groups.read, secrets.write, ...).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A group the agent sees, repeatable; none means every group.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// How long the token can be used, in seconds (default 3600, at most 86400).
        #[arg(long)]
        ttl_secs: Option<i64>,
    },
    List,
    Revoke {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum AgentCommand {
    List,
    Show {
        id: String,
    },
    /// Change an agent's name, scopes or groups (the lists replace the current ones).
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "scope")]
        scopes: Option<Vec<String>>,
        #[arg(long = "group")]
        groups: Option<Vec<String>>,
    },
    Disable {
        id: String,
    },
    Enable {
        id: String,
    },
    Delete {
        id: String,
    },
}

pub(super) async fn ai(client: &Client, command: AiCommand) -> anyhow::Result<()> {
    match command {
        AiCommand::Token(command) => token(client, command).await,
        AiCommand::Agent(command) => agent(client, command).await,
    }
}

async fn token(client: &Client, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            name,
            scopes,
            groups,
            ttl_secs,
        } => {
            let body =
                json!({"name": name, "scopes": scopes, "groups": groups, "ttl_secs": ttl_secs});
            client
                .send(POST, "/v1/ai/bootstrap-tokens", super::given(body))
                .await
        }
        TokenCommand::List => client.show("/v1/ai/bootstrap-tokens").await,
        TokenCommand::Revoke { id } => {
            client
                .delete(&format!("/v1/ai/bootstrap-tokens/{id}"))
                .await?;
            Ok(())
        }
    }
}

async fn agent(client: &Client, command: AgentCommand) -> anyhow::Result<()> {
    match command {
        AgentCommand::List => client.show("/v1/ai/agents").await,
        AgentCommand::Show { id } => client.show(&format!("/v1/ai/agents/{id}")).await,
        AgentCommand::Update {
            id,
            name,
            scopes,
            groups,
        } => {
            let body = super::given(json!({"name": name, "scopes": scopes, "groups": groups}));
            let path = format!("/v1/ai/agents/{id}");
            client.send(super::PATCH, &path, body).await
        }
        AgentCommand::Disable { id } => {
            let path = format!("/v1/ai/agents/{id}/disable");
            client.send(POST, &path, Value::Null).await
        }
        AgentCommand::Enable { id } => {
            let path = format!("/v1/ai/agents/{id}/enable");
            client.send(POST, &path, Value::Null).await
        }
        AgentCommand::Delete { id } => {
            client.delete(&format!("/v1/ai/agents/{id}")).await?;
            Ok(())
        }
    }
}

/// The identity file as stored (JSON, mode 0600).
#[derive(Serialize, Deserialize)]
struct IdentityFile {
    url: String,
    agent_id: String,
    account_id: String,
    name: String,
    /// Base64 of the 32-byte Ed25519 seed.
    private_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca_cert: Option<String>,
}

/// An agent's local identity: where Coffer is, who the agent is, and its signing key.
/// No `Debug`: the key must not reach a log.
pub struct AgentIdentity {
    pub url: String,
    pub agent_id: String,
    pub account_id: String,
    pub name: String,
    pub ca_cert: Option<PathBuf>,
    key: ed25519_dalek::SigningKey,
}

impl AgentIdentity {
    /// `$XDG_CONFIG_HOME/coffer/ai-agent.json`, else `~/.config/coffer/ai-agent.json`.
    pub fn default_path() -> PathBuf {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
                PathBuf::from(home).join(".config")
            });
        config.join("coffer").join("ai-agent.json")
    }

    pub fn load(path: &Path) -> anyhow::Result<AgentIdentity> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the agent identity {}", path.display()))?,
        );
        let file: IdentityFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an agent identity file", path.display()))?;
        let seed = Zeroizing::new(B64.decode(file.private_key.as_bytes()).ok());
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            seed.as_deref()
                .and_then(|s| <[u8; 32]>::try_from(s).ok())
                .with_context(|| format!("{}: private_key is not 32 bytes", path.display()))?,
        );
        drop(Zeroizing::new(file.private_key));
        Ok(AgentIdentity {
            url: file.url,
            agent_id: file.agent_id,
            account_id: file.account_id,
            name: file.name,
            ca_cert: file.ca_cert.map(PathBuf::from),
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        })
    }

    /// Writes the identity to `path`, readable by its owner only.
    fn save(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = IdentityFile {
            url: self.url.clone(),
            agent_id: self.agent_id.clone(),
            account_id: self.account_id.clone(),
            name: self.name.clone(),
            private_key: B64.encode(self.key.to_bytes()),
            ca_cert: self.ca_cert.as_ref().map(|p| p.display().to_string()),
        };
        let text = Zeroizing::new(serde_json::to_string_pretty(&file)?);
        drop(Zeroizing::new(file.private_key));
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        out.write_all(text.as_bytes())?;
        // An existing file keeps its mode on open: make sure it is the owner's only.
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        Ok(())
    }

    /// The headers of a signed request (`X-Agent-Id` names the signer).
    fn headers(&self, method: &str, path: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        use crate::auth::signed;
        use ed25519_dalek::Signer as _;
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        let nonce = URL_SAFE_NO_PAD.encode(&crate::crypto::random_bytes(18)[..]);
        let message = signed::canonical_message(method, path, timestamp, &nonce, body);
        let signature = self.key.sign(message.as_bytes());
        vec![
            (signed::AGENT_ID, self.agent_id.clone()),
            (signed::TIMESTAMP, timestamp.to_string()),
            (signed::NONCE, nonce),
            (signed::SIGNATURE, B64.encode(signature.to_bytes())),
        ]
    }
}

/// An HTTPS client that signs every request as the agent.
pub struct AgentClient {
    http: reqwest::Client,
    url: String,
    identity: AgentIdentity,
}

/// An HTTPS client trusting only `ca` (or the system roots when none is given).
fn https_client(ca: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    app::install_crypto_provider();
    let mut builder = reqwest::Client::builder().use_rustls_tls();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca)
            .with_context(|| format!("cannot read the CA file {}", ca.display()))?;
        builder = builder
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
    }
    Ok(builder.build()?)
}

impl AgentClient {
    pub fn new(identity: &AgentIdentity) -> anyhow::Result<AgentClient> {
        Ok(AgentClient {
            http: https_client(identity.ca_cert.as_deref())?,
            url: identity.url.trim_end_matches('/').to_owned(),
            identity: AgentIdentity {
                url: identity.url.clone(),
                agent_id: identity.agent_id.clone(),
                account_id: identity.account_id.clone(),
                name: identity.name.clone(),
                ca_cert: identity.ca_cert.clone(),
                key: identity.key.clone(),
            },
        })
    }

    /// Sends one signed request; answers the status and the JSON body (`null` when empty).
    /// Errors only when Coffer cannot be reached.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let body = body.map(|b| serde_json::to_vec(&b)).transpose()?;
        let bytes = body.as_deref().unwrap_or_default();
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path_and_query}", self.url));
        for (name, value) in self
            .identity
            .headers(method.as_str(), path_and_query, bytes)
        {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.url))?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }
}

/// `coffer mcp install`: a new key pair made here, only its public half registered with
/// the bootstrap token, and the identity file written.
pub(super) async fn install(
    token: &str,
    url: &str,
    ca_cert: Option<PathBuf>,
    path: &Path,
) -> anyhow::Result<()> {
    let seed = Zeroizing::new(crate::crypto::random_bytes(32));
    let seed: &[u8; 32] = seed[..].try_into().context("32 random bytes")?;
    let key = ed25519_dalek::SigningKey::from_bytes(seed);
    let public_key = B64.encode(key.verifying_key().to_bytes());
    let http = https_client(ca_cert.as_deref())?;
    let url = url.trim_end_matches('/').to_owned();
    let response = http
        .post(format!("{url}/v1/ai/agents/register"))
        .json(&json!({"token": token.trim(), "public_key": public_key}))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let agent: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = agent["error"]["message"]
            .as_str()
            .unwrap_or("request failed");
        bail!("registration refused: {} {message}", status.as_u16());
    }
    let text = |field: &str| agent[field].as_str().unwrap_or_default().to_owned();
    let identity = AgentIdentity {
        url,
        agent_id: text("id"),
        account_id: text("account_id"),
        name: text("name"),
        ca_cert: ca_cert.map(|p| std::path::absolute(&p).unwrap_or(p)),
        key,
    };
    identity.save(path)?;
    print(&json!({
        "agent_id": identity.agent_id,
        "name": identity.name,
        "scopes": agent["scopes"],
        "groups": agent["groups"],
        "identity": path.display().to_string(),
    }))
}
