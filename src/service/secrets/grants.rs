//! Read grants: the explicit, per-secret permission an app or machine needs to read a value.
//! No wildcard and no inheritance: each grant names one app of the secret's group.

use super::*;
use crate::service::Ctx;
use crate::store::SecretGrantRow;

impl Service {
    pub async fn secret_grants(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
    ) -> Result<Vec<SecretGrantRow>, Error> {
        let op = &catalogue::LIST_SECRET_GRANTS;
        self.read(ctx, op, name, Some(&object(name)), async {
            let state = self.load_secret(ctx.caller, name, op).await?;
            Ok(self.store.secret_grants(&state.row.id).await?)
        })
        .await
    }

    /// Grants `app` the reading of secret `name`; the app must be in the secret's group.
    pub async fn grant_secret(&self, ctx: &Ctx<'_>, name: &str, app: &AppId) -> Result<(), Error> {
        let op = &catalogue::GRANT_SECRET;
        let target = format!("{}/grants/{app}", object(name));
        self.mutation(ctx, op, name, Some(&target), |event| async move {
            let state = self.load_secret(ctx.caller, name, op).await?;
            let row = self
                .store
                .app(&ctx.caller.account_id, app)
                .await?
                .ok_or_else(|| Error::NotFound(format!("app {app}")))?;
            if !row.groups.contains(&state.row.group_id) {
                return Err(Error::InvalidInput(format!(
                    "app {app} is not in group {}, the group of secret {name}: add it to the group first",
                    state.row.group_id
                )));
            }
            let grant = SecretGrantRow {
                secret_id: state.row.id.clone(),
                app_id: app.clone(),
                created_at: self.now(),
            };
            let stored = self.store.grant_secret(&grant, &event).await;
            self.forget_secret(&state.row.account_id, name).await;
            Ok(stored?)
        })
        .await
    }

    /// Takes `app`'s grant to secret `name` away; in force on every node within the change
    /// poll.
    pub async fn revoke_secret(&self, ctx: &Ctx<'_>, name: &str, app: &AppId) -> Result<(), Error> {
        let op = &catalogue::REVOKE_SECRET;
        let target = format!("{}/grants/{app}", object(name));
        self.mutation(ctx, op, name, Some(&target), |event| async move {
            let state = self.load_secret(ctx.caller, name, op).await?;
            let removed = self.store.revoke_secret(&state.row.id, app, &event).await;
            self.forget_secret(&state.row.account_id, name).await;
            if !removed? {
                return Err(Error::NotFound(format!(
                    "grant of secret {name} to app {app}"
                )));
            }
            Ok(())
        })
        .await
    }

    /// Forgets the cached state of every secret of `group`: an app leaving the group took
    /// its grants there with it (in the store), and a cached grant would still let it read
    /// once it is added back.
    pub(in crate::service) async fn forget_group_secrets(
        &self,
        account_id: &AccountId,
        group: &crate::ids::GroupId,
    ) {
        match self.store.secrets(account_id).await {
            Ok(rows) => {
                for row in rows.iter().filter(|r| &r.group_id == group) {
                    self.forget_secret(account_id, &row.name).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list a group's secrets to forget their grants; the cached copies expire with their time to live")
            }
        }
    }
}
