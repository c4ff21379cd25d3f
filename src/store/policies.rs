//! Rows and persistence of access policies: the policies of a group, their bindings to
//! secrets, keyrings and keys, and the counters every node shares when it enforces them.
//!
//! The axes of a policy are a JSON document only the service reads; the store keeps it as
//! text, with the TTL's fixed end beside it as a column for the maintenance sweep. Counters
//! change only through [`PolicyStore::record_policy_use`], one transaction whose capped
//! increments either all happen or none does, so two nodes never let more uses through
//! than a cap allows and a refused use consumes nothing.

use super::{AuditEvent, StoreError};
use crate::ids::{AccountId, GroupId};
use async_trait::async_trait;

/// A policy as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    pub id: String,
    pub account_id: AccountId,
    pub group_id: GroupId,
    pub name: String,
    pub description: Option<String>,
    /// The axes, as the service serialized them.
    pub rules: String,
    /// The TTL's fixed end (Unix microseconds), if the policy has one.
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A policy bound to one object (`secret`, `keyring` or `key`), by the object's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyBindingRow {
    pub policy_id: String,
    pub account_id: AccountId,
    pub object_kind: String,
    pub object_id: String,
    pub object_name: String,
    pub created_at: i64,
}

/// A capped counter of one use: the window's axis (`minute`, `day`, `uses`), its start,
/// and the count it may not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CappedCount {
    pub axis: &'static str,
    pub window_start: i64,
    pub cap: u64,
}

/// Everything one allowed use of a bound object counts, under one policy.
#[derive(Debug, Clone)]
pub struct PolicyUse {
    pub policy_id: String,
    pub account_id: AccountId,
    pub object_kind: String,
    pub object_id: String,
    pub object_name: String,
    pub principal: String,
    pub now: i64,
    /// Capped counters, in the order they are checked; the first at its cap refuses.
    pub capped: Vec<CappedCount>,
    /// The version whose uses are counted, and the count that queues its rotation.
    pub rotate_after: Option<(u32, u64)>,
    /// Whether the principal's use is remembered for the co-sign axis.
    pub remember_principal: bool,
}

/// What recording a use answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseRecorded {
    /// Counted; `rotation_queued` when this use crossed the rotate-after count.
    Counted { rotation_queued: bool },
    /// The capped counter at this index of [`PolicyUse::capped`] is at its cap: nothing
    /// was counted.
    Capped(usize),
}

/// A rotation a rotate-after axis queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRotation {
    pub object_kind: String,
    pub object_id: String,
    pub version: u32,
    pub account_id: AccountId,
    pub object_name: String,
}

#[async_trait]
pub trait PolicyStore: Send + Sync {
    async fn create_policy(&self, row: &PolicyRow, event: &AuditEvent) -> Result<(), StoreError>;
    async fn policy(
        &self,
        account_id: &AccountId,
        id: &str,
    ) -> Result<Option<PolicyRow>, StoreError>;
    /// The account's policies (of one group, if given), by name.
    async fn policies(
        &self,
        account_id: &AccountId,
        group_id: Option<&GroupId>,
    ) -> Result<Vec<PolicyRow>, StoreError>;
    /// Replaces name, description, rules and expiry of the policy `row.id`.
    async fn update_policy(&self, row: &PolicyRow, event: &AuditEvent) -> Result<(), StoreError>;
    /// Deletes the policy with its bindings and counters; answers whether it existed.
    async fn delete_policy(&self, id: &str, event: &AuditEvent) -> Result<bool, StoreError>;
    /// Binds (again: binding twice is one binding).
    async fn bind_policy(
        &self,
        binding: &PolicyBindingRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Answers whether the binding existed.
    async fn unbind_policy(
        &self,
        policy_id: &str,
        object_kind: &str,
        object_id: &str,
        event: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;
    async fn policy_bindings(&self, policy_id: &str) -> Result<Vec<PolicyBindingRow>, StoreError>;
    /// The policies bound to one object.
    async fn object_policies(
        &self,
        object_kind: &str,
        object_id: &str,
    ) -> Result<Vec<PolicyRow>, StoreError>;
    /// The count of one counter (0 if it never counted).
    async fn policy_count(
        &self,
        policy_id: &str,
        object_id: &str,
        axis: &str,
        window_start: i64,
    ) -> Result<u64, StoreError>;
    /// Whether one of `principals` used the object at or after `since`.
    async fn used_since(
        &self,
        object_id: &str,
        principals: &[String],
        since: i64,
    ) -> Result<bool, StoreError>;
    /// Counts one use, atomically across nodes (see the module documentation).
    async fn record_policy_use(&self, record: &PolicyUse) -> Result<UseRecorded, StoreError>;
    /// Takes (removes) up to `limit` queued rotations: each goes to exactly one node.
    async fn claim_policy_rotations(&self, limit: i64) -> Result<Vec<QueuedRotation>, StoreError>;
    /// The bindings of policies whose TTL ended at or before `now`.
    async fn expired_policy_bindings(&self, now: i64) -> Result<Vec<PolicyBindingRow>, StoreError>;
    /// Forgets rate windows that started before `minute_before` (`minute`) or
    /// `day_before` (`day`), and co-sign uses older than `uses_before`.
    async fn prune_policy_counters(
        &self,
        minute_before: i64,
        day_before: i64,
        uses_before: i64,
    ) -> Result<(), StoreError>;
}
