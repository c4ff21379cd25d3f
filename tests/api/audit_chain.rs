//! The tamper-evident trail, checked from outside: rows of the real database file are
//! edited, deleted, inserted and swapped behind the server's back, the trail is exported
//! through the API, and `coffer audit verify` (the real binary, with only the public key)
//! names the first bad event. A clean export verifies; its checkpoint signatures also
//! verify with Python's `cryptography`, which shares no code with Coffer.

use crate::support::{TestResult, TestServer, b64};
use coffer::store::chain::{Digest, event_hash};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A keyring and `n` encrypts through it: `n` + a few events in the owner's account.
async fn busy_trail(s: &TestServer, n: usize) -> TestResult {
    let key = s.ready_keyring("trail", "envelope").await?;
    for i in 0..n {
        let r = s
            .post(
                "/v1/keyrings/trail/encrypt",
                &key,
                json!({"plaintext": b64(format!("event {i}").as_bytes())}),
            )
            .await?;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    Ok(())
}

async fn export(s: &TestServer) -> anyhow::Result<String> {
    let response = s
        .client
        .get(format!("{}/v1/activity/export", s.url))
        .bearer_auth(&s.owner_key)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/jsonl");
    Ok(response.text().await?)
}

/// The export and the public key written to files, as an operator would keep them.
async fn export_files(s: &TestServer, name: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let file = s.dir.path().join(format!("{name}.jsonl"));
    std::fs::write(&file, export(s).await?)?;
    let key = s.get("/v1/activity/signing-key", &s.owner_key).await?;
    assert_eq!(key.status, 200);
    assert_eq!(key.str("algorithm"), "ed25519");
    let pem = s.dir.path().join("checkpoints.pem");
    std::fs::write(&pem, key.str("public_key"))?;
    Ok((file, pem))
}

/// `coffer audit verify FILE --public-key PEM`: whether it passed, and what it said.
fn verify_cli(file: &Path, pem: &Path) -> anyhow::Result<(bool, String)> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["audit", "verify"])
        .arg(file)
        .arg("--public-key")
        .arg(pem)
        .env_remove("COFFER_API_KEY")
        .output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), said))
}

async fn verify_now(s: &TestServer, name: &str) -> anyhow::Result<(bool, String)> {
    let (file, pem) = export_files(s, name).await?;
    verify_cli(&file, &pem)
}

fn sqlite(s: &TestServer) -> anyhow::Result<rusqlite::Connection> {
    let path = coffer::dev::DevLayout::new(s.dir.path())?.database();
    let db = rusqlite::Connection::open(path)?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(db)
}

/// The id of the owner's account event at `position`.
fn event_id(db: &rusqlite::Connection, account: &str, position: i64) -> anyhow::Result<String> {
    Ok(db.query_row(
        "SELECT id FROM audit_events WHERE account_id = ?1 AND chain_seq = ?2",
        rusqlite::params![account, position],
        |r| r.get(0),
    )?)
}

#[tokio::test]
async fn a_clean_export_verifies_with_only_the_public_key() -> TestResult {
    let s = TestServer::start().await?;
    busy_trail(&s, 20).await?;
    let (file, pem) = export_files(&s, "clean").await?;
    let (ok, said) = verify_cli(&file, &pem)?;
    assert!(ok, "{said}");
    assert!(said.starts_with("verified: "), "{said}");

    // Positions run 1, 2, 3 … without a gap, and the export ends on a checkpoint.
    let text = std::fs::read_to_string(&file)?;
    let lines: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let positions: Vec<i64> = lines
        .iter()
        .filter(|l| l["type"] == "event")
        .map(|l| l["position"].as_i64().unwrap_or(0))
        .collect();
    assert!(positions.len() > 20);
    assert_eq!(positions, (1..=positions.len() as i64).collect::<Vec<_>>());
    let last = lines.last().expect("lines");
    assert_eq!(last["type"], "checkpoint");
    assert_eq!(last["position"], json!(positions.len()));

    // Another implementation checks every checkpoint signature over the exact message.
    let script = r#"
import base64, json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
key = load_pem_public_key(open(sys.argv[2], 'rb').read())
count = 0
for line in open(sys.argv[1]):
    line = json.loads(line)
    if line['type'] != 'checkpoint':
        continue
    message = base64.b64decode(line['message'])
    assert bytes.fromhex(line['head']) in message
    key.verify(base64.b64decode(line['signature']), message)
    count += 1
print(count)
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&file)
        .arg(&pem)
        .output()?;
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verified: u32 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
    assert!(verified >= 1);

    // A key that is not the trail's refuses every checkpoint.
    let other = s.dir.path().join("other.pem");
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    use ed25519_dalek::pkcs8::EncodePublicKey;
    std::fs::write(
        &other,
        stranger
            .verifying_key()
            .to_public_key_pem(Default::default())?,
    )?;
    let (ok, said) = verify_cli(&file, &other)?;
    assert!(!ok);
    assert!(said.contains("not signed by this key"), "{said}");
    Ok(())
}

