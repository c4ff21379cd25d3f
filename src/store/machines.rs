//! Rows and persistence of machines: their Ed25519 public keys and lifecycle, and the
//! tokens that enroll them. Nonces of signed requests are claimed through the audit
//! committer ([`super::NonceClaim`]).

use super::{AppRow, AuditEvent, Credential, StoreError};
use crate::auth::guardrails::Guardrails;
use crate::ids::{AccountId, GroupId, MachineId, MachineTokenId};
use async_trait::async_trait;
use std::collections::BTreeMap;

stored_names! {
    /// How a machine came to exist.
    pub enum MachineOrigin {
        /// Registered with a bootstrap token, then approved by an owner.
        Bootstrap => "bootstrap",
        /// Made by an owner, its private key handed over in a single-use bundle.
        Provisioned => "provisioned",
        /// Registered with an enrollment token: ephemeral, approved at once.
        Enrollment => "enrollment",
        /// Registered with a temporary token, then approved; lives a fixed time.
        Temporary => "temporary",
    }
}

stored_names! {
    /// Whether a machine may sign requests yet.
    pub enum MachineStatus {
        /// Registered with a token that needs an owner's approval, not yet approved.
        Pending => "pending",
        Approved => "approved",
    }
}

stored_names! {
    /// What a machine token is for.
    pub enum MachineTokenKind {
        /// One machine, pending until an owner approves it; the token lives 10 minutes.
        Bootstrap => "bootstrap",
        /// Up to `max_uses` ephemeral machines, approved at once, each living a fixed time.
        Enrollment => "enrollment",
        /// One pending machine with a lifetime (from approval) and optional guardrails.
        Temporary => "temporary",
        /// The single download of a provisioned machine's bundle: made by provisioning,
        /// never asked for, and it enrolls nothing.
        Bundle => "bundle",
    }
}

impl MachineTokenKind {
    /// The kind a caller asks for by `text`: every kind but [`MachineTokenKind::Bundle`].
    pub fn requestable(text: &str) -> Option<Self> {
        Self::parse(text).filter(|kind| *kind != MachineTokenKind::Bundle)
    }

    /// The origin of the machines a token of this kind enrolls; `None` for a bundle token.
    pub fn enrolled_origin(self) -> Option<MachineOrigin> {
        match self {
            MachineTokenKind::Bootstrap => Some(MachineOrigin::Bootstrap),
            MachineTokenKind::Enrollment => Some(MachineOrigin::Enrollment),
            MachineTokenKind::Temporary => Some(MachineOrigin::Temporary),
            MachineTokenKind::Bundle => None,
        }
    }
}

/// A machine: an app whose credential is an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineRow {
    /// Also the id of the machine's app.
    pub id: MachineId,
    pub account_id: AccountId,
    /// The app's name (read only: it is written with the app).
    pub name: String,
    pub public_key: Vec<u8>,
    pub origin: MachineOrigin,
    pub status: MachineStatus,
    pub enabled: bool,
    /// The machine's flags (flag pattern → allowed).
    pub flags: BTreeMap<String, bool>,
    pub created_at: i64,
    pub approved_at: Option<i64>,
    /// Temporary machines: the lifetime that starts at approval.
    pub lifetime_seconds: Option<i64>,
    pub expires_at: Option<i64>,
    pub previous_expires_at: Option<i64>,
    pub guardrails: Option<Guardrails>,
    pub token_id: Option<MachineTokenId>,
    pub disabled_at: Option<i64>,
}

