//! Asymmetric security objects: key pairs generated in the HSM and imported public keys.
//!
//! This file holds what every key operation shares: the types, loading a key (with its
//! cache), making versions. The operations are in `lifecycle`, `usage` (public key, sign,
//! verify, decrypt) and `certificates` (CSRs, imported certificates).

mod certificates;
mod lifecycle;
mod usage;

pub use certificates::certificate_pem;

use super::Forget;
use super::policies::PolicyObject;
use super::{Caller, Ctx, Error, Service, new_id};
use crate::authz::is_valid_name;
use crate::catalogue;
use crate::crypto::asym::{
    EcdsaEncoding, KeyAlgorithm, PublicKey, SignatureScheme, SignedData, encode_ecdsa, oaep_decode,
};
use crate::crypto::x509::{self, CertificateInfo, CsrSubject};
use crate::hsm::{KeyPairUsage, SignMechanism};
use crate::ids::{AccountId, GroupId, KeyId};
use crate::store::{CertificateRow, KeyKind, KeyRow, KeyVersionRow};
use std::sync::Arc;
use zeroize::Zeroizing;

/// What a caller asks for when generating a key pair.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub name: String,
    pub group: GroupId,
    pub algorithm: String,
    /// `sign` and/or `decrypt`; `None` means `["sign"]`.
    pub usages: Option<Vec<String>>,
    /// A tripwire key: its first use by an app freezes the group.
    pub canary: bool,
}

/// What a caller sends to import a public key for verification.
#[derive(Debug, Clone)]
pub struct PublicKeyImport {
    pub name: String,
    pub group: GroupId,
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

/// `POST /v1/keys` with a public key: the route and flags of [`catalogue::CREATE_KEY`],
/// recorded as an import so the trail tells imported keys from generated ones.
const IMPORT_PUBLIC_KEY: catalogue::Operation = catalogue::Operation {
    action: Some("key.import"),
    ..catalogue::CREATE_KEY
};

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

fn private_label(key_id: &KeyId, version: u32) -> String {
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

fn token_label(version: &KeyVersionRow) -> Result<&str, Error> {
    version
        .token_label
        .as_deref()
        .ok_or_else(|| Error::Internal("key pair version without a token label".into()))
}

impl Service {
    /// The live key `name` of the caller's account, if the caller may see it and may perform
    /// what `op` does in the key's group.
    async fn load_key(
        &self,
        caller: &Caller,
        name: &str,
        op: &catalogue::Operation,
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
        Self::require_in_group(caller, op, &state.row.group_id)?;
        self.guard_use(
            caller,
            op,
            &state.row.group_id,
            state.row.canary,
            &object(name),
        )
        .await?;
        self.enforce_use(caller, op, PolicyObject::key(&state.row))
            .await?;
        Ok(state)
    }

    async fn key_state(&self, row: KeyRow) -> Result<KeyState, Error> {
        let algorithm = row.algorithm;
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

    async fn forget_key(&self, account_id: &AccountId, name: &str) {
        self.forget(Forget::Key {
            account: account_id.clone(),
            name: name.to_owned(),
        })
        .await
    }

    /// Refuses a name that a live key already has, and a group the caller cannot see.
    async fn check_new_key(
        &self,
        caller: &Caller,
        name: &str,
        group: &GroupId,
    ) -> Result<(), Error> {
        check_name(name)?;
        let group_row = self
            .store
            .group(&caller.account_id, group)
            .await?
            .filter(|g| caller.sees_group(&g.id));
        if group_row.is_none() {
            return Err(Error::NotFound(format!("group {group}")));
        }
        Self::require_in_group(caller, &catalogue::CREATE_KEY, group)?;
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
        key_id: &KeyId,
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
}
