//! Secret values and versions: single and structured reads, one field alone, older versions,
//! new values, rollback, retention, and the `coffer secret` command line.

use crate::expect::cli;
use crate::secrets::{create, grant, granted_reader, numbers, read, reader_flags, versions};
use crate::support::{TestResult, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

/// `PUT /v1/secrets/<name>/value` of `body` as the owner.
async fn set(s: &TestServer, name: &str, body: Value) -> anyhow::Result<crate::support::Reply> {
    let path = format!("/v1/secrets/{name}/value");
    s.call(Method::PUT, &path, Some(&s.owner_key), Some(body))
        .await
}

/// The bootstrap owner's user id.
async fn owner_id(s: &TestServer) -> anyhow::Result<String> {
    let users = s.get("/v1/users", &s.owner_key).await?;
    users.assert_status(200);
    let list = users.body.as_array().cloned().unwrap_or_default();
    let owner = list
        .iter()
        .find(|u| u["email"] == crate::support::OWNER_EMAIL);
    Ok(owner
        .and_then(|u| u["id"].as_str())
        .unwrap_or_default()
        .to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_structured_secret_reads_whole_or_one_field_without_the_others() -> TestResult {
    let s = TestServer::start().await?;
    let g = s.group("G").await?;
    let (app, key) = s.app_with_key("reader", &[&g], reader_flags()).await?;
    let fields = json!({"username": "svc", "password": "pw-1", "host": "db.internal"});
    let created = create(
        &s,
        json!({"name": "creds", "group": g, "kind": "structured", "fields": fields}),
    )
    .await?;
    assert_eq!(created.body["kind"], "structured");
    assert_eq!(
        created.body["fields"],
        json!(["host", "password", "username"])
    );
    assert!(created.body.get("value").is_none(), "{}", created.body);
    grant(&s, "creds", &app).await?;

    let whole = read(&s, "creds", &key).await?;
    whole.assert_status(200);
    assert_eq!(whole.body["fields"], fields);
    assert_eq!(whole.body["version"], 1);
    assert!(whole.body.get("value").is_none(), "{}", whole.body);

    let one = s.get("/v1/secrets/creds/fields/password", &key).await?;
    one.assert_status(200);
    assert_eq!(
        one.body,
        json!({"version": 1, "field": "password", "value": "pw-1"}),
        "one field and nothing of the others"
    );
    let text = one.body.to_string();
    assert!(
        !text.contains("svc") && !text.contains("db.internal"),
        "{text}"
    );

    let missing = s.get("/v1/secrets/creds/fields/port", &key).await?;
    missing.assert_error(404, "not_found");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_value_is_a_new_version_and_older_versions_stay_readable() -> TestResult {
    let s = TestServer::start().await?;
    let (_, _, key) = granted_reader(&s, "G", "db", "first").await?;

    let changed = set(&s, "db", json!({"value": "second"})).await?;
    changed.assert_status(200);
    assert_eq!(changed.body["current_version"], 2);
    assert_eq!(changed.body["latest_version"], 2);
    assert!(
        changed.body.get("value").is_none(),
        "metadata only: {}",
        changed.body
    );

    let now = read(&s, "db", &key).await?;
    assert_eq!(
        (now.str("value"), now.body["version"].clone()),
        ("second".into(), json!(2))
    );
    let old = s.get("/v1/secrets/db/value?version=1", &key).await?;
    old.assert_status(200);
    assert_eq!(
        (old.str("value"), old.body["version"].clone()),
        ("first".into(), json!(1))
    );
    let never = s.get("/v1/secrets/db/value?version=9", &key).await?;
    never.assert_error(404, "not_found");

    let listed = versions(&s, "db").await?;
    assert_eq!(numbers(&listed), [1, 2]);
    assert_eq!(listed[0]["origin"], "create");
    assert_eq!(listed[1]["origin"], "set");
    assert_eq!(listed[0]["current"], false);
    assert_eq!(listed[1]["current"], true);
    let owner = owner_id(&s).await?;
    for v in &listed {
        assert_eq!(v["created_by"], owner.as_str(), "{v}");
        assert!(v.get("value").is_none(), "a version lists no value: {v}");
    }
    let text = serde_json::to_string(&listed)?;
    assert!(
        !text.contains("first") && !text.contains("second"),
        "{text}"
    );

    let rolled = s
        .owner_post("/v1/secrets/db/rollback", json!({"version": 1}))
        .await?;
    rolled.assert_status(200);
    assert_eq!(rolled.body["current_version"], 3);
    let back = read(&s, "db", &key).await?;
    assert_eq!(
        (back.str("value"), back.body["version"].clone()),
        ("first".into(), json!(3))
    );
    let listed = versions(&s, "db").await?;
    assert_eq!(numbers(&listed), [1, 2, 3]);
    assert_eq!(listed[2]["origin"], "rollback");
    assert_eq!(listed[2]["current"], true);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_only_the_last_versions_and_a_deleted_one_cannot_come_back() -> TestResult {
    let s = TestServer::start().await?;
    let g = s.group("G").await?;
    let (app, key) = s.app_with_key("reader", &[&g], reader_flags()).await?;
    let created = create(
        &s,
        json!({"name": "db", "group": g, "value": "v1", "retention": 2}),
    )
    .await?;
    assert_eq!(created.body["retention"], 2);
    grant(&s, "db", &app).await?;
    for n in 2..=4 {
        set(&s, "db", json!({"value": format!("v{n}")}))
            .await?
            .assert_status(200);
    }
    assert_eq!(numbers(&versions(&s, "db").await?), [3, 4]);
    assert_eq!(read(&s, "db", &key).await?.str("value"), "v4");
    let gone = s.get("/v1/secrets/db/value?version=1", &key).await?;
    gone.assert_error(404, "not_found");
    let kept = s.get("/v1/secrets/db/value?version=3", &key).await?;
    assert_eq!(kept.str("value"), "v3");

    let refused = s
        .owner_post("/v1/secrets/db/rollback", json!({"version": 1}))
        .await?;
    refused.assert_error(404, "not_found");
    assert_eq!(numbers(&versions(&s, "db").await?), [3, 4], "nothing made");
    let rolled = s
        .owner_post("/v1/secrets/db/rollback", json!({"version": 3}))
        .await?;
    rolled.assert_status(200);
    assert_eq!(numbers(&versions(&s, "db").await?), [4, 5]);
    assert_eq!(read(&s, "db", &key).await?.str("value"), "v3");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_reads_and_manages_a_secret() -> TestResult {
    let s = TestServer::start().await?;
    let g = s.group("G").await?;
    let (app, app_key) = s.app_with_key("reader", &[&g], reader_flags()).await?;
    let owner = [("COFFER_API_KEY", s.owner_key.as_str())];
    let reader = [("COFFER_API_KEY", app_key.as_str())];
    let value_file = s.dir.path().join("db-value");
    std::fs::write(&value_file, "s3cret value")?;
    let value_path = value_file.to_str().unwrap_or_default();
    let fields_file = s.dir.path().join("creds.json");
    std::fs::write(&fields_file, r#"{"user":"svc","password":"pw-1"}"#)?;
    let fields_path = fields_file.to_str().unwrap_or_default();

    let (ok, _) = cli(
        &s,
        &owner,
        "secret create db --group {} --value-file {}",
        &[&g, value_path],
    )?;
    assert!(ok, "create");
    let (ok, _) = cli(
        &s,
        &owner,
        "secret create creds --group {} --kind structured --fields-file {}",
        &[&g, fields_path],
    )?;
    assert!(ok, "create structured");
    for name in ["db", "creds"] {
        let (ok, _) = cli(&s, &owner, "secret grant {} {}", &[name, &app])?;
        assert!(ok, "grant {name}");
    }

    let (ok, out) = cli(&s, &reader, "secret get db", &[])?;
    assert!(ok, "get");
    assert_eq!(out, "s3cret value", "the value alone on stdout");
    let (ok, out) = cli(&s, &reader, "secret field creds password", &[])?;
    assert!(ok, "field");
    assert_eq!(out, "pw-1");

    std::fs::write(&value_file, "next value")?;
    let (ok, _) = cli(&s, &owner, "secret set db --value-file {}", &[value_path])?;
    assert!(ok, "set");
    let (ok, out) = cli(&s, &owner, "secret versions db", &[])?;
    assert!(ok, "versions");
    assert!(
        out.contains("set") && !out.contains("s3cret") && !out.contains("next value"),
        "{out}"
    );
    let (ok, _) = cli(&s, &owner, "secret rollback db 1", &[])?;
    assert!(ok, "rollback");
    let (_, out) = cli(&s, &reader, "secret get db", &[])?;
    assert_eq!(out, "s3cret value", "rolled back");

    let (ok, _) = cli(&s, &owner, "secret revoke db {}", &[&app])?;
    assert!(ok, "revoke");
    let (ok, out) = cli(&s, &reader, "secret get db", &[])?;
    assert!(!ok && out.is_empty(), "revoked: {out}");

    let (ok, _) = cli(&s, &owner, "secret delete db", &[])?;
    assert!(ok, "delete");
    let gone = s.get("/v1/secrets/db", &s.owner_key).await?;
    gone.assert_error(404, "not_found");
    let (ok, _) = cli(&s, &owner, "secret restore db", &[])?;
    assert!(ok, "restore");
    let (ok, _) = cli(&s, &owner, "secret grant db {}", &[&app])?;
    assert!(ok, "grant again");
    let (_, out) = cli(&s, &reader, "secret get db", &[])?;
    assert_eq!(out, "s3cret value");
    Ok(())
}
