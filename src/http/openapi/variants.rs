//! Schemas a flat struct cannot say, written by hand with utoipa's builders and attached to
//! their types: the requests whose fields go in exclusive sets (`oneOf` of closed
//! variants, because the server refuses a mix), the reply that extends another, and the
//! guardrails, whose type lives in the authentication layer.

use super::fields::{
    b64, closed_object, enumeration, flags, grants, name, proof, schema_ref, string, untyped,
    version,
};
use crate::auth::guardrails::{Guardrails, TimeWindow};
use crate::http::dto::{
    BindCertificate, CreateKey, CreateMachineToken, MachineTokenInfo, MachineTokenIssued, Revoke,
    Sign, Verify,
};
use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema,
};
use utoipa::{PartialSchema, ToSchema};

/// Implements `ToSchema` for types whose `PartialSchema` is written below, under the
/// type's own name.
macro_rules! named {
    ($($ty:ident),*) => {$(
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
        }
    )*};
}

named!(
    CreateKey,
    Sign,
    Verify,
    BindCertificate,
    Revoke,
    CreateMachineToken,
    MachineTokenIssued,
    Guardrails,
    TimeWindow
);

fn one_of(variants: impl IntoIterator<Item = ObjectBuilder>) -> RefOr<Schema> {
    let mut one_of = OneOfBuilder::new();
    for variant in variants {
        one_of = one_of.item(variant);
    }
    one_of.into()
}

fn text(description: &str) -> RefOr<Schema> {
    string().description(Some(description)).into()
}

/// Generate a key pair (`algorithm`) or import a public key (`public_key`), never both.
impl PartialSchema for CreateKey {
    fn schema() -> RefOr<Schema> {
        // Derived from the key types themselves, so the document cannot drift from what
        // the server accepts.
        use crate::crypto::asym::KeyAlgorithm;
        let algorithms = enumeration(KeyAlgorithm::ALL.iter().map(|a| a.name()));
        let usages = ArrayBuilder::new()
            .min_items(Some(1))
            .items(enumeration(["sign", "decrypt"]))
            .description(Some("decrypt: RSA only"));
        let public_key = AnyOfBuilder::new()
            .item(string().pattern(Some("^\\s*-----BEGIN PUBLIC KEY-----")))
            .item(b64())
            .description(Some(
                "PEM `PUBLIC KEY`, or base64 of the DER SubjectPublicKeyInfo",
            ));
        let common = || [("name", name().into()), ("group", string().into())];
        one_of([
            closed_object(
                common()
                    .into_iter()
                    .chain([("algorithm", algorithms.into()), ("usages", usages.into())]),
                &["name", "group", "algorithm"],
            ),
            closed_object(
                common()
                    .into_iter()
                    .chain([("public_key", public_key.into())]),
                &["name", "group", "public_key"],
            ),
        ])
    }
}

/// Exactly one of `message` and `digest`: two closed variants (no `not`, which generators
/// handle poorly), each with the fields of `extra`.
fn message_or_digest(
    extra: impl Fn() -> Vec<(&'static str, RefOr<Schema>)>,
    required: &[&str],
) -> RefOr<Schema> {
    use crate::crypto::asym::KeyAlgorithm;
    let mut scheme_names: Vec<String> = Vec::new();
    for scheme in KeyAlgorithm::ALL.iter().flat_map(|a| a.schemes()) {
        if !scheme_names.contains(&scheme.name()) {
            scheme_names.push(scheme.name());
        }
    }
    let variant = |data: &'static str| {
        let mut properties = vec![
            (data, b64().into()),
            ("algorithm", enumeration(scheme_names.clone()).into()),
            ("signature_format", enumeration(["der", "raw"]).into()),
        ];
        properties.extend(extra());
        let mut all_required = vec![data];
        all_required.extend_from_slice(required);
        closed_object(properties, &all_required)
    };
    one_of([variant("message"), variant("digest")])
}

impl PartialSchema for Sign {
    fn schema() -> RefOr<Schema> {
        message_or_digest(Vec::new, &[])
    }
}

impl PartialSchema for Verify {
    fn schema() -> RefOr<Schema> {
        let extra = || vec![("signature", b64().into()), ("version", version().into())];
        message_or_digest(extra, &["signature"])
    }
}

/// SHA-256 of a certificate, as a caller may write it.
fn fingerprint() -> RefOr<Schema> {
    string()
        .pattern(Some("^(?:sha256:)?(?:[0-9A-Fa-f]:?){63}[0-9A-Fa-f]$"))
        .description(Some(
            "SHA-256 of the certificate: 64 hex digits, colons allowed",
        ))
        .into()
}

