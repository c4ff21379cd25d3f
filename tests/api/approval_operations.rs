//! The other operations a quorum gates (secret deletion, master-key rotation, unfreezing,
//! removing an owner, changing or removing the quorum itself), and the quorum's own rules.

use crate::approvals::{Person, admins, events, quorum, vote};
use crate::support::{TestResult, TestServer};
use reqwest::Method;
use serde_json::json;

/// Asks with `credential`, expects a 202, and has the two approvers approve: the last
/// answer is the executed approval.
async fn approved(
    s: &TestServer,
    asked: crate::support::Reply,
    approvers: [&Person; 2],
) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(
        asked.status == 202,
        "not gated: {} {}",
        asked.status,
        asked.body
    );
    let id = asked.str("approval_id");
    let first = vote(s, &approvers[0].session, &id, "approve").await?;
    anyhow::ensure!(first.str("status") == "pending", "first: {}", first.body);
    let last = vote(s, &approvers[1].session, &id, "approve").await?;
    anyhow::ensure!(last.status == 200, "last: {} {}", last.status, last.body);
    Ok(last.body)
}

/// A group with a 2-of-3 quorum and its approvers.
async fn guarded_group(s: &TestServer, name: &str) -> anyhow::Result<(String, Vec<Person>)> {
    let group = s.group(name).await?;
    let people = admins(s, &["alice", "bob", "carol"]).await?;
    quorum(s, &group, &[&people[0], &people[1], &people[2]], 2).await?;
    Ok((group, people))
}

#[tokio::test]
async fn a_secret_is_deleted_only_once_approved() -> TestResult {
    let s = TestServer::start().await?;
    let (group, people) = guarded_group(&s, "vault").await?;
    let created = s
        .post(
            "/v1/secrets",
            &s.owner_key,
            json!({"name": "db", "group": group, "value": "pw"}),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.body);
    let asked = s
        .call(Method::DELETE, "/v1/secrets/db", Some(&s.owner_key), None)
        .await?;
    assert_eq!(
        s.get("/v1/secrets/db", &s.owner_key).await?.status,
        200,
        "still there"
    );
    let done = approved(&s, asked, [&people[0], &people[1]]).await?;
    assert_eq!(done["status"], "executed", "{done}");
    assert_eq!(s.get("/v1/secrets/db", &s.owner_key).await?.status, 404);
    Ok(())
}

#[tokio::test]
async fn a_master_key_rotation_waits_for_its_quorum() -> TestResult {
    let s = TestServer::start().await?;
    let (group, people) = guarded_group(&s, "rotating").await?;
    let path = format!("/v1/groups/{group}/rotate-master");
    let asked = s.post(&path, &s.owner_key, json!({})).await?;
    assert!(
        asked.body.get("approval_id").is_some(),
        "an approval, not a job: {}",
        asked.body
    );
    let before = s.get(&format!("/v1/groups/{group}"), &s.owner_key).await?;
    assert_eq!(before.body["master_key_version"], 1);
    let done = approved(&s, asked, [&people[1], &people[2]]).await?;
    assert_eq!(done["status"], "executed", "{done}");
    let after = s.get(&format!("/v1/groups/{group}"), &s.owner_key).await?;
    assert_eq!(after.body["master_key_version"], 2, "{}", after.body);
    Ok(())
}

#[tokio::test]
async fn unfreezing_a_group_waits_for_its_quorum() -> TestResult {
    let s = TestServer::start().await?;
    let (group, people) = guarded_group(&s, "frozen").await?;
    let frozen = s
        .post(
            &format!("/v1/groups/{group}/freeze"),
            &s.owner_key,
            json!({}),
        )
        .await?;
    assert_eq!(frozen.status, 200, "freezing is not gated: {}", frozen.body);
    let path = format!("/v1/groups/{group}/unfreeze");
    let asked = s
        .call(Method::POST, &path, Some(&s.owner_key), None)
        .await?;
    let still = s.get(&format!("/v1/groups/{group}"), &s.owner_key).await?;
    assert!(
        !still.body["frozen_at"].is_null(),
        "still frozen: {}",
        still.body
    );
    let done = approved(&s, asked, [&people[0], &people[2]]).await?;
    assert_eq!(done["status"], "executed", "{done}");
    let thawed = s.get(&format!("/v1/groups/{group}"), &s.owner_key).await?;
    assert!(thawed.body["frozen_at"].is_null(), "{}", thawed.body);
    Ok(())
}

