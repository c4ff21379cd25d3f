//! Tenancy: API keys, groups (and the rotation of their master keys), apps and group
//! membership.

use super::{Operation, delete, get, patch, post, put};

pub const CREATE_API_KEY: Operation = post("/v1/auth/apikey")
    .summary("Create an API key (shown once)")
    .needs(&["apikey.write"], "apikey.create")
    .takes("CreateApiKey")
    .created("CreatedApiKey");

pub const LIST_API_KEYS: Operation = get("/v1/auth/apikey")
    .summary("List API keys (metadata only)")
    .needs(&["apikey.read"], "apikey.list")
    .gives("ApiKeyList");

pub const GET_API_KEY: Operation = get("/v1/auth/apikey/{id}")
    .summary("Read an API key's metadata")
    .needs(&["apikey.read"], "apikey.read")
    .gives("ApiKey");

pub const UPDATE_API_KEY: Operation = patch("/v1/auth/apikey/{id}")
    .summary("Disable an API key and/or narrow its flags")
    .needs(&["apikey.write"], "apikey.update")
    .exchanges("PatchApiKey", "ApiKey");

pub const CREATE_GROUP: Operation = post("/v1/groups")
    .summary("Create a group and its master key in the HSM")
    .needs(&["group.write"], "group.create")
    .takes("CreateGroup")
    .created("Group");

pub const LIST_GROUPS: Operation = get("/v1/groups")
    .summary("List groups")
    .needs(&["group.read"], "group.list")
    .gives("GroupList");

pub const GET_GROUP: Operation = get("/v1/groups/{id}")
    .summary("Read a group")
    .needs(&["group.read"], "group.read")
    .gives("Group");

pub const CREATE_APP: Operation = post("/v1/apps")
    .summary("Create an app assigned to groups")
    .needs(&["app.write"], "app.create")
    .takes("CreateApp")
    .created("App");

pub const LIST_APPS: Operation = get("/v1/apps")
    .summary("List apps")
    .needs(&["app.read"], "app.list")
    .gives("AppList");

pub const GET_APP: Operation = get("/v1/apps/{id}")
    .summary("Read an app")
    .needs(&["app.read"], "app.read")
    .gives("App");

pub const UPDATE_GROUP: Operation = patch("/v1/groups/{id}")
    .summary("Rename a group")
    .needs(&["group.write"], "group.update")
    .exchanges("CreateGroup", "Group");

pub const DELETE_GROUP: Operation = delete("/v1/groups/{id}")
    .summary("Delete a group (?force=true moves its objects to the trash)")
    .needs(&["group.write"], "group.delete")
    .status(204);

pub const ROTATE_MASTER: Operation = post("/v1/groups/{id}/rotate-master")
    .summary("Rotate the group's master key: a new one in the HSM, then a background job re-wraps the group's keys under it and destroys the old one")
    .needs(&["group.write"], "group.master.rotate")
    .gives("Job")
    .status(202);

pub const GET_JOB: Operation = get("/v1/jobs/{id}")
    .summary("A background job's state and progress")
    .needs(&["group.read"], "job.read")
    .gives("Job");

pub const GROUP_MEMBERS: Operation = get("/v1/groups/{id}/members")
    .summary("A group's users (with group role) and apps (with operations)")
    .needs(&["group.read"], "group.members.read")
    .gives("GroupMembers");

pub const SET_GROUP_USER: Operation = put("/v1/groups/{id}/users/{user}")
    .summary("Put a user in the group with a role (member, auditor)")
    .needs(&["group.write"], "group.member.set")
    .exchanges("GroupUserRole", "GroupUser");

pub const REMOVE_GROUP_USER: Operation = delete("/v1/groups/{id}/users/{user}")
    .summary("Take a user out of the group")
    .needs(&["group.write"], "group.member.remove")
    .status(204);

pub const SET_GROUP_APP: Operation = put("/v1/groups/{id}/apps/{app}")
    .summary("Assign an app to the group with its allowed operations")
    .needs(&["group.write"], "group.member.set")
    .exchanges("GroupAppOperations", "GroupApp");

pub const REMOVE_GROUP_APP: Operation = delete("/v1/groups/{id}/apps/{app}")
    .summary("Take an app out of the group")
    .needs(&["group.write"], "group.member.remove")
    .status(204);

pub const UPDATE_APP: Operation = patch("/v1/apps/{id}")
    .summary("Rename, disable or re-enable an app")
    .needs(&["app.write"], "app.update")
    .exchanges("PatchApp", "App");

pub const DELETE_APP: Operation = delete("/v1/apps/{id}")
    .summary("Delete an app (its credentials stop working)")
    .needs(&["app.write"], "app.delete")
    .status(204);

pub const APP_CREDENTIALS: Operation = get("/v1/apps/{id}/credentials")
    .summary("An app's API keys (metadata) and client-certificate bindings")
    .needs(&["app.read"], "app.credentials.read")
    .gives("AppCredentials");

pub const BIND_CERTIFICATE: Operation = post("/v1/apps/{id}/certificates")
    .summary("Bind a client certificate: pinned (proven when it comes with a proof of possession), or a trusted CA plus subject/SAN")
    .needs(&["app.write"], "app.certificate.create")
    .takes("BindCertificate")
    .created("AppCertificate");

pub const CREATE_AWS_CREDENTIAL: Operation = post("/v1/apps/{id}/aws-credentials")
    .summary("Create an AWS access key pair for the app, for the AWS KMS face (the secret is shown once)")
    .needs(&["apikey.write"], "aws-credential.create")
    .takes("CreateAwsCredential")
    .created("CreatedAwsCredential");

pub const LIST_AWS_CREDENTIALS: Operation = get("/v1/apps/{id}/aws-credentials")
    .summary("An app's AWS access key pairs (metadata only)")
    .needs(&["apikey.read"], "aws-credential.list")
    .gives("AwsCredentialList");

pub const UPDATE_AWS_CREDENTIAL: Operation = patch("/v1/apps/{id}/aws-credentials/{key}")
    .summary("Disable or re-enable an AWS access key pair")
    .needs(&["apikey.write"], "aws-credential.update")
    .exchanges("PatchAwsCredential", "AwsCredential");

pub const DELETE_AWS_CREDENTIAL: Operation = delete("/v1/apps/{id}/aws-credentials/{key}")
    .summary("Delete an AWS access key pair (requests signed with it fail from then on)")
    .needs(&["apikey.write"], "aws-credential.delete")
    .status(204);

pub const UNBIND_CERTIFICATE: Operation = delete("/v1/apps/{id}/certificates/{certificate}")
    .summary("Unbind a client certificate")
    .needs(&["app.write"], "app.certificate.delete")
    .status(204);
