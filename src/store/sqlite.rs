//! [`Store`] on SQLite (WAL), the embedded default.
//!
//! This module opens the pool and applies the migrations, and holds what the statements
//! of every domain module share: the one mapping from a database error to a
//! [`StoreError`] (with the table from a broken uniqueness rule to its [`Conflict`]), the
//! transactions that commit together with their audit event, and row-decoding helpers.

mod accounts;
mod apps;
mod audit;
mod client_certs;
mod groups;
mod keyrings;
mod keys;
mod machines;
mod sessions;
mod users;

use super::{AuditEvent, Conflict, Credential, Store, StoreError};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{FromRow, Row, Sqlite, SqlitePool, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// SQLite-backed store. One file; WAL so readers never block the writer.
pub struct SqliteStore {
    pool: SqlitePool,
    path: std::path::PathBuf,
}

/// A statement with its binds.
type Query = sqlx::query::Query<'static, Sqlite, SqliteArguments>;
/// A query whose rows decode into `T`; it borrows its binds.
type QueryAs<'q, T> = sqlx::query::QueryAs<'q, Sqlite, T, SqliteArguments>;

/// The store's error for a failed statement: a broken uniqueness rule is the conflict it
/// stands for, a row decoder's refusal is a corrupt row, anything else means the database
/// is unavailable.
fn db_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(unique_conflict(db.message()))
        }
        sqlx::Error::Decode(source) => match source.downcast::<StoreError>() {
            Ok(refused) => *refused,
            Err(other) => StoreError::Unavailable(Box::new(sqlx::Error::Decode(other))),
        },
        other => StoreError::Unavailable(Box::new(other)),
    }
}

/// What a broken uniqueness rule means, by the table and columns SQLite names in its
/// message ("UNIQUE constraint failed: certificates.key_id, certificates.fingerprint").
/// The one such table: every other rule of the schema (the names of groups, apps, keyrings,
/// keys and trusted CAs in an account, a user's email, a membership) is a name taken.
fn unique_conflict(message: &str) -> Conflict {
    let columns = message
        .strip_prefix("UNIQUE constraint failed: ")
        .unwrap_or(message);
    match columns {
        "certificates.key_id, certificates.fingerprint" => Conflict::CertificateImported,
        _ => Conflict::NameTaken,
    }
}

/// A row decoder's refusal of a stored value it cannot represent; [`db_error`] turns it
/// back into [`StoreError::Corrupt`].
fn corrupt(what: String) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(StoreError::Corrupt(what)))
}

/// A stored integer that must fit in 32 unsigned bits (versions, counters, durations).
fn to_u32(value: i64, column: &str) -> Result<u32, sqlx::Error> {
    u32::try_from(value).map_err(|_| corrupt(format!("{column} out of range")))
}

/// An unsigned 32-bit column.
fn u32_column(r: &SqliteRow, column: &str) -> Result<u32, sqlx::Error> {
    to_u32(r.get(column), column)
}

/// A credential's record and, beside it, its `digest` column.
impl<'r, R: FromRow<'r, SqliteRow>> FromRow<'r, SqliteRow> for Credential<R> {
    fn from_row(r: &'r SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Credential {
            record: R::from_row(r)?,
            digest: r.try_get("digest")?,
        })
    }
}

