//! Alert rules and their webhook outbox, as stored.
//!
//! A rule says which audit events of an account go to which webhook. The outbox is durable
//! so that a restart loses no alert: the dispatcher enqueues one delivery per (event,
//! matching rule) in the transaction that moves the account's cursor, and the sender
//! claims due deliveries with a lease before it sends them. The signing secret of a rule is
//! never stored (only the salt it is derived from in the HSM).

use super::{AuditEvent, Severity, StoreError};
use crate::ids::{AccountId, AlertId, DeliveryId};
use async_trait::async_trait;

/// An alert rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub id: AlertId,
    pub account_id: AccountId,
    pub name: String,
    /// The webhook that receives the deliveries.
    pub url: String,
    /// Actions that trigger it: exact, or a prefix ending in `*`; empty matches every action.
    pub actions: Vec<String>,
    pub min_severity: Severity,
    pub enabled: bool,
    /// The salt the signing secret is derived from (not secret by itself: the derivation
    /// needs the HSM's key).
    pub salt: Vec<u8>,
    pub created_by: String,
    pub created_at: i64,
}

stored_names! {
    /// Where a delivery stands.
    pub enum DeliveryStatus {
        /// Waiting for its `next_at`.
        Pending => "pending",
        /// Claimed by a node until `lease_until`.
        Sending => "sending",
        Delivered => "delivered",
        /// Every attempt failed: the dead-letter list.
        Dead => "dead",
    }
}

/// One webhook delivery of one event to one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: DeliveryId,
    pub alert_id: AlertId,
    pub account_id: AccountId,
    /// The event's position in the account's trail.
    pub position: i64,
    /// The JSON body sent to the webhook (no secret: the event as the feed shows it).
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// Unix microseconds when the next attempt is due.
    pub next_at: i64,
    pub lease_until: Option<i64>,
    /// Why the last attempt failed (a status or a transport error, never a body).
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// The outcome of one attempt, as the sender writes it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered {
        at: i64,
    },
    /// Try again at `next_at`.
    Retry {
        next_at: i64,
        error: String,
    },
    /// The last attempt failed: into the dead-letter list.
    Dead {
        error: String,
    },
}

#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Stores a rule; starts the account's cursor at `start` if it has no rule yet, so the
    /// dispatcher matches only events from now on.
    async fn create_alert(
        &self,
        alert: &AlertRow,
        start: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn alerts(&self, account_id: &AccountId) -> Result<Vec<AlertRow>, StoreError>;
    async fn alert(
        &self,
        account_id: &AccountId,
        id: &AlertId,
    ) -> Result<Option<AlertRow>, StoreError>;
    /// Replaces the rule's settings (and salt); `Changed` if it is gone.
    async fn update_alert(&self, alert: &AlertRow, event: &AuditEvent) -> Result<(), StoreError>;
    /// Deletes the rule and its deliveries; answers whether it was there.
    async fn delete_alert(
        &self,
        account_id: &AccountId,
        id: &AlertId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Every account with a rule, with its cursor (disabled rules move it too: they do
    /// not alert later on what happened while they were off).
    async fn alert_cursors(&self) -> Result<Vec<(AccountId, i64)>, StoreError>;
    /// Inserts `deliveries` and moves the account's cursor from `from` to `to`, in one
    /// transaction, only if the cursor is still at `from`: answers false (nothing written)
    /// when another node moved it first.
    async fn enqueue_deliveries(
        &self,
        account_id: &AccountId,
        from: i64,
        to: i64,
        deliveries: &[DeliveryRow],
    ) -> Result<bool, StoreError>;
    /// Claims up to `limit` deliveries due at `now` (pending, or sending with an expired
    /// lease) until `lease_until`, counting the attempt.
    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
    /// Writes back one attempt's result, only while this claim (`lease_until`) holds.
    /// A move to the dead-letter list commits `event` with it.
    async fn finish_attempt(
        &self,
        id: &DeliveryId,
        lease_until: i64,
        result: &AttemptResult,
        event: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;
    /// The rule's deliveries, newest first, optionally of one status.
    async fn deliveries(
        &self,
        account_id: &AccountId,
        alert_id: &AlertId,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
    async fn delivery(
        &self,
        account_id: &AccountId,
        id: &DeliveryId,
    ) -> Result<Option<DeliveryRow>, StoreError>;
    /// Puts a dead delivery back in the queue (due at `now`, attempts reset); `Changed`
    /// if it is not dead.
    async fn retry_delivery(
        &self,
        account_id: &AccountId,
        id: &DeliveryId,
        now: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
}
