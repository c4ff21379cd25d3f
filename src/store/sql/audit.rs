//! The audit log: the event row written inside every mutation's transaction, the group
//! committer's writer (one per engine), and the activity feed.

use super::SqlStore;
use crate::ids::AccountId;
use crate::store::chain::{self, Link};
use crate::store::{
    ActivityFilter, AuditEvent, AuditLog, AuditWriter, AuthMethod, Database, Identity, Outcome,
    Severity, StoreError, StoredEvent,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

/// The one statement that stores an event, for both connections (pool and committer).
pub(super) const INSERT_EVENT: &str = "INSERT INTO audit_events (id, time, account_id, principal,
    auth_method, action, object, outcome, status, source_ip, request_id, credential, detail,
    identity, severity)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

/// The event's own columns, in the order of [`INSERT_EVENT`]'s binds.
pub(super) const EVENT_COLUMNS: &str = "id, time, account_id, principal, auth_method, action,
    object, outcome, status, source_ip, request_id, credential, detail, identity, severity";

/// The committer's insert: the event already linked into its chain.
pub(super) const INSERT_CHAINED_EVENT: &str = "INSERT INTO audit_events (id, time, account_id,
    principal, auth_method, action, object, outcome, status, source_ip, request_id, credential,
    detail, identity, severity, chain_seq, prev_hash, hash)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

/// Most unsealed events the committer chains in one batch (a backlog, such as the events of
/// a database written before the chain existed, is chained over several batches).
pub(super) const SEAL_BATCH: i64 = 2000;

/// Writes a mutation's event inside the mutation's own transaction.
pub(super) async fn insert_event(
    tx: &mut Transaction<'_, Any>,
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
        .bind(e.severity.as_str())
        .execute(&mut **tx)
        .await
        // Any failure to record, even a clash of event ids, leaves the change unwritten
        // and is retryable: it is never the caller's conflict.
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    Ok(())
}

impl FromRow<'_, AnyRow> for StoredEvent {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
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
                severity: super::named(r, "severity", Severity::parse)?,
                encrypt_usage: None,
                api_key_id: None,
            },
            link: link_of(r)?,
        })
    }
}

/// The chain columns of a row, all set or all NULL (not yet sealed).
fn link_of(r: &AnyRow) -> Result<Option<Link>, sqlx::Error> {
    let position: Option<i64> = r.try_get("chain_seq")?;
    let (Some(position), Some(prev), Some(hash)) = (
        position,
        r.try_get::<Option<Vec<u8>>, _>("prev_hash")?,
        r.try_get::<Option<Vec<u8>>, _>("hash")?,
    ) else {
        return Ok(None);
    };
    let digest = |bytes: Vec<u8>| {
        chain::Digest::try_from(bytes.as_slice()).map_err(|_| super::corrupt("hash".into()))
    };
    Ok(Some(Link {
        position,
        prev_hash: digest(prev)?,
        hash: digest(hash)?,
    }))
}

#[async_trait]
impl AuditLog for SqlStore {
    fn audit_writer(&self) -> Result<Box<dyn AuditWriter>, StoreError> {
        Ok(match &self.database {
            Database::Sqlite(path) => Box::new(super::sqlite::SqliteAuditWriter::open(path)?),
            Database::Postgres(url) => {
                Box::new(super::postgres::PostgresAuditWriter::new(url.clone()))
            }
        })
    }

    async fn events(
        &self,
        account_id: &AccountId,
        f: &ActivityFilter,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM audit_events WHERE account_id = $1
                   AND ($2 IS NULL OR time >= $3) AND ($4 IS NULL OR time < $5)
                   AND ($6 IS NULL OR principal = $7) AND ($8 IS NULL OR object = $9)
                   AND ($10 IS NULL OR action = $11) AND ($12 IS NULL OR outcome = $13)
                   AND ($14 IS NULL OR seq < $15)
                 ORDER BY seq DESC LIMIT $16",
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

    // ---- Reading the trail forward (see the block at the end of `store/audit.rs`) -------

    async fn events_after(
        &self,
        account_id: &AccountId,
        after: i64,
        f: &ActivityFilter,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM audit_events WHERE account_id = $1 AND chain_seq > $2
                   AND ($3 IS NULL OR time >= $4) AND ($5 IS NULL OR time < $6)
                   AND ($7 IS NULL OR principal = $8) AND ($9 IS NULL OR object = $10)
                   AND ($11 IS NULL OR action = $12) AND ($13 IS NULL OR outcome = $14)
                 ORDER BY chain_seq LIMIT $15",
            )
            .bind(account_id)
            .bind(after)
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
            .bind(i64::from(limit)),
        )
        .await
    }

    async fn latest_position(&self, account_id: &AccountId) -> Result<i64, StoreError> {
        // The head's length is the newest chained position; read without a lock, so a
        // batch committing now is simply read next time.
        let length: Option<i64> =
            sqlx::query_scalar("SELECT length FROM audit_chains WHERE chain = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(super::db_error)?;
        Ok(length.unwrap_or(0))
    }
}
