//! Group membership routes: users and apps leave a group each through their own path.

use crate::support::*;
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn a_member_leaves_a_group_only_through_the_path_of_its_kind() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("team").await?;
    let (app, _) = s
        .app_with_key("worker", &[&group], json!({"keyring.*.*": true}))
        .await?;
    let (user, _) = s.group_member("u@example.test", PASSWORD, &group).await?;

    // An app's id on the users path (and a user's on the apps path) names no member there.
    s.delete(&format!("/v1/groups/{group}/users/{app}"), &s.owner_key)
        .await?
        .assert_error(404, "not_found");
    s.delete(&format!("/v1/groups/{group}/apps/{user}"), &s.owner_key)
        .await?
        .assert_error(404, "not_found");
    let members = s
        .get(&format!("/v1/groups/{group}/members"), &s.owner_key)
        .await?;
    assert_eq!(
        members.body["apps"][0]["id"],
        json!(app),
        "{}",
        members.body
    );
    assert_eq!(
        members.body["users"][0]["id"],
        json!(user),
        "{}",
        members.body
    );

    // Each through its own path, it leaves.
    s.delete(&format!("/v1/groups/{group}/apps/{app}"), &s.owner_key)
        .await?
        .assert_status(204);
    s.delete(&format!("/v1/groups/{group}/users/{user}"), &s.owner_key)
        .await?
        .assert_status(204);
    let members = s
        .get(&format!("/v1/groups/{group}/members"), &s.owner_key)
        .await?;
    assert_eq!(members.body["apps"], json!([]), "{}", members.body);
    assert_eq!(members.body["users"], json!([]), "{}", members.body);
    Ok(())
}
