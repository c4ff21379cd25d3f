//! The OpenAPI 3.1 document, generated from [`ROUTES`], the table of every route with the
//! flag it requires. A test checks that every route the router serves is in this table.

use serde_json::{Value, json};

/// One documented route.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// The flag the route requires; `None` for operations routes without credentials.
    pub flag: Option<&'static str>,
    pub summary: &'static str,
    pub request: Option<&'static str>,
    pub response: Option<&'static str>,
    pub status: u16,
}

const fn route(
    method: &'static str,
    path: &'static str,
    flag: Option<&'static str>,
    summary: &'static str,
    request: Option<&'static str>,
    response: Option<&'static str>,
    status: u16,
) -> Route {
    Route {
        method,
        path,
        flag,
        summary,
        request,
        response,
        status,
    }
}

/// Every route the server answers.
pub const ROUTES: &[Route] = &[
    route("get", "/v1/health", None, "Liveness", None, None, 200),
    route(
        "get",
        "/v1/ready",
        None,
        "Readiness: HSM session and database reachable",
        None,
        None,
        200,
    ),
    route(
        "get",
        "/metrics",
        None,
        "Prometheus metrics",
        None,
        None,
        200,
    ),
    route(
        "get",
        "/v1/openapi.json",
        None,
        "This document",
        None,
        None,
        200,
    ),
    route(
        "post",
        "/v1/auth/apikey",
        Some("apikey.write"),
        "Create an API key (shown once)",
        Some("CreateApiKey"),
        Some("CreatedApiKey"),
        201,
    ),
    route(
        "get",
        "/v1/auth/apikey",
        Some("apikey.read"),
        "List API keys (metadata only)",
        None,
        Some("ApiKeyList"),
        200,
    ),
    route(
        "get",
        "/v1/auth/apikey/{id}",
        Some("apikey.read"),
        "Read an API key's metadata",
        None,
        Some("ApiKey"),
        200,
    ),
    route(
        "patch",
        "/v1/auth/apikey/{id}",
        Some("apikey.write"),
        "Disable an API key and/or narrow its flags",
        Some("PatchApiKey"),
        Some("ApiKey"),
        200,
    ),
    route(
        "post",
        "/v1/groups",
        Some("group.write"),
        "Create a group and its master key in the HSM",
        Some("CreateGroup"),
        Some("Group"),
        201,
    ),
    route(
        "get",
        "/v1/groups",
        Some("group.read"),
        "List groups",
        None,
        Some("GroupList"),
        200,
    ),
    route(
        "get",
        "/v1/groups/{id}",
        Some("group.read"),
        "Read a group",
        None,
        Some("Group"),
        200,
    ),
    route(
        "post",
        "/v1/apps",
        Some("app.write"),
        "Create an app assigned to groups",
        Some("CreateApp"),
        Some("App"),
        201,
    ),
    route(
        "get",
        "/v1/apps",
        Some("app.read"),
        "List apps",
        None,
        Some("AppList"),
        200,
    ),
    route(
        "get",
        "/v1/apps/{id}",
        Some("app.read"),
        "Read an app",
        None,
        Some("App"),
        200,
    ),
    route(
        "post",
        "/v1/keyrings",
        Some("keyring.create"),
        "Create a keyring",
        Some("CreateKeyring"),
        Some("Keyring"),
        201,
    ),
    route(
        "get",
        "/v1/keyrings",
        Some("keyring.read"),
        "List keyrings",
        None,
        Some("KeyringList"),
        200,
    ),
    route(
        "get",
        "/v1/keyrings/{ring}",
        Some("keyring.<ring>.read"),
        "Read a keyring",
        None,
        Some("Keyring"),
        200,
    ),
    route(
        "delete",
        "/v1/keyrings/{ring}",
        Some("keyring.<ring>.delete"),
        "Move a keyring to the trash (30 days)",
        None,
        None,
        204,
    ),
    route(
        "post",
        "/v1/keyrings/{ring}/restore",
        Some("keyring.<ring>.restore"),
        "Take a deleted keyring out of the trash (within 30 days)",
        None,
        Some("Keyring"),
        200,
    ),
    route(
        "post",
        "/v1/keyrings/{ring}/encrypt",
        Some("keyring.<ring>.encrypt"),
        "Encrypt",
        Some("Encrypt"),
        Some("Encrypted"),
        200,
    ),
    route(
        "post",
        "/v1/keyrings/{ring}/decrypt",
        Some("keyring.<ring>.decrypt"),
        "Decrypt",
        Some("Decrypt"),
        Some("Decrypted"),
        200,
    ),
    route(
        "post",
        "/v1/keyrings/{ring}/rewrap",
        Some("keyring.<ring>.encrypt + keyring.<ring>.decrypt"),
        "Re-encrypt under the current version",
        Some("Decrypt"),
        Some("Encrypted"),
        200,
    ),
    route(
        "post",
        "/v1/keyrings/{ring}/datakey",
        Some("keyring.<ring>.encrypt"),
        "Generate a data key",
        Some("DataKeyRequest"),
        Some("DataKey"),
        200,
    ),
    route(
        "post",
        "/v1/keyrings/{ring}/rotate",
        Some("keyring.<ring>.rotate"),
        "Add a key version and make it current",
        None,
        Some("Rotated"),
        200,
    ),
    route(
        "get",
        "/v1/keyrings/{ring}/config",
        Some("keyring.<ring>.config.read"),
        "Read the configuration",
        None,
        Some("KeyringConfig"),
        200,
    ),
    route(
        "patch",
        "/v1/keyrings/{ring}/config",
        Some("keyring.<ring>.config.write"),
        "Change the configuration",
        Some("PatchKeyringConfig"),
        Some("KeyringConfig"),
        200,
    ),
    route(
        "get",
        "/v1/keyrings/{ring}/keys",
        Some("keyring.<ring>.keys.read"),
        "List key versions (metadata, never key bytes)",
        None,
        Some("KeyVersionList"),
        200,
    ),
    route(
        "get",
        "/v1/keyrings/{ring}/hash/{hash}",
        Some("keyring.<ring>.hash.read"),
        "Resolve a ciphertext's key reference",
        None,
        Some("HashInfo"),
        200,
    ),
    route(
        "post",
        "/v1/keys",
        Some("key.create"),
        "Generate a key pair in the HSM (`algorithm`) or import a public key (`public_key`)",
        Some("CreateKey"),
        Some("Key"),
        201,
    ),
    route(
        "get",
        "/v1/keys",
        Some("key.read"),
        "List keys (key pairs and public keys)",
        None,
        Some("KeyList"),
        200,
    ),
    route(
        "get",
        "/v1/keys/{name}",
        Some("key.<key>.read"),
        "Read a key with its versions and certificates",
        None,
        Some("Key"),
        200,
    ),
    route(
        "patch",
        "/v1/keys/{name}",
        Some("key.<key>.write"),
        "Enable or disable a key; retire versions below min_version",
        Some("PatchKey"),
        Some("Key"),
        200,
    ),
    route(
        "delete",
        "/v1/keys/{name}",
        Some("key.<key>.delete"),
        "Move a key to the trash (recoverable for 30 days, then its private keys are destroyed)",
        None,
        None,
        204,
    ),
    route(
        "get",
        "/v1/keys/{name}/public",
        Some("key.<key>.read"),
        "Public key as PEM (SPKI) and JWK; query `version` for an older version",
        None,
        Some("PublicKey"),
        200,
    ),
    route(
        "post",
        "/v1/keys/{name}/sign",
        Some("key.<key>.sign"),
        "Sign a message or a pre-computed digest inside the HSM",
        Some("Sign"),
        Some("Signed"),
        200,
    ),
    route(
        "post",
        "/v1/keys/{name}/verify",
        Some("key.<key>.verify"),
        "Verify a signature (a bad signature is 200 with valid=false)",
        Some("Verify"),
        Some("Verified"),
        200,
    ),
    route(
        "post",
        "/v1/keys/{name}/decrypt",
        Some("key.<key>.decrypt"),
        "RSA-OAEP (SHA-256, MGF1-SHA-256) decryption with the private key in the HSM",
        Some("KeyDecrypt"),
        Some("Decrypted"),
        200,
    ),
    route(
        "post",
        "/v1/keys/{name}/rotate",
        Some("key.<key>.rotate"),
        "Generate a new version; older versions keep verifying until retired",
        None,
        Some("Key"),
        200,
    ),
    route(
        "post",
        "/v1/keys/{name}/restore",
        Some("key.<key>.restore"),
        "Take a key out of the trash",
        None,
        Some("Key"),
        200,
    ),
    route(
        "post",
        "/v1/keys/{name}/csr",
        Some("key.<key>.csr"),
        "A PKCS#10 certificate signing request signed inside the HSM",
        Some("CsrRequest"),
        Some("Csr"),
        200,
    ),
    route(
        "post",
        "/v1/keys/{name}/certificates",
        Some("key.<key>.certificate.write"),
        "Import a certificate (PEM bundle or DER) issued for one of the key's versions",
        Some("ImportCertificate"),
        Some("Certificate"),
        201,
    ),
    route(
        "get",
        "/v1/keys/{name}/certificates",
        Some("key.<key>.read"),
        "List the key's certificates",
        None,
        Some("CertificateList"),
        200,
    ),
    route(
        "delete",
        "/v1/keys/{name}/certificates/{id}",
        Some("key.<key>.certificate.write"),
        "Delete one certificate of the key",
        None,
        None,
        204,
    ),
    route(
        "get",
        "/v1/objects",
        Some("object.read"),
        "Every security object the caller can see; query `group` and `type` (keyring, key_pair, public_key, certificate) filter",
        None,
        Some("ObjectList"),
        200,
    ),
    route(
        "get",
        "/v1/activity",
        Some("activity.read"),
        "The audit trail, newest first, with filters and paging",
        None,
        Some("Activity"),
        200,
    ),
    route(
        "post",
        "/v1/auth/login",
        None,
        "Log in with email, password and account: a session token (shown once)",
        Some("Login"),
        Some("Session"),
        201,
    ),
    route(
        "post",
        "/v1/auth/logout",
        Some("session.write"),
        "End the session this request was made with",
        None,
        None,
        204,
    ),
    route(
        "get",
        "/v1/auth/sessions",
        Some("session.read"),
        "The caller's own sessions in this account",
        None,
        Some("SessionList"),
        200,
    ),
    route(
        "delete",
        "/v1/auth/sessions/{id}",
        Some("session.write"),
        "Revoke one of the caller's sessions",
        None,
        None,
        204,
    ),
    route(
        "post",
        "/v1/auth/password",
        Some("password.write"),
        "Change the caller's password (ends every session)",
        Some("ChangePassword"),
        None,
        204,
    ),
    route(
        "post",
        "/v1/auth/password-reset",
        None,
        "Set a new password with a one-time reset token",
        Some("CompleteReset"),
        None,
        204,
    ),
    route(
        "post",
        "/v1/accounts",
        Some("account.create"),
        "Create an account; the calling user becomes its owner",
        Some("NamedOnly"),
        Some("Account"),
        201,
    ),
    route(
        "get",
        "/v1/accounts",
        Some("account.read"),
        "The accounts the calling user belongs to, with their role",
        None,
        Some("AccountList"),
        200,
    ),
    route(
        "get",
        "/v1/accounts/{id}",
        Some("account.read"),
        "The caller's account",
        None,
        Some("Account"),
        200,
    ),
    route(
        "patch",
        "/v1/accounts/{id}",
        Some("account.write"),
        "Rename the account",
        Some("NamedOnly"),
        Some("Account"),
        200,
    ),
    route(
        "delete",
        "/v1/accounts/{id}",
        Some("account.delete"),
        "Confirm a due deletion: close the account and destroy its HSM keys",
        None,
        None,
        204,
    ),
    route(
        "post",
        "/v1/accounts/{id}/deletion",
        Some("account.delete"),
        "Request the account's deletion (confirmable after the waiting period)",
        None,
        Some("Account"),
        202,
    ),
    route(
        "delete",
        "/v1/accounts/{id}/deletion",
        Some("account.delete"),
        "Cancel a pending deletion",
        None,
        Some("Account"),
        200,
    ),
    route(
        "post",
        "/v1/users",
        Some("user.write"),
        "Add a user to the account with a role",
        Some("CreateUser"),
        Some("User"),
        201,
    ),
    route(
        "get",
        "/v1/users",
        Some("user.read"),
        "The account's members",
        None,
        Some("UserList"),
        200,
    ),
    route(
        "get",
        "/v1/users/{id}",
        Some("user.read"),
        "One member",
        None,
        Some("User"),
        200,
    ),
    route(
        "patch",
        "/v1/users/{id}",
        Some("user.write"),
        "Change a member's role or suspend them",
        Some("PatchUser"),
        Some("User"),
        200,
    ),
    route(
        "delete",
        "/v1/users/{id}",
        Some("user.write"),
        "Remove a member from the account (the user stays)",
        None,
        None,
        204,
    ),
    route(
        "post",
        "/v1/users/{id}/password-reset",
        Some("user.password-reset"),
        "Issue a one-time password-reset token",
        None,
        Some("ResetIssued"),
        201,
    ),
    route(
        "patch",
        "/v1/groups/{id}",
        Some("group.write"),
        "Rename a group",
        Some("NamedOnly"),
        Some("Group"),
        200,
    ),
    route(
        "delete",
        "/v1/groups/{id}",
        Some("group.write"),
        "Delete a group (?force=true moves its objects to the trash)",
        None,
        None,
        204,
    ),
    route(
        "get",
        "/v1/groups/{id}/members",
        Some("group.read"),
        "A group's users (with group role) and apps (with operations)",
        None,
        Some("GroupMembers"),
        200,
    ),
    route(
        "put",
        "/v1/groups/{id}/users/{user}",
        Some("group.write"),
        "Put a user in the group with a role (member, auditor)",
        Some("GroupUserRole"),
        Some("GroupUser"),
        200,
    ),
    route(
        "delete",
        "/v1/groups/{id}/users/{user}",
        Some("group.write"),
        "Take a user out of the group",
        None,
        None,
        204,
    ),
    route(
        "put",
        "/v1/groups/{id}/apps/{app}",
        Some("group.write"),
        "Assign an app to the group with its allowed operations",
        Some("GroupAppOperations"),
        Some("GroupApp"),
        200,
    ),
    route(
        "delete",
        "/v1/groups/{id}/apps/{app}",
        Some("group.write"),
        "Take an app out of the group",
        None,
        None,
        204,
    ),
    route(
        "patch",
        "/v1/apps/{id}",
        Some("app.write"),
        "Rename, disable or re-enable an app",
        Some("PatchApp"),
        Some("App"),
        200,
    ),
    route(
        "delete",
        "/v1/apps/{id}",
        Some("app.write"),
        "Delete an app (its credentials stop working)",
        None,
        None,
        204,
    ),
    route(
        "get",
        "/v1/apps/{id}/credentials",
        Some("app.read"),
        "An app's API keys (metadata) and client-certificate bindings",
        None,
        Some("AppCredentials"),
        200,
    ),
    route(
        "post",
        "/v1/apps/{id}/certificates",
        Some("app.write"),
        "Bind a client certificate: pinned, or a trusted CA plus subject/SAN",
        Some("BindCertificate"),
        Some("AppCertificate"),
        201,
    ),
    route(
        "delete",
        "/v1/apps/{id}/certificates/{certificate}",
        Some("app.write"),
        "Unbind a client certificate",
        None,
        None,
        204,
    ),
    route(
        "post",
        "/v1/trusted-cas",
        Some("app.write"),
        "Trust a CA for client certificates",
        Some("CreateTrustedCa"),
        Some("TrustedCa"),
        201,
    ),
    route(
        "get",
        "/v1/trusted-cas",
        Some("app.read"),
        "The account's trusted CAs",
        None,
        Some("TrustedCaList"),
        200,
    ),
    route(
        "post",
        "/v1/revocations",
        Some("app.write"),
        "Revoke a client certificate (by PEM or SHA-256 fingerprint)",
        Some("Revoke"),
        Some("Revocation"),
        201,
    ),
    route(
        "get",
        "/v1/revocations",
        Some("app.read"),
        "The account's revoked client certificates",
        None,
        Some("RevocationList"),
        200,
    ),
];

