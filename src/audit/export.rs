//! The export format of the trail, one JSON object per line, shared by the server that
//! writes it and the offline verifier that reads it (`coffer audit verify`).
//!
//! Lines, in order: one `header`; the `checkpoint` that anchors the first event when older
//! events were pruned; then each `event` in chain order, each followed by the `checkpoint`s
//! signed at its position. The last line is the checkpoint signed for the export. Events
//! carry every hashed field exactly as hashed (times in Unix microseconds), so a verifier
//! recomputes each hash from the line alone.

use crate::store::chain::{Digest, Link, checkpoint_message};
use crate::store::{AuditEvent, AuthMethod, CheckpointRow, Identity, Outcome, Severity};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// The `format` of the header line.
pub const FORMAT: &str = "coffer-audit-export/1";

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Header(Header),
    Event(Box<EventLine>),
    Checkpoint(CheckpointLine),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    /// The account id whose chain this is.
    pub chain: String,
    /// Positions of the first and last exported events.
    pub from: i64,
    pub to: i64,
    pub signing_key_id: String,
    pub algorithm: String,
    /// For convenience only: a verifier takes the key it trusts from elsewhere.
    pub public_key: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLine {
    pub position: i64,
    /// Hex SHA-256.
    pub prev_hash: String,
    pub hash: String,
    pub event: EventFields,
}

/// An event's hashed fields, as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFields {
    pub id: String,
    /// Unix microseconds.
    pub time: i64,
    pub account_id: Option<String>,
    pub principal: Option<String>,
    pub auth_method: String,
    pub action: String,
    pub object: Option<String>,
    pub outcome: String,
    pub status: u16,
    pub source_ip: Option<String>,
    pub request_id: String,
    pub credential: Option<String>,
    pub detail: Option<String>,
    pub identity: Option<String>,
    pub severity: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointLine {
    pub chain: String,
    pub position: i64,
    /// Hex SHA-256: the hash of the event at `position`.
    pub head: String,
    /// Unix microseconds.
    pub time: i64,
    pub key_id: String,
    /// Base64 of the exact bytes signed (see `store::chain::checkpoint_message`), so any
    /// Ed25519 implementation can check the signature without this code.
    pub message: String,
    /// Base64 Ed25519 signature over `message`.
    pub signature: String,
}

impl EventLine {
    /// The line of a chained event.
    pub fn new(event: &AuditEvent, link: &Link) -> Self {
        Self {
            position: link.position,
            prev_hash: hex::encode(link.prev_hash),
            hash: hex::encode(link.hash),
            event: EventFields::from(event),
        }
    }
}

impl From<&AuditEvent> for EventFields {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.clone(),
            time: e.time,
            account_id: e.account_id.as_ref().map(ToString::to_string),
            principal: e.principal.clone(),
            auth_method: e.auth_method.as_str().to_owned(),
            action: e.action.clone(),
            object: e.object.clone(),
            outcome: e.outcome.as_str().to_owned(),
            status: e.status,
            source_ip: e.source_ip.clone(),
            request_id: e.request_id.clone(),
            credential: e.credential.clone(),
            detail: e.detail.clone(),
            identity: e.identity.map(|i| i.as_str().to_owned()),
            severity: e.severity.as_str().to_owned(),
        }
    }
}

impl EventFields {
    /// The event these fields describe; `None` when a word is not one Coffer writes.
    pub fn to_event(&self) -> Option<AuditEvent> {
        Some(AuditEvent {
            id: self.id.clone(),
            time: self.time,
            account_id: self.account_id.clone().map(Into::into),
            principal: self.principal.clone(),
            auth_method: AuthMethod::parse(&self.auth_method)?,
            action: self.action.clone(),
            object: self.object.clone(),
            outcome: Outcome::parse(&self.outcome)?,
            status: self.status,
            source_ip: self.source_ip.clone(),
            request_id: self.request_id.clone(),
            credential: self.credential.clone(),
            detail: self.detail.clone(),
            identity: match &self.identity {
                None => None,
                Some(word) => Some(Identity::parse(word)?),
            },
            severity: Severity::parse(&self.severity)?,
            encrypt_usage: None,
            api_key_id: None,
        })
    }
}

impl From<&CheckpointRow> for CheckpointLine {
    fn from(c: &CheckpointRow) -> Self {
        Self {
            chain: c.chain.clone(),
            position: c.position,
            head: hex::encode(c.head),
            time: c.time,
            key_id: c.key_id.clone(),
            message: B64.encode(checkpoint_message(&c.chain, c.position, &c.head, c.time)),
            signature: B64.encode(&c.signature),
        }
    }
}

/// A hex digest of a line, or `None` when it is not 32 bytes of hex.
pub fn parse_digest(text: &str) -> Option<Digest> {
    hex::decode(text).ok()?.try_into().ok()
}

/// One line of the export, newline included.
pub fn to_line(line: &Line) -> String {
    let mut text = serde_json::to_string(line).expect("export lines always serialize");
    text.push('\n');
    text
}
