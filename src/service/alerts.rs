//! Alert rules: which audit events of an account are sent to which webhook, signed.
//!
//! Management (this file) checks and stores rules; `alerts/secret.rs` derives each rule's
//! signing secret in the HSM (it is never stored) and signs deliveries; `alerts/dispatch.rs`
//! matches new events against the rules and fills the durable outbox; `alerts/send.rs`
//! delivers the outbox with retries and a dead-letter list (docs/alerts.md).

mod dispatch;
mod secret;
mod send;

pub(in crate::service) use secret::AlertSecrets;
pub use secret::signature_header;
pub(in crate::service) use send::AlertState;
pub use send::AlertTestResult;

use super::stream::severity_word;
use super::*;
use crate::ids::{AlertId, DeliveryId};
use crate::store::{AlertRow, DeliveryRow, DeliveryStatus};
use zeroize::Zeroizing;

/// Rules per account.
const MAX_ALERTS: usize = 100;
/// Action patterns per rule.
const MAX_ACTIONS: usize = 50;
/// Deliveries a listing answers.
const DELIVERY_PAGE: u32 = 500;

/// A new rule, as asked for.
#[derive(Debug, Clone)]
pub struct AlertSpec {
    pub name: String,
    pub url: String,
    pub actions: Vec<String>,
    pub min_severity: String,
}

/// Changes to a rule; `None` keeps the setting.
#[derive(Debug, Clone, Default)]
pub struct AlertPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub actions: Option<Vec<String>>,
    pub min_severity: Option<String>,
    pub enabled: Option<bool>,
}

/// A rule with its signing secret, shown once (at creation and on rotation).
pub struct CreatedAlert {
    pub alert: AlertRow,
    pub signing_secret: Zeroizing<String>,
}

/// The audit object of a rule.
fn object(id: &AlertId) -> String {
    format!("alert/{id}")
}

fn check_name(name: &str) -> Result<(), Error> {
    if crate::authz::is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidInput(
            "name must be 1-64 characters of [A-Za-z0-9_-]".into(),
        ))
    }
}

/// A webhook URL: `https://`, or `http://` to a loopback host only (a receiver on the same
/// machine); no credentials in it, at most 2048 characters.
pub fn check_url(text: &str) -> Result<(), Error> {
    let bad = |why: &str| Error::InvalidInput(format!("url {why}"));
    if text.len() > 2048 {
        return Err(bad("must be at most 2048 characters"));
    }
    let url = reqwest::Url::parse(text).map_err(|_| bad("is not a valid URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "must not carry credentials: check the signature instead",
        ));
    }
    let host = url.host_str().ok_or_else(|| bad("must name a host"))?;
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad("must be https:// (http:// only to a loopback address)")),
    }
}

/// Action patterns: each an action (`group.freeze`) or a prefix ending in `*` (`secret.*`).
fn check_actions(actions: &[String]) -> Result<(), Error> {
    if actions.len() > MAX_ACTIONS {
        return Err(Error::InvalidInput(format!(
            "at most {MAX_ACTIONS} action patterns"
        )));
    }
    for pattern in actions {
        let stem = pattern.strip_suffix('*').unwrap_or(pattern);
        let ok = (1..=128).contains(&pattern.len())
            && stem.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if !ok {
            return Err(Error::InvalidInput(format!(
                "action pattern {pattern:?} must be an action (group.freeze) or a prefix ending in * (secret.*)"
            )));
        }
    }
    Ok(())
}

impl Service {
    pub async fn create_alert(
        &self,
        ctx: &Ctx<'_>,
        spec: AlertSpec,
    ) -> Result<CreatedAlert, Error> {
        let id: AlertId = new_id("alr");
        self.mutation(
            ctx,
            &catalogue::CREATE_ALERT,
            "",
            Some(&object(&id)),
            |event| async move {
                check_name(&spec.name)?;
                check_url(&spec.url)?;
                check_actions(&spec.actions)?;
                let min_severity = severity_word(&spec.min_severity)?;
                let account = &ctx.caller.account_id;
                if self.store.alerts(account).await?.len() >= MAX_ALERTS {
                    return Err(Error::Conflict(format!(
                        "an account has at most {MAX_ALERTS} alert rules"
                    )));
                }
                let alert = AlertRow {
                    id,
                    account_id: account.clone(),
                    name: spec.name,
                    url: spec.url,
                    actions: spec.actions,
                    min_severity,
                    enabled: true,
                    salt: crate::crypto::random_bytes(16).to_vec(),
                    created_by: ctx.caller.principal_id.clone(),
                    created_at: self.now(),
                };
                let signing_secret = self.alerts.secrets.reveal(self, &alert).await?;
                let start = self.store.latest_position(account).await?;
                self.store.create_alert(&alert, start, &event).await?;
                Ok(CreatedAlert {
                    alert,
                    signing_secret,
                })
            },
        )
        .await
    }

    pub async fn list_alerts(&self, ctx: &Ctx<'_>) -> Result<Vec<AlertRow>, Error> {
        self.read(ctx, &catalogue::LIST_ALERTS, "", None, async {
            Ok(self.store.alerts(&ctx.caller.account_id).await?)
        })
        .await
    }

    pub async fn get_alert(&self, ctx: &Ctx<'_>, id: &AlertId) -> Result<AlertRow, Error> {
        self.read(ctx, &catalogue::GET_ALERT, "", Some(&object(id)), async {
            self.alert_of(ctx, id).await
        })
        .await
    }