/// A text column holding one of an enum's words; a word `parse` does not know is corrupt.
fn named<T>(
    r: &SqliteRow,
    column: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, sqlx::Error> {
    known(column, r.get(column), parse).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// [`named`] for a column that may be NULL.
fn named_or_null<T>(
    r: &SqliteRow,
    column: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, sqlx::Error> {
    r.get::<Option<&str>, _>(column)
        .map(|word| known(column, word, parse))
        .transpose()
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// The variant a stored `word` of `column` stands for; a word `parse` does not know is a
/// corrupt row.
fn known<T>(
    column: &str,
    word: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(word).ok_or_else(|| StoreError::Corrupt(format!("{column} {word:?} is not known")))
}

/// A boolean column, stored as 0 or 1.
fn flag(r: &SqliteRow, column: &str) -> bool {
    r.get::<i64, _>(column) != 0
}

/// A JSON value (an array of strings, a map of flags or grants) kept in one text column.
fn json_column<T: serde::de::DeserializeOwned>(
    r: &SqliteRow,
    column: &str,
    what: &str,
) -> Result<T, sqlx::Error> {
    serde_json::from_str(r.get::<&str, _>(column)).map_err(|_| corrupt(what.to_owned()))
}

/// [`json_column`] for a column that may be NULL.
fn json_or_null<T: serde::de::DeserializeOwned>(
    r: &SqliteRow,
    column: &str,
    what: &str,
) -> Result<Option<T>, sqlx::Error> {
    r.get::<Option<&str>, _>(column)
        .map(|text| serde_json::from_str(text).map_err(|_| corrupt(what.to_owned())))
        .transpose()
}

/// The text of a JSON column: maps and lists of strings and booleans always serialize.
fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("maps and lists of strings serialize")
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies the migrations. A write
    /// waits at most `busy_timeout` for another writer's lock before it fails: the service
    /// passes its audit bound, so a locked database costs a request one bounded wait.
    pub async fn open(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(db_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable at every commit: the audit guarantee depends on it.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .after_release(|connection, _| Box::pin(still_usable(connection)))
            .connect_with(options)
            .await
            .map_err(db_error)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        Ok(Self {
            pool,
            path: path.to_path_buf(),
        })
    }

    /// A write transaction. IMMEDIATE takes the write lock up front: a deferred transaction
    /// that reads and then writes can fail at once with "database is locked" when another
    /// writer (the audit committer) got in between.
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)
    }

    /// At most one row of `query`, decoded.
    async fn fetch_optional<T>(&self, query: QueryAs<'_, T>) -> Result<Option<T>, StoreError>
    where
        T: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        query.fetch_optional(&self.pool).await.map_err(db_error)
    }

    /// Every row of `query`, decoded.
    async fn fetch_all<T>(&self, query: QueryAs<'_, T>) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        query.fetch_all(&self.pool).await.map_err(db_error)
    }

    /// One statement and its audit event, in one transaction.
    async fn write_audited(&self, statement: Query, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        exec(&mut tx, statement).await?;
        commit_audited(tx, event).await
    }

    /// One statement that must change a row (or the write is refused with `conflict`),
    /// and its audit event, in one transaction.
    async fn change_audited(
        &self,
        statement: Query,
        conflict: Conflict,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        must_change(exec(&mut tx, statement).await?, conflict)?;
        commit_audited(tx, event).await
    }

    /// One statement and, only if it changed a row, its audit event: a removal of
    /// something already gone is no change to record. Answers whether it changed one.
    async fn change_audited_if_any(
        &self,
        statement: Query,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        if exec(&mut tx, statement).await? == 0 {
            return Ok(false);
        }
        commit_audited(tx, event).await?;
        Ok(true)
    }

    /// Removes what was trashed before `cutoff`, in one transaction: `labels` (bound with
    /// `cutoff`) selects the token labels of the keys that go, for the caller to destroy;
    /// then each of `deletes` runs with `cutoff`.
    async fn purge(
        &self,
        labels: &'static str,
        deletes: &[&'static str],
        cutoff: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin().await?;
        let labels: Vec<String> = sqlx::query_scalar(labels)
            .bind(cutoff)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        for statement in deletes {
            exec(&mut tx, sqlx::query(*statement).bind(cutoff)).await?;
        }
        commit(tx).await?;
        Ok(labels)
    }
}

/// Whether a connection coming back to the pool can serve the next caller. A transaction
/// whose COMMIT failed (disk full, file made read-only) may already have been rolled back by
/// SQLite itself; sqlx's own ROLLBACK then fails and the connection believes it is still
/// inside a transaction, refusing every later BEGIN. Such a connection is closed instead
/// of being reused, so writes recover as soon as the storage does.
async fn still_usable(connection: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if !connection.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction queued its ROLLBACK; a round trip lets the worker run it first.
    connection.ping().await?;
    Ok(!connection.is_in_transaction())
}

/// Runs one statement inside a transaction; returns how many rows it changed.
async fn exec(tx: &mut Transaction<'_, Sqlite>, statement: Query) -> Result<u64, StoreError> {
    Ok(statement
        .execute(&mut **tx)
        .await
        .map_err(db_error)?
        .rows_affected())
}

/// A statement that had to change a row changed none: another write came first.
fn must_change(changed: u64, conflict: Conflict) -> Result<(), StoreError> {
    if changed == 0 {
        return Err(StoreError::Conflict(conflict));
    }
    Ok(())
}

/// Writes the audit event into the transaction and commits both: a change that cannot be
/// recorded does not happen.
async fn commit_audited(
    mut tx: Transaction<'_, Sqlite>,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    audit::insert_event(&mut tx, event).await?;
    commit(tx).await
}

async fn commit(tx: Transaction<'_, Sqlite>) -> Result<(), StoreError> {
    tx.commit().await.map_err(db_error)
}

#[async_trait]
impl Store for SqliteStore {
    async fn probe_write(&self, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        exec(
            &mut tx,
            sqlx::query("INSERT OR REPLACE INTO readiness_probe (id, checked_at) VALUES (1, ?)")
                .bind(now),
        )
        .await?;
        commit(tx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The database's own message for a statement that breaks a uniqueness rule.
    fn unique_violation(db: &rusqlite::Connection, sql: &str) -> String {
        match db.execute_batch(sql) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("{sql} was accepted"),
        }
    }

    /// The mapping reads SQLite's real messages for the schema's rules.
    #[test]
    fn broken_uniqueness_rules_map_to_their_conflicts() {
        let db = rusqlite::Connection::open_in_memory().expect("in-memory database");
        for migration in [
            include_str!("../../migrations/sqlite/0001_core.sql"),
            include_str!("../../migrations/sqlite/0002_asymmetric_keys.sql"),
            include_str!("../../migrations/sqlite/0003_identity.sql"),
        ] {
            db.execute_batch(migration).expect("migration");
        }
        // Only the uniqueness rules are under test: no parent rows.
        db.pragma_update(None, "foreign_keys", "OFF")
            .expect("foreign keys off");
        let certificate = "INSERT INTO certificates (id, account_id, key_id, key_version, der,
            chain_pem, subject, issuer, serial, not_before, not_after, subject_alt_names,
            key_usage, is_ca, fingerprint, created_at)
            VALUES (?, 'a', 'k', 1, x'00', '', 's', 'i', '1', 0, 1, '[]', '[]', 0, 'f', 0)";
        db.execute(certificate, ["c1"]).expect("first certificate");
        let again = unique_violation(&db, &certificate.replace('?', "'c2'"));
        assert_eq!(unique_conflict(&again), Conflict::CertificateImported);

        let group = "INSERT INTO security_groups (id, account_id, name, master_version, created_at)
            VALUES (?, 'a', 'ops', 1, 0)";
        db.execute(group, ["g1"]).expect("first group");
        let taken = unique_violation(&db, &group.replace('?', "'g2'"));
        assert_eq!(unique_conflict(&taken), Conflict::NameTaken);
    }

    /// The conflicts' messages are the API's 409 messages: they do not change.
    #[test]
    fn conflict_messages_are_the_api_messages() {
        assert_eq!(Conflict::NameTaken.to_string(), "name taken");
        assert_eq!(
            Conflict::ProvenElsewhere.to_string(),
            "this certificate is already registered with a proof of possession in another \
             account; only the holder of its private key could have done that, and a \
             certificate is proven in one account at a time"
        );
        assert_eq!(
            StoreError::Conflict(Conflict::TokenUnusable).to_string(),
            "conflict: the token is used up, expired or disabled"
        );
    }
}
