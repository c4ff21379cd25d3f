//! The storage side of the tamper-evident trail: the events in chain order, the chain
//! heads, the checkpoint signing key's public half, the signed checkpoints, and pruning
//! that keeps what remains verifiable. The chain itself is made by the committer's
//! writers (see `chain`).

use super::StoreError;
use super::StoredEvent;
use super::chain::Digest;
use async_trait::async_trait;

/// The key pair that signs checkpoints: its private half is the HSM object `label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub id: String,
    pub label: String,
    /// `ed25519`.
    pub algorithm: String,
    /// SPKI PEM.
    pub public_key: String,
    pub created_at: i64,
}

/// A chain's head: how many events it has had and the hash of its last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub chain: String,
    pub length: i64,
    pub head: Digest,
}

/// A signed statement that `chain` had `position` events ending in `head` at `time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub chain: String,
    pub position: i64,
    pub head: Digest,
    /// Unix microseconds.
    pub time: i64,
    pub key_id: String,
    pub signature: Vec<u8>,
}

#[async_trait]
pub trait TrailStore: Send + Sync {
    /// The checkpoint signing key, once one was made.
    async fn signing_key(&self) -> Result<Option<SigningKeyRow>, StoreError>;
    /// Records the signing key unless one exists; answers whether `key` is now the one
    /// (a node that lost the race destroys its own token object).
    async fn insert_signing_key(&self, key: &SigningKeyRow) -> Result<bool, StoreError>;
    /// The head of one chain, if it has any event.
    async fn chain_head(&self, chain: &str) -> Result<Option<ChainHead>, StoreError>;
    /// Heads that moved past their chain's newest checkpoint.
    async fn unsigned_heads(&self) -> Result<Vec<ChainHead>, StoreError>;
    /// Stores a checkpoint; one already stored for the same position is kept.
    async fn insert_checkpoint(&self, checkpoint: &CheckpointRow) -> Result<(), StoreError>;
    /// Checkpoints of `chain` at positions in `from..=to`, in position order.
    async fn checkpoints(
        &self,
        chain: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<CheckpointRow>, StoreError>;
    /// Up to `limit` chained events of `chain` after position `after` and at most `to`.
    async fn chained_events(
        &self,
        chain: &str,
        after: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// The position of the oldest event `chain` still keeps (0 when it keeps none).
    async fn first_position(&self, chain: &str) -> Result<i64, StoreError>;
    /// Deletes the events of `chain` up to `position` and the checkpoints before it (the
    /// checkpoint at `position` stays: it anchors the oldest kept event).
    async fn prune_chain(&self, chain: &str, position: i64) -> Result<u64, StoreError>;
    /// The newest checkpoint of `chain` whose position's event is older than `before`.
    async fn prunable_checkpoint(
        &self,
        chain: &str,
        before: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// Every chain with a head.
    async fn chains(&self) -> Result<Vec<String>, StoreError>;
}
