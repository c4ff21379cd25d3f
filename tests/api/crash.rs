//! `kill -9` under load, bounded in time. The real `coffer serve --dev` binary is killed with
//! SIGKILL while 16 clients create groups (a mutation: its audit event is written in the
//! same transaction) and encrypt on an `envelope` and an `hsm` keyring (its audit event goes
//! through the group committer), then started again on the same data directory. Whatever the
//! server acknowledged (a 2xx reached the client) must have survived: the group, the
//! request's audit event, and the key that decrypts the ciphertext the client was given.
//! Requests in flight at the kill got no answer, so they were promised nothing.

use crate::support::{TestResult, b64, unb64};
use anyhow::Context;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Concurrent clients, each on its own connection.
const CLIENTS: usize = 16;
/// How long the load runs before the kill.
const LOAD: Duration = Duration::from_secs(3);
/// The whole test, both starts of the binary included.
const TEST_BOUND: Duration = Duration::from_secs(60);
/// One request. A live server answers far sooner; a dead one fails it at once.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// One start of the binary, until `/v1/health` answers.
const START_TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_when_the_server_is_killed_under_load() -> TestResult {
    // Every wait below has its own bound; this one bounds their sum. On expiry the scenario
    // is dropped, and with it the server guard, which kills the child.
    tokio::time::timeout(TEST_BOUND, scenario())
        .await
        .with_context(|| format!("the crash test did not finish within {TEST_BOUND:?}"))?
}

