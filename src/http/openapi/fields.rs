//! Schemas of fields whose rule is more than their Rust type says (a pattern, a range, an
//! enumeration taken from the code that checks it). The DTOs name them with
//! `#[schema(schema_with = ...)]`, so each rule is written once and sits next to the field
//! it describes.

use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, Schema,
    SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};

/// Names used in paths and flags: keyrings, keys, groups, apps, tokens, trusted CAs.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";
/// Standard base64 with padding, canonical (the unused bits of the last symbol are zero),
/// exactly what the server's decoder accepts.
pub const BASE64_PATTERN: &str =
    "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$";
/// A user's e-mail address as the server checks it (before lower-casing): a local part of
/// 1-64 visible characters but `@"(),:;<>[\]`, a domain of two or more LDH labels.
pub const EMAIL_PATTERN: &str = r"^[A-Za-z0-9!#$%&'*+./=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";
/// One DNS label, and a last label (top-level domain) that starts with a letter.
const LABEL: &str = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const TOP_LABEL: &str = "[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/// RFC 3986 characters, and those of an authority (no `/?#`).
const URI_CHARS: &str = r"A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-";
const AUTHORITY_CHARS: &str = r"A-Za-z0-9._~:\[\]@!$&'()*+,;=%-";
/// RFC 5322 atext.
const ATEXT: &str = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-";

pub(crate) fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

pub(crate) fn integer_range(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min))
        .maximum(Some(max))
}

pub(crate) fn enumeration<S: Into<serde_json::Value>>(
    values: impl IntoIterator<Item = S>,
) -> ObjectBuilder {
    string().enum_values(Some(values))
}

pub(crate) fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

/// A version number of a key or keyring: the server reads a `u32` and refuses 0.
pub fn version() -> Schema {
    integer_range(1, u32::MAX.into()).into()
}

/// The lowest version still usable, which cannot be above the current one.
pub fn lowest_version() -> Schema {
    integer_range(1, u32::MAX.into())
        .description(Some("at most the current version"))
        .into()
}

/// A name of a keyring, key, group, app, token or trusted CA.
pub fn name() -> Schema {
    string()
        .pattern(Some(NAME_PATTERN))
        .min_length(Some(1))
        .max_length(Some(64))
        .into()
}

/// Binary data, base64 as the server decodes it.
pub fn b64() -> Schema {
    b64_builder().into()
}

fn b64_builder() -> ObjectBuilder {
    string()
        .content_encoding("base64")
        .pattern(Some(BASE64_PATTERN))
}

pub fn email() -> Schema {
    string()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .pattern(Some(EMAIL_PATTERN))
        .max_length(Some(254))
        .into()
}

/// `min..=max` characters (Unicode scalar values), none of them a control character.
fn printable(min: usize, max: usize) -> ObjectBuilder {
    string()
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(format!("^[^\\x00-\\x1f\\x7f-\\x9f]{{{min},{max}}}$")))
}

/// A label a person reads: an API key's or an account's name.
pub fn label() -> Schema {
    printable(1, 128).into()
}

/// One attribute of a certificate subject.
pub fn subject_field() -> Schema {
    printable(1, 64).into()
}

/// A secret the caller sends and the server never shows back.
pub fn secret() -> Schema {
    string().write_only(Some(true)).into()
}

/// A password as the rule wants it; the "six different characters" part is stated, not
/// patterned.
pub fn new_password() -> Schema {
    printable(12, 128)
        .write_only(Some(true))
        .description(Some(
            "12-128 characters, at least 6 different ones, no control characters",
        ))
        .into()
}

/// A flags object: patterns of segments (`*` or a name) to true (grant) or false (deny). At
/// least one entry; every pattern must also match a flag of the catalogue (the server says
/// which does not).
pub fn flags() -> Schema {
    let pattern = "^(?:\\*|[A-Za-z0-9_-]{1,64})(?:\\.(?:\\*|[A-Za-z0-9_-]{1,64}))*$";
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .min_properties(Some(1))
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::Boolean)))
        .property_names(Some(untyped().pattern(Some(pattern))))
        .into()
}

/// The operations an app may hold in a group, as the authorization table names them.
fn operation() -> ObjectBuilder {
    enumeration(crate::authz::Operation::ALL.iter().map(|o| o.as_str()))
}

/// A list of operations of the authorization table.
pub fn operations() -> Schema {
    ArrayBuilder::new().items(operation()).into()
}

/// Group id → operations an app or machine may perform there.
pub fn grants() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(ArrayBuilder::new().items(operation())))
        .into()
}