#[tokio::test]
async fn removing_an_owner_needs_the_account_quorum() -> TestResult {
    let s = TestServer::start().await?;
    let people = admins(&s, &["alice", "bob"]).await?;
    let other_owner = s
        .user("second@example.test", "owner", crate::approvals::PASSWORD)
        .await?;
    let member = s
        .user("member@example.test", "member", crate::approvals::PASSWORD)
        .await?;
    let set = s
        .call(
            Method::PUT,
            "/v1/account/quorum",
            Some(&s.owner_key),
            Some(json!({"approvers": [people[0].id, people[1].id], "required": 2})),
        )
        .await?;
    assert_eq!(set.status, 200, "{}", set.body);
    let plain = s
        .call(
            Method::DELETE,
            &format!("/v1/users/{member}"),
            Some(&s.owner_key),
            None,
        )
        .await?;
    assert_eq!(plain.status, 204, "a member is no owner: {}", plain.body);

    let demote = s
        .patch(
            &format!("/v1/users/{other_owner}"),
            &s.owner_key,
            json!({"role": "admin"}),
        )
        .await?;
    assert_eq!(
        demote.status, 202,
        "demoting an owner is gated: {}",
        demote.body
    );
    let path = format!("/v1/users/{other_owner}");
    let by_admin = s
        .call(Method::DELETE, &path, Some(&people[0].session), None)
        .await?;
    assert_eq!(
        by_admin.status, 403,
        "refused at once, not an approval: {}",
        by_admin.body
    );
    let asked = s
        .call(Method::DELETE, &path, Some(&s.owner_key), None)
        .await?;
    assert_eq!(
        s.get(&path, &s.owner_key).await?.status,
        200,
        "still a member"
    );
    let done = approved(&s, asked, [&people[0], &people[1]]).await?;
    assert_eq!(done["status"], "executed", "{done}");
    assert_eq!(s.get(&path, &s.owner_key).await?.status, 404, "removed");
    // The demotion's target is gone meanwhile: it fails, with a reason a person can act on.
    let id = demote.str("approval_id");
    vote(&s, &people[0].session, &id, "approve").await?;
    let failed = vote(&s, &people[1].session, &id, "approve").await?;
    assert_eq!(failed.str("status"), "failed", "{}", failed.body);
    assert!(failed.str("error").contains("not found"), "{}", failed.body);
    Ok(())
}

#[tokio::test]
async fn changing_or_removing_a_quorum_needs_its_approval() -> TestResult {
    let s = TestServer::start().await?;
    let (group, people) = guarded_group(&s, "guarded").await?;
    let path = format!("/v1/groups/{group}/quorum");
    let ids = [&people[0].id, &people[1].id];
    let change = s
        .call(
            Method::PUT,
            &path,
            Some(&people[0].session),
            Some(json!({"approvers": ids, "required": 1})),
        )
        .await?;
    assert_eq!(change.status, 202, "{}", change.body);
    assert_eq!(
        s.get(&path, &s.owner_key).await?.body["required"],
        2,
        "unchanged until approved"
    );
    let done = approved(&s, change, [&people[1], &people[2]]).await?;
    assert_eq!(done["status"], "executed", "{done}");
    let now = s.get(&path, &s.owner_key).await?;
    assert_eq!(now.body["required"], 1, "{}", now.body);

    // Now 1 of alice and bob: bob alone approves alice's removal of the quorum.
    let clear = s
        .call(Method::DELETE, &path, Some(&people[0].session), None)
        .await?;
    assert_eq!(clear.status, 202, "{}", clear.body);
    let id = clear.str("approval_id");
    let yes = vote(&s, &people[1].session, &id, "approve").await?;
    assert_eq!(yes.str("status"), "executed", "{}", yes.body);
    assert_eq!(s.get(&path, &s.owner_key).await?.status, 404, "no quorum");
    let again = s
        .call(Method::DELETE, &path, Some(&s.owner_key), None)
        .await?;
    assert_eq!(again.status, 404, "{}", again.body);
    Ok(())
}

