//! Matching new audit events against the alert rules, into the durable outbox.
//!
//! Per account, a cursor in the database says how far the trail was matched. A pass reads
//! the events after it in batches and, in one transaction per batch, inserts a delivery for
//! each (event, matching rule) and moves the cursor, only if the cursor is still where the
//! pass read it: of two nodes that match the same batch, one commits and the other finds
//! the cursor moved and writes nothing. So every matching event is enqueued exactly once,
//! across restarts and nodes.

use super::super::*;
use crate::clock::rfc3339;
use crate::ids::DeliveryId;
use crate::store::{AlertRow, DeliveryRow, DeliveryStatus, position};
use serde_json::{Value, json};

/// Events matched per transaction.
const DISPATCH_BATCH: u32 = 500;

/// Events about deliveries never alert: a dead webhook would otherwise feed itself.
const NEVER_ALERTS: &str = "alert.delivery.";

/// Whether `action` matches a rule's `pattern` (exact, or a prefix ending in `*`).
pub fn matches_action(pattern: &str, action: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

/// Whether `rule` alerts on `stored`.
fn rule_matches(rule: &AlertRow, stored: &StoredEvent) -> bool {
    let e = &stored.event;
    rule.enabled
        && e.time >= rule.created_at
        && !e.action.starts_with(NEVER_ALERTS)
        && e.severity.at_least(rule.min_severity)
        && (rule.actions.is_empty() || rule.actions.iter().any(|p| matches_action(p, &e.action)))
}

/// The event as one item of `GET /v1/activity` shows it.
pub(super) fn event_json(stored: &StoredEvent) -> Value {
    let e = &stored.event;
    let mut item = json!({
        "seq": stored.seq,
        "position": position(stored),
        "hash": stored.link.map(|l| hex::encode(l.hash)),
        "id": e.id,
        "time": rfc3339(e.time),
        "account": e.account_id,
        "principal": e.principal,
        "auth_method": e.auth_method.as_str(),
        "action": e.action,
        "object": e.object,
        "outcome": e.outcome.as_str(),
        "status": e.status,
        "source_ip": e.source_ip,
        "request_id": e.request_id,
        "credential": e.credential,
        "identity": e.identity.map(crate::audit::Identity::as_str),
        "severity": e.severity.as_str(),
    });
    if let Some(detail) = &e.detail {
        item["detail"] = json!(detail);
    }
    item
}

/// The body a webhook receives.
pub(super) fn payload(delivery: &DeliveryId, rule: &AlertRow, event: Value, test: bool) -> String {
    json!({
        "delivery": delivery,
        "alert": {"id": rule.id, "name": rule.name},
        "test": test,
        "event": event,
    })
    .to_string()
}

impl Service {
    /// One pass of the dispatcher over every account with an enabled rule.
    pub(in crate::service) async fn dispatch_alerts(&self) -> Result<(), Error> {
        for (account, cursor) in self.store.alert_cursors().await? {
            self.dispatch_account(&account, cursor).await?;
        }
        Ok(())
    }

    async fn dispatch_account(&self, account: &AccountId, mut cursor: i64) -> Result<(), Error> {
        let rules = self.store.alerts(account).await?;
        let everything = ActivityFilter::default();
        loop {
            let batch = self
                .store
                .events_after(account, cursor, &everything, DISPATCH_BATCH)
                .await?;
            let Some(last) = batch.last().map(position) else {
                return Ok(());
            };
            let deliveries = self.deliveries_for(&rules, &batch);
            let moved = self
                .store
                .enqueue_deliveries(account, cursor, last, &deliveries)
                .await?;
            if !moved {
                return Ok(()); // another node matched this batch first
            }
            if !deliveries.is_empty() {
                self.wake_alerts();
            }
            cursor = last;
            if batch.len() < DISPATCH_BATCH as usize {
                return Ok(());
            }
        }
    }

    fn deliveries_for(&self, rules: &[AlertRow], batch: &[StoredEvent]) -> Vec<DeliveryRow> {
        let now = self.now();
        let mut out = Vec::new();
        for stored in batch {
            for rule in rules.iter().filter(|r| rule_matches(r, stored)) {
                let id: DeliveryId = new_id("dlv");
                out.push(DeliveryRow {
                    payload: payload(&id, rule, event_json(stored), false),
                    id,
                    alert_id: rule.id.clone(),
                    account_id: rule.account_id.clone(),
                    position: position(stored),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    next_at: now,
                    lease_until: None,
                    last_error: None,
                    created_at: now,
                    delivered_at: None,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exact_actions_or_prefixes() {
        assert!(matches_action("group.freeze", "group.freeze"));
        assert!(!matches_action("group.freeze", "group.freezer"));
        assert!(matches_action("secret.*", "secret.read"));
        assert!(!matches_action("secret.*", "secrets"));
        assert!(matches_action("*", "anything"));
    }
}
