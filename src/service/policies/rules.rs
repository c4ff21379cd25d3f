//! The six axes of a policy, their validation (a bad rule is refused before anything is
//! stored) and the pure checks that need no database: the time window and the source.

use crate::authz::is_valid_name;
use crate::service::Error;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The longest co-sign window: a week. `policy_uses` keeps uses that long.
pub const MAX_COSIGN_SECONDS: u64 = 7 * 86_400;
/// The largest rate cap, use count or rotate-after count.
const MAX_COUNT: u64 = 1_000_000_000;
const MAX_SOURCES: usize = 100;
const MAX_COSIGNERS: usize = 20;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Every axis of a policy; `None` is an axis the policy does not check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_window: Option<TimeWindowRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosign: Option<CosignRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<TtlRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_after_uses: Option<u64>,
}

/// Uses are allowed on `days` from `from` to `to` (`HH:MM`, local time of `time_zone`). A
/// window whose `to` is before its `from` crosses midnight: it belongs to the day it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindowRule {
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRule {
    pub per_minute: Option<u64>,
    pub per_day: Option<u64>,
}

/// One of `principals` (apps or machines) must have used the object within
/// `within_seconds` before anyone else may. The named principals are the co-signers:
/// their own uses are not held back by this axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CosignRule {
    pub principals: Vec<String>,
    pub within_seconds: u64,
}

/// The object is destroyed at `expires_at` (Unix microseconds) or once `max_uses` uses
/// were allowed, whichever comes first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtlRule {
    pub expires_at: Option<i64>,
    pub max_uses: Option<u64>,
}

fn invalid(message: String) -> Error {
    Error::InvalidInput(message)
}

/// Minutes since midnight of an `HH:MM` time.
pub fn minutes_of(text: &str) -> Option<u32> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let (hours, minutes): (u32, u32) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

fn count_in_range(field: &str, value: Option<u64>) -> Result<(), Error> {
    match value {
        Some(n) if !(1..=MAX_COUNT).contains(&n) => Err(invalid(format!(
            "{field} must be 1-{MAX_COUNT} (or left out)"
        ))),
        _ => Ok(()),
    }
}

impl TimeWindowRule {
    fn validate(&self) -> Result<(), Error> {
        if self.days.is_empty() {
            return Err(invalid(
                "time_window.days must name at least one day (mon, tue, wed, thu, fri, sat, sun)"
                    .into(),
            ));
        }
        if let Some(day) = self.days.iter().find(|d| !DAYS.contains(&d.as_str())) {
            return Err(invalid(format!(
                "time_window.days: {day:?} is not one of mon, tue, wed, thu, fri, sat, sun"
            )));
        }
        let from = minutes_of(&self.from);
        let to = minutes_of(&self.to);
        let (Some(from), Some(to)) = (from, to) else {
            return Err(invalid(format!(
                "time_window.from and .to must be HH:MM (00:00-23:59), not {:?} and {:?}",
                self.from, self.to
            )));
        };
        if from == to {
            return Err(invalid(
                "time_window.from and .to are equal: the window would be empty (leave time_window out to allow every time)"
                    .into(),
            ));
        }
        if jiff::tz::TimeZone::get(&self.time_zone).is_err() {
            return Err(invalid(format!(
                "time_window.time_zone {:?} is not an IANA time zone (e.g. Europe/Paris, UTC)",
                self.time_zone
            )));
        }
        Ok(())
    }

    /// Whether a use at `now` (Unix microseconds) falls in the window.
    pub fn admits(&self, now: i64) -> bool {
        let (Ok(zone), Ok(at), Some(from), Some(to)) = (
            jiff::tz::TimeZone::get(&self.time_zone),
            jiff::Timestamp::from_microsecond(now),
            minutes_of(&self.from),
            minutes_of(&self.to),
        ) else {
            return false;
        };
        let local = at.to_zoned(zone);
        let minute =
            u32::from(local.hour().unsigned_abs()) * 60 + u32::from(local.minute().unsigned_abs());
        let today = day_name(local.weekday());
        let yesterday = day_name(local.weekday().previous());
        let open_on = |day: &str| self.days.iter().any(|d| d == day);
        if from < to {
            open_on(today) && (from..to).contains(&minute)
        } else {
            (open_on(today) && minute >= from) || (open_on(yesterday) && minute < to)
        }
    }

    /// What the window allows, for a refusal's message: "mon, tue 09:00-17:30 Europe/Paris".
    pub fn describe(&self) -> String {
        format!(
            "{} {}-{} {}",
            self.days.join(", "),
            self.from,
            self.to,
            self.time_zone
        )
    }
}

fn day_name(day: jiff::civil::Weekday) -> &'static str {
    DAYS[usize::from(day.to_monday_zero_offset().unsigned_abs())]
}

