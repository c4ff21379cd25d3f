//! The PostgreSQL engine: one database shared by every node.
//!
//! Writes keep SQLite's guarantee that a transaction which reads and then writes sees no
//! other writer in between: each takes one transaction-scoped advisory lock first, so the
//! statements written for SQLite's single writer stay correct on PostgreSQL's concurrent
//! ones, across nodes. Only the store's management writes take it; the audit committer's
//! batches (events, nonce claims, usage counters) are safe without it and never wait on it.
//! The committer has its own connection and writes each batch in one statement (a
//! multi-row INSERT per table), committed with `synchronous_commit` on.

use super::db_error;
use crate::store::{AuditEvent, AuditWriter, Identity, NonceClaim, PostgresUrl, StoreError};
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::PgConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Transaction};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// The advisory lock every store write transaction holds ("coffer" in ASCII).
const WRITER_LOCK: i64 = 0x636f_6666_6572;

/// Connections per node: three nodes stay well under PostgreSQL's default of 100.
const POOL_SIZE: u32 = 16;

/// Opens the pool and applies the PostgreSQL migrations (sqlx serialises concurrent
/// migrators with its own lock, so nodes may start together).
pub(super) async fn open(url: &PostgresUrl, lock_timeout: Duration) -> Result<AnyPool, StoreError> {
    let timeout = format!("{}ms", lock_timeout.as_millis().max(1));
    let pool = AnyPoolOptions::new()
        .max_connections(POOL_SIZE)
        .after_connect(move |connection, _| Box::pin(configure(connection, timeout.clone())))
        .connect(url.expose())
        .await
        .map_err(db_error)?;
    sqlx::migrate!("./migrations/postgres")
        .run(&pool)
        .await
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    Ok(pool)
}

/// Every connection: a write waits at most `lock_timeout` for the writer lock or a row
/// lock; commits are durable whatever the server's default.
async fn configure(
    connection: &mut AnyConnection,
    lock_timeout: String,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('lock_timeout', $1, false), set_config('synchronous_commit', 'on', false)")
        .bind(lock_timeout)
        .execute(connection)
        .await?;
    Ok(())
}

/// A write transaction that holds the writer lock from its first statement.
pub(super) async fn begin(pool: &AnyPool) -> Result<Transaction<'static, Any>, StoreError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITER_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    Ok(tx)
}

/// The audit committer's connection. The committer is a plain thread, so the writer runs
/// its async driver on a runtime of its own, made on first use (inside that thread); a
/// failed batch drops the connection and the next one reconnects.
pub(super) struct PostgresAuditWriter {
    url: PostgresUrl,
    runtime: Option<tokio::runtime::Runtime>,
    connection: Option<PgConnection>,
}

impl PostgresAuditWriter {
    pub(super) fn new(url: PostgresUrl) -> Self {
        Self {
            url,
            runtime: None,
            connection: None,
        }
    }
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

impl AuditWriter for PostgresAuditWriter {
    fn append(
        &mut self,
        events: &[AuditEvent],
        claims: &[NonceClaim],
    ) -> Result<Vec<bool>, StoreError> {
        if self.runtime.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(unavailable)?;
            self.runtime = Some(runtime);
        }
        let runtime = self.runtime.as_ref().expect("made above");
        let url = &self.url;
        let slot = &mut self.connection;
        let result = runtime.block_on(async {
            if slot.is_none() {
                let mut connection = PgConnection::connect(url.expose())
                    .await
                    .map_err(unavailable)?;
                sqlx::query("SET synchronous_commit = on")
                    .execute(&mut connection)
                    .await
                    .map_err(unavailable)?;
                *slot = Some(connection);
            }
            let connection = slot.as_mut().expect("connected above");
            append_batch(connection, events, claims).await
        });
        if result.is_err() {
            self.connection = None;
        }
        result
    }
}