    async fn alert_of(&self, ctx: &Ctx<'_>, id: &AlertId) -> Result<AlertRow, Error> {
        self.store
            .alert(&ctx.caller.account_id, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("alert {id}")))
    }

    pub async fn update_alert(
        &self,
        ctx: &Ctx<'_>,
        id: &AlertId,
        patch: AlertPatch,
    ) -> Result<AlertRow, Error> {
        self.mutation(
            ctx,
            &catalogue::UPDATE_ALERT,
            "",
            Some(&object(id)),
            |event| async move {
                let mut alert = self.alert_of(ctx, id).await?;
                apply_patch(&mut alert, patch)?;
                self.store.update_alert(&alert, &event).await?;
                Ok(alert)
            },
        )
        .await
    }

    /// A new signing secret (a new salt): the old one stops verifying at once.
    pub async fn rotate_alert_secret(
        &self,
        ctx: &Ctx<'_>,
        id: &AlertId,
    ) -> Result<CreatedAlert, Error> {
        self.mutation(
            ctx,
            &catalogue::ROTATE_ALERT_SECRET,
            "",
            Some(&object(id)),
            |event| async move {
                let mut alert = self.alert_of(ctx, id).await?;
                alert.salt = crate::crypto::random_bytes(16).to_vec();
                let signing_secret = self.alerts.secrets.reveal(self, &alert).await?;
                self.store.update_alert(&alert, &event).await?;
                Ok(CreatedAlert {
                    alert,
                    signing_secret,
                })
            },
        )
        .await
    }

    pub async fn delete_alert(&self, ctx: &Ctx<'_>, id: &AlertId) -> Result<(), Error> {
        self.mutation(
            ctx,
            &catalogue::DELETE_ALERT,
            "",
            Some(&object(id)),
            |event| async move {
                let account = &ctx.caller.account_id;
                if self.store.delete_alert(account, id, &event).await? {
                    Ok(())
                } else {
                    Err(Error::NotFound(format!("alert {id}")))
                }
            },
        )
        .await
    }

    /// The rule's deliveries, newest first; `status` (`dead` for the dead-letter list).
    pub async fn alert_deliveries(
        &self,
        ctx: &Ctx<'_>,
        id: &AlertId,
        status: Option<&str>,
    ) -> Result<Vec<DeliveryRow>, Error> {
        let op = &catalogue::ALERT_DELIVERIES;
        self.read(ctx, op, "", Some(&object(id)), async {
            let status = status.map(delivery_status).transpose()?;
            let alert = self.alert_of(ctx, id).await?;
            let account = &ctx.caller.account_id;
            let rows = self
                .store
                .deliveries(account, &alert.id, status, DELIVERY_PAGE);
            Ok(rows.await?)
        })
        .await
    }

    /// Puts a dead delivery back in the queue, attempts counted afresh.
    pub async fn retry_delivery(
        &self,
        ctx: &Ctx<'_>,
        id: &DeliveryId,
    ) -> Result<DeliveryRow, Error> {
        let object = format!("delivery/{id}");
        self.mutation(
            ctx,
            &catalogue::RETRY_DELIVERY,
            "",
            Some(&object),
            |event| async move {
                let account = &ctx.caller.account_id;
                let gone = || Error::NotFound(format!("delivery {id}"));
                let row = self.store.delivery(account, id).await?.ok_or_else(gone)?;
                if row.status != DeliveryStatus::Dead {
                    return Err(Error::Conflict(
                        "only a dead delivery can be retried".into(),
                    ));
                }
                let now = self.now();
                self.store.retry_delivery(account, id, now, &event).await?;
                self.wake_alerts();
                let row = self.store.delivery(account, id).await?.ok_or_else(gone)?;
                Ok(row)
            },
        )
        .await
    }
}

fn delivery_status(word: &str) -> Result<DeliveryStatus, Error> {
    DeliveryStatus::parse(word).ok_or_else(|| {
        Error::InvalidInput(format!(
            "status must be pending, sending, delivered or dead, not {word:?}"
        ))
    })
}

/// Applies `patch` to `alert` after checking every field it sets.
fn apply_patch(alert: &mut AlertRow, patch: AlertPatch) -> Result<(), Error> {
    if let Some(name) = patch.name {
        check_name(&name)?;
        alert.name = name;
    }
    if let Some(url) = patch.url {
        check_url(&url)?;
        alert.url = url;
    }
    if let Some(actions) = patch.actions {
        check_actions(&actions)?;
        alert.actions = actions;
    }
    if let Some(word) = patch.min_severity {
        alert.min_severity = severity_word(&word)?;
    }
    if let Some(enabled) = patch.enabled {
        alert.enabled = enabled;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_https_or_loopback_http() {
        assert!(check_url("https://hooks.example.com/coffer").is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_url("http://[::1]:8080/hook").is_ok());
        assert!(check_url("http://localhost/hook").is_ok());
        assert!(check_url("http://hooks.example.com/coffer").is_err());
        assert!(check_url("http://10.0.0.1/coffer").is_err());
        assert!(check_url("ftp://127.0.0.1/x").is_err());
        assert!(check_url("https://user:pw@hooks.example.com/").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[test]
    fn action_patterns_are_actions_or_prefixes() {
        assert!(check_actions(&["group.freeze".into(), "secret.*".into()]).is_ok());
        assert!(check_actions(&["*".into()]).is_ok());
        assert!(check_actions(&["".into()]).is_err());
        assert!(check_actions(&["se*cret".into()]).is_err());
        assert!(check_actions(&["Secret.read".into()]).is_err());
    }
}
