//! The trail's checkpoints and signing key.

use crate::clock::rfc3339;
use crate::service::{CheckpointRow, SigningKeyRow};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use utoipa::ToSchema;

/// A signed statement of a chain's length and head at a time.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The account id whose chain it is.
    pub chain: String,
    /// How many events the chain had: the position of its last event.
    pub position: i64,
    /// Hex SHA-256 hash of the event at `position`.
    pub head: String,
    pub time: String,
    pub key_id: String,
    /// Base64 Ed25519 signature over the checkpoint message (see docs/audit.md).
    pub signature: String,
}

impl From<&CheckpointRow> for Checkpoint {
    fn from(c: &CheckpointRow) -> Self {
        Self {
            chain: c.chain.clone(),
            position: c.position,
            head: hex::encode(c.head),
            time: rfc3339(c.time),
            key_id: c.key_id.clone(),
            signature: B64.encode(&c.signature),
        }
    }
}

impl From<CheckpointRow> for Checkpoint {
    fn from(c: CheckpointRow) -> Self {
        Self::from(&c)
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointList {
    pub checkpoints: Vec<Checkpoint>,
}

/// The key that verifies checkpoints; its private half never leaves the HSM.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningKey {
    pub id: String,
    /// `ed25519`.
    pub algorithm: String,
    /// SubjectPublicKeyInfo, PEM.
    pub public_key: String,
    pub created_at: String,
}

impl From<SigningKeyRow> for SigningKey {
    fn from(k: SigningKeyRow) -> Self {
        Self {
            id: k.id,
            algorithm: k.algorithm,
            public_key: k.public_key,
            created_at: rfc3339(k.created_at),
        }
    }
}
