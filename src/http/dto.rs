//! Wire shapes of the API (api.md). Requests refuse unknown fields so a typo is a 400, not
//! a silently ignored setting.

use crate::clock::rfc3339;
use crate::service::{KeyVersionInfo, KeyVersionView, KeyView, KeyringView, certificate_pem};
use crate::store::{
    AccountState, ApiKeyRow, AppCertificateRow, AppRow, CertificateRow, GroupRow, KeyRow,
    KeyringRow, MemberRow, ObjectRow, RevocationRow, StoredEvent, TrustedCaRow,
};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

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
        password,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub principal: String,
    pub name: String,
    pub flags: BTreeMap<String, bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchApiKey {
    #[serde(default, deserialize_with = "null_refused::disabled")]
    pub disabled: Option<bool>,
    #[serde(default, deserialize_with = "null_refused::flags")]
    pub flags: Option<BTreeMap<String, bool>>,
}

#[derive(Serialize)]
pub struct CreatedApiKey {
    pub id: String,
    pub api_key: String,
}

#[derive(Serialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub principal: String,
    pub principal_kind: String,
    pub flags: BTreeMap<String, bool>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub disabled: bool,
}

impl From<&ApiKeyRow> for ApiKey {
    fn from(row: &ApiKeyRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            principal: row.principal_id.clone(),
            principal_kind: row.principal_kind.clone(),
            flags: serde_json::from_str(&row.flags_json).unwrap_or_default(),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
            disabled: row.disabled,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
}

#[derive(Serialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub master_key_version: u32,
    pub created_at: String,
}

impl From<&GroupRow> for Group {
    fn from(row: &GroupRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            master_key_version: row.master_version,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    pub name: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Serialize)]
pub struct App {
    pub id: String,
    pub name: String,
    pub groups: Vec<String>,
    /// For each group, the operations the app may perform there.
    pub operations: BTreeMap<String, Vec<String>>,
    pub enabled: bool,
    pub created_at: String,
}

