//! The HTTP contract as clients and generators see it: every documented route exists and
//! asks for a credential, request ids, explicit `null` in PATCH bodies, the OpenAPI
//! document's completeness and JSON 405s.

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn every_documented_route_exists_and_asks_for_a_credential() -> TestResult {
    let s = TestServer::start().await?;
    let doc = s
        .anonymous(reqwest::Method::GET, "/v1/openapi.json")
        .await?;
    assert_eq!(
        (doc.status, doc.body["openapi"].as_str()),
        (200, Some("3.1.0"))
    );
    let mut checked = 0;
    for route in coffer::catalogue::ALL {
        assert!(
            doc.body["paths"][route.path][route.method.as_str()].is_object(),
            "{} {} missing from the document",
            route.method,
            route.path
        );
        let path = route
            .path
            .replace("{ring}", "r")
            .replace("{id}", "x")
            .replace("{hash}", "00")
            .replace("{user}", "usr_x")
            .replace("{app}", "app_x")
            .replace("{certificate}", "acrt_x");
        let reply = s
            .call(
                route.method.as_str().to_uppercase().parse()?,
                &path,
                None,
                None,
            )
            .await?;
        // Routes without a flag: operations reads answer, credential-less posts (login,
        // password reset) want a body.
        let expected = match (route.flags.is_empty(), route.method.as_str()) {
            (false, _) => 401,
            (true, "get") => 200,
            (true, _) => 400,
        };
        assert_eq!(reply.status, expected, "{} {}", route.method, route.path);
        checked += 1;
    }
    assert_eq!(checked, coffer::catalogue::ALL.len());
    let metrics = s.metrics().await?;
    assert!(metrics.contains("coffer_http_requests_total"));
    let audited = metrics
        .lines()
        .find_map(|l| l.strip_prefix("coffer_audit_events_total "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        audited.is_some_and(|n| n > 0),
        "audit events are counted: {metrics}"
    );
    Ok(())
}

#[tokio::test]
async fn a_request_id_is_echoed_when_valid_and_made_up_otherwise() -> TestResult {
    let s = TestServer::start().await?;
    let echoed = s
        .client
        .get(format!("{}/v1/keyrings", s.url))
        .header("x-request-id", "trace-123")
        .send()
        .await?;
    assert_eq!(echoed.headers()["x-request-id"], "trace-123");
    let replaced = s
        .client
        .get(format!("{}/v1/keyrings", s.url))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await?;
    assert!(
        replaced.headers()["x-request-id"]
            .to_str()?
            .starts_with("req_")
    );
    Ok(())
}

/// In a PATCH body `null` would read as "clear this field"; where a field cannot be cleared
/// it is refused with a 400 that names the field, and nothing changes. Where `null` does
/// clear (a keyring's rotation period and encryption cap) it is accepted.
#[tokio::test]
async fn an_explicit_null_is_refused_unless_it_clears_a_setting() -> TestResult {
    let s = TestServer::start().await?;
    let owner = &s.owner_key;
    let user = s
        .user("ops@example.test", "admin", "correct horse battery")
        .await?;
    let group = s.group("nulls").await?;
    let (app, app_key) = s
        .app_with_key("nuller", &[&group], json!({"*.*.*.*": true}))
        .await?;
    let key_id = s.get("/v1/auth/apikey", owner).await?.body[1]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    s.keyring("ring", &group, json!({"rotation_period_days": 30}))
        .await?;
    let created = s
        .post(
            "/v1/keys",
            &app_key,
            json!({"name": "k", "group": group, "algorithm": "ec-p256"}),
        )
        .await?;
    created.assert_status(201);
    let cases = [
        (format!("/v1/users/{user}"), owner.as_str(), "role"),
        (format!("/v1/users/{user}"), owner, "suspended"),
        (format!("/v1/apps/{app}"), owner, "name"),
        (format!("/v1/apps/{app}"), owner, "enabled"),
        (format!("/v1/auth/apikey/{key_id}"), owner, "disabled"),
        (format!("/v1/auth/apikey/{key_id}"), owner, "flags"),
        ("/v1/keyrings/ring/config".to_owned(), &app_key, "enabled"),
        (
            "/v1/keyrings/ring/config".to_owned(),
            &app_key,
            "min_decryption_version",
        ),
        (
            "/v1/keyrings/ring/config".to_owned(),
            &app_key,
            "cache_ttl_seconds",
        ),
        ("/v1/keys/k".to_owned(), &app_key, "enabled"),
        ("/v1/keys/k".to_owned(), &app_key, "min_version"),
    ];
    for (path, key, field) in &cases {
        let before = s.get(path, key).await?.body;
        let reply = s.patch(path, key, json!({ *field: null })).await?;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "invalid_input"),
            "PATCH {path} {{{field}: null}}: {}",
            reply.body
        );
        let message = reply.message();
        assert!(
            message.contains(&format!("`{field}` cannot be null")),
            "{path}: {message}"
        );
        assert_eq!(
            s.get(path, key).await?.body,
            before,
            "{path}: nothing changed"
        );
    }
    // A PATCH that carries a value and a null is refused whole.
    let mixed = s
        .patch(
            &format!("/v1/users/{user}"),
            owner,
            json!({"suspended": true, "role": null}),
        )
        .await?;
    mixed.assert_status(400);
    assert_eq!(
        s.get(&format!("/v1/users/{user}"), owner).await?.body["suspended"],
        false
    );
    // Other bodies refuse a null optional field the same way: leave it out instead.
    let posts = [
        (
            "/v1/keys/k/csr",
            json!({"common_name": "k", "organization": null}),
            "organization",
        ),
        (
            "/v1/keys/k/sign",
            json!({"message": "eA==", "algorithm": null}),
            "algorithm",
        ),
        (
            "/v1/keyrings",
            json!({"name": "r2", "group": group, "cache_ttl_seconds": null}),
            "cache_ttl_seconds",
        ),
    ];
    for (path, body, field) in posts {
        let key = if path == "/v1/keyrings" {
            owner.as_str()
        } else {
            app_key.as_str()
        };
        let reply = s.post(path, key, body).await?;
        reply.assert_error_because(400, "invalid_input", path);
        let message = reply.message();
        assert!(
            message.contains(&format!("`{field}` cannot be null")),
            "{message}"
        );
    }
    let cleared = s
        .patch(
            "/v1/keyrings/ring/config",
            &app_key,
            json!({"rotation_period_days": null, "max_encrypt_count": null}),
        )
        .await?;
    assert_eq!(
        (cleared.status, cleared.body["rotation_period_days"].clone()),
        (200, serde_json::Value::Null),
        "{}",
        cleared.body
    );
    Ok(())
}

