//! What the agent tests need of PostgreSQL and of Coffer: roles and a database of their own
//! on the run's cluster (`COFFER_TEST_POSTGRES`), a managed secret with a machine that may
//! apply it and an app that may read it, and the `coffer agent postgres` process itself.
//!
//! The run's cluster trusts every connection (`initdb --auth=trust`), which would make any
//! password log in. The roles made here belong to `coffer_agent_scram`, for which a line
//! at the top of `pg_hba.conf` asks for a SCRAM password, so the tests see real logins.

use crate::support::TestServer;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};
use std::path::PathBuf;
use std::time::Duration;

/// The group role whose members log in with a password on the test cluster.
const SCRAM_GROUP: &str = "coffer_agent_scram";
/// The name of the managed secret in every test.
pub const SECRET: &str = "db";

/// The admin URL of the run's cluster; a clear failure without one.
pub fn admin_url() -> anyhow::Result<String> {
    std::env::var("COFFER_TEST_POSTGRES").map_err(|_| {
        anyhow::anyhow!(
            "needs a PostgreSQL cluster: set COFFER_TEST_POSTGRES to its admin URL (scripts/test.sh starts one)"
        )
    })
}

/// A database and roles of one test on the cluster.
pub struct Target {
    pub admin_url: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    /// The managed roles (`<prefix>_a`, `<prefix>_b`).
    pub roles: [String; 2],
    /// A role that may log in but not change other roles' passwords.
    pub weak_admin: String,
}

impl Target {
    /// Makes the database (with a table `t` both roles read), the roles, and password
    /// logins for them.
    pub async fn create() -> anyhow::Result<Self> {
        let admin_url = admin_url()?;
        let options: PgConnectOptions = admin_url.parse()?;
        let prefix = format!(
            "agt_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .subsec_nanos()
        );
        let target = Self {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            database: format!("{prefix}_db"),
            roles: [format!("{prefix}_a"), format!("{prefix}_b")],
            weak_admin: format!("{prefix}_weak"),
            admin_url,
        };
        let mut admin = PgConnection::connect_with(&options).await?;
        require_passwords(&mut admin).await?;
        // Names made above from digits, letters and underscores: nothing from outside.
        let [a, b] = &target.roles;
        for statement in [
            format!("CREATE ROLE {a} LOGIN IN ROLE {SCRAM_GROUP}"),
            format!("CREATE ROLE {b} LOGIN IN ROLE {SCRAM_GROUP}"),
            format!("CREATE ROLE {} LOGIN", target.weak_admin),
            format!("CREATE DATABASE {}", target.database),
        ] {
            admin.execute(AssertSqlSafe(statement)).await?;
        }
        let mut db =
            PgConnection::connect_with(&options.clone().database(&target.database)).await?;
        for statement in [
            "CREATE TABLE t (n INT)".to_owned(),
            "INSERT INTO t VALUES (42)".to_owned(),
            format!("GRANT SELECT ON t TO {a}, {b}"),
        ] {
            db.execute(AssertSqlSafe(statement)).await?;
        }
        target.wait_for_password_logins().await?;
        Ok(target)
    }

    /// The admin URL with `role` as the user (no password: the cluster trusts it).
    pub fn dsn_as(&self, role: &str) -> String {
        format!("postgres://{role}@{}:{}/postgres", self.host, self.port)
    }

    /// The `managed` part of a create request for `mode`.
    pub fn managed(&self, mode: &str) -> Value {
        let usernames: Vec<&String> = match mode {
            "single" => vec![&self.roles[0]],
            _ => self.roles.iter().collect(),
        };
        json!({
            "mode": mode,
            "usernames": usernames,
            "host": self.host,
            "port": self.port,
            "database": self.database,
        })
    }

