//! Secrets: stored values with versions, sealed in process with AES-256-GCM under a fresh
//! data key per version that the group master key wraps in the HSM.
//!
//! This file holds what every secret operation shares: the types, validation, loading a
//! secret (with its metadata cache), sealing and opening a version. The operations are in
//! `lifecycle` (create, change, versions, trash), `reading` (apps read with a grant, users
//! reveal, canaries freeze their group), `grants`, `rotation` (policies, generated values,
//! the schedule) and `managed` (database credentials applied by an agent).

mod grants;
mod lifecycle;
mod managed;
mod reading;
mod rotation;

use super::keyrings::master_label;
use super::{Caller, Error, Forget, Service};
use crate::authz::is_valid_name;
use crate::catalogue;
use crate::crypto::{self, DataKey};
use crate::ids::{AccountId, AppId, SecretId};
pub use crate::store::{SecretKind, VersionOrigin, VersionState};
use crate::store::{SecretRow, SecretVersionRow};
pub use managed::{ManagedMode, ManagedTarget, PendingVersion};
pub use reading::ReadTarget;
pub use rotation::RotationPolicy;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Largest value: a single value, or all of a structured secret's fields together.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Most fields a structured secret may have.
const MAX_FIELDS: usize = 100;
/// Versions kept unless the secret says otherwise, and the most it may say.
const DEFAULT_RETENTION: u32 = 20;
const MAX_RETENTION: u32 = 1000;
/// How long an unwrapped data key of a secret version stays in memory: reads within it
/// cost no HSM call (the same default as a keyring's cache).
const DATA_KEY_TTL: Duration = Duration::from_secs(300);

/// A secret's value: one text, or named fields. Zeroized when dropped.
pub enum SecretContent {
    Single(Zeroizing<String>),
    Fields(BTreeMap<String, Zeroizing<String>>),
}

impl SecretContent {
    /// The field names (none for a single value): metadata, stored beside the sealed value.
    fn field_names(&self) -> Vec<String> {
        match self {
            SecretContent::Single(_) => Vec::new(),
            SecretContent::Fields(fields) => fields.keys().cloned().collect(),
        }
    }

    /// The bytes that are sealed: the value itself, or the fields as a JSON object.
    fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        match self {
            SecretContent::Single(value) => Zeroizing::new(value.as_bytes().to_vec()),
            SecretContent::Fields(fields) => {
                let borrowed: BTreeMap<&str, &str> = fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let mut out = Zeroizing::new(Vec::new());
                serde_json::to_writer(&mut *out, &borrowed).expect("maps of strings serialize");
                out
            }
        }
    }

    /// The content `plaintext` holds, read as `structured` or not.
    fn from_plaintext(plaintext: &[u8], structured: bool) -> Result<Self, Error> {
        let corrupt = || Error::Internal("a secret version does not decode".into());
        if !structured {
            let text = std::str::from_utf8(plaintext).map_err(|_| corrupt())?;
            return Ok(SecretContent::Single(Zeroizing::new(text.to_owned())));
        }
        let fields: BTreeMap<String, String> =
            serde_json::from_slice(plaintext).map_err(|_| corrupt())?;
        Ok(SecretContent::Fields(
            fields
                .into_iter()
                .map(|(k, v)| (k, Zeroizing::new(v)))
                .collect(),
        ))
    }

    /// Checks the size and the field names.
    fn validate(&self) -> Result<(), Error> {
        let size = match self {
            SecretContent::Single(value) => value.len(),
            SecretContent::Fields(fields) => {
                if fields.is_empty() || fields.len() > MAX_FIELDS {
                    return Err(Error::InvalidInput(format!(
                        "a structured secret has 1-{MAX_FIELDS} fields"
                    )));
                }
                if let Some(bad) = fields.keys().find(|f| !is_valid_name(f)) {
                    return Err(Error::InvalidInput(format!(
                        "field name {bad:?} must be 1-64 chars of [A-Za-z0-9_-]"
                    )));
                }
                fields.values().map(|v| v.len()).sum()
            }
        };
        if size > MAX_VALUE_BYTES {
            return Err(Error::InvalidInput(format!(
                "the value is {size} bytes; a secret holds at most {MAX_VALUE_BYTES} bytes (64 KiB)"
            )));
        }
        Ok(())
    }
}

