//! Watching the audit trail: the live stream and the alert rules with their webhook
//! deliveries (docs/stream.md, docs/alerts.md).

use super::{Operation, delete, get, patch, post};

/// Server-sent events; the answer is `text/event-stream`, not JSON.
pub const ACTIVITY_STREAM: Operation = get("/v1/activity/stream")
    .summary("The audit trail live, as server-sent events: the feed's filters, min_severity, resumable with Last-Event-ID")
    .needs(&["activity.read"], "activity.stream");

pub const CREATE_ALERT: Operation = post("/v1/alerts")
    .summary("Create an alert rule: a webhook for matching events; answers its signing secret, shown once")
    .needs(&["alert.write"], "alert.create")
    .takes("CreateAlert")
    .created("CreatedAlert");

pub const LIST_ALERTS: Operation = get("/v1/alerts")
    .summary("List the account's alert rules")
    .needs(&["alert.read"], "alert.list")
    .gives("AlertList");

pub const GET_ALERT: Operation = get("/v1/alerts/{id}")
    .summary("Show one alert rule")
    .needs(&["alert.read"], "alert.read")
    .gives("Alert");

pub const UPDATE_ALERT: Operation = patch("/v1/alerts/{id}")
    .summary("Change an alert rule (name, url, actions, min_severity, enabled)")
    .needs(&["alert.write"], "alert.update")
    .exchanges("PatchAlert", "Alert");

pub const DELETE_ALERT: Operation = delete("/v1/alerts/{id}")
    .summary("Delete an alert rule and its deliveries")
    .needs(&["alert.write"], "alert.delete")
    .status(204);

pub const ROTATE_ALERT_SECRET: Operation = post("/v1/alerts/{id}/rotate-secret")
    .summary("Give the rule a new signing secret, shown once; the old one stops at once")
    .needs(&["alert.write"], "alert.rotate_secret")
    .gives("CreatedAlert");

pub const TEST_ALERT: Operation = post("/v1/alerts/{id}/test")
    .summary("Send one signed test delivery to the rule's webhook now")
    .needs(&["alert.write"], "alert.test")
    .gives("AlertTest");

pub const ALERT_DELIVERIES: Operation = get("/v1/alerts/{id}/deliveries")
    .summary("The rule's deliveries, newest first; `status=dead` is the dead-letter list")
    .needs(&["alert.read"], "alert.deliveries")
    .gives("DeliveryList");

pub const RETRY_DELIVERY: Operation = post("/v1/alerts/deliveries/{id}/retry")
    .summary("Send a dead delivery again (attempts counted afresh)")
    .needs(&["alert.write"], "alert.delivery.retry")
    .gives("Delivery");