/// A pinned certificate (PEM, with an optional proof), a pinned fingerprint, or a rule
/// under a trusted CA that names a subject, a SAN or both.
impl PartialSchema for BindCertificate {
    fn schema() -> RefOr<Schema> {
        let by_ca = closed_object(
            [
                ("ca", text("a trusted CA id")),
                ("subject", string().into()),
                ("san", text("as listed, e.g. DNS:edge.example.com")),
            ],
            &["ca"],
        );
        let subject_or_san = AnyOfBuilder::new()
            .item(untyped().required("subject"))
            .item(untyped().required("san"));
        let mut variants = OneOfBuilder::new()
            .item(closed_object(
                [("certificate", text("PEM")), ("proof", proof().into())],
                &["certificate"],
            ))
            .item(closed_object(
                [("fingerprint", fingerprint())],
                &["fingerprint"],
            ));
        variants = variants.item(AllOfBuilder::new().item(by_ca).item(subject_or_san));
        variants.into()
    }
}

/// A certificate to revoke, by its PEM or its fingerprint.
impl PartialSchema for Revoke {
    fn schema() -> RefOr<Schema> {
        one_of([
            closed_object(
                [("certificate", text("PEM")), ("reason", string().into())],
                &["certificate"],
            ),
            closed_object(
                [("fingerprint", fingerprint()), ("reason", string().into())],
                &["fingerprint"],
            ),
        ])
    }
}

/// One closed variant per kind of token, each with the fields that kind takes.
impl PartialSchema for CreateMachineToken {
    fn schema() -> RefOr<Schema> {
        let lifetime = || super::fields::integer_range(60, 365 * 86_400).into();
        let kind = |kind: &'static str,
                    extra: Vec<(&'static str, RefOr<Schema>)>,
                    required: &[&'static str]| {
            let mut properties = vec![
                ("name", name().into()),
                ("flags", flags().into()),
                ("groups", grants().into()),
                ("kind", untyped().enum_values(Some([kind])).into()),
            ];
            properties.extend(extra);
            let mut all_required = vec!["kind", "name", "flags"];
            all_required.extend_from_slice(required);
            closed_object(properties, &all_required)
        };
        one_of([
            kind("bootstrap", Vec::new(), &[]),
            kind(
                "enrollment",
                vec![
                    ("lifetime_seconds", lifetime()),
                    ("max_uses", super::fields::integer_range(1, 10_000).into()),
                    ("machine_lifetime_seconds", lifetime()),
                ],
                &["lifetime_seconds", "max_uses", "machine_lifetime_seconds"],
            ),
            kind(
                "temporary",
                vec![
                    ("lifetime_seconds", lifetime()),
                    ("max_uses", untyped().enum_values(Some([1])).into()),
                    (
                        "machine_lifetime_seconds",
                        super::fields::integer_range(3_600, 365 * 86_400).into(),
                    ),
                    ("guardrails", schema_ref("Guardrails")),
                ],
                &["machine_lifetime_seconds"],
            ),
        ])
    }
}

/// A token's description, and the token itself (shown once).
impl PartialSchema for MachineTokenIssued {
    fn schema() -> RefOr<Schema> {
        let mut schema = MachineTokenInfo::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.properties.insert("token".into(), string().into());
            object.required.push("token".into());
        }
        schema
    }
}

impl PartialSchema for Guardrails {
    fn schema() -> RefOr<Schema> {
        let format = |format| string().format(Some(format));
        use utoipa::openapi::schema::{KnownFormat, SchemaFormat::KnownFormat as Known};
        let source = AnyOfBuilder::new()
            .item(format(Known(KnownFormat::Ipv4)))
            .item(format(Known(KnownFormat::Ipv6)))
            .item(string().pattern(Some(
                "^(?:[0-9]{1,3}\\.){3}[0-9]{1,3}/(?:[0-9]|[12][0-9]|3[0-2])$",
            )))
            .item(string().pattern(Some(
                "^[0-9A-Fa-f:.]+/(?:[0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$",
            )))
            .description(Some("an IP address or a CIDR network"));
        closed_object(
            [
                ("allowed_sources", ArrayBuilder::new().items(source).into()),
                ("time_window", schema_ref("TimeWindow")),
            ],
            &[],
        )
        .into()
    }
}

impl PartialSchema for TimeWindow {
    fn schema() -> RefOr<Schema> {
        let weekdays = enumeration([
            "mon",
            "tue",
            "wed",
            "thu",
            "fri",
            "sat",
            "sun",
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ]);
        closed_object(
            [
                ("time_zone", text("an IANA name, e.g. Europe/Paris")),
                (
                    "weekdays",
                    ArrayBuilder::new()
                        .min_items(Some(1))
                        .items(weekdays)
                        .into(),
                ),
                (
                    "start",
                    string()
                        .pattern(Some("^(?:[01][0-9]|2[0-3]):[0-5][0-9]$"))
                        .into(),
                ),
                (
                    "end",
                    string()
                        .pattern(Some("^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"))
                        .description(Some("after start"))
                        .into(),
                ),
            ],
            &["time_zone", "weekdays", "start", "end"],
        )
        .into()
    }
}