async fn scenario() -> TestResult {
    let root = tempfile::tempdir()?;
    let data = root.path().join("data");
    let mut server = Server::start(&data, &root.path().join("first.log")).await?;
    let owner = server.owner_key.clone();

    let group = server
        .ok("/v1/groups", &owner, json!({"name": "crash"}))
        .await?;
    let group = str_field(&group, "id");
    let app = server
        .ok(
            "/v1/apps",
            &owner,
            json!({"name": "crash", "groups": [group]}),
        )
        .await?;
    let app_key = server
        .ok(
            "/v1/auth/apikey",
            &owner,
            json!({"principal": str_field(&app, "id"), "name": "crash", "flags": {"keyring.*.*.*": true}}),
        )
        .await?;
    let app_key = str_field(&app_key, "api_key");
    for ring in RINGS {
        server
            .ok(
                "/v1/keyrings",
                &owner,
                json!({"name": ring, "group": group, "protection": ring}),
            )
            .await?;
    }

    // Load, and the kill while it runs.
    let killer = Arc::new(Killer {
        pid: server.pid()?,
        after: Instant::now() + LOAD,
        killed: AtomicBool::new(false),
    });
    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        let load = LoadClient {
            id,
            client: https_client(&data)?,
            url: server.url.clone(),
            owner: owner.clone(),
            app_key: app_key.clone(),
            killer: Arc::clone(&killer),
        };
        clients.push(tokio::spawn(load.run()));
    }
    // A load client kills the server at its first acknowledgement after LOAD; this is the
    // fallback for a load that no longer gets any.
    let fallback = killer.after + Duration::from_secs(5);
    while !killer.is_killed() && Instant::now() < fallback {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killer.kill();
    server.reap_killed().await?;
    let mut records = Vec::new();
    for client in clients {
        let done = tokio::time::timeout(REQUEST_TIMEOUT * 2, client)
            .await
            .context("a load client did not stop after the kill")??;
        records.extend(done);
    }
    let tally = Tally::of(&records);
    eprintln!("crash test: {tally}");
    let failed_alive: Vec<&str> = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::FailedWhileUp))
        .map(|r| r.request_id.as_str())
        .collect();
    assert!(
        failed_alive.is_empty(),
        "requests failed without an answer before the kill: {failed_alive:?} ({tally})"
    );
    assert!(
        tally.acknowledged(Op::CreateGroup) > 0
            && tally.acknowledged(Op::Encrypt("envelope")) > 0
            && tally.acknowledged(Op::Encrypt("hsm")) > 0,
        "every kind of request must have been acknowledged before the kill, or there is nothing to check ({tally})"
    );
    assert!(
        tally.in_flight > 0,
        "no request was in flight at the kill, so the server was not killed under load ({tally})"
    );

    // The same data directory again: same token, database and TLS material.
    drop(server);
    let server = Server::start(&data, &root.path().join("restart.log")).await?;
    assert_eq!(
        server.owner_key, owner,
        "bootstrap.json is kept across the crash"
    );
    let acknowledged: Vec<&Record> = records
        .iter()
        .filter(|r| r.acknowledged_status().is_some())
        .collect();

    // Every acknowledged group exists.
    let listed = server.get("/v1/groups", &owner).await?;
    let groups: HashMap<String, String> = listed
        .as_array()
        .context("a list of groups")?
        .iter()
        .map(|g| (str_field(g, "name"), str_field(g, "id")))
        .collect();
    let lost_groups: Vec<&str> = acknowledged
        .iter()
        .filter_map(|r| match &r.request {
            Request::CreateGroup { name } if !groups.contains_key(name) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        lost_groups.is_empty(),
        "{} acknowledged group creates are gone after the restart: {lost_groups:?} ({tally})",
        lost_groups.len()
    );

    // Every acknowledged request has its audit event, recording the success the client saw.
    let audited = audit_events(&data.join("coffer.db"))?;
    let unaudited: Vec<&str> = acknowledged
        .iter()
        .filter(|r| {
            let status = r.acknowledged_status().unwrap_or_default();
            let event = (r.request_id.clone(), r.request.action().to_owned(), status);
            !audited.successes.contains(&event)
        })
        .map(|r| r.request_id.as_str())
        .collect();
    assert!(
        unaudited.is_empty(),
        "{} of {} acknowledged requests have no audit event after the restart: {unaudited:?} ({tally})",
        unaudited.len(),
        acknowledged.len()
    );
    let in_flight_but_audited = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::InFlight) && audited.ids.contains(&r.request_id))
        .count();
    eprintln!(
        "crash test: {in_flight_but_audited} of {} requests in flight at the kill were audited anyway",
        tally.in_flight
    );

    // Every acknowledged ciphertext decrypts to its plaintext: its key survived the crash.
    let sealed: Vec<(&str, String, &[u8])> = acknowledged
        .iter()
        .filter_map(|r| match (&r.request, &r.outcome) {
            (
                Request::Encrypt { ring, plaintext },
                Outcome::Acknowledged {
                    body: Some(body), ..
                },
            ) => Some((*ring, str_field(body, "ciphertext"), plaintext.as_slice())),
            _ => None,
        })
        .collect();
    let undecryptable: Vec<String> = futures_util::stream::iter(&sealed)
        .map(|(ring, ciphertext, plaintext)| {
            let path = format!("/v1/keyrings/{ring}/decrypt");
            let body = json!({"ciphertext": ciphertext});
            let server = &server;
            let app_key = &app_key;
            async move {
                match server.ok(&path, app_key, body).await {
                    Ok(opened) if unb64(&str_field(&opened, "plaintext")) == *plaintext => None,
                    Ok(opened) => Some(format!("{ring}: wrong plaintext {opened}")),
                    Err(e) => Some(format!("{ring}: {e:#}")),
                }
            }
        })
        .buffer_unordered(CLIENTS)
        .filter_map(std::future::ready)
        .collect()
        .await;
    assert!(
        undecryptable.is_empty(),
        "{} of {} acknowledged ciphertexts do not decrypt after the restart: {:?} ({tally})",
        undecryptable.len(),
        sealed.len(),
        &undecryptable[..undecryptable.len().min(5)]
    );

    // Fully usable: a new write and encrypts on both keyrings.
    server
        .ok("/v1/groups", &owner, json!({"name": "after-restart"}))
        .await?;
    for ring in RINGS {
        let path = format!("/v1/keyrings/{ring}/encrypt");
        let plaintext = b64(b"after the restart");
        server
            .ok(&path, &app_key, json!({"plaintext": plaintext}))
            .await?;
    }
    // The group acknowledged last before the kill has its master key in the token too (the
    // key is written just before the group's row): a keyring's data key is wrapped under it.
    let newest = acknowledged
        .iter()
        .filter_map(|r| match &r.request {
            Request::CreateGroup { name } => Some((r.answered, name)),
            Request::Encrypt { .. } => None,
        })
        .max()
        .and_then(|(_, name)| groups.get(name))
        .context("an acknowledged group")?;
    server
        .ok(
            "/v1/keyrings",
            &owner,
            json!({"name": "after-restart", "group": newest, "protection": "envelope"}),
        )
        .await?;
    Ok(())
}

