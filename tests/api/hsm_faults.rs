//! HSM faults injected for real: the service loads `tests/faulthsm/faulthsm.c` as its
//! PKCS#11 module, which passes every call to SoftHSM and, on command, stalls it, fails it
//! or logs the token out; and a token directory moved away and back. The service must
//! answer 503 within its deadlines, never 500, and recover without a restart.

use crate::support::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The fault-injecting module built for this test process, and its control file.
struct FaultHsm {
    module: PathBuf,
    control: PathBuf,
    _dir: tempfile::TempDir,
}

impl FaultHsm {
    /// Builds the module with the system C compiler and points it at a control file. Call
    /// before the server starts: the module reads its environment when it is loaded.
    fn build() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let module = dir.path().join("faulthsm.so");
        let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/faulthsm");
        let built = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-I/usr/include/p11-kit-1", "-o"])
            .arg(&module)
            .args(["faulthsm.c", "rules.c"].map(|file| sources.join(file)))
            .args(["-ldl", "-lpthread"])
            .output()?;
        anyhow::ensure!(
            built.status.success(),
            "cannot build the fault-injecting PKCS#11 module (scripts/test.sh installs gcc and libp11-kit-dev): {}",
            String::from_utf8_lossy(&built.stderr)
        );
        let control = dir.path().join("faults");
        // SAFETY: set before the server starts its threads and loads the module; the test
        // runtime is single-threaded at this point.
        unsafe { std::env::set_var("FAULTHSM_CONTROL", &control) };
        Ok(Self {
            module,
            control,
            _dir: dir,
        })
    }

    /// Replaces the rules. Written aside and renamed, so the module never reads half a file.
    fn set(&self, rules: &str) -> anyhow::Result<()> {
        let staged = self.control.with_extension("new");
        std::fs::write(&staged, rules)?;
        std::fs::rename(&staged, &self.control)?;
        Ok(())
    }

    fn clear(&self) -> anyhow::Result<()> {
        self.set("")
    }

    /// A server whose HSM goes through this module, with `call_timeout` as its deadline.
    async fn server(&self, call_timeout: Duration) -> anyhow::Result<TestServer> {
        let module = self.module.clone();
        TestServer::start_with(move |config| {
            config.hsm.module = module;
            config.hsm.call_timeout = call_timeout;
        })
        .await
    }
}

async fn encrypt(s: &TestServer, key: &str) -> anyhow::Result<Reply> {
    s.post(
        "/v1/keyrings/ring/encrypt",
        key,
        json!({"plaintext": b64(b"stall me")}),
    )
    .await
}

