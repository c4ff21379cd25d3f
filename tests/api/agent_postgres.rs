//! `coffer agent postgres` against a real PostgreSQL: the agent binary applies managed
//! secrets' versions to real roles while readers log in with what Coffer gives them.
//! PostgreSQL only: `scripts/test.sh` runs these in its PostgreSQL pass; without
//! `COFFER_TEST_POSTGRES` they fail saying so.

mod cluster;

use crate::support::TestResult;
use cluster::Setup;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Alternating users: while rotations are applied one after another, a reader that reads
/// the value and logs in with it, over and over, never fails to log in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternating_users_never_lock_a_reader_out() -> TestResult {
    let setup = Arc::new(Setup::new("alternating").await?);
    let mut agent = setup.spawn_agent(1)?;
    setup.wait_current(1).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(read_and_log_in_until(Arc::clone(&setup), Arc::clone(&stop)));
    let mut roles = Vec::new();
    for version in 2..=5 {
        setup.rotate().await?;
        setup.wait_current(version).await?;
        roles.push(setup.current_credential().await?.1.username);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (logins, failures) = reader.await??;
    agent.kill().await?;

    assert!(
        failures.is_empty(),
        "the reader was locked out: {failures:?}"
    );
    assert!(logins > 10, "the reader logged in only {logins} times");
    let [a, b] = &setup.target.roles;
    assert_eq!(
        roles,
        [b, a, b, a].map(String::clone),
        "each rotation takes the other role"
    );
    Ok(())
}

/// The reader's loop: read the value, log in with it, read the table. Returns the logins
/// and every failure (with the version that failed).
async fn read_and_log_in_until(
    setup: Arc<Setup>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(u32, Vec<String>)> {
    let (mut logins, mut failures) = (0, Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let (version, credential) = setup.current_credential().await?;
        match credential.query().await {
            Ok(42) => logins += 1,
            Ok(n) => failures.push(format!("version {version}: read {n}")),
            Err(e) => failures.push(format!("version {version} ({}): {e}", credential.username)),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((logins, failures))
}

/// Single user: once a rotation is applied, the new password logs in and the old one no
/// longer does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_user_rotation_retires_the_old_password() -> TestResult {
    let setup = Setup::new("single").await?;
    let admin = setup.target.admin_url.clone();
    let (ok, log) = setup.agent_once(&admin).await?;
    assert!(ok, "first apply: {log}");
    let (v1, old) = setup.current_credential().await?;
    assert_eq!(v1, 1);
    assert_eq!(old.query().await?, 42, "the first password logs in");

    setup.rotate().await?;
    let (ok, log) = setup.agent_once(&admin).await?;
    assert!(ok, "rotation apply: {log}");
    let (v2, new) = setup.current_credential().await?;
    assert_eq!(v2, 2);
    assert_eq!(new.username, old.username, "single: the same role");
    assert_ne!(new.password, old.password);
    assert_eq!(new.query().await?, 42, "the new password logs in");
    assert!(old.query().await.is_err(), "the old password still logs in");
    assert!(
        !log.contains(&new.password) && !log.contains(&old.password),
        "the agent logged a password: {log}"
    );
    Ok(())
}

/// An agent killed (SIGKILL) while versions are pending changes nothing readers see: the
/// confirmed credential stays current and logs in. A rotation asked for while another
/// waits still spares the current role. A restarted agent applies the newest version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_leaves_the_current_credential_working() -> TestResult {
    let setup = Setup::new("alternating").await?;
    let mut agent = setup.spawn_agent(1)?;
    setup.wait_current(1).await?;
    let (_, held) = setup.current_credential().await?;
    agent.kill().await?;
    agent.wait().await?;

    setup.rotate().await?;
    setup.rotate().await?;
    for _ in 0..3 {
        let (version, credential) = setup.current_credential().await?;
        assert_eq!(
            version, 1,
            "a pending version became current without its agent"
        );
        assert_eq!(
            credential.query().await?,
            42,
            "the current credential stopped working"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut restarted = setup.spawn_agent(2)?;
    setup.wait_current(3).await?;
    stops_on_sigterm(&mut restarted).await?;
    let (_, applied) = setup.current_credential().await?;
    assert_eq!(applied.query().await?, 42, "the applied version logs in");
    assert_ne!(
        applied.username, held.username,
        "the rotation took the other role"
    );
    assert_eq!(
        held.query().await?,
        42,
        "the credential readers held was changed before the rotation after: agent log {}",
        setup.agent_log(2)
    );
    Ok(())
}

/// An agent that cannot apply (its admin role lacks CREATEROLE) reports it: the audit
/// trail has `secret.version.failed`, and the version stays pending until an agent that can
/// applies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_apply_is_audited_and_stays_pending() -> TestResult {
    let setup = Setup::new("single").await?;
    let weak = setup.target.dsn_as(&setup.target.weak_admin);
    let (ok, log) = setup.agent_once(&weak).await?;
    assert!(!ok, "an agent without CREATEROLE applied a version: {log}");
    assert!(
        log.contains("CREATEROLE"),
        "the failure does not say why: {log}"
    );

    let feed = setup
        .s
        .get(
            "/v1/activity?action=secret.version.failed",
            &setup.s.owner_key,
        )
        .await?;
    let events = feed.body["events"].as_array().cloned().unwrap_or_default();
    let event = events
        .first()
        .ok_or_else(|| anyhow::anyhow!("no event: {}", feed.body))?;
    let detail = event["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("version 1:"), "{event}");
    assert!(detail.contains("permission denied"), "{event}");

    assert_eq!(setup.current_version().await?, 0);
    assert_eq!(
        setup.read_value().await?.0,
        409,
        "a value before any confirmation"
    );
    let (ok, log) = setup.agent_once(&setup.target.admin_url).await?;
    assert!(ok, "{log}");
    let (version, credential) = setup.current_credential().await?;
    assert_eq!(version, 1);
    assert!(
        !detail.contains(&credential.password),
        "the reason holds the password"
    );
    assert_eq!(credential.query().await?, 42);
    Ok(())
}

/// Sends SIGTERM (systemd's stop) to `agent`, which must exit cleanly and soon.
async fn stops_on_sigterm(agent: &mut tokio::process::Child) -> TestResult {
    let pid = agent
        .id()
        .ok_or_else(|| anyhow::anyhow!("the agent already exited"))?;
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    anyhow::ensure!(sent.success(), "kill -TERM {pid} failed");
    let status = tokio::time::timeout(Duration::from_secs(10), agent.wait()).await??;
    assert!(
        status.success(),
        "the agent did not stop cleanly on SIGTERM: {status}"
    );
    Ok(())
}
