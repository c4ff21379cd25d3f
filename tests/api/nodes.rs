//! Several nodes on one database and one token: the in-process test server plus `coffer
//! serve` processes on the same database (the SQLite file in the first pass of the suite,
//! the PostgreSQL database in the second) and the same SoftHSM token. Any node serves any
//! request, and a change made through one node is in force on the others within a second.

use crate::support::{TestResult, TestServer, b64};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Another `coffer serve` process on the test server's database and token. Killed with
/// SIGKILL when dropped.
pub struct Node {
    child: std::process::Child,
    pub url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// `kill -9`: the process ends at once, whatever it was doing.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(|_| ())
    }
}

impl TestServer {
    /// Starts another node and waits until it answers `/v1/ready` (at most 10 s).
    pub async fn node(&self) -> anyhow::Result<Node> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let pin = self.dir.path().join("node.pin");
        std::fs::write(&pin, &self.token.user_pin)?;
        let tls = self.dir.path().join("tls");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--database")
            .arg(self.database_url())
            .arg("--tls-cert")
            .arg(tls.join("server.pem"))
            .arg("--tls-key")
            .arg(tls.join("server-key.pem"))
            .env("SOFTHSM2_CONF", &self.token.conf)
            .env("COFFER_HSM_MODULE", &self.token.module)
            .env("COFFER_HSM_TOKEN", &self.token.label)
            .env("COFFER_HSM_PIN_FILE", &pin)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let node = Node {
            child,
            url: format!("https://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if let Ok(r) = self
                .client
                .get(format!("{}/v1/ready", node.url))
                .send()
                .await
                && r.status() == 200
            {
                return Ok(node);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the node did not become ready")
    }

    /// One request to the node at `url`: its status and JSON body.
    pub async fn call_at(
        &self,
        url: &str,
        method: Method,
        path: &str,
        key: &str,
        body: Value,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .client
            .request(method, format!("{url}{path}"))
            .bearer_auth(key);
        if !body.is_null() {
            request = request.json(&body);
        }
        let reply = request.send().await?;
        let status = reply.status().as_u16();
        Ok((status, reply.json().await.unwrap_or(Value::Null)))
    }
}

/// The id part of an API key (`ck_<id>_<secret>`).
fn key_id(key: &str) -> String {
    let inner = key.trim_start_matches("ck_");
    inner
        .rsplit_once('_')
        .map(|(id, _)| id)
        .unwrap_or(inner)
        .to_owned()
}

/// Encrypts on the node at `url` as `key`; answers the status and the key version used.
async fn encrypt_at(s: &TestServer, url: &str, key: &str) -> anyhow::Result<(u16, u64)> {
    let (status, body) = s
        .call_at(
            url,
            Method::POST,
            "/v1/keyrings/shared/encrypt",
            key,
            json!({"plaintext": b64(b"multi-node")}),
        )
        .await?;
    Ok((status, body["key_version"].as_u64().unwrap_or(0)))
}

/// What node 1 now answers to an encrypt as `key` (a change was just made through it),
/// once every node in `others` answers the same; fails if one still answers otherwise one
/// second after `since` (the change's acknowledgment). The answer must differ from the
/// one before the change, `(200, 1)`.
async fn in_force_within_a_second(
    s: &TestServer,
    others: &[&str],
    key: &str,
    change: &str,
    since: Instant,
) -> anyhow::Result<(u16, u64)> {
    let want = encrypt_at(s, &s.url, key).await?;
    anyhow::ensure!(want != (200, 1), "{change}: node 1 still answers {want:?}");
    for url in others {
        loop {
            let got = encrypt_at(s, url, key).await?;
            if got == want {
                break;
            }
            anyhow::ensure!(
                since.elapsed() < Duration::from_secs(1),
                "{change}: {url} answers {got:?}, node 1 {want:?}, one second after node 1 \
                 acknowledged the change"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_node_is_in_force_on_the_others_within_a_second() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("shared").await?;
    s.keyring("shared", &group, json!({"protection": "envelope"}))
        .await?;
    let all = json!({"keyring.*.*.*": true});
    let mut keys = Vec::new();
    for name in [
        "disabled-key",
        "narrowed",
        "disabled-app",
        "ungrouped",
        "rotating",
    ] {
        keys.push(s.app_with_key(name, &[&group], all.clone()).await?);
    }
    let (node2, node3) = (s.node().await?, s.node().await?);
    let others = [node2.url.as_str(), node3.url.as_str()];
    // Every node has verified each key and cached the keyring.
    for (_, key) in &keys {
        for url in others {
            assert_eq!(encrypt_at(&s, url, key).await?, (200, 1), "{url} warm");
        }
    }
    let [disabled_key, narrowed, disabled_app, ungrouped, rotating] = &keys[..] else {
        unreachable!("five apps");
    };

    let path = format!("/v1/auth/apikey/{}", key_id(&disabled_key.1));
    s.owner_patch(&path, json!({"disabled": true}))
        .await?
        .assert_status(200);
    let since = Instant::now();
    let now = in_force_within_a_second(&s, &others, &disabled_key.1, "disable key", since).await?;
    assert!(
        matches!(now.0, 401 | 403 | 404),
        "{}: {now:?}",
        "disable key"
    );

    let path = format!("/v1/auth/apikey/{}", key_id(&narrowed.1));
    s.owner_patch(&path, json!({"flags": {"keyring.shared.decrypt": true}}))
        .await?
        .assert_status(200);
    let since = Instant::now();
    let now = in_force_within_a_second(&s, &others, &narrowed.1, "narrow flags", since).await?;
    assert!(
        matches!(now.0, 401 | 403 | 404),
        "{}: {now:?}",
        "narrow flags"
    );

    s.owner_patch(
        &format!("/v1/apps/{}", disabled_app.0),
        json!({"enabled": false}),
    )
    .await?
    .assert_status(200);
    let since = Instant::now();
    let now = in_force_within_a_second(&s, &others, &disabled_app.1, "disable app", since).await?;
    assert!(
        matches!(now.0, 401 | 403 | 404),
        "{}: {now:?}",
        "disable app"
    );

    let removed = s
        .call(
            Method::DELETE,
            &format!("/v1/groups/{group}/apps/{}", ungrouped.0),
            Some(&s.owner_key),
            None,
        )
        .await?;
    assert_eq!(removed.status, 204, "{}", removed.body);
    let since = Instant::now();
    let now =
        in_force_within_a_second(&s, &others, &ungrouped.1, "remove from group", since).await?;
    assert!(
        matches!(now.0, 401 | 403 | 404),
        "{}: {now:?}",
        "remove from group"
    );

    s.post("/v1/keyrings/shared/rotate", &s.owner_key, json!({}))
        .await?
        .assert_status(200);
    let since = Instant::now();
    let now = in_force_within_a_second(&s, &others, &rotating.1, "rotate", since).await?;
    assert_eq!(now, (200, 2), "node 1 encrypts under the new version");
    Ok(())
}

/// What a client of several nodes saw acknowledged: created keyrings, sealed ciphertexts
/// and the request ids of every acknowledged answer.
#[derive(Default)]
struct Acknowledged {
    keyrings: Vec<String>,
    sealed: Vec<(String, String)>,
    rotations: u64,
    request_ids: Vec<String>,
}

/// Sends one request to the first node of `urls` that answers, from `start` on (a client
/// behind a load balancer that retries elsewhere when a node is gone). Answers the status,
/// body and request id.
async fn send_anywhere(
    s: &TestServer,
    urls: &[String],
    start: usize,
    path: &str,
    key: &str,
    body: Value,
) -> anyhow::Result<(u16, Value, String)> {
    for offset in 0..urls.len() {
        let url = &urls[(start + offset) % urls.len()];
        let Ok(reply) = s
            .client
            .post(format!("{url}{path}"))
            .bearer_auth(key)
            .json(&body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
        else {
            continue; // the node is gone: try the next one
        };
        let status = reply.status().as_u16();
        let request_id = reply
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = reply.json().await.unwrap_or(Value::Null);
        return Ok((status, body, request_id));
    }
    anyhow::bail!("no node answered {path}")
}

/// Creates keyrings, encrypts and rotates across `urls`, round robin; stops after `rounds`.
async fn load(
    s: &TestServer,
    urls: &[String],
    group: &str,
    key: &str,
    rounds: usize,
    progress: &AtomicUsize,
) -> anyhow::Result<Acknowledged> {
    let mut seen = Acknowledged::default();
    for round in 0..rounds {
        progress.store(round, Ordering::SeqCst);
        let name = format!("load-{round}");
        let (status, _, id) = send_anywhere(
            s,
            urls,
            round,
            "/v1/keyrings",
            &s.owner_key,
            json!({"name": name, "group": group}),
        )
        .await?;
        if status == 201 {
            seen.keyrings.push(name);
            seen.request_ids.push(id);
        }
        let plaintext = b64(format!("acknowledged {round}").as_bytes());
        let (status, body, id) = send_anywhere(
            s,
            urls,
            round + 1,
            "/v1/keyrings/shared/encrypt",
            key,
            json!({"plaintext": plaintext}),
        )
        .await?;
        if status == 200 {
            let ciphertext = body["ciphertext"].as_str().unwrap_or_default().to_owned();
            seen.sealed.push((plaintext, ciphertext));
            seen.request_ids.push(id);
        }
        if round % 5 == 0 {
            let (status, _, id) = send_anywhere(
                s,
                urls,
                round + 2,
                "/v1/keyrings/shared/rotate",
                &s.owner_key,
                json!({}),
            )
            .await?;
            if status == 200 {
                seen.rotations += 1;
                seen.request_ids.push(id);
            }
        }
    }
    Ok(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_loses_no_acknowledged_write() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("shared").await?;
    s.keyring("shared", &group, json!({"protection": "envelope"}))
        .await?;
    let (_, key) = s
        .app_with_key("client", &[&group], json!({"keyring.*.*.*": true}))
        .await?;
    let (node2, mut node3) = (s.node().await?, s.node().await?);
    let urls = [s.url.clone(), node2.url.clone(), node3.url.clone()];

    // The load runs while node 3 is killed with SIGKILL mid-way (after round 15 of 40).
    let progress = AtomicUsize::new(0);
    let killer = async {
        while progress.load(Ordering::SeqCst) < 15 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        node3.kill()?;
        Ok::<_, std::io::Error>(progress.load(Ordering::SeqCst))
    };
    let (seen, killed_at) = tokio::join!(load(&s, &urls, &group, &key, 40, &progress), killer);
    let killed_at = killed_at?;
    let seen = seen?;
    assert!(
        killed_at < 39,
        "the kill came while the load ran (round {killed_at})"
    );
    anyhow::ensure!(
        !seen.sealed.is_empty() && !seen.keyrings.is_empty(),
        "load ran"
    );

    // Every acknowledged keyring exists; every acknowledged ciphertext decrypts, on a node
    // that did not make it as much as on one that did.
    let survivors = &urls[..2];
    for (i, name) in seen.keyrings.iter().enumerate() {
        let (status, body) = s
            .call_at(
                &survivors[i % 2],
                Method::GET,
                &format!("/v1/keyrings/{name}"),
                &s.owner_key,
                Value::Null,
            )
            .await?;
        assert_eq!(status, 200, "acknowledged keyring {name} lost: {body}");
    }
    for (i, (plaintext, ciphertext)) in seen.sealed.iter().enumerate() {
        let (status, body) = s
            .call_at(
                &survivors[i % 2],
                Method::POST,
                "/v1/keyrings/shared/decrypt",
                &key,
                json!({"ciphertext": ciphertext}),
            )
            .await?;
        assert_eq!(
            (status, body["plaintext"].as_str()),
            (200, Some(plaintext.as_str()))
        );
    }
    // No half-rotated keyring: one version per acknowledged rotation (plus the first), and
    // a rotation cut by the kill is either whole or absent.
    let (_, versions) = s
        .call_at(
            &s.url,
            Method::GET,
            "/v1/keyrings/shared/keys",
            &s.owner_key,
            Value::Null,
        )
        .await?;
    let versions = versions.as_array().cloned().unwrap_or_default();
    let numbers: Vec<u64> = versions
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .collect();
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "versions are whole and contiguous");
    assert!(
        numbers.len() as u64 > seen.rotations,
        "{numbers:?} vs {} rotations",
        seen.rotations
    );

    // Every acknowledged answer has its audit event.
    let db = s.db().await?;
    for id in &seen.request_ids {
        let events: i64 =
            sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE request_id = $1")
                .bind(id)
                .fetch_one(&db)
                .await?;
        assert_eq!(events, 1, "request {id} was answered but not audited");
    }
    Ok(())
}

/// A ciphertext sealed by one node right after a rotation there decrypts on another node at
/// once, before that node has read the change log: a version newer than its cached copy
/// makes it read the keyring again instead of refusing the ciphertext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ciphertext_of_a_version_rotated_on_another_node_decrypts_at_once() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("shared").await?;
    s.keyring("shared", &group, json!({"protection": "envelope"}))
        .await?;
    let (_, key) = s
        .app_with_key("client", &[&group], json!({"keyring.*.*.*": true}))
        .await?;
    let node2 = s.node().await?;
    for round in 2..=6 {
        // Node 2 caches the keyring at its current version.
        assert_eq!(encrypt_at(&s, &node2.url, &key).await?, (200, round - 1));
        s.owner_post("/v1/keyrings/shared/rotate", json!({}))
            .await?
            .assert_status(200);
        let (status, sealed) = s
            .call_at(
                &s.url,
                Method::POST,
                "/v1/keyrings/shared/encrypt",
                &key,
                json!({"plaintext": b64(b"fresh")}),
            )
            .await?;
        assert_eq!((status, sealed["key_version"].as_u64()), (200, Some(round)));
        let (status, opened) = s
            .call_at(
                &node2.url,
                Method::POST,
                "/v1/keyrings/shared/decrypt",
                &key,
                json!({"ciphertext": sealed["ciphertext"]}),
            )
            .await?;
        assert_eq!(
            (status, opened["plaintext"].as_str()),
            (200, Some(b64(b"fresh").as_str())),
            "round {round}"
        );
    }
    Ok(())
}
