//! `coffer audit`: export the tamper-evident trail, sign checkpoints, and verify an export
//! offline with nothing but the public key.

use super::{Client, ClientArgs};
use crate::audit::verify::verify;
use crate::crypto::asym::PublicKey;
use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Download the account's hash-chained trail with its signed checkpoints (JSON lines),
    /// ending on a checkpoint signed for this export.
    Export {
        /// Where to write it (standard output without it).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Sign a checkpoint of the account's trail now.
    Checkpoint,
    /// The account's signed checkpoints.
    Checkpoints,
    /// The public key (PEM) that verifies checkpoints; keep a copy where the database's
    /// administrators cannot change it.
    SigningKey,
    /// Verify an export offline; names the first edited, deleted, inserted or moved event.
    /// Needs no server: only the export and the public key you trust.
    Verify {
        file: PathBuf,
        /// The checkpoint public key (PEM), as `coffer audit signing-key` printed it.
        #[arg(long)]
        public_key: PathBuf,
    },
}

/// Runs an audit command; only verification works without a server and a credential.
pub(super) async fn run(args: &ClientArgs, command: AuditCommand) -> anyhow::Result<()> {
    let server = || Client::new(args);
    match command {
        AuditCommand::Export { output } => export(&server()?, output).await,
        AuditCommand::Checkpoint => {
            let checkpoint = server()?
                .post("/v1/activity/checkpoints", json!({}))
                .await?;
            super::print(&checkpoint)
        }
        AuditCommand::Checkpoints => server()?.show("/v1/activity/checkpoints").await,
        AuditCommand::SigningKey => {
            let key = server()?.get("/v1/activity/signing-key").await?;
            print!("{}", key["public_key"].as_str().unwrap_or_default());
            Ok(())
        }
        AuditCommand::Verify { file, public_key } => verify_file(&file, &public_key),
    }
}

async fn export(client: &Client, output: Option<PathBuf>) -> anyhow::Result<()> {
    let text = match client.get("/v1/activity/export").await? {
        Value::String(text) => text,
        other => format!("{other}\n"),
    };
    match output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn verify_file(file: &PathBuf, public_key: &PathBuf) -> anyhow::Result<()> {
    let pem = std::fs::read(public_key)
        .with_context(|| format!("cannot read {}", public_key.display()))?;
    let key = PublicKey::from_pem_or_der(&pem)
        .map_err(|e| anyhow::anyhow!("{} is not a public key: {e}", public_key.display()))?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    match verify(&text, &key) {
        Ok(v) => {
            println!(
                "verified: {} events of {} (positions {} to {}), {} signed checkpoints",
                v.events, v.chain, v.from, v.to, v.checkpoints
            );
            Ok(())
        }
        Err(problem) => bail!("the trail was tampered with: {problem}"),
    }
}
