//! Rows and persistence of one-time shares: a value sealed for one recipient, destroyed
//! when opened, when a wrong passphrase is tried, when it expires or when it is deleted.
//!
//! A share's row is all there is of it: destroying a share deletes the row (ciphertext,
//! wrapped data key and passphrase hash together), in the transaction of its audit event.

use super::{AuditEvent, StoreError};
use crate::ids::{AccountId, GroupId, ShareId};
use async_trait::async_trait;

/// What a share shows: metadata only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRow {
    pub id: ShareId,
    pub account_id: AccountId,
    pub group_id: GroupId,
    /// The principal (user id) that created it.
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A share with what opens it. No `Debug`: nothing of the sealing should reach a log, even
/// the parts that are useless alone.
pub struct SealedShareRow {
    pub row: ShareRow,
    /// The data key, wrapped by the group master key named `wrapping_key`.
    pub wrapped_key: Vec<u8>,
    /// The label of the master key (`mk/<group>/v<n>`): a master-key rotation re-wraps by it.
    pub wrapping_key: String,
    /// The Argon2id hash (PHC string) of the normalized passphrase.
    pub passphrase_hash: String,
    /// The salt of the key stretched from the passphrase.
    pub kdf_salt: Vec<u8>,
    pub nonce: Vec<u8>,
    /// The value, AES-256-GCM sealed, with its tag.
    pub ciphertext: Vec<u8>,
}

#[async_trait]
pub trait ShareStore: Send + Sync {
    /// Stores a new share, only if `wrapping_key` names its group's current master key (a
    /// share wrapped under a master a rotation replaced meanwhile would miss the re-wrap).
    async fn create_share(
        &self,
        share: &SealedShareRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// A share by id, of whichever account (the recipient has none), expired or not.
    async fn share(&self, id: &ShareId) -> Result<Option<SealedShareRow>, StoreError>;
    /// The account's shares that have not expired at `now`, oldest first.
    async fn shares(&self, account_id: &AccountId, now: i64) -> Result<Vec<ShareRow>, StoreError>;
    /// Deletes the share and writes `event` in the same transaction. Answers whether it was
    /// still there: of two concurrent opens, only one deletes it, and only that one may show
    /// the value. Nothing is written when it was already gone.
    async fn destroy_share(&self, id: &ShareId, event: &AuditEvent) -> Result<bool, StoreError>;
    /// Deletes every share that expired before `now`; answers how many.
    async fn purge_expired_shares(&self, now: i64) -> Result<u64, StoreError>;
}
