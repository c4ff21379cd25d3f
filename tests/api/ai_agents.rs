//! AI agents end to end (docs/ai-agents.md): provisioning through the real `coffer mcp
//! install`, the bootstrap token's single use and expiry, scopes and the group allowlist,
//! the separation from machines and from the management routes, the plaintext boundary over
//! every agent-facing route, and the audit trail naming the agent.

use crate::identity_support::server_with_clock;
use crate::secrets::{grant, reader_flags};
use crate::support::{
    MachineKey, RawRequest, Reply, TestResult, TestServer, run_cli, unb64, unix_now,
};
use reqwest::Method;
use serde_json::{Value, json};

const ALL_SCOPES: [&str; 9] = [
    "groups.read",
    "groups.write",
    "secrets.metadata.read",
    "secrets.write",
    "keyrings.manage",
    "machines.read",
    "audit.read",
    "alerts.write",
    "shares.create",
];

/// An agent as its host holds it: its id and its key.
struct Agent {
    key: MachineKey,
}

impl Agent {
    /// A request signed by the agent: the machine scheme, the signer named by X-Agent-Id.
    fn request(&self, method: Method, target: &str, body: Option<&Value>) -> RawRequest {
        let mut request = RawRequest::signed(&self.key, method, target, body, unix_now());
        for header in &mut request.headers {
            if header.0 == "x-machine-id" {
                header.0 = "x-agent-id";
            }
        }
        request
    }

