//! Rows and persistence of background jobs: work too long for one request (re-wrapping every
//! key of a group under its new master key) that any node may carry on.
//!
//! A job is worked by the one node holding its lease (`lease_owner` until `lease_until`).
//! The holder renews the lease with every batch it applies, in the batch's own transaction,
//! and a batch whose lease was lost is refused: a node that stalled or died loses the job
//! to the next node that claims it, and two nodes never both apply work to it.

use super::{AuditEvent, StoreError};
use crate::ids::{AccountId, GroupId, JobId};
use async_trait::async_trait;

stored_names! {
    /// What a job does.
    pub enum JobKind {
        /// Re-wrap every wrapped key of a group under its next master key, then destroy the
        /// old master key.
        RotateMaster => "rotate_master",
    }
}

stored_names! {
    /// Where a job is.
    pub enum JobState {
        /// Some node works it (or will claim it once its lease has expired).
        Running => "running",
        Done => "done",
        Failed => "failed",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: JobId,
    pub account_id: AccountId,
    pub kind: JobKind,
    pub group_id: GroupId,
    pub from_version: u32,
    pub to_version: u32,
    pub state: JobState,
    /// Keys to re-wrap, counted when the job started.
    pub total: u64,
    /// Keys re-wrapped so far.
    pub done: u64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// Why a failed job failed, in words a person can act on (never key material).
    pub error: Option<String>,
}

/// Who holds a job's lease, and until when (microseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: i64,
}

stored_names! {
    /// What holds a data key that a group master key wraps.
    pub enum WrappedHolder {
        /// A version of an envelope keyring.
        Keyring => "keyring",
        /// A version of a secret.
        Secret => "secret",
        /// A one-time share (its version is always 0).
        Share => "share",
        /// The secret of an AWS access key pair (its version is always 0).
        AwsCredential => "aws_credential",
    }
}

/// One data key still wrapped by a master key: what the re-wrap needs, and its object's
/// account and name (so that nodes can forget their cached copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedVersion {
    pub holder: WrappedHolder,
    /// The keyring's or secret's id.
    pub object_id: String,
    pub version: u32,
    pub wrapped_key: Vec<u8>,
    pub account_id: AccountId,
    pub name: String,
}

/// A data key wrapped again, under the new master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrapped {
    pub holder: WrappedHolder,
    pub object_id: String,
    pub version: u32,
    pub wrapped_key: Vec<u8>,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Reserves a master-key rotation of `job.group_id` before its new master key is made:
    /// inserts the job (running, `lease` held, nothing counted yet) if the group's master
    /// version is still `job.from_version` and no rotation of the group runs
    /// (`Conflict::RotationRunning`). The reservation is what lets the caller create the
    /// new key's label, which no other request can then create too.
    async fn reserve_rotation(&self, job: &JobRow, lease: &Lease) -> Result<(), StoreError>;
    /// Starts a reserved rotation once its new master key exists: moves the group's
    /// `master_version` to `job.to_version`, counts the versions wrapped by `from_label`
    /// as the job's total and hands the job from its reservation to `lease`, with `event`,
    /// in one transaction; only while the reservation is still `reserved_by`'s
    /// (`Conflict::LeaseLost`).
    async fn start_rotation(
        &self,
        job: &JobRow,
        from_label: &str,
        reserved_by: &str,
        lease: &Lease,
        event: &AuditEvent,
    ) -> Result<JobRow, StoreError>;
    /// Whether a rotation to `to_version` got past its start (the group's master version,
    /// deleted group or not, is at least `to_version`).
    async fn rotation_started(
        &self,
        group_id: &GroupId,
        to_version: u32,
    ) -> Result<bool, StoreError>;
    /// A job of the account.
    async fn job(&self, account_id: &AccountId, id: &JobId) -> Result<Option<JobRow>, StoreError>;
    /// Takes the lease of one running job whose lease has expired (or is already
    /// `lease.owner`'s), at time `now`; at most one node wins a given job.
    async fn claim_job(&self, lease: &Lease, now: i64) -> Result<Option<JobRow>, StoreError>;
    /// Up to `limit` keyring versions still wrapped by the master key `label`.
    async fn versions_wrapped_by(
        &self,
        label: &str,
        limit: u32,
    ) -> Result<Vec<WrappedVersion>, StoreError>;
    /// Stores a batch of re-wrapped keys under `new_label` (each only if it is still
    /// wrapped by `old_label`), adds them to the job's `done` and renews `lease`, in one
    /// transaction, only while the lease is still `lease.owner`'s
    /// (`Conflict::LeaseLost` otherwise). Answers how many versions changed.
    async fn apply_rewrap(
        &self,
        job: &JobId,
        lease: &Lease,
        old_label: &str,
        new_label: &str,
        batch: &[Rewrapped],
    ) -> Result<u64, StoreError>;
    /// How many stored keys name the master key `label` as their wrapping key.
    async fn references_to(&self, label: &str) -> Result<u64, StoreError>;
    /// Ends a job as done or failed, only while `owner` holds its lease.
    async fn finish_job(
        &self,
        job: &JobId,
        owner: &str,
        state: JobState,
        error: Option<&str>,
        at: i64,
    ) -> Result<(), StoreError>;
}
