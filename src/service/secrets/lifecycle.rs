//! A secret's life: creation, metadata, new values and rollback, versions, the trash and
//! its purge.

use super::*;
use crate::audit::AuditEvent;
use crate::service::{Ctx, new_id};
use crate::store::NewVersion;

impl SecretSpec {
    /// Checks everything that does not need the store: name, retention, content against the
    /// kind, rotation policy, managed target, cascade.
    fn validate(&self) -> Result<(), Error> {
        check_name(&self.name)?;
        check_retention(self.retention.unwrap_or(DEFAULT_RETENTION))?;
        if let Some(content) = &self.content {
            content.validate()?;
            let structured = matches!(content, SecretContent::Fields(_));
            if structured != self.kind.is_structured() || self.kind == SecretKind::Managed {
                return Err(Error::InvalidInput(match self.kind {
                    SecretKind::Structured => "a structured secret takes \"fields\"".into(),
                    SecretKind::Managed => {
                        "a managed secret's value comes from rotation: give \"managed\" and \"rotation\", not a value".into()
                    }
                    _ => format!("a {} secret takes \"value\"", self.kind.as_str()),
                }));
            }
        }
        if let Some(target) = &self.managed {
            target.validate()?;
        }
        if self.kind == SecretKind::Managed && self.managed.is_none() {
            return Err(Error::InvalidInput(
                "a managed secret needs \"managed\" (mode, usernames, host, port, database)".into(),
            ));
        }
        if self.kind != SecretKind::Managed && self.managed.is_some() {
            return Err(Error::InvalidInput(
                "\"managed\" is only for kind \"managed\"".into(),
            ));
        }
        if !self.cascade.is_empty() && self.kind != SecretKind::Canary {
            return Err(Error::InvalidInput(
                "\"cascade\" is only for kind \"canary\"".into(),
            ));
        }
        if let Some(bad) = self.cascade.iter().find(|n| !is_valid_name(n)) {
            return Err(Error::InvalidInput(format!(
                "cascade names secrets: {bad:?} is not a secret name"
            )));
        }
        Ok(())
    }
}

/// The row of a new secret at version 1.
fn new_secret(spec: &SecretSpec, account_id: &AccountId, now: i64) -> SecretRow {
    let managed = spec.kind == SecretKind::Managed;
    SecretRow {
        id: new_id("sec"),
        account_id: account_id.clone(),
        group_id: spec.group.clone(),
        name: spec.name.clone(),
        kind: spec.kind,
        // A managed secret has no current value until its agent applies the first one.
        current_version: if managed { 0 } else { 1 },
        latest_version: 1,
        retention: spec.retention.unwrap_or(DEFAULT_RETENTION),
        rotation: spec.rotation.as_ref().map(RotationPolicy::to_stored),
        next_rotation_at: spec.rotation.as_ref().map(|p| p.next_due(now)),
        managed: spec.managed.as_ref().map(ManagedTarget::to_stored),
        canary_cascade: spec.cascade.clone(),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    }
}

impl Service {
    pub async fn create_secret(
        &self,
        ctx: &Ctx<'_>,
        spec: SecretSpec,
    ) -> Result<SecretView, Error> {
        let name = spec.name.clone();
        self.mutation(
            ctx,
            &catalogue::CREATE_SECRET,
            "",
            Some(&object(&name)),
            |event| async move { self.create_secret_row(ctx, spec, event).await },
        )
        .await
    }

    async fn create_secret_row(
        &self,
        ctx: &Ctx<'_>,
        mut spec: SecretSpec,
        event: AuditEvent,
    ) -> Result<SecretView, Error> {
        if spec.kind == SecretKind::Managed && spec.rotation.is_none() {
            spec.rotation = Some(RotationPolicy::managed_default());
        }
        spec.validate()?;
        if let Some(policy) = &spec.rotation {
            policy.validate_for(spec.kind, spec.content.as_ref())?;
        }
        let visible = ctx.caller.sees_group(&spec.group);
        self.store
            .group(&ctx.caller.account_id, &spec.group)
            .await?
            .filter(|_| visible)
            .ok_or_else(|| Error::NotFound(format!("group {}", spec.group)))?;
        Self::require_in_group(ctx.caller, &catalogue::CREATE_SECRET, &spec.group)?;
        if self
            .store
            .secret(&ctx.caller.account_id, &spec.name)
            .await?
            .is_some()
        {
            return Err(Error::Conflict(format!(
                "a secret named {} already exists",
                spec.name
            )));
        }
        let row = new_secret(&spec, &ctx.caller.account_id, self.now());
        let content = match spec.content.take() {
            Some(content) => content,
            None => self.first_generated_content(&spec)?,
        };
        let mut first = self
            .seal_version(
                &row,
                1,
                &content,
                VersionOrigin::Create,
                &ctx.caller.principal_id,
            )
            .await?;
        if spec.kind == SecretKind::Managed {
            first.state = VersionState::Pending;
        }
        self.store.create_secret(&row, &first, &event).await?;
        view_of(&row, std::slice::from_ref(&first))
    }