impl From<&AppRow> for App {
    fn from(row: &AppRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            groups: row.groups.clone(),
            operations: row.operations.clone(),
            enabled: row.enabled,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyring {
    pub name: String,
    pub group: String,
    #[serde(default = "default_protection")]
    pub protection: String,
    #[serde(default)]
    pub rotation_period_days: Option<u32>,
    #[serde(default)]
    pub max_encrypt_count: Option<u64>,
    #[serde(default, deserialize_with = "null_refused::cache_ttl_seconds")]
    pub cache_ttl_seconds: Option<u32>,
}

fn default_protection() -> String {
    "envelope".to_owned()
}

#[derive(Serialize)]
pub struct Keyring {
    pub id: String,
    pub name: String,
    pub group: String,
    pub protection: String,
    pub current_version: u32,
    pub min_decryption_version: u32,
    pub enabled: bool,
    pub rotation_period_days: Option<u32>,
    pub max_encrypt_count: Option<u64>,
    pub cache_ttl_seconds: u32,
    pub created_at: String,
    pub rotated_at: String,
}

impl From<&KeyringRow> for Keyring {
    fn from(row: &KeyringRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            group: row.group_id.clone(),
            protection: row.protection.clone(),
            current_version: row.current_version,
            min_decryption_version: row.min_decryption_version,
            enabled: row.enabled,
            rotation_period_days: row.rotation_period_days,
            max_encrypt_count: row.max_encrypt_count,
            cache_ttl_seconds: row.cache_ttl_seconds,
            created_at: rfc3339(row.created_at),
            rotated_at: rfc3339(row.rotated_at),
        }
    }
}

impl From<&KeyringView> for Keyring {
    fn from(view: &KeyringView) -> Self {
        Self::from(&view.row)
    }
}

#[derive(Serialize)]
pub struct KeyringConfig {
    pub enabled: bool,
    pub min_decryption_version: u32,
    pub rotation_period_days: Option<u32>,
    pub max_encrypt_count: Option<u64>,
    pub cache_ttl_seconds: u32,
}

impl From<&KeyringRow> for KeyringConfig {
    fn from(row: &KeyringRow) -> Self {
        Self {
            enabled: row.enabled,
            min_decryption_version: row.min_decryption_version,
            rotation_period_days: row.rotation_period_days,
            max_encrypt_count: row.max_encrypt_count,
            cache_ttl_seconds: row.cache_ttl_seconds,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchKeyringConfig {
    #[serde(default, deserialize_with = "null_refused::enabled")]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "null_refused::min_decryption_version")]
    pub min_decryption_version: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    pub rotation_period_days: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    pub max_encrypt_count: Option<Option<u64>>,
    #[serde(default, deserialize_with = "null_refused::cache_ttl_seconds")]
    pub cache_ttl_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encrypt {
    pub plaintext: String,
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

#[derive(Serialize)]
pub struct Encrypted {
    pub ciphertext: String,
    pub key_version: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decrypt {
    pub ciphertext: String,
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

#[derive(Serialize)]
pub struct Decrypted {
    pub plaintext: String,
    pub key_version: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataKeyRequest {
    #[serde(default = "default_datakey_bytes")]
    pub bytes: u32,
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

fn default_datakey_bytes() -> u32 {
    32
}

#[derive(Serialize)]
pub struct DataKey {
    pub plaintext: String,
    pub ciphertext: String,
    pub key_version: u32,
}

#[derive(Serialize)]
pub struct Rotated {
    pub current_version: u32,
}

#[derive(Serialize)]
pub struct KeyVersion {
    pub version: u32,
    pub state: &'static str,
    pub created_at: String,
    pub encrypt_count: u64,
    pub fingerprint: String,
}

impl From<&KeyVersionInfo> for KeyVersion {
    fn from(info: &KeyVersionInfo) -> Self {
        Self {
            version: info.version,
            state: info.state,
            created_at: rfc3339(info.created_at),
            encrypt_count: info.encrypt_count,
            fingerprint: info.fingerprint.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct HashInfo {
    pub keyring: String,
    pub version: u32,
    pub created_at: String,
    pub state: &'static str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub principal: Option<String>,
    pub object: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Serialize)]
pub struct Event {
    pub seq: i64,
    pub id: String,
    pub time: String,
    pub account: Option<String>,
    pub principal: Option<String>,
    pub auth_method: String,
    pub action: String,
    pub object: Option<String>,
    pub outcome: String,
    pub status: u16,
    pub source_ip: Option<String>,
    pub request_id: String,
    pub credential: Option<String>,
    /// Which check refused the request, when the outcome alone does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `verified` (the credential was checked) or `claimed` (named by a refused request);
    /// null when the event names no one.
    pub identity: Option<&'static str>,
}

impl From<&StoredEvent> for Event {
    fn from(stored: &StoredEvent) -> Self {
        let e = &stored.event;
        Self {
            seq: stored.seq,
            id: e.id.clone(),
            time: rfc3339(e.time),
            account: e.account_id.clone(),
            principal: e.principal.clone(),
            auth_method: e.auth_method.clone(),
            action: e.action.clone(),
            object: e.object.clone(),
            outcome: e.outcome.clone(),
            status: e.status,
            source_ip: e.source_ip.clone(),
            request_id: e.request_id.clone(),
            credential: e.credential.clone(),
            detail: e.detail.clone(),
            identity: e.identity.map(crate::audit::Identity::as_str),
        }
    }
}

#[derive(Serialize)]
pub struct Activity {
    pub events: Vec<Event>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next: Option<i64>,
}

/// `POST /v1/keys`: generate a key pair (`algorithm`) or import a public key (`public_key`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    pub group: String,
    #[serde(default, deserialize_with = "null_refused::algorithm")]
    pub algorithm: Option<String>,
    #[serde(default, deserialize_with = "null_refused::usages")]
    pub usages: Option<Vec<String>>,
    /// PEM `PUBLIC KEY`, or base64 of the DER SubjectPublicKeyInfo.
    #[serde(default, deserialize_with = "null_refused::public_key")]
    pub public_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchKey {
    #[serde(default, deserialize_with = "null_refused::enabled")]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "null_refused::min_version")]
    pub min_version: Option<u32>,
}

#[derive(Serialize)]
pub struct KeyVersionOut {
    pub version: u32,
    pub state: &'static str,
    pub created_at: String,
    pub fingerprint: String,
}

impl From<&KeyVersionView> for KeyVersionOut {
    fn from(v: &KeyVersionView) -> Self {
        Self {
            version: v.version,
            state: v.state,
            created_at: rfc3339(v.created_at),
            fingerprint: v.fingerprint.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct Key {
    pub id: String,
    pub name: String,
    pub group: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub algorithm: String,
    pub usages: Vec<&'static str>,
    pub enabled: bool,
    pub current_version: u32,
    pub min_version: u32,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<KeyVersionOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificates: Option<Vec<Certificate>>,
}

impl From<&KeyRow> for Key {
    fn from(row: &KeyRow) -> Self {
        let mut usages = Vec::new();
        if row.can_sign {
            usages.push("sign");
        }
        if row.can_decrypt {
            usages.push("decrypt");
        }
        if row.can_sign || row.kind == "public_key" {
            usages.push("verify");
        }
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            group: row.group_id.clone(),
            kind: row.kind.clone(),
            algorithm: row.algorithm.clone(),
            usages,
            enabled: row.enabled,
            current_version: row.current_version,
            min_version: row.min_version,
            created_at: rfc3339(row.created_at),
            versions: None,
            certificates: None,
        }
    }
}

impl From<&KeyView> for Key {
    fn from(view: &KeyView) -> Self {
        Self {
            versions: Some(view.versions.iter().map(KeyVersionOut::from).collect()),
            certificates: Some(view.certificates.iter().map(Certificate::from).collect()),
            ..Key::from(&view.row)
        }
    }
}

/// Data to sign or verify: exactly one of `message` and `digest`, base64.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sign {
    #[serde(default, deserialize_with = "null_refused::message")]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "null_refused::digest")]
    pub digest: Option<String>,
    #[serde(default, deserialize_with = "null_refused::algorithm")]
    pub algorithm: Option<String>,
    #[serde(default, deserialize_with = "null_refused::signature_format")]
    pub signature_format: Option<String>,
}

#[derive(Serialize)]
pub struct Signed {
    pub signature: String,
    pub key_version: u32,
    pub algorithm: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    #[serde(default, deserialize_with = "null_refused::message")]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "null_refused::digest")]
    pub digest: Option<String>,
    pub signature: String,
    #[serde(default, deserialize_with = "null_refused::algorithm")]
    pub algorithm: Option<String>,
    #[serde(default, deserialize_with = "null_refused::signature_format")]
    pub signature_format: Option<String>,
    #[serde(default, deserialize_with = "null_refused::version")]
    pub version: Option<u32>,
}

#[derive(Serialize)]
pub struct Verified {
    pub valid: bool,
    pub key_version: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyDecrypt {
    pub ciphertext: String,
    #[serde(default, deserialize_with = "null_refused::version")]
    pub version: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyQuery {
    pub version: Option<u32>,
}

#[derive(Serialize)]
pub struct PublicKeyOut {
    pub key_version: u32,
    pub algorithm: &'static str,
    pub pem: String,
    pub jwk: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsrRequest {
    pub common_name: String,
    #[serde(default, deserialize_with = "null_refused::organization")]
    pub organization: Option<String>,
    #[serde(default, deserialize_with = "null_refused::organizational_unit")]
    pub organizational_unit: Option<String>,
    #[serde(default, deserialize_with = "null_refused::country")]
    pub country: Option<String>,
    #[serde(default)]
    pub subject_alt_names: Vec<String>,
}

#[derive(Serialize)]
pub struct Csr {
    pub csr: String,
    pub key_version: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportCertificate {
    /// PEM (one or more `CERTIFICATE` blocks), or base64 of one DER certificate.
    pub certificate: String,
}

#[derive(Serialize)]
pub struct ChainEntry {
    pub subject: String,
    pub issuer: String,
    pub not_after: String,
    pub fingerprint: String,
}

#[derive(Serialize)]
pub struct Certificate {
    pub id: String,
    pub key_version: u32,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    /// The certificate is past its `not_after` now (it was still accepted).
    pub expired: bool,
    /// The certificate's `not_before` is in the future (it was still accepted).
    pub not_yet_valid: bool,
    pub subject_alt_names: Vec<String>,
    pub key_usage: Vec<String>,
    pub is_ca: bool,
    pub fingerprint: String,
    pub pem: String,
    pub chain: Vec<ChainEntry>,
    pub created_at: String,
}

fn seconds_rfc3339(seconds: i64) -> String {
    rfc3339(seconds.saturating_mul(1_000_000))
}

impl From<&CertificateRow> for Certificate {
    fn from(c: &CertificateRow) -> Self {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let chain = crate::crypto::x509::parse_certificates(c.chain_pem.as_bytes())
            .unwrap_or_default()
            .into_iter()
            .map(|e| ChainEntry {
                subject: e.subject,
                issuer: e.issuer,
                not_after: seconds_rfc3339(e.not_after),
                fingerprint: e.fingerprint,
            })
            .collect();
        Self {
            id: c.id.clone(),
            key_version: c.key_version,
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            serial: c.serial.clone(),
            not_before: seconds_rfc3339(c.not_before),
            not_after: seconds_rfc3339(c.not_after),
            expired: now > c.not_after,
            not_yet_valid: now < c.not_before,
            subject_alt_names: c.subject_alt_names.clone(),
            key_usage: c.key_usage.clone(),
            is_ca: c.is_ca,
            fingerprint: c.fingerprint.clone(),
            pem: certificate_pem(&c.der),
            chain,
            created_at: rfc3339(c.created_at),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectQuery {
    pub group: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Serialize)]
pub struct SecurityObject {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub group: String,
    /// Keyring protection, key algorithm, or certificate subject.
    pub detail: String,
    pub enabled: bool,
    pub created_at: String,
}

impl From<&ObjectRow> for SecurityObject {
    fn from(o: &ObjectRow) -> Self {
        Self {
            id: o.id.clone(),
            kind: o.kind.clone(),
            name: o.name.clone(),
            group: o.group_id.clone(),
            detail: o.detail.clone(),
            enabled: o.enabled,
            created_at: rfc3339(o.created_at),
        }
    }
}

// ---- identity -------------------------------------------------------------------------

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
            role: row.role.clone(),
            suspended: row.suspended,
            member_since: rfc3339(row.created_at),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupUserRole {
    pub role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupAppOperations {
    pub operations: Vec<String>,
}

#[derive(Serialize)]
pub struct GroupUser {
    pub id: String,
    pub role: String,
}

#[derive(Serialize)]
pub struct GroupApp {
    pub id: String,
    pub operations: Vec<String>,
}

#[derive(Serialize)]
pub struct GroupMembers {
    pub users: Vec<GroupUser>,
    pub apps: Vec<GroupApp>,
}

#[derive(Deserialize)]
pub struct DeleteGroupQuery {
    #[serde(default)]
    pub force: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchApp {
    #[serde(default, deserialize_with = "null_refused::name")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_refused::enabled")]
    pub enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindCertificate {
    /// A pinned certificate, PEM.
    #[serde(default, deserialize_with = "null_refused::certificate")]
    pub certificate: Option<String>,
    /// Or the pinned certificate's SHA-256 fingerprint.
    #[serde(default, deserialize_with = "null_refused::fingerprint")]
    pub fingerprint: Option<String>,
    /// Or a trusted CA id with a subject and/or SAN rule.
    #[serde(default, deserialize_with = "null_refused::ca")]
    pub ca: Option<String>,
    #[serde(default, deserialize_with = "null_refused::subject")]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "null_refused::san")]
    pub san: Option<String>,
    /// With `certificate`: base64 of a signature by the certificate's key over
    /// `coffer-possession-proof:v1:<account id>:<fingerprint>` (a proven binding).
    #[serde(default, deserialize_with = "null_refused::proof")]
    pub proof: Option<String>,
}

#[derive(Serialize)]
pub struct AppCertificate {
    pub id: String,
    pub kind: String,
    pub fingerprint: Option<String>,
    pub ca: Option<String>,
    pub subject: Option<String>,
    pub san: Option<String>,
    pub not_after: Option<String>,
    /// Registered with a proof of possession (pinned), or under a proven trusted CA.
    pub proven: bool,
    pub created_at: String,
}

impl From<&AppCertificateRow> for AppCertificate {
    fn from(row: &AppCertificateRow) -> Self {
        Self {
            id: row.id.clone(),
            kind: row.kind.clone(),
            fingerprint: row.fingerprint.clone(),
            ca: row.ca_id.clone(),
            subject: row.subject.clone(),
            san: row.san.clone(),
            not_after: row.not_after.map(|s| rfc3339(s.saturating_mul(1_000_000))),
            proven: row.proven,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Serialize)]
pub struct AppCredentials {
    pub api_keys: Vec<ApiKey>,
    pub certificates: Vec<AppCertificate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTrustedCa {
    pub name: String,
    pub certificate: String,
    /// Base64 of a signature by the CA's key over
    /// `coffer-possession-proof:v1:<account id>:<fingerprint>` (a proven CA).
    #[serde(default, deserialize_with = "null_refused::proof")]
    pub proof: Option<String>,
}

#[derive(Serialize)]
pub struct TrustedCa {
    pub id: String,
    pub name: String,
    pub subject: String,
    pub fingerprint: String,
    /// Registered with a proof of possession of the CA's key.
    pub proven: bool,
    pub created_at: String,
}

impl From<&TrustedCaRow> for TrustedCa {
    fn from(row: &TrustedCaRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            subject: row.subject.clone(),
            fingerprint: row.fingerprint.clone(),
            proven: row.proven,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    #[serde(default, deserialize_with = "null_refused::certificate")]
    pub certificate: Option<String>,
    #[serde(default, deserialize_with = "null_refused::fingerprint")]
    pub fingerprint: Option<String>,
    #[serde(default, deserialize_with = "null_refused::reason")]
    pub reason: Option<String>,
}

#[derive(Serialize)]
pub struct Revocation {
    pub fingerprint: String,
    pub reason: Option<String>,
    pub revoked_at: String,
}

impl From<&RevocationRow> for Revocation {
    fn from(row: &RevocationRow) -> Self {
        Self {
            fingerprint: row.fingerprint.clone(),
            reason: row.reason.clone(),
            revoked_at: rfc3339(row.revoked_at),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMachineToken {
    pub kind: String,
    pub name: String,
    pub flags: BTreeMap<String, bool>,
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    #[serde(default, deserialize_with = "null_refused::lifetime_seconds")]
    pub lifetime_seconds: Option<i64>,
    #[serde(default, deserialize_with = "null_refused::max_uses")]
    pub max_uses: Option<i64>,
    #[serde(default, deserialize_with = "null_refused::machine_lifetime_seconds")]
    pub machine_lifetime_seconds: Option<i64>,
    #[serde(default, deserialize_with = "null_refused::guardrails")]
    pub guardrails: Option<crate::auth::guardrails::Guardrails>,
}

#[derive(Serialize)]
pub struct MachineTokenInfo {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: String,
    pub max_uses: i64,
    pub uses: i64,
    pub flags: serde_json::Value,
    pub groups: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_lifetime_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<serde_json::Value>,
    pub disabled: bool,
}

impl From<&crate::store::MachineTokenRow> for MachineTokenInfo {
    fn from(t: &crate::store::MachineTokenRow) -> Self {
        Self {
            id: t.id.clone(),
            kind: t.kind.clone(),
            name: t.name.clone(),
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            max_uses: t.max_uses,
            uses: t.uses,
            flags: serde_json::from_str(&t.flags_json).unwrap_or_default(),
            groups: serde_json::from_str(&t.grants_json).unwrap_or_default(),
            machine_lifetime_seconds: t.machine_lifetime_seconds,
            guardrails: t
                .guardrails_json
                .as_deref()
                .and_then(|g| serde_json::from_str(g).ok()),
            disabled: t.disabled_at.is_some(),
        }
    }
}

#[derive(Serialize)]
pub struct MachineTokenIssued {
    #[serde(flatten)]
    pub info: MachineTokenInfo,
    /// Shown once.
    pub token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterMachine {
    pub token: String,
    pub public_key: String,
    #[serde(default, deserialize_with = "null_refused::name")]
    pub name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionMachine {
    pub name: String,
    pub flags: BTreeMap<String, bool>,
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    #[serde(default, deserialize_with = "null_refused::expires_at")]
    pub expires_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleDownload {
    pub token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendMachine {
    pub expires_at: String,
}

#[derive(Serialize)]
pub struct Machine {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub origin: String,
    pub status: String,
    pub enabled: bool,
    /// Base64 of the raw 32-byte Ed25519 public key.
    pub public_key: String,
    pub flags: serde_json::Value,
    pub created_at: String,
    pub approved_at: Option<String>,
    pub expires_at: Option<String>,
    pub previous_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<serde_json::Value>,
    pub token_id: Option<String>,
}

impl From<&crate::store::MachineRow> for Machine {
    fn from(m: &crate::store::MachineRow) -> Self {
        use base64::Engine;
        Self {
            id: m.id.clone(),
            account_id: m.account_id.clone(),
            name: m.name.clone(),
            origin: m.origin.clone(),
            status: m.status.clone(),
            enabled: m.enabled,
            public_key: base64::engine::general_purpose::STANDARD.encode(&m.public_key),
            flags: serde_json::from_str(&m.flags_json).unwrap_or_default(),
            created_at: rfc3339(m.created_at),
            approved_at: m.approved_at.map(rfc3339),
            expires_at: m.expires_at.map(rfc3339),
            previous_expires_at: m.previous_expires_at.map(rfc3339),
            lifetime_seconds: m.lifetime_seconds,
            guardrails: m
                .guardrails_json
                .as_deref()
                .and_then(|g| serde_json::from_str(g).ok()),
            token_id: m.token_id.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct ProvisionedMachine {
    pub machine: Machine,
    /// Single use; send it to `POST /v1/machines/bundle`. Shown once.
    pub bundle_token: String,
    pub bundle_path: &'static str,
    pub bundle_expires_at: String,
}

#[derive(Serialize)]
pub struct MachineBundle {
    pub machine_id: String,
    pub account_id: String,
    pub private_key_pem: String,
}
