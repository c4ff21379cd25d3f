//! Machines: apps whose credential is an Ed25519 key pair. The private key is made on the
//! machine (or, for a provisioned machine, made here once and handed over in a single-use
//! bundle); every request is signed, so an intercepted request is useless.
//!
//! Signed requests are checked in this order: well-formed headers naming an existing
//! machine, that machine's lockout from the source, machine state, signature, timestamp,
//! nonce, account. Every refusal is the same 401 (a lockout is a 429); its audit event
//! names the check that failed.
//!
//! Failures are counted in two ways. A request naming an existing machine counts against
//! that machine from that source address: brute force locks the machine out from there,
//! while its other sources and the other machines behind the address keep working. Anything
//! else (unknown id, malformed or missing headers) counts against the source address alone,
//! with a higher threshold, and that lock never refuses an existing machine.

use super::tenancy::{check_display_name, flags_json};
use super::{
    APIKEY_PEPPER_LABEL, AuthMethod, Caller, Credential, Ctx, Error, RequestMeta, Service, micros,
    new_id,
};
use crate::audit::{AuditEvent, Identity, NonceClaim};
use crate::auth::MachineToken;
use crate::auth::guardrails::Guardrails;
use crate::auth::signed::{self, SignedHeaderError, SignedHeaders};
use crate::authz::{Flags, Operations, PrincipalKind};
use crate::catalogue;
use crate::store::{
    AppRow, LockoutRule, LoginFailures, MachineEnrollment, MachineRow, MachineTokenRow,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Twelve months: the longest a machine's expiry may reach, counted from now.
pub const MAX_LIFETIME_SECS: i64 = 365 * 86_400;
/// The shortest lifetime of a temporary machine.
pub const MIN_TEMPORARY_LIFETIME_SECS: i64 = 3_600;
/// The most machines one enrollment token may enroll.
pub const MAX_ENROLLMENT_USES: i64 = 10_000;
/// The shortest lifetime of a token or an enrolled machine.
const MIN_LIFETIME_SECS: i64 = 60;
/// A temporary token's lifetime when none is asked for.
const DEFAULT_TEMPORARY_TOKEN_SECS: i64 = 86_400;
const MICROS: i64 = 1_000_000;

/// What a token enrolls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineTokenKind {
    /// One machine, pending until an owner approves it; the token lives 10 minutes.
    Bootstrap,
    /// Up to `max_uses` ephemeral machines, approved at once, each living a fixed time.
    Enrollment,
    /// One pending machine with a lifetime (from approval) and optional guardrails.
    Temporary,
}

impl MachineTokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MachineTokenKind::Bootstrap => "bootstrap",
            MachineTokenKind::Enrollment => "enrollment",
            MachineTokenKind::Temporary => "temporary",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "bootstrap" => MachineTokenKind::Bootstrap,
            "enrollment" => MachineTokenKind::Enrollment,
            "temporary" => MachineTokenKind::Temporary,
            _ => return None,
        })
    }
}

/// A request for a machine token.
#[derive(Debug, Clone)]
pub struct MachineTokenSpec {
    pub kind: MachineTokenKind,
    pub name: String,
    /// The flags of machines enrolled with the token.
    pub flags: BTreeMap<String, bool>,
    /// Group id → operations of machines enrolled with the token.
    pub grants: BTreeMap<String, Vec<String>>,
    /// How long the token can be used (enrollment, temporary).
    pub lifetime_seconds: Option<i64>,
    /// How many machines it may enroll (enrollment).
    pub max_uses: Option<i64>,
    /// How long each enrolled machine lives (enrollment: from enrollment; temporary: from
    /// approval).
    pub machine_lifetime_seconds: Option<i64>,
    pub guardrails: Option<Guardrails>,
}

/// A created token: the only moment its text is known.
pub struct CreatedMachineToken {
    pub row: MachineTokenRow,
    pub token: MachineToken,
}

/// A request to provision a machine whose key pair the server makes.
#[derive(Debug, Clone)]
pub struct ProvisionSpec {
    pub name: String,
    pub flags: BTreeMap<String, bool>,
    pub grants: BTreeMap<String, Vec<String>>,
    /// RFC 3339.
    pub expires_at: Option<String>,
}

/// A provisioned machine and the single-use token that downloads its bundle.
pub struct Provisioned {
    pub machine: MachineRow,
    pub bundle_token: MachineToken,
    pub bundle_expires_at: i64,
}

/// What a provisioned machine needs: its identity and private key. No `Debug`.
pub struct MachineBundle {
    pub machine_id: String,
    pub account_id: String,
    pub private_key_pem: SecretString,
}

/// A request that carries the signed-request headers, as the HTTP layer saw it.
pub struct SignedRequest {
    pub headers: Result<SignedHeaders, SignedHeaderError>,
    /// The `X-Machine-Id` header as sent, to attribute a refusal to an account.
    pub claimed_machine_id: Option<String>,
    pub method: String,
    /// The request target: path and query string.
    pub target: String,
    pub body_sha256: [u8; 32],
}

/// The live machine a refused signed request names.
struct Named {
    id: String,
    account_id: String,
}

impl Named {
    fn of(machine: &MachineRow) -> Self {
        Self {
            id: machine.id.clone(),
            account_id: machine.account_id.clone(),
        }
    }
}