    /// The first value of a secret created without one: generated by its rotation policy.
    fn first_generated_content(&self, spec: &SecretSpec) -> Result<SecretContent, Error> {
        let policy = spec.rotation.as_ref().ok_or_else(|| {
            Error::InvalidInput(match spec.kind {
                SecretKind::Structured => {
                    "give \"fields\", or a \"rotation\" to generate them".into()
                }
                _ => "give \"value\", or a \"rotation\" to generate it".into(),
            })
        })?;
        match (&spec.managed, spec.kind) {
            (Some(target), _) => Ok(target.first_content(policy)),
            (None, SecretKind::Structured) => Ok(SecretContent::Fields(
                policy
                    .fields
                    .iter()
                    .map(|f| (f.clone(), policy.generate()))
                    .collect(),
            )),
            (None, _) => Ok(SecretContent::Single(policy.generate())),
        }
    }

    pub async fn list_secrets(&self, ctx: &Ctx<'_>) -> Result<Vec<SecretRow>, Error> {
        self.read(ctx, &catalogue::LIST_SECRETS, "", None, async {
            let rows = self.store.secrets(&ctx.caller.account_id).await?;
            Ok(rows
                .into_iter()
                .filter(|r| ctx.caller.sees_group(&r.group_id))
                .collect())
        })
        .await
    }

    pub async fn get_secret(&self, ctx: &Ctx<'_>, name: &str) -> Result<SecretView, Error> {
        self.read(
            ctx,
            &catalogue::GET_SECRET,
            name,
            Some(&object(name)),
            async {
                self.load_secret(ctx.caller, name, &catalogue::GET_SECRET)
                    .await?
                    .view()
            },
        )
        .await
    }

    pub async fn secret_versions(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
    ) -> Result<Vec<SecretVersionInfo>, Error> {
        self.read(
            ctx,
            &catalogue::SECRET_VERSIONS,
            name,
            Some(&object(name)),
            async {
                let state = self
                    .load_secret(ctx.caller, name, &catalogue::SECRET_VERSIONS)
                    .await?;
                Ok(state
                    .versions
                    .iter()
                    .map(|v| version_info(&state.row, v))
                    .collect())
            },
        )
        .await
    }

    /// A new value set by hand: refused while rotation makes the values.
    pub async fn set_secret_value(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        content: SecretContent,
    ) -> Result<SecretView, Error> {
        let op = &catalogue::SET_SECRET_VALUE;
        self.mutation(ctx, op, name, Some(&object(name)), |event| async move {
            let state = self.load_secret(ctx.caller, name, op).await?;
            refuse_hand_made_values(&state.row)?;
            content.validate()?;
            if matches!(content, SecretContent::Fields(_)) != state.row.kind.is_structured() {
                return Err(Error::InvalidInput(if state.row.kind.is_structured() {
                    format!("secret {name} is structured: give \"fields\"")
                } else {
                    format!("secret {name} holds one value: give \"value\"")
                }));
            }
            self.add_version(ctx, &state, &content, VersionOrigin::Set, event)
                .await
        })
        .await
    }

    /// A new version with the content of an earlier one.
    pub async fn rollback_secret(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        version: u32,
    ) -> Result<SecretView, Error> {
        let op = &catalogue::ROLLBACK_SECRET;
        self.mutation(ctx, op, name, Some(&object(name)), |event| async move {
            let state = self.load_secret(ctx.caller, name, op).await?;
            refuse_hand_made_values(&state.row)?;
            let earlier = state
                .version(version)
                .filter(|v| v.state == VersionState::Ready)
                .ok_or_else(|| {
                    Error::NotFound(format!("version {version} of secret {name} (versions beyond the retention are deleted)"))
                })?;
            let content = self.open_version(&state.row, earlier).await?;
            self.add_version(ctx, &state, &content, VersionOrigin::Rollback, event)
                .await
        })
        .await
    }

