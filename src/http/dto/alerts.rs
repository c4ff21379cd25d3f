//! Alert rules, their deliveries, and the live stream's query.

use super::ActivityQuery;
use super::not_null;
use crate::clock::rfc3339;
use crate::http::openapi::fields::enumeration;
use crate::service::{AlertPatch, AlertRow, AlertSpec, AlertTestResult, CreatedAlert as Created};
use crate::service::{DeliveryRow, Error, StreamSpec};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;
use zeroize::Zeroizing;

fn severity() -> Schema {
    enumeration(["info", "warning", "critical"]).into()
}

fn delivery_status() -> Schema {
    enumeration(["pending", "sending", "delivered", "dead"]).into()
}

/// The stream's query: the feed's filters, a severity floor, and where to resume.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub principal: Option<String>,
    pub object: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub min_severity: Option<String>,
    /// Resume strictly after this position (as `Last-Event-ID` does).
    pub after: Option<i64>,
}

impl StreamQuery {
    /// The service's spec; `last_event_id` (the header) wins over `after`.
    pub fn into_spec(self, last_event_id: Option<i64>) -> Result<StreamSpec, Error> {
        if self.after.is_some_and(|after| after < 0) {
            return Err(Error::InvalidInput(
                "after must be an event id (0 or more)".into(),
            ));
        }
        let feed = ActivityQuery {
            since: self.since,
            until: self.until,
            principal: self.principal,
            object: self.object,
            action: self.action,
            outcome: None,
            before: None,
            limit: None,
        };
        Ok(StreamSpec {
            filter: feed.try_into()?,
            outcome: self.outcome,
            min_severity: self.min_severity,
            after: last_event_id.or(self.after),
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAlert {
    /// 1-64 characters of `[A-Za-z0-9_-]`, unique in the account.
    pub name: String,
    /// `https://…`, or `http://` to a loopback address only.
    #[schema(max_length = 2048)]
    pub url: String,
    /// Actions that trigger the rule: exact (`group.freeze`) or a prefix ending in `*`
    /// (`secret.*`); empty or absent: every action.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub actions: Option<Vec<String>>,
    /// The least severity that triggers it (default `info`).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, schema_with = severity)]
    pub min_severity: Option<String>,
}

impl From<CreateAlert> for AlertSpec {
    fn from(body: CreateAlert) -> Self {
        Self {
            name: body.name,
            url: body.url,
            actions: body.actions.unwrap_or_default(),
            min_severity: body.min_severity.unwrap_or_else(|| "info".to_owned()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAlert {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 2048)]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub actions: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, schema_with = severity)]
    pub min_severity: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
}

impl From<PatchAlert> for AlertPatch {
    fn from(body: PatchAlert) -> Self {
        Self {
            name: body.name,
            url: body.url,
            actions: body.actions,
            min_severity: body.min_severity,
            enabled: body.enabled,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    pub id: String,
    pub name: String,
    pub url: String,
    pub actions: Vec<String>,
    #[schema(schema_with = severity)]
    pub min_severity: &'static str,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: String,
}

impl From<&AlertRow> for Alert {
    fn from(a: &AlertRow) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.name.clone(),
            url: a.url.clone(),
            actions: a.actions.clone(),
            min_severity: a.min_severity.as_str(),
            enabled: a.enabled,
            created_by: a.created_by.clone(),
            created_at: rfc3339(a.created_at),
        }
    }
}

impl From<AlertRow> for Alert {
    fn from(a: AlertRow) -> Self {
        Self::from(&a)
    }
}

/// A rule with its signing secret: shown this once (and on rotation), never stored.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedAlert {
    #[serde(flatten)]
    pub alert: Alert,
    #[serde(serialize_with = "reveal")]
    #[schema(value_type = String)]
    pub signing_secret: Zeroizing<String>,
}

fn reveal<S: Serializer>(secret: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret)
}

impl From<Created> for CreatedAlert {
    fn from(created: Created) -> Self {
        Self {
            alert: Alert::from(&created.alert),
            signing_secret: created.signing_secret,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertTest {
    pub delivered: bool,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    pub error: Option<String>,
}

impl From<AlertTestResult> for AlertTest {
    fn from(r: AlertTestResult) -> Self {
        Self {
            delivered: r.delivered,
            status: r.status,
            error: r.error,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    pub status: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    pub id: String,
    pub alert: String,
    /// The event's position in the account's trail (its `seq` in the feed).
    pub position: i64,
    #[schema(schema_with = delivery_status)]
    pub status: &'static str,
    pub attempts: u32,
    pub next_at: String,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

impl From<&DeliveryRow> for Delivery {
    fn from(d: &DeliveryRow) -> Self {
        Self {
            id: d.id.to_string(),
            alert: d.alert_id.to_string(),
            position: d.position,
            status: d.status.as_str(),
            attempts: d.attempts,
            next_at: rfc3339(d.next_at),
            last_error: d.last_error.clone(),
            created_at: rfc3339(d.created_at),
            delivered_at: d.delivered_at.map(rfc3339),
        }
    }
}

impl From<DeliveryRow> for Delivery {
    fn from(d: DeliveryRow) -> Self {
        Self::from(&d)
    }
}
