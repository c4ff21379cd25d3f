//! Storage faults injected for real: an immutable database file (`chattr +i`), a lock held
//! by another connection. The service must answer 503 within its bound, once, and recover
//! by itself as soon as the storage does. These are faults of SQLite's file, so these
//! servers run on SQLite in both passes of the suite.

use crate::support::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Makes files immutable with `chattr +i` (needs root, as CI runs) and undoes it on drop,
/// so a failing test never leaves a directory that cannot be removed.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(files: &[PathBuf]) -> anyhow::Result<Self> {
        let present: Vec<PathBuf> = files.iter().filter(|f| f.exists()).cloned().collect();
        chattr("+i", &present)?;
        Ok(Self(present))
    }

    fn lift(mut self) -> anyhow::Result<()> {
        let files = std::mem::take(&mut self.0);
        chattr("-i", &files)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = chattr("-i", &self.0);
    }
}

fn chattr(flag: &str, files: &[PathBuf]) -> anyhow::Result<()> {
    let out = std::process::Command::new("chattr")
        .arg(flag)
        .args(files)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "chattr {flag} failed (these tests need root and an ext4-like file system): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The database and its write-ahead log. Not the `-shm` index: SQLite maps it into memory,
/// and an immutable mapping is a SIGBUS in the test process, not a storage fault.
fn database_files(dir: &Path) -> Vec<PathBuf> {
    ["coffer.db", "coffer.db-wal"]
        .iter()
        .map(|f| dir.join(f))
        .collect()
}

#[tokio::test]
async fn writes_recover_as_soon_as_an_unwritable_database_is_writable_again() -> TestResult {
    let s = TestServer::start_on_sqlite().await?;
    s.group("before").await?;

    let frozen = Immutable::set(&database_files(s.dir.path()))?;
    let refused = s
        .owner_post("/v1/groups", json!({"name": "while-frozen"}))
        .await?;
    refused.assert_status(503);
    assert_eq!(refused.code(), "unavailable");
    let (ready, _) = ready_status(&s).await?;
    assert_eq!(ready, 503, "ready while the database cannot be written");
    frozen.lift()?;
    assert_eq!(ready_status(&s).await?.0, 200);

    // Every kind of write works again at once, without a restart: groups, apps, keys.
    let (group, _) = s.keyring_app("after", "app-after").await?;
    s.keyring("ring-after", &group, json!({})).await?;
    let listed = s.get("/v1/groups", &s.owner_key).await?;
    let names = listed.column("name");
    assert_eq!(
        names,
        ["before", "after"],
        "the refused create left nothing"
    );
    Ok(())
}

#[tokio::test]
async fn a_locked_database_costs_one_bounded_wait_not_two() -> TestResult {
    let s = TestServer::start_on_sqlite().await?;
    let key = s.ready_keyring("ring", "envelope").await?;

    // Another connection holds the write lock: nothing can be written or audited.
    let lock = rusqlite::Connection::open(s.dir.path().join("coffer.db"))?;
    lock.execute_batch("BEGIN EXCLUSIVE")?;

    let started = Instant::now();
    let read = s.get("/v1/groups", &s.owner_key).await?;
    let read_took = started.elapsed();
    let started = Instant::now();
    let create = s
        .owner_post("/v1/groups", json!({"name": "locked"}))
        .await?;
    let create_took = started.elapsed();
    let started = Instant::now();
    let encrypt = s
        .post(
            "/v1/keyrings/ring/encrypt",
            &key,
            json!({"plaintext": b64(b"x")}),
        )
        .await?;
    let encrypt_took = started.elapsed();
    let (ready, ready_took) = ready_status(&s).await?;
    lock.execute_batch("ROLLBACK")?;
    drop(lock);

    for (what, reply, took) in [
        ("read", &read, read_took),
        ("create", &create, create_took),
        ("encrypt", &encrypt, encrypt_took),
    ] {
        assert_eq!(reply.status, 503, "{what}: {}", reply.body);
        // The bound is 2 s (the default audit timeout); allow scheduling slack, not a
        // second wait.
        assert!(
            took < Duration::from_millis(3_000),
            "{what} took {took:?}: the 2 s bound was spent more than once"
        );
    }
    assert_eq!(
        ready, 503,
        "ready while another connection holds the write lock"
    );
    assert!(
        ready_took < Duration::from_millis(1_500),
        "ready took {ready_took:?}"
    );
    let create = s
        .owner_post("/v1/groups", json!({"name": "unlocked"}))
        .await?;
    create.assert_status(201);
    Ok(())
}
