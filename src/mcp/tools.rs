//! The tools: one per agent-facing `/v1/ai` route, with the scope it needs. A tool's input
//! schema is built from the route's entry in the OpenAPI document (its path and query
//! parameters and its request body), so the tool takes exactly what the route takes; a call's
//! arguments are split back into path, query and body the same way.

use crate::catalogue::Method;
use serde_json::{Map, Value, json};

/// One MCP tool and the route it calls.
#[derive(Debug)]
pub struct Tool {
    pub name: &'static str,
    pub method: Method,
    pub path: &'static str,
    /// The agent scope the route needs; `None` for a route every agent may call.
    pub scope: Option<&'static str>,
    pub description: &'static str,
}

const fn tool(
    name: &'static str,
    method: Method,
    path: &'static str,
    scope: Option<&'static str>,
    description: &'static str,
) -> Tool {
    Tool {
        name,
        method,
        path,
        scope,
        description,
    }
}

use Method::{Get, Post, Put};

/// Every tool, in the order `tools/list` shows them.
pub const TOOLS: &[Tool] = &[
    tool(
        "whoami",
        Get,
        "/v1/ai/whoami",
        None,
        "This agent's identity: its id, name, scopes and group allowlist (an empty allowlist means every group).",
    ),
    tool(
        "list_groups",
        Get,
        "/v1/ai/groups",
        Some("groups.read"),
        "List the groups this agent may see.",
    ),
    tool(
        "create_group",
        Post,
        "/v1/ai/groups",
        Some("groups.write"),
        "Create a group (it joins this agent's allowlist when the allowlist is not empty).",
    ),
    tool(
        "list_secrets",
        Get,
        "/v1/ai/secrets",
        Some("secrets.metadata.read"),
        "List secrets' metadata (names, groups, versions, rotation); values are never returned.",
    ),
    tool(
        "get_secret",
        Get,
        "/v1/ai/secrets/{name}",
        Some("secrets.metadata.read"),
        "One secret's metadata; its value is never returned.",
    ),
    tool(
        "create_secret",
        Post,
        "/v1/ai/secrets",
        Some("secrets.write"),
        "Create a secret with a value you give; Coffer seals it and answers with metadata only.",
    ),
    tool(
        "update_secret_value",
        Put,
        "/v1/ai/secrets/{name}/value",
        Some("secrets.write"),
        "Write a new version of a secret's value; the answer is metadata only.",
    ),
    tool(
        "rotate_secret",
        Post,
        "/v1/ai/secrets/{name}/rotate",
        Some("secrets.write"),
        "Rotate a secret now: Coffer generates the new value and does not return it.",
    ),
    tool(
        "list_keyrings",
        Get,
        "/v1/ai/keyrings",
        Some("keyrings.manage"),
        "List keyrings (symmetric keys kept in the HSM).",
    ),
    tool(
        "create_keyring",
        Post,
        "/v1/ai/keyrings",
        Some("keyrings.manage"),
        "Create a keyring in a group; its key material is made in and never leaves the HSM.",
    ),
    tool(
        "list_machines",
        Get,
        "/v1/ai/machines",
        Some("machines.read"),
        "List machines, e.g. those pending approval (status=pending).",
    ),
    tool(
        "read_activity",
        Get,
        "/v1/ai/activity",
        Some("audit.read"),
        "Read the audit trail, newest first, with optional filters.",
    ),
    tool(
        "list_alert_rules",
        Get,
        "/v1/ai/alerts",
        Some("alerts.write"),
        "List the alert rules.",
    ),
    tool(
        "create_alert_rule",
        Post,
        "/v1/ai/alerts",
        Some("alerts.write"),
        "Create an alert rule.",
    ),
    tool(
        "create_share",
        Post,
        "/v1/ai/shares",
        Some("shares.create"),
        "Create a one-time share and get its link and passphrase to hand to a human. Opening it with this agent's identity destroys it.",
    ),
];

/// The tool named `name`.
pub fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|tool| tool.name == name)
}