/// Why a signed request was refused, or a failure of the service itself.
enum Refusal {
    /// A request naming no existing machine failed `reason` (`detail`, when given, is the
    /// audit event's detail instead); it counts against the source address.
    Unnamed {
        reason: &'static str,
        detail: Option<String>,
    },
    /// A request naming an existing machine failed `reason` (the audit event's detail); if
    /// `counted`, against that machine from the source.
    Named {
        reason: &'static str,
        named: Named,
        counted: bool,
    },
    /// The named machine is locked out from this source until then (Unix microseconds).
    Locked {
        named: Named,
        until: i64,
    },
    Failed(Error),
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Refusal::Failed(e)
    }
}

impl From<crate::store::StoreError> for Refusal {
    fn from(e: crate::store::StoreError) -> Self {
        Refusal::Failed(e.into())
    }
}

/// A failed check of a request that named `machine` (counted against it from the source).
fn refuse<T>(reason: &'static str, machine: &MachineRow) -> Result<T, Refusal> {
    Err(Refusal::Named {
        reason,
        named: Named::of(machine),
        counted: true,
    })
}

/// The `login_failures` key of failed signed requests naming `machine_id` from `ip`.
fn machine_source(ip: &str, machine_id: &str) -> String {
    format!("machine:{machine_id}@{ip}")
}

/// The `login_failures` key of failed signed requests from `ip` that name no machine.
fn unnamed_source(ip: &str) -> String {
    format!("machine:{ip}")
}

/// 429 until `until`: `Retry-After` is the whole seconds left, rounded up.
fn locked_out(until: i64, now: i64) -> Error {
    let left = (until - now).max(1);
    Error::RateLimited {
        retry_after_secs: u64::try_from((left + MICROS - 1) / MICROS).unwrap_or(1),
    }
}

/// Whether the failure just recorded (leaving `state`) is the one that started the lock.
/// The lock is set once, by the failure that reaches the threshold; failures that raced
/// past the lock check count on but find it set.
fn lock_started(state: &LoginFailures, rule: LockoutRule) -> bool {
    state.locked_until.is_some() && state.failures == rule.threshold
}

fn secs_to_micros(secs: i64) -> i64 {
    secs.saturating_mul(MICROS)
}

fn in_range(what: &str, value: i64, min: i64, max: i64) -> Result<i64, Error> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Error::InvalidInput(format!(
            "{what} must be between {min} and {max}"
        )))
    }
}

fn refuse_field(kind: MachineTokenKind, field: &str, given: bool) -> Result<(), Error> {
    if given {
        Err(Error::InvalidInput(format!(
            "{field} does not apply to {} tokens",
            kind.as_str()
        )))
    } else {
        Ok(())
    }
}

fn required(kind: MachineTokenKind, field: &str, value: Option<i64>) -> Result<i64, Error> {
    value.ok_or_else(|| {
        Error::InvalidInput(format!("{field} is required for {} tokens", kind.as_str()))
    })
}

/// The key-cache key of a machine's resolved caller.
fn machine_cache_key(machine_id: &str) -> [u8; 32] {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("machine\0{machine_id}").as_bytes(),
    );
    digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// A raw Ed25519 public key given as base64: 32 bytes, a valid point, not of small order.
fn parse_public_key(text: &str) -> Result<Vec<u8>, Error> {
    let bad =
        || Error::InvalidInput("public_key must be base64 of a 32-byte Ed25519 public key".into());
    let bytes: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| bad())?;
    if key.is_weak() {
        return Err(bad());
    }
    Ok(bytes.to_vec())
}

impl Service {
    fn machine_flags(raw: BTreeMap<String, bool>) -> Result<Flags, Error> {
        Flags::parse(raw, PrincipalKind::App).map_err(|e| Error::InvalidInput(e.to_string()))
    }

    /// Checks grants against the caller's account: every group exists and is visible, every
    /// operation is known. Returns them normalised.
    async fn checked_grants(
        &self,
        caller: &Caller,
        grants: &BTreeMap<String, Vec<String>>,
    ) -> Result<BTreeMap<String, Vec<String>>, Error> {
        let mut checked = BTreeMap::new();
        for (group, operations) in grants {
            self.visible_group(caller, group).await?;
            let ops = Operations::parse(operations).map_err(|op| {
                Error::InvalidInput(format!(
                    "operation {op:?} is not one of encrypt, decrypt, sign, verify, wrap, unwrap, mac, export, manage-objects"
                ))
            })?;
            checked.insert(group.clone(), ops.names());
        }
        Ok(checked)
    }

