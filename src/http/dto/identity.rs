//! Logins, sessions, passwords, accounts and their users: who a person is in an account.

use super::null_refused;
use crate::clock::rfc3339;
use crate::http::openapi::fields::{self, enumeration};
use crate::service::{AccountState, InvitationRow, MemberRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    #[schema(schema_with = fields::email)]
    pub email: String,
    #[schema(schema_with = fields::secret)]
    pub password: secrecy::SecretString,
    pub account: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub session_token: String,
    pub session_id: String,
    pub account_id: String,
    pub user_id: String,
    pub role: String,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked: bool,
    pub current: bool,
    pub source_ip: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    #[schema(schema_with = fields::secret)]
    pub current_password: secrecy::SecretString,
    #[schema(schema_with = fields::new_password)]
    pub new_password: secrecy::SecretString,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteReset {
    #[schema(schema_with = fields::secret)]
    pub token: String,
    #[schema(schema_with = fields::new_password)]
    pub new_password: secrecy::SecretString,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetIssued {
    pub id: String,
    pub reset_token: String,
    pub expires_at: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AccountName)]
pub struct NamedOnly {
    #[schema(schema_with = fields::label)]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub role: Option<String>,
    pub deletion_requested_at: Option<String>,
    pub deletion_due_at: Option<String>,
}

impl Account {
    pub fn from_state(row: &AccountState, role: Option<String>) -> Self {
        Self {
            id: row.id.to_string(),
            name: row.name.clone(),
            created_at: rfc3339(row.created_at),
            role,
            deletion_requested_at: row.deletion_requested_at.map(rfc3339),
            deletion_due_at: row.deletion_due_at.map(rfc3339),
        }
    }
}

/// A user's role in an account.
fn role() -> Schema {
    enumeration(crate::authz::Role::ALL.iter().map(|r| r.as_str())).into()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(schema_with = fields::email)]
    pub email: String,
    #[schema(schema_with = role)]
    pub role: String,
    /// How long an invitation stays acceptable (default 7 days, at most 30); unused when
    /// the email has a user already.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2_592_000)]
    pub ttl_secs: Option<u64>,
    /// Refused whenever present (even null): nobody sets another person's password. Kept
    /// as a field so the refusal can say why, out of the schema so clients never send it.
    #[serde(default, deserialize_with = "present", rename = "password")]
    #[schema(ignore)]
    pub password_given: bool,
}

/// Whether a field was in the body at all, whatever its value.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

impl From<CreateUser> for crate::service::AddUser {
    fn from(body: CreateUser) -> Self {
        Self {
            email: body.email,
            role: body.role,
            ttl_secs: body.ttl_secs,
            password_given: body.password_given,
        }
    }
}

/// A pending invitation: never its token.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub role: String,
    pub created_at: String,
    pub expires_at: String,
}

impl From<&InvitationRow> for Invitation {
    fn from(row: &InvitationRow) -> Self {
        Self {
            id: row.id.to_string(),
            email: row.email.clone(),
            role: row.role.as_str().to_owned(),
            created_at: rfc3339(row.created_at),
            expires_at: rfc3339(row.expires_at),
        }
    }
}

/// A new invitation and its token, shown once: the person invited accepts with it.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationIssued {
    pub invitation: Invitation,
    pub token: String,
}

/// The answer of `POST /v1/users`: the new member when the email had a user already, else
/// the invitation with its token (told apart by the `invitation` field).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum UserAdded {
    Member(User),
    Invited(InvitationIssued),
}

impl From<crate::service::UserAdded> for UserAdded {
    fn from(added: crate::service::UserAdded) -> Self {
        match added {
            crate::service::UserAdded::Member(row) => Self::Member(User::from(&row)),
            crate::service::UserAdded::Invited(issued) => Self::Invited(InvitationIssued {
                invitation: Invitation::from(&issued.row),
                token: issued.token.reveal().to_owned(),
            }),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    #[schema(schema_with = fields::secret)]
    pub token: String,
    #[schema(schema_with = fields::new_password)]
    pub password: secrecy::SecretString,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[serde(default, deserialize_with = "null_refused::role")]
    #[schema(schema_with = role)]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "null_refused::suspended")]
    #[schema(nullable = false)]
    pub suspended: Option<bool>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
            id: row.user_id.to_string(),
            email: row.email.clone(),
            role: row.role.as_str().to_owned(),
            suspended: row.suspended,
            member_since: rfc3339(row.created_at),
        }
    }
}
