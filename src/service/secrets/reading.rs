//! Reading values. Apps and machines read only with all of: a valid credential, membership
//! of the secret's group, an explicit grant to that secret, and a group that is not frozen.
//! Users never read; they may have a value revealed with the `secret.<name>.reveal` flag and
//! a group role that manages objects, audited as a warning.
//!
//! Canaries: the first read by a granted app freezes the group (and the groups of related
//! canaries), audited as critical, and still answers the value, so an intruder does not
//! learn that it tripped anything. Frozen groups serve no app read and no decrypt until an
//! owner or admin unfreezes them.

use super::*;
use crate::audit::Severity;
use crate::authz::PrincipalKind;
use crate::ids::GroupId;
use crate::service::policies::PolicyObject;
use crate::service::{Ctx, GroupRow, RequestMeta, new_event_id};

/// Which part of a value a read asks for.
pub enum ReadTarget<'a> {
    /// The whole value of a version (the current one when `None`).
    Whole(Option<u32>),
    /// One field of the current version of a structured secret.
    Field(&'a str),
}

impl Service {
    /// An app's or machine's read of a value (or of one field).
    pub async fn read_secret(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        target: ReadTarget<'_>,
    ) -> Result<SecretRead, Error> {
        let op = match target {
            ReadTarget::Whole(_) => &catalogue::READ_SECRET_VALUE,
            ReadTarget::Field(_) => &catalogue::READ_SECRET_FIELD,
        };
        let mut severity = Severity::Info;
        let result = Self::authorized(ctx.caller, op, name, async {
            let state = self.load_secret(ctx.caller, name, op).await?;
            self.require_read_grant(ctx.caller, &state).await?;
            let source = ctx.meta.source_ip.as_deref();
            let object = PolicyObject::secret(&state.row);
            self.enforce_policies(ctx.caller, source, object).await?;
            if state.row.kind == SecretKind::Canary {
                severity = Severity::Critical;
                self.trip_canary(ctx, &state.row).await;
            }
            self.read_target(&state, &target).await
        })
        .await;
        self.audited_at(
            ctx,
            op.audit_action(),
            Some(&object(name)),
            severity,
            result,
        )
        .await
    }

    /// A user's look at a value: audited as a warning.
    pub async fn reveal_secret(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        version: Option<u32>,
    ) -> Result<SecretRead, Error> {
        let op = &catalogue::REVEAL_SECRET;
        let result = Self::authorized(ctx.caller, op, name, async {
            let state = self.load_secret(ctx.caller, name, op).await?;
            self.read_target(&state, &ReadTarget::Whole(version)).await
        })
        .await;
        self.audited_at(
            ctx,
            op.audit_action(),
            Some(&object(name)),
            Severity::Warning,
            result,
        )
        .await
    }

    async fn read_target(
        &self,
        state: &SecretState,
        target: &ReadTarget<'_>,
    ) -> Result<SecretRead, Error> {
        let name = &state.row.name;
        if let ReadTarget::Field(field) = target
            && !is_valid_name(field)
        {
            return Err(Error::InvalidInput(format!(
                "field name {field:?} must be 1-64 chars of [A-Za-z0-9_-]"
            )));
        }
        let wanted = match target {
            ReadTarget::Whole(Some(v)) => *v,
            _ => state.row.current_version,
        };
        let version = state
            .version(wanted)
            .filter(|v| v.state == VersionState::Ready)
            .ok_or_else(|| match wanted {
                0 => Error::Conflict(format!(
                    "managed secret {name} has no applied version yet: its agent has not confirmed the first one"
                )),
                _ => Error::NotFound(format!("version {wanted} of secret {name}")),
            })?;
        let content = self.open_version(&state.row, version).await?;
        let content = match (target, content) {
            (ReadTarget::Field(field), SecretContent::Fields(mut fields)) => {
                let value = fields
                    .remove(*field)
                    .ok_or_else(|| Error::NotFound(format!("field {field} of secret {name}")))?;
                SecretContent::Fields(BTreeMap::from([((*field).to_owned(), value)]))
            }
            (ReadTarget::Field(_), SecretContent::Single(_)) => {
                return Err(Error::InvalidInput(format!(
                    "secret {name} holds one value, not fields: read /value"
                )));
            }
            (_, content) => content,
        };
        Ok(SecretRead {
            version: version.version,
            content,
        })
    }

    /// Apps read a value only with an explicit grant, and only outside a frozen group.
    pub(super) async fn require_read_grant(
        &self,
        caller: &Caller,
        state: &SecretState,
    ) -> Result<(), Error> {
        if caller.kind != PrincipalKind::App {
            return Err(Error::Forbidden(
                "users do not read secret values; reveal one instead".into(),
            ));
        }
        if !state
            .grants
            .iter()
            .any(|app| app.as_str() == caller.principal_id)
        {
            return Err(Error::Forbidden(format!(
                "this app has no grant to read secret {} (PUT /v1/secrets/{}/grants/<app>)",
                state.row.name, state.row.name
            )));
        }
        self.refuse_if_frozen(caller, &state.row.group_id).await
    }

    /// A frozen group serves no read or decrypt by an app or machine.
    pub(in crate::service) async fn refuse_if_frozen(
        &self,
        caller: &Caller,
        group_id: &GroupId,
    ) -> Result<(), Error> {
        if caller.kind == PrincipalKind::App
            && self.group_frozen(&caller.account_id, group_id).await?
        {
            return Err(Error::GroupFrozen(group_id.to_string()));
        }
        Ok(())
    }

