//! Access policies: creation and change (one optional object per axis), the policy as
//! shown, and its bindings.

use super::not_null;
use super::present;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::service::{
    CosignRule, Error, PolicyBinding as BindingRow, PolicyPatch, PolicyRules, PolicySpec,
    PolicyView, RateRule, TimeWindowRule, TtlRule,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Uses are allowed on `days` (mon…sun) from `from` to `to` (`HH:MM`, local time of the
/// IANA `time_zone`). A window whose `to` is before its `from` crosses midnight and belongs
/// to the day it starts.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyTimeWindow {
    #[schema(example = json!(["mon", "tue", "wed", "thu", "fri"]))]
    pub days: Vec<String>,
    #[schema(example = "09:00")]
    pub from: String,
    #[schema(example = "17:30")]
    pub to: String,
    #[schema(example = "Europe/Paris")]
    pub time_zone: String,
}

/// Uses per UTC minute and/or per UTC day, per bound object (at least one).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub per_minute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub per_day: Option<u64>,
}

/// One of `principals` (app or machine ids) must have used the object within
/// `within_seconds` before any other app or machine may.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyCosign {
    pub principals: Vec<String>,
    #[schema(minimum = 1, maximum = 604800)]
    pub within_seconds: u64,
}

/// The object is destroyed at `expires_at` (RFC 3339) or after `max_uses` uses.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyTtl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub max_uses: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePolicy {
    pub group: String,
    pub name: String,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub time_window: Option<PolicyTimeWindow>,
    /// IP addresses and CIDR networks the use may come from.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub sources: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub rate: Option<PolicyRate>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub cosign: Option<PolicyCosign>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub ttl: Option<PolicyTtl>,
    /// A rotation is queued when the current version's use count reaches this.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, minimum = 1)]
    pub rotate_after_uses: Option<u64>,
}

/// A change: a field left out is kept; an axis set to `null` is removed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchPolicy {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub time_window: Option<Option<PolicyTimeWindow>>,
    #[serde(default, deserialize_with = "present")]
    pub sources: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub rate: Option<Option<PolicyRate>>,
    #[serde(default, deserialize_with = "present")]
    pub cosign: Option<Option<PolicyCosign>>,
    #[serde(default, deserialize_with = "present")]
    pub ttl: Option<Option<PolicyTtl>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(minimum = 1)]
    pub rotate_after_uses: Option<Option<u64>>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub id: String,
    pub group: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_window: Option<PolicyTimeWindow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<PolicyRate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cosign: Option<PolicyCosign>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<PolicyTtl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotate_after_uses: Option<u64>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBinding {
    pub policy: String,
    /// secret, keyring or key
    pub kind: String,
    pub object: String,
    pub created_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyQuery {
    pub group: Option<String>,
}

impl From<PolicyTimeWindow> for TimeWindowRule {
    fn from(w: PolicyTimeWindow) -> Self {
        Self {
            days: w.days,
            from: w.from,
            to: w.to,
            time_zone: w.time_zone,
        }
    }
}

impl From<PolicyRate> for RateRule {
    fn from(r: PolicyRate) -> Self {
        Self {
            per_minute: r.per_minute,
            per_day: r.per_day,
        }
    }
}

impl From<PolicyCosign> for CosignRule {
    fn from(c: PolicyCosign) -> Self {
        Self {
            principals: c.principals,
            within_seconds: c.within_seconds,
        }
    }
}

impl TryFrom<PolicyTtl> for TtlRule {
    type Error = Error;

    fn try_from(t: PolicyTtl) -> Result<Self, Error> {
        let expires_at = t
            .expires_at
            .map(|text| {
                parse_rfc3339(&text).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "ttl.expires_at {text:?} is not an RFC 3339 time with an offset (e.g. 2026-12-31T23:59:00Z)"
                    ))
                })
            })
            .transpose()?;
        Ok(Self {
            expires_at,
            max_uses: t.max_uses,
        })
    }
}

/// `Some(None)` stays a removal; a value converts.
fn changed<A, B>(field: Option<Option<A>>, convert: impl FnOnce(A) -> B) -> Option<Option<B>> {
    field.map(|value| value.map(convert))
}

impl TryFrom<CreatePolicy> for PolicySpec {
    type Error = Error;

    fn try_from(body: CreatePolicy) -> Result<Self, Error> {
        let rules = PolicyRules {
            time_window: body.time_window.map(Into::into),
            sources: body.sources,
            rate: body.rate.map(Into::into),
            cosign: body.cosign.map(Into::into),
            ttl: body.ttl.map(TryInto::try_into).transpose()?,
            rotate_after_uses: body.rotate_after_uses,
        };
        Ok(Self {
            group: body.group.into(),
            name: body.name,
            description: body.description,
            rules,
        })
    }
}

impl TryFrom<PatchPolicy> for PolicyPatch {
    type Error = Error;

    fn try_from(body: PatchPolicy) -> Result<Self, Error> {
        let ttl = match body.ttl {
            Some(Some(ttl)) => Some(Some(ttl.try_into()?)),
            Some(None) => Some(None),
            None => None,
        };
        Ok(Self {
            name: body.name,
            description: body.description,
            time_window: changed(body.time_window, Into::into),
            sources: body.sources,
            rate: changed(body.rate, Into::into),
            cosign: changed(body.cosign, Into::into),
            ttl,
            rotate_after_uses: body.rotate_after_uses,
        })
    }
}

impl From<&PolicyView> for Policy {
    fn from(view: &PolicyView) -> Self {
        let (row, rules) = (&view.row, view.rules.clone());
        Self {
            id: row.id.clone(),
            group: row.group_id.to_string(),
            name: row.name.clone(),
            description: row.description.clone(),
            time_window: rules.time_window.map(|w| PolicyTimeWindow {
                days: w.days,
                from: w.from,
                to: w.to,
                time_zone: w.time_zone,
            }),
            sources: rules.sources,
            rate: rules.rate.map(|r| PolicyRate {
                per_minute: r.per_minute,
                per_day: r.per_day,
            }),
            cosign: rules.cosign.map(|c| PolicyCosign {
                principals: c.principals,
                within_seconds: c.within_seconds,
            }),
            ttl: rules.ttl.map(|t| PolicyTtl {
                expires_at: t.expires_at.map(rfc3339),
                max_uses: t.max_uses,
            }),
            rotate_after_uses: rules.rotate_after_uses,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

impl From<PolicyView> for Policy {
    fn from(view: PolicyView) -> Self {
        Policy::from(&view)
    }
}

impl From<&BindingRow> for PolicyBinding {
    fn from(row: &BindingRow) -> Self {
        Self {
            policy: row.policy_id.clone(),
            kind: row.object_kind.clone(),
            object: row.object_name.clone(),
            created_at: rfc3339(row.created_at),
        }
    }
}

impl From<BindingRow> for PolicyBinding {
    fn from(row: BindingRow) -> Self {
        PolicyBinding::from(&row)
    }
}
