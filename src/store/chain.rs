//! The audit trail's hash chain: how an event is encoded and hashed, how a batch of events is
//! linked to the heads of their chains, and what a checkpoint signs.
//!
//! Every account has one chain; events that name no account share the system chain `-`.
//! An event's hash is SHA-256 over a domain tag, the previous event's hash and the event's
//! canonical encoding (every field, in a fixed order, length-prefixed), so editing any field,
//! deleting an event, inserting one or swapping two breaks a link that anyone holding the
//! events can recompute. The position (`chain_seq`) is not hashed: it only orders the export,
//! and a moved event is caught by its `prev_hash`. A checkpoint binds a position to a head
//! with a signature by a key in the HSM, so a chain rebuilt from scratch after an edit
//! still disagrees with the checkpoints signed before it.
//!
//! A leaf, like `store::audit`: the committer's writers (in the store) and the offline
//! verifier (`crate::audit::verify`) both use it.

use super::AuditEvent;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// The `prev_hash` of a chain's first event.
pub const GENESIS: Digest = [0; 32];

/// The chain of events that name no account.
pub const SYSTEM_CHAIN: &str = "-";

const EVENT_TAG: &[u8] = b"coffer-audit-event-v1\0";
const CHECKPOINT_TAG: &[u8] = b"coffer-audit-checkpoint-v1\0";

/// The chain an event belongs to: its account's, or the system chain.
pub fn chain_of(account_id: Option<&str>) -> &str {
    account_id.unwrap_or(SYSTEM_CHAIN)
}

/// An event's place in its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// 1 for the chain's first event, then +1 per event, without gaps.
    pub position: i64,
    pub prev_hash: Digest,
    pub hash: Digest,
}

/// The hash of `event` when it follows the event whose hash is `prev_hash`.
pub fn event_hash(prev_hash: &Digest, event: &AuditEvent) -> Digest {
    let mut h = Sha256::new();
    h.update(EVENT_TAG);
    h.update(prev_hash);
    let texts = [
        Some(event.id.as_str()),
        event.account_id.as_deref(),
        event.principal.as_deref(),
        Some(event.auth_method.as_str()),
        Some(event.action.as_str()),
        event.object.as_deref(),
        Some(event.outcome.as_str()),
        event.source_ip.as_deref(),
        Some(event.request_id.as_str()),
        event.credential.as_deref(),
        event.detail.as_deref(),
        event.identity.map(|i| i.as_str()),
        Some(event.severity.as_str()),
    ];
    h.update(event.time.to_be_bytes());
    h.update(i64::from(event.status).to_be_bytes());
    for text in texts {
        put_text(&mut h, text);
    }
    h.finalize().into()
}

/// A text field: absent and empty stay distinct, and no two field lists share an encoding.
fn put_text(h: &mut Sha256, text: Option<&str>) {
    match text {
        None => h.update([0u8]),
        Some(text) => {
            h.update([1u8]);
            h.update((text.len() as u64).to_be_bytes());
            h.update(text.as_bytes());
        }
    }
}

/// The bytes a checkpoint's signature covers: the chain, its length, its head and the time.
pub fn checkpoint_message(chain: &str, position: i64, head: &Digest, time: i64) -> Vec<u8> {
    let mut message = Vec::with_capacity(CHECKPOINT_TAG.len() + chain.len() + 56);
    message.extend_from_slice(CHECKPOINT_TAG);
    message.extend_from_slice(&(chain.len() as u64).to_be_bytes());
    message.extend_from_slice(chain.as_bytes());
    message.extend_from_slice(&position.to_be_bytes());
    message.extend_from_slice(head);
    message.extend_from_slice(&time.to_be_bytes());
    message
}

/// The heads of the chains a writer's transaction touches, advanced as it links events.
/// Loaded (and, on PostgreSQL, locked) from `audit_chains` before linking; written back
/// after.
#[derive(Debug, Default)]
pub struct Heads {
    heads: HashMap<String, (i64, Digest)>,
}