    /// The lifetimes and limits of a new token, by kind: (expires_at, max_uses,
    /// machine_lifetime_seconds).
    fn token_terms(&self, spec: &MachineTokenSpec) -> Result<(i64, i64, Option<i64>), Error> {
        let now = self.now();
        let kind = spec.kind;
        match kind {
            MachineTokenKind::Bootstrap => {
                refuse_field(kind, "lifetime_seconds", spec.lifetime_seconds.is_some())?;
                refuse_field(kind, "max_uses", spec.max_uses.is_some())?;
                refuse_field(
                    kind,
                    "machine_lifetime_seconds",
                    spec.machine_lifetime_seconds.is_some(),
                )?;
                refuse_field(kind, "guardrails", spec.guardrails.is_some())?;
                Ok((now + micros(self.settings.bootstrap_token_ttl), 1, None))
            }
            MachineTokenKind::Enrollment => {
                refuse_field(kind, "guardrails", spec.guardrails.is_some())?;
                let lifetime = required(kind, "lifetime_seconds", spec.lifetime_seconds)?;
                let lifetime = in_range(
                    "lifetime_seconds",
                    lifetime,
                    MIN_LIFETIME_SECS,
                    MAX_LIFETIME_SECS,
                )?;
                let uses = required(kind, "max_uses", spec.max_uses)?;
                let uses = in_range("max_uses", uses, 1, MAX_ENROLLMENT_USES)?;
                let machine = required(
                    kind,
                    "machine_lifetime_seconds",
                    spec.machine_lifetime_seconds,
                )?;
                let machine = in_range(
                    "machine_lifetime_seconds",
                    machine,
                    MIN_LIFETIME_SECS,
                    MAX_LIFETIME_SECS,
                )?;
                Ok((now + secs_to_micros(lifetime), uses, Some(machine)))
            }
            MachineTokenKind::Temporary => {
                if spec.max_uses.is_some_and(|n| n != 1) {
                    return Err(Error::InvalidInput(
                        "a temporary token enrolls exactly one machine (max_uses 1)".into(),
                    ));
                }
                let lifetime = spec
                    .lifetime_seconds
                    .unwrap_or(DEFAULT_TEMPORARY_TOKEN_SECS);
                let lifetime = in_range(
                    "lifetime_seconds",
                    lifetime,
                    MIN_LIFETIME_SECS,
                    MAX_LIFETIME_SECS,
                )?;
                let machine = required(
                    kind,
                    "machine_lifetime_seconds",
                    spec.machine_lifetime_seconds,
                )?;
                let machine = in_range(
                    "machine_lifetime_seconds",
                    machine,
                    MIN_TEMPORARY_LIFETIME_SECS,
                    MAX_LIFETIME_SECS,
                )?;
                if let Some(guardrails) = &spec.guardrails {
                    guardrails.validate().map_err(Error::InvalidInput)?;
                }
                Ok((now + secs_to_micros(lifetime), 1, Some(machine)))
            }
        }
    }

    /// `POST /v1/machine-tokens`: a bootstrap, enrollment or temporary token, shown once.
    pub async fn create_machine_token(
        &self,
        ctx: &Ctx<'_>,
        spec: MachineTokenSpec,
    ) -> Result<CreatedMachineToken, Error> {
        let object = format!("machine-token/{}", spec.name);
        self.mutation(
            ctx,
            &catalogue::CREATE_MACHINE_TOKEN,
            "",
            Some(&object),
            |event| async move {
                check_display_name("token", &spec.name)?;
                let (expires_at, max_uses, machine_lifetime) = self.token_terms(&spec)?;
                let flags = Self::machine_flags(spec.flags.clone())?;
                let grants = self.checked_grants(ctx.caller, &spec.grants).await?;
                let id = new_id("mtk");
                let token = MachineToken::generate(&id);
                let digest = self
                    .hsm
                    .hmac_sha256(APIKEY_PEPPER_LABEL, token.digest_input())
                    .await?;
                let guardrails = match &spec.guardrails {
                    Some(g) => {
                        Some(serde_json::to_string(g).map_err(|e| Error::Internal(Box::new(e)))?)
                    }
                    None => None,
                };
                let row = MachineTokenRow {
                    id,
                    account_id: ctx.caller.account_id.clone(),
                    kind: spec.kind.as_str().to_owned(),
                    name: spec.name.clone(),
                    digest: digest.to_vec(),
                    created_by: ctx.caller.principal_id.clone(),
                    created_at: self.now(),
                    expires_at,
                    max_uses,
                    uses: 0,
                    flags_json: flags_json(&flags)?,
                    grants_json: serde_json::to_string(&grants)
                        .map_err(|e| Error::Internal(Box::new(e)))?,
                    machine_lifetime_seconds: machine_lifetime,
                    guardrails_json: guardrails,
                    machine_id: None,
                    sealed_bundle: None,
                    disabled_at: None,
                };
                self.store.create_machine_token(&row, &event).await?;
                Ok(CreatedMachineToken { row, token })
            },
        )
        .await
    }

    /// `GET /v1/machine-tokens`: the account's enrollment tokens (bundle links excluded).
    pub async fn list_machine_tokens(&self, ctx: &Ctx<'_>) -> Result<Vec<MachineTokenRow>, Error> {
        self.read(ctx, &catalogue::LIST_MACHINE_TOKENS, "", None, async {
            let mut rows = self.store.machine_tokens(&ctx.caller.account_id).await?;
            rows.retain(|t| t.kind != "bundle");
            Ok(rows)
        })
        .await
    }

    /// `DELETE /v1/machine-tokens/{id}`: the token stops enrolling at once.
    pub async fn disable_machine_token(&self, ctx: &Ctx<'_>, id: &str) -> Result<(), Error> {
        let object = format!("machine-token/{id}");
        self.mutation(
            ctx,
            &catalogue::DISABLE_MACHINE_TOKEN,
            "",
            Some(&object),
            |event| async move {
                let found = self
                    .store
                    .machine_token(id)
                    .await?
                    .filter(|t| t.account_id == ctx.caller.account_id && t.kind != "bundle")
                    .ok_or_else(|| Error::NotFound(format!("machine token {id}")))?;
                if !self
                    .store
                    .disable_machine_token(&found.id, self.now(), &event)
                    .await?
                {
                    return Err(Error::Conflict(format!(
                        "machine token {id} is already disabled"
                    )));
                }
                Ok(())
            },
        )
        .await
    }

