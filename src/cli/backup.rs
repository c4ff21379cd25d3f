//! `coffer backup` and `coffer restore`: offline commands that work on the database file
//! directly (no HTTP, no HSM), so an operator can take a backup while `coffer serve` runs.
//! The copying itself is in [`crate::backup`]; this file finds the database the flags name.

use anyhow::bail;
use clap::Args;
use std::path::{Path, PathBuf};

/// Which database: a file, a `sqlite://` URL, or a dev data directory.
#[derive(Args)]
pub struct DatabaseLocation {
    /// The SQLite database: a file path or a `sqlite://PATH` URL.
    #[arg(long, env = "COFFER_DATABASE_URL", conflicts_with = "data_dir")]
    pub database: Option<PathBuf>,
    /// A `coffer serve --dev` data directory: its database is DIR/coffer.db.
    #[arg(long, env = "COFFER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub location: DatabaseLocation,
    /// The backup file to write. It must not exist; it is created readable by you only.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// A file written by `coffer backup`.
    #[arg(long)]
    pub from: PathBuf,
    /// Where the restored database goes; nothing may be there yet.
    #[command(flatten)]
    pub location: DatabaseLocation,
}

/// `coffer backup`: a consistent, checked copy of the database, safe while the server runs.
pub(super) fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let database = args.location.sqlite_file("pg_dump")?;
    let summary = crate::backup::backup(&database, &args.out)?;
    println!("backup written to {}: {summary}", args.out.display());
    Ok(())
}

/// `coffer restore`: puts a backup in place as the database of a new data directory.
pub(super) fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let database = args.location.sqlite_file("pg_restore")?;
    let summary = crate::backup::restore(&args.from, &database)?;
    println!("database restored to {}: {summary}", database.display());
    println!("start the server with the same HSM token (or a clone of it) and its PIN");
    Ok(())
}

impl DatabaseLocation {
    /// The SQLite file the flags name. A PostgreSQL URL is refused with the tool to use
    /// instead; the URL itself is not repeated, as it may carry a password.
    fn sqlite_file(&self, postgres_tool: &str) -> anyhow::Result<PathBuf> {
        match (&self.database, &self.data_dir) {
            (Some(database), _) => sqlite_path(database, postgres_tool),
            (None, Some(dir)) => Ok(crate::dev::DevLayout {
                data_dir: dir.clone(),
            }
            .database()),
            (None, None) => bail!(
                "say which database: --database PATH (or COFFER_DATABASE_URL), or --data-dir DIR (or COFFER_DATA_DIR)"
            ),
        }
    }
}

/// A file path as given, or the path inside a `sqlite:` URL (without its `?options`).
fn sqlite_path(database: &Path, postgres_tool: &str) -> anyhow::Result<PathBuf> {
    let Some(text) = database.to_str() else {
        return Ok(database.to_owned());
    };
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        bail!(
            "this is a PostgreSQL database: use {postgres_tool} as docs/backup.md describes, not coffer"
        );
    }
    let Some(rest) = text
        .strip_prefix("sqlite://")
        .or_else(|| text.strip_prefix("sqlite:"))
    else {
        return Ok(database.to_owned());
    };
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    if path.is_empty() || path == ":memory:" {
        bail!("{text} names no database file");
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_name_the_same_file() {
        for given in [
            "/var/lib/coffer/coffer.db",
            "sqlite:///var/lib/coffer/coffer.db",
            "sqlite:///var/lib/coffer/coffer.db?mode=rwc",
        ] {
            assert_eq!(
                sqlite_path(Path::new(given), "pg_dump").expect("a file"),
                Path::new("/var/lib/coffer/coffer.db")
            );
        }
        assert_eq!(
            sqlite_path(Path::new("sqlite://data/coffer.db"), "pg_dump").expect("a file"),
            Path::new("data/coffer.db")
        );
    }

    #[test]
    fn a_postgres_url_names_the_tool_and_not_the_password() {
        for url in [
            "postgres://u:hunter2@db/coffer",
            "postgresql://u:hunter2@db/c",
        ] {
            let refused = sqlite_path(Path::new(url), "pg_dump").expect_err("postgres");
            let message = refused.to_string();
            assert!(message.contains("pg_dump"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
