//! `coffer agent postgres`: the agent that sits next to a PostgreSQL server and applies a
//! managed secret's new versions to its roles.
//!
//! Coffer generates each new credential but cannot reach the database; the agent can. It
//! long-polls the secret's pending version, sets the role's password with the admin DSN,
//! checks that the new password logs in, and only then confirms the version, which makes it
//! the one readers get. Every step is idempotent (setting the same password twice changes
//! nothing), so an agent killed at any point simply applies the same version again when it
//! restarts, and the credential readers hold stays current until a confirmation.
//!
//! Custody: the password travels to PostgreSQL as a SCRAM-SHA-256 verifier computed here
//! (as `psql`'s `\password` does), so the plaintext is never in a statement the server
//! might log; it is never logged here, and it is scrubbed from any failure reason reported.

use super::client::Client;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use std::time::Duration;
use zeroize::Zeroizing;

/// How long one pending poll asks the server to hold the request (the server's limit is 30 s).
const PENDING_WAIT_SECONDS: u32 = 25;
/// First retry after a failure; doubled after each further failure up to `--retry-max`.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest the agent waits for a PostgreSQL connection before calling the attempt failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// PBKDF2 iterations of the SCRAM verifier: PostgreSQL's default (`scram_iterations`).
const SCRAM_ITERATIONS: u32 = 4096;

#[derive(Subcommand)]
pub enum AgentCommand {
    /// Apply a managed secret's new versions to PostgreSQL roles (ALTER ROLE … PASSWORD),
    /// check that they log in and confirm them. The admin role needs CREATEROLE.
    Postgres(PostgresArgs),
}

#[derive(Args)]
pub struct PostgresArgs {
    /// The managed secret whose versions this agent applies.
    #[arg(long)]
    secret: String,
    /// Admin connection URL (postgres://admin:…@host:5432/postgres) of a role with
    /// CREATEROLE. Prefer COFFER_AGENT_DSN: flag values show in `ps`.
    #[arg(long, env = "COFFER_AGENT_DSN", hide_env_values = true)]
    dsn: String,
    /// Longest wait between retries after a failure; the wait starts at 1s and doubles.
    /// Seconds, or a number with s, m or h.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    retry_max: Duration,
    /// Apply at most one pending version, then exit (with an error if applying failed).
    #[arg(long)]
    once: bool,
}

/// Runs an agent until it is stopped (SIGTERM or ctrl-c), or after one version with `--once`.
pub async fn agent(client: &Client, command: AgentCommand) -> anyhow::Result<()> {
    let AgentCommand::Postgres(args) = command;
    let agent = PostgresAgent::new(client, args)?;
    tokio::select! {
        result = agent.run() => result,
        signal = shutdown_signal() => {
            let signal = signal?;
            // Whatever was under way is repeated by the next start: nothing to undo.
            tracing::info!(signal, secret = %agent.secret, "agent stopping");
            Ok(())
        }
    }
}

/// Resolves on SIGTERM (systemd's stop) or SIGINT (ctrl-c) with the signal's name.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok("SIGINT"),
        _ = terminate.recv() => Ok("SIGTERM"),
    }
}

/// `90`, `90s`, `5m` or `1h`, at least one second.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => {
            return Err(format!(
                "{text:?}: write seconds, or a number with s, m or h"
            ));
        }
    };
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|s| *s >= 1)
        .ok_or_else(|| format!("{text:?}: write a whole number of at least 1 second"))?;
    Ok(Duration::from_secs(seconds))
}

/// Waits between failed attempts: 1 s, doubling up to a ceiling; reset by a success.
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(max: Duration) -> Self {
        Self {
            next: FIRST_RETRY.min(max),
            max,
        }
    }

    fn wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    fn reset(&mut self) {
        self.next = FIRST_RETRY.min(self.max);
    }
}

/// The credential of a pending version, as the agent needs it.
#[derive(Deserialize)]
struct Credential {
    username: String,
    password: SecretString,
    host: String,
    #[serde(deserialize_with = "port_text")]
    port: u16,
    database: String,
}

/// The server sends every field as text; the port must be a port number.
fn port_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|_| serde::de::Error::custom(format!("port {text:?} is not a port number")))
}

#[derive(Deserialize)]
struct Pending {
    version: u32,
    fields: Credential,
}

/// What one turn of the loop did.
enum Turn {
    /// Nothing was pending by the end of the long poll.
    Idle,
    Applied,
}

struct PostgresAgent<'a> {
    client: &'a Client,
    secret: String,
    admin: PgConnectOptions,
    retry_max: Duration,
    once: bool,
}

impl<'a> PostgresAgent<'a> {
    fn new(client: &'a Client, args: PostgresArgs) -> anyhow::Result<Self> {
        if !crate::authz::is_valid_name(&args.secret) {
            bail!("--secret must be 1-64 chars of [A-Za-z0-9_-]");
        }
        // The parser's message may quote the URL, and with it the admin's password.
        let admin: PgConnectOptions = args
            .dsn
            .parse()
            .map_err(|_| anyhow::anyhow!("--dsn is not a valid postgres:// URL"))?;
        Ok(Self {
            client,
            secret: args.secret,
            admin: quiet(admin),
            retry_max: args.retry_max,
            once: args.once,
        })
    }

