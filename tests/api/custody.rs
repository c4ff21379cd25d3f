//! Custody and fail-closed behaviour, checked with outside tools where possible.

use crate::support::*;
use crate::token::token_objects;
use serde_json::json;

#[tokio::test]
async fn pkcs11_tool_sees_master_keys_sensitive_never_extractable_wrap_only() -> TestResult {
    let s = TestServer::start().await?;
    let key = s.ready_keyring("custody", "hsm").await?;
    assert_eq!(s.encrypt("custody", &key, "eA==").await?.status, 200);
    let text = token_objects(&s, Some("secrkey"))?;
    let objects: Vec<&str> = text.split("Secret Key Object").skip(1).collect();
    let find = |prefix: &str| {
        objects
            .iter()
            .find(|o| o.contains(&format!("label:      {prefix}")))
            .copied()
    };

    let master = find("mk/grp_").ok_or_else(|| anyhow::anyhow!("no master key listed:\n{text}"))?;
    assert!(master.contains("AES length 32"), "{master}");
    assert!(master.contains("Usage:      wrap, unwrap\n"), "{master}");
    assert!(
        master.contains("sensitive, always sensitive, never extractable"),
        "{master}"
    );

    let ring =
        find("kr/kr_").ok_or_else(|| anyhow::anyhow!("no hsm keyring key listed:\n{text}"))?;
    assert!(ring.contains("Usage:      encrypt, decrypt\n"), "{ring}");
    assert!(ring.contains("never extractable"), "{ring}");

    let pepper =
        find("sys/apikey-pepper").ok_or_else(|| anyhow::anyhow!("no pepper listed:\n{text}"))?;
    assert!(
        pepper.contains("never extractable") && !pepper.contains("encrypt"),
        "{pepper}"
    );
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_database_files_never_hold_a_data_key_plaintext_or_api_key() -> TestResult {
    let mut s = TestServer::start().await?;
    let key = s.ready_keyring("scan", "envelope").await?;
    let password = "PASSWORD-MARKER-81d0 never in sql";
    let user = s.user("scan@example.test", "admin", password).await?;
    let account = s.account_id().await?;
    let session = s
        .login("scan@example.test", password, &account)
        .await?
        .str("session_token");
    let reset = s
        .owner_post(&format!("/v1/users/{user}/password-reset"), json!({}))
        .await?
        .str("reset_token");
    anyhow::ensure!(
        session.starts_with("cs_") && reset.starts_with("cr_"),
        "tokens issued"
    );
    let marker = b"PLAINTEXT-MARKER-4f1c9a2e-never-in-sql";
    assert_eq!(
        s.post(
            "/v1/keyrings/scan/encrypt",
            &key,
            json!({"plaintext": b64(marker)})
        )
        .await?
        .status,
        200
    );
    let data_key = s
        .post("/v1/keyrings/scan/datakey", &key, json!({"bytes": 32}))
        .await?;
    let data_key = unb64(&data_key.str("plaintext"));
    let api_secret = key.rsplit('_').next().unwrap().to_owned();
    s.stop().await;

    for file in s.database_files().await? {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for (what, needle) in [
            ("plaintext", marker.to_vec()),
            ("plaintext in base64", b64(marker).into_bytes()),
            ("data key", data_key.clone()),
            ("data key in base64", b64(&data_key).into_bytes()),
            ("API key secret", api_secret.clone().into_bytes()),
            ("owner API key", s.owner_key.clone().into_bytes()),
            ("password", password.as_bytes().to_vec()),
            (
                "session token secret",
                session
                    .rsplit('_')
                    .next()
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec(),
            ),
            (
                "reset token secret",
                reset
                    .rsplit('_')
                    .next()
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec(),
            ),
        ] {
            assert!(
                !contains(&bytes, &needle),
                "{what} found in {}",
                file.display()
            );
        }
    }
    Ok(())
}

/// Makes the token refuse the service's login (its PIN is changed and every session logged
/// out), then restores it: the service answers 503 meanwhile and recovers by itself.
#[tokio::test]
async fn the_hsm_disappearing_gives_503_then_recovers_without_restart() -> TestResult {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;

    let s = TestServer::start().await?;
    let key = s.ready_keyring("outage", "hsm").await?;
    let encrypt = || {
        s.post(
            "/v1/keyrings/outage/encrypt",
            &key,
            json!({"plaintext": "eA=="}),
        )
    };
    assert_eq!(encrypt().await?.status, 200);

    // The same library instance as the server's: C_Initialize says "already initialised".
    let ctx = Pkcs11::new(softhsm_test::MODULE)?;
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_token()?
        .into_iter()
        .find(|slot| {
            ctx.get_token_info(*slot)
                .map(|t| t.label().trim_end() == s.token.label)
                .unwrap_or(false)
        })
        .ok_or_else(|| anyhow::anyhow!("test token not found"))?;
    let session = ctx.open_rw_session(slot)?;
    let (old, new) = (
        AuthPin::new(s.token.user_pin.clone().into()),
        AuthPin::new("changed-pin".into()),
    );
    session.set_pin(&old, &new)?;
    session.logout()?;

    let during = encrypt().await?;
    during.assert_error(503, "unavailable");
    assert!(
        !during.body.to_string().contains("PIN"),
        "no internal detail in a 5xx body: {}",
        during.body
    );
    let ready = s.anonymous(reqwest::Method::GET, "/v1/ready").await?;
    ready.assert_status(503);

    session.login(UserType::User, Some(&new))?;
    session.set_pin(&new, &old)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let reply = encrypt().await?;
        if reply.status == 200 {
            break;
        }
        reply.assert_status(503);
        assert!(
            std::time::Instant::now() < deadline,
            "the service did not recover"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Breaks the audit table (a trigger refuses every insert): every request fails with 503
/// and has no effect.
#[tokio::test]
async fn an_audit_write_failure_gives_503_and_has_no_effect() -> TestResult {
    let s = TestServer::start().await?;
    let (group, key) = s.keyring_app("audited", "audited").await?;
    s.keyring("before", &group, json!({})).await?;

    s.break_audit_table().await?;

    let created = s
        .owner_post("/v1/keyrings", json!({"name": "during", "group": group}))
        .await?;
    created.assert_error(503, "unavailable");
    let sealed = s.encrypt("before", &key, "eA==").await?;
    sealed.assert_status(503);
    assert!(sealed.body.get("ciphertext").is_none());
    let rotated = s
        .post("/v1/keyrings/before/rotate", &key, json!({}))
        .await?;
    rotated.assert_status(503);
    let denied = s.anonymous(reqwest::Method::GET, "/v1/keyrings").await?;
    assert_eq!(
        denied.status, 503,
        "even a denial is not answered unaudited"
    );

    s.mend_audit_table().await?;
    let db = s.db().await?;
    let rings = s.get("/v1/keyrings", &s.owner_key).await?;
    let names: Vec<_> = rings
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("before")], "no keyring was created");
    let keys = s.get("/v1/keyrings/before/keys", &key).await?;
    assert_eq!(keys.array_len(), Some(1), "no version was added");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM keyring_versions")
        .fetch_one(&db)
        .await?;
    assert_eq!(count, 1);
    Ok(())
}

#[tokio::test]
async fn every_request_allowed_or_denied_is_in_the_activity_feed() -> TestResult {
    let s = TestServer::start().await?;
    let key = s.ready_keyring("feed", "envelope").await?;
    let ok = s.encrypt("feed", &key, "eA==").await?;
    let denied = s
        .owner_post("/v1/keyrings/feed/encrypt", json!({"plaintext": "eA=="}))
        .await?;
    let bad = s.encrypt("feed", &key, "***").await?;
    let anonymous = s.anonymous(reqwest::Method::GET, "/v1/keyrings").await?;
    let db = s.db().await?;
    for (reply, outcome) in [
        (&ok, "success"),
        (&denied, "forbidden"),
        (&bad, "invalid_input"),
        (&anonymous, "unauthenticated"),
    ] {
        let request_id = reply.request_id();
        assert!(!request_id.is_empty());
        let recorded: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT outcome, source_ip FROM audit_events WHERE request_id = $1")
                .bind(&request_id)
                .fetch_optional(&db)
                .await?;
        assert_eq!(
            recorded,
            Some((outcome.to_owned(), Some("127.0.0.1".to_owned()))),
            "request {request_id}"
        );
    }
    let filtered = s
        .get(
            "/v1/activity?outcome=forbidden&action=keyring.encrypt",
            &s.owner_key,
        )
        .await?;
    assert_eq!(filtered.body["events"].as_array().map(Vec::len), Some(1));
    // An outcome that is neither success nor an error code is a mistake, not an empty feed.
    let unknown = s.get("/v1/activity?outcome=forbiden", &s.owner_key).await?;
    unknown.assert_error(400, "invalid_input");
    assert!(unknown.message().contains("outcome"), "{}", unknown.body);
    // Authorization comes first: a caller who may not read the feed learns nothing of its filters.
    let group = s.group("feedless").await?;
    let (_, key) = s
        .app_with_key("feedless", &[&group], json!({"keyring.*.*": true}))
        .await?;
    s.get("/v1/activity?outcome=forbiden", &key)
        .await?
        .assert_error(403, "forbidden");
    let page = s.get("/v1/activity?limit=2", &s.owner_key).await?;
    let next = page.body["next"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no next page"))?;
    let older = s
        .get(&format!("/v1/activity?limit=2&before={next}"), &s.owner_key)
        .await?;
    assert!(older.body["events"][0]["seq"].as_i64() < Some(next));
    Ok(())
}

/// Secret values (one value, a field, a generated one) are sealed before they reach SQL:
/// no database file and no audit event holds them, in plain text or base64.
#[tokio::test]
async fn the_database_files_never_hold_a_secret_value() -> TestResult {
    let mut s = TestServer::start().await?;
    let g = s.group("G").await?;
    let single = "SECRET-VALUE-MARKER-7c2e never in sql";
    let field = "FIELD-VALUE-MARKER-91ab never in sql";
    for body in [
        json!({"name": "one", "group": g, "value": single}),
        json!({"name": "two", "group": g, "kind": "structured",
            "fields": {"user": "u", "password": field}}),
        json!({"name": "three", "group": g,
            "rotation": {"interval_seconds": 300, "charset": "alphanumeric", "length": 48}}),
    ] {
        let created = s.owner_post("/v1/secrets", body).await?;
        assert_eq!(created.status, 201, "{}", created.body);
    }
    let generated = s
        .owner_post("/v1/secrets/three/reveal", json!({}))
        .await?
        .str("value");
    assert_eq!(generated.len(), 48);
    let feed = s
        .get("/v1/activity?limit=500", &s.owner_key)
        .await?
        .body
        .to_string();
    s.stop().await;
    let needles = [single, field, generated.as_str()];
    for needle in needles {
        assert!(
            !feed.contains(needle),
            "a secret value is in the audit feed"
        );
    }
    for file in s.database_files().await? {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for needle in needles {
            for form in [
                needle.as_bytes().to_vec(),
                b64(needle.as_bytes()).into_bytes(),
            ] {
                assert!(
                    !contains(&bytes, &form),
                    "a secret value found in {}",
                    file.display()
                );
            }
        }
    }
    Ok(())
}
