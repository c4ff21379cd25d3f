//! Tenant isolation and identity: what an account's owners see of attacks on it, what a
//! member sees of other groups, and the first owner's way into every account they create.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

fn events(reply: &Reply) -> Vec<Value> {
    reply.body["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn failed_logins_and_the_lockout_they_cause_show_in_the_named_accounts_activity() -> TestResult
{
    let s = TestServer::start().await?;
    let account = s.account_id().await?;
    let alice = s.user("alice@example.test", "member", PASSWORD).await?;

    // Guessing alice's password: four failures, the fifth starts the lockout, the sixth is
    // refused by it; one more naming an email that belongs to nobody.
    for attempt in 1..=5 {
        let reply = s
            .login("alice@example.test", "wrong password 1234", &account)
            .await?;
        assert_eq!(reply.status, 401, "attempt {attempt}");
    }
    let locked = s.login("alice@example.test", PASSWORD, &account).await?;
    locked.assert_status(429);
    let nobody = s
        .login("nobody@example.test", "wrong password 1234", &account)
        .await?;
    nobody.assert_status(429);
    // A login naming an account that does not exist belongs to no account.
    let elsewhere = s
        .login(
            "alice@example.test",
            "wrong",
            "acct_000000000000000000000000",
        )
        .await?;
    elsewhere.assert_status(429);

    let activity = s
        .get("/v1/activity?action=auth.login&limit=100", &s.owner_key)
        .await?;
    activity.assert_status(200);
    let logins = events(&activity);
    let detail_count = |detail: &str| logins.iter().filter(|e| e["detail"] == detail).count();
    assert_eq!(detail_count("bad_credentials"), 4, "{logins:#?}");
    assert_eq!(detail_count("lockout_started"), 1, "{logins:#?}");
    assert_eq!(detail_count("source_locked"), 2, "{logins:#?}");
    assert_eq!(
        logins.len(),
        7,
        "the refusal naming another account is not here"
    );
    let about_alice = logins.iter().filter(|e| e["principal"] == alice.as_str());
    assert_eq!(about_alice.clone().count(), 6);
    assert!(
        about_alice.clone().all(|e| e["identity"] == "claimed"),
        "a refused login only claims its user: {logins:#?}"
    );
    assert!(logins.iter().all(|e| e["outcome"] != "success"));
    Ok(())
}

#[tokio::test]
async fn a_member_sees_only_the_apps_of_their_groups_and_only_those_groups() -> TestResult {
    let s = TestServer::start().await?;
    let mine = s.group("mine").await?;
    let theirs = s.group("theirs").await?;
    let (only_mine, _) = s
        .app_with_key("only-mine", &[&mine], json!({"keyring.*.*.*": true}))
        .await?;
    let (only_theirs, _) = s
        .app_with_key("only-theirs", &[&theirs], json!({"keyring.*.*.*": true}))
        .await?;
    let (both, _) = s
        .app_with_key("both", &[&mine, &theirs], json!({"keyring.*.*.*": true}))
        .await?;
    let (_, m) = s.group_member("m@example.test", PASSWORD, &mine).await?;

    let listed = s.get("/v1/apps", &m).await?;
    listed.assert_status(200);
    let apps = listed.body.as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = apps.iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(ids.len(), 2, "{apps:#?}");
    assert!(ids.contains(&only_mine.as_str()) && ids.contains(&both.as_str()));
    let shown = apps
        .iter()
        .find(|a| a["id"] == both.as_str())
        .cloned()
        .unwrap_or_default();
    assert_eq!(shown["groups"], json!([mine]), "{shown}");
    assert!(
        !shown.to_string().contains(&theirs),
        "the other group's id leaks through the app: {shown}"
    );

    let one = s.get(&format!("/v1/apps/{both}"), &m).await?;
    assert_eq!(one.body["groups"], json!([mine]));
    let hidden = s.get(&format!("/v1/apps/{only_theirs}"), &m).await?;
    let missing = s.get("/v1/apps/app_000000000000000000000000", &m).await?;
    hidden.assert_error(404, "not_found");
    assert_eq!(
        hidden.body["error"]["message"]
            .as_str()
            .map(|t| t.replace(&only_theirs, "ID")),
        missing.body["error"]["message"]
            .as_str()
            .map(|t| t.replace("app_000000000000000000000000", "ID")),
        "a hidden app and a missing one look the same"
    );
    let credentials = s
        .get(&format!("/v1/apps/{only_theirs}/credentials"), &m)
        .await?;
    credentials.assert_status(404);

    // Owners still see everything.
    let all = s.get("/v1/apps", &s.owner_key).await?;
    assert_eq!(all.array_len(), Some(3));
    let full = s.get(&format!("/v1/apps/{both}"), &s.owner_key).await?;
    assert_eq!(full.body["groups"].as_array().map(Vec::len), Some(2));
    Ok(())
}

#[tokio::test]
async fn the_first_owner_sets_a_password_once_and_mints_keys_in_a_second_account() -> TestResult {
    let s = TestServer::start().await?;

    // The bootstrap's one-time setup token sets the owner's password, once.
    let set = s
        .call(
            Method::POST,
            "/v1/auth/password-reset",
            None,
            Some(json!({"token": s.setup_token, "new_password": PASSWORD})),
        )
        .await?;
    set.assert_status(204);
    let again = s
        .call(
            Method::POST,
            "/v1/auth/password-reset",
            None,
            Some(json!({"token": s.setup_token, "new_password": "another fine password"})),
        )
        .await?;
    assert_eq!(again.status, 401, "the setup token is single use");

    // A second account, created with the bootstrap key: its owner can sign in to it...
    let second = s
        .owner_post("/v1/accounts", json!({"name": "second"}))
        .await?;
    second.assert_status(201);
    let second_id = second.str("id");
    let login = s.login(OWNER_EMAIL, PASSWORD, &second_id).await?;
    login.assert_status(201);
    let session = login.str("session_token");

    // ...and mint an API key there, which works there and only there.
    let me = login.str("user_id");
    let minted = s
        .post(
            "/v1/auth/apikey",
            &session,
            json!({"principal": me, "name": "second-owner", "flags": {"*.*.*.*": true}}),
        )
        .await?;
    minted.assert_status(201);
    let key = minted.str("api_key");
    let group = s
        .post("/v1/groups", &key, json!({"name": "in-second"}))
        .await?;
    group.assert_status(201);
    let first_groups = s.get("/v1/groups", &s.owner_key).await?;
    assert!(
        !first_groups.body.to_string().contains("in-second"),
        "the key acts in the second account only"
    );
    Ok(())
}

#[tokio::test]
async fn failure_counts_are_forgotten_once_they_can_no_longer_lock_anyone_out() -> TestResult {
    use coffer::clock::ManualClock;
    use std::sync::Arc;
    use std::time::Duration;
    let clock = Arc::new(ManualClock::starting_now());
    let s = TestServer::start_with({
        let clock = Arc::clone(&clock);
        move |config| config.clock = clock
    })
    .await?;
    let account = s.account_id().await?;
    for _ in 0..5 {
        s.login("alice@example.test", "wrong password 1234", &account)
            .await?;
    }
    let db = s.db().await?;
    let rows =
        || sqlx::query_scalar::<_, i64>("SELECT count(*) FROM login_failures").fetch_one(&db);
    assert_eq!(rows().await?, 1);

    // While the lock holds, maintenance keeps the count, and the lock still refuses.
    clock.advance(Duration::from_secs(60));
    s.service().maintain().await?;
    assert_eq!(rows().await?, 1);
    let locked = s
        .login(OWNER_EMAIL, "wrong password 1234", &account)
        .await?;
    locked.assert_status(429);

    // Once the lock and the window are over, the row goes.
    clock.advance(Duration::from_secs(16 * 60));
    s.service().maintain().await?;
    assert_eq!(rows().await?, 0, "a spent failure count is forgotten");
    Ok(())
}
