//! `coffer mcp serve` driven by a real MCP client: the `mcp` SDK from PyPI
//! (`tests/mcp/client.py`, in the client venv `scripts/test.sh` makes) starts the real binary
//! over stdio, as an AI coding client does, with an identity the real `coffer mcp install`
//! wrote. The test checks the tools listed, their effects through the API, that no output
//! carries a stored value, and the calls' audit events.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Runs the SDK client over `plan` against `coffer mcp serve --identity identity`, bounded
/// in time; returns the client's report and its raw output.
async fn run_client(identity: &Path, plan: &Value) -> anyhow::Result<(Value, String)> {
    use tokio::io::AsyncWriteExt;
    let python = client_python();
    anyhow::ensure!(
        python.exists(),
        "no client venv at {}: run scripts/test.sh, which makes it (python3-venv, pip install mcp)",
        python.display()
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_coffer"))
        .arg(identity)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(plan.to_string().as_bytes()).await?;
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output()).await??;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "the MCP client failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((serde_json::from_str(&stdout)?, stdout))
}

/// An agent with `scopes` on every group, installed with the real `coffer mcp install`:
/// returns the identity file's path and the agent's id.
async fn installed_agent(s: &TestServer, scopes: &[&str]) -> anyhow::Result<(PathBuf, String)> {
    let issued = s
        .post(
            "/v1/ai/bootstrap-tokens",
            &s.owner_key,
            json!({"name": "mcp-agent", "scopes": scopes, "groups": []}),
        )
        .await?;
    anyhow::ensure!(issued.status == 201, "token: {}", issued.body);
    let path = s.dir.path().join("agent").join("ai-agent.json");
    let path_text = path.display().to_string();
    let token = issued.str("token");
    let install = [
        "mcp",
        "install",
        "--token",
        &token,
        "--identity",
        &path_text,
    ];
    let (ok, out) = run_cli(s, &[], &install, None)?;
    anyhow::ensure!(ok, "install: {out}");
    let file: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    Ok((
        path,
        file["agent_id"].as_str().unwrap_or_default().to_owned(),
    ))
}

const SCOPES: [&str; 6] = [
    "groups.read",
    "secrets.metadata.read",
    "secrets.write",
    "keyrings.manage",
    "audit.read",
    "shares.create",
];

/// The tools those scopes allow, in the server's order.
const LISTED: [&str; 11] = [
    "whoami",
    "list_groups",
    "list_secrets",
    "get_secret",
    "create_secret",
    "update_secret_value",
    "rotate_secret",
    "list_keyrings",
    "create_keyring",
    "read_activity",
    "create_share",
];

/// What the SDK client is asked to do: write values, rotate, make a keyring and a share,
/// read metadata and the trail, and call one tool outside the agent's scopes.
fn plan(group: &str) -> Value {
    let rotation = json!({"interval_seconds": 300, "fields": ["password"],
                          "charset": "alphanumeric", "length": 24});
    json!([
        {"tool": "whoami"},
        {"tool": "list_groups"},
        {"tool": "create_secret", "arguments":
            {"name": "plain", "group": group, "value": "MCP-PLAIN-ONE-41c9"}},
        {"tool": "update_secret_value", "arguments": {"name": "plain", "value": "MCP-PLAIN-TWO-8d2e"}},
        {"tool": "create_secret", "arguments": {"name": "creds", "group": group, "kind": "structured",
            "fields": {"username": "svc", "password": "MCP-FIELD-3b8d"}, "rotation": rotation}},
        {"tool": "rotate_secret", "arguments": {"name": "creds"}},
        {"tool": "get_secret", "arguments": {"name": "plain"}},
        {"tool": "list_secrets", "arguments": {"group": group}},
        {"tool": "create_keyring", "arguments": {"name": "mcp-ring", "group": group}},
        {"tool": "create_share", "arguments":
            {"group": group, "value": "MCP-SHARED-77aa", "expires_in_seconds": 600}},
        {"tool": "read_activity", "arguments": {"limit": 100}},
        {"tool": "list_machines"},
    ])
}

