//! Backups of the SQLite database, and putting one back in place.
//!
//! The database holds everything Coffer knows except the keys themselves: wrapped key
//! material, metadata, the audit trail and credential digests. Copying the file with `cp`
//! while a server runs can catch a half-written page or miss what still sits in the WAL, so
//! a backup is taken with SQLite's `VACUUM INTO`: one read transaction, hence a consistent
//! snapshot, written as a single compact file with no WAL beside it, while the server keeps
//! writing.
//!
//! A backup is only worth keeping if it opens, so every copy is checked (`PRAGMA
//! integrity_check`, Coffer's migration table) under a temporary name in the destination's
//! directory, and only then given its final name: a failed or interrupted backup never
//! leaves a half file where the operator expects a good one. Copies are made readable by
//! their owner only, like the database itself.

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags};
use std::fmt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long to wait for a lock the server holds (a checkpoint, say) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a checked copy holds: the line an operator reads after a backup or a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The newest migration applied to the copy.
    pub schema_version: i64,
    pub keyring_versions: i64,
    pub audit_events: i64,
    /// The sequence number of the newest audit event, if there is any.
    pub last_audit_seq: Option<i64>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "integrity ok, schema version {}, {} keyring versions, {} audit events",
            self.schema_version, self.keyring_versions, self.audit_events
        )?;
        match self.last_audit_seq {
            Some(seq) => write!(f, " (last seq {seq})"),
            None => Ok(()),
        }
    }
}

/// Writes a consistent, checked copy of the SQLite database at `database` to `out`, which
/// must not exist yet. Safe while a server is writing to `database`.
pub fn backup(database: &Path, out: &Path) -> anyhow::Result<Summary> {
    refuse_existing(out, "backup file")?;
    if !database.is_file() {
        bail!("there is no database file at {}", database.display());
    }
    copy_checked(database, out)
        .with_context(|| format!("backup of {} to {}", database.display(), out.display()))
}

/// Puts the backup `from` in place as the database `database` of a new data directory.
/// Refuses when a database (or its WAL) is already there: a restore never overwrites.
pub fn restore(from: &Path, database: &Path) -> anyhow::Result<Summary> {
    refuse_existing(database, "database")?;
    refuse_existing(&sibling(database, "-wal"), "database WAL")?;
    check(from).with_context(|| format!("{} is not a usable backup", from.display()))?;
    if let Some(parent) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    copy_checked(from, database)
        .with_context(|| format!("restore of {} to {}", from.display(), database.display()))
}

