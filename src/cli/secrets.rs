//! `coffer secret …`: secrets, their values, versions, rotation and read grants.
//!
//! Values never come from the command line (it shows in process lists and shell history):
//! they are read from a file or stdin. `get` and `field` print the value alone on stdout, so
//! `$(coffer secret get db-url)` works.

use super::{Client, POST, PUT, delete_then_say, given, read_input};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Create a secret; the value comes from --value-file, --fields-file or stdin, or is
    /// generated with --generate (by the rotation options).
    Create(Box<CreateArgs>),
    List,
    /// Metadata: kind, field names, versions, rotation, never the value.
    Show {
        name: String,
    },
    /// Print the value (apps and machines; --reveal for users with the reveal flag).
    Get {
        name: String,
        #[arg(long)]
        version: Option<u32>,
        /// As a user: reveal the value (audited as a warning).
        #[arg(long)]
        reveal: bool,
    },
    /// Print one field of a structured secret.
    Field {
        name: String,
        field: String,
    },
    /// Set a new value (a new version) from --value-file, --fields-file or stdin.
    Set(SetArgs),
    Versions {
        name: String,
    },
    /// Make a new version with the content of an earlier one.
    Rollback {
        name: String,
        version: u32,
    },
    /// Rotate now, or set (--every) or turn off (--off) automatic rotation.
    Rotate(RotateArgs),
    /// Allow an app or machine of the secret's group to read the value.
    Grant {
        name: String,
        app: String,
    },
    Revoke {
        name: String,
        app: String,
    },
    /// The apps and machines that may read the value.
    Grants {
        name: String,
    },
    /// Move a secret to the trash (30 days).
    Delete {
        name: String,
    },
    Restore {
        name: String,
    },
}

#[derive(Args)]
pub struct ValueArgs {
    /// The value of a single or canary secret, read from this file.
    #[arg(long)]
    value_file: Option<PathBuf>,
    /// The fields of a structured secret: a JSON object of strings in this file.
    #[arg(long)]
    fields_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct PolicyArgs {
    /// Rotate automatically this often: 300, 5m, 12h, 30d (at least 5 minutes).
    #[arg(long)]
    every: Option<String>,
    #[arg(long)]
    length: Option<u32>,
    /// symbols (default), alphanumeric, numbers or uuid.
    #[arg(long)]
    charset: Option<String>,
    /// A structured secret's field that rotates (repeatable).
    #[arg(long = "rotate-field")]
    fields: Vec<String>,
}

#[derive(Args)]
pub struct CreateArgs {
    name: String,
    #[arg(long)]
    group: String,
    /// single (default), structured, managed or canary.
    #[arg(long, default_value = "single")]
    kind: String,
    #[command(flatten)]
    value: ValueArgs,
    /// Generate the first value (by --length and --charset) instead of reading one.
    #[arg(long)]
    generate: bool,
    #[command(flatten)]
    policy: PolicyArgs,
    #[arg(long)]
    retention: Option<u32>,
    /// Managed: alternating (default) or single.
    #[arg(long)]
    mode: Option<String>,
    /// Managed: the role(s), repeatable (two for alternating).
    #[arg(long = "username")]
    usernames: Vec<String>,
    #[arg(long)]
    host: Option<String>,
    #[arg(long)]
    port: Option<u16>,
    #[arg(long)]
    database: Option<String>,
    /// Canary: a related canary tripped with this one (repeatable).
    #[arg(long)]
    cascade: Vec<String>,
}

#[derive(Args)]
pub struct SetArgs {
    name: String,
    #[command(flatten)]
    value: ValueArgs,
}

#[derive(Args)]
pub struct RotateArgs {
    name: String,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Turn automatic rotation off.
    #[arg(long)]
    off: bool,
}

pub async fn secret(client: &Client, command: SecretCommand) -> anyhow::Result<()> {
    let path = |name: &str| format!("/v1/secrets/{name}");
    match command {
        SecretCommand::Create(args) => create(client, *args).await,
        SecretCommand::List => client.show("/v1/secrets").await,
        SecretCommand::Show { name } => client.show(&path(&name)).await,
        SecretCommand::Get {
            name,
            version,
            reveal,
        } => get(client, &name, version, reveal).await,
        SecretCommand::Field { name, field } => {
            let out = client
                .get(&format!("{}/fields/{field}", path(&name)))
                .await?;
            print_raw(out["value"].as_str().unwrap_or_default())
        }
        SecretCommand::Set(args) => {
            let body = content(&args.value, Input::Single)?
                .context("give the new value with --value-file, --fields-file or on stdin")?;
            client
                .send(PUT, &format!("{}/value", path(&args.name)), body)
                .await
        }
        SecretCommand::Versions { name } => client.show(&format!("{}/versions", path(&name))).await,
        SecretCommand::Rollback { name, version } => {
            let body = json!({"version": version});
            client
                .send(POST, &format!("{}/rollback", path(&name)), body)
                .await
        }
        SecretCommand::Rotate(args) => rotate(client, args).await,
        SecretCommand::Grant { name, app } => {
            client.put(&format!("{}/grants/{app}", path(&name))).await?;
            eprintln!("{app} may read secret {name}");
            Ok(())
        }
        SecretCommand::Revoke { name, app } => {
            let done = format!("{app} may no longer read secret {name}");
            delete_then_say(client, &format!("{}/grants/{app}", path(&name)), &done).await
        }
        SecretCommand::Grants { name } => client.show(&format!("{}/grants", path(&name))).await,
        SecretCommand::Delete { name } => {
            let done = format!("secret {name} moved to the trash");
            delete_then_say(client, &path(&name), &done).await
        }
        SecretCommand::Restore { name } => {
            client
                .send(POST, &format!("{}/restore", path(&name)), json!({}))
                .await
        }
    }
}

/// Prints a value with nothing around it.
fn print_raw(value: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(value.as_bytes())?;
    out.flush()?;
    Ok(())
}

async fn get(
    client: &Client,
    name: &str,
    version: Option<u32>,
    reveal: bool,
) -> anyhow::Result<()> {
    let out = if reveal {
        let body = given(json!({"version": version}));
        client
            .post(&format!("/v1/secrets/{name}/reveal"), body)
            .await?
    } else {
        let query = version.map(|v| format!("?version={v}")).unwrap_or_default();
        client
            .get(&format!("/v1/secrets/{name}/value{query}"))
            .await?
    };
    match out["value"].as_str() {
        Some(value) => print_raw(value),
        None => print_raw(&serde_json::to_string(&out["fields"])?),
    }
}

/// What stdin holds when no file is given.
#[derive(PartialEq)]
enum Input {
    /// One value.
    Single,
    /// A JSON object of fields.
    Fields,
    /// Nothing: the value is generated.
    Generated,
}

/// The `value` or `fields` of a request body, from the files given or stdin; `None` when
/// the value is generated and no file was given.
fn content(args: &ValueArgs, stdin: Input) -> anyhow::Result<Option<Value>> {
    let fields_from = |path: Option<&std::path::Path>| -> anyhow::Result<Option<Value>> {
        let text = Zeroizing::new(read_input(path)?);
        let fields: Value =
            serde_json::from_slice(&text).context("the fields must be a JSON object of strings")?;
        Ok(Some(json!({"fields": fields})))
    };
    if let Some(path) = &args.fields_file {
        return fields_from(Some(path));
    }
    match (stdin, &args.value_file) {
        (Input::Generated, None) => return Ok(None),
        (Input::Fields, None) => return fields_from(None),
        _ => {}
    }
    let bytes = Zeroizing::new(read_input(args.value_file.as_deref())?);
    let text = std::str::from_utf8(&bytes).context("a secret value must be UTF-8 text")?;
    Ok(Some(json!({"value": text})))
}

/// A duration of seconds: `300`, `5m`, `12h`, `30d`.
fn seconds(text: &str) -> anyhow::Result<u64> {
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration like 300, 5m, 12h or 30d"))?;
    let unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        other => bail!("unknown duration unit {other:?}: use s, m, h or d"),
    };
    Ok(n * unit)
}