/// The values an app reads back after the client ran: the one the agent wrote last and the
/// one the rotation made.
async fn values_read_back(s: &TestServer, group: &str) -> anyhow::Result<(String, String)> {
    let (app, key) = s
        .app_with_key("reader", &[group], json!({"secret.*.read": true}))
        .await?;
    for name in ["plain", "creds"] {
        let grant = s
            .call(
                Method::PUT,
                &format!("/v1/secrets/{name}/grants/{app}"),
                Some(&s.owner_key),
                None,
            )
            .await?;
        anyhow::ensure!(grant.status < 300, "grant: {}", grant.body);
    }
    let plain = s.get("/v1/secrets/plain/value", &key).await?;
    let creds = s.get("/v1/secrets/creds/value", &key).await?;
    let rotated = creds.body["fields"]["password"]
        .as_str()
        .unwrap_or_default();
    Ok((plain.str("value"), rotated.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_uses_the_agents_tools_and_never_sees_a_stored_value() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("G").await?;
    let (identity, agent_id) = installed_agent(&s, &SCOPES).await?;
    let (report, raw) = run_client(&identity, &plan(&group)).await?;

    assert!(!report["protocol_version"].as_str().unwrap_or("").is_empty());
    let names: Vec<&str> = report["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, LISTED, "only the tools of the agent's scopes");
    let create = report["tools"]
        .as_array()
        .and_then(|tools| tools.iter().find(|t| t["name"] == "create_secret"))
        .expect("create_secret is listed");
    for field in ["name", "group", "value", "fields"] {
        assert!(
            create["inputSchema"]["properties"][field].is_object(),
            "create_secret's schema has {field}: {create}"
        );
    }

    let results = report["results"].as_array().expect("results");
    let (refused, done) = results.split_last().expect("results");
    for result in done {
        assert_eq!(result["isError"], false, "{result}");
    }
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(
        refused["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("HTTP 403"),
        "{refused}"
    );

    // The effects, seen through the API with other credentials.
    let (plain, rotated) = values_read_back(&s, &group).await?;
    assert_eq!(plain, "MCP-PLAIN-TWO-8d2e");
    assert_eq!(rotated.len(), 24);
    let ring = s.get("/v1/keyrings/mcp-ring", &s.owner_key).await?;
    assert_eq!(ring.status, 200, "{}", ring.body);
    let shares = s.get("/v1/shares", &s.owner_key).await?;
    assert_eq!(
        shares.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        shares.body
    );

    // No output of the client ever held a value, and the share's hand-over did.
    for value in [
        "MCP-PLAIN-ONE-41c9",
        "MCP-PLAIN-TWO-8d2e",
        "MCP-FIELD-3b8d",
        "MCP-SHARED-77aa",
        &rotated,
    ] {
        assert!(!raw.contains(value), "the MCP output holds a stored value");
    }
    assert!(
        results[9]["text"]
            .as_str()
            .unwrap_or("")
            .contains("passphrase"),
        "{}",
        results[9]
    );

    // Every call is in the trail, attributed to the agent, the refusal too.
    let events = s
        .get(
            &format!("/v1/activity?principal={agent_id}&limit=200"),
            &s.owner_key,
        )
        .await?;
    let events = events.body["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        events.iter().all(|e| e["auth_method"] == "ai_agent"),
        "{events:?}"
    );
    let refusal = events
        .iter()
        .find(|e| e["action"] == "ai.machine.list")
        .expect("the refused call is audited");
    assert_eq!(refusal["status"], 403);
    for action in ["keyring.create", "share.create"] {
        assert!(
            events.iter().any(|e| e["action"] == action),
            "{action} audited: {events:?}"
        );
    }
    Ok(())
}