fn refuse_existing(path: &Path, what: &str) -> anyhow::Result<()> {
    if path.symlink_metadata().is_ok() {
        bail!(
            "the {what} {} already exists; Coffer does not overwrite it: choose another name or move it away",
            path.display()
        );
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name, as SQLite names its `-wal` file.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Copies `source` into a private temporary file beside `dest`, checks the copy, and gives
/// it the name `dest` only if the check passed.
fn copy_checked(source: &Path, dest: &Path) -> anyhow::Result<Summary> {
    let partial = Partial::create(dest)?;
    vacuum_into(source, &partial.path)?;
    std::fs::File::open(&partial.path)?.sync_all()?;
    let summary = check(&partial.path).context("the copy failed its check")?;
    partial.persist(dest)?;
    Ok(summary)
}

/// `VACUUM INTO` runs in one read transaction of `source`: the copy is a snapshot even while
/// the server commits, and it includes what is still in the WAL.
fn vacuum_into(source: &Path, target: &Path) -> anyhow::Result<()> {
    let db = open_read_only(source)?;
    let target = target
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", target.display()))?;
    db.execute("VACUUM INTO ?1", [target])
        .with_context(|| format!("cannot copy {}", source.display()))?;
    Ok(())
}

/// Opens without SQLite's URI parsing, so a file name is only ever a file name.
fn open_read_only(path: &Path) -> anyhow::Result<Connection> {
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", path.display()))?;
    db.busy_timeout(BUSY_TIMEOUT)?;
    Ok(db)
}

/// Checks that `path` is a sound SQLite file holding Coffer's tables, and counts them.
fn check(path: &Path) -> anyhow::Result<Summary> {
    let db = open_read_only(path)?;
    let integrity: Vec<String> = db
        .prepare("PRAGMA integrity_check")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    if integrity != ["ok"] {
        bail!("integrity check failed: {}", integrity.join("; "));
    }
    for table in ["_sqlx_migrations", "keyring_versions", "audit_events"] {
        let found: bool = db.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [table],
            |row| row.get(0),
        )?;
        if !found {
            bail!("not a Coffer database: it has no {table} table");
        }
    }
    summarise(&db)
}

fn summarise(db: &Connection) -> anyhow::Result<Summary> {
    let schema_version = db.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        [],
        |row| row.get(0),
    )?;
    let keyring_versions = db.query_row("SELECT COUNT(*) FROM keyring_versions", [], |row| {
        row.get(0)
    })?;
    let (audit_events, last_audit_seq) =
        db.query_row("SELECT COUNT(*), MAX(seq) FROM audit_events", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    Ok(Summary {
        schema_version,
        keyring_versions,
        audit_events,
        last_audit_seq,
    })
}

/// A private, empty file beside the destination that the copy is written into; removed
/// unless [`Partial::persist`] gave it its final name.
struct Partial {
    path: PathBuf,
}

impl Partial {
    fn create(dest: &Path) -> anyhow::Result<Self> {
        let name = dest
            .file_name()
            .with_context(|| format!("{} does not name a file", dest.display()))?;
        let dir = match dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) => parent,
            None => Path::new("."),
        };
        // Absolute, so the name handed to SQLite can never read as a `file:` URI.
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot use the directory {}", dir.display()))?;
        let mut partial_name = std::ffi::OsString::from(".");
        partial_name.push(name);
        partial_name.push(format!(".partial-{}", std::process::id()));
        let path = dir.join(partial_name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let partial = Self { path };
        // The umask may have taken more than the group and other bits; the owner needs both.
        std::fs::set_permissions(&partial.path, std::fs::Permissions::from_mode(0o600))?;
        Ok(partial)
    }

    /// Gives the checked copy the name `dest`. A hard link, unlike `rename`, fails when
    /// `dest` appeared in the meantime instead of replacing it.
    fn persist(self, dest: &Path) -> anyhow::Result<()> {
        std::fs::hard_link(&self.path, dest)
            .with_context(|| format!("cannot name the checked copy {}", dest.display()))?;
        if let Some(dir) = self.path.parent() {
            // The new name is durable once its directory is.
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database shaped like Coffer's where it matters here, in WAL mode like the server's,
    /// with the connection left open (as a running server would).
    fn coffer_like(path: &Path) -> Connection {
        let db = Connection::open(path).expect("a new database");
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE _sqlx_migrations (version INTEGER PRIMARY KEY, success BOOLEAN NOT NULL);
             INSERT INTO _sqlx_migrations VALUES (1, 1), (7, 1);
             CREATE TABLE keyring_versions (keyring_id TEXT, version INTEGER);
             INSERT INTO keyring_versions VALUES ('k', 1), ('k', 2);
             CREATE TABLE audit_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT);
             INSERT INTO audit_events (action) VALUES ('a'), ('b'), ('c');",
        )
        .expect("the schema");
        db
    }

    /// A directory holding a live `coffer_like` database, and the database's path.
    fn live_database() -> (tempfile::TempDir, Connection, PathBuf) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database = dir.path().join("coffer.db");
        let server = coffer_like(&database);
        (dir, server, database)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn a_backup_holds_what_is_still_in_the_wal_and_is_private() {
        let (dir, _server, database) = live_database();
        let out = dir.path().join("backup.db");
        let summary = backup(&database, &out).expect("a backup");
        assert_eq!(
            summary,
            Summary {
                schema_version: 7,
                keyring_versions: 2,
                audit_events: 3,
                last_audit_seq: Some(3),
            }
        );
        assert_eq!(mode(&out), 0o600);
        assert!(!sibling(&out, "-wal").exists());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("a listing")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.to_string_lossy().contains("partial")),
            "{names:?}"
        );
    }

    #[test]
    fn a_backup_never_overwrites() {
        let (dir, _server, database) = live_database();
        let out = dir.path().join("backup.db");
        std::fs::write(&out, b"keep me").expect("a file");
        let refused = backup(&database, &out).expect_err("an existing output");
        assert!(refused.to_string().contains("backup.db"), "{refused}");
        assert_eq!(std::fs::read(&out).expect("the file"), b"keep me");
    }

    #[test]
    fn a_copy_of_something_else_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .and_then(|db| db.execute_batch("CREATE TABLE t (x)"))
            .expect("another database");
        let out = dir.path().join("backup.db");
        let refused = backup(&other, &out).expect_err("not a Coffer database");
        assert!(
            format!("{refused:#}").contains("_sqlx_migrations"),
            "{refused:#}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("a listing").count(), 1);
    }

    #[test]
    fn a_restore_refuses_a_database_or_wal_in_place_and_restores_into_a_new_directory() {
        let (dir, _server, database) = live_database();
        let out = dir.path().join("backup.db");
        backup(&database, &out).expect("a backup");
        assert!(restore(&out, &database).is_err());
        let target = dir.path().join("new/coffer.db");
        std::fs::create_dir_all(dir.path().join("new")).expect("a directory");
        std::fs::write(sibling(&target, "-wal"), b"").expect("a stray WAL");
        let refused = restore(&out, &target).expect_err("a WAL in place");
        assert!(refused.to_string().contains("coffer.db-wal"), "{refused}");
        std::fs::remove_file(sibling(&target, "-wal")).expect("removed");
        let restored = restore(&out, &target).expect("a restore");
        assert_eq!(restored.audit_events, 3);
        assert_eq!(mode(&target), 0o600);
    }

    #[test]
    fn a_damaged_backup_is_not_restored() {
        let (dir, _server, database) = live_database();
        let out = dir.path().join("backup.db");
        backup(&database, &out).expect("a backup");
        let mut bytes = std::fs::read(&out).expect("the backup");
        bytes.truncate(bytes.len() / 2);
        let damaged = dir.path().join("damaged.db");
        std::fs::write(&damaged, bytes).expect("a damaged copy");
        let target = dir.path().join("restored.db");
        restore(&damaged, &target).expect_err("a damaged backup");
        assert!(!target.exists());
    }
}
