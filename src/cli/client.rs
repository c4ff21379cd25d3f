//! How an operator command reaches the API: the connection flags and environment, the
//! bootstrap file that fills in what they leave out, and an HTTPS client that sends each
//! request with the right credential (bearer token, client certificate or machine key).

use super::{machines, print};
use crate::app;
use crate::dev::BootstrapFile;
use anyhow::{Context, bail};
use clap::Args;
use secrecy::SecretString;
use serde_json::Value;
use std::path::PathBuf;

/// How the CLI reaches the API. Without flags or environment, `./coffer-data/bootstrap.json`
/// (or the file named by COFFER_BOOTSTRAP) supplies all three.
#[derive(Args)]
pub struct ClientArgs {
    #[arg(long, env = "COFFER_URL", global = true)]
    pub url: Option<String>,
    #[arg(long, env = "COFFER_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Prefer the COFFER_API_KEY environment variable: flag values show in `ps`.
    #[arg(long, env = "COFFER_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    #[arg(
        long,
        env = "COFFER_BOOTSTRAP",
        default_value = "./coffer-data/bootstrap.json",
        global = true
    )]
    pub bootstrap: PathBuf,
    /// A TLS client certificate (PEM) bound to an app: authenticates without an API key.
    #[arg(
        long,
        env = "COFFER_CLIENT_CERT",
        global = true,
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, env = "COFFER_CLIENT_KEY", global = true)]
    pub client_key: Option<PathBuf>,
    /// A machine identity directory (`~/.coffer/accounts/<account-id>`, written by `coffer
    /// machine bootstrap` or `install`): every request is signed with its Ed25519 key.
    #[arg(long, env = "COFFER_MACHINE_IDENTITY", global = true)]
    pub machine_identity: Option<PathBuf>,
}

/// Where the API is and which bearer token and CA to use, from the flags, the machine
/// identity and the bootstrap file, in that order.
struct Endpoint {
    url: String,
    api_key: Option<String>,
    ca: Option<PathBuf>,
    /// An API key given by flag or environment: it wins over a machine identity.
    explicit_key: bool,
}

impl Endpoint {
    fn resolve(args: &ClientArgs, identity: Option<&machines::Identity>) -> anyhow::Result<Self> {
        let from_file: Option<BootstrapFile> =
            if args.url.is_none() || args.api_key.is_none() || args.ca_cert.is_none() {
                std::fs::read(&args.bootstrap)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
            } else {
                None
            };
        let url = args
            .url
            .clone()
            .or_else(|| identity.and_then(|i| i.url.clone()))
            .or_else(|| from_file.as_ref().map(|f| f.url.clone()));
        let url = url
            .context("set COFFER_URL (or --url), or run from the directory holding coffer-data/")?;
        let api_key = args
            .api_key
            .clone()
            .or_else(|| from_file.as_ref().map(|f| f.api_key.clone()));
        // An explicit key wins over a machine identity or a client certificate; the
        // bootstrap file's key does not.
        let explicit_key = args.api_key.as_ref().is_some_and(|k| !k.is_empty());
        let api_key = api_key
            .filter(|key| !key.is_empty())
            .filter(|_| explicit_key || (args.client_cert.is_none() && identity.is_none()));
        let ca = args
            .ca_cert
            .clone()
            .or_else(|| identity.and_then(|i| i.ca_cert.clone()))
            .or_else(|| from_file.as_ref().map(|f| PathBuf::from(&f.ca_cert)));
        Ok(Self {
            url,
            api_key,
            ca,
            explicit_key,
        })
    }
}

/// The HTTPS client: trusts only `ca` (no built-in roots) and presents the client
/// certificate when one is given.
fn http_client(args: &ClientArgs, ca: Option<&PathBuf>) -> anyhow::Result<reqwest::Client> {
    app::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false);
    if let Some(ca) = ca {
        let pem = std::fs::read(ca)
            .with_context(|| format!("cannot read the CA file {}", ca.display()))?;
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
    }
    if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
        let mut pem = std::fs::read(cert)
            .with_context(|| format!("cannot read the client certificate {}", cert.display()))?;
        pem.extend(
            std::fs::read(key)
                .with_context(|| format!("cannot read the client key {}", key.display()))?,
        );
        builder = builder.identity(
            reqwest::Identity::from_pem(&pem)
                .context("the client certificate or key is not valid PEM")?,
        );
    }
    Ok(builder.build()?)
}