/// A bootstrap, enrollment, temporary or bundle token; the HSM digest of its text is kept
/// beside it, in a [`Credential`].
#[derive(Clone, PartialEq, Eq)]
pub struct MachineTokenRow {
    pub id: MachineTokenId,
    pub account_id: AccountId,
    pub kind: MachineTokenKind,
    pub name: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_uses: i64,
    pub uses: i64,
    /// The flags of the machines the token enrolls.
    pub flags: BTreeMap<String, bool>,
    /// Group id → operations of the machines the token enrolls.
    pub grants: BTreeMap<GroupId, Vec<String>>,
    pub machine_lifetime_seconds: Option<i64>,
    pub guardrails: Option<Guardrails>,
    /// Bundle tokens: the provisioned machine.
    pub machine_id: Option<MachineId>,
    /// Bundle tokens: the bundle sealed under a key derived from the token, until taken.
    pub sealed_bundle: Option<Vec<u8>>,
    pub disabled_at: Option<i64>,
}

impl std::fmt::Debug for MachineTokenRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineTokenRow")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("uses", &self.uses)
            .field("max_uses", &self.max_uses)
            .finish_non_exhaustive()
    }
}

/// How a machine comes to exist, for [`MachineStore::create_machine`].
pub enum MachineEnrollment<'a> {
    /// Registered with a token: take one of its uses at this time.
    WithToken {
        token_id: &'a MachineTokenId,
        now: i64,
    },
    /// Provisioned by an owner: store the single-use bundle token with it.
    Provisioned {
        bundle: &'a Credential<MachineTokenRow>,
    },
}

#[async_trait]
pub trait MachineStore: Send + Sync {
    /// A live machine (its app not deleted), in any account.
    async fn machine(&self, id: &MachineId) -> Result<Option<MachineRow>, StoreError>;
    async fn machines(&self, account_id: &AccountId) -> Result<Vec<MachineRow>, StoreError>;
    /// The account of a machine, live or deleted. Machine rows are never removed (deletion
    /// and purging stamp `deleted_at`), so requests still naming a deleted machine stay in
    /// its account's audit trail.
    async fn machine_account(&self, id: &MachineId) -> Result<Option<AccountId>, StoreError>;
    /// Creates the machine's app (with its groups and operations) and the machine, and
    /// takes one use of `token_id` at time `now` (a token used up, expired or disabled
    /// meanwhile makes the whole thing a conflict), or stores the bundle token of a
    /// provisioned machine.
    async fn create_machine(
        &self,
        app: &AppRow,
        machine: &MachineRow,
        enrollment: MachineEnrollment<'_>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Writes the machine's lifecycle columns (status, enabled, approval, expiry).
    async fn update_machine(
        &self,
        machine: &MachineRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Deletes the machine and its app.
    async fn delete_machine(
        &self,
        id: &MachineId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    async fn create_machine_token(
        &self,
        token: &Credential<MachineTokenRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn machine_token(
        &self,
        id: &MachineTokenId,
    ) -> Result<Option<Credential<MachineTokenRow>>, StoreError>;
    async fn machine_tokens(
        &self,
        account_id: &AccountId,
    ) -> Result<Vec<MachineTokenRow>, StoreError>;
    /// Disables a token; false if it was already disabled.
    async fn disable_machine_token(
        &self,
        id: &MachineTokenId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Takes the single use of a bundle token at `now`: returns the sealed bundle and
    /// erases it, or `None` if it was already taken, expired or disabled.
    async fn take_bundle(
        &self,
        token_id: &MachineTokenId,
        now: i64,
        event: &AuditEvent,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// Disables enrolled (ephemeral) machines whose expiry passed; returns their ids.
    async fn disable_expired_machines(&self, now: i64) -> Result<Vec<MachineId>, StoreError>;
    /// Deletes (at `now`) enrolled machines disabled before `cutoff`; returns their ids.
    async fn purge_disabled_machines(
        &self,
        now: i64,
        cutoff: i64,
    ) -> Result<Vec<MachineId>, StoreError>;
    /// Disables tokens whose lifetime ended, erases bundles never taken, and deletes tokens
    /// that ended before `cutoff`.
    async fn retire_machine_tokens(&self, now: i64, cutoff: i64) -> Result<(), StoreError>;
    /// Forgets nonces whose timestamps are out of the window.
    async fn prune_nonces(&self, now: i64) -> Result<u64, StoreError>;
}
