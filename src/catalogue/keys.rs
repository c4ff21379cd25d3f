//! Asymmetric keys, their certificates, and the cross-object reads (objects, activity).

use super::{Operation, delete, get, patch, post};
use crate::authz::Operation::{Decrypt, ManageObjects, Sign, Verify};

pub const CREATE_KEY: Operation = post("/v1/keys")
    .summary("Generate a key pair in the HSM (`algorithm`) or import a public key (`public_key`)")
    .needs(&["key.create"], "key.create")
    .in_group(&[ManageObjects])
    .takes("CreateKey")
    .created("Key");

pub const LIST_KEYS: Operation = get("/v1/keys")
    .summary("List keys (key pairs and public keys)")
    .needs(&["key.read"], "key.list")
    .gives("KeyList");

pub const GET_KEY: Operation = get("/v1/keys/{name}")
    .summary("Read a key with its versions and certificates")
    .needs(&["key.<key>.read"], "key.read")
    .gives("Key");

pub const UPDATE_KEY: Operation = patch("/v1/keys/{name}")
    .summary("Enable or disable a key; retire versions below min_version")
    .needs(&["key.<key>.write"], "key.update")
    .in_group(&[ManageObjects])
    .exchanges("PatchKey", "Key");

pub const DELETE_KEY: Operation = delete("/v1/keys/{name}")
    .summary(
        "Move a key to the trash (recoverable for 30 days, then its private keys are destroyed)",
    )
    .needs(&["key.<key>.delete"], "key.delete")
    .in_group(&[ManageObjects])
    .status(204);

pub const PUBLIC_KEY: Operation = get("/v1/keys/{name}/public")
    .summary("Public key as PEM (SPKI) and JWK; query `version` for an older version")
    .needs(&["key.<key>.read"], "key.public")
    .gives("PublicKey");

pub const SIGN: Operation = post("/v1/keys/{name}/sign")
    .summary("Sign a message or a pre-computed digest inside the HSM")
    .needs(&["key.<key>.sign"], "key.sign")
    .in_group(&[Sign])
    .exchanges("Sign", "Signed")
    .answers_only();

pub const VERIFY: Operation = post("/v1/keys/{name}/verify")
    .summary("Verify a signature (a bad signature is 200 with valid=false)")
    .needs(&["key.<key>.verify"], "key.verify")
    .in_group(&[Verify])
    .exchanges("Verify", "Verified")
    .answers_only();

pub const KEY_DECRYPT: Operation = post("/v1/keys/{name}/decrypt")
    .summary("RSA-OAEP (SHA-256, MGF1-SHA-256) decryption with the private key in the HSM")
    .needs(&["key.<key>.decrypt"], "key.decrypt")
    .in_group(&[Decrypt])
    .exchanges("KeyDecrypt", "Decrypted")
    .answers_only();

pub const ROTATE_KEY: Operation = post("/v1/keys/{name}/rotate")
    .summary("Generate a new version; older versions keep verifying until retired")
    .needs(&["key.<key>.rotate"], "key.rotate")
    .in_group(&[ManageObjects])
    .gives("Key");

pub const RESTORE_KEY: Operation = post("/v1/keys/{name}/restore")
    .summary("Take a key out of the trash")
    .needs(&["key.<key>.restore"], "key.restore")
    .in_group(&[ManageObjects])
    .gives("Key");

pub const CSR: Operation = post("/v1/keys/{name}/csr")
    .summary("A PKCS#10 certificate signing request signed inside the HSM")
    .needs(&["key.<key>.csr"], "key.csr")
    .in_group(&[ManageObjects])
    .exchanges("CsrRequest", "Csr");

pub const IMPORT_CERTIFICATE: Operation = post("/v1/keys/{name}/certificates")
    .summary("Import a certificate (PEM bundle or DER) issued for one of the key's versions")
    .needs(&["key.<key>.certificate.write"], "key.certificate.import")
    .in_group(&[ManageObjects])
    .takes("ImportCertificate")
    .created("Certificate");

pub const KEY_CERTIFICATES: Operation = get("/v1/keys/{name}/certificates")
    .summary("List the key's certificates")
    .needs(&["key.<key>.read"], "key.certificate.list")
    .gives("CertificateList");

pub const DELETE_KEY_CERTIFICATE: Operation = delete("/v1/keys/{name}/certificates/{id}")
    .summary("Delete one certificate of the key")
    .needs(&["key.<key>.certificate.write"], "key.certificate.delete")
    .in_group(&[ManageObjects])
    .status(204);

pub const OBJECTS: Operation = get("/v1/objects")
    .summary("Every security object the caller can see; query `group` and `type` (keyring, key_pair, public_key, certificate) filter")
    .needs(&["object.read"], "object.list")
    .gives("ObjectList");

pub const ACTIVITY: Operation = get("/v1/activity")
    .summary("The audit trail, newest first, with filters and paging")
    .needs(&["activity.read"], "activity.read")
    .gives("Activity");