/// Each tampering is made at an earlier position than the one before, so the verifier's
/// "first bad event" is always the newest tampering.
#[tokio::test]
async fn the_verifier_names_the_first_edited_deleted_inserted_or_swapped_event() -> TestResult {
    let s = TestServer::start_on_sqlite().await?;
    busy_trail(&s, 40).await?;
    let account = s.account_id().await?;
    let (ok, said) = verify_now(&s, "before").await?;
    assert!(ok, "{said}");
    let db = sqlite(&s)?;

    // Edited: one field of event 30.
    let edited = event_id(&db, &account, 30)?;
    db.execute(
        "UPDATE audit_events SET outcome = 'forbidden' WHERE account_id = ?1 AND chain_seq = 30",
        [&account],
    )?;
    let (ok, said) = verify_now(&s, "edited").await?;
    assert!(!ok);
    assert!(
        said.contains(&format!("event 30 ({edited}) was edited")),
        "{said}"
    );

    // Deleted: event 25 is gone; the verifier names the one that no longer links.
    db.execute(
        "DELETE FROM audit_events WHERE account_id = ?1 AND chain_seq = 25",
        [&account],
    )?;
    let after_gap = event_id(&db, &account, 26)?;
    let (ok, said) = verify_now(&s, "deleted").await?;
    assert!(!ok);
    assert!(
        said.contains(&format!(
            "events were deleted at position 25: the next event ({after_gap})"
        )),
        "{said}"
    );

    // Inserted: a forged event at position 20, with a hash computed the way Coffer does,
    // linked to event 19; the genuine events move up by one.
    let forged_id = insert_forged_event(&db, &account, 20)?;
    let (ok, said) = verify_now(&s, "inserted").await?;
    assert!(!ok);
    assert!(
        said.contains(&format!("event 20 ({forged_id}) was inserted")),
        "{said}"
    );

    // Swapped: events 10 and 11 exchange places.
    let eleventh = event_id(&db, &account, 11)?;
    swap_positions(&db, &account, 10, 11)?;
    let (ok, said) = verify_now(&s, "swapped").await?;
    assert!(!ok);
    assert!(
        said.contains(&format!("event 10 ({eleventh}) was moved")),
        "{said}"
    );
    Ok(())
}

/// Rebuilding the whole chain after an edit makes every link agree again: the checkpoint
/// signed before the edit is what catches it.
#[tokio::test]
async fn a_chain_rebuilt_after_an_edit_disagrees_with_the_earlier_checkpoint() -> TestResult {
    let s = TestServer::start_on_sqlite().await?;
    busy_trail(&s, 10).await?;
    let signed = s
        .post("/v1/activity/checkpoints", &s.owner_key, json!({}))
        .await?;
    assert_eq!(signed.status, 201, "{}", signed.body);
    let position = signed.body["position"].as_i64().unwrap_or(0);
    assert!(position > 10);
    let account = s.account_id().await?;
    let db = sqlite(&s)?;
    db.execute(
        "UPDATE audit_events SET principal = 'someone-else' WHERE account_id = ?1 AND chain_seq = 5",
        [&account],
    )?;
    rebuild_chain(&db, &account)?;
    let (ok, said) = verify_now(&s, "rebuilt").await?;
    assert!(!ok);
    assert!(
        said.contains(&format!("the checkpoint at {position} signed another head")),
        "{said}"
    );
    Ok(())
}

