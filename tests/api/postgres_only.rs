//! What only PostgreSQL does. `scripts/test.sh` runs these in its PostgreSQL pass and leaves
//! them out of the SQLite one; run alone without `COFFER_TEST_POSTGRES` they fail saying so.

use crate::support::{TestResult, TestServer};
use serde_json::json;
use std::time::Duration;

/// A change made through a node wakes every node listening on `coffer_changes` (the change
/// log's trigger), so nodes need not wait for their next poll.
#[tokio::test]
async fn a_change_notifies_the_listening_nodes() -> TestResult {
    anyhow::ensure!(
        std::env::var("COFFER_TEST_POSTGRES").is_ok(),
        "needs a PostgreSQL cluster: COFFER_TEST_POSTGRES (scripts/test.sh starts one)"
    );
    let s = TestServer::start().await?;
    let group = s.group("g").await?;
    let (app, _) = s
        .app_with_key("a", &[&group], json!({"keyring.*.*.*": true}))
        .await?;
    let mut listener = sqlx::postgres::PgListener::connect(&s.database_url()).await?;
    listener.listen("coffer_changes").await?;

    s.owner_patch(&format!("/v1/apps/{app}"), json!({"enabled": false}))
        .await?
        .assert_status(200);
    let woken = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await;
    assert!(
        matches!(woken, Ok(Ok(_))),
        "no notification after the app was disabled: {woken:?}"
    );
    Ok(())
}
