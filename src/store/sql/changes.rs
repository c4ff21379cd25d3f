//! [`ChangeLog`] on SQL. Both engines keep the entries in `cache_changes`; on PostgreSQL a
//! trigger on that table also sends a NOTIFY on [`CHANNEL`] when an entry commits
//! (`migrations/postgres/0002_cache_changes.sql`), so that waiting nodes read at once
//! instead of at their next poll. A lost notification (the listening connection dropped)
//! costs at most one poll interval: the table, not the notification, is what nodes read.

use super::{SqlStore, db_error};
use crate::store::{ChangeLog, ChangeRow, Database, StoreError};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::postgres::PgListener;
use sqlx::{FromRow, Row};
use std::time::Duration;

/// The PostgreSQL notification channel of the change log (named again in the trigger of
/// `migrations/postgres/0002_cache_changes.sql`).
const CHANNEL: &str = "coffer_changes";

impl FromRow<'_, AnyRow> for ChangeRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ChangeRow {
            seq: r.try_get("seq")?,
            change: r.try_get("change")?,
        })
    }
}

#[async_trait]
impl ChangeLog for SqlStore {
    async fn publish_change(&self, at: i64, change: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO cache_changes (at, change) VALUES ($1, $2)")
            .bind(at)
            .bind(change)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn last_change(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM cache_changes")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn changes_after(&self, seq: i64) -> Result<Vec<ChangeRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as("SELECT seq, change FROM cache_changes WHERE seq > $1 ORDER BY seq")
                .bind(seq),
        )
        .await
    }

    async fn wait_for_changes(&self, max_wait: Duration) {
        let Database::Postgres(url) = &self.database else {
            tokio::time::sleep(max_wait).await;
            return;
        };
        let mut listener = self.listener.lock().await;
        if listener.is_none() {
            *listener = listen(url.expose()).await;
        }
        let Some(connected) = listener.as_mut() else {
            // No notifications for now: poll, and try to listen again next time.
            tokio::time::sleep(max_wait).await;
            return;
        };
        match tokio::time::timeout(max_wait, connected.try_recv()).await {
            Ok(Ok(Some(_))) | Err(_) => {}
            // The connection dropped (`None`) or failed: notifications sent meanwhile are
            // lost, which the caller's read of the table makes up for.
            Ok(Ok(None)) | Ok(Err(_)) => *listener = None,
        }
    }

    async fn prune_changes(&self, cutoff: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM cache_changes WHERE at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await
            .map_err(db_error)?
            .rows_affected())
    }
}

/// A connection listening on [`CHANNEL`], or `None` when the server cannot be reached.
async fn listen(url: &str) -> Option<PgListener> {
    let mut listener = PgListener::connect(url).await.ok()?;
    listener.listen(CHANNEL).await.ok()?;
    Some(listener)
}