    async fn call(
        &self,
        s: &TestServer,
        method: Method,
        target: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Reply> {
        s.send_raw(&s.client, &self.request(method, target, body.as_ref()))
            .await
    }
}

/// A bootstrap token of the owner for an agent called `name`.
async fn token(
    s: &TestServer,
    name: &str,
    scopes: &[&str],
    groups: &[&str],
) -> anyhow::Result<String> {
    let reply = s
        .post(
            "/v1/ai/bootstrap-tokens",
            &s.owner_key,
            json!({"name": name, "scopes": scopes, "groups": groups}),
        )
        .await?;
    anyhow::ensure!(
        reply.status == 201,
        "token: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply.str("token"))
}

/// Registers a fresh key with `token` over HTTP (what `coffer mcp install` does).
async fn register(s: &TestServer, token: &str) -> anyhow::Result<(Reply, Agent)> {
    let mut key = MachineKey::generate();
    let reply = s
        .call(
            Method::POST,
            "/v1/ai/agents/register",
            None,
            Some(json!({"token": token, "public_key": key.public_b64()})),
        )
        .await?;
    key.id = reply.str("id");
    Ok((reply, Agent { key }))
}

async fn agent(
    s: &TestServer,
    name: &str,
    scopes: &[&str],
    groups: &[&str],
) -> anyhow::Result<Agent> {
    let token = token(s, name, scopes, groups).await?;
    let (reply, agent) = register(s, &token).await?;
    anyhow::ensure!(
        reply.status == 201,
        "register: {} {}",
        reply.status,
        reply.body
    );
    Ok(agent)
}

/// The account's events for `principal`, newest first.
async fn events_of(s: &TestServer, principal: &str) -> anyhow::Result<Vec<Value>> {
    let reply = s
        .get(
            &format!("/v1/activity?principal={principal}&limit=200"),
            &s.owner_key,
        )
        .await?;
    anyhow::ensure!(reply.status == 200, "activity: {}", reply.body);
    Ok(reply.body["events"].as_array().cloned().unwrap_or_default())
}

/// Installs an agent with the real CLI; returns it as loaded back from its identity file.
fn install_with_cli(s: &TestServer, token: &str) -> anyhow::Result<(Agent, Value)> {
    let path = s.dir.path().join("config").join("ai-agent.json");
    let path_text = path.display().to_string();
    let (ok, out) = run_cli(
        s,
        &[],
        &["mcp", "install", "--token", token, "--identity", &path_text],
        None,
    )?;
    anyhow::ensure!(ok, "install failed: {out}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path)?.permissions());
    anyhow::ensure!(mode & 0o777 == 0o600, "identity file mode {mode:o}");
    let file: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    let seed: [u8; 32] = unb64(file["private_key"].as_str().unwrap_or_default())
        .try_into()
        .map_err(|_| anyhow::anyhow!("the seed is not 32 bytes"))?;
    let mut key = MachineKey::generate();
    key.key = ed25519_dalek::SigningKey::from_bytes(&seed);
    key.id = file["agent_id"].as_str().unwrap_or_default().to_owned();
    let (ok, out) = run_cli(s, &[], &["mcp", "whoami", "--identity", &path_text], None)?;
    anyhow::ensure!(ok && out.contains(&key.id), "whoami: {out}");
    Ok((Agent { key }, file))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_installs_an_agent_whose_token_works_once_and_whose_key_stays_local() -> TestResult
{
    let s = TestServer::start().await?;
    let owner = [("COFFER_API_KEY", s.owner_key.as_str())];
    let (ok, out) = run_cli(
        &s,
        &owner,
        &[
            "ai",
            "token",
            "create",
            "--name",
            "claude",
            "--scope",
            "groups.read",
        ],
        None,
    )?;
    assert!(ok, "{out}");
    let issued: Value = serde_json::from_str(&out)?;
    let token = issued["token"].as_str().unwrap_or_default().to_owned();
    assert!(token.starts_with("cai_aibt_"), "{out}");

    let (agent, file) = install_with_cli(&s, &token)?;
    assert!(agent.key.id.starts_with("aia_"), "{file}");
    assert_eq!(file["name"], "claude");
    assert_eq!(file["account_id"], s.account_id().await?.as_str());
    // Only the public key went to Coffer: the agent as stored shows exactly it.
    let stored = s
        .get(&format!("/v1/ai/agents/{}", agent.key.id), &s.owner_key)
        .await?;
    assert_eq!(stored.status, 200);
    assert_eq!(stored.str("public_key"), agent.key.public_b64());
    assert_eq!(stored.body["scopes"], json!(["groups.read"]));
    assert!(
        !stored
            .body
            .to_string()
            .contains(file["private_key"].as_str().unwrap_or("-"))
    );

    // Single use: the same token registers nothing more.
    let (again, _) = register(&s, &token).await?;
    assert_eq!(again.status, 401, "{}", again.body);
    let (ok, _) = run_cli(&s, &owner, &["ai", "token", "list"], None)?;
    assert!(ok);
    let listed = s.get("/v1/ai/bootstrap-tokens", &s.owner_key).await?;
    assert!(
        !listed.body.to_string().contains(&token),
        "a listed token shows its text"
    );
    assert_eq!(listed.body[0]["agent_id"], agent.key.id.as_str());
    let (ok, out) = run_cli(&s, &owner, &["ai", "agent", "list"], None)?;
    assert!(ok && out.contains(&agent.key.id), "{out}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_or_revoked_token_registers_nothing() -> TestResult {
    let (s, clock) = server_with_clock().await?;
    let expiring = token(&s, "late", &["groups.read"], &[]).await?;
    clock.advance(std::time::Duration::from_secs(3_601));
    let (late, _) = register(&s, &expiring).await?;
    assert_eq!(late.status, 401, "{}", late.body);

    let revoked = s
        .post(
            "/v1/ai/bootstrap-tokens",
            &s.owner_key,
            json!({"name": "r", "scopes": []}),
        )
        .await?;
    let path = format!("/v1/ai/bootstrap-tokens/{}", revoked.str("id"));
    let gone = s
        .call(Method::DELETE, &path, Some(&s.owner_key), None)
        .await?;
    assert_eq!(gone.status, 204);
    let (refused, _) = register(&s, &revoked.str("token")).await?;
    assert_eq!(refused.status, 401);

    let unknown = s
        .post(
            "/v1/ai/bootstrap-tokens",
            &s.owner_key,
            json!({"name": "x", "scopes": ["secrets.read"]}),
        )
        .await?;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    let too_long = s
        .post(
            "/v1/ai/bootstrap-tokens",
            &s.owner_key,
            json!({"name": "x", "ttl_secs": 86_401}),
        )
        .await?;
    assert_eq!(too_long.status, 400);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_and_the_group_allowlist_bound_an_agent_and_it_cannot_grant_itself_more()
-> TestResult {
    let s = TestServer::start().await?;
    let g = s.group("G").await?;
    let h = s.group("H").await?;
    s.post(
        "/v1/secrets",
        &s.owner_key,
        json!({"name": "in-h", "group": h, "value": "v"}),
    )
    .await?;
    let agent = agent(
        &s,
        "narrow",
        &["groups.read", "groups.write", "secrets.metadata.read"],
        &[&g],
    )
    .await?;

    // A missing scope: 403 naming it, audited.
    let refused = agent
        .call(
            &s,
            Method::POST,
            "/v1/ai/secrets",
            Some(json!({"name": "x", "group": g, "value": "v"})),
        )
        .await?;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.to_string().contains("secrets.write"),
        "{}",
        refused.body
    );
    // Outside the allowlist: the objects do not exist.
    let hidden = agent
        .call(&s, Method::GET, "/v1/ai/secrets/in-h", None)
        .await?;
    assert_eq!(hidden.status, 404, "{}", hidden.body);
    let listed = agent.call(&s, Method::GET, "/v1/ai/groups", None).await?;
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.body
    );

    // A group it creates joins its allowlist.
    let made = agent
        .call(
            &s,
            Method::POST,
            "/v1/ai/groups",
            Some(json!({"name": "agent-made"})),
        )
        .await?;
    assert_eq!(made.status, 201, "{}", made.body);
    let me = agent.call(&s, Method::GET, "/v1/ai/whoami", None).await?;
    assert_eq!(me.body["groups"], json!([g, made.str("id")]), "{}", me.body);

    // The management routes are users' only: the agent's signature is refused there.
    let path = format!("/v1/ai/agents/{}", agent.key.id);
    let widen = agent
        .call(
            &s,
            Method::PATCH,
            &path,
            Some(json!({"scopes": ALL_SCOPES})),
        )
        .await?;
    assert_eq!(widen.status, 401, "{}", widen.body);
    let mint = agent
        .call(
            &s,
            Method::POST,
            "/v1/ai/bootstrap-tokens",
            Some(json!({"name": "x", "scopes": ALL_SCOPES})),
        )
        .await?;
    assert_eq!(mint.status, 401);
    let user_route = agent.call(&s, Method::GET, "/v1/secrets", None).await?;
    assert_eq!(user_route.status, 401);
    let still = s.get(&path, &s.owner_key).await?;
    assert_eq!(still.body["scopes"].as_array().map(Vec::len), Some(3));

    // Machines and agents never cross: an agent id as a machine, a machine id as an agent.
    let machine = s.approved_machine(&[&g], json!({"*.*.*.*": true})).await?;
    let as_agent = Agent {
        key: MachineKey {
            id: machine.id.clone(),
            key: machine.key.clone(),
        },
    };
    let crossed = as_agent
        .call(&s, Method::GET, "/v1/ai/whoami", None)
        .await?;
    assert_eq!(crossed.status, 401);
    let machine_route = s
        .send_raw(
            &s.client,
            &RawRequest::signed(&machine, Method::GET, "/v1/ai/whoami", None, unix_now()),
        )
        .await?;
    assert_eq!(machine_route.status, 401);
    let as_machine = MachineKey {
        id: agent.key.id.clone(),
        key: agent.key.key.clone(),
    };
    let crossed = s
        .send_raw(
            &s.client,
            &RawRequest::signed(&as_machine, Method::GET, "/v1/keyrings", None, unix_now()),
        )
        .await?;
    assert_eq!(crossed.status, 401);
    let bearer = s.get("/v1/ai/whoami", &s.owner_key).await?;
    assert_eq!(bearer.status, 401);

    // Disabled: refused from its next request.
    s.post(&format!("{path}/disable"), &s.owner_key, json!({}))
        .await?;
    assert_eq!(
        agent
            .call(&s, Method::GET, "/v1/ai/whoami", None)
            .await?
            .status,
        401
    );

    // The trail names the agent by id and name, with the method ai_agent.
    let events = events_of(&s, &agent.key.id).await?;
    let forbidden = events
        .iter()
        .find(|e| e["action"] == "ai.secret.create")
        .ok_or_else(|| anyhow::anyhow!("no refusal event: {events:?}"))?;
    assert_eq!(forbidden["status"], 403);
    assert_eq!(forbidden["auth_method"], "ai_agent");
    assert_eq!(forbidden["credential"], "narrow");
    let created = events
        .iter()
        .find(|e| e["action"] == "group.create")
        .expect("group.create");
    assert_eq!(created["auth_method"], "ai_agent");
    assert_eq!(created["credential"], "narrow");
    Ok(())
}

/// Every agent-facing answer, as raw text.
async fn every_route(
    s: &TestServer,
    agent: &Agent,
    g: &str,
    pass: u32,
) -> anyhow::Result<Vec<String>> {
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/v1/ai/whoami".into(), None),
        (Method::GET, "/v1/ai/groups".into(), None),
        (Method::GET, "/v1/ai/secrets".into(), None),
        (Method::GET, format!("/v1/ai/secrets?group={g}"), None),
        (Method::GET, "/v1/ai/secrets/plain".into(), None),
        (Method::GET, "/v1/ai/secrets/creds".into(), None),
        (Method::GET, "/v1/ai/keyrings".into(), None),
        (Method::GET, "/v1/ai/machines".into(), None),
        (Method::GET, "/v1/ai/activity?limit=200".into(), None),
        (Method::GET, "/v1/ai/alerts".into(), None),
        (
            Method::POST,
            "/v1/ai/groups".into(),
            Some(json!({"name": format!("scan-{pass}")})),
        ),
        (
            Method::POST,
            "/v1/ai/keyrings".into(),
            Some(json!({"name": format!("agent-ring-{pass}"), "group": g})),
        ),
        (
            Method::POST,
            "/v1/ai/alerts".into(),
            Some(json!({"name": format!("a{pass}"), "url": "http://127.0.0.1:9/hook"})),
        ),
        (Method::POST, "/v1/ai/secrets/creds/rotate".into(), None),
    ];
    let mut answers = Vec::new();
    for (method, path, body) in calls {
        let reply = agent.call(s, method.clone(), &path, body).await?;
        anyhow::ensure!(
            reply.status < 300,
            "{method} {path}: {} {}",
            reply.status,
            reply.body
        );
        answers.push(format!("{:?} {}", reply.headers, reply.body));
    }
    Ok(answers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_agent_answer_ever_holds_a_stored_value_and_its_share_open_destroys_the_share()
-> TestResult {
    let s = TestServer::start().await?;
    let g = s.group("G").await?;
    let agent = agent(&s, "scanner", &ALL_SCOPES, &[]).await?;
    let (app, app_key) = s.app_with_key("reader", &[&g], reader_flags()).await?;
    let mut answers = Vec::new();
    let mut write = async |method: Method, path: &str, body: Value| -> anyhow::Result<()> {
        let reply = agent.call(&s, method.clone(), path, Some(body)).await?;
        anyhow::ensure!(
            reply.status < 300,
            "{method} {path}: {} {}",
            reply.status,
            reply.body
        );
        answers.push(format!("{:?} {}", reply.headers, reply.body));
        Ok(())
    };
    write(
        Method::POST,
        "/v1/ai/secrets",
        json!({"name": "plain", "group": g, "value": "PLAINTEXT-ONE-7f3a"}),
    )
    .await?;
    write(
        Method::PUT,
        "/v1/ai/secrets/plain/value",
        json!({"value": "PLAINTEXT-TWO-9c1e"}),
    )
    .await?;
    let rotation = json!({"interval_seconds": 300, "fields": ["password"], "charset": "alphanumeric", "length": 24});
    write(
        Method::POST,
        "/v1/ai/secrets",
        json!({"name": "creds", "group": g, "kind": "structured",
               "fields": {"username": "svc", "password": "FIELD-VALUE-3b8d"}, "rotation": rotation}),
    )
    .await?;
    write(
        Method::POST,
        "/v1/ai/shares",
        json!({"group": g, "value": "SHARED-VALUE-5d2c", "expires_in_seconds": 600}),
    )
    .await?;
    answers.extend(every_route(&s, &agent, &g, 1).await?);

    // What an app reads back: the values the agent wrote and the rotated one.
    grant(&s, "plain", &app).await?;
    grant(&s, "creds", &app).await?;
    let plain = s.get("/v1/secrets/plain/value", &app_key).await?;
    assert_eq!(plain.str("value"), "PLAINTEXT-TWO-9c1e", "{}", plain.body);
    let creds = s.get("/v1/secrets/creds/value", &app_key).await?;
    let rotated = creds.body["fields"]["password"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(rotated.len(), 24, "{}", creds.body);
    answers.extend(every_route(&s, &agent, &g, 2).await?);

    let known = [
        "PLAINTEXT-ONE-7f3a",
        "PLAINTEXT-TWO-9c1e",
        "FIELD-VALUE-3b8d",
        "SHARED-VALUE-5d2c",
        &rotated,
    ];
    for answer in &answers {
        for value in known {
            assert!(
                !answer.contains(value),
                "an agent's answer holds a value: {answer}"
            );
        }
    }

    // The share the agent made: its open destroys it without showing it.
    let share = agent
        .call(
            &s,
            Method::POST,
            "/v1/ai/shares",
            Some(json!({"group": g, "value": "SHARED-AGAIN-1a2b", "expires_in_seconds": 600})),
        )
        .await?;
    assert_eq!(share.status, 201, "{}", share.body);
    let (id, passphrase) = (share.str("id"), share.str("passphrase"));
    let open = format!("/v1/shares/{id}/open");
    let burnt = agent
        .call(
            &s,
            Method::POST,
            &open,
            Some(json!({"passphrase": passphrase})),
        )
        .await?;
    assert_eq!(burnt.status, 404, "{}", burnt.body);
    assert!(!burnt.body.to_string().contains("SHARED-AGAIN-1a2b"));
    let later = s
        .call(
            Method::POST,
            &open,
            None,
            Some(json!({"passphrase": passphrase})),
        )
        .await?;
    assert_eq!(
        later.status, 404,
        "the share outlived the agent's open: {}",
        later.body
    );
    Ok(())
}

/// The agents' column of the authorization matrix, over every route of the catalogue: an
/// agent holding every scope is refused (401) on every route with a credential but the
/// agent-facing ones, and served there (neither 401 nor 403; bad bodies are 400s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_is_served_on_its_routes_and_refused_on_every_other() -> TestResult {
    let s = TestServer::start().await?;
    s.group("G").await?;
    let agent = agent(&s, "matrix", &ALL_SCOPES, &[]).await?;
    let mut wrong = Vec::new();
    for route in coffer::catalogue::ALL
        .iter()
        .filter(|r| !r.flags.is_empty())
    {
        let target: Vec<&str> = route
            .path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "1"
                } else {
                    segment
                }
            })
            .collect();
        let method = Method::from_bytes(route.method.as_str().to_uppercase().as_bytes())?;
        let body = matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
        let reply = agent.call(&s, method, &target.join("/"), body).await?;
        let facing = coffer::catalogue::AGENT_FACING
            .iter()
            .any(|r| r.method == route.method && r.path == route.path);
        let served = reply.status != 401 && reply.status != 403;
        if facing != served {
            wrong.push(format!("{} {}: {}", route.method, route.path, reply.status));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    // The machines' status filter takes the machine states only.
    let pending = agent
        .call(&s, Method::GET, "/v1/ai/machines?status=pending", None)
        .await?;
    assert_eq!(pending.status, 200, "{}", pending.body);
    assert!(pending.body.is_array(), "{}", pending.body);
    let bad = agent
        .call(&s, Method::GET, "/v1/ai/machines?status=asleep", None)
        .await?;
    assert_eq!(bad.status, 400, "{}", bad.body);
    Ok(())
}
