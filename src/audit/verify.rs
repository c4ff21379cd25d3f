//! The offline verifier of an exported trail: it needs only the export and the public key
//! the operator trusts, and names the first event that was edited, deleted, inserted or
//! moved, or the checkpoint a rebuilt chain no longer matches.
//!
//! Checks, in order of the lines: every checkpoint's signature and that its message says
//! what its fields say; every event's hash over its own fields and its `prev_hash`; that each
//! event links to the one before it (the anchor checkpoint's head for the first); that every
//! checkpoint's head is the hash of the event at its position; that the export ends on a
//! checkpoint at the header's last position.

use super::export::{CheckpointLine, EventLine, FORMAT, Header, Line, parse_digest};
use crate::crypto::asym::{EcdsaEncoding, PublicKey, SignatureScheme};
use crate::store::chain::{Digest, GENESIS, checkpoint_message, event_hash};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::collections::HashMap;

/// What is wrong with a trail, at the first place it goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A line that is not part of the format.
    Malformed { line: usize, reason: String },
    /// The event's fields no longer give its hash.
    Edited { position: i64, id: String },
    /// Events are missing before this one.
    Deleted { position: i64, id: String },
    /// This event (and any up to the next genuine one) is not part of the chain.
    Inserted { position: i64, id: String },
    /// This event belongs later in the chain.
    Reordered { position: i64, id: String },
    /// A checkpoint's signature does not verify with the key.
    BadSignature { position: i64 },
    /// The events up to a checkpoint hash to another head than it signed: an event after
    /// the previous checkpoint was changed and the chain rebuilt.
    Rewritten { after: i64, position: i64 },
    /// The export stops before its last signed position.
    Truncated { expected: i64, last: i64 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Malformed { line, reason } => write!(f, "line {line} is malformed: {reason}"),
            Problem::Edited { position, id } => write!(
                f,
                "event {position} ({id}) was edited: its fields do not give its hash"
            ),
            Problem::Deleted { position, id } => write!(
                f,
                "events were deleted at position {position}: the next event ({id}) does not follow the one before it"
            ),
            Problem::Inserted { position, id } => write!(
                f,
                "event {position} ({id}) was inserted: it is not part of the chain"
            ),
            Problem::Reordered { position, id } => write!(
                f,
                "event {position} ({id}) was moved: it belongs later in the chain"
            ),
            Problem::BadSignature { position } => write!(
                f,
                "the checkpoint at position {position} is not signed by this key"
            ),
            Problem::Rewritten { after, position } => write!(
                f,
                "an event between positions {} and {position} was changed and the chain rebuilt: the checkpoint at {position} signed another head",
                after + 1
            ),
            Problem::Truncated { expected, last } => write!(
                f,
                "the export ends at position {last}, before its signed end {expected}"
            ),
        }
    }
}

/// What a clean trail proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub chain: String,
    pub from: i64,
    pub to: i64,
    pub events: u64,
    pub checkpoints: u64,
}

/// The verifier's state between lines.
struct Walk<'k> {
    key: &'k PublicKey,
    header: Option<Header>,
    /// Hash and position of the last event, or of the anchor before the first.
    prev: Digest,
    position: i64,
    /// The hash and id of the event at each position seen so far.
    seen: HashMap<i64, (Digest, String)>,
    /// Where each event hash of the whole export appears (line index).
    later: HashMap<Digest, usize>,
    last_signed: i64,
    events: u64,
    checkpoints: u64,
}

/// Verifies an export (its lines, in order) against `key`.
pub fn verify(text: &str, key: &PublicKey) -> Result<Verified, Problem> {
    let lines = parse(text)?;
    let later = lines
        .iter()
        .enumerate()
        .filter_map(|(i, (_, line))| match line {
            Line::Event(e) => parse_digest(&e.hash).map(|h| (h, i)),
            _ => None,
        })
        .collect();
    let mut walk = Walk {
        key,
        header: None,
        prev: GENESIS,
        position: 0,
        seen: HashMap::new(),
        later,
        last_signed: 0,
        events: 0,
        checkpoints: 0,
    };
    for (index, (number, line)) in lines.iter().enumerate() {
        match line {
            Line::Header(h) => walk.header(*number, h)?,
            Line::Checkpoint(c) => walk.checkpoint(*number, c)?,
            Line::Event(e) => walk.event(index, *number, e)?,
        }
    }
    walk.finish()
}

fn parse(text: &str) -> Result<Vec<(usize, Line)>, Problem> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map(|line| (i + 1, line))
                .map_err(|e| Problem::Malformed {
                    line: i + 1,
                    reason: e.to_string(),
                })
        })
        .collect()
}