impl PolicyArgs {
    /// The rotation body, if --every was given.
    fn body(&self) -> anyhow::Result<Option<Value>> {
        let Some(every) = &self.every else {
            if self.length.is_some() || self.charset.is_some() || !self.fields.is_empty() {
                bail!("--length, --charset and --rotate-field go with --every");
            }
            return Ok(None);
        };
        let mut policy = given(json!({"interval_seconds": seconds(every)?,
            "length": self.length, "charset": self.charset}));
        if !self.fields.is_empty() {
            policy["fields"] = json!(self.fields);
        }
        Ok(Some(policy))
    }
}

async fn create(client: &Client, args: CreateArgs) -> anyhow::Result<()> {
    let mut body = given(
        json!({"name": args.name, "group": args.group, "kind": args.kind,
        "retention": args.retention}),
    );
    let stdin = match args.kind.as_str() {
        _ if args.generate => Input::Generated,
        "managed" => Input::Generated,
        "structured" => Input::Fields,
        _ => Input::Single,
    };
    if let Some(value) = content(&args.value, stdin)? {
        body.as_object_mut()
            .expect("an object")
            .extend(value.as_object().cloned().unwrap_or_default());
    }
    if let Some(policy) = args.policy.body()? {
        body["rotation"] = policy;
    } else if args.generate {
        bail!("--generate needs --every: the rotation policy is what generates values");
    }
    if args.kind == "managed" {
        body["managed"] = given(json!({"mode": args.mode, "usernames": args.usernames,
            "host": args.host, "port": args.port, "database": args.database}));
    }
    if !args.cascade.is_empty() {
        body["cascade"] = json!(args.cascade);
    }
    client.send(POST, "/v1/secrets", body).await
}

async fn rotate(client: &Client, args: RotateArgs) -> anyhow::Result<()> {
    let path = format!("/v1/secrets/{}/rotation", args.name);
    if args.off {
        return super::print(&client.delete(&path).await?);
    }
    match args.policy.body()? {
        Some(policy) => client.send(PUT, &path, policy).await,
        None => {
            client
                .send(
                    POST,
                    &format!("/v1/secrets/{}/rotate", args.name),
                    json!({}),
                )
                .await
        }
    }
}
