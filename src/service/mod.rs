//! The only place that orchestrates: checks authorization, calls the HSM, the store and the
//! in-process crypto, and records the audit event of every request it serves.
//!
//! No HTTP, SQL or PKCS#11 types appear here: only the `Hsm` and `Store` traits. Every
//! operation a route serves is authorized and audited through its [`crate::catalogue`]
//! entry (see `operation`); credentials are verified in `auth`.

mod ai;
mod approvals;
mod auth;
mod caller;
mod certs;
mod changes;
mod error;
mod identity;
mod keyrings;
mod keys;
mod machines;
mod operation;
mod policies;
mod request;
mod rotation;
mod secrets;
mod settings;
mod shares;
mod templates;
mod tenancy;
mod trail;
mod views;

mod alerts;
mod stream;

mod aws_kms;
pub use aws_kms::{AwsCall, AwsErrorType, AwsFault};
pub use aws_kms::{OPERATIONS as AWS_KMS_OPERATIONS, aws_account_number};

pub use crate::store::AwsCredentialRow;
pub use crate::store::InvitationRow;
pub use crate::store::ShareRow;
/// The records the service answers with, as the store keeps them: typed ids and enums, no SQL,
/// and nothing secret-derived (a credential's digest stays in [`crate::store::Credential`],
/// read only by the constant-time check; wrapped keys stay inside the service). The HTTP
/// layer reads these through the service, never from the store.
pub use crate::store::{
    AccountState, ActivityFilter, ApiKeyRow, AppCertificateRow, AppRow, CertificateRow,
    GroupMember, GroupRow, JobKind, JobRow, JobState, KeyKind, KeyRow, KeyringRow, MachineRow,
    MachineTokenRow, MemberRow, ObjectRow, ResetRow, RevocationRow, SessionRow, StoredEvent,
    TrustedCaRow,
};
pub use crate::store::{AuthMethod, ErrorCode, MachineStatus, Outcome};
pub use crate::store::{CheckpointRow, SecretGrantRow, SecretRow, SigningKeyRow};
pub use ai::{
    AgentPatch, AgentRequest, AgentStatus, AgentTokenSpec, AiAgentRow, AiTokenRow,
    CreatedAgentToken, MAX_TOKEN_TTL_SECS as MAX_AGENT_TOKEN_TTL_SECS, SCOPES as AGENT_SCOPES,
};
pub use approvals::{
    ApprovalRow, ApprovalStatus, PendingOperation, QuorumRow, QuorumSpec, Vote, VoteRow,
};
pub use auth::{LoginOutput, SigV4Caller, SigV4Failure, SignedRequest};
pub use caller::{Caller, GroupScope};
pub use certs::{CertificateBinding, PossessionProof, RevocationTarget};
pub use error::Error;
pub use identity::{AddUser, InvitationIssued, UserAdded};
pub use identity::{MemberPatch, ResetOutput, check_password, normalize_email};
pub use keyrings::{
    ConfigPatch, DataKeyOutput, DecryptOutput, EncryptOutput, HashLookup, KeyVersionInfo,
    KeyringSpec, KeyringView, Protection,
};
pub use keys::{
    DecryptOutput as KeyDecryptOutput, KeyPatch, KeySpec, KeyVersionView, KeyView, PublicKeyImport,
    PublicKeyOutput, SignInput, SignOutput, VerifyInput, VerifyOutput, certificate_pem,
};
pub use machines::{
    CreatedMachineToken, MachineBundle, MachineTokenKind, MachineTokenSpec, ProvisionSpec,
    Provisioned,
};
pub use policies::{
    BINDABLE_KINDS, CosignRule, PolicyBinding, PolicyPatch, PolicyRules, PolicySpec, PolicyView,
    RateRule, TimeWindowRule, TtlRule,
};
pub use request::{Ctx, RequestMeta};
pub use secrets::{
    ManagedMode, ManagedTarget, PendingVersion, ReadTarget, RotationPolicy, SecretContent,
    SecretKind, SecretRead, SecretSpec, SecretVersionInfo, SecretView, VersionOrigin, VersionState,
};
pub use settings::ServiceSettings;
pub use shares::{CreatedShare, GenerateSpec, MAX_SHARE_VALUE_BYTES, SHARE_LIFETIMES, ShareSpec};
pub use templates::{AssignmentView, TemplateGroups, TemplateSpec, TemplateView};
pub use tenancy::{
    ApiKeyPatch, ApiKeySpec, AppPatch, AwsCredentialSpec, Bootstrapped, CreatedApiKey,
    CreatedAwsCredential, GroupMembersView,
};
pub use trail::{CHECKPOINT_ALGORITHM, EXPORT_PAGE, ExportPage, ExportPlan};
pub use views::{OBJECT_KINDS, ObjectFilter};

pub use crate::store::{AlertRow, DeliveryRow, DeliveryStatus, position as event_position};
pub use alerts::{AlertPatch, AlertSpec, AlertTestResult, CreatedAlert, signature_header};
pub use settings::WatchSettings;
pub use stream::{ActivityStream, StreamItem, StreamSpec};

