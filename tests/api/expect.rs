//! Assertions on replies and small request shorthands, so that a test states the status
//! and error code it expects in one line and the reply's body shows up when it fails.

use crate::support::{Reply, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

impl Reply {
    /// Fails the test, showing the body, unless the status is `status`.
    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(self.status, status, "{}", self.body);
    }

    /// Fails the test, showing the body, unless the reply is the error `code` with `status`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "{}", self.body);
    }

    /// As [`Reply::assert_error`], saying `why` the error was expected when it fails.
    #[track_caller]
    pub fn assert_error_because(&self, status: u16, code: &str, why: impl std::fmt::Display) {
        let body = &self.body;
        assert_eq!((self.status, self.code()), (status, code), "{why}: {body}");
    }

    /// The error's human-readable message (empty if none).
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    /// The string `field` of each element of a JSON array body, in order (elements without
    /// it are skipped; a body that is not an array gives none).
    pub fn column(&self, field: &str) -> Vec<&str> {
        let items = self.body.as_array().into_iter().flatten();
        items.filter_map(|item| item[field].as_str()).collect()
    }

    /// The length of a JSON array body (`None` when the body is not an array).
    pub fn array_len(&self) -> Option<usize> {
        self.body.as_array().map(Vec::len)
    }
}

impl TestServer {
    /// `POST /v1/keyrings/<ring>/encrypt` of `plaintext` (base64) as `key`.
    pub async fn encrypt(&self, ring: &str, key: &str, plaintext: &str) -> anyhow::Result<Reply> {
        let path = format!("/v1/keyrings/{ring}/encrypt");
        self.post(&path, key, json!({ "plaintext": plaintext }))
            .await
    }

    /// A group named `group` and an app `app` in it whose key holds every keyring flag;
    /// returns (group id, key).
    pub async fn keyring_app(&self, group: &str, app: &str) -> anyhow::Result<(String, String)> {
        let group = self.group(group).await?;
        let flags = json!({"keyring.*.*.*": true});
        let (_, key) = self.app_with_key(app, &[&group], flags).await?;
        Ok((group, key))
    }

    /// `POST path` of `body` as the bootstrap owner.
    pub async fn owner_post(&self, path: &str, body: Value) -> anyhow::Result<Reply> {
        self.post(path, &self.owner_key, body).await
    }

    /// `PATCH path` of `body` as the bootstrap owner.
    pub async fn owner_patch(&self, path: &str, body: Value) -> anyhow::Result<Reply> {
        self.patch(path, &self.owner_key, body).await
    }

    /// `DELETE path` as `key`.
    pub async fn delete(&self, path: &str, key: &str) -> anyhow::Result<Reply> {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    /// A request without credentials.
    pub async fn anonymous(&self, method: Method, path: &str) -> anyhow::Result<Reply> {
        self.call(method, path, None, None).await
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let url = format!("{}/metrics", self.url);
        Ok(self.client.get(url).send().await?.text().await?)
    }
}

/// A command line for `run_cli`: `template` split at blanks, each `{}` word replaced whole
/// by the next of `values` (so a value such as a path may hold blanks).
pub fn argv<'a>(template: &'a str, values: &[&'a str]) -> Vec<&'a str> {
    let mut values = values.iter();
    let args: Vec<&str> = template
        .split_whitespace()
        .map(|word| match word {
            "{}" => values.next().copied().expect("a value for every {}"),
            word => word,
        })
        .collect();
    assert!(
        values.next().is_none(),
        "a {{}} for every value: {template}"
    );
    args
}

/// Runs the `coffer` binary with `env` and the command line `template` (see [`argv`]), with
/// no input; returns (success, stdout).
pub fn cli(
    s: &TestServer,
    env: &[(&str, &str)],
    template: &str,
    values: &[&str],
) -> anyhow::Result<(bool, String)> {
    crate::support::run_cli(s, env, &argv(template, values), None)
}
