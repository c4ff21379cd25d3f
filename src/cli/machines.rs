//! `coffer machine …`: machine tokens, enrollment on the machine itself (the key pair is
//! made here and only the public key is sent), provisioning and bundle installation, the
//! machines' lifecycle, and the signer every command uses with a machine identity.

use super::{Client, ClientArgs, parse_flags, print};
use crate::dev::write_private;
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use clap::Subcommand;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The identity file next to `private.pem`.
const IDENTITY_FILE: &str = "identity.json";
const PRIVATE_KEY_FILE: &str = "private.pem";

/// A machine identity directory: `identity.json` and `private.pem`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Identity {
    pub machine_id: String,
    pub account_id: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    #[serde(skip)]
    dir: PathBuf,
}

impl Identity {
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(IDENTITY_FILE);
        let text = std::fs::read(&path)
            .with_context(|| format!("cannot read the machine identity {}", path.display()))?;
        let mut identity: Identity = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a machine identity file", path.display()))?;
        identity.dir = dir.to_path_buf();
        Ok(identity)
    }

    pub fn into_signer(self) -> anyhow::Result<Signer> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let path = self.dir.join(PRIVATE_KEY_FILE);
        let pem = zeroize::Zeroizing::new(
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the machine key {}", path.display()))?,
        );
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .map_err(|_| anyhow::anyhow!("{} is not an Ed25519 PKCS#8 key", path.display()))?;
        Ok(Signer {
            machine_id: self.machine_id,
            key,
        })
    }
}

/// Signs requests as api.md describes: Ed25519 over
/// `METHOD:PATH:TIMESTAMP:NONCE:BODY_SHA256_HEX`.
pub struct Signer {
    machine_id: String,
    key: ed25519_dalek::SigningKey,
}

