//! The OpenAPI 3.1 document: its paths are generated from the catalogue (every operation
//! with its flags, schemas and status), its statuses from what each operation can answer.

use crate::catalogue::{self, Operation};
use serde_json::{Value, json};

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

fn string() -> Value {
    json!({"type": "string"})
}

fn integer() -> Value {
    json!({"type": "integer"})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

fn nullable(kind: &str) -> Value {
    json!({"type": [kind, "null"]})
}

/// An integer in `min..=max`.
fn int_range(min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

/// An integer in `min..=max`, or `null`.
fn nullable_range(min: i64, max: i64) -> Value {
    json!({"type": ["integer", "null"], "minimum": min, "maximum": max})
}

fn name() -> Value {
    json!({"type": "string", "pattern": NAME_PATTERN, "minLength": 1, "maxLength": 64})
}

fn b64() -> Value {
    json!({"type": "string", "contentEncoding": "base64", "pattern": BASE64_PATTERN})
}

fn email() -> Value {
    json!({"type": "string", "format": "email", "pattern": EMAIL_PATTERN, "maxLength": 254})
}

/// `min..=max` characters (Unicode scalar values), none of them a control character.
fn printable(min: u32, max: u32) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max,
           "pattern": format!("^[^\\x00-\\x1f\\x7f-\\x9f]{{{min},{max}}}$")})
}

fn secret() -> Value {
    json!({"type": "string", "writeOnly": true})
}

/// A password as the rule wants it; the "six different characters" part is stated, not
/// patterned.
fn new_password() -> Value {
    let mut p = printable(12, 128);
    p["writeOnly"] = json!(true);
    p["description"] = json!("12-128 characters, at least 6 different ones, no control characters");
    p
}

fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn enumeration(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

/// A flags object: patterns of segments (`*` or a name) to true (grant) or false (deny). At
/// least one entry; every pattern must also match a flag of the catalogue (the server says
/// which does not).
fn flags() -> Value {
    json!({"type": "object", "minProperties": 1, "additionalProperties": boolean(),
           "propertyNames": {"pattern": "^(?:\\*|[A-Za-z0-9_-]{1,64})(?:\\.(?:\\*|[A-Za-z0-9_-]{1,64}))*$"}})
}

/// The operations an app may hold in a group, as the authorization table names them.
fn operations() -> Value {
    let names: Vec<&str> = crate::authz::Operation::ALL
        .iter()
        .map(|o| o.as_str())
        .collect();
    enumeration(&names)
}

/// Group id → operations an app or machine may perform there.
fn grants() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "array", "items": operations()}})
}

