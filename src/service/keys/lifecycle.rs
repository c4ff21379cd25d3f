//! A key's life: generation or import, reads, rotation, changes, the trash and its purge.

use super::*;
use crate::ids::{AccountId, GroupId};

/// The row of a new, enabled key at version 1 in `(account, group)`, with no usage yet.
fn new_key(
    (account_id, group_id): (&AccountId, &GroupId),
    name: &str,
    kind: KeyKind,
    algorithm: KeyAlgorithm,
    now: i64,
) -> KeyRow {
    KeyRow {
        id: new_id("key"),
        account_id: account_id.clone(),
        group_id: group_id.clone(),
        name: name.to_owned(),
        kind,
        algorithm,
        can_sign: false,
        can_decrypt: false,
        enabled: true,
        current_version: 1,
        min_version: 1,
        canary: false,
        created_at: now,
        deleted_at: None,
    }
}

/// A key just made: its first version, no certificates.
fn new_key_view(row: KeyRow, first: &KeyVersionRow) -> KeyView {
    KeyView {
        versions: vec![version_view(&row, first)],
        row,
        certificates: Vec::new(),
    }
}

impl Service {
    pub async fn create_key(&self, ctx: &Ctx<'_>, spec: KeySpec) -> Result<KeyView, Error> {
        let name = spec.name.clone();
        self.mutation(
            ctx,
            &catalogue::CREATE_KEY,
            "",
            Some(&object(&name)),
            |event| async move {
                let algorithm = parse_algorithm(&spec.algorithm)?;
                let usage = parse_usages(algorithm, spec.usages.as_deref())?;
                self.check_new_key(ctx.caller, &spec.name, &spec.group)
                    .await?;
                let place = (&ctx.caller.account_id, &spec.group);
                let mut row = new_key(place, &spec.name, KeyKind::KeyPair, algorithm, self.now());
                row.can_sign = usage.sign;
                row.can_decrypt = usage.decrypt;
                row.canary = spec.canary;
                let first = self.make_key_version(&row.id, 1, algorithm, usage).await?;
                if let Err(e) = self.store.create_key(&row, &first, &event).await {
                    if let Some(label) = &first.token_label {
                        self.destroy_quietly(label).await;
                    }
                    return Err(e.into());
                }
                self.forget_key(&row.account_id, &row.name).await;
                Ok(new_key_view(row, &first))
            },
        )
        .await
    }

    pub async fn import_public_key(
        &self,
        ctx: &Ctx<'_>,
        spec: PublicKeyImport,
    ) -> Result<KeyView, Error> {
        let name = spec.name.clone();
        self.mutation(
            ctx,
            &IMPORT_PUBLIC_KEY,
            "",
            Some(&object(&name)),
            |event| async move {
                let public = PublicKey::from_pem_or_der(&spec.public_key)
                    .map_err(|e| Error::InvalidInput(format!("public_key: {e}")))?;
                let algorithm = public
                    .algorithm()
                    .map_err(|e| Error::InvalidInput(format!("public_key: {e}")))?;
                self.check_new_key(ctx.caller, &spec.name, &spec.group)
                    .await?;
                let place = (&ctx.caller.account_id, &spec.group);
                let row = new_key(place, &spec.name, KeyKind::PublicKey, algorithm, self.now());
                let first = KeyVersionRow {
                    key_id: row.id.clone(),
                    version: 1,
                    public_key: public.to_spki_der(),
                    fingerprint: public.fingerprint(),
                    token_label: None,
                    created_at: row.created_at,
                };
                self.store.create_key(&row, &first, &event).await?;
                self.forget_key(&row.account_id, &row.name).await;
                Ok(new_key_view(row, &first))
            },
        )
        .await
    }

    pub async fn list_keys(&self, ctx: &Ctx<'_>) -> Result<Vec<KeyRow>, Error> {
        self.read(ctx, &catalogue::LIST_KEYS, "", None, async {
            let rows = self.store.keys(&ctx.caller.account_id).await?;
            Ok(rows
                .into_iter()
                .filter(|r| ctx.caller.sees_group(&r.group_id))
                .collect())
        })
        .await
    }

    pub async fn get_key(&self, ctx: &Ctx<'_>, name: &str) -> Result<KeyView, Error> {
        self.read(ctx, &catalogue::GET_KEY, name, Some(&object(name)), async {
            let state = self.load_key(ctx.caller, name, &catalogue::GET_KEY).await?;
            self.view(&state).await
        })
        .await
    }