impl Signer {
    /// The four headers of a signed request for `method` `path` (with its query) and the
    /// exact body bytes.
    pub fn headers(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Vec<(&'static str, String)> {
        use crate::auth::signed;
        use ed25519_dalek::Signer as _;
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let nonce = URL_SAFE_NO_PAD.encode(&crate::crypto::random_bytes(18)[..]);
        let message =
            signed::canonical_message(method, path, timestamp, &nonce, body.unwrap_or_default());
        let signature = self.key.sign(message.as_bytes());
        vec![
            (signed::MACHINE_ID, self.machine_id.clone()),
            (signed::TIMESTAMP, timestamp.to_string()),
            (signed::NONCE, nonce),
            (signed::SIGNATURE, B64.encode(signature.to_bytes())),
        ]
    }
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Issue a token (shown once).
    Create {
        /// bootstrap (one pending machine, 10 minutes), enrollment (a fleet of approved
        /// ephemeral machines) or temporary (one pending machine with a lifetime).
        #[arg(long)]
        kind: String,
        #[arg(long)]
        name: String,
        /// Flags of the enrolled machines: PATTERN or PATTERN=false, repeatable.
        #[arg(long = "flag", required = true)]
        flags: Vec<String>,
        /// GROUP_ID=op1,op2: the operations enrolled machines get in a group, repeatable.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// How long the token can be used (enrollment, temporary).
        #[arg(long)]
        lifetime_seconds: Option<i64>,
        /// How many machines it may enroll (enrollment, up to 10000).
        #[arg(long)]
        max_uses: Option<i64>,
        /// How long each machine lives (enrollment: from enrollment; temporary: from approval).
        #[arg(long)]
        machine_lifetime_seconds: Option<i64>,
        /// Temporary machines: an allowed source IP or CIDR network, repeatable.
        #[arg(long = "allow-source")]
        allow_sources: Vec<String>,
        /// Temporary machines: the time window's IANA time zone (with --weekdays, --from, --until).
        #[arg(long, requires_all = ["weekdays", "from", "until"])]
        time_zone: Option<String>,
        /// Comma-separated: mon,tue,…
        #[arg(long)]
        weekdays: Option<String>,
        /// HH:MM
        #[arg(long)]
        from: Option<String>,
        /// HH:MM (exclusive; 24:00 for midnight)
        #[arg(long)]
        until: Option<String>,
    },
    List,
    /// The token stops enrolling at once.
    Disable {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum MachineCommand {
    /// Machine tokens (owners).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// On the machine: make a key pair, register its public key with a bootstrap,
    /// enrollment or temporary token, and write the identity under
    /// `~/.coffer/accounts/<account-id>/`.
    #[command(alias = "enroll")]
    Bootstrap {
        /// Prefer COFFER_MACHINE_TOKEN: flag values show in `ps`.
        #[arg(long, env = "COFFER_MACHINE_TOKEN", hide_env_values = true)]
        token: String,
        #[arg(long)]
        name: Option<String>,
        /// Where `.coffer/` goes (default: $HOME).
        #[arg(long)]
        home: Option<PathBuf>,
    },
    /// Provision an approved machine: the server makes its key pair and hands it over once
    /// through a single-use bundle token.
    Provision {
        #[arg(long)]
        name: String,
        #[arg(long = "flag", required = true)]
        flags: Vec<String>,
        #[arg(long = "group")]
        groups: Vec<String>,
        /// RFC 3339.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// On the machine: download a provisioned machine's bundle (once) and write the identity.
    Install {
        #[arg(long, env = "COFFER_BUNDLE_TOKEN", hide_env_values = true)]
        token: String,
        #[arg(long)]
        home: Option<PathBuf>,
    },
    List,
    Show {
        id: String,
    },
    Approve {
        id: String,
    },
    Disable {
        id: String,
    },
    Enable {
        id: String,
    },
    /// A later expiry, at most twelve months from now.
    Extend {
        id: String,
        /// RFC 3339.
        #[arg(long)]
        expires_at: String,
    },
    /// Back to the expiry before the last extension.
    RevertExtension {
        id: String,
    },
    Delete {
        id: String,
    },
}

fn parse_grants(items: &[String]) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    items
        .iter()
        .map(|item| {
            let (group, ops) = item
                .split_once('=')
                .with_context(|| format!("group {item:?}: write GROUP_ID=op1,op2"))?;
            let ops = ops
                .split(',')
                .filter(|op| !op.is_empty())
                .map(str::to_owned);
            Ok((group.to_owned(), ops.collect()))
        })
        .collect()
}

fn token_body(command: TokenCommand) -> anyhow::Result<Value> {
    let TokenCommand::Create {
        kind,
        name,
        flags,
        groups,
        lifetime_seconds,
        max_uses,
        machine_lifetime_seconds,
        allow_sources,
        time_zone,
        weekdays,
        from,
        until,
    } = command
    else {
        bail!("not a token creation");
    };
    let mut body = json!({
        "kind": kind, "name": name, "flags": parse_flags(&flags)?, "groups": parse_grants(&groups)?,
        "lifetime_seconds": lifetime_seconds, "max_uses": max_uses,
        "machine_lifetime_seconds": machine_lifetime_seconds,
    });
    let window = time_zone.map(|tz| {
        json!({
            "time_zone": tz,
            "weekdays": weekdays.unwrap_or_default().split(',').collect::<Vec<_>>(),
            "start": from, "end": until,
        })
    });
    if !allow_sources.is_empty() || window.is_some() {
        let mut guardrails = json!({});
        if !allow_sources.is_empty() {
            guardrails["allowed_sources"] = json!(allow_sources);
        }
        if let Some(window) = window {
            guardrails["time_window"] = window;
        }
        body["guardrails"] = guardrails;
    }
    // Absent, not null: the server refuses fields that do not apply to the kind.
    if let Some(map) = body.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    Ok(body)
}

/// `<home>/.coffer/accounts`.
fn accounts_dir(home: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let home = home
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
        .context("set HOME or give --home")?;
    Ok(home.join(".coffer").join("accounts"))
}

/// Writes `private.pem` (0600, from the already-written `staged` file) and `identity.json`
/// under `<accounts>/<account-id>/`.
fn install_identity(
    accounts: &Path,
    staged: &Path,
    identity: &Identity,
) -> anyhow::Result<PathBuf> {
    let dir = accounts.join(&identity.account_id);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let key_path = dir.join(PRIVATE_KEY_FILE);
    if key_path.exists() {
        bail!(
            "{} exists: this machine already has an identity in that account (the new key stays at {})",
            key_path.display(),
            staged.display()
        );
    }
    std::fs::rename(staged, &key_path)
        .with_context(|| format!("cannot move the key to {}", key_path.display()))?;
    let identity_path = dir.join(IDENTITY_FILE);
    std::fs::write(&identity_path, serde_json::to_vec_pretty(identity)?)
        .with_context(|| format!("cannot write {}", identity_path.display()))?;
    Ok(dir)
}

/// The private key goes to disk (0600) before anything is sent, so a registered machine
/// can never be left without its key.
fn stage_key(accounts: &Path, pem: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(accounts)
        .with_context(|| format!("cannot create {}", accounts.display()))?;
    let staged = accounts.join(format!(
        ".pending-{}.pem",
        hex::encode(&crate::crypto::random_bytes(8)[..])
    ));
    write_private(&staged, pem.as_bytes())
        .with_context(|| format!("cannot write {}", staged.display()))?;
    Ok(staged)
}

fn identity_for(
    client: &Client,
    args: &ClientArgs,
    machine_id: &str,
    account_id: &str,
) -> Identity {
    Identity {
        machine_id: machine_id.to_owned(),
        account_id: account_id.to_owned(),
        url: Some(client.url.clone()),
        ca_cert: args.ca_cert.clone().map(|p| p.canonicalize().unwrap_or(p)),
        dir: PathBuf::new(),
    }
}

async fn bootstrap(
    args: &ClientArgs,
    token: String,
    name: Option<String>,
    home: Option<PathBuf>,
) -> anyhow::Result<()> {
    let client = Client::anonymous(args)?;
    let accounts = accounts_dir(home)?;
    let (pem, public_key) = crate::crypto::generate_ed25519();
    let staged = stage_key(&accounts, &pem)?;
    let mut body = json!({"token": token.trim(), "public_key": B64.encode(public_key)});
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    let machine = match client.post("/v1/machines/register", body).await {
        Ok(machine) => machine,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
    };
    let machine_id = machine["id"]
        .as_str()
        .context("the server sent no machine id")?;
    let account_id = machine["account_id"]
        .as_str()
        .context("the server sent no account id")?;
    let identity = identity_for(&client, args, machine_id, account_id);
    let dir = install_identity(&accounts, &staged, &identity)?;
    eprintln!(
        "machine {machine_id} registered ({}); identity in {}",
        machine["status"].as_str().unwrap_or("?"),
        dir.display()
    );
    print(&machine)
}

async fn install(args: &ClientArgs, token: String, home: Option<PathBuf>) -> anyhow::Result<()> {
    let client = Client::anonymous(args)?;
    let accounts = accounts_dir(home)?;
    std::fs::create_dir_all(&accounts)
        .with_context(|| format!("cannot create {}", accounts.display()))?;
    let bundle = client
        .post("/v1/machines/bundle", json!({"token": token.trim()}))
        .await?;
    let pem = zeroize::Zeroizing::new(
        bundle["private_key_pem"]
            .as_str()
            .context("the bundle holds no private key")?
            .to_owned(),
    );
    let staged = stage_key(&accounts, &pem)?;
    let machine_id = bundle["machine_id"].as_str().context("no machine id")?;
    let account_id = bundle["account_id"].as_str().context("no account id")?;
    let identity = identity_for(&client, args, machine_id, account_id);
    let dir = install_identity(&accounts, &staged, &identity)?;
    eprintln!(
        "machine {machine_id} installed; identity in {}",
        dir.display()
    );
    print(&json!({"machine_id": machine_id, "account_id": account_id, "identity": dir}))
}

pub async fn machine(args: &ClientArgs, command: MachineCommand) -> anyhow::Result<()> {
    match command {
        MachineCommand::Bootstrap { token, name, home } => {
            return bootstrap(args, token, name, home).await;
        }
        MachineCommand::Install { token, home } => return install(args, token, home).await,
        _ => {}
    }
    let client = Client::new(args)?;
    let value = match command {
        MachineCommand::Token { command } => match command {
            TokenCommand::List => client.get("/v1/machine-tokens").await?,
            TokenCommand::Disable { id } => {
                client.delete(&format!("/v1/machine-tokens/{id}")).await?;
                json!({"disabled": id})
            }
            create => {
                client
                    .post("/v1/machine-tokens", token_body(create)?)
                    .await?
            }
        },
        MachineCommand::Provision {
            name,
            flags,
            groups,
            expires_at,
        } => {
            let mut body = json!({"name": name, "flags": parse_flags(&flags)?, "groups": parse_grants(&groups)?});
            if let Some(at) = expires_at {
                body["expires_at"] = json!(at);
            }
            client.post("/v1/machines", body).await?
        }
        MachineCommand::List => client.get("/v1/machines").await?,
        MachineCommand::Show { id } => client.get(&format!("/v1/machines/{id}")).await?,
        MachineCommand::Approve { id } => action(&client, &id, "approve").await?,
        MachineCommand::Disable { id } => action(&client, &id, "disable").await?,
        MachineCommand::Enable { id } => action(&client, &id, "enable").await?,
        MachineCommand::RevertExtension { id } => action(&client, &id, "revert-extension").await?,
        MachineCommand::Extend { id, expires_at } => {
            client
                .post(
                    &format!("/v1/machines/{id}/extend"),
                    json!({"expires_at": expires_at}),
                )
                .await?
        }
        MachineCommand::Delete { id } => {
            client.delete(&format!("/v1/machines/{id}")).await?;
            json!({"deleted": id})
        }
        MachineCommand::Bootstrap { .. } | MachineCommand::Install { .. } => unreachable!(),
    };
    print(&value)
}

async fn action(client: &Client, id: &str, verb: &str) -> anyhow::Result<Value> {
    client
        .post(&format!("/v1/machines/{id}/{verb}"), json!({}))
        .await
}
