//! The OpenAPI 3.1 document: its paths are generated from the catalogue (every operation
//! with its flags, schemas and status), its statuses from what each operation can answer,
//! and its schemas from the DTO types (`components`).

mod components;
pub mod fields;
mod variants;

use crate::catalogue::{self, Operation};
pub use fields::{BASE64_PATTERN, EMAIL_PATTERN, NAME_PATTERN};
use serde_json::{Value, json};

fn string() -> Value {
    json!({"type": "string"})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

/// An integer in `min..=max`.
fn int_range(min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

fn name() -> Value {
    json!({"type": "string", "pattern": NAME_PATTERN, "minLength": 1, "maxLength": 64})
}

fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn enumeration(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The schema of a path parameter: names are patterned (a bad one is a 400), ids are
/// opaque (an unknown one is a 404).
fn path_parameter(name: &str) -> Value {
    match name {
        "ring" | "name" | "field" => self::name(),
        "version" => json!({"type": "integer", "minimum": 1, "maximum": u32::MAX}),
        "hash" => {
            json!({"type": "string", "pattern": "^[0-9A-Fa-f]{32}$", "description": "a ciphertext's key reference, 16 bytes in hex"})
        }
        _ => json!({"type": "string", "minLength": 1}),
    }
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

/// The filters the activity feed and its live stream share.
fn activity_filters() -> Vec<Value> {
    vec![
        query(
            "since",
            timestamp(),
            "events at or after this time (RFC 3339)",
        ),
        query("until", timestamp(), "events before this time (RFC 3339)"),
        query("principal", string(), "the acting user, app or machine id"),
        query("object", string(), "the object, e.g. keyring/payments"),
        query("action", string(), "e.g. keyring.encrypt"),
        query("outcome", string(), "e.g. success, forbidden"),
    ]
}

/// The query parameters a route reads; any other is ignored, or refused with a 400 where
/// the route reads some.
pub fn query_parameters(method: &str, path: &str) -> Vec<Value> {
    match (method, path) {
        ("get", "/v1/activity") => [
            activity_filters(),
            vec![
                query(
                    "before",
                    json!({"type": "integer", "format": "int64"}),
                    "page: events with a sequence number below this (the previous page's `next`)",
                ),
                query("limit", int_range(1, 1000), "page size, default 100"),
            ],
        ]
        .concat(),
        ("get", "/v1/ai/activity") => query_parameters("get", "/v1/activity"),
        ("get", "/v1/ai/secrets") => {
            vec![query("group", string(), "only secrets of this group id")]
        }
        ("get", "/v1/ai/machines") => vec![query(
            "status",
            enumeration(
                &crate::service::MachineStatus::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>(),
            ),
            "only machines in this state (pending: awaiting an owner's approval)",
        )],
        ("get", "/v1/objects") => vec![
            query("group", string(), "only objects of this group id"),
            query(
                "type",
                enumeration(&crate::service::OBJECT_KINDS),
                "only objects of this type",
            ),
        ],
        ("get", "/v1/keys/{name}/public") => vec![query(
            "version",
            json!({"type": "integer", "minimum": 1, "maximum": u32::MAX}),
            "a version of the key (default: the current one); one that was never made is a 404",
        )],
        ("get", "/v1/secrets/{name}/value") => vec![query(
            "version",
            json!({"type": "integer", "minimum": 1, "maximum": u32::MAX}),
            "an earlier version still kept (default: the current one); another is a 404",
        )],
        ("get", "/v1/secrets/{name}/pending") => vec![query(
            "wait",
            json!({"type": "integer", "minimum": 0, "maximum": u32::MAX}),
            "seconds to wait for a pending version (a long poll; at most 30 are waited)",
        )],
        ("delete", "/v1/groups/{id}") => vec![query(
            "force",
            boolean(),
            "move the group's keyrings and keys to the trash instead of refusing (409)",
        )],
        ("get", "/v1/policies") => vec![query("group", string(), "only policies of this group id")],
        ("get", "/v1/activity/stream") => [
            activity_filters(),
            vec![
                query(
                    "min_severity",
                    enumeration(
                        &crate::audit::Severity::ALL
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>(),
                    ),
                    "leave out quieter events",
                ),
                query(
                    "after",
                    json!({"type": "integer", "format": "int64", "minimum": 0}),
                    "resume strictly after this chain position (the Last-Event-ID header wins)",
                ),
            ],
        ]
        .concat(),
        ("get", "/v1/alerts/{id}/deliveries") => vec![query(
            "status",
            enumeration(&["pending", "sending", "delivered", "dead"]),
            "only deliveries in this state (dead: the dead-letter list)",
        )],
        ("get", "/v1/approvals") => vec![query(
            "status",
            enumeration(
                crate::service::ApprovalStatus::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .as_slice(),
            ),
            "only approvals with this status",
        )],
        _ => Vec::new(),
    }
}

/// Routes whose body names other objects (a group, a principal), so an unknown one is a
/// 404 even on a route without a path parameter.
const REFERS_TO_OBJECTS: &[&str] = &[
    "/v1/auth/apikey",
    "/v1/apps",
    "/v1/keyrings",
    "/v1/keys",
    "/v1/machine-tokens",
    "/v1/machines",
    "/v1/objects",
    "/v1/secrets",
    "/v1/shares",
    "/v1/policies",
    "/v1/account/quorum",
];

/// Every error status a route can answer with, besides its success status.
pub fn error_statuses(route: &Operation) -> Vec<u16> {
    let mut statuses = std::collections::BTreeSet::new();
    let has_path_parameters = route.path.contains('{');
    let has_query = !query_parameters(route.method.as_str(), route.path).is_empty();
    let has_body = route.request.is_some();
    match route.flags.first() {
        Some(_) => {
            // 429: a signed request from a source locked out for failed signatures.
            statuses.extend([401, 403, 429, 503]);
            if has_path_parameters
                || has_query
                || has_body
                || route.method != catalogue::Method::Get
            {
                statuses.insert(400);
            }
            if route.method != catalogue::Method::Get {
                statuses.insert(409);
            }
        }
        // Credential-less routes whose body carries the credential.
        None if has_body => {
            statuses.extend([400, 401, 503]);
        }
        // Operations routes.
        None => {}
    }
    if has_body {
        statuses.extend([408, 413]);
    }
    if has_path_parameters || REFERS_TO_OBJECTS.contains(&route.path) {
        statuses.insert(404);
    }
    match route.path {
        "/v1/auth/login" => {
            statuses.insert(429);
        }
        // A machine registers under the name in its body, and app names are unique.
        "/v1/machines/register" => {
            statuses.insert(409);
        }
        "/v1/ready" => {
            statuses.insert(503);
        }
        "/v1/keyrings/{ring}/decrypt"
        | "/v1/keyrings/{ring}/rewrap"
        | "/v1/keys/{name}/decrypt" => {
            statuses.insert(422);
        }
        _ => {}
    }
    statuses.into_iter().collect()
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => {
            "invalid_input: malformed JSON or query, bad base64, a name or field out of its rules"
        }
        401 => "unauthenticated: no or bad credential (the same body whatever the reason)",
        403 => "forbidden (or temp_machine_blocked, group_frozen, policy_denied): may not do this",
        404 => "not_found: no such object, or the caller may not see it",
        409 => "conflict, key_disabled, usage_not_allowed or version_retired",
        408 => "request_timeout: the body did not arrive within the body timeout (30 s)",
        413 => "payload_too_large: the body is over 1 MiB",
        422 => "decrypt_failed: the ciphertext does not authenticate",
        429 => {
            "rate_limited: too many failures from this address (or this machine from it), or an access policy's rate cap; see Retry-After"
        }
        503 => "unavailable: HSM, database or audit trail cannot serve now; nothing changed; retry",
        _ => "error",
    }
}

fn request_id_header() -> Value {
    json!({"X-Request-Id": {"description": "the request id (the caller's, if valid)", "schema": {"type": "string"}}})
}

/// The documented answer of success.
fn success_response(route: &Operation) -> Value {
    match (route.path, route.response) {
        ("/metrics", _) => {
            json!({"description": "Prometheus text format", "content": {"text/plain": {"schema": string()}}})
        }
        ("/v1/openapi.json", _) => {
            json!({"description": "this document", "content": {"application/json": {"schema": {"type": "object"}}}})
        }
        ("/v1/health" | "/v1/ready", _) => {
            json!({"description": "success", "content": {"application/json": {"schema": schema_ref("Status")}}})
        }
        ("/v1/activity/stream", _) => {
            json!({"description": "server-sent events (event: audit, each data one item of the activity feed; event: overflow; heartbeat comments)", "content": {"text/event-stream": {"schema": string()}}})
        }
        (_, Some(schema)) => {
            json!({"description": "success", "content": {"application/json": {"schema": schema_ref(schema)}}})
        }
        (_, None) => json!({"description": "success"}),
    }
}

/// Every documented answer of the operation, success and errors, each with the request id
/// header.
fn responses(route: &Operation) -> serde_json::Map<String, Value> {
    let mut responses = serde_json::Map::new();
    responses.insert(route.status.to_string(), success_response(route));
    if catalogue::GATED
        .iter()
        .any(|g| g.method == route.method && g.path == route.path)
    {
        awaiting_approval(&mut responses);
    }
    for status in error_statuses(route) {
        let schema = if route.path == "/v1/ready" {
            "Status"
        } else {
            "Error"
        };
        let mut response = json!({"description": error_description(status),
            "content": {"application/json": {"schema": schema_ref(schema)}}});
        match status {
            401 => {
                response["headers"] =
                    json!({"WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}})
            }
            429 | 503 => {
                response["headers"] =
                    json!({"Retry-After": {"description": "seconds", "schema": {"type": "string"}}})
            }
            _ => {}
        }
        responses.insert(status.to_string(), response);
    }
    for response in responses.values_mut() {
        let headers = response
            .as_object_mut()
            .expect("responses are objects")
            .entry("headers")
            .or_insert_with(|| json!({}));
        if let (Some(headers), Some(id)) =
            (headers.as_object_mut(), request_id_header().as_object())
        {
            headers.extend(id.clone());
        }
    }
    responses
}

/// The `202` of an operation gated by a quorum: the request became a pending approval. A
/// route whose success is already a 202 (a master-key rotation's job) answers either.
fn awaiting_approval(responses: &mut serde_json::Map<String, Value>) {
    let approval = schema_ref("Approval");
    let schema = match responses.get("202") {
        Some(job) => {
            json!({"oneOf": [job["content"]["application/json"]["schema"].clone(), approval]})
        }
        None => approval,
    };
    responses.insert(
        "202".to_owned(),
        json!({"description": "the group (or account) has a quorum: the request awaits approval (docs/approvals.md)",
               "content": {"application/json": {"schema": schema}}}),
    );
}

fn operation(route: &Operation) -> Value {
    let responses = responses(route);
    let mut op =
        json!({"operationId": route.id(), "summary": route.summary, "responses": responses});
    if !route.flags.is_empty() {
        op["x-coffer-flag"] = json!(route.flags.join(" + "));
        op["security"] = json!([{"apiKey": []}, {"signedRequest": []}, {"clientCertificate": []}]);
    }
    if let Some(schema) = route.request {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema_ref(schema)}}});
    }
    let mut params: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": path_parameter(name)}))
        .collect();
    params.extend(query_parameters(route.method.as_str(), route.path));
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    op
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for route in catalogue::ALL {
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method.as_str()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Coffer", "version": env!("CARGO_PKG_VERSION"),
                 "description": "HSM-backed key management. Every route with an x-coffer-flag needs a credential: `Authorization: Bearer` with an API key (`ck_...`) or a session token (`cs_...`), an Ed25519-signed request of a machine (X-Machine-Id, X-Timestamp, X-Nonce, X-Signature), or a TLS client certificate bound to an app. Request bodies refuse unknown fields; in a PATCH body an explicit null is refused except where it clears a setting."},
        "paths": paths,
        "components": {
            "schemas": components::schemas(),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer"},
                "clientCertificate": {"type": "mutualTLS"},
                "signedRequest": {"type": "apiKey", "in": "header", "name": "X-Signature",
                    "description": "Ed25519 signature (base64) of METHOD:PATH:TIMESTAMP:NONCE:BODY_SHA256_HEX, with X-Machine-Id, X-Timestamp and X-Nonce"}
            }
        }
    })
}