/// The two keyrings under load, named after their protection.
const RINGS: [&str; 2] = ["envelope", "hsm"];

/// One client of the load: sends requests back to back until the kill.
struct LoadClient {
    id: usize,
    client: reqwest::Client,
    url: String,
    owner: String,
    app_key: String,
    killer: Arc<Killer>,
}

impl LoadClient {
    async fn run(self) -> Vec<Record> {
        let mut records = Vec::new();
        for n in 0usize.. {
            if self.killer.is_killed() {
                break;
            }
            // Our own request ids (the server keeps a valid one), so that the requests that
            // never got an answer can be looked up in the audit trail too.
            let request_id = format!("crash-{}-{n}", self.id);
            let request = match (self.id + n) % 3 {
                0 => Request::CreateGroup {
                    name: format!("load-{}-{n}", self.id),
                },
                k => Request::Encrypt {
                    ring: RINGS[k - 1],
                    plaintext: format!("plaintext of {request_id}").into_bytes(),
                },
            };
            let (path, key, body) = match &request {
                Request::CreateGroup { name } => {
                    ("/v1/groups".to_owned(), &self.owner, json!({"name": name}))
                }
                Request::Encrypt { ring, plaintext } => (
                    format!("/v1/keyrings/{ring}/encrypt"),
                    &self.app_key,
                    json!({"plaintext": b64(plaintext)}),
                ),
            };
            let sent = self
                .client
                .post(format!("{}{path}", self.url))
                .bearer_auth(key)
                .header("x-request-id", &request_id)
                .json(&body)
                .send()
                .await;
            let outcome = match sent {
                Ok(response) if response.status().is_success() => {
                    self.killer.kill_when_due();
                    let status = response.status().as_u16();
                    // The status is the acknowledgement; the body may be cut by the kill.
                    let body = response.json::<Value>().await.ok();
                    Outcome::Acknowledged { status, body }
                }
                Ok(response) => Outcome::Refused(response.status().as_u16()),
                Err(_) if self.killer.is_killed() => Outcome::InFlight,
                Err(_) => Outcome::FailedWhileUp,
            };
            let stop = matches!(outcome, Outcome::InFlight | Outcome::FailedWhileUp);
            records.push(Record {
                request,
                request_id,
                outcome,
                answered: Instant::now(),
            });
            if stop {
                break;
            }
        }
        records
    }
}

/// Sends the server its SIGKILL, once.
///
/// Due after `LOAD`, it is sent by the load client whose request is acknowledged first
/// from then on, as soon as it sees the status: right after an answer is when a server that
/// answered before its writes were durable would lose them. The other clients' requests are
/// in flight.
struct Killer {
    pid: libc::pid_t,
    after: Instant,
    killed: AtomicBool,
}

impl Killer {
    fn kill_when_due(&self) {
        if Instant::now() >= self.after {
            self.kill();
        }
    }

