//! The SQLite engine: one file in WAL mode, durable at every commit, one writer at a time
//! (the file's own lock), and the audit committer's synchronous connection.

use super::audit::{EVENT_COLUMNS, INSERT_CHAINED_EVENT, SEAL_BATCH};
use super::db_error;
use crate::store::chain::{self, Heads};
use crate::store::{
    AuditEvent, AuditWriter, AuthMethod, EventsGiven, Identity, NonceClaim, Outcome, Severity,
    StoreError,
};
use rusqlite::OptionalExtension;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// Opens (creating if needed) the file and applies the SQLite migrations.
pub(super) async fn open(path: &Path, busy_timeout: Duration) -> Result<AnyPool, StoreError> {
    let busy_ms = busy_timeout.as_millis().min(i64::MAX as u128) as i64;
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(move |connection, _| Box::pin(configure(connection, busy_ms)))
        .after_release(|connection, _| Box::pin(still_usable(connection)))
        .connect(&url(path))
        .await
        .map_err(db_error)?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    Ok(pool)
}

/// The URL of a file, created if missing; characters a URL gives a meaning are escaped.
fn url(path: &Path) -> String {
    let mut escaped = String::new();
    for c in path.display().to_string().chars() {
        match c {
            '%' | '?' | '#' => escaped.push_str(&format!("%{:02X}", c as u32)),
            c => escaped.push(c),
        }
    }
    format!("sqlite://{escaped}?mode=rwc")
}

/// Every connection: wait for a writer's lock at most `busy_ms`; WAL so readers never
/// block the writer; FULL so every commit is durable (the audit guarantee depends on it);
/// foreign keys enforced.
async fn configure(connection: &mut AnyConnection, busy_ms: i64) -> Result<(), sqlx::Error> {
    // PRAGMA takes no bind; the timeout is a number we formatted, nothing from outside.
    connection
        .execute(sqlx::AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {busy_ms}"
        )))
        .await?;
    for pragma in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA foreign_keys = ON",
    ] {
        connection.execute(pragma).await?;
    }
    Ok(())
}

/// A write transaction. IMMEDIATE takes the write lock up front: a deferred transaction
/// that reads and then writes can fail at once with "database is locked" when another
/// writer (the audit committer) got in between.
pub(super) async fn begin(pool: &AnyPool) -> Result<Transaction<'static, Any>, StoreError> {
    pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)
}

/// Whether a connection coming back to the pool can serve the next caller. A transaction
/// whose COMMIT failed (disk full, file made read-only) may already have been rolled back by
/// SQLite itself; sqlx's own ROLLBACK then fails and the connection believes it is still
/// inside a transaction, refusing every later BEGIN. Such a connection is closed instead
/// of being reused, so writes recover as soon as the storage does.
async fn still_usable(connection: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if !connection.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction queued its ROLLBACK; a round trip lets the worker run it first.
    connection.ping().await?;
    Ok(!connection.is_in_transaction())
}

/// The audit committer's own connection: synchronous, one prepared statement per row, one
/// fsync per batch.
pub(super) struct SqliteAuditWriter {
    connection: rusqlite::Connection,
}

