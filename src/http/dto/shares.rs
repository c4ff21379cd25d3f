//! One-time shares: creation (a value given or generated, a timer), the list, and opening
//! with the passphrase.

use super::not_null;
use crate::clock::rfc3339;
use crate::http::openapi::fields::{self, enumeration};
use crate::service::{CreatedShare as Created, GenerateSpec, ShareRow, ShareSpec};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;
use zeroize::Zeroizing;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShare {
    pub group: String,
    /// The value to share (1 byte to 64 KiB of text); exactly one of `value` and `generate`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, min_length = 1, max_length = 65536, write_only)]
    pub value: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub generate: Option<GenerateValue>,
    /// The timer: 60 (one minute) to 86400 (24 hours).
    #[schema(minimum = 60, maximum = 86400)]
    pub expires_in_seconds: u64,
}

/// A value the server generates: `length` characters of `charset` (a UUID ignores length).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateValue {
    /// default 32
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, minimum = 8, maximum = 256)]
    pub length: Option<usize>,
    /// default `symbols`
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, schema_with = charset)]
    pub charset: Option<String>,
}

fn charset() -> Schema {
    enumeration(["symbols", "alphanumeric", "numbers", "uuid"]).into()
}

impl From<CreateShare> for ShareSpec {
    fn from(body: CreateShare) -> Self {
        Self {
            group: body.group.into(),
            value: body.value.map(Zeroizing::new),
            generate: body.generate.map(|g| GenerateSpec {
                length: g.length,
                charset: g.charset,
            }),
            expires_in_seconds: body.expires_in_seconds,
        }
    }
}

/// The new share: its id, the passphrase (shown this once) and the recipient's page.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedShare {
    pub id: String,
    #[serde(serialize_with = "reveal")]
    #[schema(value_type = String)]
    pub passphrase: Zeroizing<String>,
    pub url: String,
    pub expires_at: String,
}

impl From<Created> for CreatedShare {
    fn from(created: Created) -> Self {
        Self {
            id: created.row.id.to_string(),
            url: format!("/s/{}", created.row.id),
            expires_at: rfc3339(created.row.expires_at),
            passphrase: created.passphrase,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Share {
    pub id: String,
    pub group: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
}

impl From<&ShareRow> for Share {
    fn from(row: &ShareRow) -> Self {
        Self {
            id: row.id.to_string(),
            group: row.group_id.to_string(),
            created_by: row.created_by.clone(),
            created_at: rfc3339(row.created_at),
            expires_at: rfc3339(row.expires_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenShare {
    #[schema(schema_with = fields::secret)]
    pub passphrase: secrecy::SecretString,
}

/// The value, shown once: the share no longer exists.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenedShare {
    #[serde(serialize_with = "reveal")]
    #[schema(value_type = String)]
    pub value: Zeroizing<String>,
}

/// Writes a zeroizing string as a JSON string (the buffer is wiped when the reply is).
fn reveal<S: Serializer>(value: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value)
}
