//! The harness: a real server per test (own SoftHSM token, own database: a SQLite file
//! or a PostgreSQL database, see `databases.rs`; TLS on 127.0.0.1:0) and an HTTPS client
//! that trusts its CA.

use coffer::app::{self, AppConfig, Running};
use coffer::hsm::HsmSettings;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use softhsm_test::TestToken;
use std::path::PathBuf;

pub type TestResult = anyhow::Result<()>;

/// A running server and everything a test needs to talk to it and to inspect it.
pub struct TestServer {
    pub running: Option<Running>,
    pub token: TestToken,
    pub dir: tempfile::TempDir,
    /// Where the server keeps its data.
    pub database: coffer::store::Database,
    pub url: String,
    pub client: reqwest::Client,
    pub owner_key: String,
    /// The bootstrap's one-time token that sets the owner's password.
    pub setup_token: String,
}

/// The bootstrap owner's email in every test server.
pub const OWNER_EMAIL: &str = "owner@example.test";

/// A response: status and JSON body (`Null` when empty).
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub fn str(&self, field: &str) -> String {
        self.body[field].as_str().unwrap_or_default().to_owned()
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The request id the server answered with (empty if none).
    pub fn request_id(&self) -> String {
        self.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

impl TestServer {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` had a say in the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut AppConfig)) -> anyhow::Result<Self> {
        Self::launch(false, adjust).await
    }

    /// Starts a server on SQLite whichever engine the run uses: for tests of SQLite's own
    /// file (its locks, an unwritable file).
    pub async fn start_on_sqlite() -> anyhow::Result<Self> {
        Self::launch(true, |_| {}).await
    }

    async fn launch(sqlite: bool, adjust: impl FnOnce(&mut AppConfig)) -> anyhow::Result<Self> {
        let token = TestToken::new();
        let dir = tempfile::tempdir()?;
        let layout = coffer::dev::DevLayout::new(dir.path())?;
        let tls = layout.ensure_tls()?;
        let database = match sqlite {
            true => layout.database().into(),
            false => crate::databases::test_database(dir.path()).await?,
        };
        let mut config = AppConfig::new(hsm_settings(&token), database.clone(), Some(tls));
        adjust(&mut config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let running = app::start(config, listener).await?;
        let boot = running.service.bootstrap("test", OWNER_EMAIL).await?;
        let client = client_trusting(&layout.ca_cert())?;
        Ok(Self {
            url: running.url.clone(),
            running: Some(running),
            token,
            dir,
            database,
            client,
            owner_key: boot.api_key.reveal().to_owned(),
            setup_token: boot.setup_token.reveal().to_owned(),
        })
    }

    /// Stops the server and starts it again on the same token and database (new port).
    pub async fn restart_with(&mut self, adjust: impl FnOnce(&mut AppConfig)) -> TestResult {
        self.stop().await;
        let layout = coffer::dev::DevLayout::new(self.dir.path())?;
        let tls = layout.ensure_tls()?;
        let mut config =
            AppConfig::new(hsm_settings(&self.token), self.database.clone(), Some(tls));
        adjust(&mut config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let running = app::start(config, listener).await?;
        self.url = running.url.clone();
        self.running = Some(running);
        Ok(())
    }

    /// Starts a server on the database already in `dir` (a restored data directory, say)
    /// with `token`; `owner_key` is the owner key that database already knows.
    pub async fn start_on(
        token: TestToken,
        dir: tempfile::TempDir,
        owner_key: String,
    ) -> anyhow::Result<Self> {
        let layout = coffer::dev::DevLayout::new(dir.path())?;
        layout.ensure_tls()?;
        let mut s = Self {
            running: None,
            token,
            client: client_trusting(&layout.ca_cert())?,
            database: layout.database().into(),
            dir,
            url: String::new(),
            owner_key,
            setup_token: String::new(),
        };
        s.restart_with(|_| {}).await?;
        Ok(s)
    }

    /// The CA file clients trust.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("tls").join("ca.pem")
    }

    /// An HTTPS client presenting `cert` in the handshake.
    pub fn client_presenting(&self, cert: &ClientCert) -> anyhow::Result<reqwest::Client> {
        let pem = std::fs::read(self.ca_cert())?;
        let identity =
            reqwest::Identity::from_pem(format!("{}{}", cert.cert_pem, cert.key_pem).as_bytes())?;
        Ok(reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
            .identity(identity)
            .build()?)
    }

    /// Sends a request with `client` (no bearer token) and decodes the reply.
    pub async fn call_as(
        &self,
        client: &reqwest::Client,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Reply> {
        let mut request = client.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        decode(request.send().await?).await
    }

    /// Adds `email` to the account with `role` as a person would join: the owner invites
    /// them and they accept with their own `password` (when the email has a user already,
    /// the invitation is skipped and that user is added as they are). Returns the user id.
    pub async fn user(&self, email: &str, role: &str, password: &str) -> anyhow::Result<String> {
        let reply = self
            .post(
                "/v1/users",
                &self.owner_key,
                json!({"email": email, "role": role}),
            )
            .await?;
        anyhow::ensure!(
            reply.status == 201,
            "user create: {} {}",
            reply.status,
            reply.body
        );
        if reply.body.get("invitation").is_none() {
            return Ok(reply.str("id"));
        }
        let body = json!({"token": reply.str("token"), "password": password});
        let path = "/v1/invitations/accept";
        let accepted = self.call(Method::POST, path, None, Some(body)).await?;
        anyhow::ensure!(
            accepted.status == 201,
            "invitation accept: {} {}",
            accepted.status,
            accepted.body
        );
        Ok(accepted.str("id"))
    }

    /// A new user with the account role `member` who is a `member` of `group`, signed in:
    /// returns (user id, session token).
    pub async fn group_member(
        &self,
        email: &str,
        password: &str,
        group: &str,
    ) -> anyhow::Result<(String, String)> {
        let user = self.user(email, "member", password).await?;
        let put = self
            .call(
                Method::PUT,
                &format!("/v1/groups/{group}/users/{user}"),
                Some(&self.owner_key),
                Some(json!({"role": "member"})),
            )
            .await?;
        anyhow::ensure!(
            put.status == 200,
            "group member: {} {}",
            put.status,
            put.body
        );
        let account = self.account_id().await?;
        let login = self.login(email, password, &account).await?;
        anyhow::ensure!(
            login.status == 201,
            "login: {} {}",
            login.status,
            login.body
        );
        Ok((user, login.str("session_token")))
    }

    /// Logs in; returns the whole reply.
    pub async fn login(&self, email: &str, password: &str, account: &str) -> anyhow::Result<Reply> {
        self.call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password, "account": account})),
        )
        .await
    }

    /// The account the bootstrap created.
    pub async fn account_id(&self) -> anyhow::Result<String> {
        let reply = self.get("/v1/accounts", &self.owner_key).await?;
        Ok(reply.body[0]["id"].as_str().unwrap_or_default().to_owned())
    }

    pub fn service(&self) -> &coffer::service::Service {
        &self.running.as_ref().expect("server running").service
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Reply> {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        decode(request.send().await?).await
    }

    pub async fn get(&self, path: &str, key: &str) -> anyhow::Result<Reply> {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> anyhow::Result<Reply> {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> anyhow::Result<Reply> {
        self.call(Method::PATCH, path, Some(key), Some(body)).await
    }

    /// Creates a group and returns its id.
    pub async fn group(&self, name: &str) -> anyhow::Result<String> {
        let reply = self
            .post("/v1/groups", &self.owner_key, json!({"name": name}))
            .await?;
        anyhow::ensure!(
            reply.status == 201,
            "group create: {} {}",
            reply.status,
            reply.body
        );
        Ok(reply.str("id"))
    }

    /// Creates an app in `groups` with an API key carrying `flags`; returns (app id, key).
    pub async fn app_with_key(
        &self,
        name: &str,
        groups: &[&str],
        flags: Value,
    ) -> anyhow::Result<(String, String)> {
        let app = self
            .post(
                "/v1/apps",
                &self.owner_key,
                json!({"name": name, "groups": groups}),
            )
            .await?;
        anyhow::ensure!(app.status == 201, "app create: {} {}", app.status, app.body);
        let key = self.api_key(&app.str("id"), flags).await?;
        Ok((app.str("id"), key))
    }

    /// Creates an API key for `principal`.
    pub async fn api_key(&self, principal: &str, flags: Value) -> anyhow::Result<String> {
        let key = self
            .post(
                "/v1/auth/apikey",
                &self.owner_key,
                json!({"principal": principal, "name": "test", "flags": flags}),
            )
            .await?;
        anyhow::ensure!(
            key.status == 201,
            "apikey create: {} {}",
            key.status,
            key.body
        );
        Ok(key.str("api_key"))
    }

    /// Creates a keyring in `group`.
    pub async fn keyring(&self, name: &str, group: &str, extra: Value) -> anyhow::Result<Reply> {
        let mut body = json!({"name": name, "group": group});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let reply = self.post("/v1/keyrings", &self.owner_key, body).await?;
        anyhow::ensure!(
            reply.status == 201,
            "keyring create: {} {}",
            reply.status,
            reply.body
        );
        Ok(reply)
    }

    /// One group, one app with every keyring flag, one keyring: the usual starting point.
    pub async fn ready_keyring(&self, ring: &str, protection: &str) -> anyhow::Result<String> {
        let group = self.group(&format!("g-{ring}")).await?;
        let (_, key) = self
            .app_with_key(
                &format!("a-{ring}"),
                &[&group],
                json!({"keyring.*.*.*": true}),
            )
            .await?;
        self.keyring(ring, &group, json!({"protection": protection}))
            .await?;
        Ok(key)
    }

    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

/// `GET /v1/ready`: its status and how long it took to answer.
pub async fn ready_status(s: &TestServer) -> anyhow::Result<(u16, std::time::Duration)> {
    let started = std::time::Instant::now();
    let reply = s.call(Method::GET, "/v1/ready", None, None).await?;
    Ok((reply.status, started.elapsed()))
}

/// The default settings for `token` (fault tests swap the module for theirs).
pub fn hsm_settings(token: &TestToken) -> HsmSettings {
    HsmSettings::new(
        token.module.clone(),
        token.label.clone(),
        SecretString::from(token.user_pin.clone()),
    )
}

/// An HTTPS client that trusts only the test CA.
pub fn client_trusting(ca: &std::path::Path) -> anyhow::Result<reqwest::Client> {
    app::install_crypto_provider();
    let pem = std::fs::read(ca)?;
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
        .build()?)
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("valid base64")
}

async fn decode(response: reqwest::Response) -> anyhow::Result<Reply> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    if headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
    {
        // A live stream never ends: its status and headers are the answer.
        return Ok(Reply {
            status,
            body: Value::Null,
            headers,
        });
    }
    let text = response.text().await?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok(Reply {
        status,
        body,
        headers,
    })
}

/// A TLS client certificate and its private key, PEM.
pub struct ClientCert {
    pub cert_pem: String,
    pub key_pem: String,
}

fn client_params(cn: &str, dns: &str) -> anyhow::Result<rcgen::CertificateParams> {
    let mut params = rcgen::CertificateParams::new(vec![dns.to_owned()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params)
}

/// A self-signed client certificate, for pinning.
pub fn self_signed_client(cn: &str) -> anyhow::Result<ClientCert> {
    let key = rcgen::KeyPair::generate()?;
    let cert = client_params(cn, &format!("{cn}.clients.test"))?.self_signed(&key)?;
    Ok(ClientCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A throw-away certificate authority that issues client certificates.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub pem: String,
    /// The CA's private key (PKCS#8 PEM), for proofs of possession.
    pub key_pem: String,
}

impl TestCa {
    pub fn new(cn: &str) -> anyhow::Result<Self> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            key_pem: key.serialize_pem(),
            issuer: rcgen::Issuer::new(params, key),
            pem: cert.pem(),
        })
    }

    /// Issues a client certificate for `cn` (SAN `DNS:<dns>`), valid `days_from..days_to`
    /// days around now.
    pub fn issue(
        &self,
        cn: &str,
        dns: &str,
        days_from: i64,
        days_to: i64,
    ) -> anyhow::Result<ClientCert> {
        let mut params = client_params(cn, dns)?;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(days_from);
        params.not_after = now + time::Duration::days(days_to);
        let key = rcgen::KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(ClientCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The Python of the venv with the real client programs (Selenium, the `mcp` SDK) that
/// `scripts/test.sh` makes: `$COFFER_CLIENT_VENV`, else `target/client-venv`.
pub fn client_python() -> PathBuf {
    let venv = std::env::var_os("COFFER_CLIENT_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/client-venv"),
        PathBuf::from,
    );
    venv.join("bin/python")
}

/// Runs the `coffer` binary against the test server with `env` set; returns (success,
/// stdout). stderr is shown when the command fails.
pub fn run_cli(
    s: &TestServer,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&[u8]>,
) -> anyhow::Result<(bool, String)> {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .env("COFFER_URL", &s.url)
        .env("COFFER_CA_CERT", s.ca_cert())
        .env("COFFER_BOOTSTRAP", s.dir.path().join("no-bootstrap.json"))
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin.unwrap_or_default())?;
    drop(input);
    let out = child.wait_with_output()?;
    if !out.status.success() {
        eprintln!("coffer {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// A machine's Ed25519 key, made here as the machine would make it, and the id the server
/// gave the machine.
pub struct MachineKey {
    pub id: String,
    pub key: ed25519_dalek::SigningKey,
}

impl MachineKey {
    pub fn generate() -> Self {
        let seed = coffer::crypto::random_bytes(32);
        let seed: [u8; 32] = seed[..].try_into().expect("32 bytes");
        Self {
            id: String::new(),
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    pub fn public_b64(&self) -> String {
        b64(self.key.verifying_key().as_bytes())
    }

    /// The four signed-request headers for exactly these bytes, at `timestamp`.
    pub fn headers(
        &self,
        method: &str,
        target: &str,
        body: &[u8],
        timestamp: i64,
        nonce: &str,
    ) -> Vec<(&'static str, String)> {
        use ed25519_dalek::Signer;
        let message =
            coffer::auth::signed::canonical_message(method, target, timestamp, nonce, body);
        vec![
            ("x-machine-id", self.id.clone()),
            ("x-timestamp", timestamp.to_string()),
            ("x-nonce", nonce.to_owned()),
            (
                "x-signature",
                b64(&self.key.sign(message.as_bytes()).to_bytes()),
            ),
        ]
    }
}

/// A fresh nonce of 32 hex characters.
pub fn nonce() -> String {
    hex::encode(&coffer::crypto::random_bytes(16)[..])
}

/// Unix seconds of the wall clock (the server's clock when it is not injected).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A request as it goes on the wire: method, target, headers and the exact body bytes.
#[derive(Clone)]
pub struct RawRequest {
    pub method: Method,
    pub target: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// A request signed by `machine` at `timestamp` with a fresh nonce.
    pub fn signed(
        machine: &MachineKey,
        method: Method,
        target: &str,
        body: Option<&Value>,
        timestamp: i64,
    ) -> Self {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let headers = machine.headers(method.as_str(), target, &body, timestamp, &nonce());
        Self {
            method,
            target: target.to_owned(),
            headers,
            body,
        }
    }
}

/// Sends `request` as is with `client` to the server at `base`.
pub async fn send_raw_to(
    base: &str,
    client: &reqwest::Client,
    request: &RawRequest,
) -> anyhow::Result<Reply> {
    let mut builder = client.request(request.method.clone(), format!("{base}{}", request.target));
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    if !request.body.is_empty() {
        builder = builder
            .header("content-type", "application/json")
            .body(request.body.clone());
    }
    decode(builder.send().await?).await
}

impl TestServer {
    /// Sends `request` as is with `client`.
    pub async fn send_raw(
        &self,
        client: &reqwest::Client,
        request: &RawRequest,
    ) -> anyhow::Result<Reply> {
        send_raw_to(&self.url, client, request).await
    }

    /// Registers `machine`'s public key with `token`; fills in its id. Returns the reply.
    pub async fn register_machine(
        &self,
        machine: &mut MachineKey,
        token: &str,
    ) -> anyhow::Result<Reply> {
        let reply = self
            .call(
                Method::POST,
                "/v1/machines/register",
                None,
                Some(json!({"token": token, "public_key": machine.public_b64()})),
            )
            .await?;
        if reply.status == 201 {
            machine.id = reply.str("id");
        }
        Ok(reply)
    }

    /// An approved machine in `groups` (every operation) with `flags`, ready to sign.
    pub async fn approved_machine(
        &self,
        groups: &[&str],
        flags: Value,
    ) -> anyhow::Result<MachineKey> {
        let all = json!([
            "encrypt",
            "decrypt",
            "sign",
            "verify",
            "wrap",
            "unwrap",
            "mac",
            "export",
            "manage-objects"
        ]);
        let grants: serde_json::Map<String, Value> = groups
            .iter()
            .map(|g| ((*g).to_owned(), all.clone()))
            .collect();
        let token = self
            .post(
                "/v1/machine-tokens",
                &self.owner_key,
                json!({"kind": "bootstrap", "name": "t", "flags": flags, "groups": grants}),
            )
            .await?;
        anyhow::ensure!(
            token.status == 201,
            "token: {} {}",
            token.status,
            token.body
        );
        let mut machine = MachineKey::generate();
        let registered = self
            .register_machine(&mut machine, &token.str("token"))
            .await?;
        anyhow::ensure!(registered.status == 201, "register: {}", registered.body);
        let approved = self
            .post(
                &format!("/v1/machines/{}/approve", machine.id),
                &self.owner_key,
                json!({}),
            )
            .await?;
        anyhow::ensure!(approved.status == 200, "approve: {}", approved.body);
        Ok(machine)
    }
}