/// Retention deletes old events only up to a checkpoint, which then anchors the export.
#[tokio::test]
async fn pruning_keeps_the_remaining_trail_verifiable() -> TestResult {
    let clock = std::sync::Arc::new(coffer::clock::ManualClock::starting_now());
    let s = TestServer::start_with(|c| {
        c.clock = clock.clone();
        c.service.audit_retention = Some(std::time::Duration::from_secs(3600));
    })
    .await?;
    busy_trail(&s, 10).await?;
    let signed = s
        .post("/v1/activity/checkpoints", &s.owner_key, json!({}))
        .await?;
    let anchor = signed.body["position"].as_i64().unwrap_or(0);
    clock.advance(std::time::Duration::from_secs(7200));
    busy_trail_more(&s, 5).await?;
    s.service().maintain().await?;

    let text = export(&s).await?;
    let header: Value = serde_json::from_str(text.lines().next().unwrap_or("{}"))?;
    assert_eq!(header["from"], json!(anchor + 1), "{header}");
    let second: Value = serde_json::from_str(text.lines().nth(1).unwrap_or("{}"))?;
    assert_eq!(second["type"], "checkpoint");
    assert_eq!(second["position"], json!(anchor));
    let (ok, said) = verify_now(&s, "pruned").await?;
    assert!(ok, "{said}");
    Ok(())
}

async fn busy_trail_more(s: &TestServer, n: usize) -> TestResult {
    for _ in 0..n {
        let r = s.get("/v1/keyrings", &s.owner_key).await?;
        assert_eq!(r.status, 200);
    }
    Ok(())
}

/// Two nodes writing at once (on PostgreSQL, two committers) still make one gapless chain.
#[tokio::test]
async fn two_nodes_writing_at_once_make_one_verifiable_chain() -> TestResult {
    let s = TestServer::start().await?;
    let key = s.ready_keyring("shared", "envelope").await?;
    let group = s.group("made-by-both").await?;
    let node = s.node().await?;
    // Encrypts (chained by each node's committer) and keyring creations (written by the
    // mutation's own transaction, chained later), interleaved on both nodes.
    let work = |url: String, tag: &'static str| {
        let client = s.client.clone();
        let (key, owner, group) = (key.clone(), s.owner_key.clone(), group.clone());
        async move {
            for i in 0..40 {
                let request = match i % 10 {
                    0 => client
                        .post(format!("{url}/v1/keyrings"))
                        .bearer_auth(&owner)
                        .json(&json!({"name": format!("{tag}-{i}"), "group": group})),
                    _ => client
                        .post(format!("{url}/v1/keyrings/shared/encrypt"))
                        .bearer_auth(&key)
                        .json(&json!({"plaintext": b64(&[i as u8])})),
                };
                let status = request.send().await?.status().as_u16();
                assert!(status == 200 || status == 201, "{status}");
            }
            anyhow::Ok(())
        }
    };
    let (a, b) = tokio::join!(work(s.url.clone(), "here"), work(node.url.clone(), "there"));
    a?;
    b?;
    let (ok, said) = verify_now(&s, "two-nodes").await?;
    assert!(ok, "{said}");
    Ok(())
}

