//! Keyrings: symmetric envelope encryption under a group master key.
//!
//! This file holds what every keyring operation shares: the types, loading a keyring (with
//! the metadata and data-key caches), sealing and opening, making versions. The operations
//! are in `lifecycle` (create, read, configure, rotate, trash) and `usage` (encrypt,
//! decrypt, rewrap, data keys).

mod lifecycle;
mod usage;

use super::Forget;
use super::policies::PolicyObject;
use super::{Caller, Ctx, Error, KeyringState, Service, new_id};
use crate::authz::is_valid_name;
use crate::catalogue;
use crate::crypto::{self, DataKey, Envelope};
use crate::ids::{AccountId, GroupId, KeyringId};
pub use crate::store::Protection;
use crate::store::{KeyringConfig, KeyringRow, VersionRow};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

impl Protection {
    /// The protection a caller asks for by `text`.
    pub fn requested(text: &str) -> Result<Self, Error> {
        Self::parse(text).ok_or_else(|| {
            Error::InvalidInput(format!(
                "protection must be \"envelope\" or \"hsm\", not {text:?}"
            ))
        })
    }
}

/// What a caller asks for when creating a keyring.
#[derive(Debug, Clone)]
pub struct KeyringSpec {
    pub name: String,
    pub group: GroupId,
    pub protection: Protection,
    pub rotation_period_days: Option<u32>,
    pub max_encrypt_count: Option<u64>,
    pub cache_ttl_seconds: Option<u32>,
    /// A tripwire keyring: its first use by an app freezes the group.
    pub canary: bool,
}

/// A keyring as shown to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringView {
    pub row: KeyringRow,
}

/// A change to a keyring's configuration; `None` leaves a field as it is, `Some(None)`
/// clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct ConfigPatch {
    pub enabled: Option<bool>,
    pub min_decryption_version: Option<u32>,
    pub rotation_period_days: Option<Option<u32>>,
    pub max_encrypt_count: Option<Option<u64>>,
    pub cache_ttl_seconds: Option<u32>,
}

pub struct EncryptOutput {
    pub ciphertext: String,
    pub key_version: u32,
}

pub struct DecryptOutput {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub key_version: u32,
}

pub struct DataKeyOutput {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub ciphertext: String,
    pub key_version: u32,
}

/// One key version, metadata only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersionInfo {
    pub version: u32,
    pub state: &'static str,
    pub created_at: i64,
    pub encrypt_count: u64,
    pub fingerprint: String,
}

pub struct HashLookup {
    pub keyring: String,
    pub info: KeyVersionInfo,
}

/// Limits on keyring settings.
const MAX_ROTATION_PERIOD_DAYS: u32 = 3650;
const MAX_CACHE_TTL_SECONDS: u32 = 86_400;
const DEFAULT_CACHE_TTL_SECONDS: u32 = 300;
const DATAKEY_BYTES: std::ops::RangeInclusive<u32> = 16..=64;

pub(super) fn master_label(group_id: &GroupId, version: u32) -> String {
    format!("mk/{group_id}/v{version}")
}

fn token_key_label(keyring_id: &KeyringId, version: u32) -> String {
    format!("kr/{keyring_id}/v{version}")
}

fn check_name(name: &str) -> Result<(), Error> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "keyring name {name:?} must be 1-64 chars of [A-Za-z0-9_-]"
        )))
    }
}

fn version_state(row: &KeyringRow, version: u32) -> &'static str {
    if version < row.min_decryption_version {
        "retired"
    } else if version == row.current_version {
        "current"
    } else {
        "active"
    }
}

fn version_info(row: &KeyringRow, v: &VersionRow) -> KeyVersionInfo {
    KeyVersionInfo {
        version: v.version,
        state: version_state(row, v.version),
        created_at: v.created_at,
        encrypt_count: v.encrypt_count,
        fingerprint: v.kcv.clone(),
    }
}