/// Every `$ref` in `value`.
fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v.as_str()) {
                    ("$ref", Some(target)) => out.push(target.to_owned()),
                    _ => refs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The served document is complete enough for a generator (Schemathesis runs over it in
/// CI): query parameters with types and limits, patterns for names, e-mails and base64,
/// closed request bodies, and every error status with the error schema.
#[tokio::test]
async fn the_openapi_document_declares_query_parameters_patterns_and_every_error_status()
-> TestResult {
    let s = TestServer::start().await?;
    let doc = s
        .anonymous(reqwest::Method::GET, "/v1/openapi.json")
        .await?
        .body;
    let params = |method: &str, path: &str| -> Vec<(String, serde_json::Value)> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p["in"] == "query")
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_owned(),
                    p["schema"].clone(),
                )
            })
            .collect()
    };
    let names = |list: &[(String, serde_json::Value)]| -> Vec<String> {
        list.iter().map(|(n, _)| n.clone()).collect()
    };
    let activity = params("get", "/v1/activity");
    assert_eq!(
        names(&activity),
        [
            "since",
            "until",
            "principal",
            "object",
            "action",
            "outcome",
            "before",
            "limit"
        ]
    );
    assert_eq!(
        activity[7].1,
        json!({"type": "integer", "minimum": 1, "maximum": 1000})
    );
    assert_eq!(activity[0].1["format"], "date-time");
    let objects = params("get", "/v1/objects");
    assert_eq!(names(&objects), ["group", "type"]);
    assert_eq!(
        objects[1].1["enum"],
        json!(["keyring", "key_pair", "public_key", "certificate"])
    );
    assert_eq!(names(&params("get", "/v1/keys/{name}/public")), ["version"]);
    assert_eq!(
        params("delete", "/v1/groups/{id}"),
        [("force".to_owned(), json!({"type": "boolean"}))]
    );

    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    let name_pattern = "^[A-Za-z0-9_-]{1,64}$";
    for (body, field) in [
        ("CreateGroup", "name"),
        ("CreateApp", "name"),
        ("CreateTrustedCa", "name"),
        ("PatchApp", "name"),
    ] {
        assert_eq!(
            schema(body)["properties"][field]["pattern"],
            name_pattern,
            "{body}"
        );
    }
    assert_eq!(
        doc["paths"]["/v1/keyrings/{ring}/encrypt"]["post"]["parameters"][0]["schema"]["pattern"],
        name_pattern
    );
    assert!(
        schema("CreateUser")["properties"]["email"]["pattern"]
            .as_str()
            .is_some_and(|p| p.contains('@')),
        "e-mails are patterned"
    );
    let base64 = schema("Encrypt")["properties"]["plaintext"]["pattern"].clone();
    assert!(
        base64.as_str().is_some_and(|p| p.contains("==")),
        "{base64}"
    );
    assert_eq!(
        schema("KeyDecrypt")["properties"]["ciphertext"]["pattern"],
        base64
    );
    assert_eq!(
        schema("CsrRequest")["properties"]["country"]["pattern"],
        "^[A-Z]{2}$"
    );
    // `{"role": null}` is not valid: the role is an enum of strings, and a PATCH needs a field.
    assert_eq!(
        schema("PatchUser")["properties"]["role"],
        json!({"type": "string", "enum": ["owner", "admin", "member", "auditor"]})
    );
    assert_eq!(schema("PatchUser")["minProperties"], 1);
    for (name, body) in doc["components"]["schemas"].as_object().expect("schemas") {
        if body["type"] == "object" {
            assert_eq!(body["additionalProperties"], false, "{name} is closed");
        }
    }

    let mut checked = 0;
    for route in coffer::catalogue::ALL {
        let op = &doc["paths"][route.path][route.method.as_str()];
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            !responses.contains_key("default"),
            "{} {}: statuses are listed",
            route.method,
            route.path
        );
        assert!(responses.contains_key(&route.status.to_string()));
        for (status, response) in responses {
            if status.starts_with('4') || (status.starts_with('5') && route.path != "/v1/ready") {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{} {} {status}",
                    route.method,
                    route.path
                );
            }
        }
        if !route.flags.is_empty() {
            for status in ["401", "403", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{} {} {status}",
                    route.method,
                    route.path
                );
            }
        }
        if route.request.is_some() {
            for status in ["400", "413"] {
                assert!(
                    responses.contains_key(status),
                    "{} {} {status}",
                    route.method,
                    route.path
                );
            }
        }
        if route.path.contains('{') {
            assert!(
                responses.contains_key("404"),
                "{} {}",
                route.method,
                route.path
            );
        }
        checked += 1;
    }
    assert_eq!(checked, coffer::catalogue::ALL.len());
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    for target in targets {
        let name = target.trim_start_matches("#/components/schemas/");
        assert!(schema(name).is_object(), "{target} resolves");
    }
    Ok(())
}

/// A method the path does not serve is a 405 in the contract's JSON shape, under the request
/// id the client sees (the renderer keeps the status its producer set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_the_path_does_not_serve_is_a_json_405() -> TestResult {
    let s = TestServer::start().await?;
    let reply = s.anonymous(reqwest::Method::PUT, "/v1/keyrings").await?;
    reply.assert_status(405);
    assert_eq!(reply.body["error"]["code"], "invalid_input");
    assert_eq!(reply.body["error"]["request_id"], reply.request_id());
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("PUT")),
        "{}",
        reply.body
    );
    Ok(())
}
