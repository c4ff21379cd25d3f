//! Tenancy: API keys, groups, apps and group membership.

use super::Method::{Delete, Get, Patch, Post, Put};
use super::Operation;

pub const CREATE_API_KEY: Operation =
    Operation::new(Post, "/v1/auth/apikey", "Create an API key (shown once)")
        .flags(&["apikey.write"])
        .audited_as("apikey.create")
        .request("CreateApiKey")
        .response("CreatedApiKey")
        .status(201);

pub const LIST_API_KEYS: Operation =
    Operation::new(Get, "/v1/auth/apikey", "List API keys (metadata only)")
        .flags(&["apikey.read"])
        .audited_as("apikey.list")
        .response("ApiKeyList");

pub const GET_API_KEY: Operation =
    Operation::new(Get, "/v1/auth/apikey/{id}", "Read an API key's metadata")
        .flags(&["apikey.read"])
        .audited_as("apikey.read")
        .response("ApiKey");

pub const UPDATE_API_KEY: Operation = Operation::new(
    Patch,
    "/v1/auth/apikey/{id}",
    "Disable an API key and/or narrow its flags",
)
.flags(&["apikey.write"])
.audited_as("apikey.update")
.request("PatchApiKey")
.response("ApiKey");

pub const CREATE_GROUP: Operation = Operation::new(
    Post,
    "/v1/groups",
    "Create a group and its master key in the HSM",
)
.flags(&["group.write"])
.audited_as("group.create")
.request("CreateGroup")
.response("Group")
.status(201);

pub const LIST_GROUPS: Operation = Operation::new(Get, "/v1/groups", "List groups")
    .flags(&["group.read"])
    .audited_as("group.list")
    .response("GroupList");

pub const GET_GROUP: Operation = Operation::new(Get, "/v1/groups/{id}", "Read a group")
    .flags(&["group.read"])
    .audited_as("group.read")
    .response("Group");

pub const CREATE_APP: Operation =
    Operation::new(Post, "/v1/apps", "Create an app assigned to groups")
        .flags(&["app.write"])
        .audited_as("app.create")
        .request("CreateApp")
        .response("App")
        .status(201);

pub const LIST_APPS: Operation = Operation::new(Get, "/v1/apps", "List apps")
    .flags(&["app.read"])
    .audited_as("app.list")
    .response("AppList");

pub const GET_APP: Operation = Operation::new(Get, "/v1/apps/{id}", "Read an app")
    .flags(&["app.read"])
    .audited_as("app.read")
    .response("App");

pub const UPDATE_GROUP: Operation = Operation::new(Patch, "/v1/groups/{id}", "Rename a group")
    .flags(&["group.write"])
    .audited_as("group.update")
    .request("CreateGroup")
    .response("Group");

pub const DELETE_GROUP: Operation = Operation::new(
    Delete,
    "/v1/groups/{id}",
    "Delete a group (?force=true moves its objects to the trash)",
)
.flags(&["group.write"])
.audited_as("group.delete")
.status(204);

pub const GROUP_MEMBERS: Operation = Operation::new(
    Get,
    "/v1/groups/{id}/members",
    "A group's users (with group role) and apps (with operations)",
)
.flags(&["group.read"])
.audited_as("group.members.read")
.response("GroupMembers");

pub const SET_GROUP_USER: Operation = Operation::new(
    Put,
    "/v1/groups/{id}/users/{user}",
    "Put a user in the group with a role (member, auditor)",
)
.flags(&["group.write"])
.audited_as("group.member.set")
.request("GroupUserRole")
.response("GroupUser");

pub const REMOVE_GROUP_USER: Operation = Operation::new(
    Delete,
    "/v1/groups/{id}/users/{user}",
    "Take a user out of the group",
)
.flags(&["group.write"])
.audited_as("group.member.remove")
.status(204);

pub const SET_GROUP_APP: Operation = Operation::new(
    Put,
    "/v1/groups/{id}/apps/{app}",
    "Assign an app to the group with its allowed operations",
)
.flags(&["group.write"])
.audited_as("group.member.set")
.request("GroupAppOperations")
.response("GroupApp");

pub const REMOVE_GROUP_APP: Operation = Operation::new(
    Delete,
    "/v1/groups/{id}/apps/{app}",
    "Take an app out of the group",
)
.flags(&["group.write"])
.audited_as("group.member.remove")
.status(204);

pub const UPDATE_APP: Operation = Operation::new(
    Patch,
    "/v1/apps/{id}",
    "Rename, disable or re-enable an app",
)
.flags(&["app.write"])
.audited_as("app.update")
.request("PatchApp")
.response("App");

pub const DELETE_APP: Operation = Operation::new(
    Delete,
    "/v1/apps/{id}",
    "Delete an app (its credentials stop working)",
)
.flags(&["app.write"])
.audited_as("app.delete")
.status(204);

pub const APP_CREDENTIALS: Operation = Operation::new(
    Get,
    "/v1/apps/{id}/credentials",
    "An app's API keys (metadata) and client-certificate bindings",
)
.flags(&["app.read"])
.audited_as("app.credentials.read")
.response("AppCredentials");

pub const BIND_CERTIFICATE: Operation = Operation::new(Post, "/v1/apps/{id}/certificates", "Bind a client certificate: pinned (proven when it comes with a proof of possession), or a trusted CA plus subject/SAN")
    .flags(&["app.write"])
    .audited_as("app.certificate.create")
    .request("BindCertificate")
    .response("AppCertificate")
    .status(201);

pub const UNBIND_CERTIFICATE: Operation = Operation::new(
    Delete,
    "/v1/apps/{id}/certificates/{certificate}",
    "Unbind a client certificate",
)
.flags(&["app.write"])
.audited_as("app.certificate.delete")
.status(204);