fn string() -> Value {
    json!({"type": "string"})
}

fn nullable(kind: &str) -> Value {
    json!({"type": [kind, "null"]})
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

fn list(item: &str) -> Value {
    json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}})
}

fn schemas() -> Value {
    let flags = json!({"type": "object", "additionalProperties": {"type": "boolean"}});
    let context = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let b64 = json!({"type": "string", "contentEncoding": "base64"});
    json!({
        "Error": object(json!({"error": object(json!({"code": string(), "message": string(), "request_id": string()}), &["code", "message", "request_id"])}), &["error"]),
        "CreateApiKey": object(json!({"principal": string(), "name": string(), "flags": flags}), &["principal", "name", "flags"]),
        "CreatedApiKey": object(json!({"id": string(), "api_key": string()}), &["id", "api_key"]),
        "PatchApiKey": object(json!({"disabled": {"type": "boolean"}, "flags": flags}), &[]),
        "ApiKey": object(json!({"id": string(), "name": string(), "principal": string(), "principal_kind": string(), "flags": flags,
            "created_at": string(), "last_used_at": nullable("string"), "disabled": {"type": "boolean"}}), &["id", "name", "principal", "flags", "created_at", "disabled"]),
        "ApiKeyList": list("ApiKey"),
        "CreateGroup": object(json!({"name": string()}), &["name"]),
        "Group": object(json!({"id": string(), "name": string(), "master_key_version": {"type": "integer"}, "created_at": string()}), &["id", "name"]),
        "GroupList": list("Group"),
        "CreateApp": object(json!({"name": string(), "groups": {"type": "array", "items": string()}}), &["name"]),
        "App": object(json!({"id": string(), "name": string(), "groups": {"type": "array", "items": string()},
            "operations": {"type": "object", "additionalProperties": {"type": "array", "items": string()}}, "enabled": {"type": "boolean"}, "created_at": string()}), &["id", "name", "groups"]),
        "AppList": list("App"),
        "CreateKeyring": object(json!({"name": string(), "group": string(), "protection": {"enum": ["envelope", "hsm"]},
            "rotation_period_days": nullable("integer"), "max_encrypt_count": nullable("integer"), "cache_ttl_seconds": nullable("integer")}), &["name", "group"]),
        "Keyring": object(json!({"id": string(), "name": string(), "group": string(), "protection": string(), "current_version": {"type": "integer"},
            "min_decryption_version": {"type": "integer"}, "enabled": {"type": "boolean"}, "rotation_period_days": nullable("integer"),
            "max_encrypt_count": nullable("integer"), "cache_ttl_seconds": {"type": "integer"}, "created_at": string(), "rotated_at": string()}),
            &["id", "name", "group", "protection", "current_version", "min_decryption_version", "enabled", "created_at"]),
        "KeyringList": list("Keyring"),
        "Encrypt": object(json!({"plaintext": b64, "context": context}), &["plaintext"]),
        "Encrypted": object(json!({"ciphertext": string(), "key_version": {"type": "integer"}}), &["ciphertext", "key_version"]),
        "Decrypt": object(json!({"ciphertext": string(), "context": context}), &["ciphertext"]),
        "Decrypted": object(json!({"plaintext": b64, "key_version": {"type": "integer"}}), &["plaintext", "key_version"]),
        "DataKeyRequest": object(json!({"bytes": {"type": "integer", "minimum": 16, "maximum": 64}, "context": context}), &[]),
        "DataKey": object(json!({"plaintext": b64, "ciphertext": string(), "key_version": {"type": "integer"}}), &["plaintext", "ciphertext"]),
        "Rotated": object(json!({"current_version": {"type": "integer"}}), &["current_version"]),
        "KeyringConfig": object(json!({"enabled": {"type": "boolean"}, "min_decryption_version": {"type": "integer"}, "rotation_period_days": nullable("integer"),
            "max_encrypt_count": nullable("integer"), "cache_ttl_seconds": {"type": "integer"}}), &["enabled", "min_decryption_version", "cache_ttl_seconds"]),
        "PatchKeyringConfig": object(json!({"enabled": {"type": "boolean"}, "min_decryption_version": {"type": "integer"}, "rotation_period_days": nullable("integer"),
            "max_encrypt_count": nullable("integer"), "cache_ttl_seconds": {"type": "integer", "minimum": 0, "maximum": 86400}}), &[]),
        "KeyVersion": object(json!({"version": {"type": "integer"}, "state": {"enum": ["current", "active", "retired"]}, "created_at": string(),
            "encrypt_count": {"type": "integer"}, "fingerprint": string()}), &["version", "state", "created_at", "encrypt_count", "fingerprint"]),
        "KeyVersionList": list("KeyVersion"),
        "HashInfo": object(json!({"keyring": string(), "version": {"type": "integer"}, "created_at": string(), "state": string()}), &["keyring", "version", "created_at", "state"]),
        "Event": object(json!({"seq": {"type": "integer"}, "id": string(), "time": string(), "account": nullable("string"), "principal": nullable("string"),
            "auth_method": string(), "action": string(), "object": nullable("string"), "outcome": string(), "status": {"type": "integer"},
            "source_ip": nullable("string"), "request_id": string(), "credential": nullable("string")}), &["seq", "id", "time", "action", "outcome", "status", "request_id"]),
        "Activity": object(json!({"events": list("Event"), "next": nullable("integer")}), &["events"]),

    })
}