/// Whether an agent holding `scopes` may call `tool`.
pub fn allowed(tool: &Tool, scopes: &[String]) -> bool {
    tool.scope
        .is_none_or(|needed| scopes.iter().any(|s| s == needed))
}

/// The route's operation object in the OpenAPI `document`.
fn operation<'a>(document: &'a Value, tool: &Tool) -> &'a Value {
    &document["paths"][tool.path][tool.method.as_str()]
}

/// The route's parameters in `place` (`path` or `query`): name, schema, description, required.
fn parameters<'a>(op: &'a Value, place: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |p| p["in"] == place)
}

/// `schema` with every `$ref` into the document's components replaced by the component,
/// since MCP clients see the schema alone. `depth` bounds recursive components.
fn inline(schema: &Value, components: &Value, depth: u8) -> Value {
    match schema {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                return if depth == 0 {
                    json!({})
                } else {
                    inline(&components[name], components, depth - 1)
                };
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), inline(v, components, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| inline(v, components, depth)).collect())
        }
        other => other.clone(),
    }
}

/// The route's request body schema, inlined, if it takes one.
fn body_schema(document: &Value, op: &Value) -> Option<Value> {
    let schema = op["requestBody"]["content"]["application/json"].get("schema")?;
    Some(inline(schema, &document["components"]["schemas"], 8))
}

/// Whether a body schema is a plain object whose properties can sit beside the parameters.
fn is_flat_object(body: &Value) -> bool {
    body["type"] == "object" && body["properties"].is_object()
}

/// The JSON schema of the tool's arguments: the route's path and query parameters, and its
/// body's properties (or the whole body as `body` when it is not a plain object).
pub fn input_schema(document: &Value, tool: &Tool) -> Value {
    let op = operation(document, tool);
    let components = &document["components"]["schemas"];
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    for param in parameters(op, "path").chain(parameters(op, "query")) {
        let name = param["name"].as_str().unwrap_or_default().to_owned();
        let mut schema = inline(&param["schema"], components, 8);
        if let Some(description) = param.get("description") {
            schema["description"] = description.clone();
        }
        if param["required"] == true {
            required.push(json!(name));
        }
        properties.insert(name, schema);
    }
    match body_schema(document, op) {
        Some(body) if is_flat_object(&body) => {
            if let Some(fields) = body["properties"].as_object() {
                properties.extend(fields.clone());
            }
            required.extend(body["required"].as_array().cloned().unwrap_or_default());
        }
        Some(body) => {
            properties.insert("body".to_owned(), body);
            required.push(json!("body"));
        }
        None => {}
    }
    json!({"type": "object", "properties": properties, "required": required,
           "additionalProperties": false})
}

/// A route call built from a tool's arguments.
#[derive(Debug, PartialEq)]
pub struct Call {
    pub method: Method,
    /// The path with its parameters filled in and the query string appended.
    pub target: String,
    pub body: Option<Value>,
}

/// An argument as text for a path or a query string: strings as they are, numbers and
/// booleans as JSON writes them.
fn argument_text(name: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(_) | Value::Bool(_) => Ok(value.to_string()),
        _ => Err(format!(
            "argument {name:?} must be a string, a number or a boolean"
        )),
    }
}

/// The path with each `{name}` replaced by its percent-encoded argument (so an argument can
/// never reach another route), taking those arguments out of `args`.
fn fill_path(path: &str, args: &mut Map<String, Value>) -> Result<String, String> {
    let mut filled = Vec::new();
    for segment in path.split('/') {
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let value = args
                    .remove(name)
                    .ok_or_else(|| format!("argument {name:?} is required"))?;
                let text = argument_text(name, &value)?;
                filled.push(crate::cli::client::percent_encode(&text));
            }
            None => filled.push(segment.to_owned()),
        }
    }
    Ok(filled.join("/"))
}

