//! Time, injectable so that scheduled behaviour is tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time in Unix microseconds.
pub trait Clock: Send + Sync + 'static {
    fn now_micros(&self) -> i64;
}

/// The system's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
    }
}

/// A clock that moves only when told to (tests).
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// Starts at the current system time.
    pub fn starting_now() -> Self {
        Self(AtomicI64::new(SystemClock.now_micros()))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(
            i64::try_from(by.as_micros()).unwrap_or(i64::MAX),
            Ordering::SeqCst,
        );
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// RFC 3339 UTC rendering of a Unix-microseconds timestamp (fractional seconds only when
/// there are any, trailing zeros trimmed: `2026-11-27T14:18:00.5Z`).
pub fn rfc3339(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// RFC 3339 UTC rendering of a Unix-seconds timestamp (the precision of X.509 dates).
pub fn rfc3339_seconds(seconds: i64) -> String {
    rfc3339(seconds.saturating_mul(1_000_000))
}

/// Parses an RFC 3339 timestamp (an offset is required) into Unix microseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_microsecond())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_round_trips() {
        let micros = 1_700_000_000_123_456;
        assert_eq!(super::parse_rfc3339(&super::rfc3339(micros)), Some(micros));
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_500_000), "1970-01-01T00:00:01.5Z");
        assert_eq!(super::parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            super::parse_rfc3339("1970-01-01T00:00:00"),
            None,
            "an offset is required"
        );
    }
}
