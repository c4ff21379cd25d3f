//! Operations routes: no credential, not audited, for load balancers and tooling.

use super::{Operation, get};

pub const HEALTH: Operation = get("/v1/health").summary("Liveness");

pub const READY: Operation =
    get("/v1/ready").summary("Readiness: HSM session and database reachable");

pub const METRICS: Operation = get("/metrics").summary("Prometheus metrics");

pub const OPENAPI: Operation = get("/v1/openapi.json").summary("This document");