/// Splits a tool call's arguments into the route's path, query and body.
pub fn call(document: &Value, tool: &Tool, arguments: &Value) -> Result<Call, String> {
    let mut args = match arguments {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        _ => return Err("arguments must be an object".to_owned()),
    };
    let op = operation(document, tool);
    let path = fill_path(tool.path, &mut args)?;
    let mut query = Vec::new();
    for param in parameters(op, "query") {
        let name = param["name"].as_str().unwrap_or_default();
        if let Some(value) = args.remove(name) {
            query.push((name, argument_text(name, &value)?));
        }
    }
    let target = crate::cli::client::with_query(&path, &query);
    let body = match body_schema(document, op) {
        Some(schema) if !is_flat_object(&schema) => {
            Some(args.remove("body").ok_or("argument \"body\" is required")?)
        }
        Some(_) => Some(Value::Object(std::mem::take(&mut args))),
        None => None,
    };
    if let Some(unknown) = args.keys().next() {
        return Err(format!("unknown argument {unknown:?}"));
    }
    Ok(Call {
        method: tool.method,
        target,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        crate::http::openapi::document()
    }

    const READ_VALUE: Tool = tool("t", Get, "/v1/secrets/{name}/value", None, "");
    const CREATE_KEYRING: Tool = tool("t", Post, "/v1/keyrings", None, "");

    #[test]
    fn a_schema_has_the_path_query_and_body_fields_of_its_route() {
        let schema = input_schema(&document(), &READ_VALUE);
        assert_eq!(schema["properties"]["name"]["type"], "string");
        assert_eq!(schema["properties"]["version"]["type"], "integer");
        assert_eq!(schema["required"], json!(["name"]));
        let schema = input_schema(&document(), &CREATE_KEYRING);
        assert!(schema["properties"]["name"].is_object(), "{schema}");
        assert!(schema["properties"]["group"].is_object(), "{schema}");
        assert!(
            !schema.to_string().contains("$ref"),
            "refs are inlined: {schema}"
        );
    }

    #[test]
    fn arguments_split_into_an_encoded_path_a_query_and_a_body() {
        let call = super::call(
            &document(),
            &READ_VALUE,
            &json!({"name": "../keys/x y", "version": 2}),
        )
        .unwrap();
        assert_eq!(call.target, "/v1/secrets/..%2Fkeys%2Fx%20y/value?version=2");
        assert_eq!(call.body, None);
        let call = super::call(
            &document(),
            &CREATE_KEYRING,
            &json!({"name": "payments", "group": "g1"}),
        )
        .unwrap();
        assert_eq!(call.target, "/v1/keyrings");
        assert_eq!(call.body, Some(json!({"name": "payments", "group": "g1"})));
    }

    #[test]
    fn a_missing_path_argument_or_an_unknown_one_is_refused() {
        let missing = super::call(&document(), &READ_VALUE, &json!({})).unwrap_err();
        assert!(missing.contains("\"name\" is required"), "{missing}");
        let unknown =
            super::call(&document(), &READ_VALUE, &json!({"name": "a", "colour": 1})).unwrap_err();
        assert!(unknown.contains("colour"), "{unknown}");
    }

    #[test]
    fn a_tool_is_listed_only_with_its_scope() {
        let scopes = vec!["groups.read".to_owned()];
        assert!(allowed(find("list_groups").unwrap(), &scopes));
        assert!(allowed(find("whoami").unwrap(), &scopes));
        assert!(!allowed(find("create_secret").unwrap(), &scopes));
    }
}

#[cfg(test)]
mod catalogue_tests {
    use super::*;

    /// The tool table and the catalogue's agent-facing routes are one-to-one, and a tool
    /// declares the scope its route's `ai.<scope>` flag names.
    #[test]
    fn there_is_one_tool_per_agent_facing_route_with_its_scope() {
        let routes = crate::catalogue::AGENT_FACING;
        assert_eq!(TOOLS.len(), routes.len());
        for tool in TOOLS {
            let route = routes
                .iter()
                .find(|r| r.method == tool.method && r.path == tool.path)
                .unwrap_or_else(|| panic!("{} calls no agent-facing route", tool.name));
            let flag = route.flags.first().copied().unwrap_or_default();
            let scope = flag.strip_prefix("ai.").filter(|s| *s != "whoami");
            assert_eq!(tool.scope, scope, "{}", tool.name);
        }
    }
}