/// Retries `encrypt` until it succeeds, for at most `within`.
async fn encrypt_succeeds_within(
    s: &TestServer,
    key: &str,
    within: Duration,
) -> anyhow::Result<Reply> {
    let deadline = Instant::now() + within;
    loop {
        let reply = encrypt(s, key).await?;
        if reply.status == 200 || Instant::now() > deadline {
            return Ok(reply);
        }
        assert_eq!(reply.status, 503, "while recovering: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_hsm_is_a_prompt_503_for_every_caller_and_recovers_by_itself() -> TestResult {
    let fault = FaultHsm::build()?;
    let deadline = Duration::from_secs(1);
    let s = fault.server(deadline).await?;
    let key = s.ready_keyring("ring", "hsm").await?;
    assert_eq!(encrypt(&s, &key).await?.status, 200);

    fault.set("stall *")?;
    let started = Instant::now();
    let calls = (0..1_100).map(|_| encrypt(&s, &key));
    let replies = tokio::time::timeout(
        Duration::from_secs(30),
        futures_util::future::join_all(calls),
    )
    .await
    .map_err(|_| anyhow::anyhow!("callers waited for a stalled HSM instead of a 503"))?;
    let took = started.elapsed();
    for reply in replies {
        let reply = reply?;
        reply.assert_status(503);
        assert_eq!(reply.code(), "unavailable");
    }
    // One deadline for the first callers; everyone after them is refused at once because
    // every worker is stuck. Slack for 1,100 TLS requests on two cores.
    assert!(
        took < deadline + Duration::from_secs(8),
        "1,100 callers took {took:?}"
    );
    let (status, took) = ready_status(&s).await?;
    assert_eq!(status, 503, "ready while the HSM is stalled");
    assert!(took < Duration::from_millis(1_500), "ready took {took:?}");

    fault.clear()?;
    let recovered = encrypt_succeeds_within(&s, &key, Duration::from_secs(10)).await?;
    recovered.assert_status(200);
    assert_eq!(ready_status(&s).await?.0, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_key_generation_never_holds_up_encryption() -> TestResult {
    let fault = FaultHsm::build()?;
    let s = fault.server(Duration::from_secs(2)).await?;
    let key = s.ready_keyring("ring", "hsm").await?;
    let group = s.group("keys").await?;
    assert_eq!(encrypt(&s, &key).await?.status, 200);

    // Six RSA key generations that take as long as the test wants.
    fault.set("stall C_GenerateKeyPair")?;
    let creations: Vec<_> = (0..6)
        .map(|i| {
            let client = s.client.clone();
            let url = format!("{}/v1/keys", s.url);
            let owner = s.owner_key.clone();
            let group = group.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(owner)
                    .json(&json!({"name": format!("big-{i}"), "group": group, "algorithm": "rsa-2048"}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Encryption goes on, well inside its 2 s deadline, while every generation hangs.
    for _ in 0..20 {
        let reply = encrypt(&s, &key).await?;
        assert_eq!(
            reply.status, 200,
            "encrypt behind key generation: {}",
            reply.body
        );
    }

    fault.clear()?;
    for creation in creations {
        assert_eq!(creation.await??, 201);
    }
    Ok(())
}

#[tokio::test]
async fn a_token_that_vanishes_and_returns_is_a_503_then_recovers_without_a_restart() -> TestResult
{
    let s = TestServer::start().await?;
    let key = s.ready_keyring("ring", "hsm").await?;
    assert_eq!(encrypt(&s, &key).await?.status, 200);

    let tokens = s
        .token
        .conf
        .parent()
        .expect("the SoftHSM configuration has a directory")
        .join("tokens");
    let away = tokens.with_extension("away");
    std::fs::rename(&tokens, &away)?;
    let during = encrypt(&s, &key).await?;
    let (ready_during, ready_took) = ready_status(&s).await?;
    std::fs::rename(&away, &tokens)?;

    during.assert_status(503);
    assert_eq!(during.code(), "unavailable");
    assert_eq!(ready_during, 503, "ready while the token is away");
    assert!(ready_took < Duration::from_millis(1_500));

    let recovered = encrypt_succeeds_within(&s, &key, Duration::from_secs(10)).await?;
    recovered.assert_status(200);
    assert_eq!(ready_status(&s).await?.0, 200);
    // Keys made before the outage still work, and new ones can be made.
    let after = s.group("after").await?;
    s.keyring("second", &after, json!({"protection": "hsm"}))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_logs_the_service_out_costs_no_request() -> TestResult {
    let fault = FaultHsm::build()?;
    let s = fault.server(Duration::from_secs(2)).await?;
    let key = s.ready_keyring("ring", "hsm").await?;
    assert_eq!(encrypt(&s, &key).await?.status, 200);

    // The next call on any session finds the application logged out (an HSM reboot).
    fault.set("logout * 1")?;
    let replies = futures_util::future::join_all((0..40).map(|_| encrypt(&s, &key))).await;
    for reply in replies {
        let reply = reply?;
        assert_eq!(reply.status, 200, "after a logout: {}", reply.body);
    }
    // And again, one call at a time.
    fault.set("logout C_Encrypt 1")?;
    for _ in 0..5 {
        let reply = encrypt(&s, &key).await?;
        assert_eq!(reply.status, 200, "after a logout: {}", reply.body);
    }
    Ok(())
}

#[tokio::test]
async fn a_key_generation_the_token_fails_once_is_retried_and_a_persistent_failure_is_a_clean_503()
-> TestResult {
    let fault = FaultHsm::build()?;
    let s = fault.server(Duration::from_secs(2)).await?;
    let group = s.group("g").await?;

    // CKR_GENERAL_ERROR once, as SoftHSM does now and then under concurrent creation.
    fault.set("fail 0x5 C_GenerateKey 1")?;
    s.keyring("once", &group, json!({"protection": "hsm"}))
        .await?;

    fault.set("fail 0x5 C_GenerateKey")?;
    let refused = s
        .owner_post(
            "/v1/keyrings",
            json!({"name": "always", "group": group, "protection": "hsm"}),
        )
        .await?;
    refused.assert_status(503);
    assert_eq!(refused.code(), "unavailable");
    let refused_group = s
        .owner_post("/v1/groups", json!({"name": "no-master"}))
        .await?;
    refused_group.assert_status(503);

    fault.clear()?;
    let rings = s.get("/v1/keyrings", &s.owner_key).await?;
    let names = rings.column("name");
    assert_eq!(names, ["once"], "a refused creation left nothing behind");
    s.keyring("always", &group, json!({"protection": "hsm"}))
        .await?;
    Ok(())
}