use crate::audit::{AuditEvent, AuditSink};
use crate::auth::{ApiKeyToken, SessionToken};
use crate::authz::{self, Flags, Operation, Operations, PrincipalKind, Role};
use crate::cache::TtlCache;
use crate::catalogue;
use crate::clock::Clock;
use crate::crypto::DataKey;
use crate::hsm::Hsm;
use crate::ids::{AccountId, ApiKeyId, KeyringId};
use crate::store::{Store, VersionRow};
use caller::Credential;
pub use changes::CHANGE_POLL;
use changes::Forget;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// Longest `/v1/ready` takes to answer, whatever is stuck.
pub const READY_BOUND: Duration = Duration::from_secs(1);

/// Label of the HMAC key that digests API keys. It never leaves the token.
pub const APIKEY_PEPPER_LABEL: &str = "sys/apikey-pepper";

/// Keyring metadata and versions, cached together.
struct KeyringState {
    row: KeyringRow,
    versions: Vec<VersionRow>,
}

/// The service. Cheap to share behind an `Arc`.
pub struct Service {
    store: Arc<dyn Store>,
    hsm: Arc<dyn Hsm>,
    audit: AuditSink,
    clock: Arc<dyn Clock>,
    settings: ServiceSettings,
    /// Keyring metadata by (account id, name), for `metadata_ttl`.
    keyrings: TtlCache<(AccountId, String), Arc<KeyringState>>,
    /// Unwrapped data keys by (keyring id, version), for the keyring's `cache_ttl_seconds`.
    data_keys: TtlCache<(KeyringId, u32), Arc<DataKey>>,
    /// Asymmetric key metadata by (account id, name), for `metadata_ttl`.
    keys: TtlCache<(AccountId, String), Arc<keys::KeyState>>,
    /// Secret metadata, versions and grants by (account id, name), for `metadata_ttl`.
    secrets: TtlCache<(AccountId, String), Arc<secrets::SecretState>>,
    /// Unwrapped data keys of secret versions by (secret id, version).
    secret_keys: TtlCache<(crate::ids::SecretId, u32), Arc<DataKey>>,
    /// Whether a group is frozen, for `metadata_ttl` (forgotten on every change).
    frozen_groups: TtlCache<crate::ids::GroupId, bool>,
    /// Apps' verified API keys by the token's cache key, for `auth_cache_ttl`.
    callers: TtlCache<[u8; 32], Arc<Caller>>,
    /// Machines by id, for `metadata_ttl` (forgotten with their principal on every change).
    machines: TtlCache<crate::ids::MachineId, Arc<crate::store::MachineRow>>,
    /// When signed requests naming a machine from a source are locked out until (`None`:
    /// not locked) by `login_failures` key, for `metadata_ttl`; this node's own failures
    /// update it at once.
    machine_locks: TtlCache<String, Option<i64>>,
    /// AWS key ids of keyrings → their names (which never change), so that an AWS call on
    /// a keyring whose metadata this node holds costs no SQL (`aws_kms/targets.rs`).
    aws_keyring_names: TtlCache<(AccountId, KeyringId), String>,
    /// AWS access keys' callers and SigV4 signing keys by (access key id, credential
    /// scope), for `auth_cache_ttl`: a cached signer checks a signature without the HSM.
    aws_signers:
        TtlCache<(crate::ids::AwsAccessKeyId, crate::auth::sigv4::Scope), Arc<auth::AwsSigner>>,
    /// This node's name on the leases of background jobs: unique per service instance.
    node: String,
    /// Wakes this node's job worker when a request here starts a job.
    jobs_wake: tokio::sync::Notify,
    /// Counts HSM unwraps of data keys (exposed in /metrics; tests check the cache with it).
    pub hsm_unwraps: std::sync::atomic::AtomicU64,
    /// Counts refused signed requests whose `X-Machine-Id` no machine ever had (exposed in
    /// /metrics: they belong to no account's trail).
    pub signed_unknown_machine: std::sync::atomic::AtomicU64,
    /// The access policies bound to each object by (account, kind, object id), for
    /// `metadata_ttl` (forgotten on every change): an object with none costs no SQL.
    policy_bindings: TtlCache<(AccountId, String, String), policies::BoundPolicies>,
    /// The live activity streams open on this node (`stream.rs`).
    streams: Arc<stream::Streams>,
    /// The alert sender's client, wake-up and derived signing secrets (`alerts/`).
    alerts: alerts::AlertState,
}