/// One allowlist entry: a network or a single address.
fn parse_source(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

fn validate_sources(sources: &[String]) -> Result<(), Error> {
    if sources.is_empty() || sources.len() > MAX_SOURCES {
        return Err(invalid(format!(
            "sources must list 1-{MAX_SOURCES} addresses or CIDR networks"
        )));
    }
    match sources.iter().find(|s| parse_source(s).is_none()) {
        Some(bad) => Err(invalid(format!(
            "sources: {bad:?} is neither an IP address nor a CIDR network (e.g. 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)"
        ))),
        None => Ok(()),
    }
}

/// Whether `source` (the request's address) is in the allowlist; an unknown source is not.
pub fn source_admitted(sources: &[String], source: Option<&str>) -> bool {
    let Some(address) = source.and_then(|s| s.parse::<IpAddr>().ok()) else {
        return false;
    };
    let address = address.to_canonical();
    sources
        .iter()
        .filter_map(|s| parse_source(s))
        .any(|net| net.contains(&address))
}

impl PolicyRules {
    /// Refuses a rule a person could not have meant, naming the field and what it takes.
    pub fn validate(&self, now: i64) -> Result<(), Error> {
        if *self == PolicyRules::default() {
            return Err(invalid(
                "a policy needs at least one axis: time_window, sources, rate, cosign, ttl or rotate_after_uses"
                    .into(),
            ));
        }
        if let Some(window) = &self.time_window {
            window.validate()?;
        }
        if let Some(sources) = &self.sources {
            validate_sources(sources)?;
        }
        if let Some(rate) = &self.rate {
            validate_rate(rate)?;
        }
        if let Some(cosign) = &self.cosign {
            validate_cosign(cosign)?;
        }
        if let Some(ttl) = &self.ttl {
            validate_ttl(ttl, now)?;
        }
        count_in_range("rotate_after_uses", self.rotate_after_uses)
    }
}

fn validate_rate(rate: &RateRule) -> Result<(), Error> {
    if rate.per_minute.is_none() && rate.per_day.is_none() {
        return Err(invalid("rate needs per_minute, per_day or both".into()));
    }
    count_in_range("rate.per_minute", rate.per_minute)?;
    count_in_range("rate.per_day", rate.per_day)
}

fn validate_cosign(cosign: &CosignRule) -> Result<(), Error> {
    if cosign.principals.is_empty() || cosign.principals.len() > MAX_COSIGNERS {
        return Err(invalid(format!(
            "cosign.principals must name 1-{MAX_COSIGNERS} app or machine ids"
        )));
    }
    if let Some(bad) = cosign.principals.iter().find(|p| !is_valid_name(p)) {
        return Err(invalid(format!(
            "cosign.principals: {bad:?} is not an app or machine id (app_...)"
        )));
    }
    if !(1..=MAX_COSIGN_SECONDS).contains(&cosign.within_seconds) {
        return Err(invalid(format!(
            "cosign.within_seconds must be 1-{MAX_COSIGN_SECONDS}"
        )));
    }
    Ok(())
}

fn validate_ttl(ttl: &TtlRule, now: i64) -> Result<(), Error> {
    if ttl.expires_at.is_none() && ttl.max_uses.is_none() {
        return Err(invalid("ttl needs expires_at, max_uses or both".into()));
    }
    if ttl.expires_at.is_some_and(|at| at <= now) {
        return Err(invalid(
            "ttl.expires_at is not in the future: an object bound to this policy would be destroyed at once"
                .into(),
        ));
    }
    count_in_range("ttl.max_uses", ttl.max_uses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: &[&str], from: &str, to: &str, zone: &str) -> TimeWindowRule {
        TimeWindowRule {
            days: days.iter().map(|d| (*d).to_owned()).collect(),
            from: from.into(),
            to: to.into(),
            time_zone: zone.into(),
        }
    }

    fn at(text: &str) -> i64 {
        crate::clock::parse_rfc3339(text).expect("time")
    }

    #[test]
    fn a_window_is_read_in_its_time_zone() {
        let office = window(
            &["mon", "tue", "wed", "thu", "fri"],
            "09:00",
            "17:30",
            "Europe/Paris",
        );
        // 2026-11-27 is a Friday; Paris is UTC+1 in November.
        assert!(office.admits(at("2026-11-27T08:00:00Z")));
        assert!(!office.admits(at("2026-11-27T07:59:00Z")));
        assert!(
            !office.admits(at("2026-11-27T16:30:00Z")),
            "17:30 is the end"
        );
        assert!(!office.admits(at("2026-11-28T10:00:00Z")), "Saturday");
    }

    #[test]
    fn a_window_across_midnight_belongs_to_the_day_it_starts() {
        let night = window(&["fri"], "22:00", "02:00", "UTC");
        assert!(night.admits(at("2026-11-27T23:00:00Z")));
        assert!(
            night.admits(at("2026-11-28T01:59:00Z")),
            "Saturday morning is Friday's night"
        );
        assert!(!night.admits(at("2026-11-28T02:00:00Z")));
        assert!(
            !night.admits(at("2026-11-27T01:00:00Z")),
            "Thursday's night is not open"
        );
    }

    #[test]
    fn bad_rules_are_refused_with_the_field_named() {
        let now = at("2026-11-27T00:00:00Z");
        let cases = [
            (window(&["mon"], "09:00", "09:00", "UTC"), "equal"),
            (
                window(&["mon"], "09:00", "17:00", "Mars/Olympus"),
                "time_zone",
            ),
            (window(&["monday"], "09:00", "17:00", "UTC"), "days"),
            (window(&["mon"], "9:00", "17:00", "UTC"), "HH:MM"),
        ];
        for (rule, expected) in cases {
            let rules = PolicyRules {
                time_window: Some(rule),
                ..Default::default()
            };
            let message = rules.validate(now).expect_err("refused").to_string();
            assert!(message.contains(expected), "{message}");
        }
        let sources = PolicyRules {
            sources: Some(vec!["10.0.0.0/33".into()]),
            ..Default::default()
        };
        assert!(sources.validate(now).is_err());
        assert!(PolicyRules::default().validate(now).is_err());
    }

    #[test]
    fn sources_admit_addresses_and_networks() {
        let list = vec!["10.0.0.0/8".to_owned(), "127.0.0.1".to_owned()];
        assert!(source_admitted(&list, Some("127.0.0.1")));
        assert!(source_admitted(&list, Some("10.20.30.40")));
        assert!(source_admitted(&list, Some("::ffff:127.0.0.1")));
        assert!(!source_admitted(&list, Some("127.0.0.2")));
        assert!(!source_admitted(&list, None));
    }
}
