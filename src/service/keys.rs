//! Asymmetric security objects: key pairs generated in the HSM, imported public keys, their
//! certificates and certificate signing requests, and the security-objects view.

use super::{Caller, Ctx, Error, Service, new_id};
use crate::authz::is_valid_name;
use crate::crypto::asym::{
    EcdsaEncoding, KeyAlgorithm, PublicKey, SignatureScheme, SignedData, encode_ecdsa, oaep_decode,
};
use crate::crypto::x509::{self, CertificateInfo, CsrSubject};
use crate::hsm::{KeyPairUsage, SignMechanism};
use crate::store::{CertificateRow, KeyRow, KeyVersionRow, ObjectRow};
use std::sync::Arc;
use zeroize::Zeroizing;

/// What a caller asks for when generating a key pair.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub name: String,
    pub group: String,
    pub algorithm: String,
    /// `sign` and/or `decrypt`; `None` means `["sign"]`.
    pub usages: Option<Vec<String>>,
}

/// What a caller sends to import a public key for verification.
#[derive(Debug, Clone)]
pub struct PublicKeyImport {
    pub name: String,
    pub group: String,
    /// PEM `PUBLIC KEY` or DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
}

/// One version of a key, as shown to callers (public data only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersionView {
    pub version: u32,
    pub state: &'static str,
    pub created_at: i64,
    /// SHA-256 of the DER SubjectPublicKeyInfo, hex.
    pub fingerprint: String,
}

/// A key with its versions and certificates.
#[derive(Debug, Clone)]
pub struct KeyView {
    pub row: KeyRow,
    pub versions: Vec<KeyVersionView>,
    pub certificates: Vec<CertificateRow>,
}

/// A sign request.
pub struct SignInput {
    pub data: SignedData,
    pub algorithm: Option<String>,
    pub signature_format: Option<String>,
}

pub struct SignOutput {
    pub signature: Vec<u8>,
    pub key_version: u32,
    pub algorithm: String,
}

/// A verify request.
pub struct VerifyInput {
    pub data: SignedData,
    pub signature: Vec<u8>,
    pub algorithm: Option<String>,
    pub signature_format: Option<String>,
    /// Verify against this version only; otherwise every version that is not retired.
    pub version: Option<u32>,
}

pub struct VerifyOutput {
    pub valid: bool,
    /// The version whose public key verified the signature.
    pub key_version: Option<u32>,
}

pub struct DecryptOutput {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub key_version: u32,
}

/// A public key in the two formats callers ask for.
pub struct PublicKeyOutput {
    pub key_version: u32,
    pub algorithm: KeyAlgorithm,
    pub pem: String,
    pub jwk: serde_json::Value,
}

/// A change to a key; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    pub enabled: Option<bool>,
    pub min_version: Option<u32>,
}

/// Filters of the security-objects view.
#[derive(Debug, Clone, Default)]
pub struct ObjectFilter {
    pub group: Option<String>,
    pub kind: Option<String>,
}

/// The kinds of security object the view lists.
pub const OBJECT_KINDS: [&str; 4] = ["keyring", "key_pair", "public_key", "certificate"];

const KIND_KEY_PAIR: &str = "key_pair";
const KIND_PUBLIC_KEY: &str = "public_key";

/// Key metadata, versions and parsed public keys, cached together.
pub(super) struct KeyState {
    pub(super) row: KeyRow,
    versions: Vec<(KeyVersionRow, PublicKey)>,
    algorithm: KeyAlgorithm,
}

impl KeyState {
    fn version(&self, version: u32) -> Option<&(KeyVersionRow, PublicKey)> {
        self.versions.iter().find(|(v, _)| v.version == version)
    }

    fn current(&self) -> Result<&(KeyVersionRow, PublicKey), Error> {
        self.version(self.row.current_version)
            .ok_or_else(|| Error::Internal("current key version missing".into()))
    }

    fn usable(&self) -> Result<(), Error> {
        if self.row.enabled {
            Ok(())
        } else {
            Err(Error::KeyDisabled)
        }
    }

    /// A version that was never made is a missing object (404), like a missing key.
    fn no_version(&self, version: u32) -> Error {
        Error::NotFound(format!("version {version} of key {}", self.row.name))
    }

