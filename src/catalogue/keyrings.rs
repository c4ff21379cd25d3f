//! Keyrings: symmetric envelope encryption under a group master key.

use super::Method::{Delete, Get, Patch, Post};
use super::Operation;
use crate::authz::Operation::{Decrypt, Encrypt, ManageObjects};

pub const CREATE_KEYRING: Operation = Operation::new(Post, "/v1/keyrings", "Create a keyring")
    .flags(&["keyring.create"])
    .in_group(&[ManageObjects])
    .audited_as("keyring.create")
    .request("CreateKeyring")
    .response("Keyring")
    .status(201);

pub const LIST_KEYRINGS: Operation = Operation::new(Get, "/v1/keyrings", "List keyrings")
    .flags(&["keyring.read"])
    .audited_as("keyring.list")
    .response("KeyringList");

pub const GET_KEYRING: Operation = Operation::new(Get, "/v1/keyrings/{ring}", "Read a keyring")
    .flags(&["keyring.<ring>.read"])
    .audited_as("keyring.read")
    .response("Keyring");

pub const DELETE_KEYRING: Operation = Operation::new(
    Delete,
    "/v1/keyrings/{ring}",
    "Move a keyring to the trash (30 days)",
)
.flags(&["keyring.<ring>.delete"])
.in_group(&[ManageObjects])
.audited_as("keyring.delete")
.status(204);

pub const RESTORE_KEYRING: Operation = Operation::new(
    Post,
    "/v1/keyrings/{ring}/restore",
    "Take a deleted keyring out of the trash (within 30 days)",
)
.flags(&["keyring.<ring>.restore"])
.in_group(&[ManageObjects])
.audited_as("keyring.restore")
.response("Keyring");

pub const ENCRYPT: Operation = Operation::new(Post, "/v1/keyrings/{ring}/encrypt", "Encrypt")
    .flags(&["keyring.<ring>.encrypt"])
    .in_group(&[Encrypt])
    .audited_as("keyring.encrypt")
    .request("Encrypt")
    .response("Encrypted");

pub const DECRYPT: Operation = Operation::new(Post, "/v1/keyrings/{ring}/decrypt", "Decrypt")
    .flags(&["keyring.<ring>.decrypt"])
    .in_group(&[Decrypt])
    .audited_as("keyring.decrypt")
    .request("Decrypt")
    .response("Decrypted");

pub const REWRAP: Operation = Operation::new(
    Post,
    "/v1/keyrings/{ring}/rewrap",
    "Re-encrypt under the current version",
)
.flags(&["keyring.<ring>.encrypt", "keyring.<ring>.decrypt"])
.in_group(&[Encrypt, Decrypt])
.audited_as("keyring.rewrap")
.request("Decrypt")
.response("Encrypted");

pub const DATAKEY: Operation =
    Operation::new(Post, "/v1/keyrings/{ring}/datakey", "Generate a data key")
        .flags(&["keyring.<ring>.encrypt"])
        .in_group(&[Encrypt])
        .audited_as("keyring.datakey")
        .request("DataKeyRequest")
        .response("DataKey");

pub const ROTATE_KEYRING: Operation = Operation::new(
    Post,
    "/v1/keyrings/{ring}/rotate",
    "Add a key version and make it current",
)
.flags(&["keyring.<ring>.rotate"])
.in_group(&[ManageObjects])
.audited_as("keyring.rotate")
.response("Rotated");

pub const GET_KEYRING_CONFIG: Operation =
    Operation::new(Get, "/v1/keyrings/{ring}/config", "Read the configuration")
        .flags(&["keyring.<ring>.config.read"])
        .audited_as("keyring.config.read")
        .response("KeyringConfig");

pub const UPDATE_KEYRING_CONFIG: Operation = Operation::new(
    Patch,
    "/v1/keyrings/{ring}/config",
    "Change the configuration",
)
.flags(&["keyring.<ring>.config.write"])
.in_group(&[ManageObjects])
.audited_as("keyring.config.write")
.request("PatchKeyringConfig")
.response("KeyringConfig");

pub const KEYRING_KEYS: Operation = Operation::new(
    Get,
    "/v1/keyrings/{ring}/keys",
    "List key versions (metadata, never key bytes)",
)
.flags(&["keyring.<ring>.keys.read"])
.audited_as("keyring.keys.read")
.response("KeyVersionList");

pub const LOOKUP_HASH: Operation = Operation::new(
    Get,
    "/v1/keyrings/{ring}/hash/{hash}",
    "Resolve a ciphertext's key reference",
)
.flags(&["keyring.<ring>.hash.read"])
.audited_as("keyring.hash.read")
.response("HashInfo");