fn validate_settings(
    days: Option<u32>,
    max_count: Option<u64>,
    ttl: Option<u32>,
) -> Result<(), Error> {
    if let Some(d) = days
        && !(1..=MAX_ROTATION_PERIOD_DAYS).contains(&d)
    {
        return Err(Error::InvalidInput(format!(
            "rotation_period_days must be 1-{MAX_ROTATION_PERIOD_DAYS} or null"
        )));
    }
    if max_count == Some(0) {
        return Err(Error::InvalidInput(
            "max_encrypt_count must be at least 1 or null".into(),
        ));
    }
    if let Some(t) = ttl
        && t > MAX_CACHE_TTL_SECONDS
    {
        return Err(Error::InvalidInput(format!(
            "cache_ttl_seconds must be 0-{MAX_CACHE_TTL_SECONDS}"
        )));
    }
    Ok(())
}

fn object(ring: &str) -> String {
    format!("keyring/{ring}")
}

impl Service {
    /// The live keyring `name` of the caller's account, if the caller may see it and may
    /// perform what `op` does in the keyring's group.
    async fn load_keyring(
        &self,
        caller: &Caller,
        name: &str,
        op: &catalogue::Operation,
    ) -> Result<Arc<KeyringState>, Error> {
        check_name(name)?;
        let key = (caller.account_id.clone(), name.to_owned());
        let state = match self.keyrings.get(&key) {
            Some(state) => state,
            None => {
                let row = self
                    .store
                    .keyring(&caller.account_id, name)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("keyring {name}")))?;
                let versions = self.store.versions(&row.id).await?;
                let state = Arc::new(KeyringState { row, versions });
                self.keyrings
                    .insert(key, Arc::clone(&state), self.settings.metadata_ttl);
                state
            }
        };
        // An app sees only its groups' objects; anything else does not exist for it.
        if !caller.sees_group(&state.row.group_id) {
            return Err(Error::NotFound(format!("keyring {name}")));
        }
        Self::require_in_group(caller, op, &state.row.group_id)?;
        self.guard_use(
            caller,
            op,
            &state.row.group_id,
            state.row.canary,
            &object(name),
        )
        .await?;
        self.enforce_use(caller, op, PolicyObject::keyring(&state.row))
            .await?;
        Ok(state)
    }

    async fn forget_keyring(&self, account_id: &AccountId, name: &str) {
        self.forget(Forget::Keyring {
            account: account_id.clone(),
            name: name.to_owned(),
        })
        .await
    }

    async fn forget_data_keys(&self, keyring_id: &KeyringId) {
        self.forget(Forget::DataKeys {
            keyring: keyring_id.clone(),
        })
        .await
    }

    /// The plaintext data key of an envelope version: from the cache, else unwrapped
    /// through the HSM (and cached for the keyring's `cache_ttl_seconds`, if not 0).
    async fn data_key(
        &self,
        row: &KeyringRow,
        version: &VersionRow,
    ) -> Result<Arc<DataKey>, Error> {
        let cache_key = (row.id.clone(), version.version);
        if let Some(hit) = self.data_keys.get(&cache_key) {
            return Ok(hit);
        }
        let (Some(wrapped), Some(master)) = (&version.wrapped_key, &version.wrapping_key) else {
            return Err(Error::Internal(
                "envelope version without a wrapped key".into(),
            ));
        };
        let key = Arc::new(self.hsm.unwrap_data_key(master, wrapped).await?);
        self.hsm_unwraps
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ttl = Duration::from_secs(u64::from(row.cache_ttl_seconds));
        self.data_keys.insert(cache_key, Arc::clone(&key), ttl);
        Ok(key)
    }

    /// Seals `plaintext` under the keyring's current version.
    async fn seal(
        &self,
        state: &KeyringState,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<EncryptOutput, Error> {
        let row = &state.row;
        if !row.enabled {
            return Err(Error::KeyDisabled);
        }
        let version = state
            .versions
            .iter()
            .find(|v| v.version == row.current_version)
            .ok_or_else(|| Error::Internal("current version missing".into()))?;
        let mut envelope = Envelope {
            version: version.version,
            key_ref: crypto::key_ref(&row.id, version.version),
            nonce: crypto::random_nonce(),
            sealed: Vec::new(),
        };
        let aad = envelope.aad(context);
        envelope.sealed = match &version.token_key {
            Some(label) => {
                self.hsm
                    .gcm_encrypt(label, envelope.nonce, aad, plaintext.to_vec())
                    .await?
            }
            None => crypto::seal(
                &*self.data_key(row, version).await?,
                envelope.nonce,
                &aad,
                plaintext,
            ),
        };
        Ok(EncryptOutput {
            ciphertext: envelope.encode(),
            key_version: version.version,
        })
    }

    /// Opens a ciphertext made by this keyring.
    async fn open(
        &self,
        state: &KeyringState,
        ciphertext: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<DecryptOutput, Error> {
        let row = &state.row;
        if !row.enabled {
            return Err(Error::KeyDisabled);
        }
        let envelope = Envelope::parse(ciphertext).map_err(|e| {
            tracing::debug!(reason = %e, "ciphertext rejected before decryption");
            Error::DecryptFailed
        })?;
        // The version must exist in this keyring and the header must name it: a ciphertext
        // of another keyring or a re-labelled version does not authenticate.
        let version = state
            .versions
            .iter()
            .find(|v| v.version == envelope.version && v.key_ref == envelope.key_ref)
            .ok_or(Error::DecryptFailed)?;
        if version.version < row.min_decryption_version {
            return Err(Error::VersionRetired);
        }
        let aad = envelope.aad(context);
        let plaintext = match &version.token_key {
            Some(label) => {
                self.hsm
                    .gcm_decrypt(label, envelope.nonce, aad, envelope.sealed)
                    .await?
            }
            None => crypto::open(
                &*self.data_key(row, version).await?,
                envelope.nonce,
                &aad,
                &envelope.sealed,
            )
            .map_err(|_| Error::DecryptFailed)?,
        };
        Ok(DecryptOutput {
            plaintext,
            key_version: version.version,
        })
    }

    /// Opens a ciphertext of keyring `ring`. A ciphertext that names a version newer than
    /// this node's cached copy knows was sealed by another node just after a rotation there:
    /// the keyring is read again from the store (once) before the ciphertext is refused.
    async fn open_current(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
        op: &catalogue::Operation,
        ciphertext: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<DecryptOutput, Error> {
        let state = self.load_keyring(ctx.caller, ring, op).await?;
        let newer = Envelope::parse(ciphertext)
            .is_ok_and(|envelope| envelope.version > state.row.current_version);
        if !newer {
            return self.open(&state, ciphertext, context).await;
        }
        self.keyrings
            .remove(&(ctx.caller.account_id.clone(), ring.to_owned()));
        let state = self.load_keyring(ctx.caller, ring, op).await?;
        self.open(&state, ciphertext, context).await
    }

    /// Makes the first or the next key version of a keyring, inside the HSM.
    async fn make_version(
        &self,
        account_id: &AccountId,
        keyring_id: &KeyringId,
        group_id: &GroupId,
        protection: Protection,
        version: u32,
    ) -> Result<VersionRow, Error> {
        let master_version = self
            .store
            .group(account_id, group_id)
            .await?
            .ok_or_else(|| Error::Internal("keyring group missing".into()))?
            .master_version;
        let mut row = VersionRow {
            keyring_id: keyring_id.to_owned(),
            version,
            key_ref: crypto::key_ref(keyring_id, version).to_vec(),
            wrapped_key: None,
            wrapping_key: None,
            token_key: None,
            kcv: String::new(),
            created_at: self.now(),
            encrypt_count: 0,
        };
        match protection {
            Protection::Envelope => {
                let master = master_label(group_id, master_version);
                let (key, wrapped) = self.hsm.generate_wrapped_data_key(&master).await?;
                row.kcv = crypto::key_check_value(&key);
                row.wrapped_key = Some(wrapped);
                row.wrapping_key = Some(master);
            }
            Protection::Hsm => {
                let label = token_key_label(keyring_id, version);
                self.hsm.create_token_aes_key(&label).await?;
                let check = self
                    .hsm
                    .gcm_encrypt(
                        &label,
                        crypto::KCV_NONCE,
                        Vec::new(),
                        crypto::KCV_PLAINTEXT.to_vec(),
                    )
                    .await;
                match check {
                    Ok(output) => row.kcv = crypto::kcv_from_output(&output),
                    Err(e) => {
                        self.destroy_quietly(&label).await;
                        return Err(e.into());
                    }
                }
                row.token_key = Some(label);
            }
        }
        Ok(row)
    }

    /// Best-effort clean-up of a token key whose database row was never written.
    pub(super) async fn destroy_quietly(&self, label: &str) {
        if let Err(e) = self.hsm.destroy_key(label).await {
            tracing::warn!(label, error = %e, "could not destroy an orphaned token key");
        }
    }
}