    /// pg_hba changes apply once the postmaster has reloaded: until a wrong password is
    /// refused, a test would prove nothing.
    async fn wait_for_password_logins(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let probe = Credential {
            username: self.roles[0].clone(),
            password: "not-the-password".into(),
            host: self.host.clone(),
            port: self.port,
            database: self.database.clone(),
        };
        while probe.query().await.is_ok() {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the cluster still lets {} in without its password",
                self.roles[0]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

/// Puts the `coffer_agent_scram` line at the top of the cluster's `pg_hba.conf` once per
/// cluster (under an advisory lock: tests run in parallel processes) and reloads.
async fn require_passwords(admin: &mut PgConnection) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_advisory_lock(7314)")
        .execute(&mut *admin)
        .await?;
    let result = add_hba_line(admin).await;
    sqlx::query("SELECT pg_advisory_unlock(7314)")
        .execute(&mut *admin)
        .await?;
    result
}

async fn add_hba_line(admin: &mut PgConnection) -> anyhow::Result<()> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(SCRAM_GROUP)
            .fetch_one(&mut *admin)
            .await?;
    if !exists {
        admin
            .execute(AssertSqlSafe(format!("CREATE ROLE {SCRAM_GROUP} NOLOGIN")))
            .await?;
    }
    let hba: String = sqlx::query_scalar("SELECT current_setting('hba_file')")
        .fetch_one(&mut *admin)
        .await?;
    let text = std::fs::read_to_string(&hba)?;
    let line = format!("host all +{SCRAM_GROUP} 127.0.0.1/32 scram-sha-256");
    if !text.contains(&line) {
        std::fs::write(&hba, format!("{line}\n{text}"))?;
        sqlx::query("SELECT pg_reload_conf()")
            .execute(&mut *admin)
            .await?;
    }
    Ok(())
}

/// A credential as the value endpoint gives it.
#[derive(Clone, Debug)]
pub struct Credential {
    pub username: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub database: String,
}

impl Credential {
    pub fn from_fields(fields: &Value) -> anyhow::Result<Self> {
        let text = |name: &str| {
            fields[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("no field {name} in {}", fields_names(fields)))
        };
        Ok(Self {
            username: text("username")?,
            password: text("password")?,
            host: text("host")?,
            port: text("port")?.parse()?,
            database: text("database")?,
        })
    }

