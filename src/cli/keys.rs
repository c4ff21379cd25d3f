//! `coffer key ...` and `coffer objects`: asymmetric keys and the security-objects view.

use super::{
    Client, PATCH, POST, delete_then_say, given, post_action, print, read_input, with_query,
};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Generate a key pair inside the HSM.
    Create(CreateArgs),
    /// Import a public key for verification (--public-key), or a certificate (and its
    /// chain) issued for an existing key (--certificate).
    Import(ImportArgs),
    List,
    Show {
        name: String,
    },
    /// Print the public key as PEM (SPKI), or as JWK with --jwk.
    Public {
        name: String,
        #[arg(long)]
        version: Option<u32>,
        #[arg(long)]
        jwk: bool,
    },
    /// Sign stdin (or --in FILE) inside the HSM; prints the base64 signature.
    Sign(SignArgs),
    /// Verify a signature; prints the verdict and exits 1 when it does not verify.
    Verify {
        #[command(flatten)]
        data: SignArgs,
        /// The signature: base64 text, or @FILE for raw bytes.
        #[arg(long)]
        signature: String,
        /// Verify against this version only.
        #[arg(long)]
        version: Option<u32>,
    },
    /// RSA-OAEP (SHA-256) decrypt stdin (or --in FILE, raw bytes); writes the plaintext.
    Decrypt {
        name: String,
        #[arg(long = "in")]
        input: Option<PathBuf>,
        #[arg(long)]
        version: Option<u32>,
    },
    /// Print a PKCS#10 certificate signing request signed inside the HSM.
    Csr(CsrArgs),
    /// Generate a new version; older versions keep verifying until retired.
    Rotate {
        name: String,
    },
    /// Enable or disable a key, or retire versions below --min-version.
    Update {
        name: String,
        #[arg(long)]
        enabled: Option<bool>,
        #[arg(long)]
        min_version: Option<u32>,
    },
    /// Move a key to the trash (its private keys are destroyed after 30 days).
    Delete {
        name: String,
    },
    /// Take a key out of the trash.
    Restore {
        name: String,
    },
    /// List the key's certificates.
    Certificates {
        name: String,
    },
    /// Delete one certificate of the key.
    DeleteCertificate {
        name: String,
        id: String,
    },
}

// The argument structs carry no doc comment: clap would show it in place of the
// subcommand's own.

#[derive(Args)]
pub struct CreateArgs {
    name: String,
    #[arg(long)]
    group: String,
    /// rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384 or ed25519.
    #[arg(long)]
    algorithm: String,
    /// sign and/or decrypt (repeatable; default sign). Only RSA keys decrypt.
    #[arg(long = "usage")]
    usages: Vec<String>,
}

#[derive(Args)]
pub struct ImportArgs {
    name: String,
    /// Group of the new public-key object (with --public-key).
    #[arg(long)]
    group: Option<String>,
    /// PEM or DER SubjectPublicKeyInfo file.
    #[arg(long, conflicts_with = "certificate")]
    public_key: Option<PathBuf>,
    /// PEM bundle or DER certificate file.
    #[arg(long)]
    certificate: Option<PathBuf>,
}

#[derive(Args)]
pub struct CsrArgs {
    name: String,
    #[arg(long = "cn")]
    common_name: String,
    #[arg(long = "org")]
    organization: Option<String>,
    #[arg(long = "ou")]
    organizational_unit: Option<String>,
    /// ISO 3166 alpha-2 code, upper case (FR).
    #[arg(long)]
    country: Option<String>,
    /// DNS name, IP address, e-mail address or URI (repeatable).
    #[arg(long = "san")]
    subject_alt_names: Vec<String>,
}

#[derive(Args)]
pub struct SignArgs {
    name: String,
    /// Read the message (or digest) from this file instead of stdin.
    #[arg(long = "in")]
    input: Option<PathBuf>,
    /// The input is a digest computed by the caller, not the message.
    #[arg(long)]
    digest: bool,
    /// Signature scheme, e.g. rsa-pss-sha256, rsa-pkcs1-sha384, ecdsa-sha256, ed25519.
    #[arg(long)]
    algorithm: Option<String>,
    /// ECDSA encoding: der (default) or raw (r || s).
    #[arg(long)]
    format: Option<String>,
}

impl SignArgs {
    fn body(&self) -> anyhow::Result<Value> {
        let data = read_input(self.input.as_deref())?;
        let field = if self.digest { "digest" } else { "message" };
        let mut body = json!({field: B64.encode(&data)});
        if let Some(a) = &self.algorithm {
            body["algorithm"] = json!(a);
        }
        if let Some(f) = &self.format {
            body["signature_format"] = json!(f);
        }
        Ok(body)
    }
}

fn read_file(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// PEM files are sent as text, anything else as base64 of the bytes.
fn pem_or_b64(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) if text.trim_start().starts_with("-----") => text,
        Ok(text) => B64.encode(text.as_bytes()),
        Err(e) => B64.encode(e.as_bytes()),
    }
}

fn signature_bytes(arg: &str) -> anyhow::Result<String> {
    match arg.strip_prefix('@') {
        Some(path) => Ok(B64.encode(read_file(&PathBuf::from(path))?)),
        None => Ok(arg.trim().to_owned()),
    }
}