    /// A version that exists and is not retired.
    fn live_version(&self, version: u32) -> Result<&(KeyVersionRow, PublicKey), Error> {
        let found = self
            .version(version)
            .ok_or_else(|| self.no_version(version))?;
        if version < self.row.min_version {
            return Err(Error::VersionRetired);
        }
        Ok(found)
    }
}

fn private_label(key_id: &str, version: u32) -> String {
    format!("ak/{key_id}/v{version}")
}

fn object(name: &str) -> String {
    format!("key/{name}")
}

fn check_name(name: &str) -> Result<(), Error> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "key name {name:?} must be 1-64 chars of [A-Za-z0-9_-]"
        )))
    }
}

fn parse_algorithm(name: &str) -> Result<KeyAlgorithm, Error> {
    KeyAlgorithm::parse(name).ok_or_else(|| {
        let names: Vec<&str> = KeyAlgorithm::ALL.iter().map(|a| a.name()).collect();
        Error::InvalidInput(format!(
            "algorithm {name:?} is not supported; choose one of {}",
            names.join(", ")
        ))
    })
}

fn parse_usages(algorithm: KeyAlgorithm, usages: Option<&[String]>) -> Result<KeyPairUsage, Error> {
    let Some(usages) = usages else {
        return Ok(KeyPairUsage {
            sign: true,
            decrypt: false,
        });
    };
    let mut usage = KeyPairUsage {
        sign: false,
        decrypt: false,
    };
    for u in usages {
        match u.as_str() {
            "sign" => usage.sign = true,
            "decrypt" => usage.decrypt = true,
            other => {
                return Err(Error::InvalidInput(format!(
                    "usage {other:?} is unknown; usages are \"sign\" and \"decrypt\""
                )));
            }
        }
    }
    if !usage.sign && !usage.decrypt {
        return Err(Error::InvalidInput("at least one usage is required".into()));
    }
    if usage.decrypt && !algorithm.can_decrypt() {
        return Err(Error::InvalidInput(format!(
            "{} keys cannot decrypt; only RSA keys support RSA-OAEP decryption",
            algorithm.name()
        )));
    }
    Ok(usage)
}

fn version_view(row: &KeyRow, v: &KeyVersionRow) -> KeyVersionView {
    let state = if v.version < row.min_version {
        "retired"
    } else if v.version == row.current_version {
        "current"
    } else {
        "active"
    };
    KeyVersionView {
        version: v.version,
        state,
        created_at: v.created_at,
        fingerprint: v.fingerprint.clone(),
    }
}

fn certificate_row(
    account_id: &str,
    key_id: &str,
    key_version: u32,
    leaf: &CertificateInfo,
    chain_pem: String,
    now: i64,
) -> CertificateRow {
    CertificateRow {
        id: new_id("crt"),
        account_id: account_id.to_owned(),
        key_id: key_id.to_owned(),
        key_version,
        der: leaf.der.clone(),
        chain_pem,
        subject: leaf.subject.clone(),
        issuer: leaf.issuer.clone(),
        serial: leaf.serial.clone(),
        not_before: leaf.not_before,
        not_after: leaf.not_after,
        subject_alt_names: leaf.subject_alt_names.clone(),
        key_usage: leaf.key_usage.clone(),
        is_ca: leaf.is_ca,
        fingerprint: leaf.fingerprint.clone(),
        created_at: now,
    }
}

fn token_label(version: &KeyVersionRow) -> Result<&str, Error> {
    version
        .token_label
        .as_deref()
        .ok_or_else(|| Error::Internal("key pair version without a token label".into()))
}

/// What the token signs: `DigestInfo || digest` for PKCS#1 v1.5 (`CKM_RSA_PKCS` adds only
/// the padding), the digest for PSS and ECDSA, the message for Ed25519.
fn token_input(scheme: SignatureScheme, data: Vec<u8>) -> Vec<u8> {
    match scheme {
        SignatureScheme::RsaPkcs1(hash) => [hash.digest_info_prefix(), &data].concat(),
        _ => data,
    }
}

