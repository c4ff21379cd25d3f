//! Identity: log-in, sessions, passwords, accounts, users and app certificates.

use super::{Operation, delete, get, patch, post};

pub const LOGIN: Operation = post("/v1/auth/login")
    .summary("Log in with email, password and account: a session token (shown once)")
    .audited_as("auth.login")
    .takes("Login")
    .created("Session");

pub const LOGOUT: Operation = post("/v1/auth/logout")
    .summary("End the session this request was made with")
    .needs(&["session.write"], "auth.logout")
    .status(204);

pub const LIST_SESSIONS: Operation = get("/v1/auth/sessions")
    .summary("The caller's own sessions in this account")
    .needs(&["session.read"], "session.list")
    .gives("SessionList");

pub const REVOKE_SESSION: Operation = delete("/v1/auth/sessions/{id}")
    .summary("Revoke one of the caller's sessions")
    .needs(&["session.write"], "session.revoke")
    .status(204);

pub const CHANGE_PASSWORD: Operation = post("/v1/auth/password")
    .summary("Change the caller's password (ends every session)")
    .needs(&["password.write"], "user.password.change")
    .takes("ChangePassword")
    .status(204);

pub const COMPLETE_PASSWORD_RESET: Operation = post("/v1/auth/password-reset")
    .summary("Set a new password with a one-time reset token")
    .audited_as("auth.password-reset")
    .takes("CompleteReset")
    .status(204);

pub const CREATE_ACCOUNT: Operation = post("/v1/accounts")
    .summary("Create an account; the calling user becomes its owner")
    .needs(&["account.create"], "account.create")
    .takes("AccountName")
    .created("Account");

pub const LIST_ACCOUNTS: Operation = get("/v1/accounts")
    .summary("The accounts the calling user belongs to, with their role")
    .needs(&["account.read"], "account.list")
    .gives("AccountList");

pub const GET_ACCOUNT: Operation = get("/v1/accounts/{id}")
    .summary("The caller's account")
    .needs(&["account.read"], "account.read")
    .gives("Account");

pub const UPDATE_ACCOUNT: Operation = patch("/v1/accounts/{id}")
    .summary("Rename the account")
    .needs(&["account.write"], "account.update")
    .exchanges("AccountName", "Account");

pub const DELETE_ACCOUNT: Operation = delete("/v1/accounts/{id}")
    .summary("Confirm a due deletion: close the account and destroy its HSM keys")
    .needs(&["account.delete"], "account.delete")
    .status(204);

pub const REQUEST_ACCOUNT_DELETION: Operation = post("/v1/accounts/{id}/deletion")
    .summary("Request the account's deletion (confirmable after the waiting period)")
    .needs(&["account.delete"], "account.deletion.request")
    .gives("Account")
    .status(202);

pub const CANCEL_ACCOUNT_DELETION: Operation = delete("/v1/accounts/{id}/deletion")
    .summary("Cancel a pending deletion")
    .needs(&["account.delete"], "account.deletion.cancel")
    .gives("Account");

pub const CREATE_USER: Operation = post("/v1/users")
    .summary("Add an existing user to the account, or invite a new person (token shown once)")
    .needs(&["user.write"], "user.create")
    .takes("CreateUser")
    .created("UserAdded");

pub const LIST_USERS: Operation = get("/v1/users")
    .summary("The account's members")
    .needs(&["user.read"], "user.list")
    .gives("UserList");

pub const GET_USER: Operation = get("/v1/users/{id}")
    .summary("One member")
    .needs(&["user.read"], "user.read")
    .gives("User");

pub const UPDATE_USER: Operation = patch("/v1/users/{id}")
    .summary("Change a member's role or suspend them")
    .needs(&["user.write"], "user.update")
    .exchanges("PatchUser", "User");

pub const REMOVE_USER: Operation = delete("/v1/users/{id}")
    .summary("Remove a member from the account (the user stays)")
    .needs(&["user.write"], "user.remove")
    .status(204);

pub const CREATE_PASSWORD_RESET: Operation = post("/v1/users/{id}/password-reset")
    .summary("Issue a one-time password-reset token")
    .needs(&["user.password-reset"], "user.password.reset")
    .created("ResetIssued");

pub const ADD_TRUSTED_CA: Operation = post("/v1/trusted-cas")
    .summary("Trust a CA for client certificates (proven when it comes with a proof of possession)")
    .needs(&["app.write"], "trusted-ca.create")
    .takes("CreateTrustedCa")
    .created("TrustedCa");

pub const LIST_TRUSTED_CAS: Operation = get("/v1/trusted-cas")
    .summary("The account's trusted CAs")
    .needs(&["app.read"], "trusted-ca.list")
    .gives("TrustedCaList");

pub const REVOKE_CERTIFICATE: Operation = post("/v1/revocations")
    .summary("Revoke a client certificate (by PEM or SHA-256 fingerprint)")
    .needs(&["app.write"], "certificate.revoke")
    .takes("Revoke")
    .created("Revocation");

pub const LIST_REVOCATIONS: Operation = get("/v1/revocations")
    .summary("The account's revoked client certificates")
    .needs(&["app.read"], "certificate.revocations.read")
    .gives("RevocationList");

pub const LIST_INVITATIONS: Operation = get("/v1/invitations")
    .summary("The account's pending invitations (never their tokens)")
    .needs(&["user.read"], "invitation.list")
    .gives("InvitationList");

pub const REVOKE_INVITATION: Operation = delete("/v1/invitations/{id}")
    .summary("Revoke a pending invitation")
    .needs(&["user.write"], "invitation.revoke")
    .status(204);

pub const ACCEPT_INVITATION: Operation = post("/v1/invitations/accept")
    .summary(
        "Accept an invitation with its token and your own password: you become a user and member",
    )
    .audited_as("invitation.accept")
    .takes("AcceptInvitation")
    .created("User");
