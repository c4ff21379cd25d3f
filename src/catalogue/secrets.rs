//! Secrets: values with versions, read by apps with an explicit grant, revealed to users
//! with a flag of their own; managed database credentials applied by an agent; frozen groups.

use super::{Operation, delete, get, post, put};
use crate::authz::Operation::ManageObjects;

pub const CREATE_SECRET: Operation = post("/v1/secrets")
    .summary("Create a secret (single, structured, managed or canary)")
    .needs(&["secret.create"], "secret.create")
    .in_group(&[ManageObjects])
    .takes("CreateSecret")
    .created("Secret");

pub const LIST_SECRETS: Operation = get("/v1/secrets")
    .summary("List secrets (metadata, never values)")
    .needs(&["secret.read"], "secret.list")
    .gives("SecretList");

pub const GET_SECRET: Operation = get("/v1/secrets/{name}")
    .summary("A secret's metadata: kind, field names, versions, rotation, never the value")
    .needs(&["secret.read"], "secret.read")
    .gives("Secret");

pub const READ_SECRET_VALUE: Operation = get("/v1/secrets/{name}/value")
    .summary(
        "Read the value (apps and machines with an explicit grant; ?version=N for an older one)",
    )
    .needs(&["secret.<name>.read"], "secret.value.read")
    .gives("SecretValue");

pub const READ_SECRET_FIELD: Operation = get("/v1/secrets/{name}/fields/{field}")
    .summary("Read one field of a structured secret, without the others")
    .needs(&["secret.<name>.read"], "secret.field.read")
    .gives("SecretField");

pub const REVEAL_SECRET: Operation = post("/v1/secrets/{name}/reveal")
    .summary("Show the value to a user (flag secret.<name>.reveal and a group role that manages objects; audited as a warning)")
    .needs(&["secret.<name>.reveal"], "secret.reveal")
    .in_group(&[ManageObjects])
    .exchanges("RevealSecret", "SecretValue");

pub const SET_SECRET_VALUE: Operation = put("/v1/secrets/{name}/value")
    .summary("Set a new value: a new version (refused while automatic rotation is on)")
    .needs(&["secret.<name>.write"], "secret.write")
    .in_group(&[ManageObjects])
    .exchanges("SetSecretValue", "Secret");

pub const SECRET_VERSIONS: Operation = get("/v1/secrets/{name}/versions")
    .summary("List the versions kept (who made each, when, how; never values)")
    .needs(&["secret.read"], "secret.versions.read")
    .gives("SecretVersionList");

pub const ROLLBACK_SECRET: Operation = post("/v1/secrets/{name}/rollback")
    .summary("Make a new version with the content of an earlier one")
    .needs(&["secret.<name>.write"], "secret.rollback")
    .in_group(&[ManageObjects])
    .exchanges("RollbackSecret", "Secret");

pub const SET_SECRET_ROTATION: Operation = put("/v1/secrets/{name}/rotation")
    .summary("Turn on or change automatic rotation")
    .needs(&["secret.<name>.rotate"], "secret.rotation.write")
    .in_group(&[ManageObjects])
    .exchanges("SecretRotation", "Secret");

pub const DELETE_SECRET_ROTATION: Operation = delete("/v1/secrets/{name}/rotation")
    .summary("Turn automatic rotation off (not for managed secrets)")
    .needs(&["secret.<name>.rotate"], "secret.rotation.delete")
    .in_group(&[ManageObjects])
    .gives("Secret");

pub const ROTATE_SECRET: Operation = post("/v1/secrets/{name}/rotate")
    .summary("Rotate now: a new generated version, by the secret's rotation policy")
    .needs(&["secret.<name>.rotate"], "secret.rotate")
    .in_group(&[ManageObjects])
    .gives("Secret");

pub const LIST_SECRET_GRANTS: Operation = get("/v1/secrets/{name}/grants")
    .summary("The apps and machines allowed to read the value")
    .needs(&["secret.read"], "secret.grants.read")
    .gives("SecretGrantList");

pub const GRANT_SECRET: Operation = put("/v1/secrets/{name}/grants/{app}")
    .summary("Allow an app or machine of the secret's group to read the value")
    .needs(&["secret.<name>.grant"], "secret.grant")
    .in_group(&[ManageObjects])
    .status(204);

pub const REVOKE_SECRET: Operation = delete("/v1/secrets/{name}/grants/{app}")
    .summary("Take an app's or machine's read grant away")
    .needs(&["secret.<name>.grant"], "secret.revoke")
    .in_group(&[ManageObjects])
    .status(204);

pub const DELETE_SECRET: Operation = delete("/v1/secrets/{name}")
    .summary("Move a secret to the trash (30 days); its grants and rotation go at once")
    .needs(&["secret.<name>.delete"], "secret.delete")
    .in_group(&[ManageObjects])
    .status(204);

pub const RESTORE_SECRET: Operation = post("/v1/secrets/{name}/restore")
    .summary("Take a deleted secret out of the trash (within 30 days; grants and rotation are not restored)")
    .needs(&["secret.<name>.restore"], "secret.restore")
    .in_group(&[ManageObjects])
    .gives("Secret");

pub const FREEZE_GROUP: Operation = post("/v1/groups/{id}/freeze")
    .summary("Freeze a group: no app or machine reads a secret or decrypts there until unfrozen")
    .needs(&["group.write"], "group.freeze")
    .exchanges("FreezeGroup", "Group");

pub const UNFREEZE_GROUP: Operation = post("/v1/groups/{id}/unfreeze")
    .summary("Unfreeze a group (owners and admins)")
    .needs(&["group.write"], "group.unfreeze")
    .gives("Group");

pub const PENDING_SECRET_VERSION: Operation = get("/v1/secrets/{name}/pending")
    .summary("A managed secret's version waiting to be applied, with its value (agents; ?wait=SECONDS long-polls up to 30 s; 204 when none)")
    .needs(&["secret.<name>.apply"], "secret.pending.read")
    .gives("PendingSecretVersion");

pub const APPLIED_SECRET_VERSION: Operation = post("/v1/secrets/{name}/versions/{version}/applied")
    .summary("Confirm that the agent applied a pending version: it becomes current")
    .needs(&["secret.<name>.apply"], "secret.version.applied")
    .gives("Secret");

pub const FAILED_SECRET_VERSION: Operation = post("/v1/secrets/{name}/versions/{version}/failed")
    .summary("Report that applying a pending version failed (the agent retries with back-off)")
    .needs(&["secret.<name>.apply"], "secret.version.failed")
    .takes("ApplyFailure")
    .status(204);
