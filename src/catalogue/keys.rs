//! Asymmetric keys, their certificates, and the cross-object reads (objects, activity).

use super::Method::{Delete, Get, Patch, Post};
use super::Operation;
use crate::authz::Operation::{Decrypt, ManageObjects, Sign, Verify};

pub const CREATE_KEY: Operation = Operation::new(
    Post,
    "/v1/keys",
    "Generate a key pair in the HSM (`algorithm`) or import a public key (`public_key`)",
)
.flags(&["key.create"])
.in_group(&[ManageObjects])
.audited_as("key.create")
.request("CreateKey")
.response("Key")
.status(201);

pub const LIST_KEYS: Operation =
    Operation::new(Get, "/v1/keys", "List keys (key pairs and public keys)")
        .flags(&["key.read"])
        .audited_as("key.list")
        .response("KeyList");

pub const GET_KEY: Operation = Operation::new(
    Get,
    "/v1/keys/{name}",
    "Read a key with its versions and certificates",
)
.flags(&["key.<key>.read"])
.audited_as("key.read")
.response("Key");

pub const UPDATE_KEY: Operation = Operation::new(
    Patch,
    "/v1/keys/{name}",
    "Enable or disable a key; retire versions below min_version",
)
.flags(&["key.<key>.write"])
.in_group(&[ManageObjects])
.audited_as("key.update")
.request("PatchKey")
.response("Key");

pub const DELETE_KEY: Operation = Operation::new(
    Delete,
    "/v1/keys/{name}",
    "Move a key to the trash (recoverable for 30 days, then its private keys are destroyed)",
)
.flags(&["key.<key>.delete"])
.in_group(&[ManageObjects])
.audited_as("key.delete")
.status(204);

pub const PUBLIC_KEY: Operation = Operation::new(
    Get,
    "/v1/keys/{name}/public",
    "Public key as PEM (SPKI) and JWK; query `version` for an older version",
)
.flags(&["key.<key>.read"])
.audited_as("key.public")
.response("PublicKey");

pub const SIGN: Operation = Operation::new(
    Post,
    "/v1/keys/{name}/sign",
    "Sign a message or a pre-computed digest inside the HSM",
)
.flags(&["key.<key>.sign"])
.in_group(&[Sign])
.audited_as("key.sign")
.request("Sign")
.response("Signed");

pub const VERIFY: Operation = Operation::new(
    Post,
    "/v1/keys/{name}/verify",
    "Verify a signature (a bad signature is 200 with valid=false)",
)
.flags(&["key.<key>.verify"])
.in_group(&[Verify])
.audited_as("key.verify")
.request("Verify")
.response("Verified");

pub const KEY_DECRYPT: Operation = Operation::new(
    Post,
    "/v1/keys/{name}/decrypt",
    "RSA-OAEP (SHA-256, MGF1-SHA-256) decryption with the private key in the HSM",
)
.flags(&["key.<key>.decrypt"])
.in_group(&[Decrypt])
.audited_as("key.decrypt")
.request("KeyDecrypt")
.response("Decrypted");

pub const ROTATE_KEY: Operation = Operation::new(
    Post,
    "/v1/keys/{name}/rotate",
    "Generate a new version; older versions keep verifying until retired",
)
.flags(&["key.<key>.rotate"])
.in_group(&[ManageObjects])
.audited_as("key.rotate")
.response("Key");

pub const RESTORE_KEY: Operation = Operation::new(
    Post,
    "/v1/keys/{name}/restore",
    "Take a key out of the trash",
)
.flags(&["key.<key>.restore"])
.in_group(&[ManageObjects])
.audited_as("key.restore")
.response("Key");

pub const CSR: Operation = Operation::new(
    Post,
    "/v1/keys/{name}/csr",
    "A PKCS#10 certificate signing request signed inside the HSM",
)
.flags(&["key.<key>.csr"])
.in_group(&[ManageObjects])
.audited_as("key.csr")
.request("CsrRequest")
.response("Csr");

pub const IMPORT_CERTIFICATE: Operation = Operation::new(
    Post,
    "/v1/keys/{name}/certificates",
    "Import a certificate (PEM bundle or DER) issued for one of the key's versions",
)
.flags(&["key.<key>.certificate.write"])
.in_group(&[ManageObjects])
.audited_as("key.certificate.import")
.request("ImportCertificate")
.response("Certificate")
.status(201);

pub const KEY_CERTIFICATES: Operation = Operation::new(
    Get,
    "/v1/keys/{name}/certificates",
    "List the key's certificates",
)
.flags(&["key.<key>.read"])
.audited_as("key.certificate.list")
.response("CertificateList");

pub const DELETE_KEY_CERTIFICATE: Operation = Operation::new(
    Delete,
    "/v1/keys/{name}/certificates/{id}",
    "Delete one certificate of the key",
)
.flags(&["key.<key>.certificate.write"])
.in_group(&[ManageObjects])
.audited_as("key.certificate.delete")
.status(204);

pub const OBJECTS: Operation = Operation::new(Get, "/v1/objects", "Every security object the caller can see; query `group` and `type` (keyring, key_pair, public_key, certificate) filter")
    .flags(&["object.read"])
    .audited_as("object.list")
    .response("ObjectList");

pub const ACTIVITY: Operation = Operation::new(
    Get,
    "/v1/activity",
    "The audit trail, newest first, with filters and paging",
)
.flags(&["activity.read"])
.audited_as("activity.read")
.response("Activity");