/// The token's signature in the wire encoding (ECDSA: DER or raw r || s).
fn finish_signature(
    scheme: SignatureScheme,
    raw: Vec<u8>,
    encoding: EcdsaEncoding,
) -> Result<Vec<u8>, String> {
    match scheme {
        SignatureScheme::Ecdsa(curve) => encode_ecdsa(curve, &raw, encoding)
            .ok_or_else(|| format!("the token returned a {}-byte ECDSA signature", raw.len())),
        _ => Ok(raw),
    }
}

/// PEM of one DER certificate.
pub fn certificate_pem(der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

impl Service {
    /// The live key `name` of the caller's account, if the caller may see it and may perform
    /// what `flag` asks in the key's group.
    async fn load_key(
        &self,
        caller: &Caller,
        name: &str,
        flag: &str,
    ) -> Result<Arc<KeyState>, Error> {
        check_name(name)?;
        let cache_key = (caller.account_id.clone(), name.to_owned());
        let state = match self.keys.get(&cache_key) {
            Some(state) => state,
            None => {
                let row = self
                    .store
                    .key(&caller.account_id, name)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("key {name}")))?;
                let state = Arc::new(self.key_state(row).await?);
                self.keys
                    .insert(cache_key, Arc::clone(&state), self.settings.metadata_ttl);
                state
            }
        };
        if !caller.sees_group(&state.row.group_id) {
            return Err(Error::NotFound(format!("key {name}")));
        }
        Self::require_in_group(caller, flag, &state.row.group_id)?;
        Ok(state)
    }

    async fn key_state(&self, row: KeyRow) -> Result<KeyState, Error> {
        let algorithm = KeyAlgorithm::parse(&row.algorithm)
            .ok_or_else(|| Error::Internal(format!("stored algorithm {}", row.algorithm).into()))?;
        let mut versions = Vec::new();
        for v in self.store.key_versions(&row.id).await? {
            let public = PublicKey::from_spki_der(&v.public_key)
                .map_err(|e| Error::Internal(Box::new(e)))?;
            versions.push((v, public));
        }
        Ok(KeyState {
            row,
            versions,
            algorithm,
        })
    }

    fn forget_key(&self, account_id: &str, name: &str) {
        self.keys.remove(&(account_id.to_owned(), name.to_owned()));
    }

    /// Refuses a name that a live key already has, and a group the caller cannot see.
    async fn check_new_key(&self, caller: &Caller, name: &str, group: &str) -> Result<(), Error> {
        check_name(name)?;
        let group_row = self
            .store
            .group(&caller.account_id, group)
            .await?
            .filter(|g| caller.sees_group(&g.id));
        if group_row.is_none() {
            return Err(Error::NotFound(format!("group {group}")));
        }
        Self::require_in_group(caller, "key.create", group)?;
        if self.store.key(&caller.account_id, name).await?.is_some() {
            return Err(Error::Conflict(format!(
                "a key named {name} already exists"
            )));
        }
        Ok(())
    }

    /// Generates a key pair version in the token and returns its row.
    async fn make_key_version(
        &self,
        key_id: &str,
        version: u32,
        algorithm: KeyAlgorithm,
        usage: KeyPairUsage,
    ) -> Result<KeyVersionRow, Error> {
        let label = private_label(key_id, version);
        let material = self.hsm.generate_key_pair(&label, algorithm, usage).await?;
        let public = match PublicKey::from_token(&material) {
            Ok(public) => public,
            Err(e) => {
                self.destroy_quietly(&label).await;
                return Err(Error::Internal(Box::new(e)));
            }
        };
        Ok(KeyVersionRow {
            key_id: key_id.to_owned(),
            version,
            public_key: public.to_spki_der(),
            fingerprint: public.fingerprint(),
            token_label: Some(label),
            created_at: self.now(),
        })
    }

    async fn view(&self, state: &KeyState) -> Result<KeyView, Error> {
        Ok(KeyView {
            row: state.row.clone(),
            versions: state
                .versions
                .iter()
                .map(|(v, _)| version_view(&state.row, v))
                .collect(),
            certificates: self.store.certificates(&state.row.id).await?,
        })
    }

    pub async fn create_key(&self, ctx: &Ctx<'_>, spec: KeySpec) -> Result<KeyView, Error> {
        let name = spec.name.clone();
        self.mutation(
            ctx,
            "key.create",
            Some(&object(&name)),
            |event| async move {
                Self::require(ctx.caller, "key.create")?;
                let algorithm = parse_algorithm(&spec.algorithm)?;
                let usage = parse_usages(algorithm, spec.usages.as_deref())?;
                self.check_new_key(ctx.caller, &spec.name, &spec.group)
                    .await?;
                let row = KeyRow {
                    id: new_id("key"),
                    account_id: ctx.caller.account_id.clone(),
                    group_id: spec.group.clone(),
                    name: spec.name.clone(),
                    kind: KIND_KEY_PAIR.to_owned(),
                    algorithm: algorithm.name().to_owned(),
                    can_sign: usage.sign,
                    can_decrypt: usage.decrypt,
                    enabled: true,
                    current_version: 1,
                    min_version: 1,
                    created_at: self.now(),
                    deleted_at: None,
                };
                let first = self.make_key_version(&row.id, 1, algorithm, usage).await?;
                if let Err(e) = self.store.create_key(&row, &first, &event).await {
                    if let Some(label) = &first.token_label {
                        self.destroy_quietly(label).await;
                    }
                    return Err(e.into());
                }
                self.forget_key(&row.account_id, &row.name);
                Ok(KeyView {
                    versions: vec![version_view(&row, &first)],
                    row,
                    certificates: Vec::new(),
                })
            },
        )
        .await
    }

    pub async fn import_public_key(
        &self,
        ctx: &Ctx<'_>,
        spec: PublicKeyImport,
    ) -> Result<KeyView, Error> {
        let name = spec.name.clone();
        self.mutation(
            ctx,
            "key.import",
            Some(&object(&name)),
            |event| async move {
                Self::require(ctx.caller, "key.create")?;
                let public = PublicKey::from_pem_or_der(&spec.public_key)
                    .map_err(|e| Error::InvalidInput(format!("public_key: {e}")))?;
                let algorithm = public
                    .algorithm()
                    .map_err(|e| Error::InvalidInput(format!("public_key: {e}")))?;
                self.check_new_key(ctx.caller, &spec.name, &spec.group)
                    .await?;
                let row = KeyRow {
                    id: new_id("key"),
                    account_id: ctx.caller.account_id.clone(),
                    group_id: spec.group.clone(),
                    name: spec.name.clone(),
                    kind: KIND_PUBLIC_KEY.to_owned(),
                    algorithm: algorithm.name().to_owned(),
                    can_sign: false,
                    can_decrypt: false,
                    enabled: true,
                    current_version: 1,
                    min_version: 1,
                    created_at: self.now(),
                    deleted_at: None,
                };
                let first = KeyVersionRow {
                    key_id: row.id.clone(),
                    version: 1,
                    public_key: public.to_spki_der(),
                    fingerprint: public.fingerprint(),
                    token_label: None,
                    created_at: row.created_at,
                };
                self.store.create_key(&row, &first, &event).await?;
                self.forget_key(&row.account_id, &row.name);
                Ok(KeyView {
                    versions: vec![version_view(&row, &first)],
                    row,
                    certificates: Vec::new(),
                })
            },
        )
        .await
    }

    pub async fn list_keys(&self, ctx: &Ctx<'_>) -> Result<Vec<KeyRow>, Error> {
        let result = async {
            Self::require(ctx.caller, "key.read")?;
            let rows = self.store.keys(&ctx.caller.account_id).await?;
            Ok(rows
                .into_iter()
                .filter(|r| ctx.caller.sees_group(&r.group_id))
                .collect())
        }
        .await;
        self.audited(ctx, "key.list", None, None, result).await
    }

    pub async fn get_key(&self, ctx: &Ctx<'_>, name: &str) -> Result<KeyView, Error> {
        let result = async {
            Self::require(ctx.caller, &format!("key.{name}.read"))?;
            let state = self
                .load_key(ctx.caller, name, &format!("key.{name}.read"))
                .await?;
            self.view(&state).await
        }
        .await;
        self.audited(ctx, "key.read", Some(&object(name)), None, result)
            .await
    }

    pub async fn public_key(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        version: Option<u32>,
    ) -> Result<PublicKeyOutput, Error> {
        let result = async {
            Self::require(ctx.caller, &format!("key.{name}.read"))?;
            let state = self
                .load_key(ctx.caller, name, &format!("key.{name}.read"))
                .await?;
            let (row, public) = match version {
                Some(v) => state.version(v).ok_or_else(|| state.no_version(v))?,
                None => state.current()?,
            };
            Ok(PublicKeyOutput {
                key_version: row.version,
                algorithm: state.algorithm,
                pem: public.to_pem(),
                jwk: public.to_jwk(&format!("{}.v{}", state.row.id, row.version)),
            })
        }
        .await;
        self.audited(ctx, "key.public", Some(&object(name)), None, result)
            .await
    }

    pub async fn sign(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        input: SignInput,
    ) -> Result<SignOutput, Error> {
        let result = async {
            Self::require(ctx.caller, &format!("key.{name}.sign"))?;
            let state = self
                .load_key(ctx.caller, name, &format!("key.{name}.sign"))
                .await?;
            state.usable()?;
            if !state.row.can_sign {
                return Err(Error::UsageNotAllowed(format!(
                    "key {name} cannot sign: {}",
                    if state.row.kind == KIND_PUBLIC_KEY {
                        "it is an imported public key (verify only)"
                    } else {
                        "it was created without the sign usage"
                    }
                )));
            }
            let scheme = SignatureScheme::for_key(state.algorithm, input.algorithm.as_deref())
                .map_err(Error::InvalidInput)?;
            let encoding = EcdsaEncoding::parse(input.signature_format.as_deref())
                .map_err(Error::InvalidInput)?;
            let data = input.data.digest_for(scheme).map_err(Error::InvalidInput)?;
            let (version, _) = state.current()?;
            let signature = self.sign_in_token(version, scheme, data, encoding).await?;
            Ok(SignOutput {
                signature,
                key_version: version.version,
                algorithm: scheme.name(),
            })
        }
        .await;
        self.audited(ctx, "key.sign", Some(&object(name)), None, result)
            .await
    }

    /// Signs `data` (a digest, or the message for Ed25519) with one version's private key.
    async fn sign_in_token(
        &self,
        version: &KeyVersionRow,
        scheme: SignatureScheme,
        data: Vec<u8>,
        encoding: EcdsaEncoding,
    ) -> Result<Vec<u8>, Error> {
        let label = token_label(version)?;
        let raw = self
            .hsm
            .sign(
                label,
                SignMechanism::for_scheme(scheme),
                token_input(scheme, data),
            )
            .await?;
        finish_signature(scheme, raw, encoding).map_err(|e| Error::Internal(e.into()))
    }

    pub async fn verify(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        input: VerifyInput,
    ) -> Result<VerifyOutput, Error> {
        let result = async {
            Self::require(ctx.caller, &format!("key.{name}.verify"))?;
            let state = self
                .load_key(ctx.caller, name, &format!("key.{name}.verify"))
                .await?;
            state.usable()?;
            if state.row.kind == KIND_KEY_PAIR && !state.row.can_sign {
                return Err(Error::UsageNotAllowed(format!(
                    "key {name} is a decryption key; it neither signs nor verifies"
                )));
            }
            let scheme = SignatureScheme::for_key(state.algorithm, input.algorithm.as_deref())
                .map_err(Error::InvalidInput)?;
            let encoding = EcdsaEncoding::parse(input.signature_format.as_deref())
                .map_err(Error::InvalidInput)?;
            let data = input.data.digest_for(scheme).map_err(Error::InvalidInput)?;
            let candidates: Vec<&(KeyVersionRow, PublicKey)> = match input.version {
                Some(v) => vec![state.live_version(v)?],
                None => state
                    .versions
                    .iter()
                    .rev()
                    .filter(|(v, _)| v.version >= state.row.min_version)
                    .collect(),
            };
            let matched = candidates
                .into_iter()
                .find(|(_, public)| public.verify(scheme, &data, &input.signature, encoding));
            Ok(VerifyOutput {
                valid: matched.is_some(),
                key_version: matched.map(|(v, _)| v.version),
            })
        }
        .await;
        self.audited(ctx, "key.verify", Some(&object(name)), None, result)
            .await
    }

    pub async fn decrypt_with_key(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        ciphertext: Vec<u8>,
        version: Option<u32>,
    ) -> Result<DecryptOutput, Error> {
        let result = async {
            Self::require(ctx.caller, &format!("key.{name}.decrypt"))?;
            let state = self
                .load_key(ctx.caller, name, &format!("key.{name}.decrypt"))
                .await?;
            state.usable()?;
            if !state.row.can_decrypt {
                return Err(Error::UsageNotAllowed(format!(
                    "key {name} cannot decrypt: it was created without the decrypt usage"
                )));
            }
            let (row, public) = state.live_version(version.unwrap_or(state.row.current_version))?;
            let k = public
                .rsa_len()
                .ok_or_else(|| Error::Internal("decrypt key is not RSA".into()))?;
            if ciphertext.len() != k {
                return Err(Error::InvalidInput(format!(
                    "an RSA-OAEP ciphertext for {} is {k} bytes; got {}",
                    state.algorithm.name(),
                    ciphertext.len()
                )));
            }
            let block = self
                .hsm
                .rsa_decrypt_raw(token_label(row)?, ciphertext)
                .await?;
            let plaintext = oaep_decode(&block, k).ok_or(Error::DecryptFailed)?;
            Ok(DecryptOutput {
                plaintext,
                key_version: row.version,
            })
        }
        .await;
        self.audited(ctx, "key.decrypt", Some(&object(name)), None, result)
            .await
    }

    pub async fn rotate_key(&self, ctx: &Ctx<'_>, name: &str) -> Result<KeyView, Error> {
        self.mutation(ctx, "key.rotate", Some(&object(name)), |event| async move {
            Self::require(ctx.caller, &format!("key.{name}.rotate"))?;
            let state = self.load_key(ctx.caller, name, &format!("key.{name}.rotate")).await?;
            if state.row.kind == KIND_PUBLIC_KEY {
                return Err(Error::UsageNotAllowed(format!(
                    "key {name} is an imported public key; import the new key under a new name instead"
                )));
            }
            let usage = KeyPairUsage {
                sign: state.row.can_sign,
                decrypt: state.row.can_decrypt,
            };
            let next = self
                .make_key_version(&state.row.id, state.row.current_version + 1, state.algorithm, usage)
                .await?;
            if let Err(e) = self.store.add_key_version(&next, &event).await {
                if let Some(label) = &next.token_label {
                    self.destroy_quietly(label).await;
                }
                return Err(e.into());
            }
            self.forget_key(&state.row.account_id, name);
            let state = self.load_key(ctx.caller, name, &format!("key.{name}.rotate")).await?;
            self.view(&state).await
        })
        .await
    }

    pub async fn update_key(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        patch: KeyPatch,
    ) -> Result<KeyView, Error> {
        self.mutation(ctx, "key.update", Some(&object(name)), |event| async move {
            Self::require(ctx.caller, &format!("key.{name}.write"))?;
            let state = self
                .load_key(ctx.caller, name, &format!("key.{name}.write"))
                .await?;
            let enabled = patch.enabled.unwrap_or(state.row.enabled);
            let min_version = patch.min_version.unwrap_or(state.row.min_version);
            if !(1..=state.row.current_version).contains(&min_version) {
                return Err(Error::InvalidInput(format!(
                    "min_version must be between 1 and the current version ({})",
                    state.row.current_version
                )));
            }
            self.store
                .update_key(&state.row.id, enabled, min_version, &event)
                .await?;
            self.forget_key(&state.row.account_id, name);
            let state = self
                .load_key(ctx.caller, name, &format!("key.{name}.write"))
                .await?;
            self.view(&state).await
        })
        .await
    }

    pub async fn delete_key(&self, ctx: &Ctx<'_>, name: &str) -> Result<(), Error> {
        self.mutation(ctx, "key.delete", Some(&object(name)), |event| async move {
            Self::require(ctx.caller, &format!("key.{name}.delete"))?;
            let state = self
                .load_key(ctx.caller, name, &format!("key.{name}.delete"))
                .await?;
            self.store
                .trash_key(&state.row.id, self.now(), &event)
                .await?;
            self.forget_key(&state.row.account_id, name);
            Ok(())
        })
        .await
    }

    pub async fn restore_key(&self, ctx: &Ctx<'_>, name: &str) -> Result<KeyView, Error> {
        self.mutation(
            ctx,
            "key.restore",
            Some(&object(name)),
            |event| async move {
                Self::require(ctx.caller, &format!("key.{name}.restore"))?;
                check_name(name)?;
                let account = &ctx.caller.account_id;
                let row = self
                    .store
                    .trashed_key(account, name)
                    .await?
                    .filter(|r| ctx.caller.sees_group(&r.group_id))
                    .ok_or_else(|| Error::NotFound(format!("key {name} in the trash")))?;
                Self::require_in_group(ctx.caller, &format!("key.{name}.restore"), &row.group_id)?;
                self.require_live_group(account, &row.group_id).await?;
                if self.store.key(account, name).await?.is_some() {
                    return Err(Error::Conflict(format!(
                        "a live key is named {name}; delete it before restoring this one"
                    )));
                }
                self.store.restore_key(&row.id, &event).await?;
                self.forget_key(account, name);
                let state = self
                    .load_key(ctx.caller, name, &format!("key.{name}.restore"))
                    .await?;
                self.view(&state).await
            },
        )
        .await
    }

    /// A PKCS#10 request for the key's current version, signed inside the HSM.
    pub async fn csr(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        subject: CsrSubject,
    ) -> Result<(String, u32), Error> {
        let result = async {
            Self::require(ctx.caller, &format!("key.{name}.csr"))?;
            let state = self
                .load_key(ctx.caller, name, &format!("key.{name}.csr"))
                .await?;
            state.usable()?;
            if !state.row.can_sign {
                return Err(Error::UsageNotAllowed(format!(
                    "key {name} cannot sign, so it cannot sign a certificate request"
                )));
            }
            subject.validate().map_err(Error::InvalidInput)?;
            let (version, public) = state.current()?;
            let pem = self
                .build_csr(&state, version, public.clone(), subject)
                .await?;
            Ok((pem, version.version))
        }
        .await;
        self.audited(ctx, "key.csr", Some(&object(name)), None, result)
            .await
    }

    /// rcgen asks for the signature synchronously, so the request is built on a blocking
    /// thread that waits for the HSM through the runtime.
    async fn build_csr(
        &self,
        state: &KeyState,
        version: &KeyVersionRow,
        public: PublicKey,
        subject: CsrSubject,
    ) -> Result<String, Error> {
        let scheme = x509::csr_scheme(state.algorithm);
        let label = token_label(version)?.to_owned();
        let hsm = Arc::clone(&self.hsm);
        let runtime = tokio::runtime::Handle::current();
        let built = tokio::task::spawn_blocking(move || {
            let sign = |tbs: &[u8]| -> Result<Vec<u8>, String> {
                let data = SignedData::Message(tbs.to_vec()).digest_for(scheme)?;
                let mechanism = SignMechanism::for_scheme(scheme);
                let raw = runtime
                    .block_on(hsm.sign(&label, mechanism, token_input(scheme, data)))
                    .map_err(|e| {
                        tracing::warn!(error = %e, "HSM signing of a CSR failed");
                        e.to_string()
                    })?;
                finish_signature(scheme, raw, EcdsaEncoding::Der)
            };
            x509::build_csr(&public, &subject, &sign)
        })
        .await
        .map_err(|e| Error::Internal(Box::new(e)))?;
        built.map_err(|e| Error::InvalidInput(format!("the request could not be built: {e}")))
    }

    /// Imports a certificate (with its chain) for one of the key's versions.
    pub async fn import_certificate(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        bundle: Result<Vec<u8>, Error>,
    ) -> Result<CertificateRow, Error> {
        self.mutation(
            ctx,
            "key.certificate.import",
            Some(&object(name)),
            |event| async move {
                Self::require(ctx.caller, &format!("key.{name}.certificate.write"))?;
                let state = self
                    .load_key(ctx.caller, name, &format!("key.{name}.certificate.write"))
                    .await?;
                // Decoding errors surface only after authorization, like every body error.
                let bundle = bundle?;
                let certificates = x509::parse_certificates(&bundle)
                    .map_err(|e| Error::InvalidInput(format!("certificate: {e}")))?;
                let linked = certificates.iter().enumerate().find_map(|(i, cert)| {
                    let fingerprint = cert.public_key.as_ref()?.fingerprint();
                    let (version, _) = state
                        .versions
                        .iter()
                        .find(|(v, _)| v.fingerprint == fingerprint)?;
                    Some((i, version.version))
                });
                let Some((leaf_index, key_version)) = linked else {
                    return Err(Error::Conflict(format!(
                        "no certificate in the bundle certifies a public key of key {name}; \
                     a certificate can only be imported for the key it was issued to"
                    )));
                };
                let chain_pem: String = certificates
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != leaf_index)
                    .map(|(_, c)| certificate_pem(&c.der))
                    .collect();
                let row = certificate_row(
                    &ctx.caller.account_id,
                    &state.row.id,
                    key_version,
                    &certificates[leaf_index],
                    chain_pem,
                    self.now(),
                );
                self.store.add_certificate(&row, &event).await?;
                Ok(row)
            },
        )
        .await
    }

    pub async fn key_certificates(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
    ) -> Result<Vec<CertificateRow>, Error> {
        let result = async {
            Self::require(ctx.caller, &format!("key.{name}.read"))?;
            let state = self
                .load_key(ctx.caller, name, &format!("key.{name}.read"))
                .await?;
            Ok(self.store.certificates(&state.row.id).await?)
        }
        .await;
        self.audited(
            ctx,
            "key.certificate.list",
            Some(&object(name)),
            None,
            result,
        )
        .await
    }

    pub async fn delete_certificate(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        id: &str,
    ) -> Result<(), Error> {
        self.mutation(
            ctx,
            "key.certificate.delete",
            Some(&object(name)),
            |event| async move {
                Self::require(ctx.caller, &format!("key.{name}.certificate.write"))?;
                let state = self
                    .load_key(ctx.caller, name, &format!("key.{name}.certificate.write"))
                    .await?;
                if self
                    .store
                    .delete_certificate(&state.row.id, id, &event)
                    .await?
                {
                    Ok(())
                } else {
                    Err(Error::NotFound(format!("certificate {id} of key {name}")))
                }
            },
        )
        .await
    }

    /// Every security object the caller can see, optionally of one group and one kind.
    pub async fn objects(
        &self,
        ctx: &Ctx<'_>,
        filter: ObjectFilter,
    ) -> Result<Vec<ObjectRow>, Error> {
        let result = async {
            Self::require(ctx.caller, "object.read")?;
            if let Some(kind) = &filter.kind
                && !OBJECT_KINDS.contains(&kind.as_str())
            {
                return Err(Error::InvalidInput(format!(
                    "type must be one of {}",
                    OBJECT_KINDS.join(", ")
                )));
            }
            let rows = self.store.objects(&ctx.caller.account_id).await?;
            Ok(rows
                .into_iter()
                .filter(|r| ctx.caller.sees_group(&r.group_id))
                .filter(|r| filter.group.as_ref().is_none_or(|g| *g == r.group_id))
                .filter(|r| filter.kind.as_ref().is_none_or(|k| *k == r.kind))
                .collect())
        }
        .await;
        self.audited(ctx, "object.list", None, None, result).await
    }

    /// Destroys the private keys of keys whose trash retention has passed.
    pub(super) async fn purge_trashed_keys(&self) -> Result<(), Error> {
        let retention =
            i64::try_from(self.settings.trash_retention.as_micros()).unwrap_or(i64::MAX);
        let labels = self
            .store
            .purge_trashed_keys(self.now().saturating_sub(retention))
            .await?;
        for label in labels {
            self.destroy_quietly(&label).await;
        }
        Ok(())
    }
}