    pub async fn rotate_key(&self, ctx: &Ctx<'_>, name: &str) -> Result<KeyView, Error> {
        self.mutation(ctx, &catalogue::ROTATE_KEY, name, Some(&object(name)), |event| async move {
            let state = self.load_key(ctx.caller, name, &catalogue::ROTATE_KEY).await?;
            if state.row.kind == KeyKind::PublicKey {
                return Err(Error::UsageNotAllowed(format!(
                    "key {name} is an imported public key; import the new key under a new name instead"
                )));
            }
            let usage = KeyPairUsage {
                sign: state.row.can_sign,
                decrypt: state.row.can_decrypt,
            };
            let next = self
                .make_key_version(&state.row.id, state.row.current_version + 1, state.algorithm, usage)
                .await?;
            if let Err(e) = self.store.add_key_version(&next, &event).await {
                if let Some(label) = &next.token_label {
                    self.destroy_quietly(label).await;
                }
                return Err(e.into());
            }
            self.forget_key(&state.row.account_id, name).await;
            let state = self.load_key(ctx.caller, name, &catalogue::ROTATE_KEY).await?;
            self.view(&state).await
        })
        .await
    }

    pub async fn update_key(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        patch: KeyPatch,
    ) -> Result<KeyView, Error> {
        self.mutation(
            ctx,
            &catalogue::UPDATE_KEY,
            name,
            Some(&object(name)),
            |event| async move {
                let state = self
                    .load_key(ctx.caller, name, &catalogue::UPDATE_KEY)
                    .await?;
                let enabled = patch.enabled.unwrap_or(state.row.enabled);
                let min_version = patch.min_version.unwrap_or(state.row.min_version);
                if !(1..=state.row.current_version).contains(&min_version) {
                    return Err(Error::InvalidInput(format!(
                        "min_version must be between 1 and the current version ({})",
                        state.row.current_version
                    )));
                }
                self.store
                    .update_key(&state.row.id, enabled, min_version, &event)
                    .await?;
                self.forget_key(&state.row.account_id, name).await;
                let state = self
                    .load_key(ctx.caller, name, &catalogue::UPDATE_KEY)
                    .await?;
                self.view(&state).await
            },
        )
        .await
    }

    pub async fn delete_key(&self, ctx: &Ctx<'_>, name: &str) -> Result<(), Error> {
        let key_name = name.to_owned();
        self.gate(
            ctx,
            crate::service::PendingOperation::DeleteKey { name: key_name },
        )
        .await?;
        self.mutation(
            ctx,
            &catalogue::DELETE_KEY,
            name,
            Some(&object(name)),
            |event| async move {
                let state = self
                    .load_key(ctx.caller, name, &catalogue::DELETE_KEY)
                    .await?;
                self.store
                    .trash_key(&state.row.id, self.now(), &event)
                    .await?;
                self.forget_key(&state.row.account_id, name).await;
                Ok(())
            },
        )
        .await
    }

    pub async fn restore_key(&self, ctx: &Ctx<'_>, name: &str) -> Result<KeyView, Error> {
        self.mutation(
            ctx,
            &catalogue::RESTORE_KEY,
            name,
            Some(&object(name)),
            |event| async move {
                check_name(name)?;
                let account = &ctx.caller.account_id;
                let row = self
                    .store
                    .trashed_key(account, name)
                    .await?
                    .filter(|r| ctx.caller.sees_group(&r.group_id))
                    .ok_or_else(|| Error::NotFound(format!("key {name} in the trash")))?;
                Self::require_in_group(ctx.caller, &catalogue::RESTORE_KEY, &row.group_id)?;
                self.require_live_group(account, &row.group_id).await?;
                if self.store.key(account, name).await?.is_some() {
                    return Err(Error::Conflict(format!(
                        "a live key is named {name}; delete it before restoring this one"
                    )));
                }
                self.store.restore_key(&row.id, &event).await?;
                self.forget_key(account, name).await;
                let state = self
                    .load_key(ctx.caller, name, &catalogue::RESTORE_KEY)
                    .await?;
                self.view(&state).await
            },
        )
        .await
    }

    /// Destroys the private keys of keys whose trash retention has passed.
    pub(in crate::service) async fn purge_trashed_keys(&self) -> Result<(), Error> {
        let retention = crate::service::micros(self.settings.trash_retention);
        let labels = self
            .store
            .purge_trashed_keys(self.now().saturating_sub(retention))
            .await?;
        for label in labels {
            self.destroy_quietly(&label).await;
        }
        Ok(())
    }
}