impl SecretKind {
    /// The kind a caller asks for by `text`.
    pub fn requested(text: &str) -> Result<Self, Error> {
        Self::parse(text).ok_or_else(|| {
            Error::InvalidInput(format!(
                "kind must be \"single\", \"structured\", \"managed\" or \"canary\", not {text:?}"
            ))
        })
    }

    /// Whether the value is a set of named fields.
    pub fn is_structured(self) -> bool {
        matches!(self, SecretKind::Structured | SecretKind::Managed)
    }
}

/// What a caller asks for when creating a secret.
pub struct SecretSpec {
    pub name: String,
    pub group: crate::ids::GroupId,
    pub kind: SecretKind,
    /// The first value; `None` to generate it from `rotation` (and always for managed).
    pub content: Option<SecretContent>,
    pub rotation: Option<RotationPolicy>,
    pub retention: Option<u32>,
    pub managed: Option<ManagedTarget>,
    /// Canaries only: the names of related canaries tripped with this one.
    pub cascade: Vec<String>,
}

/// A secret as shown to callers: metadata, never the value.
#[derive(Debug, Clone)]
pub struct SecretView {
    pub row: SecretRow,
    /// The current version's field names.
    pub fields: Vec<String>,
    pub rotation: Option<RotationPolicy>,
    pub managed: Option<ManagedTarget>,
    /// A managed secret's version waiting for its agent.
    pub pending_version: Option<u32>,
}

/// One version, metadata only.
#[derive(Debug, Clone)]
pub struct SecretVersionInfo {
    pub version: u32,
    pub fields: Vec<String>,
    pub origin: VersionOrigin,
    pub created_by: String,
    pub created_at: i64,
    pub state: VersionState,
    pub current: bool,
    pub applied_at: Option<i64>,
}

/// A value as read: which version, and what it holds.
pub struct SecretRead {
    pub version: u32,
    pub content: SecretContent,
}

/// A secret's metadata, versions and grants, cached together per (account, name).
pub(super) struct SecretState {
    row: SecretRow,
    versions: Vec<SecretVersionRow>,
    grants: Vec<AppId>,
}

impl SecretState {
    fn version(&self, version: u32) -> Option<&SecretVersionRow> {
        self.versions.iter().find(|v| v.version == version)
    }

    fn view(&self) -> Result<SecretView, Error> {
        view_of(&self.row, &self.versions)
    }
}

fn view_of(row: &SecretRow, versions: &[SecretVersionRow]) -> Result<SecretView, Error> {
    let shown = row.current_version.max(1);
    Ok(SecretView {
        row: row.clone(),
        fields: versions
            .iter()
            .find(|v| v.version == shown)
            .map(|v| v.fields.clone())
            .unwrap_or_default(),
        rotation: RotationPolicy::stored(row.rotation.as_deref())?,
        managed: ManagedTarget::stored(row.managed.as_deref())?,
        pending_version: versions
            .iter()
            .filter(|v| v.state == VersionState::Pending)
            .map(|v| v.version)
            .max(),
    })
}

fn version_info(row: &SecretRow, v: &SecretVersionRow) -> SecretVersionInfo {
    SecretVersionInfo {
        version: v.version,
        fields: v.fields.clone(),
        origin: v.origin,
        created_by: v.created_by.clone(),
        created_at: v.created_at,
        state: v.state,
        current: v.version == row.current_version,
        applied_at: v.applied_at,
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "secret name {name:?} must be 1-64 chars of [A-Za-z0-9_-]"
        )))
    }
}

fn check_retention(retention: u32) -> Result<(), Error> {
    if (1..=MAX_RETENTION).contains(&retention) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "retention must be 1-{MAX_RETENTION} versions"
        )))
    }
}

/// Text from a caller (a freeze reason, an agent's failure) as the audit trail keeps it: one
/// line of at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

fn object(name: &str) -> String {
    format!("secret/{name}")
}

/// What a version's ciphertext is bound to: the account, the secret and the version, so a
/// ciphertext moved to another secret, version or account does not open.
fn aad(account_id: &AccountId, secret_id: &SecretId, version: u32) -> Vec<u8> {
    format!("coffer-secret-v1\0{account_id}\0{secret_id}\0{version}").into_bytes()
}