    /// The stored token a presented token text stands for, whatever its state; every
    /// mismatch is `Unauthenticated`, after the same HSM round trip.
    async fn presented_token(&self, text: &str) -> Result<MachineTokenRow, Error> {
        let Some(token) = MachineToken::parse(text.trim()) else {
            return Err(Error::Unauthenticated);
        };
        let row = self.store.machine_token(token.key_id()).await?;
        let digest = self
            .hsm
            .hmac_sha256(APIKEY_PEPPER_LABEL, token.digest_input())
            .await?;
        let row = row.ok_or(Error::Unauthenticated)?;
        let matches: bool = subtle::ConstantTimeEq::ct_eq(&digest[..], &row.digest[..]).into();
        if matches {
            Ok(row)
        } else {
            Err(Error::Unauthenticated)
        }
    }

    /// Records the outcome of a request made with a machine token instead of a credential
    /// (registration, bundle download), in the token's account when it is known.
    async fn token_request_outcome<T>(
        &self,
        meta: &RequestMeta,
        action: &str,
        account: Option<&str>,
        object: &str,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        if result.is_ok() && meta.is_audited() {
            return result;
        }
        let mut event = self.event(
            meta,
            None,
            action,
            Some(object),
            result.as_ref().map(|_| ()),
        );
        event.account_id = account.map(str::to_owned);
        self.record(meta, event).await?;
        result
    }

    /// `POST /v1/machines/register`: a machine presents a bootstrap, enrollment or temporary
    /// token and its public key. Enrollment machines are approved at once; the others wait
    /// for an owner.
    pub async fn register_machine(
        &self,
        meta: &RequestMeta,
        token_text: &str,
        public_key: &str,
        name: Option<&str>,
    ) -> Result<MachineRow, Error> {
        let token = match self.presented_token(token_text).await {
            Ok(row) => row,
            Err(e) => {
                return self
                    .token_request_outcome(meta, "machine.register", None, "machine", Err(e))
                    .await;
            }
        };
        let account = token.account_id.clone();
        let object = format!("machine-token/{}", token.id);
        let result = self.enroll(meta, &token, public_key, name).await;
        self.token_request_outcome(meta, "machine.register", Some(&account), &object, result)
            .await
    }

    async fn enroll(
        &self,
        meta: &RequestMeta,
        token: &MachineTokenRow,
        public_key: &str,
        name: Option<&str>,
    ) -> Result<MachineRow, Error> {
        let now = self.now();
        let kind = MachineTokenKind::parse(&token.kind).ok_or(Error::Unauthenticated)?;
        let usable =
            token.disabled_at.is_none() && token.expires_at > now && token.uses < token.max_uses;
        if !usable {
            return Err(Error::Unauthenticated);
        }
        let public_key = parse_public_key(public_key)?;
        let id = new_id("mch");
        let name = match name {
            Some(name) => name.to_owned(),
            None => format!("{}-{}", token.name, &id[id.len() - 8..]),
        };
        check_display_name("machine", &name)?;
        let grants: BTreeMap<String, Vec<String>> =
            serde_json::from_str(&token.grants_json).map_err(|e| Error::Internal(Box::new(e)))?;
        let lifetime = token.machine_lifetime_seconds;
        let approved = kind == MachineTokenKind::Enrollment;
        let machine = MachineRow {
            id: id.clone(),
            account_id: token.account_id.clone(),
            name: name.clone(),
            public_key,
            origin: kind.as_str().to_owned(),
            status: if approved { "approved" } else { "pending" }.to_owned(),
            enabled: true,
            flags_json: token.flags_json.clone(),
            created_at: now,
            approved_at: approved.then_some(now),
            lifetime_seconds: lifetime.filter(|_| kind == MachineTokenKind::Temporary),
            expires_at: lifetime
                .filter(|_| approved)
                .map(|secs| now + secs_to_micros(secs)),
            previous_expires_at: None,
            guardrails_json: token.guardrails_json.clone(),
            token_id: Some(token.id.clone()),
            disabled_at: None,
        };
        let app = AppRow {
            id,
            account_id: token.account_id.clone(),
            name,
            groups: grants.keys().cloned().collect(),
            operations: grants,
            enabled: true,
            created_at: now,
        };
        let mut event = self.event(
            meta,
            None,
            "machine.register",
            Some(&format!("machine/{}", machine.id)),
            Ok(()),
        );
        event.account_id = Some(token.account_id.clone());
        event.principal = Some(machine.id.clone());
        event.identity = Some(Identity::Verified);
        let enrollment = MachineEnrollment::WithToken {
            token_id: &token.id,
            now,
        };
        self.store
            .create_machine(&app, &machine, enrollment, &event)
            .await
            .map_err(|e| match e {
                // The token was used up or disabled meanwhile: the same as an unusable token.
                crate::store::StoreError::Conflict(what) if what.starts_with("the token") => {
                    Error::Unauthenticated
                }
                other => other.into(),
            })?;
        meta.mark_audited();
        Ok(machine)
    }

