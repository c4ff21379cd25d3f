//! Keyrings: create, encrypt, decrypt, rewrap, data keys, rotation, configuration, trash.

use super::{Caller, Ctx, Error, KeyringState, Service, new_id};
use crate::authz::is_valid_name;
use crate::crypto::{self, DataKey, Envelope};
use crate::store::{KeyringConfig, KeyringRow, VersionRow};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Where a keyring's version keys live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// Wrapped by the group master key; used in process from a short-lived cache.
    Envelope,
    /// A non-extractable token object; every operation runs inside the HSM.
    Hsm,
}

impl Protection {
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text {
            "envelope" => Ok(Self::Envelope),
            "hsm" => Ok(Self::Hsm),
            other => Err(Error::InvalidInput(format!(
                "protection must be \"envelope\" or \"hsm\", not {other:?}"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Envelope => "envelope",
            Self::Hsm => "hsm",
        }
    }
}

/// What a caller asks for when creating a keyring.
#[derive(Debug, Clone)]
pub struct KeyringSpec {
    pub name: String,
    pub group: String,
    pub protection: Protection,
    pub rotation_period_days: Option<u32>,
    pub max_encrypt_count: Option<u64>,
    pub cache_ttl_seconds: Option<u32>,
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

pub(super) fn master_label(group_id: &str, version: u32) -> String {
    format!("mk/{group_id}/v{version}")
}

fn token_key_label(keyring_id: &str, version: u32) -> String {
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
    /// perform what `flag` asks in the keyring's group.
    async fn load_keyring(
        &self,
        caller: &Caller,
        name: &str,
        flag: &str,
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
        Self::require_in_group(caller, flag, &state.row.group_id)?;
        Ok(state)
    }

    fn forget_keyring(&self, account_id: &str, name: &str) {
        self.keyrings
            .remove(&(account_id.to_owned(), name.to_owned()));
    }

    fn forget_data_keys(&self, keyring_id: &str) {
        self.data_keys.retain(|(id, _), _| id != keyring_id);
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

    /// Makes the first or the next key version of a keyring, inside the HSM.
    async fn make_version(
        &self,
        account_id: &str,
        keyring_id: &str,
        group_id: &str,
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

    pub async fn create_keyring(
        &self,
        ctx: &Ctx<'_>,
        spec: KeyringSpec,
    ) -> Result<KeyringView, Error> {
        let name = spec.name.clone();
        self.mutation(
            ctx,
            "keyring.create",
            Some(&object(&name)),
            |event| async move {
                Self::require(ctx.caller, "keyring.create")?;
                check_name(&spec.name)?;
                validate_settings(
                    spec.rotation_period_days,
                    spec.max_encrypt_count,
                    spec.cache_ttl_seconds,
                )?;
                let group_visible = ctx.caller.sees_group(&spec.group);
                let group = self
                    .store
                    .group(&ctx.caller.account_id, &spec.group)
                    .await?
                    .filter(|_| group_visible);
                let group =
                    group.ok_or_else(|| Error::NotFound(format!("group {}", spec.group)))?;
                Self::require_in_group(ctx.caller, "keyring.create", &group.id)?;
                if self
                    .store
                    .keyring(&ctx.caller.account_id, &spec.name)
                    .await?
                    .is_some()
                {
                    return Err(Error::Conflict(format!(
                        "a keyring named {} already exists",
                        spec.name
                    )));
                }
                let now = self.now();
                let row = KeyringRow {
                    id: new_id("kr"),
                    account_id: ctx.caller.account_id.clone(),
                    group_id: group.id.clone(),
                    name: spec.name.clone(),
                    protection: spec.protection.as_str().to_owned(),
                    current_version: 1,
                    min_decryption_version: 1,
                    enabled: true,
                    rotation_period_days: spec.rotation_period_days,
                    max_encrypt_count: spec.max_encrypt_count,
                    cache_ttl_seconds: spec.cache_ttl_seconds.unwrap_or(DEFAULT_CACHE_TTL_SECONDS),
                    created_at: now,
                    rotated_at: now,
                    deleted_at: None,
                };
                let first = self
                    .make_version(&row.account_id, &row.id, &group.id, spec.protection, 1)
                    .await?;
                if let Err(e) = self.store.create_keyring(&row, &first, &event).await {
                    if let Some(label) = &first.token_key {
                        self.destroy_quietly(label).await;
                    }
                    return Err(e.into());
                }
                Ok(KeyringView { row })
            },
        )
        .await
    }

    pub async fn list_keyrings(&self, ctx: &Ctx<'_>) -> Result<Vec<KeyringView>, Error> {
        let result = async {
            Self::require(ctx.caller, "keyring.read")?;
            let rows = self.store.keyrings(&ctx.caller.account_id).await?;
            Ok(rows
                .into_iter()
                .filter(|r| ctx.caller.sees_group(&r.group_id))
                .map(|row| KeyringView { row })
                .collect())
        }
        .await;
        self.audited(ctx, "keyring.list", None, None, result).await
    }

    pub async fn get_keyring(&self, ctx: &Ctx<'_>, ring: &str) -> Result<KeyringView, Error> {
        let result = async {
            Self::require(ctx.caller, &format!("keyring.{ring}.read"))?;
            Ok(KeyringView {
                row: self
                    .load_keyring(ctx.caller, ring, &format!("keyring.{ring}.read"))
                    .await?
                    .row
                    .clone(),
            })
        }
        .await;
        self.audited(ctx, "keyring.read", Some(&object(ring)), None, result)
            .await
    }

    pub async fn encrypt(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<EncryptOutput, Error> {
        let mut usage = None;
        let result = async {
            Self::require(ctx.caller, &format!("keyring.{ring}.encrypt"))?;
            let state = self
                .load_keyring(ctx.caller, ring, &format!("keyring.{ring}.encrypt"))
                .await?;
            let out = self.seal(&state, plaintext, context).await?;
            usage = Some((state.row.id.clone(), out.key_version));
            Ok(out)
        }
        .await;
        self.audited(ctx, "keyring.encrypt", Some(&object(ring)), usage, result)
            .await
    }

    pub async fn decrypt(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
        ciphertext: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<DecryptOutput, Error> {
        let result = async {
            Self::require(ctx.caller, &format!("keyring.{ring}.decrypt"))?;
            let state = self
                .load_keyring(ctx.caller, ring, &format!("keyring.{ring}.decrypt"))
                .await?;
            self.open(&state, ciphertext, context).await
        }
        .await;
        self.audited(ctx, "keyring.decrypt", Some(&object(ring)), None, result)
            .await
    }

    /// Decrypts and re-encrypts under the current version; the plaintext never leaves.
    pub async fn rewrap(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
        ciphertext: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<EncryptOutput, Error> {
        let mut usage = None;
        let result = async {
            Self::require(ctx.caller, &format!("keyring.{ring}.decrypt"))?;
            Self::require(ctx.caller, &format!("keyring.{ring}.encrypt"))?;
            let state = self
                .load_keyring(ctx.caller, ring, &format!("keyring.{ring}.encrypt"))
                .await?;
            Self::require_in_group(
                ctx.caller,
                &format!("keyring.{ring}.decrypt"),
                &state.row.group_id,
            )?;
            let opened = self.open(&state, ciphertext, context).await?;
            let out = self.seal(&state, &opened.plaintext, context).await?;
            usage = Some((state.row.id.clone(), out.key_version));
            Ok(out)
        }
        .await;
        self.audited(ctx, "keyring.rewrap", Some(&object(ring)), usage, result)
            .await
    }

    /// A fresh random data key, returned in plaintext and sealed by the keyring.
    pub async fn datakey(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
        bytes: u32,
        context: &BTreeMap<String, String>,
    ) -> Result<DataKeyOutput, Error> {
        let mut usage = None;
        let result = async {
            Self::require(ctx.caller, &format!("keyring.{ring}.encrypt"))?;
            if !DATAKEY_BYTES.contains(&bytes) {
                return Err(Error::InvalidInput(format!(
                    "bytes must be between {} and {}",
                    DATAKEY_BYTES.start(),
                    DATAKEY_BYTES.end()
                )));
            }
            let state = self
                .load_keyring(ctx.caller, ring, &format!("keyring.{ring}.encrypt"))
                .await?;
            let plaintext = crypto::random_bytes(bytes as usize);
            let sealed = self.seal(&state, &plaintext, context).await?;
            usage = Some((state.row.id.clone(), sealed.key_version));
            Ok(DataKeyOutput {
                plaintext,
                ciphertext: sealed.ciphertext,
                key_version: sealed.key_version,
            })
        }
        .await;
        self.audited(ctx, "keyring.datakey", Some(&object(ring)), usage, result)
            .await
    }

    pub async fn rotate(&self, ctx: &Ctx<'_>, ring: &str) -> Result<u32, Error> {
        self.mutation(
            ctx,
            "keyring.rotate",
            Some(&object(ring)),
            |event| async move {
                Self::require(ctx.caller, &format!("keyring.{ring}.rotate"))?;
                let state = self
                    .load_keyring(ctx.caller, ring, &format!("keyring.{ring}.rotate"))
                    .await?;
                self.rotate_row(&state.row, event).await
            },
        )
        .await
    }

    /// Adds the next version of a keyring and makes it current.
    async fn rotate_row(
        &self,
        row: &KeyringRow,
        event: crate::audit::AuditEvent,
    ) -> Result<u32, Error> {
        let protection = Protection::parse(&row.protection)?;
        // Read fresh: the cache may lag behind a rotation made by another request.
        let current = self
            .store
            .keyring(&row.account_id, &row.name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("keyring {}", row.name)))?
            .current_version;
        let next = self
            .make_version(
                &row.account_id,
                &row.id,
                &row.group_id,
                protection,
                current + 1,
            )
            .await?;
        let stored = self.store.add_version(&next, self.now(), &event).await;
        self.forget_keyring(&row.account_id, &row.name);
        if let Err(e) = stored {
            if let Some(label) = &next.token_key {
                self.destroy_quietly(label).await;
            }
            return Err(e.into());
        }
        Ok(next.version)
    }

    pub async fn keyring_config(&self, ctx: &Ctx<'_>, ring: &str) -> Result<KeyringRow, Error> {
        let result = async {
            Self::require(ctx.caller, &format!("keyring.{ring}.config.read"))?;
            Ok(self
                .load_keyring(ctx.caller, ring, &format!("keyring.{ring}.config.read"))
                .await?
                .row
                .clone())
        }
        .await;
        self.audited(
            ctx,
            "keyring.config.read",
            Some(&object(ring)),
            None,
            result,
        )
        .await
    }

    pub async fn update_keyring_config(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
        patch: ConfigPatch,
    ) -> Result<KeyringRow, Error> {
        self.mutation(
            ctx,
            "keyring.config.write",
            Some(&object(ring)),
            |event| async move {
                Self::require(ctx.caller, &format!("keyring.{ring}.config.write"))?;
                let state = self
                    .load_keyring(ctx.caller, ring, &format!("keyring.{ring}.config.write"))
                    .await?;
                let row = &state.row;
                let config = KeyringConfig {
                    enabled: patch.enabled.unwrap_or(row.enabled),
                    min_decryption_version: patch
                        .min_decryption_version
                        .unwrap_or(row.min_decryption_version),
                    rotation_period_days: patch
                        .rotation_period_days
                        .unwrap_or(row.rotation_period_days),
                    max_encrypt_count: patch.max_encrypt_count.unwrap_or(row.max_encrypt_count),
                    cache_ttl_seconds: patch.cache_ttl_seconds.unwrap_or(row.cache_ttl_seconds),
                };
                validate_settings(
                    config.rotation_period_days,
                    config.max_encrypt_count,
                    Some(config.cache_ttl_seconds),
                )?;
                if !(1..=row.current_version).contains(&config.min_decryption_version) {
                    return Err(Error::InvalidInput(format!(
                        "min_decryption_version must be between 1 and the current version ({})",
                        row.current_version
                    )));
                }
                self.store
                    .update_keyring_config(&row.id, &config, &event)
                    .await?;
                self.forget_keyring(&row.account_id, &row.name);
                self.forget_data_keys(&row.id);
                Ok(KeyringRow {
                    enabled: config.enabled,
                    min_decryption_version: config.min_decryption_version,
                    rotation_period_days: config.rotation_period_days,
                    max_encrypt_count: config.max_encrypt_count,
                    cache_ttl_seconds: config.cache_ttl_seconds,
                    ..row.clone()
                })
            },
        )
        .await
    }

    pub async fn keyring_keys(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
    ) -> Result<Vec<KeyVersionInfo>, Error> {
        let result = async {
            Self::require(ctx.caller, &format!("keyring.{ring}.keys.read"))?;
            let state = self
                .load_keyring(ctx.caller, ring, &format!("keyring.{ring}.keys.read"))
                .await?;
            // Counters move with every encrypt: read them fresh, not from the cache.
            let versions = self.store.versions(&state.row.id).await?;
            Ok(versions
                .iter()
                .map(|v| version_info(&state.row, v))
                .collect())
        }
        .await;
        self.audited(ctx, "keyring.keys.read", Some(&object(ring)), None, result)
            .await
    }

    pub async fn lookup_hash(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
        hash: &str,
    ) -> Result<HashLookup, Error> {
        let result = async {
            Self::require(ctx.caller, &format!("keyring.{ring}.hash.read"))?;
            let key_ref = hex::decode(hash)
                .ok()
                .filter(|b| b.len() == crypto::KEY_REF_LEN)
                .ok_or_else(|| Error::InvalidInput("hash must be 32 hex characters".into()))?;
            let state = self
                .load_keyring(ctx.caller, ring, &format!("keyring.{ring}.hash.read"))
                .await?;
            let version = state
                .versions
                .iter()
                .find(|v| v.key_ref == key_ref)
                .ok_or_else(|| {
                    Error::NotFound(format!("key reference {hash} in keyring {ring}"))
                })?;
            Ok(HashLookup {
                keyring: state.row.name.clone(),
                info: version_info(&state.row, version),
            })
        }
        .await;
        self.audited(ctx, "keyring.hash.read", Some(&object(ring)), None, result)
            .await
    }

    /// Moves a keyring to the trash; it is destroyed after the retention period.
    pub async fn delete_keyring(&self, ctx: &Ctx<'_>, ring: &str) -> Result<(), Error> {
        self.mutation(
            ctx,
            "keyring.delete",
            Some(&object(ring)),
            |event| async move {
                Self::require(ctx.caller, &format!("keyring.{ring}.delete"))?;
                let state = self
                    .load_keyring(ctx.caller, ring, &format!("keyring.{ring}.delete"))
                    .await?;
                self.store
                    .trash_keyring(&state.row.id, self.now(), &event)
                    .await?;
                self.forget_keyring(&state.row.account_id, &state.row.name);
                self.forget_data_keys(&state.row.id);
                Ok(())
            },
        )
        .await
    }

    /// Takes the most recently deleted keyring named `ring` out of the trash, unless it was
    /// purged or a live keyring took its name meanwhile.
    pub async fn restore_keyring(&self, ctx: &Ctx<'_>, ring: &str) -> Result<KeyringView, Error> {
        self.mutation(ctx, "keyring.restore", Some(&object(ring)), |event| async move {
            Self::require(ctx.caller, &format!("keyring.{ring}.restore"))?;
            check_name(ring)?;
            let account = &ctx.caller.account_id;
            let visible = |row: &KeyringRow| ctx.caller.sees_group(&row.group_id);
            let row = self
                .store
                .trashed_keyring(account, ring)
                .await?
                .filter(visible)
                .ok_or_else(|| Error::NotFound(format!("keyring {ring} in the trash")))?;
            Self::require_in_group(ctx.caller, &format!("keyring.{ring}.restore"), &row.group_id)?;
            self.require_live_group(account, &row.group_id).await?;
            if self.store.keyring(account, ring).await?.is_some() {
                return Err(Error::Conflict(format!(
                    "a live keyring is named {ring}; delete or rename it before restoring this one"
                )));
            }
            self.store.restore_keyring(&row.id, &event).await?;
            self.forget_keyring(account, ring);
            Ok(KeyringView { row: KeyringRow { deleted_at: None, ..row } })
        })
        .await
    }

    /// Rotates every keyring whose period elapsed or whose encrypt budget is spent.
    pub(super) async fn rotate_due_keyrings(&self) -> Result<(), Error> {
        for row in self.store.keyrings_due_for_rotation(self.now()).await? {
            let caller = Self::system_caller(&row.account_id);
            let meta = super::RequestMeta::new(super::new_event_id("sys"), None);
            let event = self.event(
                &meta,
                Some(&caller),
                "keyring.rotate.scheduled",
                Some(&object(&row.name)),
                Ok(()),
            );
            match self.rotate_row(&row, event).await {
                Ok(version) => {
                    tracing::info!(keyring = %row.id, version, "keyring rotated automatically")
                }
                Err(e) => {
                    tracing::warn!(keyring = %row.id, error = %e, "automatic rotation failed; will retry")
                }
            }
        }
        Ok(())
    }

    /// Destroys keyrings that stayed in the trash past the retention period.
    pub(super) async fn purge_trash(&self) -> Result<(), Error> {
        let retention =
            i64::try_from(self.settings.trash_retention.as_micros()).unwrap_or(i64::MAX);
        for label in self
            .store
            .purge_trash(self.now().saturating_sub(retention))
            .await?
        {
            self.destroy_quietly(&label).await;
        }
        Ok(())
    }
}