/// Moves the events at `position` and after up by one and inserts a forged event at
/// `position`, linked to the event before it with a correctly computed hash.
fn insert_forged_event(
    db: &rusqlite::Connection,
    account: &str,
    position: i64,
) -> anyhow::Result<String> {
    let prev: Vec<u8> = db.query_row(
        "SELECT hash FROM audit_events WHERE account_id = ?1 AND chain_seq = ?2",
        rusqlite::params![account, position - 1],
        |r| r.get(0),
    )?;
    let prev: Digest = prev.try_into().map_err(|_| anyhow::anyhow!("a hash"))?;
    db.execute(
        "UPDATE audit_events SET chain_seq = -chain_seq - 1 WHERE account_id = ?1 AND chain_seq >= ?2",
        rusqlite::params![account, position],
    )?;
    db.execute(
        "UPDATE audit_events SET chain_seq = -chain_seq WHERE account_id = ?1 AND chain_seq < 0",
        [account],
    )?;
    // The head's length too, or the server's next event would clash with the last one.
    db.execute(
        "UPDATE audit_chains SET length = length + 1 WHERE chain = ?1",
        [account],
    )?;
    let forged = coffer::audit::AuditEvent {
        id: "evt_forged".into(),
        time: 1,
        account_id: Some(account.to_owned().into()),
        principal: Some("nobody".into()),
        auth_method: coffer::store::AuthMethod::ApiKey,
        action: "keyring.decrypt".into(),
        object: Some("keyring/trail".into()),
        outcome: coffer::store::Outcome::Success,
        status: 200,
        source_ip: None,
        request_id: "req_forged".into(),
        credential: None,
        detail: None,
        identity: None,
        severity: coffer::audit::Severity::Info,
        encrypt_usage: None,
        api_key_id: None,
    };
    let hash = event_hash(&prev, &forged);
    db.execute(
        "INSERT INTO audit_events (id, time, account_id, principal, auth_method, action, object,
            outcome, status, request_id, severity, chain_seq, prev_hash, hash)
         VALUES ('evt_forged', 1, ?1, 'nobody', 'api_key', 'keyring.decrypt', 'keyring/trail',
            'success', 200, 'req_forged', 'info', ?2, ?3, ?4)",
        rusqlite::params![account, position, &prev[..], &hash[..]],
    )?;
    Ok(forged.id)
}

fn swap_positions(db: &rusqlite::Connection, account: &str, a: i64, b: i64) -> TestResult {
    for (from, to) in [(a, -1), (b, a), (-1, b)] {
        db.execute(
            "UPDATE audit_events SET chain_seq = ?3 WHERE account_id = ?1 AND chain_seq = ?2",
            rusqlite::params![account, from, to],
        )?;
    }
    Ok(())
}

/// Recomputes every hash of the account's chain from its rows and stores the new head:
/// what someone with the database but not the HSM key could do.
fn rebuild_chain(db: &rusqlite::Connection, account: &str) -> TestResult {
    let mut rows = db.prepare(
        "SELECT seq, id, time, principal, auth_method, action, object, outcome, status,
                source_ip, request_id, credential, detail, identity, severity
         FROM audit_events WHERE account_id = ?1 ORDER BY chain_seq",
    )?;
    let events: Vec<(i64, coffer::audit::AuditEvent)> = rows
        .query_map([account], |r| {
            let word = |i: usize| r.get::<_, String>(i);
            Ok((
                r.get(0)?,
                coffer::audit::AuditEvent {
                    id: r.get(1)?,
                    time: r.get(2)?,
                    account_id: Some(account.to_owned().into()),
                    principal: r.get(3)?,
                    auth_method: coffer::store::AuthMethod::parse(&word(4)?).expect("a method"),
                    action: r.get(5)?,
                    object: r.get(6)?,
                    outcome: coffer::store::Outcome::parse(&word(7)?).expect("an outcome"),
                    status: r.get(8)?,
                    source_ip: r.get(9)?,
                    request_id: r.get(10)?,
                    credential: r.get(11)?,
                    detail: r.get(12)?,
                    identity: r
                        .get::<_, Option<String>>(13)?
                        .and_then(|w| coffer::audit::Identity::parse(&w)),
                    severity: coffer::audit::Severity::parse(&word(14)?).expect("a severity"),
                    encrypt_usage: None,
                    api_key_id: None,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut prev: Digest = [0; 32];
    for (seq, event) in &events {
        let hash = event_hash(&prev, event);
        db.execute(
            "UPDATE audit_events SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![&prev[..], &hash[..], seq],
        )?;
        prev = hash;
    }
    db.execute(
        "UPDATE audit_chains SET head = ?1 WHERE chain = ?2",
        rusqlite::params![&prev[..], account],
    )?;
    Ok(())
}