    /// `POST /v1/machines`: an approved machine whose key pair is made here, once; the
    /// private key leaves only in the bundle, sealed under the download token.
    pub async fn provision_machine(
        &self,
        ctx: &Ctx<'_>,
        spec: ProvisionSpec,
    ) -> Result<Provisioned, Error> {
        let object = format!("machine/{}", spec.name);
        self.mutation(
            ctx,
            &catalogue::PROVISION_MACHINE,
            "",
            Some(&object),
            |event| async move {
                check_display_name("machine", &spec.name)?;
                let flags = Self::machine_flags(spec.flags.clone())?;
                let grants = self.checked_grants(ctx.caller, &spec.grants).await?;
                let now = self.now();
                let expires_at = spec
                    .expires_at
                    .as_deref()
                    .map(|text| Self::requested_expiry(text, now))
                    .transpose()?;
                let (private_pem, public_key) = crate::crypto::generate_ed25519();
                let id = new_id("mch");
                let token_id = new_id("mtk");
                let bundle_token = MachineToken::generate(&token_id);
                let bundle = serde_json::json!({
                    "machine_id": id,
                    "account_id": ctx.caller.account_id,
                    "private_key_pem": private_pem.as_str(),
                });
                let plaintext = Zeroizing::new(
                    serde_json::to_vec(&bundle).map_err(|e| Error::Internal(Box::new(e)))?,
                );
                drop(bundle);
                let key = crate::crypto::bundle_key(&bundle_token.digest_input());
                let nonce = crate::crypto::random_nonce();
                let mut sealed = nonce.to_vec();
                sealed.extend(crate::crypto::seal(
                    &key,
                    nonce,
                    token_id.as_bytes(),
                    &plaintext,
                ));
                let digest = self
                    .hsm
                    .hmac_sha256(APIKEY_PEPPER_LABEL, bundle_token.digest_input())
                    .await?;
                let bundle_expires_at = now + micros(self.settings.bundle_ttl);
                let token_row = MachineTokenRow {
                    id: token_id,
                    account_id: ctx.caller.account_id.clone(),
                    kind: "bundle".into(),
                    name: spec.name.clone(),
                    digest: digest.to_vec(),
                    created_by: ctx.caller.principal_id.clone(),
                    created_at: now,
                    expires_at: bundle_expires_at,
                    max_uses: 1,
                    uses: 0,
                    flags_json: "{}".into(),
                    grants_json: "{}".into(),
                    machine_lifetime_seconds: None,
                    guardrails_json: None,
                    machine_id: Some(id.clone()),
                    sealed_bundle: Some(sealed),
                    disabled_at: None,
                };
                let machine = MachineRow {
                    id: id.clone(),
                    account_id: ctx.caller.account_id.clone(),
                    name: spec.name.clone(),
                    public_key: public_key.to_vec(),
                    origin: "provisioned".into(),
                    status: "approved".into(),
                    enabled: true,
                    flags_json: flags_json(&flags)?,
                    created_at: now,
                    approved_at: Some(now),
                    lifetime_seconds: None,
                    expires_at,
                    previous_expires_at: None,
                    guardrails_json: None,
                    token_id: None,
                    disabled_at: None,
                };
                let app = AppRow {
                    id,
                    account_id: ctx.caller.account_id.clone(),
                    name: spec.name.clone(),
                    groups: grants.keys().cloned().collect(),
                    operations: grants,
                    enabled: true,
                    created_at: now,
                };
                let enrollment = MachineEnrollment::Provisioned { bundle: &token_row };
                self.store
                    .create_machine(&app, &machine, enrollment, &event)
                    .await?;
                Ok(Provisioned {
                    machine,
                    bundle_token,
                    bundle_expires_at,
                })
            },
        )
        .await
    }

    /// `POST /v1/machines/bundle`: the single download of a provisioned machine's bundle.
    /// After it, the server holds only the public key.
    pub async fn download_bundle(
        &self,
        meta: &RequestMeta,
        token_text: &str,
    ) -> Result<MachineBundle, Error> {
        let token = match self.presented_token(token_text).await {
            Ok(row) if row.kind == "bundle" => row,
            Ok(_) | Err(Error::Unauthenticated) => {
                return self
                    .token_request_outcome(
                        meta,
                        "machine.bundle.download",
                        None,
                        "machine",
                        Err(Error::Unauthenticated),
                    )
                    .await;
            }
            Err(e) => return Err(e),
        };
        let machine_id = token.machine_id.clone().unwrap_or_default();
        let object = format!("machine/{machine_id}");
        let result = self.take_bundle(meta, &token, token_text, &object).await;
        self.token_request_outcome(
            meta,
            "machine.bundle.download",
            Some(&token.account_id),
            &object,
            result,
        )
        .await
    }