/// An authenticated HTTPS client for the API.
pub(super) struct Client {
    http: reqwest::Client,
    pub(super) url: String,
    /// A bearer token (API key or session token); `None` when a machine key, a client
    /// certificate (or nothing, for login) authenticates.
    api_key: Option<SecretString>,
    /// A machine identity that signs every request.
    signer: Option<machines::Signer>,
}

impl Client {
    /// A client that needs a credential: a bearer token or a client certificate.
    pub(super) fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let client = Self::anonymous(args)?;
        if client.api_key.is_none() && client.signer.is_none() && args.client_cert.is_none() {
            bail!(
                "set COFFER_API_KEY to an API key or session token, or COFFER_MACHINE_IDENTITY to a machine identity, or give --client-cert"
            );
        }
        Ok(client)
    }

    /// A client for routes without a credential (login, password reset); uses one if set.
    pub(super) fn anonymous(args: &ClientArgs) -> anyhow::Result<Self> {
        let identity = args
            .machine_identity
            .as_deref()
            .map(machines::Identity::load)
            .transpose()?;
        let endpoint = Endpoint::resolve(args, identity.as_ref())?;
        Ok(Self {
            http: http_client(args, endpoint.ca.as_ref())?,
            url: endpoint.url.trim_end_matches('/').to_owned(),
            signer: identity
                .filter(|_| !endpoint.explicit_key)
                .map(machines::Identity::into_signer)
                .transpose()?,
            api_key: endpoint.api_key.map(SecretString::from),
        })
    }

    /// Sends one request; a reply that is not a success is an error with the API's code
    /// and message.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        use secrecy::ExposeSecret;
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let body = body.map(|b| serde_json::to_vec(&b)).transpose()?;
        if let Some(signer) = &self.signer {
            for (name, value) in signer.headers(method.as_str(), path, body.as_deref()) {
                request = request.header(name, value);
            }
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
        let status = response.status();
        let text = response.text().await?;
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let message = value["error"]["message"]
                .as_str()
                .unwrap_or("request failed");
            let code = value["error"]["code"].as_str().unwrap_or("");
            bail!("{} {code}: {message}", status.as_u16());
        }
        Ok(value)
    }

    /// Opens a long-lived `GET` (a server-sent-events stream), resuming after
    /// `last_event_id`; a reply that is not a success is an error, as for [`Client::call`].
    pub(super) async fn open_stream(
        &self,
        path: &str,
        last_event_id: Option<i64>,
    ) -> anyhow::Result<reqwest::Response> {
        use secrecy::ExposeSecret;
        let mut request = self.http.get(format!("{}{path}", self.url));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        if let Some(signer) = &self.signer {
            for (name, value) in signer.headers("GET", path, None) {
                request = request.header(name, value);
            }
        }
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.url))?;
        let status = response.status();
        if !status.is_success() {
            let value: Value = response.json().await.unwrap_or(Value::Null);
            let message = value["error"]["message"]
                .as_str()
                .unwrap_or("request failed");
            let code = value["error"]["code"].as_str().unwrap_or("");
            bail!("{} {code}: {message}", status.as_u16());
        }
        Ok(response)
    }

    /// `GET`s `path` and prints the JSON reply: every list and show command.
    pub(super) async fn show(&self, path: &str) -> anyhow::Result<()> {
        print(&self.get(path).await?)
    }

    /// Sends `body` to `path` with `method` and prints the JSON reply: every command that
    /// creates or changes something and has nothing else to do.
    pub(super) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<()> {
        let reply = self.call(method, path, Some(body)).await?;
        super::approvals::say_if_pending(&reply);
        print(&reply)
    }

    pub(super) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub(super) async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// A `PUT` without a body (a grant, a membership).
    pub(super) async fn put(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PUT, path, None).await
    }

    pub(super) async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}

/// `path` with `query` appended, each value percent-encoded (nothing appended when empty).
pub(crate) fn with_query(path: &str, query: &[(&str, String)]) -> String {
    let pairs: Vec<String> = query
        .iter()
        .map(|(name, value)| format!("{name}={}", percent_encode(value)))
        .collect();
    if pairs.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_percent_encoded() {
        let query = [
            ("object", "key/a b&c".to_owned()),
            ("limit", "5".to_owned()),
        ];
        assert_eq!(
            super::with_query("/v1/activity", &query),
            "/v1/activity?object=key%2Fa%20b%26c&limit=5"
        );
        assert_eq!(super::with_query("/v1/objects", &[]), "/v1/objects");
    }
}
