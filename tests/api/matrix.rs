//! The authorization matrix: every route × every kind of principal → the expected answer,
//! end to end over HTTPS against the real server, SoftHSM and SQLite.
//!
//! Cells: `Y` the request passes authentication and authorization (the route's own answer:
//! 2xx, or 400/409/422 for the deliberately harmless bodies below), `F` 403, `N` 404,
//! `U` 401. A route the router serves without a row here fails the test.

use crate::support::{
    ClientCert, MachineKey, RawRequest, Reply, TestResult, TestServer, self_signed_client, unix_now,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const PASSWORD: &str = "correct horse battery staple";

/// The columns, in order.
const PRINCIPALS: [&str; 12] = [
    "owner",         // owner, bootstrap API key *.*.*.*
    "admin",         // admin, login session
    "member",        // member of group G only, login session
    "auditor",       // auditor, login session
    "user-key",      // the member's API key, *.*.*.*
    "app-key",       // app in G with every operation, API key *.*.*.*
    "app-noflag",    // the same app, API key with only object.read
    "app-cert",      // another app in G, pinned TLS client certificate
    "app-outside",   // app in group H only, API key *.*.*.*
    "other-account", // owner of another account, API key *.*.*.*
    "none",          // no credential
    "machine",       // machine in G with every operation, signing with flags *.*.*.*
];

/// The rows spell out the first eleven columns. A machine is an app whose credential is a
/// signature, so its column must equal the app-key column in every row.
const SPELLED_OUT: usize = 11;
const APP_KEY_COLUMN: usize = 5;

/// Objects a row needs made afresh for every call, because the call may consume them.
#[derive(Clone, Copy, PartialEq)]
enum Fresh {
    No,
    /// Session principals log in again (the call ends the session).
    Sessions,
    /// `{id}` is a new session of the admin.
    AdminSession,
    /// `{id}` / `{user}` is a new member of the account (and of G for group routes).
    User,
    /// `{id}` / `{app}` is a new app in G.
    App,
    /// `{certificate}` is a new pinned certificate of the app.
    Binding,
    /// `{key}` is a new AWS access key pair of the app.
    AwsCredential,
    Keyring,
    TrashedKeyring,
    Key,
    TrashedKey,
    Secret,
    TrashedSecret,
}

struct Row {
    method: &'static str,
    path: &'static str,
    body: Value,
    fresh: Fresh,
    expect: &'static str,
}

fn row(method: &'static str, path: &'static str, body: Value, expect: &'static str) -> Row {
    Row {
        method,
        path,
        body,
        fresh: Fresh::No,
        expect,
    }
}

fn fresh(method: &'static str, path: &'static str, f: Fresh, expect: &'static str) -> Row {
    Row {
        method,
        path,
        body: Value::Null,
        fresh: f,
        expect,
    }
}

#[rustfmt::skip]
fn table() -> Vec<Row> {
    let none = Value::Null;
    vec![
        //                                                                             own adm mem aud ukey app nofl cert outg othr none
        row("get",    "/v1/health", none.clone(),                                      "Y Y Y Y Y Y Y Y Y Y Y"),
        row("get",    "/v1/ready", none.clone(),                                       "Y Y Y Y Y Y Y Y Y Y Y"),
        row("get",    "/metrics", none.clone(),                                        "Y Y Y Y Y Y Y Y Y Y Y"),
        row("get",    "/v1/openapi.json", none.clone(),                                "Y Y Y Y Y Y Y Y Y Y Y"),
        row("post",   "/v1/auth/login", json!({}),                                     "Y Y Y Y Y Y Y Y Y Y Y"),
        row("post",   "/v1/auth/password-reset", json!({}),                            "Y Y Y Y Y Y Y Y Y Y Y"),
        fresh("post", "/v1/auth/logout", Fresh::Sessions,                              "Y Y Y Y Y F F F F Y U"),
        row("get",    "/v1/auth/sessions", none.clone(),                               "Y Y Y Y Y F F F F Y U"),
        fresh("delete", "/v1/auth/sessions/{id}", Fresh::AdminSession,                 "N Y N N N F F F F N U"),
        row("post",   "/v1/auth/password", json!({"current_password": "x", "new_password": "weak"}),
                                                                                       "Y Y Y Y Y F F F F Y U"),
        row("post",   "/v1/auth/apikey", json!({"principal": "app_x", "name": "", "flags": {}}),
                                                                                       "Y Y F F F F F F F Y U"),
        row("get",    "/v1/auth/apikey", none.clone(),                                 "Y Y F Y F F F F F Y U"),
        row("get",    "/v1/auth/apikey/{id}", none.clone(),                            "Y Y F Y F F F F F N U"),
        row("patch",  "/v1/auth/apikey/{id}", json!({"flags": {"*.*.*.*": true}}),     "Y Y F F F F F F F N U"),
        row("post",   "/v1/accounts", json!({"name": ""}),                             "Y Y Y F Y F F F F Y U"),
        row("get",    "/v1/accounts", none.clone(),                                    "Y Y Y Y Y F F F F Y U"),
        row("get",    "/v1/accounts/{id}", none.clone(),                               "Y Y Y Y Y F F F F N U"),
        row("patch",  "/v1/accounts/{id}", json!({"name": "test"}),                    "Y F F F F F F F F N U"),
        row("post",   "/v1/accounts/{id}/deletion", none.clone(),                      "Y F F F F F F F F N U"),
        row("delete", "/v1/accounts/{id}", none.clone(),                               "Y F F F F F F F F N U"),
        row("delete", "/v1/accounts/{id}/deletion", none.clone(),                      "Y F F F F F F F F N U"),
        row("post",   "/v1/users", json!({"email": "not an email", "role": "member"}), "Y Y F F F F F F F Y U"),
        row("get",    "/v1/users", none.clone(),                                       "Y Y Y Y Y F F F F Y U"),
        row("get",    "/v1/users/{id}", none.clone(),                                  "Y Y Y Y Y F F F F N U"),
        row("patch",  "/v1/users/{id}", json!({"role": "member"}),                     "Y Y F F F F F F F N U"),
        fresh("delete", "/v1/users/{id}", Fresh::User,                                 "Y Y F F F F F F F N U"),
        row("post",   "/v1/users/{id}/password-reset", none.clone(),                   "Y Y F F F F F F F N U"),
        row("post",   "/v1/groups", json!({"name": "bad name!"}),                      "Y Y F F F F F F F Y U"),
        row("get",    "/v1/groups", none.clone(),                                      "Y Y Y Y Y F F F F Y U"),
        row("get",    "/v1/groups/{id}", none.clone(),                                 "Y Y Y Y Y F F F F N U"),
        row("patch",  "/v1/groups/{id}", json!({"name": "bad name!"}),                 "Y Y F F F F F F F N U"),
        row("delete", "/v1/groups/{id}", none.clone(),                                 "Y Y F F F F F F F N U"),
        row("get",    "/v1/groups/{id}/members", none.clone(),                         "Y Y Y Y Y F F F F N U"),
        row("post",   "/v1/groups/{id}/rotate-master", none.clone(),                   "Y Y F F F F F F F N U"),
        row("get",    "/v1/jobs/{id}", none.clone(),                                   "N N N N N F F F F N U"),
        row("put",    "/v1/groups/{id}/users/{user}", json!({"role": "member"}),       "Y Y F F F F F F F N U"),
        fresh("delete", "/v1/groups/{id}/users/{user}", Fresh::User,                   "Y Y F F F F F F F N U"),
        row("put",    "/v1/groups/{id}/apps/{app}", json!({"operations": ["encrypt", "decrypt", "sign", "verify", "wrap", "unwrap", "mac", "export", "manage-objects"]}),
                                                                                       "Y Y F F F F F F F N U"),
        fresh("delete", "/v1/groups/{id}/apps/{app}", Fresh::App,                      "Y Y F F F F F F F N U"),
        row("post",   "/v1/apps", json!({"name": "bad name!"}),                        "Y Y F F F F F F F Y U"),
        row("get",    "/v1/apps", none.clone(),                                        "Y Y Y Y Y F F F F Y U"),
        row("get",    "/v1/apps/{id}", none.clone(),                                   "Y Y Y Y Y F F F F N U"),
        row("patch",  "/v1/apps/{id}", json!({"enabled": true}),                       "Y Y F F F F F F F N U"),
        fresh("delete", "/v1/apps/{id}", Fresh::App,                                   "Y Y F F F F F F F N U"),
        row("get",    "/v1/apps/{id}/credentials", none.clone(),                       "Y Y Y Y Y F F F F N U"),
        row("post",   "/v1/apps/{id}/certificates", json!({"certificate": "garbage"}), "Y Y F F F F F F F N U"),
        fresh("delete", "/v1/apps/{id}/certificates/{certificate}", Fresh::Binding,    "Y Y F F F F F F F N U"),
        row("post",   "/v1/apps/{id}/aws-credentials", json!({"name": "", "flags": {"*.*.*.*": true}}),
                                                                                       "Y Y F F F F F F F N U"),
        row("get",    "/v1/apps/{id}/aws-credentials", none.clone(),                   "Y Y F Y F F F F F N U"),
        Row { body: json!({"disabled": false}),
            ..fresh("patch", "/v1/apps/{id}/aws-credentials/{key}", Fresh::AwsCredential, "Y Y F F F F F F F N U") },
        fresh("delete", "/v1/apps/{id}/aws-credentials/{key}", Fresh::AwsCredential,   "Y Y F F F F F F F N U"),
        row("post",   "/v1/trusted-cas", json!({"name": "ca", "certificate": "garbage"}),
                                                                                       "Y Y F F F F F F F Y U"),
        row("get",    "/v1/trusted-cas", none.clone(),                                 "Y Y Y Y Y F F F F Y U"),
        row("post",   "/v1/revocations", json!({"fingerprint": "zz"}),                 "Y Y F F F F F F F Y U"),
        row("get",    "/v1/revocations", none.clone(),                                 "Y Y Y Y Y F F F F Y U"),
        row("get",    "/v1/activity", none.clone(),                                    "Y Y F Y F F F F F Y U"),
        row("get",    "/v1/activity/export", none.clone(),                             "Y Y F Y F F F F F Y U"),
        row("post",   "/v1/activity/checkpoints", none.clone(),                        "Y Y F Y F F F F F Y U"),
        row("get",    "/v1/activity/checkpoints", none.clone(),                        "Y Y F Y F F F F F Y U"),
        row("get",    "/v1/activity/signing-key", none.clone(),                        "Y Y F Y F F F F F Y U"),
        row("get",    "/v1/objects", none.clone(),                                     "Y Y Y Y Y Y Y Y Y Y U"),
        // Machines: owners manage them; admins and auditors read (members do not).
        row("post",   "/v1/machine-tokens", json!({"kind": "bootstrap", "name": "bad name!", "flags": {}}),
                                                                                       "Y F F F F F F F F Y U"),
        row("get",    "/v1/machine-tokens", none.clone(),                              "Y Y F Y F F F F F Y U"),
        row("delete", "/v1/machine-tokens/{id}", none.clone(),                         "Y F F F F F F F F N U"),
        row("post",   "/v1/machines", json!({"name": "bad name!", "flags": {}}),       "Y F F F F F F F F Y U"),
        row("get",    "/v1/machines", none.clone(),                                    "Y Y F Y F F F F F Y U"),
        // The token (or bundle token) in the body is the credential: a bad body is a 400.
        row("post",   "/v1/machines/register", json!({}),                              "Y Y Y Y Y Y Y Y Y Y Y"),
        row("post",   "/v1/machines/bundle", json!({}),                                "Y Y Y Y Y Y Y Y Y Y Y"),
        row("get",    "/v1/machines/{id}", none.clone(),                               "Y Y F Y F F F F F N U"),
        row("post",   "/v1/machines/{id}/approve", none.clone(),                       "Y F F F F F F F F N U"),
        row("post",   "/v1/machines/{id}/disable", none.clone(),                       "Y F F F F F F F F N U"),
        row("post",   "/v1/machines/{id}/enable", none.clone(),                        "Y F F F F F F F F N U"),
        row("post",   "/v1/machines/{id}/extend", json!({"expires_at": "not a time"}), "Y F F F F F F F F N U"),
        row("post",   "/v1/machines/{id}/revert-extension", none.clone(),              "Y F F F F F F F F N U"),
        row("delete", "/v1/machines/{id}", none.clone(),                               "Y F F F F F F F F N U"),
        // Keyrings of group G.                                                        own adm mem aud ukey app nofl cert outg othr none
        row("post",   "/v1/keyrings", json!({"name": "ring", "group": "{group}"}),     "Y Y Y F Y Y F Y N N U"),
        row("get",    "/v1/keyrings", none.clone(),                                    "Y Y Y Y Y Y F Y Y Y U"),
        row("get",    "/v1/keyrings/{ring}", none.clone(),                             "Y Y Y Y Y Y F Y N N U"),
        fresh("delete", "/v1/keyrings/{ring}", Fresh::Keyring,                         "Y Y Y F Y Y F Y N N U"),
        fresh("post", "/v1/keyrings/{ring}/restore", Fresh::TrashedKeyring,            "Y Y Y F Y Y F Y N N U"),
        row("post",   "/v1/keyrings/{ring}/encrypt", json!({"plaintext": "aGk="}),     "F F F F F Y F Y N F U"),
        row("post",   "/v1/keyrings/{ring}/decrypt", json!({"ciphertext": "coffer:v1:AAAA"}),
                                                                                       "F F F F F Y F Y N F U"),
        row("post",   "/v1/keyrings/{ring}/rewrap", json!({"ciphertext": "coffer:v1:AAAA"}),
                                                                                       "F F F F F Y F Y N F U"),
        row("post",   "/v1/keyrings/{ring}/datakey", json!({}),                        "F F F F F Y F Y N F U"),
        row("post",   "/v1/keyrings/{ring}/rotate", none.clone(),                      "Y Y Y F Y Y F Y N N U"),
        row("get",    "/v1/keyrings/{ring}/config", none.clone(),                      "Y Y Y Y Y Y F Y N N U"),
        row("patch",  "/v1/keyrings/{ring}/config", json!({"enabled": true}),         "Y Y Y F Y Y F Y N N U"),
        row("get",    "/v1/keyrings/{ring}/keys", none.clone(),                        "Y Y Y Y Y Y F Y N N U"),
        row("get",    "/v1/keyrings/{ring}/hash/{hash}", none.clone(),                 "Y Y Y Y Y Y F Y N N U"),
        // Keys of group G.
        row("post",   "/v1/keys", json!({"name": "key", "group": "{group}", "algorithm": "ec-p256"}),
                                                                                       "Y Y Y F Y Y F Y N N U"),
        row("get",    "/v1/keys", none.clone(),                                        "Y Y Y Y Y Y F Y Y Y U"),
        row("get",    "/v1/keys/{name}", none.clone(),                                 "Y Y Y Y Y Y F Y N N U"),
        row("patch",  "/v1/keys/{name}", json!({"enabled": true}),                     "Y Y Y F Y Y F Y N N U"),
        fresh("delete", "/v1/keys/{name}", Fresh::Key,                                 "Y Y Y F Y Y F Y N N U"),
        fresh("post", "/v1/keys/{name}/restore", Fresh::TrashedKey,                    "Y Y Y F Y Y F Y N N U"),
        row("get",    "/v1/keys/{name}/public", none.clone(),                          "Y Y Y Y Y Y F Y N N U"),
        row("post",   "/v1/keys/{name}/sign", json!({"message": "aGk="}),              "F F F F F Y F Y N F U"),
        row("post",   "/v1/keys/{name}/verify", json!({"message": "aGk=", "signature": "AAAA"}),
                                                                                       "F F F F F Y F Y N F U"),
        row("post",   "/v1/keys/{name}/decrypt", json!({"ciphertext": "AAAA"}),        "F F F F F Y F Y N F U"),
        row("post",   "/v1/keys/{name}/rotate", none.clone(),                          "Y Y Y F Y Y F Y N N U"),
        row("post",   "/v1/keys/{name}/csr", json!({"common_name": "matrix"}),         "Y Y Y F Y Y F Y N N U"),
        row("post",   "/v1/keys/{name}/certificates", json!({"certificate": "garbage"}),
                                                                                       "Y Y Y F Y Y F Y N N U"),
        row("get",    "/v1/keys/{name}/certificates", none.clone(),                    "Y Y Y Y Y Y F Y N N U"),
        // No such certificate: allowed callers reach the lookup and get its 404.
        row("delete", "/v1/keys/{name}/certificates/{id}", none.clone(),               "N N N F N N F N N N U"),
        // Secrets of group G: apps read with a grant (the worker, the certificate app and the
        // machine hold one); users reveal with a group role that manages objects.
        row("post",   "/v1/secrets", json!({"name": "sec", "group": "{group}", "value": "x"}),
                                                                                       "Y Y Y F Y Y F Y N N U"),
        row("get",    "/v1/secrets", none.clone(),                                     "Y Y Y Y Y Y F Y Y Y U"),
        row("get",    "/v1/secrets/{name}", none.clone(),                              "Y Y Y Y Y Y F Y N N U"),
        row("get",    "/v1/secrets/{name}/value", none.clone(),                        "F F F F F Y F Y N F U"),
        row("get",    "/v1/secrets/{name}/fields/{field}", none.clone(),               "F F F F F Y F Y N F U"),
        row("post",   "/v1/secrets/{name}/reveal", json!({}),                          "Y Y Y F Y F F F F N U"),
        row("put",    "/v1/secrets/{name}/value", json!({"value": "y"}),               "Y Y Y F Y Y F Y N N U"),
        row("get",    "/v1/secrets/{name}/versions", none.clone(),                     "Y Y Y Y Y Y F Y N N U"),
        row("post",   "/v1/secrets/{name}/rollback", json!({"version": 1}),            "Y Y Y F Y Y F Y N N U"),
        row("put",    "/v1/secrets/{name}/rotation", json!({"interval_seconds": 1}),   "Y Y Y F Y Y F Y N N U"),
        row("delete", "/v1/secrets/{name}/rotation", none.clone(),                     "Y Y Y F Y Y F Y N N U"),
        row("post",   "/v1/secrets/{name}/rotate", none.clone(),                       "Y Y Y F Y Y F Y N N U"),
        row("get",    "/v1/secrets/{name}/grants", none.clone(),                       "Y Y Y Y Y Y F Y N N U"),
        row("put",    "/v1/secrets/{name}/grants/{app}", none.clone(),                 "Y Y Y F Y F F F F N U"),
        // A fresh app holds no grant: allowed callers reach the revocation and get its 404.
        fresh("delete", "/v1/secrets/{name}/grants/{app}", Fresh::App,                 "N N N F N F F F F N U"),
        fresh("delete", "/v1/secrets/{name}", Fresh::Secret,                           "Y Y Y F Y Y F Y N N U"),
        fresh("post", "/v1/secrets/{name}/restore", Fresh::TrashedSecret,              "Y Y Y F Y Y F Y N N U"),
        // The secret is not managed: allowed agents get the 409 of a secret without versions
        // to apply.
        row("get",    "/v1/secrets/{name}/pending", none.clone(),                      "F F F F F Y F Y N F U"),
        row("post",   "/v1/secrets/{name}/versions/{version}/applied", none.clone(),   "F F F F F Y F Y N F U"),
        row("post",   "/v1/secrets/{name}/versions/{version}/failed", json!({"reason": "x"}),
                                                                                       "F F F F F Y F Y N F U"),
        // Last: a frozen group refuses app reads until the owner's unfreeze just after.
        row("post",   "/v1/groups/{id}/freeze", json!({}),                             "Y Y F F F F F F F N U"),
        row("post",   "/v1/groups/{id}/unfreeze", none.clone(),                        "Y Y F F F F F F F N U"),
        // One-time shares of group G: users only. No such share for open and delete: allowed
        // callers reach the lookup and get its 404; opening needs no credential.
        row("post",   "/v1/shares", json!({"group": "{group}", "value": "v", "expires_in_seconds": 60}),
                                                                                       "Y Y Y F Y F F F F N U"),
        row("get",    "/v1/shares", none.clone(),                                      "Y Y Y Y Y F F F F Y U"),
        row("delete", "/v1/shares/{id}", none.clone(),                                 "N N N F N F F F F N U"),
        row("post",   "/v1/shares/{id}/open", json!({"passphrase": "wrong"}),          "N N N N N F F F F N N"),
        row("get",    "/s/{id}", none.clone(),                                         "Y Y Y Y Y Y Y Y Y Y Y"),
        // Access policies: owners and admins only. No such policy: allowed callers reach the
        // lookup and get its 404; a bad name is a 400 before the group is looked up.
        row("post",   "/v1/policies", json!({"group": "{group}", "name": "bad name!", "rate": {"per_minute": 1}}),
                                                                                       "Y Y F F F F F F F Y U"),
        row("get",    "/v1/policies", none.clone(),                                    "Y Y F F F F F F F Y U"),
        row("get",    "/v1/policies/{id}", none.clone(),                               "N N F F F F F F F N U"),
        row("patch",  "/v1/policies/{id}", json!({"rate": null}),                      "N N F F F F F F F N U"),
        row("delete", "/v1/policies/{id}", none.clone(),                               "N N F F F F F F F N U"),
        row("get",    "/v1/policies/{id}/bindings", none.clone(),                      "N N F F F F F F F N U"),
        row("put",    "/v1/policies/{id}/bindings/{kind}/{object}", none.clone(),      "N N F F F F F F F N U"),
        row("delete", "/v1/policies/{id}/bindings/{kind}/{object}", none.clone(),      "N N F F F F F F F N U"),
        // The live stream: the feed's flags (allowed callers get the 200 of the stream).
        row("get",    "/v1/activity/stream", none.clone(),                             "Y Y F Y F F F F F Y U"),
        // Alert rules: owners and admins manage, auditors read. The body's URL is refused
        // (400), so nothing is created; no such rule or delivery: allowed callers get 404.
        row("post",   "/v1/alerts", json!({"name": "a", "url": "ftp://x"}),            "Y Y F F F F F F F Y U"),
        row("get",    "/v1/alerts", none.clone(),                                      "Y Y F Y F F F F F Y U"),
        row("get",    "/v1/alerts/{id}", none.clone(),                                 "N N F N F F F F F N U"),
        row("patch",  "/v1/alerts/{id}", json!({}),                                    "N N F F F F F F F N U"),
        row("delete", "/v1/alerts/{id}", none.clone(),                                 "N N F F F F F F F N U"),
        row("post",   "/v1/alerts/{id}/rotate-secret", none.clone(),                   "N N F F F F F F F N U"),
        row("post",   "/v1/alerts/{id}/test", none.clone(),                            "N N F F F F F F F N U"),
        row("get",    "/v1/alerts/{id}/deliveries", none.clone(),                      "N N F N F F F F F N U"),
        row("post",   "/v1/alerts/deliveries/{id}/retry", none.clone(),                "N N F F F F F F F N U"),
        // Quorums: no quorum is set, so allowed callers get a 400 for the empty approvers,
        // a 404 for reading or clearing. Approvals: none exists, so deciding is a 404.
        row("put",    "/v1/groups/{id}/quorum", json!({"approvers": [], "required": 1}),
                                                                                       "Y Y F F F F F F F N U"),
        row("get",    "/v1/groups/{id}/quorum", none.clone(),                          "N N N N N F F F F N U"),
        row("delete", "/v1/groups/{id}/quorum", none.clone(),                          "N N F F F F F F F N U"),
        row("put",    "/v1/account/quorum", json!({"approvers": [], "required": 1}),   "Y F F F F F F F F Y U"),
        row("get",    "/v1/account/quorum", none.clone(),                              "N N N N N F F F F N U"),
        row("delete", "/v1/account/quorum", none.clone(),                              "N F F F F F F F F N U"),
        row("get",    "/v1/approvals", none.clone(),                                   "Y Y Y Y Y F F F F Y U"),
        row("get",    "/v1/approvals/{id}", none.clone(),                              "N N N N N F F F F N U"),
        row("post",   "/v1/approvals/{id}/approve", none.clone(),                      "N N F F F F F F F N U"),
        row("post",   "/v1/approvals/{id}/deny", json!({}),                            "N N F F F F F F F N U"),
        // AI agents: management is owners' and admins' (no agent exists, so an id is a 404);
        // the agent-facing routes take an agent's signature only, so every column here is 401.
        row("post",   "/v1/ai/bootstrap-tokens", json!({"name": ""}),                  "Y Y F F F F F F F Y U"),
        row("get",    "/v1/ai/bootstrap-tokens", none.clone(),                         "Y Y F F F F F F F Y U"),
        row("delete", "/v1/ai/bootstrap-tokens/{id}", none.clone(),                    "N N F F F F F F F N U"),
        row("post",   "/v1/ai/agents/register", json!({}),                             "Y Y Y Y Y Y Y Y Y Y Y"),
        row("get",    "/v1/ai/agents", none.clone(),                                   "Y Y F F F F F F F Y U"),
        row("get",    "/v1/ai/agents/{id}", none.clone(),                              "N N F F F F F F F N U"),
        row("patch",  "/v1/ai/agents/{id}", json!({"name": "x"}),                      "N N F F F F F F F N U"),
        row("post",   "/v1/ai/agents/{id}/disable", none.clone(),                      "N N F F F F F F F N U"),
        row("post",   "/v1/ai/agents/{id}/enable", none.clone(),                       "N N F F F F F F F N U"),
        row("delete", "/v1/ai/agents/{id}", none.clone(),                              "N N F F F F F F F N U"),
        row("get",    "/v1/ai/whoami", none.clone(),                                   "U U U U U U U U U U U"),
        row("get",    "/v1/ai/groups", none.clone(),                                   "U U U U U U U U U U U"),
        row("post",   "/v1/ai/groups", json!({"name": "x"}),                           "U U U U U U U U U U U"),
        row("get",    "/v1/ai/secrets", none.clone(),                                  "U U U U U U U U U U U"),
        row("get",    "/v1/ai/secrets/{name}", none.clone(),                           "U U U U U U U U U U U"),
        row("post",   "/v1/ai/secrets", json!({}),                                     "U U U U U U U U U U U"),
        row("put",    "/v1/ai/secrets/{name}/value", json!({}),                        "U U U U U U U U U U U"),
        row("post",   "/v1/ai/secrets/{name}/rotate", none.clone(),                    "U U U U U U U U U U U"),
        row("get",    "/v1/ai/keyrings", none.clone(),                                 "U U U U U U U U U U U"),
        row("post",   "/v1/ai/keyrings", json!({}),                                    "U U U U U U U U U U U"),
        row("get",    "/v1/ai/machines", none.clone(),                                 "U U U U U U U U U U U"),
        row("get",    "/v1/ai/activity", none.clone(),                                 "U U U U U U U U U U U"),
        row("get",    "/v1/ai/alerts", none.clone(),                                   "U U U U U U U U U U U"),
        row("post",   "/v1/ai/alerts", json!({}),                                      "U U U U U U U U U U U"),
        row("post",   "/v1/ai/shares", json!({}),                                      "U U U U U U U U U U U"),
        row("get",    "/v1/invitations", none.clone(),                                 "Y Y Y Y Y F F F F Y U"),
        row("delete", "/v1/invitations/{id}", none.clone(),                            "N N F F F F F F F N U"),
        row("post",   "/v1/invitations/accept", json!({}),                             "Y Y Y Y Y Y Y Y Y Y Y"),
        // Permission templates: reading is for every user; editing and assigning for owners
        // only (no custom template exists, so an owner's edit is a 404).
        row("get",    "/v1/templates", none.clone(),                                   "Y Y Y Y Y F F F F Y U"),
        row("post",   "/v1/templates", json!({"name": "bad name!", "capabilities": []}),
                                                                                       "Y F F F F F F F F Y U"),
        row("get",    "/v1/templates/{id}", none.clone(),                              "N N N N N F F F F N U"),
        row("patch",  "/v1/templates/{id}", json!({}),                                 "N F F F F F F F F N U"),
        row("delete", "/v1/templates/{id}", none.clone(),                              "N F F F F F F F F N U"),
        row("put",    "/v1/users/{id}/template", json!({"template": "member"}),        "Y F F F F F F F F N U"),
    ]
}

/// How one principal presents itself.
enum Credential {
    Bearer(String),
    Certificate(reqwest::Client),
    Nothing,
    Signed(Box<MachineKey>),
}

/// The objects rows point at.
#[derive(Clone, Default)]
struct Targets {
    account: String,
    group: String,
    user: String,
    app: String,
    apikey: String,
    machine: String,
    machine_token: String,
    session: String,
    binding: String,
    aws_key: String,
    ring: String,
    key: String,
    hash: String,
    secret: String,
}

impl Targets {
    /// Fills a route template: each `{…}` by what the segment before it names.
    fn resolve(&self, template: &str) -> String {
        let segments: Vec<&str> = template.split('/').collect();
        let mut out = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            if !segment.starts_with('{') {
                out.push((*segment).to_owned());
                continue;
            }
            let value: &str = match (segments[i - 1], template.starts_with("/v1/keys/")) {
                ("groups", _) => &self.group,
                ("apps", _) => &self.app,
                ("users", _) => &self.user,
                ("accounts", _) => &self.account,
                ("apikey", _) => &self.apikey,
                ("machines", _) => &self.machine,
                ("machine-tokens", _) => &self.machine_token,
                ("sessions", _) => &self.session,
                ("keys", _) => &self.key,
                ("keyrings", _) => &self.ring,
                ("secrets", _) => &self.secret,
                ("grants", _) => &self.app,
                ("fields", _) => "field",
                ("versions", _) => "1",
                ("hash", _) => &self.hash,
                ("jobs", _) => "job_000000000000000000000000",
                ("shares" | "s", _) => "shr_000000000000000000000000",
                ("policies", _) => "pol_000000000000000000000000",
                ("bindings", _) => "keyring",
                ("{kind}", _) => &self.ring,
                ("approvals", _) => "apr_000000000000000000000000",
                ("certificates", true) => "cert_000000000000000000000000",
                ("certificates", false) => &self.binding,
                ("aws-credentials", _) => &self.aws_key,
                ("alerts", _) => "alr_000000000000000000000000",
                ("deliveries", _) => "dlv_000000000000000000000000",
                ("agents", _) => "aia_000000000000000000000000",
                ("bootstrap-tokens", _) => "aibt_000000000000000000000000",
                ("invitations", _) => "inv_000000000000000000000000",
                ("templates", _) => "tpl_000000000000000000000000",
                (other, _) => panic!("no target for a placeholder after {other:?} in {template}"),
            };
            out.push(value.to_owned());
        }
        out.join("/")
    }
}

