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
