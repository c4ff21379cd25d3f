//! The audit log on SQLite: the event row written inside every mutation's transaction,
//! the group committer's own synchronous writer, and the activity feed.

use super::SqliteStore;
use crate::ids::AccountId;
use crate::store::{
    ActivityFilter, AuditEvent, AuditLog, AuditWriter, AuthMethod, Identity, NonceClaim, Outcome,
    StoreError, StoredEvent,
};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row, Sqlite, Transaction};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// The one statement that stores an event, for both connections (pool and committer).
const INSERT_EVENT: &str = "INSERT INTO audit_events (id, time, account_id, principal,
    auth_method, action, object, outcome, status, source_ip, request_id, credential, detail,
    identity)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Writes a mutation's event inside the mutation's own transaction.
pub(super) async fn insert_event(
    tx: &mut Transaction<'_, Sqlite>,
    e: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_EVENT)
        .bind(&e.id)
        .bind(e.time)
        .bind(&e.account_id)
        .bind(&e.principal)
        .bind(e.auth_method.as_str())
        .bind(&e.action)
        .bind(&e.object)
        .bind(e.outcome.as_str())
        .bind(i64::from(e.status))
        .bind(&e.source_ip)
        .bind(&e.request_id)
        .bind(&e.credential)
        .bind(&e.detail)
        .bind(e.identity.map(Identity::as_str))
        .execute(&mut **tx)
        .await
        // Any failure to record, even a clash of event ids, leaves the change unwritten
        // and is retryable: it is never the caller's conflict.
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    Ok(())
}

impl FromRow<'_, SqliteRow> for StoredEvent {
    fn from_row(r: &SqliteRow) -> Result<Self, sqlx::Error> {
        let status = u16::try_from(r.get::<i64, _>("status"))
            .map_err(|_| super::corrupt("status".into()))?;
        Ok(StoredEvent {
            seq: r.get("seq"),
            event: AuditEvent {
                id: r.get("id"),
                time: r.get("time"),
                account_id: r.get("account_id"),
                principal: r.get("principal"),
                auth_method: super::named(r, "auth_method", AuthMethod::parse)?,
                action: r.get("action"),
                object: r.get("object"),
                outcome: super::named(r, "outcome", Outcome::parse)?,
                status,
                source_ip: r.get("source_ip"),
                request_id: r.get("request_id"),
                credential: r.get("credential"),
                detail: r.get("detail"),
                identity: super::named_or_null(r, "identity", Identity::parse)?,
                encrypt_usage: None,
                api_key_id: None,
            },
        })
    }
}

#[async_trait]
impl AuditLog for SqliteStore {
    fn audit_writer(&self) -> Result<Box<dyn AuditWriter>, StoreError> {
        Ok(Box::new(SqliteAuditWriter::open(&self.path)?))
    }

    async fn events(
        &self,
        account_id: &AccountId,
        f: &ActivityFilter,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM audit_events WHERE account_id = ?
                   AND (? IS NULL OR time >= ?) AND (? IS NULL OR time < ?)
                   AND (? IS NULL OR principal = ?) AND (? IS NULL OR object = ?)
                   AND (? IS NULL OR action = ?) AND (? IS NULL OR outcome = ?)
                   AND (? IS NULL OR seq < ?)
                 ORDER BY seq DESC LIMIT ?",
            )
            .bind(account_id)
            .bind(f.since)
            .bind(f.since)
            .bind(f.until)
            .bind(f.until)
            .bind(&f.principal)
            .bind(&f.principal)
            .bind(&f.object)
            .bind(&f.object)
            .bind(&f.action)
            .bind(&f.action)
            .bind(f.outcome.map(Outcome::as_str))
            .bind(f.outcome.map(Outcome::as_str))
            .bind(f.before_seq)
            .bind(f.before_seq)
            .bind(i64::from(f.limit)),
        )
        .await
    }
}

/// The audit committer's own connection: synchronous, one prepared statement per row, one
/// fsync per batch.
struct SqliteAuditWriter {
    connection: rusqlite::Connection,
}

fn writer_error(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

impl SqliteAuditWriter {
    fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = rusqlite::Connection::open(path).map_err(writer_error)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(writer_error)?;
        // WAL is a property of the file (set by the pool); FULL makes every commit durable.
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(writer_error)?;
        Ok(Self { connection })
    }
}

impl AuditWriter for SqliteAuditWriter {
    fn append(
        &mut self,
        events: &[AuditEvent],
        claims: &[NonceClaim],
    ) -> Result<Vec<bool>, StoreError> {
        let tx = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(writer_error)?;
        let fresh = claim_nonces(&tx, claims)?;
        insert_events(&tx, events)?;
        count_usage(&tx, events)?;
        tx.commit().map_err(writer_error)?;
        Ok(fresh)
    }
}

/// Inserts the claims; answers, for each in order, whether its nonce was fresh.
fn claim_nonces(
    tx: &rusqlite::Transaction<'_>,
    claims: &[NonceClaim],
) -> Result<Vec<bool>, StoreError> {
    let mut claim = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO machine_nonces (machine_id, nonce, expires_at) VALUES (?, ?, ?)",
        )
        .map_err(writer_error)?;
    claims
        .iter()
        .map(|c| {
            claim
                .execute(rusqlite::params![
                    c.machine_id.as_str(),
                    c.nonce,
                    c.expires_at
                ])
                .map(|inserted| inserted == 1)
                .map_err(writer_error)
        })
        .collect()
}

fn insert_events(tx: &rusqlite::Transaction<'_>, events: &[AuditEvent]) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(INSERT_EVENT).map_err(writer_error)?;
    for e in events {
        insert
            .execute(rusqlite::params![
                e.id,
                e.time,
                e.account_id.as_deref(),
                e.principal,
                e.auth_method.as_str(),
                e.action,
                e.object,
                e.outcome.as_str(),
                i64::from(e.status),
                e.source_ip,
                e.request_id,
                e.credential,
                e.detail,
                e.identity.map(Identity::as_str)
            ])
            .map_err(writer_error)?;
    }
    Ok(())
}

/// Applies the usage the events carry: one update per keyring version (its encrypt count)
/// and per API key (its last use), however many events of the batch name it.
fn count_usage(tx: &rusqlite::Transaction<'_>, events: &[AuditEvent]) -> Result<(), StoreError> {
    let mut encrypts: HashMap<(&str, u32), i64> = HashMap::new();
    let mut used_keys: HashMap<&str, i64> = HashMap::new();
    for event in events {
        if let Some((keyring, version)) = &event.encrypt_usage {
            *encrypts.entry((keyring.as_str(), *version)).or_default() += 1;
        }
        if let Some(key) = &event.api_key_id {
            used_keys.insert(key.as_str(), event.time);
        }
    }
    let mut count = tx
        .prepare_cached(
            "UPDATE keyring_versions SET encrypt_count = encrypt_count + ?
             WHERE keyring_id = ? AND version = ?",
        )
        .map_err(writer_error)?;
    for ((keyring, version), n) in encrypts {
        count
            .execute(rusqlite::params![n, keyring, i64::from(version)])
            .map_err(writer_error)?;
    }
    let mut used = tx
        .prepare_cached("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
        .map_err(writer_error)?;
    for (key, at) in used_keys {
        used.execute(rusqlite::params![at, key])
            .map_err(writer_error)?;
    }
    Ok(())
}
