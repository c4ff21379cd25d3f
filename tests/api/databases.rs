//! The database under a test server. `scripts/test.sh` runs the suite twice: first on
//! SQLite (a file in the test's directory), then with `COFFER_TEST_POSTGRES` set to the
//! admin URL of a throwaway PostgreSQL cluster, where every test server gets a database
//! of its own. Tests that look at rows or files go through these helpers, so the same
//! test checks the same thing on both engines.

use crate::support::TestServer;
use coffer::store::Database;
use sqlx::{AnyPool, Connection, Executor};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The admin URL of the PostgreSQL cluster of this run, if the suite runs on PostgreSQL.
fn postgres_admin() -> Option<String> {
    std::env::var("COFFER_TEST_POSTGRES").ok()
}

/// The database of a new test server in `dir`: a SQLite file there, or a new PostgreSQL
/// database of the run's cluster.
pub async fn test_database(dir: &Path) -> anyhow::Result<Database> {
    let Some(admin) = postgres_admin() else {
        return Ok(Database::Sqlite(dir.join("coffer.db")));
    };
    static MADE: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "coffer_{}_{}_{}",
        std::process::id(),
        MADE.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos()
    );
    let mut connection = sqlx::PgConnection::connect(&admin).await?;
    // A name made above from digits and underscores: nothing from outside.
    connection
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    let (server, _) = admin
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("COFFER_TEST_POSTGRES has no database part"))?;
    format!("{server}/{name}")
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))
}

/// The URL `coffer --database` takes for `database`.
pub fn url_of(database: &Database) -> String {
    match database {
        Database::Sqlite(path) => format!("sqlite://{}", path.display()),
        Database::Postgres(url) => url.expose().to_owned(),
    }
}

impl TestServer {
    /// The server's database as `--database` takes it.
    pub fn database_url(&self) -> String {
        url_of(&self.database)
    }

    /// A pool straight to the server's database, for tests that inspect rows (`$1` binds
    /// work on both engines).
    pub async fn db(&self) -> anyhow::Result<AnyPool> {
        sqlx::any::install_default_drivers();
        Ok(AnyPool::connect(&self.database_url()).await?)
    }

    /// The files on disk that hold the server's data: the SQLite file and its journals, or
    /// the PostgreSQL cluster's write-ahead log and the files of the server's database.
    pub async fn database_files(&self) -> anyhow::Result<Vec<PathBuf>> {
        match &self.database {
            Database::Sqlite(path) => Ok(["", "-wal", "-shm"]
                .iter()
                .map(|suffix| PathBuf::from(format!("{}{suffix}", path.display())))
                .collect()),
            Database::Postgres(_) => self.postgres_files().await,
        }
    }

    async fn postgres_files(&self) -> anyhow::Result<Vec<PathBuf>> {
        let db = self.db().await?;
        let (data, oid): (String, String) = sqlx::query_as(
            "SELECT current_setting('data_directory'), \
             CAST((SELECT oid FROM pg_database WHERE datname = current_database()) AS TEXT)",
        )
        .fetch_one(&db)
        .await?;
        sqlx::query("CHECKPOINT").execute(&db).await?;
        let data = PathBuf::from(data);
        let mut files = Vec::new();
        for dir in [data.join("base").join(oid), data.join("pg_wal")] {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                if entry.file_type()?.is_file() {
                    files.push(entry.path());
                }
            }
        }
        Ok(files)
    }

    /// Makes every insert into the audit table fail from now on, as a broken audit
    /// storage would.
    pub async fn break_audit_table(&self) -> anyhow::Result<()> {
        let db = self.db().await?;
        let statements: &[&str] = match self.database {
            Database::Sqlite(_) => &["CREATE TRIGGER audit_down BEFORE INSERT ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'audit down'); END"],
            Database::Postgres(_) => &[
                "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'audit down'; END $$",
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION audit_down()",
            ],
        };
        for statement in statements {
            db.execute(*statement).await?;
        }
        Ok(())
    }

    /// Undoes [`TestServer::break_audit_table`].
    pub async fn mend_audit_table(&self) -> anyhow::Result<()> {
        let statement = match self.database {
            Database::Sqlite(_) => "DROP TRIGGER audit_down",
            Database::Postgres(_) => "DROP TRIGGER audit_down ON audit_events",
        };
        self.db().await?.execute(statement).await?;
        Ok(())
    }
}