fn context() -> Value {
    json!({"type": "object", "additionalProperties": string()})
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// An object of optional fields of which at least one must be given (a PATCH).
fn patch(properties: Value) -> Value {
    let mut o = object(properties, &[]);
    o["minProperties"] = json!(1);
    o
}

fn list(item: &str) -> Value {
    json!({"type": "array", "items": schema_ref(item)})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// `base` with more properties (and required ones): for responses that extend another.
fn extend(mut base: Value, properties: Value, required: &[&str]) -> Value {
    if let (Some(props), Some(extra)) = (base["properties"].as_object_mut(), properties.as_object())
    {
        props.extend(extra.clone());
    }
    if let Some(req) = base["required"].as_array_mut() {
        req.extend(required.iter().map(|r| json!(r)));
    }
    base
}

fn schemas() -> Value {
    json!({
        "Error": object(json!({"error": object(json!({
            "code": {"type": "string", "description": "invalid_input, unauthenticated, forbidden, temp_machine_blocked, not_found, conflict, key_disabled, usage_not_allowed, version_retired, payload_too_large, decrypt_failed, rate_limited, unavailable, internal"},
            "message": string(), "request_id": string()}), &["code", "message", "request_id"])}), &["error"]),
        "Status": object(json!({"status": enumeration(&["ok", "ready", "unavailable"])}), &["status"]),
        "CreateApiKey": object(json!({"principal": {"type": "string", "description": "an app or user id"}, "name": printable(1, 128), "flags": flags()}), &["principal", "name", "flags"]),
        "CreatedApiKey": object(json!({"id": string(), "api_key": string()}), &["id", "api_key"]),
        "PatchApiKey": patch(json!({"disabled": {"type": "boolean", "description": "true disables for good; false is refused (409) once disabled"}, "flags": flags()})),
        "ApiKey": object(json!({"id": string(), "name": string(), "principal": string(), "principal_kind": string(), "flags": {"type": "object", "additionalProperties": boolean()},
            "created_at": string(), "last_used_at": nullable("string"), "disabled": boolean()}), &["id", "name", "principal", "flags", "created_at", "disabled"]),
        "ApiKeyList": list("ApiKey"),
        "CreateGroup": object(json!({"name": name()}), &["name"]),
        "Group": object(json!({"id": string(), "name": string(), "master_key_version": integer(), "created_at": string()}), &["id", "name"]),
        "GroupList": list("Group"),
        "CreateApp": object(json!({"name": name(), "groups": {"type": "array", "items": {"type": "string", "description": "a group id"}}}), &["name"]),
        "App": object(json!({"id": string(), "name": string(), "groups": strings(),
            "operations": {"type": "object", "additionalProperties": strings()}, "enabled": boolean(), "created_at": string()}), &["id", "name", "groups"]),
        "AppList": list("App"),
        "CreateKeyring": object(json!({"name": name(), "group": string(), "protection": enumeration(&["envelope", "hsm"]),
            "rotation_period_days": nullable_range(1, 3650), "max_encrypt_count": nullable_range(1, i64::MAX),
            "cache_ttl_seconds": {"type": "integer", "minimum": 0, "maximum": 86400, "description": "default 300"}}), &["name", "group"]),
        "Keyring": object(json!({"id": string(), "name": string(), "group": string(), "protection": string(), "current_version": integer(),
            "min_decryption_version": integer(), "enabled": boolean(), "rotation_period_days": nullable("integer"),
            "max_encrypt_count": nullable("integer"), "cache_ttl_seconds": integer(), "created_at": string(), "rotated_at": string()}),
            &["id", "name", "group", "protection", "current_version", "min_decryption_version", "enabled", "created_at"]),
        "KeyringList": list("Keyring"),
        "Encrypt": object(json!({"plaintext": b64(), "context": context()}), &["plaintext"]),
        "Encrypted": object(json!({"ciphertext": string(), "key_version": integer()}), &["ciphertext", "key_version"]),
        "Decrypt": object(json!({"ciphertext": {"type": "string", "pattern": "^coffer:v[1-9][0-9]{0,9}:", "description": "coffer:v<version>:<base64>"}, "context": context()}), &["ciphertext"]),
        "Decrypted": object(json!({"plaintext": b64(), "key_version": integer()}), &["plaintext", "key_version"]),
        "DataKeyRequest": object(json!({"bytes": int_range(16, 64), "context": context()}), &[]),
        "DataKey": object(json!({"plaintext": b64(), "ciphertext": string(), "key_version": integer()}), &["plaintext", "ciphertext"]),
        "Rotated": object(json!({"current_version": integer()}), &["current_version"]),
        "KeyringConfig": object(json!({"enabled": boolean(), "min_decryption_version": integer(), "rotation_period_days": nullable("integer"),
            "max_encrypt_count": nullable("integer"), "cache_ttl_seconds": integer()}), &["enabled", "min_decryption_version", "cache_ttl_seconds"]),
        "PatchKeyringConfig": object(json!({"enabled": boolean(),
            "min_decryption_version": {"type": "integer", "minimum": 1, "maximum": u32::MAX, "description": "at most the current version"},
            "rotation_period_days": nullable_range(1, 3650), "max_encrypt_count": nullable_range(1, i64::MAX),
            "cache_ttl_seconds": int_range(0, 86400)}), &[]),
        "KeyVersion": object(json!({"version": integer(), "state": enumeration(&["current", "active", "retired"]), "created_at": string(),
            "encrypt_count": integer(), "fingerprint": string()}), &["version", "state", "created_at", "encrypt_count", "fingerprint"]),
        "KeyVersionList": list("KeyVersion"),
        "HashInfo": object(json!({"keyring": string(), "version": integer(), "created_at": string(), "state": string()}), &["keyring", "version", "created_at", "state"]),
        "Event": object(json!({"seq": integer(), "id": string(), "time": string(), "account": nullable("string"), "principal": nullable("string"),
            "auth_method": string(), "action": string(), "object": nullable("string"), "outcome": string(), "status": integer(),
            "source_ip": nullable("string"), "request_id": string(), "credential": nullable("string"), "detail": string(),
            "identity": {"enum": ["verified", "claimed", null], "description": "whether the principal was verified, or only claimed by a refused request"}}), &["seq", "id", "time", "action", "outcome", "status", "request_id"]),
        "Activity": object(json!({"events": list("Event"), "next": {"type": ["integer", "null"], "description": "pass as `before` for the next (older) page"}}), &["events"]),
    })
}

/// A subjectAltName entry, typed as the server types it: an IP address, a URI
/// (`scheme://authority…` or `urn:nid:nss`), an e-mail address, or a DNS name.
fn subject_alt_name() -> Value {
    let dns = format!(r"^(?:\*\.(?:{LABEL}\.)+|(?:{LABEL}\.)*){TOP_LABEL}$");
    let mail = format!(r"^[{ATEXT}]+(?:\.[{ATEXT}]+)*@(?:{LABEL}\.)*{TOP_LABEL}$");
    let uri = format!(r"^[A-Za-z][A-Za-z0-9+.-]*://[{AUTHORITY_CHARS}]+[{URI_CHARS}]*$");
    let urn = format!(r"^[Uu][Rr][Nn]:[A-Za-z0-9-]{{2,32}}:[{URI_CHARS}]+$");
    json!({"anyOf": [
        {"type": "string", "format": "ipv4"},
        {"type": "string", "format": "ipv6"},
        {"type": "string", "pattern": dns, "maxLength": 253, "description": "DNS name (LDH labels, optional `*.` first label)"},
        {"type": "string", "pattern": mail, "maxLength": 254, "description": "e-mail address (rfc822Name); the part before @ is at most 64 characters"},
        {"type": "string", "pattern": uri, "maxLength": 2048, "description": "URI"},
        {"type": "string", "pattern": urn, "maxLength": 2048, "description": "URN"},
    ]})
}

/// Schemas of `/v1/keys` and `/v1/objects` (a second literal: one would exceed the macro's
/// recursion limit).
fn key_schemas() -> Value {
    // Derived from the key types themselves, so the document cannot drift from what the
    // server accepts.
    use crate::crypto::asym::KeyAlgorithm;
    let algorithm_names: Vec<&str> = KeyAlgorithm::ALL.iter().map(|a| a.name()).collect();
    let algorithms = enumeration(&algorithm_names);
    let create = json!({"oneOf": [
        object(json!({"name": name(), "group": string(), "algorithm": algorithms,
            "usages": {"type": "array", "minItems": 1, "items": enumeration(&["sign", "decrypt"]), "description": "decrypt: RSA only"}}),
            &["name", "group", "algorithm"]),
        object(json!({"name": name(), "group": string(),
            "public_key": {"anyOf": [{"type": "string", "pattern": "^\\s*-----BEGIN PUBLIC KEY-----"}, b64()],
                "description": "PEM `PUBLIC KEY`, or base64 of the DER SubjectPublicKeyInfo"}}),
            &["name", "group", "public_key"]),
    ]});
    json!({
        "CreateKey": create,
        "PatchKey": object(json!({"enabled": boolean(), "min_version": {"type": "integer", "minimum": 1, "maximum": u32::MAX, "description": "at most the current version"}}), &[]),
        "KeyVersionInfo": object(json!({"version": integer(), "state": enumeration(&["current", "active", "retired"]), "created_at": string(), "fingerprint": string()}),
            &["version", "state", "created_at", "fingerprint"]),
        "Key": object(json!({"id": string(), "name": string(), "group": string(), "type": enumeration(&["key_pair", "public_key"]), "algorithm": string(),
            "usages": {"type": "array", "items": enumeration(&["sign", "decrypt", "verify"])}, "enabled": boolean(), "current_version": integer(),
            "min_version": integer(), "created_at": string(), "versions": list("KeyVersionInfo"), "certificates": list("Certificate")}),
            &["id", "name", "group", "type", "algorithm", "usages", "enabled", "current_version", "min_version", "created_at"]),
        "KeyList": list("Key"),
        "PublicKey": object(json!({"key_version": integer(), "algorithm": string(), "pem": string(), "jwk": {"type": "object"}}), &["key_version", "algorithm", "pem", "jwk"]),
        "SecurityObject": object(json!({"id": string(), "type": enumeration(&crate::service::OBJECT_KINDS), "name": string(), "group": string(),
            "detail": string(), "enabled": boolean(), "created_at": string()}), &["id", "type", "name", "group", "detail", "enabled", "created_at"]),
        "ObjectList": list("SecurityObject"),
    })
}

/// Signing and verifying with a key pair.
fn signature_schemas() -> Value {
    use crate::crypto::asym::KeyAlgorithm;
    let mut scheme_names: Vec<String> = Vec::new();
    for scheme in KeyAlgorithm::ALL.iter().flat_map(|a| a.schemes()) {
        if !scheme_names.contains(&scheme.name()) {
            scheme_names.push(scheme.name());
        }
    }
    let schemes = enumeration(&scheme_names.iter().map(String::as_str).collect::<Vec<_>>());
    let version = json!({"type": "integer", "minimum": 1, "maximum": u32::MAX});
    let format = enumeration(&["der", "raw"]);
    // Exactly one of `message` and `digest`: two closed variants (no `not`, which generators
    // handle poorly).
    let data_variants = |extra: Value, required: &[&str]| {
        let variant = |data: &str| {
            let mut props = json!({data: b64(), "algorithm": schemes, "signature_format": format});
            if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
                p.extend(e.clone());
            }
            let mut req = vec![data];
            req.extend_from_slice(required);
            object(props, &req)
        };
        json!({"oneOf": [variant("message"), variant("digest")]})
    };
    let sign = data_variants(json!({}), &[]);
    let verify = data_variants(
        json!({"signature": b64(), "version": version}),
        &["signature"],
    );
    json!({
        "Sign": sign,
        "Signed": object(json!({"signature": b64(), "key_version": integer(), "algorithm": string()}), &["signature", "key_version", "algorithm"]),
        "Verify": verify,
        "Verified": object(json!({"valid": boolean(), "key_version": nullable("integer")}), &["valid"]),
        "KeyDecrypt": object(json!({"ciphertext": b64(), "version": version}), &["ciphertext"]),
    })
}

/// Certificate signing requests and the certificates imported for a key.
fn key_certificate_schemas() -> Value {
    let subject_field = printable(1, 64);
    json!({
        "CsrRequest": object(json!({"common_name": subject_field, "organization": subject_field, "organizational_unit": subject_field,
            "country": {"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166 alpha-2, upper case"},
            "subject_alt_names": {"type": "array", "maxItems": 100, "items": subject_alt_name()}}), &["common_name"]),
        "Csr": object(json!({"csr": string(), "key_version": integer()}), &["csr", "key_version"]),
        "ImportCertificate": object(json!({"certificate": {"type": "string", "description": "PEM (one or more CERTIFICATE blocks), or base64 of one DER certificate"}}), &["certificate"]),
        "ChainEntry": object(json!({"subject": string(), "issuer": string(), "not_after": string(), "fingerprint": string()}), &["subject", "issuer", "not_after", "fingerprint"]),
        "Certificate": object(json!({"id": string(), "key_version": integer(), "subject": string(), "issuer": string(), "serial": string(),
            "not_before": string(), "not_after": string(), "expired": boolean(), "not_yet_valid": boolean(),
            "subject_alt_names": strings(), "key_usage": strings(), "is_ca": boolean(),
            "fingerprint": string(), "pem": string(), "chain": list("ChainEntry"), "created_at": string()}),
            &["id", "key_version", "subject", "issuer", "serial", "not_before", "not_after", "expired", "not_yet_valid", "fingerprint", "pem", "chain"]),
        "CertificateList": list("Certificate"),
    })
}

/// Schemas of identity routes: accounts, users, sessions, group members, app credentials.
fn identity_schemas() -> Value {
    let roles = enumeration(&["owner", "admin", "member", "auditor"]);
    json!({
        "Login": object(json!({"email": email(), "password": secret(), "account": string()}), &["email", "password", "account"]),
        "Session": object(json!({"session_token": string(), "session_id": string(), "account_id": string(), "user_id": string(), "role": string(), "expires_at": string()}),
            &["session_token", "session_id", "account_id", "user_id", "role", "expires_at"]),
        "SessionInfo": object(json!({"id": string(), "created_at": string(), "expires_at": string(), "revoked": boolean(), "current": boolean(), "source_ip": nullable("string")}),
            &["id", "created_at", "expires_at", "revoked", "current"]),
        "SessionList": list("SessionInfo"),
        "ChangePassword": object(json!({"current_password": secret(), "new_password": new_password()}), &["current_password", "new_password"]),
        "CompleteReset": object(json!({"token": secret(), "new_password": new_password()}), &["token", "new_password"]),
        "ResetIssued": object(json!({"id": string(), "reset_token": string(), "expires_at": string()}), &["id", "reset_token", "expires_at"]),
        "AccountName": object(json!({"name": printable(1, 128)}), &["name"]),
        "Account": object(json!({"id": string(), "name": string(), "created_at": string(), "role": string(), "deletion_requested_at": nullable("string"), "deletion_due_at": nullable("string")}),
            &["id", "name", "created_at"]),
        "AccountList": list("Account"),
        "CreateUser": object(json!({"email": email(), "role": roles, "password": new_password()}), &["email", "role"]),
        "PatchUser": patch(json!({"role": roles, "suspended": boolean()})),
        "User": object(json!({"id": string(), "email": string(), "role": string(), "suspended": boolean(), "member_since": string()}), &["id", "email", "role", "suspended"]),
        "UserList": list("User"),
        "GroupUserRole": object(json!({"role": enumeration(&["member", "auditor"])}), &["role"]),
        "GroupUser": object(json!({"id": string(), "role": string()}), &["id", "role"]),
        "GroupAppOperations": object(json!({"operations": {"type": "array", "items": operations()}}), &["operations"]),
        "GroupApp": object(json!({"id": string(), "operations": strings()}), &["id", "operations"]),
        "GroupMembers": object(json!({"users": list("GroupUser"), "apps": list("GroupApp")}), &["users", "apps"]),
    })
}

/// Apps' settings and credentials: bound certificates, trusted CAs, revocations.
fn certificate_schemas() -> Value {
    let fingerprint = json!({"type": "string", "pattern": "^(?:sha256:)?(?:[0-9A-Fa-f]:?){63}[0-9A-Fa-f]$",
                             "description": "SHA-256 of the certificate: 64 hex digits, colons allowed"});
    let certificate = json!({"type": "string", "description": "PEM"});
    let ca = json!({"type": "string", "description": "a trusted CA id"});
    let mut proof = b64();
    proof["description"] = json!(
        "proof of possession: standard base64 of a signature by the certificate's private key over the ASCII message coffer-possession-proof:v1:<account id>:<SHA-256 fingerprint of the certificate, lower-case hex> (ECDSA P-256/SHA-256 or P-384/SHA-384, DER or raw r||s; RSA PKCS#1 v1.5 SHA-256; pure Ed25519). Makes the binding proven"
    );
    let san = json!({"type": "string", "description": "as listed, e.g. DNS:edge.example.com"});
    let mut by_ca = object(json!({"ca": ca, "subject": string(), "san": san}), &["ca"]);
    by_ca["anyOf"] = json!([{"required": ["subject"]}, {"required": ["san"]}]);
    let bind = json!({"oneOf": [
        object(json!({"certificate": certificate, "proof": proof}), &["certificate"]),
        object(json!({"fingerprint": fingerprint}), &["fingerprint"]),
        by_ca,
    ]});
    let revoke = json!({"oneOf": [
        object(json!({"certificate": certificate, "reason": string()}), &["certificate"]),
        object(json!({"fingerprint": fingerprint, "reason": string()}), &["fingerprint"]),
    ]});
    json!({
        "PatchApp": patch(json!({"name": name(), "enabled": boolean()})),
        "BindCertificate": bind,
        "AppCertificate": object(json!({"id": string(), "kind": enumeration(&["pinned", "ca"]), "fingerprint": nullable("string"), "ca": nullable("string"),
            "subject": nullable("string"), "san": nullable("string"), "not_after": nullable("string"),
            "proven": {"type": "boolean", "description": "pinned with a proof of possession, or a rule under a proven trusted CA; a certificate that matches a proven binding ignores unproven ones"},
            "created_at": string()}), &["id", "kind", "proven", "created_at"]),
        "AppCredentials": object(json!({"api_keys": list("ApiKey"), "certificates": list("AppCertificate")}), &["api_keys", "certificates"]),
        "CreateTrustedCa": object(json!({"name": name(), "certificate": {"type": "string", "description": "PEM of a CA certificate (basicConstraints CA:TRUE)"}, "proof": proof}), &["name", "certificate"]),
        "TrustedCa": object(json!({"id": string(), "name": string(), "subject": string(), "fingerprint": string(),
            "proven": {"type": "boolean", "description": "registered with a proof of possession of the CA's key; the CA rules under it are proven"}, "created_at": string()}), &["id", "name", "subject", "fingerprint", "proven"]),
        "TrustedCaList": list("TrustedCa"),
        "Revoke": revoke,
        "Revocation": object(json!({"fingerprint": string(), "reason": nullable("string"), "revoked_at": string()}), &["fingerprint", "revoked_at"]),
        "RevocationList": list("Revocation"),
    })
}

/// Machine tokens and the guardrails they put on their machines.
fn machine_token_schemas() -> Value {
    let time_window = object(
        json!({"time_zone": {"type": "string", "description": "an IANA name, e.g. Europe/Paris"},
        "weekdays": {"type": "array", "minItems": 1, "items": enumeration(&["mon", "tue", "wed", "thu", "fri", "sat", "sun",
            "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])},
        "start": {"type": "string", "pattern": "^(?:[01][0-9]|2[0-3]):[0-5][0-9]$"},
        "end": {"type": "string", "pattern": "^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", "description": "after start"}}),
        &["time_zone", "weekdays", "start", "end"],
    );
    let lifetime = json!({"type": "integer", "minimum": 60, "maximum": 365 * 86_400});
    let token_common = json!({"name": name(), "flags": flags(), "groups": grants()});
    let token_kind = |kind: &str, extra: Value, required: &[&str]| {
        let mut props = token_common.clone();
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        props["kind"] = json!({"const": kind});
        let mut req = vec!["kind", "name", "flags"];
        req.extend_from_slice(required);
        object(props, &req)
    };
    let machine_token = object(
        json!({"id": string(), "kind": string(), "name": string(), "created_at": string(), "expires_at": string(), "max_uses": integer(), "uses": integer(),
            "flags": {"type": "object"}, "groups": {"type": "object"}, "machine_lifetime_seconds": integer(), "guardrails": schema_ref("Guardrails"), "disabled": boolean()}),
        &[
            "id",
            "kind",
            "name",
            "created_at",
            "expires_at",
            "max_uses",
            "uses",
            "flags",
            "groups",
            "disabled",
        ],
    );
    json!({
        "TimeWindow": time_window,
        "Guardrails": object(json!({"allowed_sources": {"type": "array", "items": {"anyOf": [
            {"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"},
            {"type": "string", "pattern": "^(?:[0-9]{1,3}\\.){3}[0-9]{1,3}/(?:[0-9]|[12][0-9]|3[0-2])$"},
            {"type": "string", "pattern": "^[0-9A-Fa-f:.]+/(?:[0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$"}],
            "description": "an IP address or a CIDR network"}},
            "time_window": schema_ref("TimeWindow")}), &[]),
        "CreateMachineToken": {"oneOf": [
            token_kind("bootstrap", json!({}), &[]),
            token_kind("enrollment", json!({"lifetime_seconds": lifetime, "max_uses": int_range(1, 10_000), "machine_lifetime_seconds": lifetime}),
                &["lifetime_seconds", "max_uses", "machine_lifetime_seconds"]),
            token_kind("temporary", json!({"lifetime_seconds": lifetime, "max_uses": {"const": 1},
                "machine_lifetime_seconds": int_range(3_600, 365 * 86_400), "guardrails": schema_ref("Guardrails")}), &["machine_lifetime_seconds"]),
        ]},
        "MachineToken": machine_token.clone(),
        "MachineTokenIssued": extend(machine_token, json!({"token": string()}), &["token"]),
        "MachineTokenList": list("MachineToken"),
    })
}

/// Machines: registration, provisioning, lifecycle and bundles.
fn machine_schemas() -> Value {
    json!({
        "RegisterMachine": object(json!({"token": secret(), "public_key": {"type": "string", "pattern": "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$",
            "description": "base64 of the raw 32-byte Ed25519 public key"}, "name": name()}), &["token", "public_key"]),
        "ProvisionMachine": object(json!({"name": name(), "flags": flags(), "groups": grants(),
            "expires_at": {"type": "string", "format": "date-time", "description": "in the future, at most 365 days from now"}}), &["name", "flags"]),
        "BundleDownload": object(json!({"token": secret()}), &["token"]),
        "ExtendMachine": object(json!({"expires_at": {"type": "string", "format": "date-time", "description": "in the future, at most 365 days from now"}}), &["expires_at"]),
        "Machine": object(json!({"id": string(), "account_id": string(), "name": string(), "origin": enumeration(&["bootstrap", "provisioned", "enrollment", "temporary"]),
            "status": enumeration(&["pending", "approved"]), "enabled": boolean(), "public_key": string(), "flags": {"type": "object"}, "created_at": string(),
            "approved_at": nullable("string"), "expires_at": nullable("string"), "previous_expires_at": nullable("string"), "lifetime_seconds": integer(),
            "guardrails": schema_ref("Guardrails"), "token_id": nullable("string")}),
            &["id", "account_id", "name", "origin", "status", "enabled", "public_key", "flags", "created_at"]),
        "MachineList": list("Machine"),
        "ProvisionedMachine": object(json!({"machine": schema_ref("Machine"), "bundle_token": string(), "bundle_path": string(), "bundle_expires_at": string()}),
            &["machine", "bundle_token", "bundle_path", "bundle_expires_at"]),
        "MachineBundle": object(json!({"machine_id": string(), "account_id": string(), "private_key_pem": string()}), &["machine_id", "account_id", "private_key_pem"]),
    })
}

/// The schema of a path parameter: names are patterned (a bad one is a 400), ids are
/// opaque (an unknown one is a 404).
fn path_parameter(name: &str) -> Value {
    match name {
        "ring" | "name" => self::name(),
        "hash" => {
            json!({"type": "string", "pattern": "^[0-9A-Fa-f]{32}$", "description": "a ciphertext's key reference, 16 bytes in hex"})
        }
        _ => json!({"type": "string", "minLength": 1}),
    }
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

/// The query parameters a route reads; any other is ignored, or refused with a 400 where
/// the route reads some.
pub fn query_parameters(method: &str, path: &str) -> Vec<Value> {
    match (method, path) {
        ("get", "/v1/activity") => vec![
            query(
                "since",
                timestamp(),
                "events at or after this time (RFC 3339)",
            ),
            query("until", timestamp(), "events before this time (RFC 3339)"),
            query("principal", string(), "the acting user, app or machine id"),
            query("object", string(), "the object, e.g. keyring/payments"),
            query("action", string(), "e.g. keyring.encrypt"),
            query("outcome", string(), "e.g. success, forbidden"),
            query(
                "before",
                json!({"type": "integer", "format": "int64"}),
                "page: events with a sequence number below this (the previous page's `next`)",
            ),
            query("limit", int_range(1, 1000), "page size, default 100"),
        ],
        ("get", "/v1/objects") => vec![
            query("group", string(), "only objects of this group id"),
            query(
                "type",
                enumeration(&crate::service::OBJECT_KINDS),
                "only objects of this type",
            ),
        ],
        ("get", "/v1/keys/{name}/public") => vec![query(
            "version",
            json!({"type": "integer", "minimum": 1, "maximum": u32::MAX}),
            "a version of the key (default: the current one); one that was never made is a 404",
        )],
        ("delete", "/v1/groups/{id}") => vec![query(
            "force",
            boolean(),
            "move the group's keyrings and keys to the trash instead of refusing (409)",
        )],
        _ => Vec::new(),
    }
}

/// Routes whose body names other objects (a group, a principal), so an unknown one is a
/// 404 even on a route without a path parameter.
const REFERS_TO_OBJECTS: &[&str] = &[
    "/v1/auth/apikey",
    "/v1/apps",
    "/v1/keyrings",
    "/v1/keys",
    "/v1/machine-tokens",
    "/v1/machines",
    "/v1/objects",
];

/// Every error status a route can answer with, besides its success status.
pub fn error_statuses(route: &Operation) -> Vec<u16> {
    let mut statuses = std::collections::BTreeSet::new();
    let has_path_parameters = route.path.contains('{');
    let has_query = !query_parameters(route.method.as_str(), route.path).is_empty();
    let has_body = route.request.is_some();
    match route.flags.first() {
        Some(_) => {
            // 429: a signed request from a source locked out for failed signatures.
            statuses.extend([401, 403, 429, 503]);
            if has_path_parameters
                || has_query
                || has_body
                || route.method != catalogue::Method::Get
            {
                statuses.insert(400);
            }
            if route.method != catalogue::Method::Get {
                statuses.insert(409);
            }
        }
        // Credential-less routes whose body carries the credential.
        None if has_body => {
            statuses.extend([400, 401, 503]);
        }
        // Operations routes.
        None => {}
    }
    if has_body {
        statuses.extend([408, 413]);
    }
    if has_path_parameters || REFERS_TO_OBJECTS.contains(&route.path) {
        statuses.insert(404);
    }
    match route.path {
        "/v1/auth/login" => {
            statuses.insert(429);
        }
        "/v1/ready" => {
            statuses.insert(503);
        }
        "/v1/keyrings/{ring}/decrypt"
        | "/v1/keyrings/{ring}/rewrap"
        | "/v1/keys/{name}/decrypt" => {
            statuses.insert(422);
        }
        _ => {}
    }
    statuses.into_iter().collect()
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => {
            "invalid_input: malformed JSON or query, bad base64, a name or field out of its rules"
        }
        401 => "unauthenticated: no or bad credential (the same body whatever the reason)",
        403 => "forbidden (or temp_machine_blocked): the credential may not do this",
        404 => "not_found: no such object, or the caller may not see it",
        409 => "conflict, key_disabled, usage_not_allowed or version_retired",
        408 => "request_timeout: the body did not arrive within the body timeout (30 s)",
        413 => "payload_too_large: the body is over 1 MiB",
        422 => "decrypt_failed: the ciphertext does not authenticate",
        429 => {
            "rate_limited: too many failures from this address (or this machine from it); see Retry-After"
        }
        503 => "unavailable: HSM, database or audit trail cannot serve now; nothing changed; retry",
        _ => "error",
    }
}

fn request_id_header() -> Value {
    json!({"X-Request-Id": {"description": "the request id (the caller's, if valid)", "schema": {"type": "string"}}})
}

/// `method` and the path's words: `patch_auth_apikey_id` for `PATCH /v1/auth/apikey/{id}`.
/// The documented answer of success.
fn success_response(route: &Operation) -> Value {
    match (route.path, route.response) {
        ("/metrics", _) => {
            json!({"description": "Prometheus text format", "content": {"text/plain": {"schema": string()}}})
        }
        ("/v1/openapi.json", _) => {
            json!({"description": "this document", "content": {"application/json": {"schema": {"type": "object"}}}})
        }
        ("/v1/health" | "/v1/ready", _) => {
            json!({"description": "success", "content": {"application/json": {"schema": schema_ref("Status")}}})
        }
        (_, Some(schema)) => {
            json!({"description": "success", "content": {"application/json": {"schema": schema_ref(schema)}}})
        }
        (_, None) => json!({"description": "success"}),
    }
}

/// Every documented answer of the operation, success and errors, each with the request id
/// header.
fn responses(route: &Operation) -> serde_json::Map<String, Value> {
    let mut responses = serde_json::Map::new();
    responses.insert(route.status.to_string(), success_response(route));
    for status in error_statuses(route) {
        let schema = if route.path == "/v1/ready" {
            "Status"
        } else {
            "Error"
        };
        let mut response = json!({"description": error_description(status),
            "content": {"application/json": {"schema": schema_ref(schema)}}});
        match status {
            401 => {
                response["headers"] =
                    json!({"WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}})
            }
            429 | 503 => {
                response["headers"] =
                    json!({"Retry-After": {"description": "seconds", "schema": {"type": "string"}}})
            }
            _ => {}
        }
        responses.insert(status.to_string(), response);
    }
    for response in responses.values_mut() {
        let headers = response
            .as_object_mut()
            .expect("responses are objects")
            .entry("headers")
            .or_insert_with(|| json!({}));
        if let (Some(headers), Some(id)) =
            (headers.as_object_mut(), request_id_header().as_object())
        {
            headers.extend(id.clone());
        }
    }
    responses
}

fn operation(route: &Operation) -> Value {
    let responses = responses(route);
    let mut op =
        json!({"operationId": route.id(), "summary": route.summary, "responses": responses});
    if !route.flags.is_empty() {
        op["x-coffer-flag"] = json!(route.flags.join(" + "));
        op["security"] = json!([{"apiKey": []}, {"signedRequest": []}, {"clientCertificate": []}]);
    }
    if let Some(schema) = route.request {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema_ref(schema)}}});
    }
    let mut params: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": path_parameter(name)}))
        .collect();
    params.extend(query_parameters(route.method.as_str(), route.path));
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    op
}

fn all_schemas() -> Value {
    let mut all = schemas();
    if let Some(map) = all.as_object_mut() {
        for extra in [
            key_schemas(),
            signature_schemas(),
            key_certificate_schemas(),
            identity_schemas(),
            certificate_schemas(),
            machine_token_schemas(),
            machine_schemas(),
        ] {
            if let Value::Object(extra) = extra {
                map.extend(extra);
            }
        }
    }
    all
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for route in catalogue::ALL {
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method.as_str()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Coffer", "version": env!("CARGO_PKG_VERSION"),
                 "description": "HSM-backed key management. Every route with an x-coffer-flag needs a credential: `Authorization: Bearer` with an API key (`ck_...`) or a session token (`cs_...`), an Ed25519-signed request of a machine (X-Machine-Id, X-Timestamp, X-Nonce, X-Signature), or a TLS client certificate bound to an app. Request bodies refuse unknown fields; in a PATCH body an explicit null is refused except where it clears a setting."},
        "paths": paths,
        "components": {
            "schemas": all_schemas(),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer"},
                "clientCertificate": {"type": "mutualTLS"},
                "signedRequest": {"type": "apiKey", "in": "header", "name": "X-Signature",
                    "description": "Ed25519 signature (base64) of METHOD:PATH:TIMESTAMP:NONCE:BODY_SHA256_HEX, with X-Machine-Id, X-Timestamp and X-Nonce"}
            }
        }
    })
}
