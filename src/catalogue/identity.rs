//! Identity: log-in, sessions, passwords, accounts, users and app certificates.

use super::Method::{Delete, Get, Patch, Post};
use super::Operation;

pub const LOGIN: Operation = Operation::new(
    Post,
    "/v1/auth/login",
    "Log in with email, password and account: a session token (shown once)",
)
.audited_as("auth.login")
.request("Login")
.response("Session")
.status(201);

pub const LOGOUT: Operation = Operation::new(
    Post,
    "/v1/auth/logout",
    "End the session this request was made with",
)
.flags(&["session.write"])
.audited_as("auth.logout")
.status(204);

pub const LIST_SESSIONS: Operation = Operation::new(
    Get,
    "/v1/auth/sessions",
    "The caller's own sessions in this account",
)
.flags(&["session.read"])
.audited_as("session.list")
.response("SessionList");

pub const REVOKE_SESSION: Operation = Operation::new(
    Delete,
    "/v1/auth/sessions/{id}",
    "Revoke one of the caller's sessions",
)
.flags(&["session.write"])
.audited_as("session.revoke")
.status(204);

pub const CHANGE_PASSWORD: Operation = Operation::new(
    Post,
    "/v1/auth/password",
    "Change the caller's password (ends every session)",
)
.flags(&["password.write"])
.audited_as("user.password.change")
.request("ChangePassword")
.status(204);

pub const COMPLETE_PASSWORD_RESET: Operation = Operation::new(
    Post,
    "/v1/auth/password-reset",
    "Set a new password with a one-time reset token",
)
.audited_as("auth.password-reset")
.request("CompleteReset")
.status(204);

pub const CREATE_ACCOUNT: Operation = Operation::new(
    Post,
    "/v1/accounts",
    "Create an account; the calling user becomes its owner",
)
.flags(&["account.create"])
.audited_as("account.create")
.request("AccountName")
.response("Account")
.status(201);

pub const LIST_ACCOUNTS: Operation = Operation::new(
    Get,
    "/v1/accounts",
    "The accounts the calling user belongs to, with their role",
)
.flags(&["account.read"])
.audited_as("account.list")
.response("AccountList");

pub const GET_ACCOUNT: Operation = Operation::new(Get, "/v1/accounts/{id}", "The caller's account")
    .flags(&["account.read"])
    .audited_as("account.read")
    .response("Account");

pub const UPDATE_ACCOUNT: Operation =
    Operation::new(Patch, "/v1/accounts/{id}", "Rename the account")
        .flags(&["account.write"])
        .audited_as("account.update")
        .request("AccountName")
        .response("Account");

pub const DELETE_ACCOUNT: Operation = Operation::new(
    Delete,
    "/v1/accounts/{id}",
    "Confirm a due deletion: close the account and destroy its HSM keys",
)
.flags(&["account.delete"])
.audited_as("account.delete")
.status(204);

pub const REQUEST_ACCOUNT_DELETION: Operation = Operation::new(
    Post,
    "/v1/accounts/{id}/deletion",
    "Request the account's deletion (confirmable after the waiting period)",
)
.flags(&["account.delete"])
.audited_as("account.deletion.request")
.response("Account")
.status(202);

pub const CANCEL_ACCOUNT_DELETION: Operation = Operation::new(
    Delete,
    "/v1/accounts/{id}/deletion",
    "Cancel a pending deletion",
)
.flags(&["account.delete"])
.audited_as("account.deletion.cancel")
.response("Account");

pub const CREATE_USER: Operation =
    Operation::new(Post, "/v1/users", "Add a user to the account with a role")
        .flags(&["user.write"])
        .audited_as("user.create")
        .request("CreateUser")
        .response("User")
        .status(201);

pub const LIST_USERS: Operation = Operation::new(Get, "/v1/users", "The account's members")
    .flags(&["user.read"])
    .audited_as("user.list")
    .response("UserList");

pub const GET_USER: Operation = Operation::new(Get, "/v1/users/{id}", "One member")
    .flags(&["user.read"])
    .audited_as("user.read")
    .response("User");

pub const UPDATE_USER: Operation = Operation::new(
    Patch,
    "/v1/users/{id}",
    "Change a member's role or suspend them",
)
.flags(&["user.write"])
.audited_as("user.update")
.request("PatchUser")
.response("User");

pub const REMOVE_USER: Operation = Operation::new(
    Delete,
    "/v1/users/{id}",
    "Remove a member from the account (the user stays)",
)
.flags(&["user.write"])
.audited_as("user.remove")
.status(204);

pub const CREATE_PASSWORD_RESET: Operation = Operation::new(
    Post,
    "/v1/users/{id}/password-reset",
    "Issue a one-time password-reset token",
)
.flags(&["user.password-reset"])
.audited_as("user.password.reset")
.response("ResetIssued")
.status(201);

pub const ADD_TRUSTED_CA: Operation = Operation::new(
    Post,
    "/v1/trusted-cas",
    "Trust a CA for client certificates (proven when it comes with a proof of possession)",
)
.flags(&["app.write"])
.audited_as("trusted-ca.create")
.request("CreateTrustedCa")
.response("TrustedCa")
.status(201);

pub const LIST_TRUSTED_CAS: Operation =
    Operation::new(Get, "/v1/trusted-cas", "The account's trusted CAs")
        .flags(&["app.read"])
        .audited_as("trusted-ca.list")
        .response("TrustedCaList");

pub const REVOKE_CERTIFICATE: Operation = Operation::new(
    Post,
    "/v1/revocations",
    "Revoke a client certificate (by PEM or SHA-256 fingerprint)",
)
.flags(&["app.write"])
.audited_as("certificate.revoke")
.request("Revoke")
.response("Revocation")
.status(201);

pub const LIST_REVOCATIONS: Operation = Operation::new(
    Get,
    "/v1/revocations",
    "The account's revoked client certificates",
)
.flags(&["app.read"])
.audited_as("certificate.revocations.read")
.response("RevocationList");
