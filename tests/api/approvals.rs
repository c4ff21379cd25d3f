//! Quorum approval of dangerous operations (docs/approvals.md): a keyring deletion under a
//! 2-of-3 quorum runs once, after the second approval, as the requester; never after a
//! deny or past its expiry; and once only when the last two votes race. The other gated
//! operations are in `approval_operations.rs`.

use crate::support::{TestResult, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";

/// An approver: a signed-in admin of the account.
pub struct Person {
    pub id: String,
    pub session: String,
}

/// Admins of the account, each signed in.
pub async fn admins(s: &TestServer, names: &[&str]) -> anyhow::Result<Vec<Person>> {
    let account = s.account_id().await?;
    let mut people = Vec::new();
    for name in names {
        let email = format!("{name}@example.test");
        let id = s.user(&email, "admin", PASSWORD).await?;
        let login = s.login(&email, PASSWORD, &account).await?;
        anyhow::ensure!(login.status == 201, "login: {}", login.body);
        people.push(Person {
            id,
            session: login.str("session_token"),
        });
    }
    Ok(people)
}

/// Puts `required` of `approvers` on `group` as the owner (no quorum yet: 200).
pub async fn quorum(
    s: &TestServer,
    group: &str,
    approvers: &[&Person],
    required: u32,
) -> TestResult {
    quorum_expiring(s, group, approvers, required, 86400).await
}

/// [`quorum`] whose approvals wait `expires` seconds.
pub async fn quorum_expiring(
    s: &TestServer,
    group: &str,
    approvers: &[&Person],
    required: u32,
    expires: u64,
) -> TestResult {
    let ids: Vec<&str> = approvers.iter().map(|p| p.id.as_str()).collect();
    let reply = s
        .call(
            Method::PUT,
            &format!("/v1/groups/{group}/quorum"),
            Some(&s.owner_key),
            Some(json!({"approvers": ids, "required": required, "expires_in_seconds": expires})),
        )
        .await?;
    anyhow::ensure!(
        reply.status == 200,
        "quorum: {} {}",
        reply.status,
        reply.body
    );
    Ok(())
}

/// A vote: `approve` or `deny`, by the holder of `credential`.
pub async fn vote(
    s: &TestServer,
    credential: &str,
    id: &str,
    how: &str,
) -> anyhow::Result<crate::support::Reply> {
    let body = (how == "deny").then(|| json!({"reason": "not today"}));
    s.call(
        Method::POST,
        &format!("/v1/approvals/{id}/{how}"),
        Some(credential),
        body,
    )
    .await
}

/// The account's events of `action` on `object` with `status`.
pub async fn events(
    s: &TestServer,
    action: &str,
    object: &str,
    status: u64,
) -> anyhow::Result<Vec<Value>> {
    let reply = s
        .get(
            &format!("/v1/activity?action={action}&object={object}"),
            &s.owner_key,
        )
        .await?;
    anyhow::ensure!(reply.status == 200, "activity: {}", reply.body);
    Ok(reply.body["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["status"] == status)
        .collect())
}

/// A keyring `ring` in a new group with a 2-of-3 quorum of three admins; answers the group,
/// an app key that encrypts there, and the approvers.
async fn guarded_keyring(
    s: &TestServer,
    ring: &str,
) -> anyhow::Result<(String, String, Vec<Person>)> {
    guarded_keyring_expiring(s, ring, 86400).await
}

async fn guarded_keyring_expiring(
    s: &TestServer,
    ring: &str,
    expires: u64,
) -> anyhow::Result<(String, String, Vec<Person>)> {
    let key = s.ready_keyring(ring, "envelope").await?;
    let group = s
        .get(&format!("/v1/keyrings/{ring}"), &s.owner_key)
        .await?
        .str("group");
    let people = admins(s, &["alice", "bob", "carol"]).await?;
    quorum_expiring(s, &group, &[&people[0], &people[1], &people[2]], 2, expires).await?;
    Ok((group, key, people))
}

async fn encrypts(s: &TestServer, key: &str, ring: &str) -> anyhow::Result<u16> {
    let reply = s
        .post(
            &format!("/v1/keyrings/{ring}/encrypt"),
            key,
            json!({"plaintext": "aGk="}),
        )
        .await?;
    Ok(reply.status)
}

async fn delete_keyring(
    s: &TestServer,
    credential: &str,
    ring: &str,
) -> anyhow::Result<crate::support::Reply> {
    s.call(
        Method::DELETE,
        &format!("/v1/keyrings/{ring}"),
        Some(credential),
        None,
    )
    .await
}

#[tokio::test]
async fn a_two_of_three_delete_runs_once_after_the_second_approval() -> TestResult {
    let s = TestServer::start().await?;
    let (_, key, people) = guarded_keyring(&s, "payments").await?;
    let [alice, bob, carol] = [&people[0], &people[1], &people[2]];

    let asked = delete_keyring(&s, &alice.session, "payments").await?;
    assert_eq!(asked.status, 202, "{}", asked.body);
    assert_eq!(asked.str("status"), "pending");
    assert_eq!(asked.str("operation"), "keyring.delete");
    assert_eq!(asked.str("target"), "keyring/payments");
    assert_eq!(asked.body["required"], 2);
    assert_eq!(asked.body["approvals"], json!([]));
    assert!(!asked.str("expires_at").is_empty());
    let id = asked.str("approval_id");
    assert_eq!(
        encrypts(&s, &key, "payments").await?,
        200,
        "the keyring still works"
    );

    let own = vote(&s, &alice.session, &id, "approve").await?;
    assert_eq!(own.status, 403, "{}", own.body);
    assert!(
        own.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("you asked")
    );
    let outsider = vote(&s, &s.owner_key, &id, "approve").await?;
    assert_eq!(
        outsider.status, 403,
        "the owner is no approver: {}",
        outsider.body
    );

    let first = vote(&s, &bob.session, &id, "approve").await?;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.str("status"), "pending");
    assert_eq!(first.body["approvals"][0]["user_id"], json!(bob.id));
    assert_eq!(
        encrypts(&s, &key, "payments").await?,
        200,
        "one approval is not enough"
    );
    let again = vote(&s, &bob.session, &id, "approve").await?;
    assert_eq!(again.status, 409, "a vote counts once: {}", again.body);

    let second = vote(&s, &carol.session, &id, "approve").await?;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.str("status"), "executed", "{}", second.body);
    let gone = s.get("/v1/keyrings/payments", &s.owner_key).await?;
    assert_eq!(gone.status, 404, "deleted: {}", gone.body);

    let late = vote(&s, &bob.session, &id, "approve").await?;
    assert_eq!(late.status, 409, "{}", late.body);
    let deletions = events(&s, "keyring.delete", "keyring/payments", 204).await?;
    assert_eq!(deletions.len(), 1, "one deletion: {deletions:?}");
    assert_eq!(
        deletions[0]["principal"],
        json!(alice.id),
        "run as the requester"
    );
    assert!(
        deletions[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(&id)
    );
    let requests = events(&s, "keyring.delete", "keyring/payments", 202).await?;
    assert_eq!(requests.len(), 1, "the request is audited: {requests:?}");
    let shown = s.get(&format!("/v1/approvals/{id}"), &bob.session).await?;
    assert_eq!(shown.str("status"), "executed");
    assert_eq!(shown.body["approvals"].as_array().map(Vec::len), Some(2));
    Ok(())
}

#[tokio::test]
async fn a_deny_ends_the_approval_and_nothing_runs() -> TestResult {
    let s = TestServer::start().await?;
    let (_, key, people) = guarded_keyring(&s, "orders").await?;
    let asked = delete_keyring(&s, &s.owner_key, "orders").await?;
    assert_eq!(asked.status, 202, "{}", asked.body);
    let id = asked.str("approval_id");

    let yes = vote(&s, &people[0].session, &id, "approve").await?;
    assert_eq!(yes.str("status"), "pending");
    let no = vote(&s, &people[1].session, &id, "deny").await?;
    assert_eq!(no.status, 200, "{}", no.body);
    assert_eq!(no.str("status"), "denied");
    assert_eq!(no.body["denial"]["reason"], "not today");
    let late = vote(&s, &people[2].session, &id, "approve").await?;
    assert_eq!(late.status, 409, "{}", late.body);
    assert_eq!(encrypts(&s, &key, "orders").await?, 200, "nothing ran");
    assert!(
        events(&s, "keyring.delete", "keyring/orders", 204)
            .await?
            .is_empty()
    );
    let denied = s.get("/v1/approvals?status=denied", &s.owner_key).await?;
    assert_eq!(
        denied.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        denied.body
    );
    Ok(())
}

#[tokio::test]
async fn an_expired_approval_takes_no_votes_and_leaves_the_object() -> TestResult {
    let clock = std::sync::Arc::new(coffer::clock::ManualClock::starting_now());
    let shared = clock.clone();
    let s = TestServer::start_with(move |config| {
        config.clock = shared;
        config.maintenance_every = std::time::Duration::from_millis(100);
    })
    .await?;
    // Ten minutes: well within the approvers' sessions.
    let (_, key, people) = guarded_keyring_expiring(&s, "ledger", 600).await?;
    let asked = delete_keyring(&s, &s.owner_key, "ledger").await?;
    assert_eq!(asked.status, 202, "{}", asked.body);
    let id = asked.str("approval_id");
    vote(&s, &people[0].session, &id, "approve").await?;

    clock.advance(std::time::Duration::from_secs(601));
    let late = vote(&s, &people[1].session, &id, "approve").await?;
    assert_eq!(late.status, 409, "{}", late.body);
    assert!(
        late.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired")
    );
    assert_eq!(
        encrypts(&s, &key, "ledger").await?,
        200,
        "the keyring is intact"
    );
    // Maintenance marks it, with an event.
    let mut marked = Vec::new();
    for _ in 0..50 {
        marked = events(&s, "approval.expire", &format!("approval/{id}"), 200).await?;
        if !marked.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(marked.len(), 1, "expiry is audited");
    let shown = s.get(&format!("/v1/approvals/{id}"), &s.owner_key).await?;
    assert_eq!(shown.str("status"), "expired");
    let listed = s.get("/v1/approvals?status=expired", &s.owner_key).await?;
    assert_eq!(listed.body[0]["approval_id"], json!(id));
    Ok(())
}

#[tokio::test]
async fn two_racing_last_votes_run_the_operation_once() -> TestResult {
    let s = TestServer::start().await?;
    let (_, _, people) = guarded_keyring(&s, "racing").await?;
    let asked = delete_keyring(&s, &s.owner_key, "racing").await?;
    let id = asked.str("approval_id");
    vote(&s, &people[0].session, &id, "approve").await?;

    let (bob, carol) = tokio::join!(
        vote(&s, &people[1].session, &id, "approve"),
        vote(&s, &people[2].session, &id, "approve"),
    );
    let mut statuses = [bob?, carol?].map(|r| (r.status, r.str("status")));
    statuses.sort();
    assert_eq!(
        statuses,
        [(200, "executed".to_owned()), (409, String::new())]
    );
    let deletions = events(&s, "keyring.delete", "keyring/racing", 204).await?;
    assert_eq!(deletions.len(), 1, "{deletions:?}");
    let executions = events(&s, "approval.execute", &format!("approval/{id}"), 200).await?;
    assert_eq!(executions.len(), 1, "{executions:?}");
    Ok(())
}

#[tokio::test]
async fn a_group_without_a_quorum_deletes_at_once() -> TestResult {
    let s = TestServer::start().await?;
    s.ready_keyring("plain", "envelope").await?;
    let reply = delete_keyring(&s, &s.owner_key, "plain").await?;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let none = s.get("/v1/approvals", &s.owner_key).await?;
    assert_eq!(none.body, json!([]));
    Ok(())
}
