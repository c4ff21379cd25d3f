//! Wire shapes of the API (api.md), one file per domain. Requests refuse unknown fields so
//! a typo is a 400, not a silently ignored setting. The shapes only convert: what they show
//! is computed by the service and the crypto modules, so a reply cannot drift from the rules.
//!
//! Every shape is re-exported here, so the handlers name them `dto::Name` whatever file
//! they live in.
//!
//! Each shape also derives (or, where a flat struct cannot say it, implements) utoipa's
//! `ToSchema`: the OpenAPI document's schemas come from these types, so the document says
//! what the server reads and writes. Replies carry `deny_unknown_fields` too: serde ignores
//! it when serializing, and utoipa reads it to close the reply's schema (a reply has exactly
//! these fields).

mod activity;

/// An optional field whose explicit `null` is refused (leave the field out instead): for
/// PATCH bodies, where `null` could otherwise pass for "unchanged".
pub(crate) fn not_null<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d)?
        .map(Some)
        .ok_or_else(|| {
            <D::Error as serde::de::Error>::custom("a field cannot be null: leave it out instead")
        })
}
mod answers;
mod approvals;
mod aws;
mod certificates;
mod credentials;
mod groups;
mod identity;
mod keyrings;
mod keys;
mod machines;
mod policies;
mod requests;
mod secrets;
mod shares;

mod alerts;
mod status;
mod templates;
mod trail;

pub use activity::*;
pub use approvals::*;
pub use aws::*;
pub use certificates::*;
pub use credentials::*;
pub use groups::*;
pub use identity::*;
pub use keyrings::*;
pub use keys::*;
pub use machines::*;
pub use policies::*;
pub(crate) use requests::{decode_b64, pem_or_b64, possession_proof};
pub use secrets::*;
pub use shares::*;

pub use alerts::*;
pub use status::*;
pub use templates::*;
pub use trail::*;

use serde::{Deserialize, Deserializer};

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Deserializers for optional fields where `null` means nothing: an absent field is `None`
/// (in a PATCH: keep the value), a value is `Some`, and an explicit `null`, which would read
/// as "clear this" or "none" but cannot mean either, is refused with a message naming the
/// field. One function per field name. (A keyring's `rotation_period_days` and
/// `max_encrypt_count` are the fields where `null` does mean something: no limit.)
mod null_refused {
    macro_rules! fields {
        ($($field:ident),*) => {$(
            pub fn $field<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
            where
                D: serde::Deserializer<'de>,
                T: serde::Deserialize<'de>,
            {
                <Option<T> as serde::Deserialize>::deserialize(deserializer)?
                    .map(Some)
                    .ok_or_else(|| {
                        <D::Error as serde::de::Error>::custom(concat!(
                            "`",
                            stringify!($field),
                            "` cannot be null: leave the field out instead"
                        ))
                    })
            }
        )*};
    }
    fields!(
        canary,
        value,
        fields,
        rotation,
        retention,
        managed,
        cascade,
        length,
        charset,
        disabled,
        flags,
        enabled,
        min_decryption_version,
        cache_ttl_seconds,
        min_version,
        role,
        suspended,
        name,
        algorithm,
        usages,
        public_key,
        message,
        digest,
        signature_format,
        version,
        organization,
        organizational_unit,
        country,
        certificate,
        fingerprint,
        ca,
        subject,
        san,
        proof,
        reason,
        lifetime_seconds,
        max_uses,
        machine_lifetime_seconds,
        guardrails,
        expires_at
    );
}
