//! `serve --dev`: everything under one data directory, created on first start and reused
//! afterwards.
//!
//! ```text
//! <data-dir>/hsm/softhsm2.conf      SoftHSM configuration (SOFTHSM2_CONF)
//! <data-dir>/hsm/tokens/            the token
//! <data-dir>/hsm/dev-token.json     module, token label, user PIN (mode 0600)
//! <data-dir>/coffer.db              SQLite database (WAL)
//! <data-dir>/tls/ca.pem             what clients trust
//! <data-dir>/tls/server.pem, server-key.pem
//! <data-dir>/bootstrap.json         the owner's first API key and password setup token (mode
//!                                   0600), written once
//! ```

use crate::app::TlsFiles;
use anyhow::Context;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where Debian's softhsm2 package installs the module.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const DEV_TOKEN_LABEL: &str = "coffer-dev";

/// The dev token's facts, as written to `dev-token.json` for outside tools.
#[derive(Serialize, Deserialize)]
pub struct DevToken {
    pub module: String,
    pub softhsm2_conf: String,
    pub token_label: String,
    pub user_pin: String,
}

/// What `bootstrap.json` holds.
#[derive(Serialize, Deserialize)]
pub struct BootstrapFile {
    pub account_id: String,
    pub api_key: String,
    pub ca_cert: String,
    pub url: String,
    /// The owner's email, which they sign in with once they set a password.
    #[serde(default)]
    pub owner_email: Option<String>,
    /// One-time token that sets the owner's password (`coffer password reset --token`);
    /// valid for 7 days. Older data directories have none.
    #[serde(default)]
    pub setup_token: Option<String>,
}

/// The first owner of a dev data directory.
pub const DEV_OWNER_EMAIL: &str = "owner@coffer.localhost";

/// The files of a dev data directory.
pub struct DevLayout {
    pub data_dir: PathBuf,
}

/// Writes `contents` to a new file readable by its owner only. Refuses to overwrite.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

impl DevLayout {
    pub fn new(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        Ok(Self { data_dir })
    }

    pub fn softhsm_conf(&self) -> PathBuf {
        self.data_dir.join("hsm/softhsm2.conf")
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("coffer.db")
    }

    pub fn bootstrap_file(&self) -> PathBuf {
        self.data_dir.join("bootstrap.json")
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.data_dir.join("tls/ca.pem")
    }

    /// Creates the SoftHSM configuration and the token facts (with a random PIN) if missing.
    /// Touches no PKCS#11 library: `SOFTHSM2_CONF` must be set before one is loaded.
    pub fn prepare_hsm_files(&self) -> anyhow::Result<DevToken> {
        let hsm_dir = self.data_dir.join("hsm");
        std::fs::create_dir_all(hsm_dir.join("tokens"))?;
        let conf = self.softhsm_conf();
        if !conf.exists() {
            let text = format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\nslots.mechanisms = ALL\nlibrary.reset_on_fork = false\n",
                hsm_dir.join("tokens").display()
            );
            std::fs::write(&conf, text)?;
        }
        let token_file = hsm_dir.join("dev-token.json");
        if !token_file.exists() {
            let token = DevToken {
                module: std::env::var("COFFER_HSM_MODULE")
                    .unwrap_or_else(|_| SOFTHSM_MODULE.to_owned()),
                softhsm2_conf: conf.display().to_string(),
                token_label: DEV_TOKEN_LABEL.to_owned(),
                user_pin: hex::encode(&crate::crypto::random_bytes(8)[..]),
            };
            write_private(&token_file, &serde_json::to_vec_pretty(&token)?)?;
        }
        let token: DevToken = serde_json::from_slice(&std::fs::read(&token_file)?)
            .with_context(|| format!("{} is not a dev token file", token_file.display()))?;
        Ok(token)
    }

    /// Initialises the dev token if it does not exist yet. The SO PIN is random and
    /// forgotten: a dev token is recreated, never administered.
    pub fn ensure_token(&self, token: &DevToken) -> anyhow::Result<()> {
        let so_pin = SecretString::from(hex::encode(&crate::crypto::random_bytes(8)[..]));
        let user_pin = SecretString::from(token.user_pin.clone());
        crate::hsm::TokenAdmin::ensure_token(Path::new(&token.module), &token.token_label, &so_pin, &user_pin)
            .context("cannot initialise the SoftHSM dev token (is softhsm2 installed? apt-get install softhsm2)")
    }

    /// Creates a private CA and a server certificate for localhost and 127.0.0.1 if missing.
    pub fn ensure_tls(&self) -> anyhow::Result<TlsFiles> {
        let dir = self.data_dir.join("tls");
        std::fs::create_dir_all(&dir)?;
        let files = TlsFiles {
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
        };
        if files.cert.exists() && files.key.exists() && self.ca_cert().exists() {
            return Ok(files);
        }
        let (ca_pem, cert_pem, key_pem) = dev_certificates()?;
        for path in [&files.cert, &files.key, &self.ca_cert()] {
            let _ = std::fs::remove_file(path);
        }
        std::fs::write(self.ca_cert(), ca_pem)?;
        std::fs::write(&files.cert, cert_pem)?;
        write_private(&files.key, key_pem.as_bytes())?;
        Ok(files)
    }
}

/// A CA certificate, and a server certificate and key signed by it. The CA key is not kept:
/// a dev CA signs exactly one certificate.
fn dev_certificates() -> anyhow::Result<(String, String, String)> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        SanType,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Coffer development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, "coffer");
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from(
            std::net::Ipv6Addr::LOCALHOST,
        )));
    let cert = params.signed_by(&server_key, &issuer)?;
    Ok((ca_cert.pem(), cert.pem(), server_key.serialize_pem()))
}
