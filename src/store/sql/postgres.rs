//! The PostgreSQL engine: one database shared by every node.
//!
//! Writes keep SQLite's guarantee that a transaction which reads and then writes sees no
//! other writer in between: each takes one transaction-scoped advisory lock first, so the
//! statements written for SQLite's single writer stay correct on PostgreSQL's concurrent
//! ones, across nodes. Only the store's management writes take it; the audit committer's
//! batches (events, nonce claims, usage counters) are safe without it and never wait on it.
//! The committer has its own connection and writes each batch in one statement (a
//! multi-row INSERT per table), committed with `synchronous_commit` on.

use super::audit::{EVENT_COLUMNS, SEAL_BATCH};
use super::db_error;
use crate::store::chain::{self, Heads, Link};
use crate::store::{
    AuditEvent, AuditWriter, AuthMethod, EventsGiven, Identity, NonceClaim, Outcome, PostgresUrl,
    Severity, StoreError,
};
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::PgConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Row, Transaction};
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
        claims: &[NonceClaim],
        events: EventsGiven<'_>,
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
            append_batch(connection, claims, events).await
        });
        if result.is_err() {
            self.connection = None;
        }
        result
    }
}

/// The batch in one transaction: the nonce claims first (their answers choose some of the
/// events), then the chain heads the events touch are locked (sorted, so two nodes'
/// committers never lock them crosswise; mutations never lock them), the events that
/// mutations wrote unsealed since are chained, and one statement writes the rest.
async fn append_batch(
    connection: &mut PgConnection,
    claims: &[NonceClaim],
    events: EventsGiven<'_>,
) -> Result<Vec<bool>, StoreError> {
    let mut tx = connection.begin().await.map_err(unavailable)?;
    let fresh = claim_nonces(&mut tx, claims).await?;
    let events = &events(&fresh);
    let candidates = unsealed_events(&mut tx).await?;
    let touched = chain::chains_of(candidates.iter().map(|(_, e)| e).chain(events));
    let mut heads = lock_heads(&mut tx, &touched).await?;
    let unsealed = still_unsealed(&mut tx, candidates).await?;
    let sealed: Vec<(i64, Link)> = unsealed
        .iter()
        .map(|(seq, event)| (*seq, heads.link(event)))
        .collect();
    let links: Vec<Link> = events.iter().map(|e| heads.link(e)).collect();
    write_batch(&mut tx, events, &links, &sealed, heads).await?;
    tx.commit().await.map_err(unavailable)?;
    Ok(fresh)
}

/// Inserts the claims (in a fixed order, so two nodes' committers claiming the same nonces
/// never wait on each other crosswise); answers, for each in the given order, whether its
/// nonce was fresh. A claim that another transaction holds uncommitted waits for it.
async fn claim_nonces(
    tx: &mut PgConnection,
    claims: &[NonceClaim],
) -> Result<Vec<bool>, StoreError> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let inserted: Vec<(String, String)> = sqlx::query_as(
        "INSERT INTO machine_nonces (machine_id, nonce, expires_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[]) ORDER BY 1, 2
         ON CONFLICT DO NOTHING RETURNING machine_id, nonce",
    )
    .bind(
        claims
            .iter()
            .map(|c| c.machine_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(claims.iter().map(|c| c.nonce.as_str()).collect::<Vec<_>>())
    .bind(claims.iter().map(|c| c.expires_at).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await
    .map_err(unavailable)?;
    let mut unclaimed: HashSet<(String, String)> = inserted.into_iter().collect();
    Ok(claims
        .iter()
        .map(|c| unclaimed.remove(&(c.machine_id.to_string(), c.nonce.clone())))
        .collect())
}

/// Candidates for sealing, read without a lock; [`still_unsealed`] re-reads them once the
/// heads are locked, since another node's committer may have chained them meanwhile.
async fn unsealed_events(tx: &mut PgConnection) -> Result<Vec<(i64, AuditEvent)>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT seq, {EVENT_COLUMNS} FROM audit_events WHERE chain_seq IS NULL
         ORDER BY seq LIMIT {SEAL_BATCH}"
    )))
    .fetch_all(&mut *tx)
    .await
    .map_err(unavailable)?;
    rows.iter()
        .map(|row| {
            let seq: i64 = row.try_get("seq").map_err(unavailable)?;
            Ok((seq, event_of(row)?))
        })
        .collect()
}

fn event_of(row: &sqlx::postgres::PgRow) -> Result<AuditEvent, StoreError> {
    fn named<T>(
        row: &sqlx::postgres::PgRow,
        column: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        let text: String = row.try_get(column).map_err(unavailable)?;
        parse(&text).ok_or_else(|| StoreError::Corrupt(format!("audit event {column}")))
    }
    let text = |column: &str| -> Result<Option<String>, StoreError> {
        row.try_get(column).map_err(unavailable)
    };
    let status: i64 = row.try_get("status").map_err(unavailable)?;
    Ok(AuditEvent {
        id: row.try_get("id").map_err(unavailable)?,
        time: row.try_get("time").map_err(unavailable)?,
        account_id: text("account_id")?.map(Into::into),
        principal: text("principal")?,
        auth_method: named(row, "auth_method", AuthMethod::parse)?,
        action: row.try_get("action").map_err(unavailable)?,
        object: text("object")?,
        outcome: named(row, "outcome", Outcome::parse)?,
        status: u16::try_from(status)
            .map_err(|_| StoreError::Corrupt("audit event status".into()))?,
        source_ip: text("source_ip")?,
        request_id: row.try_get("request_id").map_err(unavailable)?,
        credential: text("credential")?,
        detail: text("detail")?,
        identity: text("identity")?.as_deref().and_then(Identity::parse),
        severity: named(row, "severity", Severity::parse)?,
        encrypt_usage: None,
        api_key_id: None,
    })
}