/// Schemas of `/v1/keys` and `/v1/objects` (a second literal: one would exceed the macro's
/// recursion limit).
fn key_schemas() -> Value {
    let b64 = json!({"type": "string", "contentEncoding": "base64"});
    json!({
        "CreateKey": object(json!({"name": string(), "group": string(), "algorithm": {"enum": ["rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ed25519"]},
            "usages": {"type": "array", "items": {"enum": ["sign", "decrypt"]}}, "public_key": string()}), &["name", "group"]),
        "PatchKey": object(json!({"enabled": {"type": "boolean"}, "min_version": {"type": "integer", "minimum": 1}}), &[]),
        "KeyVersionInfo": object(json!({"version": {"type": "integer"}, "state": {"enum": ["current", "active", "retired"]}, "created_at": string(), "fingerprint": string()}),
            &["version", "state", "created_at", "fingerprint"]),
        "Key": object(json!({"id": string(), "name": string(), "group": string(), "type": {"enum": ["key_pair", "public_key"]}, "algorithm": string(),
            "usages": {"type": "array", "items": {"enum": ["sign", "decrypt", "verify"]}}, "enabled": {"type": "boolean"}, "current_version": {"type": "integer"},
            "min_version": {"type": "integer"}, "created_at": string(), "versions": list("KeyVersionInfo"), "certificates": list("Certificate")}),
            &["id", "name", "group", "type", "algorithm", "usages", "enabled", "current_version", "min_version", "created_at"]),
        "KeyList": list("Key"),
        "PublicKey": object(json!({"key_version": {"type": "integer"}, "algorithm": string(), "pem": string(), "jwk": {"type": "object"}}), &["key_version", "algorithm", "pem", "jwk"]),
        "Sign": object(json!({"message": b64, "digest": b64, "algorithm": {"type": "string", "description": "rsa-pss-sha256|384|512, rsa-pkcs1-sha256|384|512, ecdsa-sha256 (P-256), ecdsa-sha384 (P-384), ed25519"},
            "signature_format": {"enum": ["der", "raw"]}}), &[]),
        "Signed": object(json!({"signature": b64, "key_version": {"type": "integer"}, "algorithm": string()}), &["signature", "key_version", "algorithm"]),
        "Verify": object(json!({"message": b64, "digest": b64, "signature": b64, "algorithm": string(), "signature_format": {"enum": ["der", "raw"]}, "version": {"type": "integer"}}), &["signature"]),
        "Verified": object(json!({"valid": {"type": "boolean"}, "key_version": nullable("integer")}), &["valid"]),
        "KeyDecrypt": object(json!({"ciphertext": b64, "version": {"type": "integer"}}), &["ciphertext"]),
        "CsrRequest": object(json!({"common_name": string(), "organization": string(), "organizational_unit": string(), "country": string(),
            "subject_alt_names": {"type": "array", "items": string()}}), &["common_name"]),
        "Csr": object(json!({"csr": string(), "key_version": {"type": "integer"}}), &["csr", "key_version"]),
        "ImportCertificate": object(json!({"certificate": string()}), &["certificate"]),
        "ChainEntry": object(json!({"subject": string(), "issuer": string(), "not_after": string(), "fingerprint": string()}), &["subject", "issuer", "not_after", "fingerprint"]),
        "Certificate": object(json!({"id": string(), "key_version": {"type": "integer"}, "subject": string(), "issuer": string(), "serial": string(),
            "not_before": string(), "not_after": string(), "expired": {"type": "boolean"}, "not_yet_valid": {"type": "boolean"},
            "subject_alt_names": {"type": "array", "items": string()}, "key_usage": {"type": "array", "items": string()}, "is_ca": {"type": "boolean"},
            "fingerprint": string(), "pem": string(), "chain": list("ChainEntry"), "created_at": string()}),
            &["id", "key_version", "subject", "issuer", "serial", "not_before", "not_after", "expired", "not_yet_valid", "fingerprint", "pem", "chain"]),
        "CertificateList": list("Certificate"),
        "SecurityObject": object(json!({"id": string(), "type": {"enum": ["keyring", "key_pair", "public_key", "certificate"]}, "name": string(), "group": string(),
            "detail": string(), "enabled": {"type": "boolean"}, "created_at": string()}), &["id", "type", "name", "group", "detail", "enabled", "created_at"]),
        "ObjectList": list("SecurityObject"),
    })
}