/// Group ids.
pub fn group_ids() -> Schema {
    ArrayBuilder::new()
        .items(string().description(Some("a group id")))
        .into()
}

/// A keyring's rotation period: a number of days, or `null` for none.
pub fn rotation_days() -> Schema {
    nullable_range(1, 3650)
}

/// A keyring's encryption limit: a count, or `null` for none.
pub fn encrypt_limit() -> Schema {
    nullable_range(1, i64::MAX)
}

/// An integer in `min..=max`, or `null`.
fn nullable_range(min: i64, max: i64) -> Schema {
    integer_range(min, max)
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .into()
}

/// An instant in the future, at most a year away.
pub fn expiry() -> Schema {
    string()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some("in the future, at most 365 days from now"))
        .into()
}

/// A machine's guardrails, by reference.
pub fn guardrails() -> RefOr<Schema> {
    schema_ref("Guardrails")
}

/// A free-form object (flags or grants as stored).
pub fn object() -> Schema {
    ObjectBuilder::new().schema_type(Type::Object).into()
}

/// A subjectAltName entry, typed as the server types it: an IP address, a URI
/// (`scheme://authority…` or `urn:nid:nss`), an e-mail address, or a DNS name.
pub fn subject_alt_names() -> Schema {
    let dns = format!(r"^(?:\*\.(?:{LABEL}\.)+|(?:{LABEL}\.)*){TOP_LABEL}$");
    let mail = format!(r"^[{ATEXT}]+(?:\.[{ATEXT}]+)*@(?:{LABEL}\.)*{TOP_LABEL}$");
    let uri = format!(r"^[A-Za-z][A-Za-z0-9+.-]*://[{AUTHORITY_CHARS}]+[{URI_CHARS}]*$");
    let urn = format!(r"^[Uu][Rr][Nn]:[A-Za-z0-9-]{{2,32}}:[{URI_CHARS}]+$");
    let patterned = |pattern: String, max: usize, description: &str| {
        string()
            .pattern(Some(pattern))
            .max_length(Some(max))
            .description(Some(description))
    };
    let entry = AnyOfBuilder::new()
        .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Ipv4))))
        .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Ipv6))))
        .item(patterned(
            dns,
            253,
            "DNS name (LDH labels, optional `*.` first label)",
        ))
        .item(patterned(
            mail,
            254,
            "e-mail address (rfc822Name); the part before @ is at most 64 characters",
        ))
        .item(patterned(uri, 2048, "URI"))
        .item(patterned(urn, 2048, "URN"));
    ArrayBuilder::new().max_items(Some(100)).items(entry).into()
}

/// Proof of possession of a certificate's (or CA's) private key.
pub fn proof() -> Schema {
    b64_builder()
        .description(Some(
            "proof of possession: standard base64 of a signature by the certificate's private key over the ASCII message coffer-possession-proof:v1:<account id>:<SHA-256 fingerprint of the certificate, lower-case hex> (ECDSA P-256/SHA-256 or P-384/SHA-384, DER or raw r||s; RSA PKCS#1 v1.5 SHA-256; pure Ed25519). Makes the binding proven",
        ))
        .into()
}

/// A closed object schema: exactly these properties, the `required` ones present.
pub(crate) fn closed_object(
    properties: impl IntoIterator<Item = (&'static str, RefOr<Schema>)>,
    required: &[&str],
) -> ObjectBuilder {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    for (name, schema) in properties {
        object = object.property(name, schema);
    }
    for name in required {
        object = object.required(*name);
    }
    object
}

/// One of `values`, or `null`.
pub(crate) fn nullable_enumeration(
    values: impl IntoIterator<Item = &'static str>,
) -> ObjectBuilder {
    let mut all: Vec<serde_json::Value> = values.into_iter().map(Into::into).collect();
    all.push(serde_json::Value::Null);
    untyped().enum_values(Some(all))
}

/// A schema that names no type: its other keywords say what is valid.
pub(crate) fn untyped() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::AnyValue)
}

/// The scopes an AI agent may hold, from the service's one list.
pub fn agent_scopes() -> Schema {
    ArrayBuilder::new()
        .items(enumeration(
            crate::service::AGENT_SCOPES.iter().map(|(scope, _)| *scope),
        ))
        .into()
}

/// An AI agent's name, as a person reads it.
pub fn agent_name() -> Schema {
    printable(1, 64).into()
}

/// A bootstrap token's lifetime in seconds.
pub fn agent_token_ttl() -> Schema {
    integer_range(60, crate::service::MAX_AGENT_TOKEN_TTL_SECS).into()
}
