//! Secrets end to end: single and structured values, versions and rollback, grants, the
//! reveal rule, the trash, and bad input.

use crate::support::{TestResult, TestServer};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_app_reads_the_value_it_was_given() -> TestResult {
    let s = TestServer::start().await?;
    let g = s.group("G").await?;
    let (app, key) = s
        .app_with_key("reader", &[&g], json!({"*.*.*.*": true}))
        .await?;
    let created = s
        .post(
            "/v1/secrets",
            &s.owner_key,
            json!({"name": "db-url", "group": g, "value": "postgres://u:p@h/db"}),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.body);
    let path = format!("/v1/secrets/db-url/grants/{app}");
    let granted = s.call(Method::PUT, &path, Some(&s.owner_key), None).await?;
    assert_eq!(granted.status, 204, "{}", granted.body);
    let read = s.get("/v1/secrets/db-url/value", &key).await?;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.str("value"), "postgres://u:p@h/db");
    Ok(())
}