    async fn group_frozen(
        &self,
        account_id: &AccountId,
        group_id: &GroupId,
    ) -> Result<bool, Error> {
        if let Some(frozen) = self.frozen_groups.get(group_id) {
            return Ok(frozen);
        }
        let frozen = self
            .store
            .group(account_id, group_id)
            .await?
            .is_some_and(|g| g.frozen_at.is_some());
        self.frozen_groups
            .insert(group_id.clone(), frozen, self.settings.metadata_ttl);
        Ok(frozen)
    }

    /// Freezes the canary's group and the groups of its related canaries. Failures are
    /// logged: the read itself is answered as if nothing happened.
    async fn trip_canary(&self, ctx: &Ctx<'_>, row: &SecretRow) {
        let reason = format!(
            "canary secret {} read by {}",
            row.name, ctx.caller.principal_id
        );
        let mut groups = vec![row.group_id.clone()];
        for related in &row.canary_cascade {
            match self.store.secret(&row.account_id, related).await {
                Ok(Some(other)) if other.kind == SecretKind::Canary => groups.push(other.group_id),
                Ok(_) => tracing::warn!(canary = %row.name, related, "a cascade names no canary"),
                Err(e) => tracing::error!(error = %e, "cannot read a related canary"),
            }
        }
        groups.sort();
        groups.dedup();
        for group in groups {
            if let Err(e) = self.freeze(&row.account_id, &group, &reason).await {
                tracing::error!(group = %group, error = %e, "a canary tripped but its group could not be frozen");
            }
        }
    }

    /// What a frozen group and a canary mean for a keyring's or key's use by `op`: a decrypt
    /// in a frozen group is refused; a cryptographic use of a canary freezes its group
    /// (audited as critical) and goes on as if nothing happened.
    pub(in crate::service) async fn guard_use(
        &self,
        caller: &Caller,
        op: &catalogue::Operation,
        group: &GroupId,
        canary: bool,
        object: &str,
    ) -> Result<(), Error> {
        use crate::authz::Operation::{Decrypt, Encrypt, Sign, Verify};
        if caller.kind != PrincipalKind::App {
            return Ok(());
        }
        if op.group.contains(&Decrypt) {
            self.refuse_if_frozen(caller, group).await?;
        }
        if canary
            && op
                .group
                .iter()
                .any(|g| matches!(g, Encrypt | Decrypt | Sign | Verify))
        {
            // Freezing is a change: a replayed signed request is refused before it.
            Box::pin(self.settle_scoped_nonce()).await?;
            self.trip_object_canary(caller, group, object).await;
        }
        Ok(())
    }

    async fn trip_object_canary(&self, caller: &Caller, group: &GroupId, object: &str) {
        let reason = format!("canary {object} used by {}", caller.principal_id);
        if let Err(e) = self.freeze(&caller.account_id, group, &reason).await {
            tracing::error!(group = %group, error = %e, "a canary tripped but its group could not be frozen");
        }
    }

    /// Freezes `group` on behalf of Coffer, audited as critical.
    async fn freeze(
        &self,
        account_id: &AccountId,
        group: &GroupId,
        reason: &str,
    ) -> Result<(), Error> {
        let caller = Self::system_caller(account_id);
        let meta = RequestMeta::new(new_event_id("sys"), None);
        let mut event = self.event(
            &meta,
            Some(&caller),
            catalogue::FREEZE_GROUP.audit_action(),
            Some(&format!("group/{group}")),
            Ok(()),
        );
        event.severity = Severity::Critical;
        event.detail = Some(reason.to_owned());
        self.store
            .freeze_group(group, self.now(), reason, &event)
            .await?;
        self.forget(Forget::Group { id: group.clone() }).await;
        Ok(())
    }

    /// An operator freezes a group.
    pub async fn freeze_group(
        &self,
        ctx: &Ctx<'_>,
        id: &GroupId,
        reason: Option<&str>,
    ) -> Result<GroupRow, Error> {
        let op = &catalogue::FREEZE_GROUP;
        self.mutation(
            ctx,
            op,
            "",
            Some(&format!("group/{id}")),
            |mut event| async move {
                self.visible_group(ctx.caller, id).await?;
                let reason = reason.unwrap_or("frozen by an operator");
                let reason = one_line(reason, 200);
                event.detail = Some(reason.clone());
                self.store
                    .freeze_group(id, self.now(), &reason, &event)
                    .await?;
                self.forget(Forget::Group { id: id.clone() }).await;
                self.visible_group(ctx.caller, id).await
            },
        )
        .await
    }

    /// An owner or admin unfreezes a group.
    pub async fn unfreeze_group(&self, ctx: &Ctx<'_>, id: &GroupId) -> Result<GroupRow, Error> {
        let group = id.clone();
        self.gate(
            ctx,
            crate::service::PendingOperation::UnfreezeGroup { group },
        )
        .await?;
        let op = &catalogue::UNFREEZE_GROUP;
        self.mutation(
            ctx,
            op,
            "",
            Some(&format!("group/{id}")),
            |event| async move {
                self.visible_group(ctx.caller, id).await?;
                self.store.unfreeze_group(id, &event).await?;
                self.forget(Forget::Group { id: id.clone() }).await;
                self.visible_group(ctx.caller, id).await
            },
        )
        .await
    }

    /// Drops this node's cached state of a secret (without telling the other nodes).
    pub(super) fn forget_secret_here(&self, account_id: &AccountId, name: &str) {
        self.secrets.remove(&(account_id.clone(), name.to_owned()));
    }
}
