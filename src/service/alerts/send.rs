//! Delivering the outbox: signed webhook requests with retries and a dead-letter list.
//!
//! A node claims due deliveries (status `sending` until a lease ends) in one writer
//! transaction, so two nodes never send the same delivery at once; it writes each result
//! back only while its lease holds. A node killed mid-send leaves the lease to expire and
//! the delivery is sent again: receivers see a delivery at least once and deduplicate on
//! `Coffer-Delivery`. A failure is retried after 1 s, 2 s, 4 s … (capped); after the last
//! attempt the delivery is dead (audited as a warning) until someone retries it.

use super::super::*;
use super::dispatch::payload;
use super::secret::signature_header;
use crate::ids::{AlertId, DeliveryId};
use crate::store::{AlertRow, AttemptResult, DeliveryRow, Severity};
use std::sync::OnceLock;
use tokio::sync::Notify;

/// Deliveries claimed per pass.
const SEND_BATCH: u32 = 50;

/// The sender's state of this node: the HTTP client, the wake-up, the derived secrets.
#[derive(Default)]
pub(in crate::service) struct AlertState {
    pub(in crate::service) secrets: super::AlertSecrets,
    wake: Notify,
    client: OnceLock<reqwest::Client>,
}

/// What a test delivery got.
#[derive(Debug, Clone)]
pub struct AlertTestResult {
    pub delivered: bool,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// The CA bundle webhooks over https are checked against.
fn system_roots() -> Vec<reqwest::Certificate> {
    let path = std::env::var("SSL_CERT_FILE")
        .unwrap_or_else(|_| "/etc/ssl/certs/ca-certificates.crt".to_owned());
    std::fs::read(&path)
        .ok()
        .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).ok())
        .unwrap_or_default()
}

fn client(timeout: Duration) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout);
    for root in system_roots() {
        builder = builder.add_root_certificate(root);
    }
    builder.build().unwrap_or_default()
}

impl Service {
    /// Matches new events and sends due deliveries until the process ends.
    pub async fn work_alerts(&self) {
        tokio::join!(self.dispatch_loop(), self.send_loop());
    }

    /// Wakes this node's sender (a delivery was enqueued or retried here).
    pub(in crate::service) fn wake_alerts(&self) {
        self.alerts.wake.notify_one();
    }

    async fn dispatch_loop(&self) {
        let mut tick = tokio::time::interval(self.settings.watch.alert_poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.dispatch_alerts().await {
                tracing::warn!(error = ?e, "alert dispatch failed; will retry");
            }
        }
    }

    async fn send_loop(&self) {
        loop {
            let poll = self.settings.watch.alert_poll;
            let _ = tokio::time::timeout(poll, self.alerts.wake.notified()).await;
            if let Err(e) = self.send_due_deliveries().await {
                tracing::warn!(error = ?e, "alert delivery failed; will retry");
            }
        }
    }

    /// Claims the due deliveries and attempts each once.
    async fn send_due_deliveries(&self) -> Result<(), Error> {
        let watch = self.settings.watch;
        let now = self.now();
        let lease_until = now + micros(watch.alert_timeout * 3);
        let claimed = self
            .store
            .claim_deliveries(now, lease_until, SEND_BATCH)
            .await?;
        for delivery in claimed {
            let result = self.attempt(&delivery).await;
            let dead = self.dead_letter_event(&delivery, &result);
            let write = self
                .store
                .finish_attempt(&delivery.id, lease_until, &result, dead.as_ref())
                .await;
            if let Err(e) = write {
                tracing::warn!(delivery = %delivery.id, error = ?e, "cannot record a delivery attempt");
            }
        }
        Ok(())
    }

    /// One attempt: what to write back.
    async fn attempt(&self, d: &DeliveryRow) -> AttemptResult {
        let sent = match self.store.alert(&d.account_id, &d.alert_id).await {
            Ok(Some(rule)) => self.post_signed(&rule, &d.id, d.payload.as_bytes()).await,
            Ok(None) => Err("the alert rule is gone".to_owned()),
            Err(e) => Err(format!("cannot read the alert rule: {e}")),
        };
        match sent {
            Ok(_) => AttemptResult::Delivered { at: self.now() },
            Err(error) if d.attempts >= self.settings.watch.alert_max_attempts => {
                AttemptResult::Dead { error }
            }
            Err(error) => AttemptResult::Retry {
                next_at: self.now() + micros(self.backoff(d.attempts)),
                error,
            },
        }
    }

    /// The wait after the `attempts`-th failure: the base doubled per attempt, capped.
    fn backoff(&self, attempts: u32) -> Duration {
        let watch = self.settings.watch;
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        watch
            .alert_backoff
            .saturating_mul(factor)
            .min(watch.alert_max_backoff)
    }

    /// The audit event of a move to the dead-letter list (a warning), if it is one.
    fn dead_letter_event(&self, d: &DeliveryRow, result: &AttemptResult) -> Option<AuditEvent> {
        let AttemptResult::Dead { error } = result else {
            return None;
        };
        let caller = Self::system_caller(&d.account_id);
        let meta = RequestMeta::new(new_event_id("sys"), None);
        let object = format!("alert/{}", d.alert_id);
        let mut event = self.event(
            &meta,
            Some(&caller),
            "alert.delivery.dead",
            Some(&object),
            Ok(()),
        );
        event.severity = Severity::Warning;
        event.detail = Some(format!(
            "delivery {} after {} attempts: {error}",
            d.id, d.attempts
        ));
        Some(event)
    }

    /// POSTs `body` to the rule's webhook, signed; the status on a 2xx, else why not.
    async fn post_signed(
        &self,
        rule: &AlertRow,
        delivery: &DeliveryId,
        body: &[u8],
    ) -> Result<u16, String> {
        let secret = self
            .alerts
            .secrets
            .secret(self, rule)
            .await
            .map_err(|e| format!("cannot derive the signing secret: {e}"))?;
        let unix_seconds = self.now() / 1_000_000;
        let signature = signature_header(&secret, unix_seconds, body);
        let timeout = self.settings.watch.alert_timeout;
        let client = self.alerts.client.get_or_init(|| client(timeout));
        let response = client
            .post(&rule.url)
            .header("content-type", "application/json")
            .header("coffer-signature", signature)
            .header("coffer-delivery", delivery.as_str())
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| format!("request failed: {}", transport_error(&e)))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            Ok(status)
        } else {
            Err(format!("the receiver answered {status}"))
        }
    }

    /// Sends one signed test delivery to the rule's webhook now (not through the outbox).
    pub async fn test_alert(&self, ctx: &Ctx<'_>, id: &AlertId) -> Result<AlertTestResult, Error> {
        let object = format!("alert/{id}");
        self.read(ctx, &catalogue::TEST_ALERT, "", Some(&object), async {
            let rule = self
                .store
                .alert(&ctx.caller.account_id, id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("alert {id}")))?;
            let delivery: DeliveryId = new_id("dlv");
            let body = payload(&delivery, &rule, serde_json::Value::Null, true);
            let sent = self.post_signed(&rule, &delivery, body.as_bytes()).await;
            Ok(match sent {
                Ok(status) => AlertTestResult {
                    delivered: true,
                    status: Some(status),
                    error: None,
                },
                Err(error) => AlertTestResult {
                    delivered: false,
                    status: None,
                    error: Some(error),
                },
            })
        })
        .await
    }
}

/// A transport error's kind, without the URL (which may carry a path the owner considers
/// private) repeated in every row.
fn transport_error(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "transport error"
    }
}
