//! A keyring's life: creation, reads, configuration, rotation (asked for and scheduled),
//! the trash and its purge.

use super::*;
use crate::ids::{AccountId, GroupId};
use crate::service::{RequestMeta, new_event_id};

/// The action of a rotation that maintenance made, not a request.
const SCHEDULED_ROTATION_ACTION: &str = "keyring.rotate.scheduled";

/// The row of a new keyring of `account_id` in `group_id`, at version 1.
fn new_keyring(
    spec: &KeyringSpec,
    account_id: &AccountId,
    group_id: &GroupId,
    now: i64,
) -> KeyringRow {
    KeyringRow {
        id: new_id("kr"),
        account_id: account_id.clone(),
        group_id: group_id.clone(),
        name: spec.name.clone(),
        protection: spec.protection,
        current_version: 1,
        min_decryption_version: 1,
        enabled: true,
        rotation_period_days: spec.rotation_period_days,
        max_encrypt_count: spec.max_encrypt_count,
        cache_ttl_seconds: spec.cache_ttl_seconds.unwrap_or(DEFAULT_CACHE_TTL_SECONDS),
        canary: spec.canary,
        created_at: now,
        rotated_at: now,
        deleted_at: None,
    }
}

impl Service {
    pub async fn create_keyring(
        &self,
        ctx: &Ctx<'_>,
        spec: KeyringSpec,
    ) -> Result<KeyringView, Error> {
        let name = spec.name.clone();
        self.mutation(
            ctx,
            &catalogue::CREATE_KEYRING,
            "",
            Some(&object(&name)),
            |event| async move {
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
                Self::require_in_group(ctx.caller, &catalogue::CREATE_KEYRING, &group.id)?;
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
                let row = new_keyring(&spec, &ctx.caller.account_id, &group.id, self.now());
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
        self.read(ctx, &catalogue::LIST_KEYRINGS, "", None, async {
            let rows = self.store.keyrings(&ctx.caller.account_id).await?;
            Ok(rows
                .into_iter()
                .filter(|r| ctx.caller.sees_group(&r.group_id))
                .map(|row| KeyringView { row })
                .collect())
        })
        .await
    }

    pub async fn get_keyring(&self, ctx: &Ctx<'_>, ring: &str) -> Result<KeyringView, Error> {
        self.read(
            ctx,
            &catalogue::GET_KEYRING,
            ring,
            Some(&object(ring)),
            async {
                Ok(KeyringView {
                    row: self
                        .load_keyring(ctx.caller, ring, &catalogue::GET_KEYRING)
                        .await?
                        .row
                        .clone(),
                })
            },
        )
        .await
    }

    pub async fn rotate(&self, ctx: &Ctx<'_>, ring: &str) -> Result<u32, Error> {
        self.mutation(
            ctx,
            &catalogue::ROTATE_KEYRING,
            ring,
            Some(&object(ring)),
            |event| async move {
                let state = self
                    .load_keyring(ctx.caller, ring, &catalogue::ROTATE_KEYRING)
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
        let protection = row.protection;
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
        self.forget_keyring(&row.account_id, &row.name).await;
        if let Err(e) = stored {
            if let Some(label) = &next.token_key {
                self.destroy_quietly(label).await;
            }
            return Err(e.into());
        }
        Ok(next.version)
    }

    pub async fn keyring_config(&self, ctx: &Ctx<'_>, ring: &str) -> Result<KeyringRow, Error> {
        self.read(
            ctx,
            &catalogue::GET_KEYRING_CONFIG,
            ring,
            Some(&object(ring)),
            async {
                Ok(self
                    .load_keyring(ctx.caller, ring, &catalogue::GET_KEYRING_CONFIG)
                    .await?
                    .row
                    .clone())
            },
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
            &catalogue::UPDATE_KEYRING_CONFIG,
            ring,
            Some(&object(ring)),
            |event| async move {
                let state = self
                    .load_keyring(ctx.caller, ring, &catalogue::UPDATE_KEYRING_CONFIG)
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
                self.forget_keyring(&row.account_id, &row.name).await;
                self.forget_data_keys(&row.id).await;
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
        self.read(
            ctx,
            &catalogue::KEYRING_KEYS,
            ring,
            Some(&object(ring)),
            async {
                let state = self
                    .load_keyring(ctx.caller, ring, &catalogue::KEYRING_KEYS)
                    .await?;
                // Counters move with every encrypt: read them fresh, not from the cache.
                let versions = self.store.versions(&state.row.id).await?;
                Ok(versions
                    .iter()
                    .map(|v| version_info(&state.row, v))
                    .collect())
            },
        )
        .await
    }

    pub async fn lookup_hash(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
        hash: &str,
    ) -> Result<HashLookup, Error> {
        self.read(
            ctx,
            &catalogue::LOOKUP_HASH,
            ring,
            Some(&object(ring)),
            async {
                let key_ref = hex::decode(hash)
                    .ok()
                    .filter(|b| b.len() == crypto::KEY_REF_LEN)
                    .ok_or_else(|| Error::InvalidInput("hash must be 32 hex characters".into()))?;
                let state = self
                    .load_keyring(ctx.caller, ring, &catalogue::LOOKUP_HASH)
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
            },
        )
        .await
    }

    /// Moves a keyring to the trash; it is destroyed after the retention period.
    pub async fn delete_keyring(&self, ctx: &Ctx<'_>, ring: &str) -> Result<(), Error> {
        let ring_name = ring.to_owned();
        self.gate(
            ctx,
            crate::service::PendingOperation::DeleteKeyring { ring: ring_name },
        )
        .await?;
        self.mutation(
            ctx,
            &catalogue::DELETE_KEYRING,
            ring,
            Some(&object(ring)),
            |event| async move {
                let state = self
                    .load_keyring(ctx.caller, ring, &catalogue::DELETE_KEYRING)
                    .await?;
                self.store
                    .trash_keyring(&state.row.id, self.now(), &event)
                    .await?;
                self.forget_keyring(&state.row.account_id, &state.row.name)
                    .await;
                self.forget_data_keys(&state.row.id).await;
                Ok(())
            },
        )
        .await
    }

    /// Takes the most recently deleted keyring named `ring` out of the trash, unless it was
    /// purged or a live keyring took its name meanwhile.
    pub async fn restore_keyring(&self, ctx: &Ctx<'_>, ring: &str) -> Result<KeyringView, Error> {
        self.mutation(ctx, &catalogue::RESTORE_KEYRING, ring, Some(&object(ring)), |event| async move {
            check_name(ring)?;
            let account = &ctx.caller.account_id;
            let visible = |row: &KeyringRow| ctx.caller.sees_group(&row.group_id);
            let row = self
                .store
                .trashed_keyring(account, ring)
                .await?
                .filter(visible)
                .ok_or_else(|| Error::NotFound(format!("keyring {ring} in the trash")))?;
            Self::require_in_group(ctx.caller, &catalogue::RESTORE_KEYRING, &row.group_id)?;
            self.require_live_group(account, &row.group_id).await?;
            if self.store.keyring(account, ring).await?.is_some() {
                return Err(Error::Conflict(format!(
                    "a live keyring is named {ring}; delete or rename it before restoring this one"
                )));
            }
            self.store.restore_keyring(&row.id, &event).await?;
            self.forget_keyring(account, ring).await;
            Ok(KeyringView { row: KeyringRow { deleted_at: None, ..row } })
        })
        .await
    }

    /// Rotates every keyring whose period elapsed or whose encrypt budget is spent.
    pub(in crate::service) async fn rotate_due_keyrings(&self) -> Result<(), Error> {
        for row in self.store.keyrings_due_for_rotation(self.now()).await? {
            let caller = Self::system_caller(&row.account_id);
            let meta = RequestMeta::new(new_event_id("sys"), None);
            let event = self.event(
                &meta,
                Some(&caller),
                SCHEDULED_ROTATION_ACTION,
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
    pub(in crate::service) async fn purge_trash(&self) -> Result<(), Error> {
        let retention = crate::service::micros(self.settings.trash_retention);
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
