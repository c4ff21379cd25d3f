//! `coffer backup` and `coffer restore` end to end, with the real binary: the restore drill
//! (a backup taken while encrypt requests keep coming restores onto the same token with
//! every ciphertext decrypting and the audit trail as it was), and the refusals that keep a
//! backup or a database from being overwritten.

use crate::keyring_support::{decrypt, encrypt};
use crate::support::*;
use rusqlite::types::Value as Column;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// A ciphertext made through the API, with what opens it.
struct Sealed {
    ring: String,
    key: String,
    plaintext: Vec<u8>,
    context: Value,
    ciphertext: String,
    version: u64,
}

/// Runs the `coffer` binary with `args` and none of this process's `COFFER_` settings, so
/// only the flags say which database is meant.
async fn coffer(args: &[&str]) -> anyhow::Result<std::process::Output> {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("COFFER_")) {
            command.env_remove(name);
        }
    }
    Ok(command.args(args).output().await?)
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `coffer backup --data-dir DIR --out OUT`.
async fn backup_data_dir(dir: &Path, out: &Path) -> anyhow::Result<std::process::Output> {
    coffer(&["backup", "--data-dir", utf8(dir), "--out", utf8(out)]).await
}

/// Fails the test unless `output` is a refusal that names the existing `file`.
#[track_caller]
fn assert_refused_as_existing(output: &std::process::Output, file: &str) {
    let said = stderr(output);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains(file) && said.contains("already exists"),
        "{said}"
    );
}

async fn seal(s: &TestServer, key: &str, ring: &str, text: String) -> anyhow::Result<Sealed> {
    let context = json!({"drill": ring});
    let reply = encrypt(s, key, ring, text.as_bytes(), context.clone()).await?;
    anyhow::ensure!(
        reply.status == 200,
        "encrypt: {} {}",
        reply.status,
        reply.body
    );
    Ok(Sealed {
        ring: ring.to_owned(),
        key: key.to_owned(),
        plaintext: text.into_bytes(),
        context,
        ciphertext: reply.str("ciphertext"),
        version: reply.body["key_version"].as_u64().unwrap_or_default(),
    })
}

/// A keyring of `protection` with three ciphertexts under version 1 and three under 2.
async fn sealed_ring(s: &TestServer, protection: &str) -> anyhow::Result<Vec<Sealed>> {
    let ring = format!("drill-{protection}");
    let key = s.ready_keyring(&ring, protection).await?;
    let mut sealed = Vec::new();
    for version in ["before rotation", "after rotation"] {
        for n in 0..3 {
            sealed.push(seal(s, &key, &ring, format!("{ring} {version} #{n}")).await?);
        }
        if sealed.len() == 3 {
            let path = format!("/v1/keyrings/{ring}/rotate");
            s.post(&path, &key, json!({})).await?.assert_status(200);
        }
    }
    let versions: Vec<u64> = sealed.iter().map(|x| x.version).collect();
    assert_eq!(versions, [1, 1, 1, 2, 2, 2], "{ring}");
    Ok(sealed)
}

/// Encrypts under `like`'s keyring until `stop` is set: writes for the backup to race.
async fn seal_until(
    s: &TestServer,
    like: &Sealed,
    stop: &AtomicBool,
) -> anyhow::Result<Vec<Sealed>> {
    let mut sealed = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let text = format!("during the backup #{}", sealed.len());
        sealed.push(seal(s, &like.key, &like.ring, text).await?);
    }
    Ok(sealed)
}

/// The whole activity feed, oldest first.
async fn activity(s: &TestServer) -> anyhow::Result<Vec<Value>> {
    let mut events = Vec::new();
    let mut path = "/v1/activity?limit=1000".to_owned();
    loop {
        let page = s.get(&path, &s.owner_key).await?;
        anyhow::ensure!(page.status == 200, "activity: {}", page.body);
        events.extend(page.body["events"].as_array().cloned().unwrap_or_default());
        match page.body["next"].as_i64() {
            Some(next) => path = format!("/v1/activity?limit=1000&before={next}"),
            None => break,
        }
    }
    events.sort_by_key(|e| e["seq"].as_i64());
    Ok(events)
}