    fn kill(&self) {
        // Raised before the signal: a request that fails while it is still down failed on
        // a live server, a fault of its own and not an effect of the kill.
        if !self.killed.swap(true, Ordering::SeqCst) {
            // SAFETY: kill(2) takes plain integers. The pid is the child's and stays its
            // own until `reap_killed` waits for it.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
    }

    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

/// What a load client asked.
enum Request {
    CreateGroup {
        name: String,
    },
    Encrypt {
        ring: &'static str,
        plaintext: Vec<u8>,
    },
}

impl Request {
    /// The audit action of the request.
    fn action(&self) -> &'static str {
        match self {
            Request::CreateGroup { .. } => "group.create",
            Request::Encrypt { .. } => "keyring.encrypt",
        }
    }

    fn op(&self) -> Op {
        match self {
            Request::CreateGroup { .. } => Op::CreateGroup,
            Request::Encrypt { ring, .. } => Op::Encrypt(ring),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Op {
    CreateGroup,
    Encrypt(&'static str),
}

/// What the client learnt of a request.
enum Outcome {
    /// A 2xx reached the client: the server promised the request took effect. `body` is
    /// `None` when the kill cut it.
    Acknowledged { status: u16, body: Option<Value> },
    /// An error status: the server promised nothing.
    Refused(u16),
    /// No answer, and the kill had begun: the request was in flight.
    InFlight,
    /// No answer although the server was still up.
    FailedWhileUp,
}

struct Record {
    request: Request,
    request_id: String,
    outcome: Outcome,
    answered: Instant,
}

impl Record {
    /// The 2xx the client received, if it received one.
    fn acknowledged_status(&self) -> Option<u16> {
        match self.outcome {
            Outcome::Acknowledged { status, .. } => Some(status),
            _ => None,
        }
    }
}

/// Counts for the report and the assertion messages.
struct Tally {
    acknowledged: HashMap<Op, usize>,
    refused: HashMap<u16, usize>,
    in_flight: usize,
}

impl Tally {
    fn of(records: &[Record]) -> Self {
        let mut tally = Tally {
            acknowledged: HashMap::new(),
            refused: HashMap::new(),
            in_flight: 0,
        };
        for record in records {
            match record.outcome {
                Outcome::Acknowledged { .. } => {
                    *tally.acknowledged.entry(record.request.op()).or_default() += 1;
                }
                Outcome::Refused(status) => *tally.refused.entry(status).or_default() += 1,
                Outcome::InFlight => tally.in_flight += 1,
                Outcome::FailedWhileUp => {}
            }
        }
        tally
    }

    fn acknowledged(&self, op: Op) -> usize {
        self.acknowledged.get(&op).copied().unwrap_or_default()
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "acknowledged: {} group creates, {} envelope and {} hsm encrypts; refused: {:?}; in flight at the kill: {}",
            self.acknowledged(Op::CreateGroup),
            self.acknowledged(Op::Encrypt("envelope")),
            self.acknowledged(Op::Encrypt("hsm")),
            self.refused,
            self.in_flight
        )
    }
}

/// The audit trail as the restarted server left it on disk.
struct Audited {
    /// (request id, action, status) of every successful event.
    successes: HashSet<(String, String, u16)>,
    /// The request id of every event.
    ids: HashSet<String>,
}

/// Reads the audit trail straight from the database file, read-only, next to the running
/// server (WAL lets a reader in beside the writers).
fn audit_events(database: &Path) -> anyhow::Result<Audited> {
    let db = rusqlite::Connection::open_with_flags(
        database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let mut audited = Audited {
        successes: HashSet::new(),
        ids: HashSet::new(),
    };
    let mut rows = db.prepare("SELECT request_id, action, outcome, status FROM audit_events")?;
    let mut rows = rows.query([])?;
    while let Some(row) = rows.next()? {
        let request_id: String = row.get(0)?;
        if row.get::<_, String>(2)? == "success" {
            audited
                .successes
                .insert((request_id.clone(), row.get(1)?, row.get(3)?));
        }
        audited.ids.insert(request_id);
    }
    Ok(audited)
}

/// A running `coffer serve --dev` and a client for it.
struct Server {
    process: Process,
    url: String,
    client: reqwest::Client,
    owner_key: String,
}

/// The child process. Dropping it kills the child (SIGKILL), so a failing or timed-out test
/// never leaves a server behind.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// Starts the binary on `data` and a free loopback port, with its stderr in `log`;
    /// returns once `bootstrap.json` is written and `/v1/health` answers.
    async fn start(data: &Path, log: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let url = format!("https://127.0.0.1:{port}");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
        command
            .args(["serve", "--dev", "--data-dir"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")]);
        // `serve --dev` points SOFTHSM2_CONF at the token under the data directory itself
        // (src/main.rs), so nothing is needed from this process. What it would inherit could
        // only interfere: COFFER_HSM_MODULE is written into the dev token file, COFFER_TLS_*
        // replace the dev certificate the client trusts, and SOFTHSM2_CONF may name another
        // test's token.
        for (name, _) in std::env::vars_os() {
            if name
                .to_str()
                .is_some_and(|n| n.starts_with("COFFER_") || n == "SOFTHSM2_CONF")
            {
                command.env_remove(name);
            }
        }
        let mut process = Process(
            command
                .env("COFFER_LOG", "warn")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(log)?)
                .spawn()?,
        );
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = process.0.try_wait()? {
                anyhow::bail!(
                    "coffer serve --dev exited early ({status}): {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "coffer serve --dev did not answer within {START_TIMEOUT:?}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            // bootstrap.json is written after the listener is up (and may be half-written
            // when read): wait for both a complete file and a health answer.
            let owner_key = std::fs::read(data.join("bootstrap.json"))
                .ok()
                .and_then(|text| serde_json::from_slice::<Value>(&text).ok())
                .map(|file| str_field(&file, "api_key"));
            if let (Some(owner_key), Ok(client)) = (owner_key, https_client(data)) {
                let health = client.get(format!("{url}/v1/health")).send();
                if health.await.is_ok_and(|r| r.status().is_success()) {
                    return Ok(Server {
                        process,
                        url,
                        client,
                        owner_key,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid(&self) -> anyhow::Result<libc::pid_t> {
        Ok(libc::pid_t::try_from(self.process.0.id())?)
    }

    /// Waits for the child to die of the SIGKILL (no graceful shutdown, no audit flush, no
    /// logout from the token), not of anything else.
    async fn reap_killed(&mut self) -> TestResult {
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(status) = self.process.0.try_wait()? {
                break status;
            }
            anyhow::ensure!(Instant::now() < deadline, "the server outlived its SIGKILL");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        anyhow::ensure!(
            std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGKILL),
            "the server was not killed by SIGKILL: {status}"
        );
        Ok(())
    }

    /// POSTs `body`; the answer must be a 2xx. Returns its JSON body.
    async fn ok(&self, path: &str, key: &str, body: Value) -> anyhow::Result<Value> {
        let request = self.client.post(format!("{}{path}", self.url)).json(&body);
        expect_success(path, request.bearer_auth(key).send().await?).await
    }

    /// GETs `path`; the answer must be a 2xx. Returns its JSON body.
    async fn get(&self, path: &str, key: &str) -> anyhow::Result<Value> {
        let request = self.client.get(format!("{}{path}", self.url));
        expect_success(path, request.bearer_auth(key).send().await?).await
    }
}

async fn expect_success(path: &str, response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {text}");
    Ok(serde_json::from_str(&text)?)
}

/// An HTTPS client that trusts the data directory's dev CA, with every request bounded.
fn https_client(data: &Path) -> anyhow::Result<reqwest::Client> {
    coffer::app::install_crypto_provider();
    let ca: PathBuf = data.join("tls").join("ca.pem");
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(ca)?)?)
        .connect_timeout(Duration::from_secs(2))
        .timeout(REQUEST_TIMEOUT)
        .build()?)
}

fn str_field(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_owned()
}