struct Fixture {
    s: TestServer,
    targets: Targets,
    credentials: Vec<Credential>,
    certified_app: String,
    counter: std::cell::Cell<u32>,
}

fn ensure_created(what: &str, reply: &Reply) -> anyhow::Result<String> {
    anyhow::ensure!(
        (200..300).contains(&reply.status),
        "{what}: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply.str("id"))
}

impl Fixture {
    async fn new() -> anyhow::Result<Self> {
        let s = TestServer::start().await?;
        let account = s.account_id().await?;
        let g = s.group("G").await?;
        let h = s.group("H").await?;
        let owner = s.owner_key.clone();
        s.keyring("ring", &g, json!({})).await?;
        ensure_created(
            "key",
            &s.post(
                "/v1/keys",
                &owner,
                json!({"name": "key", "group": g, "algorithm": "ec-p256"}),
            )
            .await?,
        )?;
        s.user("admin@example.test", "admin", PASSWORD).await?;
        let member = s.user("member@example.test", "member", PASSWORD).await?;
        s.user("auditor@example.test", "auditor", PASSWORD).await?;
        put(
            &s,
            &format!("/v1/groups/{g}/users/{member}"),
            json!({"role": "member"}),
        )
        .await?;
        let member_key = s.api_key(&member, json!({"*.*.*.*": true})).await?;
        let (worker, worker_key) = s
            .app_with_key("worker", &[&g], json!({"*.*.*.*": true}))
            .await?;
        let noflag_key = s.api_key(&worker, json!({"object.read": true})).await?;
        let (outsider_app, outsider_key) = s
            .app_with_key("outsider", &[&h], json!({"*.*.*.*": true}))
            .await?;
        let _ = outsider_app;
        let certified_app = ensure_created(
            "certapp",
            &s.post(
                "/v1/apps",
                &owner,
                json!({"name": "certapp", "groups": [g]}),
            )
            .await?,
        )?;
        let cert: ClientCert = self_signed_client("certapp")?;
        ensure_created(
            "binding",
            &s.post(
                &format!("/v1/apps/{certified_app}/certificates"),
                &owner,
                json!({"certificate": cert.cert_pem}),
            )
            .await?,
        )?;
        let other = s.service().bootstrap("other", "other@example.test").await?;
        let apikeys = s.get("/v1/auth/apikey", &owner).await?;
        let worker_key_id = apikeys
            .body
            .as_array()
            .into_iter()
            .flatten()
            .find(|k| k["principal"] == json!(worker))
            .and_then(|k| k["id"].as_str())
            .unwrap_or_default()
            .to_owned();
        let sealed = s.encrypt("ring", &worker_key, "aGk=").await?;
        let raw = crate::support::unb64(
            sealed
                .str("ciphertext")
                .rsplit(':')
                .next()
                .unwrap_or_default(),
        );
        let hash = hex::encode(&raw[1..17]);
        let mut credentials = vec![Credential::Bearer(owner.clone())];
        for email in [
            "admin@example.test",
            "member@example.test",
            "auditor@example.test",
        ] {
            let session = s.login(email, PASSWORD, &account).await?;
            credentials.push(Credential::Bearer(session.str("session_token")));
        }
        credentials.push(Credential::Bearer(member_key));
        credentials.push(Credential::Bearer(worker_key));
        credentials.push(Credential::Bearer(noflag_key));
        credentials.push(Credential::Certificate(s.client_presenting(&cert)?));
        credentials.push(Credential::Bearer(outsider_key));
        credentials.push(Credential::Bearer(other.api_key.reveal().to_owned()));
        credentials.push(Credential::Nothing);
        let machine = s.approved_machine(&[&g], json!({"*.*.*.*": true})).await?;
        ensure_created(
            "secret",
            &s.post(
                "/v1/secrets",
                &owner,
                json!({"name": "sec", "group": g, "value": "matrix"}),
            )
            .await?,
        )?;
        for reader in [&worker, &certified_app, &machine.id] {
            let path = format!("/v1/secrets/sec/grants/{reader}");
            let granted = s.call(Method::PUT, &path, Some(&owner), None).await?;
            anyhow::ensure!(granted.status == 204, "grant: {}", granted.body);
        }
        credentials.push(Credential::Signed(Box::new(machine)));
        // A pending machine and a bootstrap token for the machine-management rows.
        let token = s
            .post(
                "/v1/machine-tokens",
                &owner,
                json!({"kind": "bootstrap", "name": "matrix", "flags": {"*.*.*.*": true}}),
            )
            .await?;
        let machine_token = ensure_created("machine token", &token)?;
        let mut pending = MachineKey::generate();
        s.register_machine(&mut pending, &token.str("token"))
            .await?;
        let targets = Targets {
            account,
            group: g,
            user: member,
            app: worker,
            apikey: worker_key_id,
            machine: pending.id.clone(),
            machine_token,
            session: String::new(),
            binding: String::new(),
            aws_key: "CFKA0000000000000000".into(),
            ring: "ring".into(),
            key: "key".into(),
            hash,
            secret: "sec".into(),
        };
        Ok(Self {
            s,
            targets,
            credentials,
            certified_app,
            counter: std::cell::Cell::new(0),
        })
    }

    fn unique(&self, stem: &str) -> String {
        self.counter.set(self.counter.get() + 1);
        format!("{stem}-{}", self.counter.get())
    }

    /// Makes what a `Fresh` row consumes and points the targets at it.
    async fn renew(&self, f: Fresh, targets: &mut Targets) -> anyhow::Result<()> {
        let s = &self.s;
        let owner = &s.owner_key;
        match f {
            Fresh::No | Fresh::Sessions => {}
            Fresh::AdminSession => {
                let login = s
                    .login("admin@example.test", PASSWORD, &targets.account)
                    .await?;
                targets.session = login.str("session_id");
            }
            Fresh::User => {
                let email = format!("{}@example.test", self.unique("fresh"));
                targets.user = s.user(&email, "member", PASSWORD).await?;
                put(
                    s,
                    &format!("/v1/groups/{}/users/{}", targets.group, targets.user),
                    json!({"role": "member"}),
                )
                .await?;
            }
            Fresh::App => {
                let name = self.unique("fresh-app");
                targets.app = ensure_created(
                    "app",
                    &s.post(
                        "/v1/apps",
                        owner,
                        json!({"name": name, "groups": [targets.group]}),
                    )
                    .await?,
                )?;
            }
            Fresh::Binding => {
                targets.app = self.certified_app.clone();
                let cert = self_signed_client(&self.unique("extra"))?;
                targets.binding = ensure_created(
                    "binding",
                    &s.post(
                        &format!("/v1/apps/{}/certificates", targets.app),
                        owner,
                        json!({"certificate": cert.cert_pem}),
                    )
                    .await?,
                )?;
            }
            Fresh::AwsCredential => {
                targets.aws_key = ensure_created(
                    "AWS access key",
                    &s.post(
                        &format!("/v1/apps/{}/aws-credentials", targets.app),
                        owner,
                        json!({"name": self.unique("aws"), "flags": {"*.*.*.*": true}}),
                    )
                    .await?,
                )?;
            }
            Fresh::Keyring | Fresh::TrashedKeyring => {
                targets.ring = self.unique("ring");
                s.keyring(&targets.ring, &targets.group, json!({})).await?;
                if f == Fresh::TrashedKeyring {
                    let path = format!("/v1/keyrings/{}", targets.ring);
                    s.call(Method::DELETE, &path, Some(owner), None).await?;
                }
            }
            Fresh::Secret | Fresh::TrashedSecret => {
                targets.secret = self.unique("secret");
                ensure_created(
                    "secret",
                    &s.post(
                        "/v1/secrets",
                        owner,
                        json!({"name": targets.secret, "group": targets.group, "value": "x"}),
                    )
                    .await?,
                )?;
                if f == Fresh::TrashedSecret {
                    let path = format!("/v1/secrets/{}", targets.secret);
                    s.call(Method::DELETE, &path, Some(owner), None).await?;
                }
            }
            Fresh::Key | Fresh::TrashedKey => {
                targets.key = self.unique("key");
                ensure_created(
                    "key",
                    &s.post("/v1/keys", owner, json!({"name": targets.key, "group": targets.group, "algorithm": "ec-p256"}))
                        .await?,
                )?;
                if f == Fresh::TrashedKey {
                    let path = format!("/v1/keys/{}", targets.key);
                    s.call(Method::DELETE, &path, Some(owner), None).await?;
                }
            }
        }
        Ok(())
    }

    async fn send(
        &self,
        principal: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
        fresh_session: Option<String>,
    ) -> anyhow::Result<Reply> {
        match (&self.credentials[principal], fresh_session) {
            (_, Some(token)) => self.s.call(method, path, Some(&token), body).await,
            (Credential::Bearer(token), None) => self.s.call(method, path, Some(token), body).await,
            (Credential::Certificate(client), None) => {
                self.s.call_as(client, method, path, body).await
            }
            (Credential::Nothing, None) => self.s.call(method, path, None, body).await,
            (Credential::Signed(machine), None) => {
                let request = RawRequest::signed(machine, method, path, body.as_ref(), unix_now());
                self.s.send_raw(&self.s.client, &request).await
            }
        }
    }
}

async fn put(s: &TestServer, path: &str, body: Value) -> anyhow::Result<()> {
    let reply = s
        .call(Method::PUT, path, Some(&s.owner_key), Some(body))
        .await?;
    anyhow::ensure!(
        reply.status == 200,
        "PUT {path}: {} {}",
        reply.status,
        reply.body
    );
    Ok(())
}

fn category(status: u16) -> char {
    match status {
        401 => 'U',
        403 => 'F',
        404 => 'N',
        200..=299 | 400 | 409 | 422 => 'Y',
        _ => '?',
    }
}

/// Replaces `"{group}"` strings in a body with the group id.
fn with_targets(body: &Value, targets: &Targets) -> Option<Value> {
    if body.is_null() {
        return None;
    }
    let text = body.to_string().replace("{group}", &targets.group);
    serde_json::from_str(&text).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_kind_of_principal_as_the_table_says() -> TestResult {
    let fx = Fixture::new().await?;
    let rows = table();

    // Every catalogue operation (the router serves exactly these) has a row, and every row
    // is an operation.
    let routes: BTreeSet<(String, String)> = coffer::catalogue::ALL
        .iter()
        .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
        .collect();
    let covered: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let missing: Vec<_> = routes.difference(&covered).collect();
    let unknown: Vec<_> = covered.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the matrix: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "rows for routes that do not exist: {unknown:?}"
    );

    let session_principals = [
        (1, "admin@example.test"),
        (2, "member@example.test"),
        (3, "auditor@example.test"),
    ];
    let mut failures = Vec::new();
    let mut answered = Vec::new();
    for row in &rows {
        let mut expected: Vec<char> = row
            .expect
            .split_whitespace()
            .filter_map(|c| c.chars().next())
            .collect();
        assert_eq!(
            expected.len(),
            SPELLED_OUT,
            "{} {}: one cell per principal",
            row.method,
            row.path
        );
        expected.push(expected[APP_KEY_COLUMN]);
        for (p, want) in expected.iter().enumerate() {
            let mut targets = fx.targets.clone();
            fx.renew(row.fresh, &mut targets).await?;
            let fresh_session = match (row.fresh, session_principals.iter().find(|(i, _)| *i == p))
            {
                (Fresh::Sessions, Some((_, email))) => Some(
                    fx.s.login(email, PASSWORD, &targets.account)
                        .await?
                        .str("session_token"),
                ),
                _ => None,
            };
            let path = targets.resolve(row.path);
            let method: Method = row.method.to_uppercase().parse()?;
            let reply = fx
                .send(
                    p,
                    method,
                    &path,
                    with_targets(&row.body, &targets),
                    fresh_session,
                )
                .await?;
            let request_id = reply.request_id();
            answered.push((
                request_id,
                reply.status,
                format!("{} {}", row.method, row.path),
            ));
            let got = category(reply.status);
            if got != *want {
                failures.push(format!(
                    "{:<6} {:<44} {:<13} expected {want}, got {} {}",
                    row.method, row.path, PRINCIPALS[p], reply.status, reply.body
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Every answer's audit event records the status the client got (201 and 204 included).
    let db = fx.s.db().await?;
    let mut mismatches = Vec::new();
    let operations = ["/v1/health", "/v1/ready", "/metrics", "/v1/openapi.json"];
    for (request_id, status, route) in &answered {
        if operations.iter().any(|path| route.ends_with(path)) {
            continue; // operations endpoints carry no credential and are not audited
        }
        let recorded: Vec<i64> =
            sqlx::query_scalar("SELECT status FROM audit_events WHERE request_id = $1")
                .bind(request_id)
                .fetch_all(&db)
                .await?;
        if recorded.is_empty() || recorded.iter().any(|r| *r != i64::from(*status)) {
            mismatches.push(format!("{route}: answered {status}, audited {recorded:?}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} audit events disagree with their answers:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    Ok(())
}
