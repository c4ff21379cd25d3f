//! [`Store`] on SQL: SQLite (one file, the embedded default) or PostgreSQL (one database
//! shared by several nodes), through one set of statements.
//!
//! The statements are written once, in the SQL both engines speak (`$n` binds, `ON
//! CONFLICT`, `RETURNING`, integers, text and bytes only), and run through sqlx's `Any`
//! driver. What differs per engine lives in [`sqlite`] and [`postgres`]: opening the pool,
//! the migrations, how a write transaction takes the single-writer lock, and the audit
//! committer's own connection.
//!
//! This module holds what the domain modules share: the one mapping from a database error
//! to a [`StoreError`] (with the table from a broken uniqueness rule to its [`Conflict`]),
//! the transactions that commit together with their audit event, and row-decoding helpers.

mod accounts;
mod ai_agents;
mod alerts;
mod approvals;
mod apps;
mod audit;
mod aws_credentials;
mod changes;
mod client_certs;
mod groups;
mod invitations;
mod jobs;
mod keyrings;
mod keys;
mod machines;
mod policies;
mod postgres;
mod secrets;
mod sessions;
mod shares;
mod sqlite;
mod templates;
mod trail;
mod users;

mod aws_kms;

use super::{AuditEvent, Conflict, Credential, Database, Store, StoreError};
use async_trait::async_trait;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyPool, FromRow, Row, Transaction};
use std::time::Duration;

/// The store on SQL.
pub struct SqlStore {
    pool: AnyPool,
    database: Database,
    /// PostgreSQL: the connection that listens for change-log notifications, made on
    /// first wait and again after it drops (see `changes.rs`).
    listener: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::postgres::PgListener>>>,
}

/// A statement with its binds.
type Query = sqlx::query::Query<'static, Any, AnyArguments>;
/// A query whose rows decode into `T`; it borrows its binds.
type QueryAs<'q, T> = sqlx::query::QueryAs<'q, Any, T, AnyArguments>;

/// The store's error for a failed statement: a broken uniqueness rule is the conflict it
/// stands for, a row decoder's refusal is a corrupt row, anything else means the database
/// is unavailable.
fn db_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(unique_conflict(db.constraint(), db.message()))
        }
        sqlx::Error::Decode(source) => match source.downcast::<StoreError>() {
            Ok(refused) => *refused,
            Err(other) => StoreError::Unavailable(Box::new(sqlx::Error::Decode(other))),
        },
        other => StoreError::Unavailable(Box::new(other)),
    }
}

/// What a broken uniqueness rule means. PostgreSQL names the rule (the unique index
/// `certificates_once`); SQLite names its table and columns in the message ("UNIQUE
/// constraint failed: certificates.key_id, certificates.fingerprint"). That is the one
/// such rule: every other one of the schema (the names of groups, apps, keyrings, keys and
/// trusted CAs in an account, a user's email, a membership) is a name taken.
fn unique_conflict(constraint: Option<&str>, message: &str) -> Conflict {
    let sqlite_columns = message.strip_prefix("UNIQUE constraint failed: ");
    if constraint == Some("certificates_once")
        || sqlite_columns == Some("certificates.key_id, certificates.fingerprint")
    {
        return Conflict::CertificateImported;
    }
    Conflict::NameTaken
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
fn u32_column(r: &AnyRow, column: &str) -> Result<u32, sqlx::Error> {
    to_u32(r.get(column), column)
}

/// A credential's record and, beside it, its `digest` column.
impl<'r, R: FromRow<'r, AnyRow>> FromRow<'r, AnyRow> for Credential<R> {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Credential {
            record: R::from_row(r)?,
            digest: r.try_get("digest")?,
        })
    }
}