    /// Polls and applies until stopped; with `--once`, returns after one poll.
    async fn run(&self) -> anyhow::Result<()> {
        let mut backoff = Backoff::new(self.retry_max);
        tracing::info!(secret = %self.secret, "agent started: waiting for pending versions");
        loop {
            match self.turn().await {
                Ok(Turn::Applied) if self.once => return Ok(()),
                Ok(Turn::Idle) if self.once => {
                    tracing::info!(secret = %self.secret, "nothing pending");
                    return Ok(());
                }
                Ok(_) => backoff.reset(),
                Err(e) if self.once => return Err(e),
                Err(e) => {
                    let wait = backoff.wait();
                    tracing::warn!(secret = %self.secret, error = %format!("{e:#}"), retry_in_seconds = wait.as_secs(), "attempt failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One long poll, and the version it brings applied, checked and confirmed.
    async fn turn(&self) -> anyhow::Result<Turn> {
        let path = format!(
            "/v1/secrets/{}/pending?wait={PENDING_WAIT_SECONDS}",
            self.secret
        );
        let reply = self
            .client
            .get(&path)
            .await
            .context("cannot ask for a pending version")?;
        if reply.is_null() {
            return Ok(Turn::Idle);
        }
        let pending: Pending = serde_json::from_value(reply)
            .context("the pending version is not a PostgreSQL credential (username, password, host, port, database)")?;
        let (version, role) = (pending.version, pending.fields.username.as_str());
        tracing::info!(secret = %self.secret, version, role, "version pending: applying");
        if let Err(e) = self.apply(&pending.fields).await {
            let reason = scrub(&format!("{e:#}"), &pending.fields.password);
            self.report_failure(version, &reason).await;
            bail!("version {version}: {reason}");
        }
        let applied = format!("/v1/secrets/{}/versions/{version}/applied", self.secret);
        self.client
            .post(&applied, json!({}))
            .await
            .with_context(|| format!("version {version} is applied but cannot be confirmed"))?;
        tracing::info!(secret = %self.secret, version, role, "version applied and confirmed: it is current");
        Ok(Turn::Applied)
    }

    /// Sets the role's password, then proves the new password logs in.
    async fn apply(&self, credential: &Credential) -> anyhow::Result<()> {
        let statement =
            alter_role_statement(&credential.username, credential.password.expose_secret())?;
        let mut admin = connect(self.admin.clone())
            .await
            .context("cannot connect with the admin DSN")?;
        sqlx::raw_sql("SET standard_conforming_strings = on")
            .execute(&mut admin)
            .await
            .context("cannot prepare the admin session")?;
        sqlx::raw_sql(AssertSqlSafe(statement.as_str()))
            .execute(&mut admin)
            .await
            .with_context(|| {
                format!(
                    "cannot set the password of role {} (the admin role needs CREATEROLE)",
                    credential.username
                )
            })?;
        let _ = admin.close().await;
        tracing::info!(secret = %self.secret, role = %credential.username, "password set: checking that it logs in");
        self.check_login(credential).await
    }

    /// Opens a connection as the role with its new password where readers connect, and
    /// runs `SELECT 1`.
    async fn check_login(&self, c: &Credential) -> anyhow::Result<()> {
        let options = PgConnectOptions::new()
            .host(&c.host)
            .port(c.port)
            .database(&c.database)
            .username(&c.username)
            .password(c.password.expose_secret());
        let target = format!("{}@{}:{}/{}", c.username, c.host, c.port, c.database);
        let mut connection = connect(quiet(options))
            .await
            .with_context(|| format!("the new password does not log in as {target}"))?;
        sqlx::raw_sql("SELECT 1")
            .execute(&mut connection)
            .await
            .with_context(|| format!("SELECT 1 as {target} failed"))?;
        let _ = connection.close().await;
        tracing::info!(secret = %self.secret, target, "the new password logs in");
        Ok(())
    }

    /// Tells Coffer (and so the audit trail) that applying `version` failed; a failure to
    /// tell is logged only, as the retry will try again.
    async fn report_failure(&self, version: u32, reason: &str) {
        let path = format!("/v1/secrets/{}/versions/{version}/failed", self.secret);
        match self.client.post(&path, json!({"reason": reason})).await {
            Ok(_) => tracing::info!(secret = %self.secret, version, "failure reported"),
            Err(e) => {
                tracing::warn!(secret = %self.secret, version, error = %format!("{e:#}"), "cannot report the failure")
            }
        }
    }
}

/// `options` with sqlx's statement logging off: the ALTER ROLE statement carries the
/// password's verifier, which must not reach a log, even as a slow statement.
fn quiet(options: PgConnectOptions) -> PgConnectOptions {
    options.disable_statement_logging()
}

async fn connect(options: PgConnectOptions) -> anyhow::Result<PgConnection> {
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(connection) => Ok(connection?),
        Err(_) => bail!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
    }
}

/// `reason` with every occurrence of the password replaced, in case a driver or server
/// message ever quotes it.
fn scrub(reason: &str, password: &SecretString) -> String {
    let password = password.expose_secret();
    if password.is_empty() {
        return reason.to_owned();
    }
    reason.replace(password, "[password]")
}

/// `ALTER ROLE "role" WITH LOGIN PASSWORD '…'`: the role as a quoted identifier, the
/// password as a SCRAM-SHA-256 verifier when it is printable ASCII (what SASLprep leaves
/// as is), else as the plaintext literal for the server to hash.
fn alter_role_statement(role: &str, password: &str) -> anyhow::Result<Zeroizing<String>> {
    if password.is_empty() {
        bail!("the pending version has an empty password");
    }
    let secret = match scram_verifier(password) {
        Some(verifier) => verifier,
        None => Zeroizing::new(password.to_owned()),
    };
    Ok(Zeroizing::new(format!(
        "ALTER ROLE {} WITH LOGIN PASSWORD {}",
        quote_identifier(role)?,
        *quote_literal(&secret)?
    )))
}

/// A PostgreSQL quoted identifier: double quotes around, inner double quotes doubled.
fn quote_identifier(name: &str) -> anyhow::Result<String> {
    if name.is_empty() || name.contains('\0') {
        bail!("a role name must be non-empty and without NUL");
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// A standard string literal (no `E` prefix: backslashes are plain characters once
/// `standard_conforming_strings` is on): single quotes around, inner ones doubled.
fn quote_literal(text: &str) -> anyhow::Result<Zeroizing<String>> {
    if text.contains('\0') {
        bail!("a password must not contain NUL");
    }
    Ok(Zeroizing::new(format!("'{}'", text.replace('\'', "''"))))
}

/// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, RFC 7677):
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. `None` unless the password
/// is printable ASCII, which SASLprep leaves unchanged, so the client's proof matches.
fn scram_verifier(password: &str) -> Option<Zeroizing<String>> {
    use base64::{Engine, engine::general_purpose::STANDARD as B64};
    use ring::{digest, hmac, pbkdf2};
    if !password.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    let salt = crate::crypto::random_bytes(16);
    let mut salted = Zeroizing::new([0u8; 32]);
    let iterations = std::num::NonZeroU32::new(SCRAM_ITERATIONS).expect("non-zero");
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        &mut *salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &*salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    Some(Zeroizing::new(format!(
        "SCRAM-SHA-256${SCRAM_ITERATIONS}:{}${}:{}",
        B64.encode(&salt),
        B64.encode(stored_key.as_ref()),
        B64.encode(server_key.as_ref())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_identifier("app_a").unwrap(), "\"app_a\"");
        assert_eq!(quote_identifier("a\"b").unwrap(), "\"a\"\"b\"");
        assert_eq!(*quote_literal("it's").unwrap(), "'it''s'");
        // A backslash stays a plain character: no E'' string, no escape.
        assert_eq!(*quote_literal("a\\'b").unwrap(), "'a\\''b'");
        assert!(quote_identifier("a\0b").is_err());
        assert!(quote_literal("a\0b").is_err());
        assert!(quote_identifier("").is_err());
    }

    #[test]
    fn the_statement_carries_a_verifier_not_the_password() {
        let statement = alter_role_statement("app", "Sup3rSecretValue").unwrap();
        assert!(!statement.contains("Sup3rSecretValue"), "{}", *statement);
        assert!(
            statement.starts_with("ALTER ROLE \"app\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:"),
            "{}",
            *statement
        );
        // Non-ASCII goes to the server as a literal, for its SASLprep.
        let statement = alter_role_statement("app", "pässwörd'x").unwrap();
        assert!(statement.ends_with("PASSWORD 'pässwörd''x'"));
        assert!(alter_role_statement("app", "").is_err());
        assert!(alter_role_statement("app", "a\u{0}b\u{e9}").is_err());
    }

    #[test]
    fn verifiers_are_salted_and_well_formed() {
        let a = scram_verifier("password").unwrap();
        let b = scram_verifier("password").unwrap();
        assert_ne!(*a, *b, "a fresh salt each time");
        let (head, keys) = a.split_once('$').unwrap().1.split_once('$').unwrap();
        assert!(head.starts_with("4096:"));
        assert_eq!(keys.split(':').count(), 2);
    }

    #[test]
    fn failure_reasons_never_carry_the_password() {
        let password = SecretString::from("hunter2hunter2");
        let reason = scrub("role x: bad hunter2hunter2 here", &password);
        assert_eq!(reason, "role x: bad [password] here");
    }

    #[test]
    fn durations_and_backoff() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1d").is_err());
        let mut backoff = Backoff::new(Duration::from_secs(5));
        let waits: Vec<u64> = (0..5).map(|_| backoff.wait().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        backoff.reset();
        assert_eq!(backoff.wait(), Duration::from_secs(1));
    }
}