/// Schemas of identity routes: accounts, users, sessions, group members, app credentials.
fn identity_schemas() -> Value {
    let secret = json!({"type": "string", "writeOnly": true});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "Login": object(json!({"email": string(), "password": secret, "account": string()}), &["email", "password", "account"]),
        "Session": object(json!({"session_token": string(), "session_id": string(), "account_id": string(), "user_id": string(), "role": string(), "expires_at": string()}),
            &["session_token", "session_id", "account_id", "user_id", "role", "expires_at"]),
        "SessionInfo": object(json!({"id": string(), "created_at": string(), "expires_at": string(), "revoked": {"type": "boolean"}, "current": {"type": "boolean"}, "source_ip": nullable("string")}),
            &["id", "created_at", "expires_at", "revoked", "current"]),
        "SessionList": list("SessionInfo"),
        "ChangePassword": object(json!({"current_password": secret, "new_password": secret}), &["current_password", "new_password"]),
        "CompleteReset": object(json!({"token": string(), "new_password": secret}), &["token", "new_password"]),
        "ResetIssued": object(json!({"id": string(), "reset_token": string(), "expires_at": string()}), &["id", "reset_token", "expires_at"]),
        "NamedOnly": object(json!({"name": string()}), &["name"]),
        "Account": object(json!({"id": string(), "name": string(), "created_at": string(), "role": string(), "deletion_requested_at": nullable("string"), "deletion_due_at": nullable("string")}),
            &["id", "name", "created_at"]),
        "AccountList": list("Account"),
        "CreateUser": object(json!({"email": string(), "role": {"enum": ["owner", "admin", "member", "auditor"]}, "password": secret}), &["email", "role"]),
        "PatchUser": object(json!({"role": {"enum": ["owner", "admin", "member", "auditor"]}, "suspended": {"type": "boolean"}}), &[]),
        "User": object(json!({"id": string(), "email": string(), "role": string(), "suspended": {"type": "boolean"}, "member_since": string()}), &["id", "email", "role", "suspended"]),
        "UserList": list("User"),
        "GroupUserRole": object(json!({"role": {"enum": ["member", "auditor"]}}), &["role"]),
        "GroupUser": object(json!({"id": string(), "role": string()}), &["id", "role"]),
        "GroupAppOperations": object(json!({"operations": {"type": "array", "items": {"enum": ["encrypt", "decrypt", "sign", "verify", "wrap", "unwrap", "mac", "export", "manage-objects"]}}}), &["operations"]),
        "GroupApp": object(json!({"id": string(), "operations": strings}), &["id", "operations"]),
        "GroupMembers": object(json!({"users": list("GroupUser"), "apps": list("GroupApp")}), &["users", "apps"]),
        "PatchApp": object(json!({"name": string(), "enabled": {"type": "boolean"}}), &[]),
        "BindCertificate": object(json!({"certificate": string(), "fingerprint": string(), "ca": string(), "subject": string(), "san": string()}), &[]),
        "AppCertificate": object(json!({"id": string(), "kind": {"enum": ["pinned", "ca"]}, "fingerprint": nullable("string"), "ca": nullable("string"),
            "subject": nullable("string"), "san": nullable("string"), "not_after": nullable("string"), "created_at": string()}), &["id", "kind", "created_at"]),
        "AppCredentials": object(json!({"api_keys": list("ApiKey"), "certificates": list("AppCertificate")}), &["api_keys", "certificates"]),
        "CreateTrustedCa": object(json!({"name": string(), "certificate": string()}), &["name", "certificate"]),
        "TrustedCa": object(json!({"id": string(), "name": string(), "subject": string(), "fingerprint": string(), "created_at": string()}), &["id", "name", "subject", "fingerprint"]),
        "TrustedCaList": list("TrustedCa"),
        "Revoke": object(json!({"certificate": string(), "fingerprint": string(), "reason": string()}), &[]),
        "Revocation": object(json!({"fingerprint": string(), "reason": nullable("string"), "revoked_at": string()}), &["fingerprint", "revoked_at"]),
        "RevocationList": list("Revocation"),
    })
}

fn operation(route: &Route) -> Value {
    let mut op = json!({
        "summary": route.summary,
        "responses": {
            route.status.to_string(): match route.response {
                Some(schema) => json!({"description": "success", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}}),
                None => json!({"description": "success"}),
            },
            "default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
    });
    if let Some(flag) = route.flag {
        op["x-coffer-flag"] = json!(flag);
        op["security"] = json!([{"apiKey": []}, {"clientCertificate": []}]);
    }
    if let Some(schema) = route.request {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    }
    let params: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    op
}

fn all_schemas() -> Value {
    let mut all = schemas();
    if let Some(map) = all.as_object_mut() {
        for extra in [key_schemas(), identity_schemas()] {
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
    for route in ROUTES {
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Coffer", "version": env!("CARGO_PKG_VERSION"),
                 "description": "HSM-backed key management. Every route with an x-coffer-flag needs a credential: `Authorization: Bearer` with an API key (`ck_...`) or a session token (`cs_...`), or a TLS client certificate bound to an app."},
        "paths": paths,
        "components": {
            "schemas": all_schemas(),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer"},
                "clientCertificate": {"type": "mutualTLS"}
            }
        }
    })
}