/// A text column holding one of an enum's words; a word `parse` does not know is corrupt.
fn named<T>(
    r: &AnyRow,
    column: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, sqlx::Error> {
    known(column, r.get(column), parse).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// [`named`] for a column that may be NULL.
fn named_or_null<T>(
    r: &AnyRow,
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
fn flag(r: &AnyRow, column: &str) -> bool {
    r.get::<i64, _>(column) != 0
}

/// A JSON value (an array of strings, a map of flags or grants) kept in one text column.
fn json_column<T: serde::de::DeserializeOwned>(
    r: &AnyRow,
    column: &str,
    what: &str,
) -> Result<T, sqlx::Error> {
    serde_json::from_str(r.get::<&str, _>(column)).map_err(|_| corrupt(what.to_owned()))
}

/// [`json_column`] for a column that may be NULL.
fn json_or_null<T: serde::de::DeserializeOwned>(
    r: &AnyRow,
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

impl SqlStore {
    /// Opens the database (creating a SQLite file if needed) and applies the migrations. A
    /// write waits at most `lock_timeout` for another writer's lock before it fails: the
    /// service passes its audit bound, so a locked database costs a request one bounded
    /// wait.
    pub async fn open(database: &Database, lock_timeout: Duration) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let pool = match database {
            Database::Sqlite(path) => sqlite::open(path, lock_timeout).await?,
            Database::Postgres(url) => postgres::open(url, lock_timeout).await?,
        };
        Ok(Self {
            pool,
            database: database.clone(),
            listener: Default::default(),
        })
    }

    /// A write transaction holding the database's single-writer lock from its first
    /// statement: a transaction that reads and then writes sees no other writer between
    /// the two, on either engine (see [`sqlite::begin`] and [`postgres::begin`]).
    async fn begin(&self) -> Result<Transaction<'static, Any>, StoreError> {
        match self.database {
            Database::Sqlite(_) => sqlite::begin(&self.pool).await,
            Database::Postgres(_) => postgres::begin(&self.pool).await,
        }
    }

    /// At most one row of `query`, decoded.
    async fn fetch_optional<T>(&self, query: QueryAs<'_, T>) -> Result<Option<T>, StoreError>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        query.fetch_optional(&self.pool).await.map_err(db_error)
    }

    /// Every row of `query`, decoded.
    async fn fetch_all<T>(&self, query: QueryAs<'_, T>) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
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

/// Runs one statement inside a transaction; returns how many rows it changed.
async fn exec(tx: &mut Transaction<'_, Any>, statement: Query) -> Result<u64, StoreError> {
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
    mut tx: Transaction<'_, Any>,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    audit::insert_event(&mut tx, event).await?;
    commit(tx).await
}

async fn commit(tx: Transaction<'_, Any>) -> Result<(), StoreError> {
    tx.commit().await.map_err(db_error)
}

#[async_trait]
impl Store for SqlStore {
    async fn probe_write(&self, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        exec(
            &mut tx,
            sqlx::query(
                "INSERT INTO readiness_probe (id, checked_at) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
            )
            .bind(now),
        )
        .await?;
        commit(tx).await
    }

    async fn close(&self) {
        self.listener.lock().await.take();
        self.pool.close().await;
    }
}

/// What the SQL store's unit tests share: a store in a fresh SQLite file and an event.
#[cfg(test)]
mod testing {
    use super::SqlStore;
    use crate::store::{AuditEvent, AuthMethod, Database, Outcome};
    use std::time::Duration;

    /// A store on a new SQLite file in a temporary directory (kept alive by the caller).
    pub(super) async fn temporary_store() -> (tempfile::TempDir, SqlStore) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let database = Database::Sqlite(dir.path().join("coffer.db"));
        let store = SqlStore::open(&database, Duration::from_secs(2))
            .await
            .expect("store");
        (dir, store)
    }

    /// Account `acct_a` with its group `grp_g` (master key version 1), which the domain
    /// tests' rows belong to.
    pub(super) async fn account_and_group(store: &SqlStore) {
        sqlx::raw_sql(
            "INSERT INTO accounts (id, name, created_at) VALUES ('acct_a', 'a', 0);
             INSERT INTO security_groups (id, account_id, name, master_version, created_at)
                 VALUES ('grp_g', 'acct_a', 'g', 1, 0);",
        )
        .execute(&store.pool)
        .await
        .expect("an account and a group");
    }

    /// A successful `action` of account `acct_a`, answered with `status`.
    pub(super) fn event(action: &str, status: u16) -> AuditEvent {
        AuditEvent {
            id: "evt_test".into(),
            time: 1,
            account_id: Some("acct_a".into()),
            principal: None,
            auth_method: AuthMethod::None,
            action: action.into(),
            object: None,
            outcome: Outcome::Success,
            status,
            source_ip: None,
            request_id: "req_test".into(),
            credential: None,
            detail: None,
            identity: None,
            severity: crate::store::Severity::Info,
            encrypt_usage: None,
            api_key_id: None,
        }
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
            VALUES ($1, 'a', 'k', 1, x'00', '', 's', 'i', '1', 0, 1, '[]', '[]', 0, 'f', 0)";
        db.execute(certificate, ["c1"]).expect("first certificate");
        let again = unique_violation(&db, &certificate.replace('?', "'c2'"));
        assert_eq!(unique_conflict(None, &again), Conflict::CertificateImported);
        assert_eq!(
            unique_conflict(Some("certificates_once"), "duplicate key value"),
            Conflict::CertificateImported
        );

        let group = "INSERT INTO security_groups (id, account_id, name, master_version, created_at)
            VALUES ($1, 'a', 'ops', 1, 0)";
        db.execute(group, ["g1"]).expect("first group");
        let taken = unique_violation(&db, &group.replace('?', "'g2'"));
        assert_eq!(unique_conflict(None, &taken), Conflict::NameTaken);
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
