//! JSON-RPC 2.0 over standard input and output, one message per line, as MCP's stdio
//! transport defines it. The server answers `initialize`, `ping`, `tools/list` and
//! `tools/call`; notifications get no answer; anything else is "method not found". Nothing
//! but protocol messages is ever written to the output (diagnostics go to standard error).

use super::tools::{self, Tool};
use serde_json::{Value, json};
use std::future::Future;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol revisions this server speaks; it only offers tools, which every revision
/// has in the same shape. A client asking for another gets the newest.
const PROTOCOL_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;

/// How the server reaches Coffer: one signed request to a route, answered with its status
/// and JSON body. An error is a transport failure (no answer at all).
pub trait Transport {
    fn call(
        &self,
        method: reqwest::Method,
        target: &str,
        body: Option<Value>,
    ) -> impl Future<Output = anyhow::Result<(u16, Value)>>;
}

/// A JSON-RPC error: its code and a message for the client.
struct RpcError {
    code: i64,
    message: String,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The MCP server: a transport, and the OpenAPI document the tools' schemas come from.
pub struct Server<T> {
    transport: T,
    document: Value,
}

fn reqwest_method(method: crate::catalogue::Method) -> reqwest::Method {
    use crate::catalogue::Method;
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

impl<T: Transport> Server<T> {
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            document: crate::http::openapi::document(),
        }
    }

    /// Reads messages until the input ends, writing each answer as one line.
    pub async fn run(
        &self,
        input: impl AsyncBufRead + Unpin,
        mut output: impl AsyncWrite + Unpin,
    ) -> anyhow::Result<()> {
        let mut lines = input.lines();
        while let Some(line) = lines.next_line().await? {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(answer) = self.handle(&line).await {
                output.write_all(answer.to_string().as_bytes()).await?;
                output.write_all(b"\n").await?;
                output.flush().await?;
            }
        }
        Ok(())
    }

    /// The answer to one message, `None` for a notification.
    pub async fn handle(&self, line: &str) -> Option<Value> {
        let message: Value = match serde_json::from_str(line) {
            Ok(message) => message,
            Err(e) => {
                return Some(failure(
                    Value::Null,
                    RpcError::new(PARSE_ERROR, e.to_string()),
                ));
            }
        };
        let id = message.get("id").cloned();
        let method = message["method"].as_str();
        let (Some(id), Some(method)) = (id, method) else {
            // A notification (no id), or a response to a request we never send.
            return message
                .get("id")
                .filter(|_| {
                    method.is_none()
                        && message.get("result").is_none()
                        && message.get("error").is_none()
                })
                .map(|id| {
                    failure(
                        id.clone(),
                        RpcError::new(INVALID_REQUEST, "a request needs a method"),
                    )
                });
        };
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        Some(match self.dispatch(method, &params).await {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(e) => failure(id, e),
        })
    }

    async fn dispatch(&self, method: &str, params: &Value) -> Result<Value, RpcError> {
        match method {
            "initialize" => Ok(initialize(params)),
            "ping" => Ok(json!({})),
            "tools/list" => self.list_tools().await,
            "tools/call" => self.call_tool(params).await,
            _ => Err(RpcError::new(
                METHOD_NOT_FOUND,
                format!("method {method:?} is not served"),
            )),
        }
    }

    /// The tools this agent's scopes allow, asked of the server each time so a scope change
    /// shows at once.
    async fn list_tools(&self) -> Result<Value, RpcError> {
        let scopes = self.scopes().await?;
        let listed: Vec<Value> = tools::TOOLS
            .iter()
            .filter(|tool| tools::allowed(tool, &scopes))
            .map(|tool| self.describe(tool))
            .collect();
        Ok(json!({"tools": listed}))
    }

    fn describe(&self, tool: &Tool) -> Value {
        let description = match tool.scope {
            Some(scope) => format!("{} (scope {scope})", tool.description),
            None => tool.description.to_owned(),
        };
        json!({"name": tool.name, "description": description,
               "inputSchema": tools::input_schema(&self.document, tool)})
    }