fn writer_error(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

impl SqliteAuditWriter {
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
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
        claims: &[NonceClaim],
        events: EventsGiven<'_>,
    ) -> Result<Vec<bool>, StoreError> {
        let tx = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(writer_error)?;
        let fresh = claim_nonces(&tx, claims)?;
        let events = &events(&fresh);
        let unsealed = unsealed_events(&tx)?;
        let touched = chain::chains_of(unsealed.iter().map(|(_, e)| e).chain(events));
        let mut heads = load_heads(&tx, &touched)?;
        seal_events(&tx, &unsealed, &mut heads)?;
        insert_events(&tx, events, &mut heads)?;
        store_heads(&tx, heads)?;
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
            "INSERT INTO machine_nonces (machine_id, nonce, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
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

/// Events that mutations wrote in their own transactions, not chained yet, oldest first.
fn unsealed_events(tx: &rusqlite::Transaction<'_>) -> Result<Vec<(i64, AuditEvent)>, StoreError> {
    let mut select = tx
        .prepare_cached(&format!(
            "SELECT seq, {EVENT_COLUMNS} FROM audit_events WHERE chain_seq IS NULL
             ORDER BY seq LIMIT {SEAL_BATCH}"
        ))
        .map_err(writer_error)?;
    let rows = select
        .query_map([], |row| Ok((row.get::<_, i64>(0)?, event_of(row)?)))
        .map_err(writer_error)?;
    rows.collect::<Result<_, _>>().map_err(writer_error)
}

/// An event read back by [`unsealed_events`] (column 0 is `seq`).
fn event_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEvent> {
    fn named<T>(
        row: &rusqlite::Row<'_>,
        i: usize,
        parse: fn(&str) -> Option<T>,
    ) -> rusqlite::Result<T> {
        let text: String = row.get(i)?;
        parse(&text)
            .ok_or_else(|| rusqlite::Error::InvalidColumnType(i, text, rusqlite::types::Type::Text))
    }
    let status: i64 = row.get(9)?;
    let identity: Option<String> = row.get(14)?;
    Ok(AuditEvent {
        id: row.get(1)?,
        time: row.get(2)?,
        account_id: row.get::<_, Option<String>>(3)?.map(Into::into),
        principal: row.get(4)?,
        auth_method: named(row, 5, AuthMethod::parse)?,
        action: row.get(6)?,
        object: row.get(7)?,
        outcome: named(row, 8, Outcome::parse)?,
        status: u16::try_from(status).unwrap_or(u16::MAX),
        source_ip: row.get(10)?,
        request_id: row.get(11)?,
        credential: row.get(12)?,
        detail: row.get(13)?,
        identity: identity.as_deref().and_then(Identity::parse),
        severity: named(row, 15, Severity::parse)?,
        encrypt_usage: None,
        api_key_id: None,
    })
}

/// The current heads of `chains` (a chain without a row starts empty).
fn load_heads(tx: &rusqlite::Transaction<'_>, chains: &[String]) -> Result<Heads, StoreError> {
    let mut select = tx
        .prepare_cached("SELECT length, head FROM audit_chains WHERE chain = $1")
        .map_err(writer_error)?;
    let mut stored = Vec::with_capacity(chains.len());
    for chain in chains {
        let head = select
            .query_row([chain], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
            })
            .optional()
            .map_err(writer_error)?;
        if let Some((length, head)) = head {
            let head = chain::Digest::try_from(head.as_slice())
                .map_err(|_| StoreError::Corrupt(format!("audit chain head of {chain}")))?;
            stored.push((chain.clone(), length, head));
        }
    }
    Ok(Heads::new(stored))
}

/// Chains the mutations' events, in the order they were written.
fn seal_events(
    tx: &rusqlite::Transaction<'_>,
    unsealed: &[(i64, AuditEvent)],
    heads: &mut Heads,
) -> Result<(), StoreError> {
    let mut seal = tx
        .prepare_cached(
            "UPDATE audit_events SET chain_seq = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
        )
        .map_err(writer_error)?;
    for (seq, event) in unsealed {
        let link = heads.link(event);
        seal.execute(rusqlite::params![
            link.position,
            link.prev_hash,
            link.hash,
            seq
        ])
        .map_err(writer_error)?;
    }
    Ok(())
}

fn insert_events(
    tx: &rusqlite::Transaction<'_>,
    events: &[AuditEvent],
    heads: &mut Heads,
) -> Result<(), StoreError> {
    let mut insert = tx
        .prepare_cached(INSERT_CHAINED_EVENT)
        .map_err(writer_error)?;
    for e in events {
        let link = heads.link(e);
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
                e.identity.map(Identity::as_str),
                e.severity.as_str(),
                link.position,
                link.prev_hash,
                link.hash
            ])
            .map_err(writer_error)?;
    }
    Ok(())
}

fn store_heads(tx: &rusqlite::Transaction<'_>, heads: Heads) -> Result<(), StoreError> {
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO audit_chains (chain, length, head) VALUES ($1, $2, $3)
             ON CONFLICT (chain) DO UPDATE SET length = excluded.length, head = excluded.head",
        )
        .map_err(writer_error)?;
    for (chain, length, head) in heads.into_sorted() {
        upsert
            .execute(rusqlite::params![chain, length, head])
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
            "UPDATE keyring_versions SET encrypt_count = encrypt_count + $1
             WHERE keyring_id = $2 AND version = $3",
        )
        .map_err(writer_error)?;
    for ((keyring, version), n) in encrypts {
        count
            .execute(rusqlite::params![n, keyring, i64::from(version)])
            .map_err(writer_error)?;
    }
    let mut used = tx
        .prepare_cached("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .map_err(writer_error)?;
    for (key, at) in used_keys {
        used.execute(rusqlite::params![at, key])
            .map_err(writer_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{event, temporary_store};
    use crate::store::{AuditLog, NonceClaim};

    fn claim(nonce: &str) -> NonceClaim {
        NonceClaim {
            machine_id: "app_m".into(),
            nonce: nonce.into(),
            expires_at: i64::MAX,
        }
    }

    #[tokio::test]
    async fn the_writer_claims_first_and_writes_the_events_the_answers_choose() {
        let (_dir, store) = temporary_store().await;
        let mut writer = store.audit_writer().expect("writer");
        let mut asked = Vec::new();
        let fresh = writer
            .append(&[claim("a"), claim("b"), claim("a")], &mut |fresh| {
                asked = fresh.to_vec();
                let chosen = if fresh[1] { "used.b" } else { "replayed.b" };
                vec![event(chosen, 200)]
            })
            .expect("first batch");
        // The first claim of a nonce in a batch wins, as one in an earlier batch would.
        assert_eq!(fresh, [true, true, false]);
        assert_eq!(asked, fresh);
        let fresh = writer
            .append(&[claim("b"), claim("c")], &mut |_| {
                vec![event("second", 200)]
            })
            .expect("second batch");
        assert_eq!(fresh, [false, true]);

        let actions: Vec<String> =
            sqlx::query_scalar("SELECT action FROM audit_events ORDER BY seq")
                .fetch_all(&store.pool)
                .await
                .expect("events");
        assert_eq!(actions, ["used.b", "second"]);
    }
}