#[tokio::test]
async fn a_quorum_names_owners_or_admins_and_a_reachable_count() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("rules").await?;
    let people = admins(&s, &["alice", "bob"]).await?;
    let member = s
        .user("member@example.test", "member", crate::approvals::PASSWORD)
        .await?;
    let path = format!("/v1/groups/{group}/quorum");
    let (a, b) = (&people[0].id, &people[1].id);
    for body in [
        json!({"approvers": [a, b], "required": 0}),
        json!({"approvers": [a, b], "required": 3}),
        json!({"approvers": [], "required": 1}),
        json!({"approvers": [a, a], "required": 1}),
        json!({"approvers": [a, "usr_nobody"], "required": 1}),
        json!({"approvers": [a, member], "required": 1}),
        json!({"approvers": [a, b], "required": 1, "expires_in_seconds": 10}),
    ] {
        let reply = s
            .call(Method::PUT, &path, Some(&s.owner_key), Some(body.clone()))
            .await?;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_eq!(reply.code(), "invalid_input");
    }
    assert_eq!(
        s.get(&path, &s.owner_key).await?.status,
        404,
        "nothing was set"
    );
    let ok = s
        .call(
            Method::PUT,
            &path,
            Some(&s.owner_key),
            Some(json!({"approvers": [a, b], "required": 2, "expires_in_seconds": 3600})),
        )
        .await?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["expires_in_seconds"], 3600);
    let member_reads = s.get("/v1/approvals", &people[0].session).await?;
    assert_eq!(member_reads.status, 200);
    let _ = events(
        &s,
        "group.quorum.set",
        &format!("group/{group}/quorum"),
        200,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn deleting_a_guarded_group_waits_for_its_quorum() -> TestResult {
    let s = TestServer::start().await?;
    let (group, people) = guarded_group(&s, "doomed").await?;
    let path = format!("/v1/groups/{group}");
    let asked = s
        .call(
            Method::DELETE,
            &format!("{path}?force=true"),
            Some(&s.owner_key),
            None,
        )
        .await?;
    assert_eq!(s.get(&path, &s.owner_key).await?.status, 200, "still there");
    let done = approved(&s, asked, [&people[0], &people[1]]).await?;
    assert_eq!(done["status"], "executed", "{done}");
    assert_eq!(s.get(&path, &s.owner_key).await?.status, 404, "deleted");
    Ok(())
}

#[tokio::test]
async fn a_requester_suspended_meanwhile_makes_the_approval_fail() -> TestResult {
    let s = TestServer::start().await?;
    s.ready_keyring("kept", "envelope").await?;
    let group = s.get("/v1/keyrings/kept", &s.owner_key).await?.str("group");
    let people = admins(&s, &["alice", "bob", "carol"]).await?;
    quorum(&s, &group, &[&people[0], &people[1], &people[2]], 2).await?;
    let asked = s
        .call(
            Method::DELETE,
            "/v1/keyrings/kept",
            Some(&people[0].session),
            None,
        )
        .await?;
    let suspended = s
        .patch(
            &format!("/v1/users/{}", people[0].id),
            &s.owner_key,
            json!({"suspended": true}),
        )
        .await?;
    assert_eq!(suspended.status, 200, "{}", suspended.body);
    let done = approved(&s, asked, [&people[1], &people[2]]).await?;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap_or_default()
            .contains("can no longer act"),
        "{done}"
    );
    assert_eq!(
        s.get("/v1/keyrings/kept", &s.owner_key).await?.status,
        200,
        "nothing ran"
    );
    Ok(())
}

/// Changing or unbinding an access policy waits for the quorum of the policy's group: until
/// then the policy keeps refusing, and the approved change runs as asked (a `null` removes
/// the axis it names, a field left out stays).
#[tokio::test]
async fn a_policy_is_changed_or_unbound_only_once_approved() -> TestResult {
    let s = TestServer::start().await?;
    let (group, people) = guarded_group(&s, "guarded").await?;
    let created = s
        .post(
            "/v1/secrets",
            &s.owner_key,
            json!({"name": "db", "group": group, "value": "pw"}),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.body);
    let policy = s
        .post(
            "/v1/policies",
            &s.owner_key,
            json!({"group": group, "name": "nobody-here", "sources": ["192.0.2.0/24"],
                   "rate": {"per_minute": 5}}),
        )
        .await?;
    assert_eq!(policy.status, 201, "{}", policy.body);
    let id = policy.str("id");
    let bound = s
        .call(
            Method::PUT,
            &format!("/v1/policies/{id}/bindings/secret/db"),
            Some(&s.owner_key),
            None,
        )
        .await?;
    assert!(bound.status < 300, "{}", bound.body);

    // The change waits; the policy is as it was.
    let asked = s
        .call(
            Method::PATCH,
            &format!("/v1/policies/{id}"),
            Some(&s.owner_key),
            Some(json!({"sources": null})),
        )
        .await?;
    let before = s.get(&format!("/v1/policies/{id}"), &s.owner_key).await?;
    assert!(!before.body["sources"].is_null(), "{}", before.body);
    let done = approved(&s, asked, [&people[0], &people[1]]).await?;
    assert_eq!(done["status"], "executed", "{done}");
    let after = s.get(&format!("/v1/policies/{id}"), &s.owner_key).await?;
    assert!(after.body["sources"].is_null(), "{}", after.body);
    assert_eq!(after.body["rate"]["per_minute"], 5, "{}", after.body);

    // So does the unbinding.
    let asked = s
        .call(
            Method::DELETE,
            &format!("/v1/policies/{id}/bindings/secret/db"),
            Some(&s.owner_key),
            None,
        )
        .await?;
    let bindings = s
        .get(&format!("/v1/policies/{id}/bindings"), &s.owner_key)
        .await?;
    assert_eq!(
        bindings.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        bindings.body
    );
    let done = approved(&s, asked, [&people[0], &people[1]]).await?;
    assert_eq!(done["status"], "executed", "{done}");
    let bindings = s
        .get(&format!("/v1/policies/{id}/bindings"), &s.owner_key)
        .await?;
    assert_eq!(
        bindings.body.as_array().map(Vec::len),
        Some(0),
        "{}",
        bindings.body
    );
    Ok(())
}
