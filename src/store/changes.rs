//! The change log: what every node must forget from its caches when one node changes
//! something (an API key disabled, an app regrouped, a keyring rotated). Each node keeps
//! verified callers and keyring metadata in memory; the database is the one place all
//! nodes share, so a change is appended here and every node reads what it has not seen.
//! The entries are opaque to the store: the service writes and reads them.

use super::StoreError;
use async_trait::async_trait;
use std::time::Duration;

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    /// Increases with every entry.
    pub seq: i64,
    pub change: String,
}

#[async_trait]
pub trait ChangeLog: Send + Sync {
    /// Appends `change` and wakes the nodes waiting in [`ChangeLog::wait_for_changes`].
    async fn publish_change(&self, at: i64, change: &str) -> Result<(), StoreError>;
    /// The newest entry's number (0 when the log is empty).
    async fn last_change(&self) -> Result<i64, StoreError>;
    /// The entries after `seq`, oldest first.
    async fn changes_after(&self, seq: i64) -> Result<Vec<ChangeRow>, StoreError>;
    /// Returns when another node may have published (PostgreSQL: a notification came),
    /// and at the latest after `max_wait` (SQLite always waits that long: its nodes poll).
    async fn wait_for_changes(&self, max_wait: Duration);
    /// Forgets entries written before `cutoff`; answers how many went.
    async fn prune_changes(&self, cutoff: i64) -> Result<u64, StoreError>;
}