fn malformed(line: usize, reason: &str) -> Problem {
    Problem::Malformed {
        line,
        reason: reason.to_owned(),
    }
}

impl Walk<'_> {
    fn header(&mut self, number: usize, h: &Header) -> Result<(), Problem> {
        if self.header.is_some() || h.format != FORMAT {
            return Err(malformed(
                number,
                "expected one header of format coffer-audit-export/1",
            ));
        }
        self.position = h.from - 1;
        self.header = Some(Header {
            format: h.format.clone(),
            chain: h.chain.clone(),
            from: h.from,
            to: h.to,
            signing_key_id: h.signing_key_id.clone(),
            algorithm: h.algorithm.clone(),
            public_key: h.public_key.clone(),
        });
        Ok(())
    }

    fn chain(&self, number: usize) -> Result<&Header, Problem> {
        self.header
            .as_ref()
            .ok_or_else(|| malformed(number, "the header must come first"))
    }

    fn checkpoint(&mut self, number: usize, c: &CheckpointLine) -> Result<(), Problem> {
        let chain = self.chain(number)?.chain.clone();
        let head =
            parse_digest(&c.head).ok_or_else(|| malformed(number, "head is not a hex SHA-256"))?;
        let expected = checkpoint_message(&chain, c.position, &head, c.time);
        let (Ok(message), Ok(signature)) = (B64.decode(&c.message), B64.decode(&c.signature))
        else {
            return Err(malformed(number, "message and signature must be base64"));
        };
        if c.chain != chain || message != expected {
            return Err(malformed(
                number,
                "the signed message does not match the checkpoint's fields",
            ));
        }
        if !self.key.verify(
            SignatureScheme::Ed25519,
            &message,
            &signature,
            EcdsaEncoding::Der,
        ) {
            return Err(Problem::BadSignature {
                position: c.position,
            });
        }
        self.checkpoints += 1;
        if self.events == 0 && c.position == self.position {
            // The anchor: the head the first exported event follows.
            self.prev = head;
        } else if self.seen.get(&c.position).map(|(h, _)| *h) != Some(head) {
            return Err(Problem::Rewritten {
                after: self.last_signed,
                position: c.position,
            });
        }
        self.last_signed = c.position;
        Ok(())
    }

    fn event(&mut self, index: usize, number: usize, e: &EventLine) -> Result<(), Problem> {
        self.chain(number)?;
        let (Some(prev), Some(hash)) = (parse_digest(&e.prev_hash), parse_digest(&e.hash)) else {
            return Err(malformed(number, "prev_hash and hash must be hex SHA-256"));
        };
        let fields = e
            .event
            .to_event()
            .ok_or_else(|| malformed(number, "an unknown word in the event"))?;
        let id = e.event.id.clone();
        let position = self.position + 1;
        if prev != self.prev {
            return Err(self.broken_link(index, position, prev, id));
        }
        if event_hash(&prev, &fields) != hash {
            return Err(Problem::Edited { position, id });
        }
        if e.position != position {
            return Err(Problem::Reordered { position, id });
        }
        self.prev = hash;
        self.position = position;
        self.seen.insert(position, (hash, id));
        self.events += 1;
        Ok(())
    }

    /// Why an event does not follow the one before it.
    fn broken_link(&self, index: usize, position: i64, prev: Digest, id: String) -> Problem {
        let follows = self.seen.iter().find(|(_, (h, _))| *h == prev);
        if let Some((earlier, _)) = follows {
            // It follows an earlier event: what came between was not part of the chain.
            let first = earlier + 1;
            let id = self
                .seen
                .get(&first)
                .map_or(id, |(_, inserted)| inserted.clone());
            return Problem::Inserted {
                position: first,
                id,
            };
        }
        match self.later.get(&prev) {
            Some(at) if *at > index => Problem::Reordered { position, id },
            _ => Problem::Deleted { position, id },
        }
    }

    fn finish(self) -> Result<Verified, Problem> {
        let header = self.header.ok_or_else(|| malformed(1, "no header"))?;
        if self.position != header.to || self.last_signed != header.to {
            return Err(Problem::Truncated {
                expected: header.to,
                last: self.position.min(self.last_signed),
            });
        }
        Ok(Verified {
            chain: header.chain,
            from: header.from,
            to: header.to,
            events: self.events,
            checkpoints: self.checkpoints,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::export::{self, EventFields};
    use crate::store::chain::Heads;
    use crate::store::{AuditEvent, AuthMethod, CheckpointRow, Outcome, Severity};
    use ed25519_dalek::Signer;
    use ed25519_dalek::pkcs8::EncodePublicKey;

    const CHAIN: &str = "acc_test";

    fn event(n: usize) -> AuditEvent {
        AuditEvent {
            id: format!("evt_{n}"),
            time: n as i64,
            account_id: Some(CHAIN.to_owned().into()),
            principal: Some("app_1".into()),
            auth_method: AuthMethod::ApiKey,
            action: "keyring.encrypt".into(),
            object: Some("keyring/r".into()),
            outcome: Outcome::Success,
            status: 200,
            source_ip: None,
            request_id: format!("req_{n}"),
            credential: None,
            detail: None,
            identity: None,
            severity: Severity::Info,
            encrypt_usage: None,
            api_key_id: None,
        }
    }

    /// An export of `n` events with checkpoints at `signed` positions (and at `n`), as lines.
    fn export_lines(n: usize, signed: &[i64], key: &ed25519_dalek::SigningKey) -> Vec<Line> {
        let mut heads = Heads::default();
        let mut lines = vec![Line::Header(Header {
            format: FORMAT.into(),
            chain: CHAIN.into(),
            from: 1,
            to: n as i64,
            signing_key_id: "ack_1".into(),
            algorithm: "ed25519".into(),
            public_key: String::new(),
        })];
        for i in 1..=n {
            let e = event(i);
            let link = heads.link(&e);
            lines.push(Line::Event(Box::new(EventLine::new(&e, &link))));
            if signed.contains(&link.position) || i == n {
                let message = checkpoint_message(CHAIN, link.position, &link.hash, 7);
                let row = CheckpointRow {
                    chain: CHAIN.into(),
                    position: link.position,
                    head: link.hash,
                    time: 7,
                    key_id: "ack_1".into(),
                    signature: key.sign(&message).to_bytes().to_vec(),
                };
                lines.push(Line::Checkpoint(CheckpointLine::from(&row)));
            }
        }
        lines
    }

    fn text(lines: &[Line]) -> String {
        lines.iter().map(export::to_line).collect()
    }

    fn keys() -> (ed25519_dalek::SigningKey, PublicKey) {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let pem = signing
            .verifying_key()
            .to_public_key_pem(Default::default())
            .expect("a PEM");
        let public = PublicKey::from_pem_or_der(pem.as_bytes()).expect("a key");
        (signing, public)
    }

    fn event_at(lines: &mut [Line], position: i64) -> &mut EventLine {
        lines
            .iter_mut()
            .find_map(|l| match l {
                Line::Event(e) if e.position == position => Some(&mut **e),
                _ => None,
            })
            .expect("the event")
    }

    #[test]
    fn a_clean_export_verifies_and_says_what_it_covered() {
        let (signing, public) = keys();
        let verified = verify(&text(&export_lines(6, &[3], &signing)), &public).expect("clean");
        assert_eq!((verified.from, verified.to, verified.events), (1, 6, 6));
        assert_eq!(verified.checkpoints, 2);
    }

    #[test]
    fn each_kind_of_tampering_is_named_at_its_event() {
        let (signing, public) = keys();
        let mut edited = export_lines(6, &[], &signing);
        event_at(&mut edited, 4).event.status = 403;
        assert_eq!(
            verify(&text(&edited), &public),
            Err(Problem::Edited {
                position: 4,
                id: "evt_4".into()
            })
        );

        let mut deleted = export_lines(6, &[], &signing);
        deleted.retain(|l| !matches!(l, Line::Event(e) if e.position == 3));
        assert_eq!(
            verify(&text(&deleted), &public),
            Err(Problem::Deleted {
                position: 3,
                id: "evt_4".into()
            })
        );

        let mut truncated = export_lines(6, &[2], &signing);
        truncated.truncate(5);
        assert!(matches!(
            verify(&text(&truncated), &public),
            Err(Problem::Truncated { expected: 6, .. })
        ));
    }

    #[test]
    fn a_forged_or_foreign_signature_is_refused() {
        let (signing, public) = keys();
        let other = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        let lines = export_lines(3, &[], &other);
        assert_eq!(
            verify(&text(&lines), &public),
            Err(Problem::BadSignature { position: 3 })
        );
        let mut lines = export_lines(3, &[], &signing);
        if let Some(Line::Checkpoint(c)) = lines.last_mut() {
            c.time += 1;
        }
        assert!(matches!(
            verify(&text(&lines), &public),
            Err(Problem::Malformed { .. })
        ));
        let fields: EventFields = serde_json::from_str(
            &serde_json::to_string(&event_at(&mut export_lines(1, &[], &signing), 1).event)
                .expect("json"),
        )
        .expect("fields");
        assert!(fields.to_event().is_some());
    }
}