    async fn take_bundle(
        &self,
        meta: &RequestMeta,
        token: &MachineTokenRow,
        token_text: &str,
        object: &str,
    ) -> Result<MachineBundle, Error> {
        let mut event = self.event(meta, None, "machine.bundle.download", Some(object), Ok(()));
        event.account_id = Some(token.account_id.clone());
        let sealed = self
            .store
            .take_bundle(&token.id, self.now(), &event)
            .await?
            .ok_or(Error::Unauthenticated)?;
        meta.mark_audited();
        let unreadable = || Error::Internal("a stored machine bundle does not open".into());
        if sealed.len() < 12 {
            return Err(unreadable());
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        let key = crate::crypto::bundle_key(token_text.trim().as_bytes());
        let plaintext = crate::crypto::open(
            &key,
            nonce.try_into().expect("12 bytes"),
            token.id.as_bytes(),
            ciphertext,
        )
        .map_err(|_| unreadable())?;
        #[derive(serde::Deserialize)]
        struct Stored {
            machine_id: String,
            account_id: String,
            private_key_pem: SecretString,
        }
        let stored: Stored = serde_json::from_slice(&plaintext).map_err(|_| unreadable())?;
        Ok(MachineBundle {
            machine_id: stored.machine_id,
            account_id: stored.account_id,
            private_key_pem: stored.private_key_pem,
        })
    }

    /// An expiry a caller asks for (RFC 3339): in the future, at most twelve months from
    /// `now`.
    fn requested_expiry(text: &str, now: i64) -> Result<i64, Error> {
        let at = crate::clock::parse_rfc3339(text).ok_or_else(|| {
            Error::InvalidInput("expires_at must be an RFC 3339 timestamp".into())
        })?;
        if at <= now || at > now + secs_to_micros(MAX_LIFETIME_SECS) {
            return Err(Error::InvalidInput(
                "expires_at must be in the future and at most twelve months (365 days) from now"
                    .into(),
            ));
        }
        Ok(at)
    }

    /// A machine of the caller's account.
    async fn own_machine(&self, caller: &Caller, id: &str) -> Result<MachineRow, Error> {
        self.store
            .machine(id)
            .await?
            .filter(|m| m.account_id == caller.account_id)
            .ok_or_else(|| Error::NotFound(format!("machine {id}")))
    }

    pub async fn list_machines(&self, ctx: &Ctx<'_>) -> Result<Vec<MachineRow>, Error> {
        self.read(ctx, &catalogue::LIST_MACHINES, "", None, async {
            Ok(self.store.machines(&ctx.caller.account_id).await?)
        })
        .await
    }

    pub async fn get_machine(&self, ctx: &Ctx<'_>, id: &str) -> Result<MachineRow, Error> {
        self.read(
            ctx,
            &catalogue::GET_MACHINE,
            "",
            Some(&format!("machine/{id}")),
            async { self.own_machine(ctx.caller, id).await },
        )
        .await
    }

    /// Applies `change` to a machine of the caller's account and writes it; the machine's
    /// next request sees the result.
    async fn change_machine<F>(
        &self,
        ctx: &Ctx<'_>,
        op: &catalogue::Operation,
        id: &str,
        change: F,
    ) -> Result<MachineRow, Error>
    where
        F: FnOnce(&mut MachineRow, i64) -> Result<(), Error>,
    {
        let object = format!("machine/{id}");
        self.mutation(ctx, op, "", Some(&object), |event| async move {
            let mut machine = self.own_machine(ctx.caller, id).await?;
            change(&mut machine, self.now())?;
            self.store.update_machine(&machine, &event).await?;
            self.forget_principal(id);
            Ok(machine)
        })
        .await
    }

    /// `POST /v1/machines/{id}/approve`: a pending machine may sign requests; a temporary
    /// machine's lifetime starts now.
    pub async fn approve_machine(&self, ctx: &Ctx<'_>, id: &str) -> Result<MachineRow, Error> {
        self.change_machine(ctx, &catalogue::APPROVE_MACHINE, id, |m, now| {
            if m.status != "pending" {
                return Err(Error::Conflict(format!("machine {id} is already approved")));
            }
            m.status = "approved".into();
            m.approved_at = Some(now);
            if let Some(secs) = m.lifetime_seconds {
                m.expires_at = Some(now + secs_to_micros(secs));
            }
            Ok(())
        })
        .await
    }

    /// `POST /v1/machines/{id}/disable` and `/enable`.
    pub async fn set_machine_enabled(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        enabled: bool,
    ) -> Result<MachineRow, Error> {
        let op = if enabled {
            &catalogue::ENABLE_MACHINE
        } else {
            &catalogue::DISABLE_MACHINE
        };
        self.change_machine(ctx, op, id, |m, now| {
            m.enabled = enabled;
            m.disabled_at = (!enabled).then_some(now);
            Ok(())
        })
        .await
    }

    /// `POST /v1/machines/{id}/extend`: a later expiry, at most twelve months from now; the
    /// previous one is kept so the extension can be reverted.
    pub async fn extend_machine(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        expires_at: &str,
    ) -> Result<MachineRow, Error> {
        self.change_machine(ctx, &catalogue::EXTEND_MACHINE, id, |m, now| {
            let expires_at = Self::requested_expiry(expires_at, now)?;
            let Some(current) = m.expires_at else {
                return Err(Error::Conflict(format!(
                    "machine {id} has no expiry to extend"
                )));
            };
            if expires_at <= current {
                return Err(Error::InvalidInput(
                    "expires_at must be later than the machine's current expiry".into(),
                ));
            }
            m.previous_expires_at = Some(current);
            m.expires_at = Some(expires_at);
            Ok(())
        })
        .await
    }

    /// `POST /v1/machines/{id}/revert-extension`: back to the expiry before the last
    /// extension.
    pub async fn revert_machine_extension(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
    ) -> Result<MachineRow, Error> {
        self.change_machine(ctx, &catalogue::REVERT_MACHINE_EXTENSION, id, |m, _| {
            let previous = m.previous_expires_at.take().ok_or_else(|| {
                Error::Conflict(format!("machine {id} has no extension to revert"))
            })?;
            m.expires_at = Some(previous);
            Ok(())
        })
        .await
    }

    /// `DELETE /v1/machines/{id}`: the machine and its app are gone.
    pub async fn delete_machine(&self, ctx: &Ctx<'_>, id: &str) -> Result<(), Error> {
        let object = format!("machine/{id}");
        self.mutation(
            ctx,
            &catalogue::DELETE_MACHINE,
            "",
            Some(&object),
            |event| async move {
                self.own_machine(ctx.caller, id).await?;
                self.store.delete_machine(id, self.now(), &event).await?;
                self.forget_principal(id);
                Ok(())
            },
        )
        .await
    }

    /// Authenticates a signed request. A refusal is `Unauthenticated`, audited with the
    /// check that failed and counted (see the module documentation); a lockout is
    /// `RateLimited`; a temporary machine's guardrail refusal is `MachineBlocked`.
    pub async fn authenticate_signed(
        &self,
        meta: &RequestMeta,
        request: SignedRequest,
    ) -> Result<Arc<Caller>, Error> {
        let ip = meta.source_ip.as_deref().unwrap_or("unknown");
        match self.verify_signed(ip, &request).await {
            Ok((caller, guardrails)) => {
                if let Some(json) = guardrails {
                    self.check_guardrails(meta, &caller, &request, &json)
                        .await?;
                }
                Ok(caller)
            }
            Err(Refusal::Locked { named, until }) => {
                let error = locked_out(until, self.now());
                let event = self.signed_refusal_event(meta, &request, &error, "machine_locked");
                self.audit_signed_refusal(meta, event, &named.id, Some(named.account_id))
                    .await?;
                Err(error)
            }
            Err(Refusal::Named {
                reason,
                named,
                counted,
            }) => {
                let error = Error::Unauthenticated;
                let started = if counted {
                    let rule = self.machine_lockout_rule(self.settings.machine_lockout_threshold);
                    let state = self
                        .store
                        .record_login_failure(&machine_source(ip, &named.id), rule)
                        .await?;
                    lock_started(&state, rule).then_some(rule)
                } else {
                    None
                };
                let event = self.signed_refusal_event(meta, &request, &error, reason);
                self.audit_signed_refusal(meta, event, &named.id, Some(named.account_id.clone()))
                    .await?;
                if let Some(rule) = started {
                    // The owners see that the machine is locked out from this address.
                    let lock = locked_out(rule.now + rule.lock_micros, rule.now);
                    let event = self.signed_refusal_event(meta, &request, &lock, "lockout_started");
                    self.audit_signed_refusal(meta, event, &named.id, Some(named.account_id))
                        .await?;
                }
                Err(error)
            }
            Err(Refusal::Unnamed { reason, detail }) => {
                self.refuse_unnamed(meta, &request, ip, reason, detail)
                    .await
            }
            Err(Refusal::Failed(e)) => Err(e),
        }
    }

    fn machine_lockout_rule(&self, threshold: u32) -> LockoutRule {
        LockoutRule {
            now: self.now(),
            window_micros: micros(self.settings.machine_lockout_window),
            threshold,
            lock_micros: micros(self.settings.machine_lockout_duration),
        }
    }

    /// When `source` is locked out, until when.
    async fn locked_until(&self, source: &str, now: i64) -> Result<Option<i64>, Error> {
        Ok(self
            .store
            .login_failures(source)
            .await?
            .and_then(|state| state.locked_until)
            .filter(|until| *until > now))
    }

    /// The event of a refused signed request (`auth.signed`, the failed check in `detail`).
    fn signed_refusal_event(
        &self,
        meta: &RequestMeta,
        request: &SignedRequest,
        error: &Error,
        detail: &str,
    ) -> AuditEvent {
        let mut event = self.event(meta, None, "auth.signed", Some(&request.target), Err(error));
        event.detail = Some(detail.to_owned());
        event
    }

    /// A refused request that names no existing machine: counted against its source
    /// address (429 while that lock holds), recorded in the account of the machine it claims
    /// if that machine ever existed (a deleted one, or a live one behind malformed headers),
    /// else counted in /metrics and logged.
    async fn refuse_unnamed<T>(
        &self,
        meta: &RequestMeta,
        request: &SignedRequest,
        ip: &str,
        reason: &'static str,
        detail: Option<String>,
    ) -> Result<T, Error> {
        let claimed = request
            .claimed_machine_id
            .as_deref()
            .filter(|id| crate::authz::is_valid_name(id));
        let account = match claimed {
            Some(id) => self.store.machine_account(id).await?,
            None => None,
        };
        let detail = match (reason, &account) {
            ("unknown_machine", Some(_)) => "machine_deleted".to_owned(),
            _ => detail.unwrap_or_else(|| reason.to_owned()),
        };
        let unknown = detail == "unknown_machine";
        if unknown {
            self.signed_unknown_machine
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let now = self.now();
        let source = unnamed_source(ip);
        let (error, detail) = match self.locked_until(&source, now).await? {
            Some(until) => (locked_out(until, now), "source_locked".to_owned()),
            None => {
                let rule =
                    self.machine_lockout_rule(self.settings.machine_unnamed_lockout_threshold);
                let state = self.store.record_login_failure(&source, rule).await?;
                if unknown {
                    // No account's trail shows it: the operators' log does (the id is the
                    // caller's text, so it stays out of the line).
                    tracing::warn!(
                        source = ip,
                        request_id = %meta.request_id,
                        "signed request refused: X-Machine-Id names no machine"
                    );
                }
                if lock_started(&state, rule) {
                    tracing::warn!(
                        source = ip,
                        request_id = %meta.request_id,
                        "signed requests naming no machine are refused from this source for a while (too many failures)"
                    );
                }
                (Error::Unauthenticated, detail)
            }
        };
        let event = self.signed_refusal_event(meta, request, &error, &detail);
        match claimed {
            Some(id) => self.audit_signed_refusal(meta, event, id, account).await?,
            None => self.record(meta, event).await?,
        }
        Err(error)
    }

    /// Records a refusal under the machine id it claims, marked as claimed, in `account`
    /// (the machine's, so its owners see it; `None` when no machine ever had the id).
    async fn audit_signed_refusal(
        &self,
        meta: &RequestMeta,
        mut event: AuditEvent,
        machine_id: &str,
        account: Option<String>,
    ) -> Result<(), Error> {
        event.account_id = account;
        event.principal = Some(machine_id.to_owned());
        event.credential = Some(machine_id.to_owned());
        event.identity = Some(Identity::Claimed);
        self.record(meta, event).await
    }

    async fn check_guardrails(
        &self,
        meta: &RequestMeta,
        caller: &Caller,
        request: &SignedRequest,
        json: &str,
    ) -> Result<(), Error> {
        let guardrails: Guardrails =
            serde_json::from_str(json).map_err(|e| Error::Internal(Box::new(e)))?;
        let Err(blocked) = guardrails.admits(meta.source_ip.as_deref(), self.now()) else {
            return Ok(());
        };
        let error = Error::MachineBlocked(blocked.to_string());
        let mut event = self.event(
            meta,
            Some(caller),
            "auth.signed",
            Some(&request.target),
            Err(&error),
        );
        event.detail = Some(blocked.reason().to_owned());
        self.record(meta, event).await?;
        Err(error)
    }

    /// The checks, in order. On success: the caller and the machine's guardrails.
    async fn verify_signed(
        &self,
        ip: &str,
        request: &SignedRequest,
    ) -> Result<(Arc<Caller>, Option<String>), Refusal> {
        let now = self.now();
        let headers = match &request.headers {
            Ok(headers) => headers,
            Err(e) => {
                return Err(Refusal::Unnamed {
                    reason: "malformed_headers",
                    detail: Some(format!("malformed_headers: {e}")),
                });
            }
        };
        let Some(machine) = self.store.machine(&headers.machine_id).await? else {
            return Err(Refusal::Unnamed {
                reason: "unknown_machine",
                detail: None,
            });
        };
        if let Some(until) = self
            .locked_until(&machine_source(ip, &machine.id), now)
            .await?
        {
            return Err(Refusal::Locked {
                named: Named::of(&machine),
                until,
            });
        }
        if machine.status != "approved" {
            return refuse("machine_pending", &machine);
        }
        if !machine.enabled {
            return refuse("machine_disabled", &machine);
        }
        if machine.expires_at.is_some_and(|at| at <= now) {
            return refuse("machine_expired", &machine);
        }
        let public_key: [u8; 32] = machine
            .public_key
            .as_slice()
            .try_into()
            .map_err(|_| Error::Internal("a stored machine key is not 32 bytes".into()))?;
        let message = signed::canonical_message_for(
            &request.method,
            &request.target,
            headers.timestamp,
            &headers.nonce,
            &request.body_sha256,
        );
        if !signed::verifies(&public_key, message.as_bytes(), &headers.signature) {
            return refuse("bad_signature", &machine);
        }
        if !headers.is_fresh(now / MICROS) {
            return refuse("stale_timestamp", &machine);
        }
        let claim = NonceClaim {
            machine_id: machine.id.clone(),
            nonce: headers.nonce.clone(),
            // Past this the timestamp is out of the window anyway (with the same margin
            // again for nodes whose clocks differ).
            expires_at: secs_to_micros(headers.timestamp + 2 * signed::MAX_SKEW_SECS),
        };
        let fresh = self
            .audit
            .claim_nonce(claim)
            .await
            .map_err(|e| Error::Unavailable(Box::new(e)))?;
        if !fresh {
            return refuse("nonce_reused", &machine);
        }
        let caller = match self.machine_caller(&machine).await {
            Ok(caller) => caller,
            // The machine's own credential passed every check: not a guess to count.
            Err(Error::Unauthenticated) => {
                return Err(Refusal::Named {
                    reason: "account_or_app_inactive",
                    named: Named::of(&machine),
                    counted: false,
                });
            }
            Err(e) => return Err(e.into()),
        };
        Ok((caller, machine.guardrails_json))
    }

    /// The machine as a caller: its app's groups and its flags. Cached like apps' API keys
    /// (the machine's own state is read on every request).
    async fn machine_caller(&self, machine: &MachineRow) -> Result<Arc<Caller>, Error> {
        let cache_key = machine_cache_key(&machine.id);
        if let Some(caller) = self.cached_caller(&cache_key) {
            return Ok(caller);
        }
        let raw =
            serde_json::from_str(&machine.flags_json).map_err(|e| Error::Internal(Box::new(e)))?;
        let flags = Self::machine_flags(raw)?;
        let credential = Credential {
            method: AuthMethod::SignedRequest,
            id: machine.id.clone(),
            flags,
        };
        let caller = Arc::new(
            self.app_caller(&machine.account_id, &machine.id, credential)
                .await?,
        );
        self.remember_caller(cache_key, &caller);
        Ok(caller)
    }

    /// Background duty: expired enrolled machines are disabled, and deleted after the
    /// retention; ended tokens likewise; nonces out of the window are forgotten.
    pub(super) async fn maintain_machines(&self) -> Result<(), Error> {
        let now = self.now();
        let cutoff = now.saturating_sub(micros(self.settings.machine_retention));
        for id in self.store.disable_expired_machines(now).await? {
            self.forget_principal(&id);
        }
        for id in self.store.purge_disabled_machines(now, cutoff).await? {
            self.forget_principal(&id);
        }
        self.store.retire_machine_tokens(now, cutoff).await?;
        self.store.prune_nonces(now).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_must_be_32_byte_points() {
        let (_, public) = crate::crypto::generate_ed25519();
        assert!(parse_public_key(&B64.encode(public)).is_ok());
        assert!(parse_public_key(&B64.encode([0u8; 31])).is_err());
        assert!(parse_public_key("not base64!").is_err());
        // The identity point has small order: refused.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(parse_public_key(&B64.encode(identity)).is_err());
    }

    #[test]
    fn token_kinds_round_trip() {
        for kind in [
            MachineTokenKind::Bootstrap,
            MachineTokenKind::Enrollment,
            MachineTokenKind::Temporary,
        ] {
            assert_eq!(MachineTokenKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(MachineTokenKind::parse("bundle"), None);
    }
}
