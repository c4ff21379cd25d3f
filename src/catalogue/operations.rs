//! Operations routes: no credential, not audited, for load balancers and tooling.

use super::Method::Get;
use super::Operation;

pub const HEALTH: Operation = Operation::new(Get, "/v1/health", "Liveness");

pub const READY: Operation = Operation::new(
    Get,
    "/v1/ready",
    "Readiness: HSM session and database reachable",
);

pub const METRICS: Operation = Operation::new(Get, "/metrics", "Prometheus metrics");

pub const OPENAPI: Operation = Operation::new(Get, "/v1/openapi.json", "This document");