/// Every audit row of the database at `path` up to `last_seq`, read-only.
fn audit_rows(path: &Path, last_seq: i64) -> anyhow::Result<Vec<Vec<Column>>> {
    let db =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut query = db.prepare("SELECT * FROM audit_events WHERE seq <= ?1 ORDER BY seq")?;
    let width = query.column_count();
    let rows = query
        .query_map([last_seq], |row| (0..width).map(|i| row.get(i)).collect())?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Takes the backup with the real binary while encrypt requests keep coming; returns what
/// was sealed during it.
async fn backup_under_load(
    s: &TestServer,
    like: &Sealed,
    out: &Path,
) -> anyhow::Result<Vec<Sealed>> {
    let stop = AtomicBool::new(false);
    let database = s.dir.path().join("coffer.db");
    let backup = async {
        let output = coffer(&["backup", "--database", utf8(&database), "--out", utf8(out)]).await;
        stop.store(true, Ordering::SeqCst);
        output
    };
    let (output, during) = tokio::join!(backup, seal_until(s, like, &stop));
    let output = output?;
    assert!(
        output.status.success(),
        "coffer backup: {}",
        stderr(&output)
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("backup written to") && said.contains("integrity ok"),
        "{said}"
    );
    during
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_every_ciphertext_and_the_audit_trail() -> TestResult {
    let mut s = TestServer::start_on_sqlite().await?;
    let mut sealed = sealed_ring(&s, "envelope").await?;
    sealed.extend(sealed_ring(&s, "hsm").await?);
    // Committed before the backup starts, so the backup must hold all of it.
    let recorded = activity(&s).await?;
    let last_seq = recorded
        .last()
        .and_then(|e| e["seq"].as_i64())
        .unwrap_or_default();
    assert!(recorded.iter().any(|e| e["action"] == "keyring.create"));
    assert!(recorded.iter().any(|e| e["action"] == "keyring.encrypt"));

    let vault = tempfile::tempdir()?;
    let out = vault.path().join("coffer-backup.db");
    let during = backup_under_load(&s, &sealed[0], &out).await?;
    assert!(
        !during.is_empty(),
        "no encrypt request overlapped the backup"
    );
    sealed.extend(during);
    s.stop().await;
    let TestServer {
        token, owner_key, ..
    } = s;

    let restored = tempfile::tempdir()?;
    let database = restored.path().join("coffer.db");
    let output = coffer(&[
        "restore",
        "--from",
        utf8(&out),
        "--database",
        utf8(&database),
    ])
    .await?;
    assert!(
        output.status.success(),
        "coffer restore: {}",
        stderr(&output)
    );
    let s = TestServer::start_on(token, restored, owner_key).await?;

    for x in &sealed {
        let opened = decrypt(&s, &x.key, &x.ring, &x.ciphertext, x.context.clone()).await?;
        opened.assert_status(200);
        assert_eq!(unb64(&opened.str("plaintext")), x.plaintext, "{}", x.ring);
        assert_eq!(opened.body["key_version"].as_u64(), Some(x.version));
    }
    let after = activity(&s).await?;
    let before_backup: Vec<&Value> = after
        .iter()
        .filter(|e| e["seq"].as_i64() <= Some(last_seq))
        .collect();
    assert_eq!(before_backup, recorded.iter().collect::<Vec<_>>());
    // Row for row, whatever the feed shows or hides: the restored trail is the backup's.
    let backed_up = audit_rows(&out, i64::MAX)?;
    assert!(backed_up.len() >= recorded.len());
    let backed_up_seq = match backed_up.last().map(|row| &row[0]) {
        Some(Column::Integer(seq)) => *seq,
        other => anyhow::bail!("no audit seq in the backup: {other:?}"),
    };
    assert_eq!(audit_rows(&database, backed_up_seq)?, backed_up);
    Ok(())
}

#[tokio::test]
async fn a_backup_refuses_an_existing_file_and_leaves_it_untouched() -> TestResult {
    let s = TestServer::start_on_sqlite().await?;
    let out = s.dir.path().join("taken.db");
    std::fs::write(&out, b"an older backup")?;
    let output = backup_data_dir(s.dir.path(), &out).await?;
    assert_refused_as_existing(&output, "taken.db");
    assert_eq!(std::fs::read(&out)?, b"an older backup");
    // The same command with a free name works: the refusal was about the file alone.
    let free = s.dir.path().join("free.db");
    let output = backup_data_dir(s.dir.path(), &free).await?;
    assert!(output.status.success(), "{}", stderr(&output));
    Ok(())
}

#[tokio::test]
async fn a_restore_refuses_an_existing_database() -> TestResult {
    let mut s = TestServer::start_on_sqlite().await?;
    let out = s.dir.path().join("backup.db");
    let url = format!("sqlite://{}", utf8(&s.dir.path().join("coffer.db")));
    let output = coffer(&["backup", "--database", &url, "--out", utf8(&out)]).await?;
    assert!(output.status.success(), "{}", stderr(&output));
    s.stop().await;
    let before = std::fs::read(s.dir.path().join("coffer.db"))?;
    let output = coffer(&[
        "restore",
        "--from",
        utf8(&out),
        "--data-dir",
        utf8(s.dir.path()),
    ])
    .await?;
    assert_refused_as_existing(&output, "coffer.db");
    assert_eq!(std::fs::read(s.dir.path().join("coffer.db"))?, before);
    Ok(())
}

#[tokio::test]
async fn a_postgres_database_is_sent_to_pg_dump() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("backup.db");
    for url in [
        "postgres://coffer:secret@db.internal/coffer",
        "postgresql://db.internal/coffer",
    ] {
        let output = coffer(&["backup", "--database", url, "--out", utf8(&out)]).await?;
        assert!(!output.status.success());
        let said = stderr(&output);
        assert!(
            said.contains("pg_dump") && said.contains("docs/backup.md"),
            "{said}"
        );
        assert!(!said.contains("secret"), "{said}");
        assert_eq!(said.trim().lines().count(), 1, "{said}");
    }
    assert!(!out.exists());
    Ok(())
}