/// The batch in one statement (so one round trip and one commit): the nonce claims, the
/// events and the usage counters, each a data-modifying CTE over arrays. Answers, for each
/// claim in order, whether its nonce was fresh (the first claim of a nonce in the batch
/// wins, as a claim in an earlier batch would).
const APPEND_BATCH: &str = "WITH claimed AS (
        INSERT INTO machine_nonces (machine_id, nonce, expires_at)
        SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[])
        ON CONFLICT DO NOTHING RETURNING machine_id, nonce
    ), events AS (
        INSERT INTO audit_events (id, time, account_id, principal, auth_method, action, object,
            outcome, status, source_ip, request_id, credential, detail, identity, severity)
        SELECT * FROM UNNEST($4::text[], $5::int8[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::text[], $11::text[], $12::int8[], $13::text[], $14::text[],
            $15::text[], $16::text[], $17::text[], $18::text[])
    ), counted AS (
        UPDATE keyring_versions v SET encrypt_count = v.encrypt_count + u.n
        FROM UNNEST($19::text[], $20::int8[], $21::int8[]) AS u(keyring_id, version, n)
        WHERE v.keyring_id = u.keyring_id AND v.version = u.version
    ), used AS (
        UPDATE api_keys k SET last_used_at = u.at
        FROM UNNEST($22::text[], $23::int8[]) AS u(id, at) WHERE k.id = u.id
    )
    SELECT machine_id, nonce FROM claimed";

async fn append_batch(
    connection: &mut PgConnection,
    events: &[AuditEvent],
    claims: &[NonceClaim],
) -> Result<Vec<bool>, StoreError> {
    let text = |f: fn(&AuditEvent) -> Option<&str>| -> Vec<Option<&str>> {
        events.iter().map(f).collect()
    };
    let number = |f: fn(&AuditEvent) -> i64| -> Vec<i64> { events.iter().map(f).collect() };
    let usage = Usage::of(events);
    let inserted: Vec<(String, String)> = sqlx::query_as(APPEND_BATCH)
        .bind(
            claims
                .iter()
                .map(|c| c.machine_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(claims.iter().map(|c| c.nonce.as_str()).collect::<Vec<_>>())
        .bind(claims.iter().map(|c| c.expires_at).collect::<Vec<_>>())
        .bind(text(|e| Some(e.id.as_str())))
        .bind(number(|e| e.time))
        .bind(text(|e| e.account_id.as_deref()))
        .bind(text(|e| e.principal.as_deref()))
        .bind(text(|e| Some(e.auth_method.as_str())))
        .bind(text(|e| Some(e.action.as_str())))
        .bind(text(|e| e.object.as_deref()))
        .bind(text(|e| Some(e.outcome.as_str())))
        .bind(number(|e| i64::from(e.status)))
        .bind(text(|e| e.source_ip.as_deref()))
        .bind(text(|e| Some(e.request_id.as_str())))
        .bind(text(|e| e.credential.as_deref()))
        .bind(text(|e| e.detail.as_deref()))
        .bind(text(|e| e.identity.map(Identity::as_str)))
        .bind(text(|e| Some(e.severity.as_str())))
        .bind(usage.keyrings)
        .bind(usage.versions)
        .bind(usage.encrypts)
        .bind(usage.api_keys)
        .bind(usage.used_at)
        .fetch_all(connection)
        .await
        .map_err(unavailable)?;
    let mut unclaimed: HashSet<(String, String)> = inserted.into_iter().collect();
    Ok(claims
        .iter()
        .map(|c| unclaimed.remove(&(c.machine_id.to_string(), c.nonce.clone())))
        .collect())
}

/// The usage a batch's events carry, as columns: each keyring version's encrypt count and
/// each API key's last use, one row each however many events name it (rows in a fixed
/// order, so two writers never lock them crosswise).
struct Usage<'e> {
    keyrings: Vec<&'e str>,
    versions: Vec<i64>,
    encrypts: Vec<i64>,
    api_keys: Vec<&'e str>,
    used_at: Vec<i64>,
}

impl<'e> Usage<'e> {
    fn of(events: &'e [AuditEvent]) -> Self {
        let mut encrypts: BTreeMap<(&str, i64), i64> = BTreeMap::new();
        let mut used: BTreeMap<&str, i64> = BTreeMap::new();
        for event in events {
            if let Some((keyring, version)) = &event.encrypt_usage {
                *encrypts
                    .entry((keyring.as_str(), i64::from(*version)))
                    .or_default() += 1;
            }
            if let Some(key) = &event.api_key_id {
                used.insert(key.as_str(), event.time);
            }
        }
        let (rows, encrypts): (Vec<_>, Vec<i64>) = encrypts.into_iter().unzip();
        let (keyrings, versions) = rows.into_iter().unzip();
        let (api_keys, used_at) = used.into_iter().unzip();
        Usage {
            keyrings,
            versions,
            encrypts,
            api_keys,
            used_at,
        }
    }
}
