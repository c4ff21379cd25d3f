//! The severity of every audit event, decided in one place from the operation and its
//! outcome (docs/audit.md has the same table for readers):
//!
//! | severity | events |
//! |---|---|
//! | `critical` | a canary used (its group freezes), a group frozen |
//! | `warning` | a deletion or purge; a master-key rotation; an unfreeze; a user revealing a secret; a request refused for its credential (`unauthenticated`), its rights (`forbidden`), a guardrail, a frozen group, a policy or a rate limit |
//! | `notice` | any other change that succeeded; any other refusal (bad input, unknown object, conflict) |
//! | `info` | reads and cryptographic use that succeeded |
//!
//! Requests that know more raise it further where they record the event (a reveal is a
//! warning, a canary read critical); nothing lowers it.

use crate::catalogue::{self, Method};
use crate::store::{ErrorCode, Outcome, Severity};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Actions loud whatever their method.
const CRITICAL_ACTIONS: &[&str] = &["group.freeze"];
const WARNING_ACTIONS: &[&str] = &[
    "group.unfreeze",
    "group.master.rotate",
    "secret.reveal",
    "activity.export",
];

/// Refusals that say someone tried what they may not.
const WARNING_REFUSALS: &[ErrorCode] = &[
    ErrorCode::Unauthenticated,
    ErrorCode::Forbidden,
    ErrorCode::TempMachineBlocked,
    ErrorCode::GroupFrozen,
    ErrorCode::RateLimited,
    ErrorCode::PolicyDenied,
];

/// The severity of an event of `action` that ended with `outcome`.
pub fn severity_of(action: &str, outcome: Outcome) -> Severity {
    if CRITICAL_ACTIONS.contains(&action) {
        return Severity::Critical;
    }
    let method = method_of(action);
    match outcome {
        Outcome::Failure(code) if WARNING_REFUSALS.contains(&code) => Severity::Warning,
        Outcome::Failure(_) => Severity::Notice,
        Outcome::Success if WARNING_ACTIONS.contains(&action) => Severity::Warning,
        Outcome::Success if is_removal(action, method) => Severity::Warning,
        Outcome::Success => match method {
            Some(Method::Get) => Severity::Info,
            Some(_) if is_use(action) => Severity::Info,
            _ => Severity::Notice,
        },
    }
}

/// The HTTP method of the route that records `action`; `None` for Coffer's own actions
/// (scheduled rotation, maintenance), which are changes.
fn method_of(action: &str) -> Option<Method> {
    static METHODS: OnceLock<HashMap<&'static str, Method>> = OnceLock::new();
    METHODS
        .get_or_init(|| {
            catalogue::ALL
                .iter()
                .filter_map(|op| op.action.map(|a| (a, op.method)))
                .collect()
        })
        .get(action)
        .copied()
}

fn is_removal(action: &str, method: Option<Method>) -> bool {
    method == Some(Method::Delete) || action.ends_with(".delete") || action.ends_with(".purge")
}

/// Cryptographic use and lookups that POST a body but change nothing.
fn is_use(action: &str) -> bool {
    const USES: &[&str] = &[
        ".encrypt", ".decrypt", ".rewrap", ".sign", ".verify", ".datakey", ".hash", ".read",
        ".open", ".login", ".value", ".field",
    ];
    USES.iter().any(|suffix| action.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_orders_events_by_how_much_they_matter() {
        let ok = Outcome::Success;
        assert_eq!(severity_of("keyring.read", ok), Severity::Info);
        assert_eq!(severity_of("keyring.create", ok), Severity::Notice);
        assert_eq!(severity_of("keyring.delete", ok), Severity::Warning);
        assert_eq!(severity_of("group.freeze", ok), Severity::Critical);
        let refused = |code| Outcome::Failure(code);
        assert_eq!(
            severity_of("keyring.read", refused(ErrorCode::NotFound)),
            Severity::Notice
        );
        assert_eq!(
            severity_of("keyring.read", refused(ErrorCode::Forbidden)),
            Severity::Warning
        );
        assert_eq!(severity_of("scheduled.rotation", ok), Severity::Notice);
    }
}