    /// Seals `content` as the next version, makes it current and forgets the cached state.
    async fn add_version(
        &self,
        ctx: &Ctx<'_>,
        state: &SecretState,
        content: &SecretContent,
        origin: VersionOrigin,
        event: AuditEvent,
    ) -> Result<SecretView, Error> {
        let row = self.fresh_secret(&state.row).await?;
        let next = self
            .seal_version(
                &row,
                row.latest_version + 1,
                content,
                origin,
                &ctx.caller.principal_id,
            )
            .await?;
        let stored = self
            .store
            .add_secret_version(&next, NewVersion::Current, row.next_rotation_at, &event)
            .await;
        self.forget_secret(&row.account_id, &row.name).await;
        stored?;
        let row = self.fresh_secret(&row).await?;
        let versions = self.store.secret_versions(&row.id).await?;
        view_of(&row, &versions)
    }

    /// The stored row (the cache may lag behind another request's change).
    pub(super) async fn fresh_secret(&self, row: &SecretRow) -> Result<SecretRow, Error> {
        self.store
            .secret(&row.account_id, &row.name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("secret {}", row.name)))
    }

    pub async fn delete_secret(&self, ctx: &Ctx<'_>, name: &str) -> Result<(), Error> {
        let secret_name = name.to_owned();
        self.gate(
            ctx,
            crate::service::PendingOperation::DeleteSecret { name: secret_name },
        )
        .await?;
        let op = &catalogue::DELETE_SECRET;
        self.mutation(ctx, op, name, Some(&object(name)), |event| async move {
            let state = self.load_secret(ctx.caller, name, op).await?;
            let stored = self
                .store
                .trash_secret(&state.row.id, self.now(), &event)
                .await;
            self.forget_secret(&state.row.account_id, name).await;
            Ok(stored?)
        })
        .await
    }

    pub async fn restore_secret(&self, ctx: &Ctx<'_>, name: &str) -> Result<SecretView, Error> {
        let op = &catalogue::RESTORE_SECRET;
        self.mutation(ctx, op, name, Some(&object(name)), |event| async move {
            check_name(name)?;
            let trashed = self
                .store
                .trashed_secret(&ctx.caller.account_id, name)
                .await?
                .filter(|row| ctx.caller.sees_group(&row.group_id))
                .ok_or_else(|| Error::NotFound(format!("deleted secret {name}")))?;
            Self::require_in_group(ctx.caller, op, &trashed.group_id)?;
            if self
                .store
                .secret(&ctx.caller.account_id, name)
                .await?
                .is_some()
            {
                return Err(Error::Conflict(format!(
                    "a live secret named {name} exists; delete or rename it first"
                )));
            }
            self.store.restore_secret(&trashed.id, &event).await?;
            self.forget_secret(&trashed.account_id, name).await;
            let state = self.secret_state(&trashed.account_id, name).await?;
            state.view()
        })
        .await
    }

    /// Purges secrets trashed longer than the trash retention, with their whole history.
    pub(in crate::service) async fn purge_trashed_secrets(&self) -> Result<(), Error> {
        let cutoff = self.now() - super::super::micros(self.settings.trash_retention);
        let purged = self.store.purge_trashed_secrets(cutoff).await?;
        if purged > 0 {
            tracing::info!(purged, "purged secrets from the trash");
        }
        Ok(())
    }
}

/// Values of a managed secret, or of one whose rotation is on, come from rotation only.
fn refuse_hand_made_values(row: &SecretRow) -> Result<(), Error> {
    if row.kind == SecretKind::Managed {
        return Err(Error::Conflict(format!(
            "secret {} is managed: its values come from rotation and its agent; use POST /v1/secrets/{}/rotate",
            row.name, row.name
        )));
    }
    if row.rotation.is_some() {
        return Err(Error::Conflict(format!(
            "secret {} has automatic rotation on: turn it off (DELETE /v1/secrets/{}/rotation) before setting a value by hand",
            row.name, row.name
        )));
    }
    Ok(())
}