    /// The scopes the installed agent holds now.
    async fn scopes(&self) -> Result<Vec<String>, RpcError> {
        let (status, body) = self
            .transport
            .call(reqwest::Method::GET, "/v1/ai/whoami", None)
            .await
            .map_err(|e| RpcError::new(INTERNAL_ERROR, format!("Coffer is unreachable: {e:#}")))?;
        if status != 200 {
            return Err(RpcError::new(
                INTERNAL_ERROR,
                format!("Coffer refused this agent: {}", refusal(status, &body)),
            ));
        }
        Ok(body["scopes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect())
    }

    /// Calls the tool's route. A refusal by Coffer is a tool result with `isError` (the
    /// model reads it and can act on it); a malformed call is a protocol error.
    async fn call_tool(&self, params: &Value) -> Result<Value, RpcError> {
        let name = params["name"]
            .as_str()
            .ok_or_else(|| RpcError::new(INVALID_PARAMS, "tools/call needs a tool name"))?;
        let tool = tools::find(name)
            .ok_or_else(|| RpcError::new(INVALID_PARAMS, format!("unknown tool {name:?}")))?;
        let call = tools::call(&self.document, tool, &params["arguments"])
            .map_err(|e| RpcError::new(INVALID_PARAMS, e))?;
        let (status, body) = self
            .transport
            .call(reqwest_method(call.method), &call.target, call.body)
            .await
            .map_err(|e| RpcError::new(INTERNAL_ERROR, format!("Coffer is unreachable: {e:#}")))?;
        Ok(tool_result(status, &body))
    }
}

/// The answer to `initialize`: the client's protocol revision when we speak it, else ours.
fn initialize(params: &Value) -> Value {
    let asked = params["protocolVersion"].as_str();
    let version = asked
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(PROTOCOL_VERSIONS[PROTOCOL_VERSIONS.len() - 1]);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": "coffer", "version": env!("CARGO_PKG_VERSION")},
        "instructions": "Coffer keeps keys and secrets in an HSM. These tools manage them under this agent's scopes; no tool ever returns a stored secret's value or a decrypted payload."
    })
}

/// How Coffer's refusal reads: the status, the error code and its message.
fn refusal(status: u16, body: &Value) -> String {
    match (
        body["error"]["code"].as_str(),
        body["error"]["message"].as_str(),
    ) {
        (Some(code), Some(message)) => format!("HTTP {status} {code}: {message}"),
        _ => format!("HTTP {status}"),
    }
}

/// A tool result: the route's JSON answer as text, or Coffer's refusal with `isError`.
fn tool_result(status: u16, body: &Value) -> Value {
    if (200..300).contains(&status) {
        let text = if body.is_null() {
            format!("done (HTTP {status})")
        } else {
            serde_json::to_string_pretty(body).unwrap_or_default()
        };
        json!({"content": [{"type": "text", "text": text}], "isError": false})
    } else {
        json!({"content": [{"type": "text", "text": refusal(status, body)}], "isError": true})
    }
}

fn failure(id: Value, error: RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": error.code, "message": error.message}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers whoami with fixed scopes and records every other call (a unit-test stand-in
    /// for the server; the real server is exercised by `tests/api/mcp.rs`).
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<(reqwest::Method, String, Option<Value>)>>,
    }

    impl Transport for Recorder {
        async fn call(
            &self,
            method: reqwest::Method,
            target: &str,
            body: Option<Value>,
        ) -> anyhow::Result<(u16, Value)> {
            if target == "/v1/ai/whoami" {
                return Ok((200, json!({"scopes": ["groups.read"]})));
            }
            self.calls
                .lock()
                .unwrap()
                .push((method, target.to_owned(), body));
            Ok((
                403,
                json!({"error": {"code": "forbidden", "message": "no"}}),
            ))
        }
    }

    async fn answer(server: &Server<Recorder>, message: Value) -> Option<Value> {
        server.handle(&message.to_string()).await
    }

    #[tokio::test]
    async fn initialize_agrees_on_a_revision_and_offers_tools() {
        let server = Server::new(Recorder::default());
        let reply = answer(
            &server,
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}}}),
        )
        .await
        .unwrap();
        assert_eq!(reply["result"]["protocolVersion"], "2025-06-18");
        assert!(reply["result"]["capabilities"]["tools"].is_object());
        let reply = answer(
            &server,
            json!({"jsonrpc": "2.0", "id": 2, "method": "initialize",
            "params": {"protocolVersion": "1999-01-01"}}),
        )
        .await
        .unwrap();
        assert_eq!(reply["result"]["protocolVersion"], "2025-11-25");
    }

    #[tokio::test]
    async fn notifications_get_no_answer_and_unknown_methods_an_error() {
        let server = Server::new(Recorder::default());
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(answer(&server, note).await, None);
        let reply = answer(
            &server,
            json!({"jsonrpc": "2.0", "id": "x", "method": "resources/list"}),
        )
        .await
        .unwrap();
        assert_eq!(reply["id"], "x");
        assert_eq!(reply["error"]["code"], METHOD_NOT_FOUND);
        let reply = server.handle("{not json").await.unwrap();
        assert_eq!(reply["error"]["code"], PARSE_ERROR);
    }

    #[tokio::test]
    async fn tools_follow_the_scopes_and_a_refusal_is_a_tool_error() {
        let server = Server::new(Recorder::default());
        let reply = answer(
            &server,
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .await
        .unwrap();
        let names: Vec<&str> = reply["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["whoami", "list_groups"]);
        let reply = answer(
            &server,
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "rotate_secret", "arguments": {"name": "db"}}}),
        )
        .await
        .unwrap();
        assert_eq!(reply["result"]["isError"], true);
        let text = reply["result"]["content"][0]["text"].as_str().unwrap();
        assert_eq!(text, "HTTP 403 forbidden: no");
        let calls = server.transport.calls.lock().unwrap();
        assert_eq!(calls[0].1, "/v1/ai/secrets/db/rotate");
    }
}
