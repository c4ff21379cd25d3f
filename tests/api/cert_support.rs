//! The vocabulary of the cross-account certificate tests: two tenants with an app each, who
//! a certificate authenticates as, proofs of possession, and bindings and trusted CAs with or
//! without them. Shared by `cert_isolation` and `cert_proofs`.

use crate::support::{ClientCert, Reply, TestCa, TestServer, b64};
use coffer::crypto::possession::KeyHolder;
use coffer::crypto::x509::parse_certificates;
use reqwest::Method;
use serde_json::{Value, json};

/// An account seen from its owner: its id, owner key, and one app in a group holding one
/// keyring. The keyrings a certificate sees tell which app it authenticated as.
pub struct Tenant {
    pub id: String,
    pub key: String,
    pub app: String,
    pub ring: String,
}

pub async fn tenant(s: &TestServer, key: String, label: &str) -> anyhow::Result<Tenant> {
    let accounts = s.get("/v1/accounts", &key).await?;
    let id = accounts.body[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let group = s
        .post(
            "/v1/groups",
            &key,
            json!({"name": format!("{label}-group")}),
        )
        .await?;
    anyhow::ensure!(group.status == 201, "group: {}", group.body);
    let ring = format!("{label}-ring");
    let keyring = s
        .post(
            "/v1/keyrings",
            &key,
            json!({"name": ring, "group": group.str("id")}),
        )
        .await?;
    anyhow::ensure!(keyring.status == 201, "keyring: {}", keyring.body);
    let app = s
        .post(
            "/v1/apps",
            &key,
            json!({"name": format!("{label}-app"), "groups": [group.str("id")]}),
        )
        .await?;
    anyhow::ensure!(app.status == 201, "app: {}", app.body);
    Ok(Tenant {
        id,
        key,
        app: app.str("id"),
        ring,
    })
}

/// Account A (the bootstrap account) and account B, each with an app.
pub async fn two_tenants(s: &TestServer) -> anyhow::Result<(Tenant, Tenant)> {
    let a = tenant(s, s.owner_key.clone(), "a").await?;
    let other = s.service().bootstrap("b", "owner-b@example.test").await?;
    let b = tenant(s, other.api_key.reveal().to_owned(), "b").await?;
    anyhow::ensure!(a.id != b.id && !b.id.is_empty(), "two accounts");
    Ok((a, b))
}

/// Who `cert` authenticates as: the keyring its app sees, or `None` for a 401.
pub async fn seen_as(s: &TestServer, cert: &ClientCert) -> anyhow::Result<Option<String>> {
    let client = s.client_presenting(cert)?;
    let reply = s
        .call_as(&client, Method::GET, "/v1/keyrings", None)
        .await?;
    match reply.status {
        401 => Ok(None),
        200 => {
            let names = reply.column("name");
            anyhow::ensure!(names.len() == 1, "one keyring per app: {}", reply.body);
            Ok(Some(names[0].to_owned()))
        }
        other => anyhow::bail!("unexpected {other}: {}", reply.body),
    }
}

pub fn fingerprint_of(pem: &str) -> anyhow::Result<String> {
    Ok(parse_certificates(pem.as_bytes())
        .map_err(|e| anyhow::anyhow!(e))?
        .remove(0)
        .fingerprint)
}

/// A proof of possession of `key_pem` (the key of `cert_pem`) for `account`, base64.
pub fn prove(cert_pem: &str, key_pem: &str, account: &str) -> anyhow::Result<String> {
    let cert = parse_certificates(cert_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!(e))?
        .remove(0);
    let holder = KeyHolder::new(&cert, key_pem).map_err(|e| anyhow::anyhow!(e))?;
    Ok(b64(&holder
        .prove(account)
        .map_err(|e| anyhow::anyhow!(e))?))
}

pub async fn bind(s: &TestServer, tenant: &Tenant, body: Value) -> anyhow::Result<Reply> {
    s.post(
        &format!("/v1/apps/{}/certificates", tenant.app),
        &tenant.key,
        body,
    )
    .await
}

pub async fn trust(s: &TestServer, tenant: &Tenant, body: Value) -> anyhow::Result<Reply> {
    s.post("/v1/trusted-cas", &tenant.key, body).await
}

/// (status, proven) of a binding or trusted CA reply.
pub fn outcome(reply: &Reply) -> (u16, Value) {
    (reply.status, reply.body["proven"].clone())
}

/// A pin of `cert` with `proof`.
pub fn pin(cert: &ClientCert, proof: &str) -> Value {
    json!({"certificate": cert.cert_pem, "proof": proof})
}

/// A pin of `cert` with its key holder's proof for `account`.
pub fn proven_pin(cert: &ClientCert, account: &str) -> anyhow::Result<Value> {
    Ok(pin(cert, &prove(&cert.cert_pem, &cert.key_pem, account)?))
}

/// A rule matching certificates under the trusted CA `trusted` whose `field` is `value`.
pub fn ca_rule(trusted: &Reply, field: &str, value: &str) -> Value {
    json!({"ca": trusted.str("id"), field: value})
}

/// A trusted CA named `name` with `proof`.
pub fn ca_with(name: &str, ca: &TestCa, proof: &str) -> Value {
    json!({"name": name, "certificate": ca.pem, "proof": proof})
}

/// A trusted CA named `name` with the CA key holder's proof for `account`.
pub fn proven_ca(name: &str, ca: &TestCa, account: &str) -> anyhow::Result<Value> {
    Ok(ca_with(name, ca, &prove(&ca.pem, &ca.key_pem, account)?))
}

/// Fails the test unless `reply` created a binding or trusted CA whose `proven` is `proven`.
#[track_caller]
pub fn assert_created(reply: &Reply, proven: bool) {
    assert_eq!(outcome(reply), (201, json!(proven)), "{}", reply.body);
}

pub fn message(reply: &Reply) -> String {
    reply.message().to_owned()
}

/// The proven flags of an app's bindings, in order.
pub async fn proven_flags(s: &TestServer, tenant: &Tenant) -> anyhow::Result<Vec<Value>> {
    let creds = s
        .get(&format!("/v1/apps/{}/credentials", tenant.app), &tenant.key)
        .await?;
    Ok(creds.body["certificates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["proven"].clone())
        .collect())
}
