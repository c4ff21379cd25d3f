//! Keyrings: symmetric envelope encryption under a group master key.

use super::{Operation, delete, get, patch, post};
use crate::authz::Operation::{Decrypt, Encrypt, ManageObjects};

pub const CREATE_KEYRING: Operation = post("/v1/keyrings")
    .summary("Create a keyring")
    .needs(&["keyring.create"], "keyring.create")
    .in_group(&[ManageObjects])
    .takes("CreateKeyring")
    .created("Keyring");

pub const LIST_KEYRINGS: Operation = get("/v1/keyrings")
    .summary("List keyrings")
    .needs(&["keyring.read"], "keyring.list")
    .gives("KeyringList");

pub const GET_KEYRING: Operation = get("/v1/keyrings/{ring}")
    .summary("Read a keyring")
    .needs(&["keyring.<ring>.read"], "keyring.read")
    .gives("Keyring");

pub const DELETE_KEYRING: Operation = delete("/v1/keyrings/{ring}")
    .summary("Move a keyring to the trash (30 days)")
    .needs(&["keyring.<ring>.delete"], "keyring.delete")
    .in_group(&[ManageObjects])
    .status(204);

pub const RESTORE_KEYRING: Operation = post("/v1/keyrings/{ring}/restore")
    .summary("Take a deleted keyring out of the trash (within 30 days)")
    .needs(&["keyring.<ring>.restore"], "keyring.restore")
    .in_group(&[ManageObjects])
    .gives("Keyring");

pub const ENCRYPT: Operation = post("/v1/keyrings/{ring}/encrypt")
    .summary("Encrypt")
    .needs(&["keyring.<ring>.encrypt"], "keyring.encrypt")
    .in_group(&[Encrypt])
    .exchanges("Encrypt", "Encrypted")
    .answers_only();

pub const DECRYPT: Operation = post("/v1/keyrings/{ring}/decrypt")
    .summary("Decrypt")
    .needs(&["keyring.<ring>.decrypt"], "keyring.decrypt")
    .in_group(&[Decrypt])
    .exchanges("Decrypt", "Decrypted")
    .answers_only();

pub const REWRAP: Operation = post("/v1/keyrings/{ring}/rewrap")
    .summary("Re-encrypt under the current version")
    .needs(
        &["keyring.<ring>.encrypt", "keyring.<ring>.decrypt"],
        "keyring.rewrap",
    )
    .in_group(&[Encrypt, Decrypt])
    .exchanges("Decrypt", "Encrypted")
    .answers_only();

pub const DATAKEY: Operation = post("/v1/keyrings/{ring}/datakey")
    .summary("Generate a data key")
    .needs(&["keyring.<ring>.encrypt"], "keyring.datakey")
    .in_group(&[Encrypt])
    .exchanges("DataKeyRequest", "DataKey")
    .answers_only();

pub const ROTATE_KEYRING: Operation = post("/v1/keyrings/{ring}/rotate")
    .summary("Add a key version and make it current")
    .needs(&["keyring.<ring>.rotate"], "keyring.rotate")
    .in_group(&[ManageObjects])
    .gives("Rotated");

pub const GET_KEYRING_CONFIG: Operation = get("/v1/keyrings/{ring}/config")
    .summary("Read the configuration")
    .needs(&["keyring.<ring>.config.read"], "keyring.config.read")
    .gives("KeyringConfig");

pub const UPDATE_KEYRING_CONFIG: Operation = patch("/v1/keyrings/{ring}/config")
    .summary("Change the configuration")
    .needs(&["keyring.<ring>.config.write"], "keyring.config.write")
    .in_group(&[ManageObjects])
    .exchanges("PatchKeyringConfig", "KeyringConfig");

pub const KEYRING_KEYS: Operation = get("/v1/keyrings/{ring}/keys")
    .summary("List key versions (metadata, never key bytes)")
    .needs(&["keyring.<ring>.keys.read"], "keyring.keys.read")
    .gives("KeyVersionList");

pub const LOOKUP_HASH: Operation = get("/v1/keyrings/{ring}/hash/{hash}")
    .summary("Resolve a ciphertext's key reference")
    .needs(&["keyring.<ring>.hash.read"], "keyring.hash.read")
    .gives("HashInfo");
