//! Logins, sessions, passwords, accounts and their users: who a person is in an account.

use super::null_refused;
use crate::clock::rfc3339;
use crate::store::{AccountState, MemberRow};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: secrecy::SecretString,
    pub account: String,
}

#[derive(Serialize)]
pub struct Session {
    pub session_token: String,
    pub session_id: String,
    pub account_id: String,
    pub user_id: String,
    pub role: String,
    pub expires_at: String,
}

#[derive(Serialize)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked: bool,
    pub current: bool,
    pub source_ip: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: secrecy::SecretString,
    pub new_password: secrecy::SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteReset {
    pub token: String,
    pub new_password: secrecy::SecretString,
}

#[derive(Serialize)]
pub struct ResetIssued {
    pub id: String,
    pub reset_token: String,
    pub expires_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedOnly {
    pub name: String,
}

#[derive(Serialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub deletion_requested_at: Option<String>,
    pub deletion_due_at: Option<String>,
}

impl Account {
    pub fn from_state(row: &AccountState, role: Option<String>) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            created_at: rfc3339(row.created_at),
            role,
            deletion_requested_at: row.deletion_requested_at.map(rfc3339),
            deletion_due_at: row.deletion_due_at.map(rfc3339),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub role: String,
    #[serde(default, deserialize_with = "null_refused::password")]
    pub password: Option<secrecy::SecretString>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[serde(default, deserialize_with = "null_refused::role")]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "null_refused::suspended")]
    pub suspended: Option<bool>,
}

#[derive(Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub role: String,
    pub suspended: bool,
    pub member_since: String,
}

impl From<&MemberRow> for User {
    fn from(row: &MemberRow) -> Self {
        Self {
            id: row.user_id.clone(),
            email: row.email.clone(),
            role: row.role.as_str().to_owned(),
            suspended: row.suspended,
            member_since: rfc3339(row.created_at),
        }
    }
}