pub async fn key(client: &Client, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create(args) => create(client, args).await,
        KeyCommand::Import(args) => import(client, args).await,
        KeyCommand::List => client.show("/v1/keys").await,
        KeyCommand::Show { name } => client.show(&format!("/v1/keys/{name}")).await,
        KeyCommand::Public { name, version, jwk } => public(client, &name, version, jwk).await,
        KeyCommand::Sign(args) => sign(client, args).await,
        KeyCommand::Verify {
            data,
            signature,
            version,
        } => verify(client, data, &signature, version).await,
        KeyCommand::Decrypt {
            name,
            input,
            version,
        } => decrypt(client, &name, input, version).await,
        KeyCommand::Csr(args) => csr(client, args).await,
        KeyCommand::Rotate { name } => {
            post_action(client, &format!("/v1/keys/{name}/rotate")).await
        }
        KeyCommand::Update {
            name,
            enabled,
            min_version,
        } => {
            let patch = given(json!({"enabled": enabled, "min_version": min_version}));
            client.send(PATCH, &format!("/v1/keys/{name}"), patch).await
        }
        KeyCommand::Delete { name } => {
            delete_then_say(
                client,
                &format!("/v1/keys/{name}"),
                &format!("key {name} moved to the trash"),
            )
            .await
        }
        KeyCommand::Restore { name } => {
            post_action(client, &format!("/v1/keys/{name}/restore")).await
        }
        KeyCommand::Certificates { name } => {
            client.show(&format!("/v1/keys/{name}/certificates")).await
        }
        KeyCommand::DeleteCertificate { name, id } => {
            delete_then_say(
                client,
                &format!("/v1/keys/{name}/certificates/{id}"),
                &format!("certificate {id} deleted"),
            )
            .await
        }
    }
}

async fn create(client: &Client, args: CreateArgs) -> anyhow::Result<()> {
    let mut body = json!({"name": args.name, "group": args.group, "algorithm": args.algorithm});
    if !args.usages.is_empty() {
        body["usages"] = json!(args.usages);
    }
    client.send(POST, "/v1/keys", body).await
}

async fn sign(client: &Client, args: SignArgs) -> anyhow::Result<()> {
    let out = client
        .post(&format!("/v1/keys/{}/sign", args.name), args.body()?)
        .await?;
    println!("{}", out["signature"].as_str().unwrap_or_default());
    Ok(())
}

async fn csr(client: &Client, args: CsrArgs) -> anyhow::Result<()> {
    let CsrArgs {
        name,
        common_name,
        organization,
        organizational_unit,
        country,
        subject_alt_names,
    } = args;
    let body = given(
        json!({"common_name": common_name, "organization": organization,
        "organizational_unit": organizational_unit, "country": country,
        "subject_alt_names": subject_alt_names}),
    );
    let out = client.post(&format!("/v1/keys/{name}/csr"), body).await?;
    print!("{}", out["csr"].as_str().unwrap_or_default());
    Ok(())
}

/// `key import`: a public key becomes a new object; a certificate joins an existing key.
async fn import(client: &Client, args: ImportArgs) -> anyhow::Result<()> {
    let ImportArgs {
        name,
        group,
        public_key,
        certificate,
    } = args;
    match (public_key, certificate) {
        (Some(path), None) => {
            let group = group.context("--group is required with --public-key")?;
            let body = json!({"name": name, "group": group,
                "public_key": pem_or_b64(read_file(&path)?)});
            client.send(POST, "/v1/keys", body).await
        }
        (None, Some(path)) => {
            let body = json!({"certificate": pem_or_b64(read_file(&path)?)});
            client
                .send(POST, &format!("/v1/keys/{name}/certificates"), body)
                .await
        }
        _ => bail!("give --public-key FILE (with --group) or --certificate FILE"),
    }
}

async fn public(
    client: &Client,
    name: &str,
    version: Option<u32>,
    jwk: bool,
) -> anyhow::Result<()> {
    let query = version.map(|v| format!("?version={v}")).unwrap_or_default();
    let out = client
        .get(&format!("/v1/keys/{name}/public{query}"))
        .await?;
    if jwk {
        print(&out["jwk"])
    } else {
        print!("{}", out["pem"].as_str().unwrap_or_default());
        Ok(())
    }
}

/// Prints the verdict; a signature that does not verify ends the process with status 1.
async fn verify(
    client: &Client,
    data: SignArgs,
    signature: &str,
    version: Option<u32>,
) -> anyhow::Result<()> {
    let mut body = data.body()?;
    body["signature"] = json!(signature_bytes(signature)?);
    if let Some(v) = version {
        body["version"] = json!(v);
    }
    let out = client
        .post(&format!("/v1/keys/{}/verify", data.name), body)
        .await?;
    print(&out)?;
    if out["valid"] != json!(true) {
        std::process::exit(1);
    }
    Ok(())
}

async fn decrypt(
    client: &Client,
    name: &str,
    input: Option<PathBuf>,
    version: Option<u32>,
) -> anyhow::Result<()> {
    let ciphertext = read_input(input.as_deref())?;
    let mut body = json!({"ciphertext": B64.encode(&ciphertext)});
    if let Some(v) = version {
        body["version"] = json!(v);
    }
    let out = client
        .post(&format!("/v1/keys/{name}/decrypt"), body)
        .await?;
    let plaintext =
        zeroize::Zeroizing::new(B64.decode(out["plaintext"].as_str().unwrap_or_default())?);
    std::io::stdout().write_all(&plaintext)?;
    Ok(())
}

#[derive(Args)]
pub struct ObjectArgs {
    /// Only objects of this group.
    #[arg(long)]
    group: Option<String>,
    /// keyring, key_pair, public_key or certificate.
    #[arg(long = "type")]
    kind: Option<String>,
}

pub async fn objects(client: &Client, args: ObjectArgs) -> anyhow::Result<()> {
    let query: Vec<(&str, String)> = [("group", args.group), ("type", args.kind)]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect();
    client.show(&with_query("/v1/objects", &query)).await
}
