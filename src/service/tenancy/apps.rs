//! Apps: principals of software, assigned to groups with the operations they may perform.

use super::*;
use crate::ids::{AppId, GroupId};
use crate::service::GroupScope;

/// A change to an app.
#[derive(Debug, Clone, Default)]
pub struct AppPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
}

/// An app as `caller` may see it: a caller limited to some groups (a member) sees an app
/// only if it is in one of them, and sees only those of its groups; the others do not exist
/// for the caller. `None` when the app is in none of the caller's groups.
fn visible_app(caller: &Caller, mut app: AppRow) -> Option<AppRow> {
    if matches!(caller.scope, GroupScope::All) {
        return Some(app);
    }
    app.groups.retain(|group| caller.sees_group(group));
    app.operations.retain(|group, _| caller.sees_group(group));
    (!app.groups.is_empty()).then_some(app)
}

impl Service {
    pub async fn create_app(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        groups: Vec<GroupId>,
    ) -> Result<AppRow, Error> {
        self.mutation(
            ctx,
            &catalogue::CREATE_APP,
            "",
            Some(&format!("app/{name}")),
            |event| async move {
                check_display_name("app", name)?;
                let mut groups = groups;
                groups.sort();
                groups.dedup();
                for group in &groups {
                    if self
                        .store
                        .group(&ctx.caller.account_id, group)
                        .await?
                        .is_none()
                    {
                        return Err(Error::NotFound(format!("group {group}")));
                    }
                }
                let all = crate::authz::Operations::all().names();
                let app = AppRow {
                    id: new_id("app"),
                    account_id: ctx.caller.account_id.clone(),
                    name: name.to_owned(),
                    operations: groups.iter().map(|g| (g.clone(), all.clone())).collect(),
                    groups,
                    enabled: true,
                    created_at: self.now(),
                };
                self.store.create_app(&app, &event).await?;
                Ok(app)
            },
        )
        .await
    }

    pub async fn list_apps(&self, ctx: &Ctx<'_>) -> Result<Vec<AppRow>, Error> {
        self.read(ctx, &catalogue::LIST_APPS, "", None, async {
            Ok(self
                .store
                .apps(&ctx.caller.account_id)
                .await?
                .into_iter()
                .filter_map(|app| visible_app(ctx.caller, app))
                .collect())
        })
        .await
    }

    pub async fn get_app(&self, ctx: &Ctx<'_>, id: &AppId) -> Result<AppRow, Error> {
        self.read(
            ctx,
            &catalogue::GET_APP,
            "",
            Some(&format!("app/{id}")),
            async { self.own_app(ctx.caller, id).await },
        )
        .await
    }

    /// An app of the caller's account, as the caller may see it (see [`visible_app`]).
    pub(in crate::service) async fn own_app(
        &self,
        caller: &Caller,
        id: &AppId,
    ) -> Result<AppRow, Error> {
        self.store
            .app(&caller.account_id, id)
            .await?
            .and_then(|app| visible_app(caller, app))
            .ok_or_else(|| Error::NotFound(format!("app {id}")))
    }

    /// Renames, disables or re-enables an app; effective on its next request.
    pub async fn update_app(
        &self,
        ctx: &Ctx<'_>,
        id: &AppId,
        patch: AppPatch,
    ) -> Result<AppRow, Error> {
        let object = format!("app/{id}");
        self.mutation(
            ctx,
            &catalogue::UPDATE_APP,
            "",
            Some(&object),
            |event| async move {
                let app = self.own_app(ctx.caller, id).await?;
                if patch.name.is_none() && patch.enabled.is_none() {
                    return Err(Error::InvalidInput(
                        "nothing to change: give \"name\" and/or \"enabled\"".into(),
                    ));
                }
                let name = patch.name.unwrap_or_else(|| app.name.clone());
                check_display_name("app", &name)?;
                let enabled = patch.enabled.unwrap_or(app.enabled);
                self.store.update_app(id, &name, enabled, &event).await?;
                self.forget_principal(id).await;
                Ok(AppRow {
                    name,
                    enabled,
                    ..app
                })
            },
        )
        .await
    }

    /// Deletes an app: its API keys stop working, its certificates and group places go.
    pub async fn delete_app(&self, ctx: &Ctx<'_>, id: &AppId) -> Result<(), Error> {
        let object = format!("app/{id}");
        self.mutation(
            ctx,
            &catalogue::DELETE_APP,
            "",
            Some(&object),
            |event| async move {
                self.own_app(ctx.caller, id).await?;
                self.store.delete_app(id, self.now(), &event).await?;
                self.forget_principal(id).await;
                Ok(())
            },
        )
        .await
    }

    /// An app's credentials: API-key metadata and client-certificate bindings.
    pub async fn app_credentials(
        &self,
        ctx: &Ctx<'_>,
        id: &AppId,
    ) -> Result<(Vec<ApiKeyRow>, Vec<crate::store::AppCertificateRow>), Error> {
        let object = format!("app/{id}");
        self.read(ctx, &catalogue::APP_CREDENTIALS, "", Some(&object), async {
            self.own_app(ctx.caller, id).await?;
            let keys = self
                .store
                .api_keys(&ctx.caller.account_id)
                .await?
                .into_iter()
                .filter(|k| k.principal_id == id.as_str())
                .collect();
            Ok((keys, self.store.app_certificates(id).await?))
        })
        .await
    }
}
