//! A machine's life after enrolment: reads, approval, enabling, expiry, deletion, upkeep.

use super::*;
use crate::ids::MachineId;

impl Service {
    pub async fn list_machines(&self, ctx: &Ctx<'_>) -> Result<Vec<MachineRow>, Error> {
        self.read(ctx, &catalogue::LIST_MACHINES, "", None, async {
            Ok(self.store.machines(&ctx.caller.account_id).await?)
        })
        .await
    }

    pub async fn get_machine(&self, ctx: &Ctx<'_>, id: &MachineId) -> Result<MachineRow, Error> {
        self.read(
            ctx,
            &catalogue::GET_MACHINE,
            "",
            Some(&format!("machine/{id}")),
            async { self.own_machine(ctx.caller, id).await },
        )
        .await
    }

    /// Applies `change` to a machine of the caller's account and writes it; the machine's
    /// next request sees the result.
    async fn change_machine<F>(
        &self,
        ctx: &Ctx<'_>,
        op: &catalogue::Operation,
        id: &MachineId,
        change: F,
    ) -> Result<MachineRow, Error>
    where
        F: FnOnce(&mut MachineRow, i64) -> Result<(), Error>,
    {
        let object = format!("machine/{id}");
        self.mutation(ctx, op, "", Some(&object), |event| async move {
            let mut machine = self.own_machine(ctx.caller, id).await?;
            change(&mut machine, self.now())?;
            self.store.update_machine(&machine, &event).await?;
            self.forget_principal(id).await;
            Ok(machine)
        })
        .await
    }

    /// `POST /v1/machines/{id}/approve`: a pending machine may sign requests; a temporary
    /// machine's lifetime starts now.
    pub async fn approve_machine(
        &self,
        ctx: &Ctx<'_>,
        id: &MachineId,
    ) -> Result<MachineRow, Error> {
        self.change_machine(ctx, &catalogue::APPROVE_MACHINE, id, |m, now| {
            if m.status != MachineStatus::Pending {
                return Err(Error::Conflict(format!("machine {id} is already approved")));
            }
            m.status = MachineStatus::Approved;
            m.approved_at = Some(now);
            if let Some(secs) = m.lifetime_seconds {
                m.expires_at = Some(now + secs_to_micros(secs));
            }
            Ok(())
        })
        .await
    }

    /// `POST /v1/machines/{id}/disable` and `/enable`.
    pub async fn set_machine_enabled(
        &self,
        ctx: &Ctx<'_>,
        id: &MachineId,
        enabled: bool,
    ) -> Result<MachineRow, Error> {
        let op = if enabled {
            &catalogue::ENABLE_MACHINE
        } else {
            &catalogue::DISABLE_MACHINE
        };
        self.change_machine(ctx, op, id, |m, now| {
            m.enabled = enabled;
            m.disabled_at = (!enabled).then_some(now);
            Ok(())
        })
        .await
    }

    /// `POST /v1/machines/{id}/extend`: a later expiry, at most twelve months from now; the
    /// previous one is kept so the extension can be reverted.
    pub async fn extend_machine(
        &self,
        ctx: &Ctx<'_>,
        id: &MachineId,
        expires_at: &str,
    ) -> Result<MachineRow, Error> {
        self.change_machine(ctx, &catalogue::EXTEND_MACHINE, id, |m, now| {
            let expires_at = Self::requested_expiry(expires_at, now)?;
            let Some(current) = m.expires_at else {
                return Err(Error::Conflict(format!(
                    "machine {id} has no expiry to extend"
                )));
            };
            if expires_at <= current {
                return Err(Error::InvalidInput(
                    "expires_at must be later than the machine's current expiry".into(),
                ));
            }
            m.previous_expires_at = Some(current);
            m.expires_at = Some(expires_at);
            Ok(())
        })
        .await
    }

    /// `POST /v1/machines/{id}/revert-extension`: back to the expiry before the last
    /// extension.
    pub async fn revert_machine_extension(
        &self,
        ctx: &Ctx<'_>,
        id: &MachineId,
    ) -> Result<MachineRow, Error> {
        self.change_machine(ctx, &catalogue::REVERT_MACHINE_EXTENSION, id, |m, _| {
            let previous = m.previous_expires_at.take().ok_or_else(|| {
                Error::Conflict(format!("machine {id} has no extension to revert"))
            })?;
            m.expires_at = Some(previous);
            Ok(())
        })
        .await
    }

    /// `DELETE /v1/machines/{id}`: the machine and its app are gone.
    pub async fn delete_machine(&self, ctx: &Ctx<'_>, id: &MachineId) -> Result<(), Error> {
        let object = format!("machine/{id}");
        self.mutation(
            ctx,
            &catalogue::DELETE_MACHINE,
            "",
            Some(&object),
            |event| async move {
                self.own_machine(ctx.caller, id).await?;
                self.store.delete_machine(id, self.now(), &event).await?;
                self.forget_principal(id).await;
                Ok(())
            },
        )
        .await
    }

    /// Background duty: expired enrolled machines are disabled, and deleted after the
    /// retention; ended tokens likewise; nonces out of the window are forgotten.
    pub(in crate::service) async fn maintain_machines(&self) -> Result<(), Error> {
        let now = self.now();
        let cutoff = now.saturating_sub(micros(self.settings.machine_retention));
        for id in self.store.disable_expired_machines(now).await? {
            self.forget_principal(&id).await;
        }
        for id in self.store.purge_disabled_machines(now, cutoff).await? {
            self.forget_principal(&id).await;
        }
        self.store.retire_machine_tokens(now, cutoff).await?;
        self.store.prune_nonces(now).await?;
        Ok(())
    }
}