/// A unique id for a request or an audit event, without a system call: a random
/// per-process prefix and a counter. Object ids use [`new_id`]; these only need to be unique.
pub fn new_event_id(prefix: &str) -> String {
    static PROCESS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let process = PROCESS.get_or_init(|| hex::encode(&crate::crypto::random_bytes(6)[..]));
    format!(
        "{prefix}_{process}{:012x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new opaque id with a type prefix (`kr_…`, `grp_…`), as whichever id type it is for.
pub fn new_id<Id: From<String>>(prefix: &str) -> Id {
    Id::from(format!(
        "{prefix}_{}",
        hex::encode(&crate::crypto::random_bytes(12)[..])
    ))
}

/// A duration in the store's unit (microseconds), saturating.
fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        hsm: Arc<dyn Hsm>,
        audit: AuditSink,
        clock: Arc<dyn Clock>,
        settings: ServiceSettings,
    ) -> Self {
        Self {
            store,
            hsm,
            audit,
            clock,
            settings,
            keyrings: TtlCache::new(crate::cache::KEYRING_ENTRIES),
            data_keys: TtlCache::new(crate::cache::KEYRING_ENTRIES),
            keys: TtlCache::default(),
            secrets: TtlCache::default(),
            secret_keys: TtlCache::default(),
            frozen_groups: TtlCache::default(),
            callers: TtlCache::default(),
            machines: TtlCache::default(),
            machine_locks: TtlCache::default(),
            aws_signers: TtlCache::default(),
            aws_keyring_names: TtlCache::default(),
            node: new_event_id("node"),
            jobs_wake: tokio::sync::Notify::new(),
            hsm_unwraps: Default::default(),
            signed_unknown_machine: Default::default(),
            policy_bindings: TtlCache::default(),
            streams: Default::default(),
            alerts: Default::default(),
        }
    }

    /// Creates the system keys the service needs if they are missing.
    pub async fn prepare(&self) -> Result<(), Error> {
        self.hsm.ensure_hmac_key(APIKEY_PEPPER_LABEL).await?;
        self.prepare_trail().await?;
        identity::warm_up().await?;
        Ok(())
    }

    fn now(&self) -> i64 {
        self.clock.now_micros()
    }

    /// A caller verified within `auth_cache_ttl` under `key`.
    fn cached_caller(&self, key: &[u8; 32]) -> Option<Arc<Caller>> {
        self.callers.get(key)
    }

    fn remember_caller(&self, key: [u8; 32], caller: &Arc<Caller>) {
        self.callers
            .insert(key, Arc::clone(caller), self.settings.auth_cache_ttl);
    }

    /// Forgets every cached caller of an account (group structure changed, account
    /// closed), on every node.
    async fn forget_account_callers(&self, account_id: &AccountId) {
        self.forget(Forget::AccountCallers {
            account: account_id.clone(),
        })
        .await
    }

    /// Forgets cached callers of one principal (app changed, deleted or regrouped), on
    /// every node.
    async fn forget_principal(&self, principal_id: &str) {
        self.forget(Forget::Principal {
            id: principal_id.to_owned(),
        })
        .await
    }

    /// Forgets cached verifications of one API key (disabled or re-flagged), on every node.
    async fn forget_api_key(&self, key_id: &ApiKeyId) {
        self.forget(Forget::ApiKey { id: key_id.clone() }).await
    }

    /// Closes the store's connections (at shutdown, once no request is in flight).
    pub async fn close_store(&self) {
        self.store.close().await;
    }

    /// Counters of the audit group committer.
    pub fn audit_stats(&self) -> &crate::audit::AuditStats {
        self.audit.stats()
    }

    /// Readiness, decided within [`READY_BOUND`] whatever is stuck: the HSM must use a key
    /// (an HMAC with the API-key pepper, which every authentication needs) and the database
    /// must take a durable write. A logged-in session alone proves neither.
    pub async fn ready(&self) -> Result<(), Error> {
        let probes = async {
            let (hsm, store) = tokio::join!(
                self.hsm
                    .hmac_sha256(APIKEY_PEPPER_LABEL, b"readiness".to_vec()),
                self.store.probe_write(self.now()),
            );
            hsm?;
            store?;
            Ok(())
        };
        tokio::time::timeout(READY_BOUND, probes)
            .await
            .map_err(|_| Error::Unavailable("the readiness probes did not finish in time".into()))?
    }

    /// Background duties: scheduled and count-based rotation, trash purge, cache sweep.
    pub async fn maintain(&self) -> Result<(), Error> {
        self.rotate_due_keyrings().await?;
        self.purge_trash().await?;
        self.purge_trashed_keys().await?;
        self.rotate_due_secrets().await?;
        self.purge_trashed_secrets().await?;
        self.purge_deleted_groups().await?;
        self.maintain_machines().await?;
        self.prune_failure_counts().await?;
        self.prune_changes().await?;
        self.purge_expired_shares().await?;
        self.prune_trail().await?;
        self.maintain_policies().await?;
        self.expire_approvals().await?;
        self.keyrings.sweep();
        self.data_keys.sweep();
        self.keys.sweep();
        self.secrets.sweep();
        self.secret_keys.sweep();
        self.frozen_groups.sweep();
        self.callers.sweep();
        self.machines.sweep();
        self.machine_locks.sweep();
        Ok(())
    }

    /// Forgets login and signed-request failure counts whose window is over and that hold no
    /// lock: one row per source address (and machine) that ever failed would otherwise stay.
    async fn prune_failure_counts(&self) -> Result<(), Error> {
        let now = self.now();
        let longest_window = self
            .settings
            .lockout_window
            .max(self.settings.machine_lockout_window);
        self.store
            .prune_login_failures(now, now.saturating_sub(micros(longest_window)))
            .await?;
        Ok(())
    }
}
