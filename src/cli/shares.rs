//! `coffer share …`: one-time shares. `create` seals a value (from a file or generated) and
//! prints the share id, its passphrase (shown once) and the recipient's URL; `open` prints
//! only the value, so it can be piped; `list` and `delete` manage the account's live shares.

use super::Client;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// The environment variable `share open` reads the passphrase from.
const PASSPHRASE_ENV: &str = "COFFER_SHARE_PASSPHRASE";

#[derive(Subcommand)]
pub enum ShareCommand {
    /// Share a value once: prints the id, the passphrase (shown this once) and the URL.
    Create(CreateArgs),
    /// Open a share (it is destroyed): prints only the value. The passphrase comes from
    /// --passphrase-file, else COFFER_SHARE_PASSPHRASE, else the first line of stdin.
    Open(OpenArgs),
    /// The account's live shares (metadata only).
    List,
    /// Destroy a share before it is opened.
    Delete { id: String },
}

#[derive(Args)]
pub struct CreateArgs {
    #[arg(long)]
    group: String,
    /// Share the contents of this file (text, at most 64 KiB).
    #[arg(
        long,
        conflicts_with = "generate",
        required_unless_present = "generate"
    )]
    value_file: Option<PathBuf>,
    /// Let the server generate the value.
    #[arg(long)]
    generate: bool,
    #[arg(long, requires = "generate")]
    length: Option<usize>,
    /// symbols, alphanumeric, numbers or uuid.
    #[arg(long, requires = "generate")]
    charset: Option<String>,
    /// How long the share lives: seconds, or a number with s, m, h or d (1m to 24h).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    expires: u64,
}

#[derive(Args)]
pub struct OpenArgs {
    id: String,
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

/// `90`, `90s`, `15m`, `1h`, `1d` as seconds.
fn parse_duration(text: &str) -> Result<u64, String> {
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h or d")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is not a duration like 90s, 15m, 1h or 1d"))
}

pub(super) async fn share(client: &Client, command: ShareCommand) -> anyhow::Result<()> {
    match command {
        ShareCommand::Create(args) => create(client, args).await,
        ShareCommand::Open(args) => open(client, args).await,
        ShareCommand::List => client.show("/v1/shares").await,
        ShareCommand::Delete { id } => {
            super::delete_then_say(client, &format!("/v1/shares/{id}"), "share destroyed").await
        }
    }
}

async fn create(client: &Client, args: CreateArgs) -> anyhow::Result<()> {
    let mut body = json!({"group": args.group, "expires_in_seconds": args.expires});
    if let Some(path) = &args.value_file {
        let bytes = Zeroizing::new(
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        let text = std::str::from_utf8(&bytes).context("a shared value must be text (UTF-8)")?;
        body["value"] = json!(text);
    } else {
        body["generate"] = super::given(json!({"length": args.length, "charset": args.charset}));
    }
    let created = client.post("/v1/shares", body).await?;
    let field = |name: &str| created[name].as_str().unwrap_or_default().to_owned();
    println!("id:         {}", field("id"));
    println!("passphrase: {}", field("passphrase"));
    println!("url:        {}{}", client.url, field("url"));
    println!("expires_at: {}", field("expires_at"));
    eprintln!("The passphrase is shown this once; send it apart from the URL.");
    Ok(())
}

/// The passphrase: from the file, else the environment, else the first line of stdin.
fn passphrase(file: Option<&PathBuf>) -> anyhow::Result<SecretString> {
    if let Some(path) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        );
        return Ok(SecretString::from(text.trim().to_owned()));
    }
    if let Ok(text) = std::env::var(PASSPHRASE_ENV) {
        return Ok(SecretString::from(text));
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim().is_empty() {
        bail!("no passphrase: give --passphrase-file, set {PASSPHRASE_ENV} or write it on stdin");
    }
    Ok(SecretString::from(line.trim().to_owned()))
}

async fn open(client: &Client, args: OpenArgs) -> anyhow::Result<()> {
    let passphrase = passphrase(args.passphrase_file.as_ref())?;
    let body = json!({"passphrase": passphrase.expose_secret()});
    let reply: Value = client
        .post(&format!("/v1/shares/{}/open", args.id), body)
        .await?;
    let value = Zeroizing::new(reply["value"].as_str().unwrap_or_default().to_owned());
    std::io::stdout().write_all(value.as_bytes())?;
    std::io::stdout().flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_read_with_their_unit() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("1h"), Ok(3600));
        assert_eq!(parse_duration("1d"), Ok(86_400));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