    /// Logs in with this credential and reads the table.
    pub async fn query(&self) -> anyhow::Result<i32> {
        let options = PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .database(&self.database)
            .username(&self.username)
            .password(&self.password)
            .disable_statement_logging();
        let mut connection = options.connect().await?;
        let n: i32 = sqlx::query_scalar("SELECT n FROM t")
            .fetch_one(&mut connection)
            .await?;
        connection.close().await?;
        Ok(n)
    }
}

fn fields_names(fields: &Value) -> String {
    fields
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// A test server with a managed secret, the agent's machine identity and a reader app.
pub struct Setup {
    pub s: TestServer,
    pub target: Target,
    pub identity: PathBuf,
    pub reader_key: String,
}

impl Setup {
    /// Everything the agent tests share, for a managed secret in `mode`.
    pub async fn new(mode: &str) -> anyhow::Result<Self> {
        let target = Target::create().await?;
        let s = TestServer::start().await?;
        let group = s.group("databases").await?;
        let created = s
            .post(
                "/v1/secrets",
                &s.owner_key,
                json!({
                    "name": SECRET, "group": group, "kind": "managed",
                    "managed": target.managed(mode),
                    "rotation": {"interval_seconds": 86400, "length": 32,
                                 "charset": "alphanumeric", "fields": ["password"]},
                }),
            )
            .await?;
        anyhow::ensure!(
            created.status == 201,
            "create: {} {}",
            created.status,
            created.body
        );
        let flags = json!({"secret.db.apply": true, "secret.db.read": true});
        let machine = s.approved_machine(&[&group], flags).await?;
        grant(&s, &machine.id).await?;
        let (reader, reader_key) = s
            .app_with_key("reader", &[&group], json!({"secret.db.read": true}))
            .await?;
        grant(&s, &reader).await?;
        let identity =
            crate::machine_support::write_identity(&s, &machine, "agent-identity").await?;
        Ok(Self {
            s,
            target,
            identity,
            reader_key,
        })
    }

    /// The secret's metadata, as its owner sees it.
    pub async fn secret(&self) -> anyhow::Result<Value> {
        let reply = self
            .s
            .get(&format!("/v1/secrets/{SECRET}"), &self.s.owner_key)
            .await?;
        anyhow::ensure!(
            reply.status == 200,
            "secret: {} {}",
            reply.status,
            reply.body
        );
        Ok(reply.body)
    }

    /// The secret's current version number.
    pub async fn current_version(&self) -> anyhow::Result<u64> {
        Ok(self.secret().await?["current_version"]
            .as_u64()
            .unwrap_or(0))
    }

    /// Waits until `version` is current.
    pub async fn wait_current(&self, version: u64) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let secret = self.secret().await?;
            if secret["current_version"].as_u64() == Some(version) {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "version {version} was not applied within 60 s: {secret}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Rotates now, as the owner.
    pub async fn rotate(&self) -> anyhow::Result<()> {
        let reply = self
            .s
            .post(
                &format!("/v1/secrets/{SECRET}/rotate"),
                &self.s.owner_key,
                json!({}),
            )
            .await?;
        anyhow::ensure!(
            reply.status == 200,
            "rotate: {} {}",
            reply.status,
            reply.body
        );
        Ok(())
    }

    /// The reader's view of the value: (status, version, credential if any).
    pub async fn read_value(&self) -> anyhow::Result<(u16, u64, Option<Credential>)> {
        let reply = self
            .s
            .get(&format!("/v1/secrets/{SECRET}/value"), &self.reader_key)
            .await?;
        if reply.status != 200 {
            return Ok((reply.status, 0, None));
        }
        let version = reply.body["version"].as_u64().unwrap_or(0);
        Ok((
            200,
            version,
            Some(Credential::from_fields(&reply.body["fields"])?),
        ))
    }

    /// The current credential, which must be readable.
    pub async fn current_credential(&self) -> anyhow::Result<(u64, Credential)> {
        match self.read_value().await? {
            (200, version, Some(credential)) => Ok((version, credential)),
            (status, ..) => anyhow::bail!("the value is not readable: {status}"),
        }
    }

    /// The `coffer agent postgres` command for this setup, with `dsn` and `extra` flags.
    pub fn agent_command(&self, dsn: &str, extra: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
        command
            .args(["agent", "postgres", "--secret", SECRET, "--retry-max", "2s"])
            .args(extra)
            .env("COFFER_AGENT_DSN", dsn)
            .env("COFFER_URL", &self.s.url)
            .env("COFFER_CA_CERT", self.s.ca_cert())
            .env(
                "COFFER_BOOTSTRAP",
                self.s.dir.path().join("no-bootstrap.json"),
            )
            .env("COFFER_MACHINE_IDENTITY", &self.identity)
            .env("COFFER_API_KEY", "")
            .kill_on_drop(true);
        command
    }

    /// Runs the agent with `--once`: (success, stderr).
    pub async fn agent_once(&self, dsn: &str) -> anyhow::Result<(bool, String)> {
        let run = self.agent_command(dsn, &["--once"]).output();
        let out = tokio::time::timeout(Duration::from_secs(90), run).await??;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Starts the agent in the background with the cluster's admin DSN; its log goes to
    /// `agent-<n>.log` in the server's directory.
    pub fn spawn_agent(&self, n: u32) -> anyhow::Result<tokio::process::Child> {
        let log = std::fs::File::create(self.s.dir.path().join(format!("agent-{n}.log")))?;
        Ok(self
            .agent_command(&self.target.admin_url, &[])
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()?)
    }

    /// What the background agent `n` logged.
    pub fn agent_log(&self, n: u32) -> String {
        std::fs::read_to_string(self.s.dir.path().join(format!("agent-{n}.log")))
            .unwrap_or_default()
    }
}

async fn grant(s: &TestServer, app: &str) -> anyhow::Result<()> {
    let path = format!("/v1/secrets/{SECRET}/grants/{app}");
    let reply = s.call(Method::PUT, &path, Some(&s.owner_key), None).await?;
    anyhow::ensure!(
        reply.status == 204,
        "grant: {} {}",
        reply.status,
        reply.body
    );
    Ok(())
}