impl Service {
    /// The live secret `name` of the caller's account, if the caller may see it and may
    /// perform what `op` does in the secret's group.
    async fn load_secret(
        &self,
        caller: &Caller,
        name: &str,
        op: &catalogue::Operation,
    ) -> Result<Arc<SecretState>, Error> {
        check_name(name)?;
        let state = self.secret_state(&caller.account_id, name).await?;
        // An app sees only its groups' objects; anything else does not exist for it.
        if !caller.sees_group(&state.row.group_id) {
            return Err(Error::NotFound(format!("secret {name}")));
        }
        Self::require_in_group(caller, op, &state.row.group_id)?;
        Ok(state)
    }

    /// A live secret's state, from the cache or the store.
    async fn secret_state(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Arc<SecretState>, Error> {
        let key = (account_id.clone(), name.to_owned());
        if let Some(state) = self.secrets.get(&key) {
            return Ok(state);
        }
        let row = self
            .store
            .secret(account_id, name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("secret {name}")))?;
        let versions = self.store.secret_versions(&row.id).await?;
        let grants = self.store.secret_grants(&row.id).await?;
        let state = Arc::new(SecretState {
            row,
            versions,
            grants: grants.into_iter().map(|g| g.app_id).collect(),
        });
        self.secrets
            .insert(key, Arc::clone(&state), self.settings.metadata_ttl);
        Ok(state)
    }

    async fn forget_secret(&self, account_id: &AccountId, name: &str) {
        self.forget(Forget::Secret {
            account: account_id.clone(),
            name: name.to_owned(),
        })
        .await
    }

    /// Seals `content` as version `version` of `row`, under a fresh data key that the
    /// group's current master key wraps.
    async fn seal_version(
        &self,
        row: &SecretRow,
        version: u32,
        content: &SecretContent,
        origin: VersionOrigin,
        created_by: &str,
    ) -> Result<SecretVersionRow, Error> {
        let master_version = self
            .store
            .group(&row.account_id, &row.group_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("group {}", row.group_id)))?
            .master_version;
        let master = master_label(&row.group_id, master_version);
        let (key, wrapped) = self.hsm.generate_wrapped_data_key(&master).await?;
        let nonce = crypto::random_nonce();
        let sealed = crypto::seal(
            &key,
            nonce,
            &aad(&row.account_id, &row.id, version),
            &content.to_plaintext(),
        );
        Ok(SecretVersionRow {
            secret_id: row.id.clone(),
            version,
            fields: content.field_names(),
            wrapped_key: wrapped,
            wrapping_key: master,
            nonce: nonce.to_vec(),
            sealed,
            origin,
            created_by: created_by.to_owned(),
            created_at: self.now(),
            state: VersionState::Ready,
            applied_at: None,
        })
    }

    /// Opens a version of `row`.
    async fn open_version(
        &self,
        row: &SecretRow,
        version: &SecretVersionRow,
    ) -> Result<SecretContent, Error> {
        let key = self.secret_data_key(version).await?;
        let nonce: [u8; 12] = version
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| Error::Internal("a secret version's nonce is malformed".into()))?;
        let plaintext = crypto::open(
            &key,
            nonce,
            &aad(&row.account_id, &row.id, version.version),
            &version.sealed,
        )
        .map_err(|_| Error::Internal("a secret version does not authenticate".into()))?;
        SecretContent::from_plaintext(&plaintext, !version.fields.is_empty())
    }

    /// The plaintext data key of a version: cached, else unwrapped through the HSM.
    async fn secret_data_key(&self, version: &SecretVersionRow) -> Result<Arc<DataKey>, Error> {
        let cache_key = (version.secret_id.clone(), version.version);
        if let Some(hit) = self.secret_keys.get(&cache_key) {
            return Ok(hit);
        }
        let key = Arc::new(
            self.hsm
                .unwrap_data_key(&version.wrapping_key, &version.wrapped_key)
                .await?,
        );
        self.hsm_unwraps
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.secret_keys
            .insert(cache_key, Arc::clone(&key), DATA_KEY_TTL);
        Ok(key)
    }
}
