//! `coffer keyring …`: keyrings (symmetric keys in the HSM), encryption and decryption of
//! files or stdin, data keys, rotation and configuration.

use super::{
    Client, PATCH, POST, context_json, delete_then_say, parse_pair, post_action, read_input,
};
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum KeyringCommand {
    Create(CreateArgs),
    List,
    Show {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Take a deleted keyring out of the trash (within 30 days of its deletion).
    Restore {
        name: String,
    },
    /// Encrypt stdin (or --in FILE); prints the ciphertext.
    Encrypt(CryptoArgs),
    /// Decrypt a ciphertext read from stdin (or --in FILE); writes the plaintext bytes.
    Decrypt(CryptoArgs),
    /// Re-encrypt a ciphertext (stdin or --in) under the current version.
    Rewrap(CryptoArgs),
    /// Generate a data key; prints JSON with the plaintext and the wrapped key.
    Datakey {
        name: String,
        #[arg(long, default_value_t = 32)]
        bytes: u32,
        #[arg(long = "context", value_parser = parse_pair)]
        context: Vec<(String, String)>,
    },
    Rotate {
        name: String,
    },
    /// Show the configuration, or change it when any option is given.
    Config(ConfigArgs),
    Keys {
        name: String,
    },
    /// Resolve a ciphertext key reference (hex).
    Hash {
        name: String,
        hash: String,
    },
}

#[derive(Args)]
pub struct CryptoArgs {
    name: String,
    /// Read the input from this file instead of stdin.
    #[arg(long = "in")]
    input: Option<PathBuf>,
    /// Encryption context entry, repeatable.
    #[arg(long = "context", value_parser = parse_pair)]
    context: Vec<(String, String)>,
}

// The argument structs below carry no doc comment: clap would show it in place of the
// subcommand's own.

#[derive(Args)]
pub struct CreateArgs {
    name: String,
    #[arg(long)]
    group: String,
    #[arg(long, default_value = "envelope")]
    protection: String,
    #[arg(long)]
    rotation_period_days: Option<u32>,
    #[arg(long)]
    max_encrypt_count: Option<u64>,
    #[arg(long)]
    cache_ttl_seconds: Option<u32>,
}

#[derive(Args)]
pub struct ConfigArgs {
    name: String,
    #[arg(long)]
    enabled: Option<bool>,
    #[arg(long)]
    min_decryption_version: Option<u32>,
    /// Days, or "none".
    #[arg(long)]
    rotation_period_days: Option<String>,
    /// A count, or "none".
    #[arg(long)]
    max_encrypt_count: Option<String>,
    #[arg(long)]
    cache_ttl_seconds: Option<u32>,
}

impl ConfigArgs {
    /// The fields `keyring config` changes: only those given.
    fn patch(&self) -> anyhow::Result<serde_json::Map<String, Value>> {
        let mut patch = serde_json::Map::new();
        if let Some(v) = self.enabled {
            patch.insert("enabled".into(), json!(v));
        }
        if let Some(v) = self.min_decryption_version {
            patch.insert("min_decryption_version".into(), json!(v));
        }
        let rotation =
            nullable_number(self.rotation_period_days.as_deref(), "rotation-period-days")?;
        if let Some(v) = rotation {
            patch.insert("rotation_period_days".into(), v);
        }
        if let Some(v) = nullable_number(self.max_encrypt_count.as_deref(), "max-encrypt-count")? {
            patch.insert("max_encrypt_count".into(), v);
        }
        if let Some(v) = self.cache_ttl_seconds {
            patch.insert("cache_ttl_seconds".into(), json!(v));
        }
        Ok(patch)
    }
}

/// A count (or days) that can be unset: `none` (or `null`) is the JSON `null` that clears it.
fn nullable_number(text: Option<&str>, field: &str) -> anyhow::Result<Option<Value>> {
    Ok(match text {
        None => None,
        Some("none") | Some("null") => Some(Value::Null),
        Some(n) => Some(json!(
            n.parse::<u64>()
                .with_context(|| format!("--{field} takes a number or \"none\""))?
        )),
    })
}

pub(super) async fn keyring(client: &Client, command: KeyringCommand) -> anyhow::Result<()> {
    match command {
        KeyringCommand::Create(args) => create(client, args).await,
        KeyringCommand::List => client.show("/v1/keyrings").await,
        KeyringCommand::Show { name } => client.show(&format!("/v1/keyrings/{name}")).await,
        KeyringCommand::Delete { name } => {
            delete_then_say(
                client,
                &format!("/v1/keyrings/{name}"),
                &format!("keyring {name} moved to the trash"),
            )
            .await
        }
        KeyringCommand::Restore { name } => {
            post_action(client, &format!("/v1/keyrings/{name}/restore")).await
        }
        KeyringCommand::Encrypt(args) => encrypt(client, args).await,
        KeyringCommand::Decrypt(args) => decrypt(client, args).await,
        KeyringCommand::Rewrap(args) => rewrap(client, args).await,
        KeyringCommand::Datakey {
            name,
            bytes,
            context,
        } => {
            let body = json!({"bytes": bytes, "context": context_json(&context)});
            client
                .send(POST, &format!("/v1/keyrings/{name}/datakey"), body)
                .await
        }
        KeyringCommand::Rotate { name } => {
            post_action(client, &format!("/v1/keyrings/{name}/rotate")).await
        }
        KeyringCommand::Config(args) => config(client, &args.name, args.patch()?).await,
        KeyringCommand::Keys { name } => client.show(&format!("/v1/keyrings/{name}/keys")).await,
        KeyringCommand::Hash { name, hash } => {
            client
                .show(&format!("/v1/keyrings/{name}/hash/{hash}"))
                .await
        }
    }
}

async fn create(client: &Client, args: CreateArgs) -> anyhow::Result<()> {
    let mut body = json!({"name": args.name, "group": args.group, "protection": args.protection,
        "rotation_period_days": args.rotation_period_days,
        "max_encrypt_count": args.max_encrypt_count});
    if let Some(ttl) = args.cache_ttl_seconds {
        body["cache_ttl_seconds"] = json!(ttl);
    }
    client.send(POST, "/v1/keyrings", body).await
}

async fn encrypt(client: &Client, args: CryptoArgs) -> anyhow::Result<()> {
    let plaintext = zeroize::Zeroizing::new(read_input(args.input.as_deref())?);
    let body =
        json!({"plaintext": B64.encode(&plaintext[..]), "context": context_json(&args.context)});
    let out = client
        .post(&format!("/v1/keyrings/{}/encrypt", args.name), body)
        .await?;
    println!("{}", out["ciphertext"].as_str().unwrap_or_default());
    Ok(())
}

/// Sends the ciphertext read from the input to `action` (`decrypt` or `rewrap`).
async fn send_ciphertext(
    client: &Client,
    args: &CryptoArgs,
    action: &str,
) -> anyhow::Result<Value> {
    let ciphertext = String::from_utf8(read_input(args.input.as_deref())?)
        .context("the ciphertext is not text")?;
    let body = json!({"ciphertext": ciphertext.trim(), "context": context_json(&args.context)});
    client
        .post(&format!("/v1/keyrings/{}/{action}", args.name), body)
        .await
}

async fn decrypt(client: &Client, args: CryptoArgs) -> anyhow::Result<()> {
    let out = send_ciphertext(client, &args, "decrypt").await?;
    let plaintext =
        zeroize::Zeroizing::new(B64.decode(out["plaintext"].as_str().unwrap_or_default())?);
    std::io::stdout().write_all(&plaintext)?;
    Ok(())
}

async fn rewrap(client: &Client, args: CryptoArgs) -> anyhow::Result<()> {
    let out = send_ciphertext(client, &args, "rewrap").await?;
    println!("{}", out["ciphertext"].as_str().unwrap_or_default());
    Ok(())
}

/// `keyring config`: shows the configuration, or changes the fields in `patch` if any.
async fn config(
    client: &Client,
    name: &str,
    patch: serde_json::Map<String, Value>,
) -> anyhow::Result<()> {
    let path = format!("/v1/keyrings/{name}/config");
    if patch.is_empty() {
        client.show(&path).await
    } else {
        client.send(PATCH, &path, Value::Object(patch)).await
    }
}
