//! Guardrails of temporary machines, checked on every request: an allowlist of source
//! addresses and networks, and a time-of-day window on chosen weekdays in an IANA time zone.
//! Pure functions, no I/O; the time-zone database is compiled in (jiff), so a host without
//! tzdata evaluates windows the same way.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use std::net::IpAddr;

/// What a temporary machine's token fixes: both parts are optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guardrails {
    /// IP addresses (`192.0.2.7`) or networks (`10.0.0.0/8`, `2001:db8::/32`); empty means
    /// any source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_window: Option<TimeWindow>,
}

/// Requests are allowed on `weekdays`, from `start` (inclusive) to `end` (exclusive), local
/// time in `time_zone`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// An IANA name such as `Europe/Paris`.
    pub time_zone: String,
    /// `monday` … `sunday` (or `mon` … `sun`).
    pub weekdays: Vec<String>,
    /// `HH:MM`, 24-hour clock.
    pub start: String,
    /// `HH:MM`, after `start`; `24:00` for the end of the day.
    pub end: String,
}

/// Which guardrail refused a request (for the audit trail and the 403 message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    #[error("the source address is not in the machine's allowlist")]
    Source,
    #[error("the request is outside the machine's time window")]
    Time,
}

impl Blocked {
    pub fn reason(self) -> &'static str {
        match self {
            Blocked::Source => "source_not_allowed",
            Blocked::Time => "outside_time_window",
        }
    }
}

fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    Some(match text.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

/// Minutes since midnight of `HH:MM` (up to `24:00`).
fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h * 60 + m;
    (m < 60 && minutes <= 24 * 60).then_some(minutes)
}

impl TimeWindow {
    fn check(&self) -> Result<(TimeZone, Vec<Weekday>, u32, u32), String> {
        let tz = TimeZone::get(&self.time_zone).map_err(|_| {
            format!(
                "time zone {:?} is not an IANA time zone name (like Europe/Paris)",
                self.time_zone
            )
        })?;
        if self.weekdays.is_empty() {
            return Err("time_window.weekdays must name at least one day".into());
        }
        let days = self
            .weekdays
            .iter()
            .map(|d| {
                parse_weekday(d).ok_or_else(|| {
                    format!("weekday {d:?} is not one of monday..sunday (or mon..sun)")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (start, end) = match (parse_clock(&self.start), parse_clock(&self.end)) {
            (Some(s), Some(e)) if s < e => (s, e),
            _ => {
                return Err(
                    "time_window.start and end must be HH:MM with start before end (end may be 24:00)"
                        .into(),
                );
            }
        };
        Ok((tz, days, start, end))
    }
}

impl Guardrails {
    /// Checks every part, with a message naming what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.allowed_sources.len() > 256 {
            return Err("allowed_sources holds at most 256 entries".into());
        }
        for source in &self.allowed_sources {
            if parse_network(source).is_none() {
                return Err(format!(
                    "allowed source {source:?} is not an IP address or CIDR network"
                ));
            }
        }
        if let Some(window) = &self.time_window {
            window.check()?;
        }
        Ok(())
    }

    /// Whether a request from `source_ip` at `now_micros` (Unix microseconds) passes.
    pub fn admits(&self, source_ip: Option<&str>, now_micros: i64) -> Result<(), Blocked> {
        if !self.allowed_sources.is_empty() {
            let ip = source_ip
                .and_then(|ip| ip.parse::<IpAddr>().ok())
                .ok_or(Blocked::Source)?;
            let allowed = self
                .allowed_sources
                .iter()
                .filter_map(|s| parse_network(s))
                .any(|net| net.contains(&ip));
            if !allowed {
                return Err(Blocked::Source);
            }
        }
        if let Some(window) = &self.time_window {
            let (tz, days, start, end) = window.check().map_err(|_| Blocked::Time)?;
            let local = jiff::Timestamp::from_microsecond(now_micros)
                .map_err(|_| Blocked::Time)?
                .to_zoned(tz);
            let minute = u32::try_from(local.hour()).unwrap_or(0) * 60
                + u32::try_from(local.minute()).unwrap_or(0);
            if !days.contains(&local.weekday()) || minute < start || minute >= end {
                return Err(Blocked::Time);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(rfc3339: &str) -> i64 {
        rfc3339
            .parse::<jiff::Timestamp>()
            .expect("timestamp")
            .as_microsecond()
    }

    fn office_hours() -> Guardrails {
        Guardrails {
            allowed_sources: vec!["10.1.0.0/16".into(), "192.0.2.7".into()],
            time_window: Some(TimeWindow {
                time_zone: "America/New_York".into(),
                weekdays: vec!["mon".into(), "Tuesday".into()],
                start: "09:00".into(),
                end: "17:30".into(),
            }),
        }
    }

    #[test]
    fn sources_are_matched_by_address_and_network() {
        let g = office_hours();
        let monday_noon = micros("2026-11-23T17:00:00Z"); // 12:00 in New York
        assert_eq!(g.admits(Some("10.1.200.3"), monday_noon), Ok(()));
        assert_eq!(g.admits(Some("192.0.2.7"), monday_noon), Ok(()));
        assert_eq!(
            g.admits(Some("192.0.2.8"), monday_noon),
            Err(Blocked::Source)
        );
        assert_eq!(g.admits(None, monday_noon), Err(Blocked::Source));
    }

    #[test]
    fn the_window_is_local_time_on_chosen_days() {
        let g = office_hours();
        let ip = Some("10.1.0.1");
        // 09:00 New York (EST, UTC-5) is 14:00 UTC; the end is exclusive.
        assert_eq!(g.admits(ip, micros("2026-11-23T14:00:00Z")), Ok(()));
        assert_eq!(
            g.admits(ip, micros("2026-11-23T13:59:00Z")),
            Err(Blocked::Time)
        );
        assert_eq!(g.admits(ip, micros("2026-11-23T22:29:00Z")), Ok(()));
        assert_eq!(
            g.admits(ip, micros("2026-11-23T22:30:00Z")),
            Err(Blocked::Time)
        );
        // Wednesday noon is not a chosen day.
        assert_eq!(
            g.admits(ip, micros("2026-11-25T17:00:00Z")),
            Err(Blocked::Time)
        );
        // Daylight saving time: in July 09:00 New York is 13:00 UTC.
        assert_eq!(g.admits(ip, micros("2026-07-06T13:00:00Z")), Ok(()));
    }

    #[test]
    fn bad_guardrails_are_refused_with_the_reason() {
        let mut g = office_hours();
        assert_eq!(g.validate(), Ok(()));
        g.allowed_sources.push("10.0.0.0/33".into());
        assert!(g.validate().unwrap_err().contains("10.0.0.0/33"));
        let mut g = office_hours();
        g.time_window.as_mut().expect("window").time_zone = "Mars/Olympus".into();
        assert!(g.validate().unwrap_err().contains("Mars/Olympus"));
        let mut g = office_hours();
        g.time_window.as_mut().expect("window").end = "08:00".into();
        assert!(g.validate().is_err());
        let mut g = office_hours();
        g.time_window.as_mut().expect("window").weekdays = vec!["funday".into()];
        assert!(g.validate().unwrap_err().contains("funday"));
    }
}
