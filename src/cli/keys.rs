//! `coffer key ...` and `coffer objects`: asymmetric keys and the security-objects view.

use super::{Client, print, read_input};
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
    Create {
        name: String,
        #[arg(long)]
        group: String,
        /// rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384 or ed25519.
        #[arg(long)]
        algorithm: String,
        /// sign and/or decrypt (repeatable; default sign). Only RSA keys decrypt.
        #[arg(long = "usage")]
        usages: Vec<String>,
    },
    /// Import a public key for verification (--public-key), or a certificate (and its
    /// chain) issued for an existing key (--certificate).
    Import {
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
    },
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
    Csr {
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
    },
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
        KeyCommand::Create {
            name,
            group,
            algorithm,
            usages,
        } => {
            let mut body = json!({"name": name, "group": group, "algorithm": algorithm});
            if !usages.is_empty() {
                body["usages"] = json!(usages);
            }
            print(&client.post("/v1/keys", body).await?)
        }
        KeyCommand::Import {
            name,
            group,
            public_key,
            certificate,
        } => match (public_key, certificate) {
            (Some(path), None) => {
                let group = group.context("--group is required with --public-key")?;
                let body = json!({"name": name, "group": group,
                    "public_key": pem_or_b64(read_file(&path)?)});
                print(&client.post("/v1/keys", body).await?)
            }
            (None, Some(path)) => {
                let body = json!({"certificate": pem_or_b64(read_file(&path)?)});
                print(
                    &client
                        .post(&format!("/v1/keys/{name}/certificates"), body)
                        .await?,
                )
            }
            _ => bail!("give --public-key FILE (with --group) or --certificate FILE"),
        },
        KeyCommand::List => print(&client.get("/v1/keys").await?),
        KeyCommand::Show { name } => print(&client.get(&format!("/v1/keys/{name}")).await?),
        KeyCommand::Public { name, version, jwk } => {
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
        KeyCommand::Sign(args) => {
            let out = client
                .post(&format!("/v1/keys/{}/sign", args.name), args.body()?)
                .await?;
            println!("{}", out["signature"].as_str().unwrap_or_default());
            Ok(())
        }
        KeyCommand::Verify {
            data,
            signature,
            version,
        } => {
            let mut body = data.body()?;
            body["signature"] = json!(signature_bytes(&signature)?);
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
        KeyCommand::Decrypt {
            name,
            input,
            version,
        } => {
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
        KeyCommand::Csr {
            name,
            common_name,
            organization,
            organizational_unit,
            country,
            subject_alt_names,
        } => {
            let body = crate::cli::given(
                json!({"common_name": common_name, "organization": organization,
                "organizational_unit": organizational_unit, "country": country,
                "subject_alt_names": subject_alt_names}),
            );
            let out = client.post(&format!("/v1/keys/{name}/csr"), body).await?;
            print!("{}", out["csr"].as_str().unwrap_or_default());
            Ok(())
        }
        KeyCommand::Rotate { name } => print(
            &client
                .post(&format!("/v1/keys/{name}/rotate"), json!({}))
                .await?,
        ),
        KeyCommand::Update {
            name,
            enabled,
            min_version,
        } => {
            let mut patch = serde_json::Map::new();
            if let Some(v) = enabled {
                patch.insert("enabled".into(), json!(v));
            }
            if let Some(v) = min_version {
                patch.insert("min_version".into(), json!(v));
            }
            print(
                &client
                    .patch(&format!("/v1/keys/{name}"), Value::Object(patch))
                    .await?,
            )
        }
        KeyCommand::Delete { name } => {
            client
                .call(reqwest::Method::DELETE, &format!("/v1/keys/{name}"), None)
                .await?;
            eprintln!("key {name} moved to the trash");
            Ok(())
        }
        KeyCommand::Restore { name } => print(
            &client
                .post(&format!("/v1/keys/{name}/restore"), json!({}))
                .await?,
        ),
        KeyCommand::Certificates { name } => {
            print(&client.get(&format!("/v1/keys/{name}/certificates")).await?)
        }
        KeyCommand::DeleteCertificate { name, id } => {
            client
                .call(
                    reqwest::Method::DELETE,
                    &format!("/v1/keys/{name}/certificates/{id}"),
                    None,
                )
                .await?;
            eprintln!("certificate {id} deleted");
            Ok(())
        }
    }
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
    let mut query = Vec::new();
    if let Some(g) = &args.group {
        query.push(format!("group={g}"));
    }
    if let Some(k) = &args.kind {
        query.push(format!("type={k}"));
    }
    let path = if query.is_empty() {
        "/v1/objects".to_owned()
    } else {
        format!("/v1/objects?{}", query.join("&"))
    };
    print(&client.get(&path).await?)
}