/// Locks the heads of `chains` (creating missing ones), in sorted order.
async fn lock_heads(tx: &mut PgConnection, chains: &[String]) -> Result<Heads, StoreError> {
    sqlx::query(
        "INSERT INTO audit_chains (chain, length, head) SELECT c, 0, $2 FROM UNNEST($1::text[]) c
         ON CONFLICT DO NOTHING",
    )
    .bind(chains)
    .bind(&chain::GENESIS[..])
    .execute(&mut *tx)
    .await
    .map_err(unavailable)?;
    let rows: Vec<(String, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT chain, length, head FROM audit_chains WHERE chain = ANY($1)
         ORDER BY chain FOR UPDATE",
    )
    .bind(chains)
    .fetch_all(&mut *tx)
    .await
    .map_err(unavailable)?;
    let heads = rows
        .into_iter()
        .map(|(chain, length, head)| {
            let head = chain::Digest::try_from(head.as_slice())
                .map_err(|_| StoreError::Corrupt(format!("audit chain head of {chain}")))?;
            Ok((chain, length, head))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Heads::new(heads))
}

async fn still_unsealed(
    tx: &mut PgConnection,
    candidates: Vec<(i64, AuditEvent)>,
) -> Result<Vec<(i64, AuditEvent)>, StoreError> {
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let seqs: Vec<i64> = candidates.iter().map(|(seq, _)| *seq).collect();
    let open: HashSet<i64> = sqlx::query_scalar(
        "SELECT seq FROM audit_events WHERE seq = ANY($1) AND chain_seq IS NULL",
    )
    .bind(&seqs)
    .fetch_all(&mut *tx)
    .await
    .map_err(unavailable)?
    .into_iter()
    .collect();
    Ok(candidates
        .into_iter()
        .filter(|(seq, _)| open.contains(seq))
        .collect())
}

/// One statement (so one round trip): the events, the seals, the heads and the usage
/// counters, each a data-modifying CTE over arrays.
const APPEND_BATCH: &str = "WITH events AS (
        INSERT INTO audit_events (id, time, account_id, principal, auth_method, action, object,
            outcome, status, source_ip, request_id, credential, detail, identity, severity,
            chain_seq, prev_hash, hash)
        SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[],
            $6::text[], $7::text[], $8::text[], $9::int8[], $10::text[], $11::text[],
            $12::text[], $13::text[], $14::text[], $15::text[], $21::int8[], $22::bytea[],
            $23::bytea[])
    ), counted AS (
        UPDATE keyring_versions v SET encrypt_count = v.encrypt_count + u.n
        FROM UNNEST($16::text[], $17::int8[], $18::int8[]) AS u(keyring_id, version, n)
        WHERE v.keyring_id = u.keyring_id AND v.version = u.version
    ), used AS (
        UPDATE api_keys k SET last_used_at = u.at
        FROM UNNEST($19::text[], $20::int8[]) AS u(id, at) WHERE k.id = u.id
    ), sealed AS (
        UPDATE audit_events a SET chain_seq = u.position, prev_hash = u.prev, hash = u.hash
        FROM UNNEST($24::int8[], $25::int8[], $26::bytea[], $27::bytea[])
            AS u(seq, position, prev, hash)
        WHERE a.seq = u.seq
    ), heads AS (
        UPDATE audit_chains c SET length = u.length, head = u.head
        FROM UNNEST($28::text[], $29::int8[], $30::bytea[]) AS u(chain, length, head)
        WHERE c.chain = u.chain
    )
    SELECT 1";

async fn write_batch(
    tx: &mut PgConnection,
    events: &[AuditEvent],
    links: &[Link],
    sealed: &[(i64, Link)],
    heads: Heads,
) -> Result<(), StoreError> {
    let text = |f: fn(&AuditEvent) -> Option<&str>| -> Vec<Option<&str>> {
        events.iter().map(f).collect()
    };
    let number = |f: fn(&AuditEvent) -> i64| -> Vec<i64> { events.iter().map(f).collect() };
    let usage = Usage::of(events);
    let heads = heads.into_sorted();
    sqlx::query(APPEND_BATCH)
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
        .bind(links.iter().map(|l| l.position).collect::<Vec<_>>())
        .bind(
            links
                .iter()
                .map(|l| l.prev_hash.to_vec())
                .collect::<Vec<_>>(),
        )
        .bind(links.iter().map(|l| l.hash.to_vec()).collect::<Vec<_>>())
        .bind(sealed.iter().map(|(seq, _)| *seq).collect::<Vec<_>>())
        .bind(sealed.iter().map(|(_, l)| l.position).collect::<Vec<_>>())
        .bind(
            sealed
                .iter()
                .map(|(_, l)| l.prev_hash.to_vec())
                .collect::<Vec<_>>(),
        )
        .bind(
            sealed
                .iter()
                .map(|(_, l)| l.hash.to_vec())
                .collect::<Vec<_>>(),
        )
        .bind(heads.iter().map(|h| h.0.as_str()).collect::<Vec<_>>())
        .bind(heads.iter().map(|h| h.1).collect::<Vec<_>>())
        .bind(heads.iter().map(|h| h.2.to_vec()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
    Ok(())
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
