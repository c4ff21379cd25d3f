//! `/metrics`: the service's counters in the Prometheus text format.

use super::AppState;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// One counter: name, help text, and its samples as (labels, value).
type Counter = (&'static str, &'static str, Vec<(&'static str, u64)>);

/// The whole `/metrics` body.
pub(super) fn render(state: &AppState) -> String {
    let mut body = String::new();
    for (name, help, samples) in counters(state) {
        let _ = writeln!(body, "# HELP {name} {help}\n# TYPE {name} counter");
        for (labels, value) in samples {
            let _ = writeln!(body, "{name}{labels} {value}");
        }
    }
    let _ = writeln!(
        body,
        "# HELP coffer_connections_open Connections open now.\n# TYPE coffer_connections_open gauge\ncoffer_connections_open {}",
        state.connections.open()
    );
    body
}

fn counters(state: &AppState) -> Vec<Counter> {
    let m = &state.metrics;
    let audit = state.service.audit_stats();
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let one = |value: u64| vec![("", value)];
    vec![
        (
            "coffer_http_requests_total",
            "HTTP requests received.",
            one(load(&m.requests)),
        ),
        (
            "coffer_http_responses_total",
            "HTTP responses by status class.",
            vec![
                ("{class=\"2xx\"}", load(&m.responses_2xx)),
                ("{class=\"4xx\"}", load(&m.responses_4xx)),
                ("{class=\"5xx\"}", load(&m.responses_5xx)),
            ],
        ),
        (
            "coffer_hsm_unwraps_total",
            "Data keys unwrapped through the HSM (key cache misses).",
            one(load(&state.service.hsm_unwraps)),
        ),
        (
            "coffer_signed_unknown_machine_total",
            "Signed requests refused because no machine ever had their X-Machine-Id (in no account's trail).",
            one(load(&state.service.signed_unknown_machine)),
        ),
        (
            "coffer_audit_batches_total",
            "Audit transactions committed or attempted.",
            one(load(&audit.batches)),
        ),
        (
            "coffer_audit_failed_batches_total",
            "Audit transactions that failed (their requests got 503).",
            one(load(&audit.failed_batches)),
        ),
        (
            "coffer_audit_events_total",
            "Audit events in those transactions.",
            one(load(&audit.events)),
        ),
        (
            "coffer_audit_commit_microseconds_total",
            "Time spent writing audit transactions.",
            one(load(&audit.commit_micros)),
        ),
        (
            "coffer_connections_refused_total",
            "Connections closed at accept because a per-source or total cap was reached.",
            one(state.connections.refused()),
        ),
    ]
}