impl Heads {
    /// Starts from the stored heads; a chain not among them starts empty.
    pub fn new(stored: impl IntoIterator<Item = (String, i64, Digest)>) -> Self {
        Self {
            heads: stored
                .into_iter()
                .map(|(chain, length, head)| (chain, (length, head)))
                .collect(),
        }
    }

    /// Links `event` after the current head of its chain and advances the head.
    pub fn link(&mut self, event: &AuditEvent) -> Link {
        let chain = chain_of(event.account_id.as_deref());
        let (length, head) = self.heads.entry(chain.to_owned()).or_insert((0, GENESIS));
        let link = Link {
            position: *length + 1,
            prev_hash: *head,
            hash: event_hash(head, event),
        };
        *length = link.position;
        *head = link.hash;
        link
    }

    /// The heads as they now stand, sorted by chain (a fixed order, so two writers never
    /// lock them crosswise).
    pub fn into_sorted(self) -> Vec<(String, i64, Digest)> {
        let mut heads: Vec<_> = self
            .heads
            .into_iter()
            .map(|(chain, (length, head))| (chain, length, head))
            .collect();
        heads.sort_by(|a, b| a.0.cmp(&b.0));
        heads
    }
}

/// The distinct chains of `events`, sorted.
pub fn chains_of<'e>(events: impl IntoIterator<Item = &'e AuditEvent>) -> Vec<String> {
    let mut chains: Vec<String> = events
        .into_iter()
        .map(|e| chain_of(e.account_id.as_deref()).to_owned())
        .collect();
    chains.sort();
    chains.dedup();
    chains
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuthMethod, Outcome, Severity};

    fn event(account: Option<&str>, id: &str) -> AuditEvent {
        AuditEvent {
            id: id.into(),
            time: 1,
            account_id: account.map(|a| a.to_owned().into()),
            principal: None,
            auth_method: AuthMethod::None,
            action: "keyring.encrypt".into(),
            object: None,
            outcome: Outcome::Success,
            status: 200,
            source_ip: None,
            request_id: "req".into(),
            credential: None,
            detail: None,
            identity: None,
            severity: Severity::Info,
            encrypt_usage: None,
            api_key_id: None,
        }
    }

    #[test]
    fn each_chain_counts_and_links_its_own_events() {
        let mut heads = Heads::new([("acc_a".to_owned(), 7, [9; 32])]);
        let a8 = heads.link(&event(Some("acc_a"), "e1"));
        let b1 = heads.link(&event(Some("acc_b"), "e2"));
        let a9 = heads.link(&event(Some("acc_a"), "e3"));
        let s1 = heads.link(&event(None, "e4"));
        assert_eq!((a8.position, a8.prev_hash), (8, [9; 32]));
        assert_eq!((b1.position, b1.prev_hash), (1, GENESIS));
        assert_eq!((a9.position, a9.prev_hash), (9, a8.hash));
        assert_eq!(s1.position, 1);
        let sorted = heads.into_sorted();
        let names: Vec<_> = sorted.iter().map(|h| h.0.as_str()).collect();
        assert_eq!(names, ["-", "acc_a", "acc_b"]);
        assert_eq!(sorted[1], ("acc_a".to_owned(), 9, a9.hash));
    }

    #[test]
    fn every_field_and_the_previous_hash_change_the_hash() {
        let base = event(Some("acc"), "e1");
        let h = event_hash(&GENESIS, &base);
        assert_ne!(h, event_hash(&[1; 32], &base));
        let mut changed = base.clone();
        changed.detail = Some(String::new());
        assert_ne!(h, event_hash(&GENESIS, &changed), "absent and empty differ");
        let mut changed = base.clone();
        changed.status = 403;
        assert_ne!(h, event_hash(&GENESIS, &changed));
        let mut moved = base.clone();
        moved.principal = Some("ab".into());
        moved.object = Some("c".into());
        let mut other = base;
        other.principal = Some("a".into());
        other.object = Some("bc".into());
        assert_ne!(event_hash(&GENESIS, &moved), event_hash(&GENESIS, &other));
    }
}
