//! The tamper-evident trail: its export, its signed checkpoints and their public key.

use super::{Operation, get, post};

/// JSON lines: a header, then the events in chain order with their hashes, the signed
/// checkpoints among them, and one checkpoint signed for this export at the end.
pub const EXPORT_ACTIVITY: Operation = get("/v1/activity/export")
    .summary("Export the account's hash-chained trail with its signed checkpoints (JSON lines)")
    .needs(&["activity.read"], "activity.export");

pub const CREATE_CHECKPOINT: Operation = post("/v1/activity/checkpoints")
    .summary("Sign a checkpoint of the account's trail now, with the HSM's checkpoint key")
    .needs(&["activity.read"], "activity.checkpoint")
    .created("Checkpoint");

pub const LIST_CHECKPOINTS: Operation = get("/v1/activity/checkpoints")
    .summary("The account's signed checkpoints, oldest first")
    .needs(&["activity.read"], "activity.checkpoints")
    .gives("CheckpointList");

pub const TRAIL_SIGNING_KEY: Operation = get("/v1/activity/signing-key")
    .summary("The public key (PEM) that verifies the trail's checkpoints")
    .needs(&["activity.read"], "activity.signing-key")
    .gives("SigningKey");
