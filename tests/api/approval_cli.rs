//! The approval commands of the CLI, against the real server.

use crate::approvals::admins;
use crate::support::{TestResult, TestServer, run_cli};

// The CLI runs as a child process calling this process's server: the server needs a
// runtime thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sets_a_quorum_lists_and_approves() -> TestResult {
    let s = TestServer::start().await?;
    s.ready_keyring("payments", "envelope").await?;
    let group = s
        .get("/v1/keyrings/payments", &s.owner_key)
        .await?
        .str("group");
    let people = admins(&s, &["alice", "bob"]).await?;
    let owner = [("COFFER_API_KEY", s.owner_key.as_str())];
    let (ok, out) = run_cli(
        &s,
        &owner,
        &[
            "group",
            "quorum",
            &group,
            "set",
            "--approver",
            &people[0].id,
            "--approver",
            &people[1].id,
            "--required",
            "1",
        ],
        None,
    )?;
    assert!(ok && out.contains("\"required\": 1"), "{out}");

    let (ok, _) = run_cli(&s, &owner, &["keyring", "delete", "payments"], None)?;
    assert!(ok, "a 202 is no failure");
    assert_eq!(
        s.get("/v1/keyrings/payments", &s.owner_key).await?.status,
        200
    );
    let (ok, out) = run_cli(
        &s,
        &owner,
        &["approval", "list", "--status", "pending"],
        None,
    )?;
    assert!(ok && out.contains("keyring.delete"), "{out}");
    let listed: serde_json::Value = serde_json::from_str(&out)?;
    let id = listed[0]["approval_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let alice = [("COFFER_API_KEY", people[0].session.as_str())];
    let (ok, out) = run_cli(&s, &alice, &["approval", "approve", &id], None)?;
    assert!(ok && out.contains("\"executed\""), "{out}");
    assert_eq!(
        s.get("/v1/keyrings/payments", &s.owner_key).await?.status,
        404
    );
    Ok(())
}
