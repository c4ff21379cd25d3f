//! Request bodies and queries as the service's inputs. A body's checks that need no state
//! (exactly one of two fields, base64, a known kind) are made here, while converting, so a
//! handler is its extractors and a service call, and a malformed body is a 400 before the
//! service authorizes anything, as it was when each handler checked its own.

use super::{
    ActivityQuery, BindCertificate, CreateApiKey, CreateKeyring, CreateMachineToken, CsrRequest,
    ObjectQuery, PatchApiKey, PatchApp, PatchKey, PatchKeyringConfig, PatchUser, ProvisionMachine,
    Revoke, Sign, Verify,
};
use crate::clock::parse_rfc3339;
use crate::crypto::asym::SignedData;
use crate::crypto::x509::CsrSubject;
use crate::service::ActivityFilter;
use crate::service::{
    ApiKeyPatch, ApiKeySpec, AppPatch, CertificateBinding, ConfigPatch, Error, KeyPatch,
    KeyringSpec, MachineTokenKind, MachineTokenSpec, MemberPatch, ObjectFilter, PossessionProof,
    Protection, ProvisionSpec, RevocationTarget, SignInput, VerifyInput,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Standard base64 (with padding) of field `field`.
pub(crate) fn decode_b64(field: &str, text: &str) -> Result<Vec<u8>, Error> {
    B64.decode(text).map_err(|_| {
        Error::InvalidInput(format!(
            "{field} is not valid standard base64 (with padding)"
        ))
    })
}

/// PEM text as is, anything else as base64 of DER.
pub(crate) fn pem_or_b64(field: &str, text: &str) -> Result<Vec<u8>, Error> {
    if text.trim_start().starts_with("-----") {
        Ok(text.trim_start().as_bytes().to_vec())
    } else {
        decode_b64(field, text.trim())
    }
}

/// Exactly one of `message` and `digest`.
fn signed_data(message: Option<&str>, digest: Option<&str>) -> Result<SignedData, Error> {
    match (message, digest) {
        (Some(m), None) => Ok(SignedData::Message(decode_b64("message", m)?)),
        (None, Some(d)) => Ok(SignedData::Digest(decode_b64("digest", d)?)),
        _ => Err(Error::InvalidInput(
            "send exactly one of `message` and `digest` (base64)".into(),
        )),
    }
}

/// A `proof` field: standard base64 of the signature.
pub(crate) fn possession_proof(text: Option<String>) -> Result<Option<PossessionProof>, Error> {
    text.map(|text| {
        B64.decode(text.trim()).map(PossessionProof).map_err(|_| {
            Error::InvalidInput("proof is not valid standard base64 (with padding)".into())
        })
    })
    .transpose()
}

fn time_filter(field: &str, value: Option<String>) -> Result<Option<i64>, Error> {
    value
        .map(|text| {
            parse_rfc3339(&text).ok_or_else(|| {
                Error::InvalidInput(format!("{field} must be an RFC 3339 timestamp"))
            })
        })
        .transpose()
}

impl From<CreateApiKey> for ApiKeySpec {
    fn from(body: CreateApiKey) -> Self {
        Self {
            principal: body.principal,
            name: body.name,
            flags: body.flags,
        }
    }
}

impl From<PatchApiKey> for ApiKeyPatch {
    fn from(body: PatchApiKey) -> Self {
        Self {
            disabled: body.disabled,
            flags: body.flags,
        }
    }
}

impl TryFrom<CreateKeyring> for KeyringSpec {
    type Error = Error;

    fn try_from(body: CreateKeyring) -> Result<Self, Error> {
        Ok(Self {
            protection: Protection::requested(&body.protection)?,
            name: body.name,
            group: body.group.into(),
            rotation_period_days: body.rotation_period_days,
            max_encrypt_count: body.max_encrypt_count,
            cache_ttl_seconds: body.cache_ttl_seconds,
            canary: body.canary.unwrap_or(false),
        })
    }
}

impl From<PatchKeyringConfig> for ConfigPatch {
    fn from(body: PatchKeyringConfig) -> Self {
        Self {
            enabled: body.enabled,
            min_decryption_version: body.min_decryption_version,
            rotation_period_days: body.rotation_period_days,
            max_encrypt_count: body.max_encrypt_count,
            cache_ttl_seconds: body.cache_ttl_seconds,
        }
    }
}

impl From<PatchUser> for MemberPatch {
    fn from(body: PatchUser) -> Self {
        Self {
            role: body.role,
            suspended: body.suspended,
        }
    }
}

impl From<PatchApp> for AppPatch {
    fn from(body: PatchApp) -> Self {
        Self {
            name: body.name,
            enabled: body.enabled,
        }
    }
}

impl From<PatchKey> for KeyPatch {
    fn from(body: PatchKey) -> Self {
        Self {
            enabled: body.enabled,
            min_version: body.min_version,
        }
    }
}

impl From<CsrRequest> for CsrSubject {
    fn from(body: CsrRequest) -> Self {
        Self {
            common_name: body.common_name,
            organization: body.organization,
            organizational_unit: body.organizational_unit,
            country: body.country,
            subject_alt_names: body.subject_alt_names,
        }
    }
}

impl TryFrom<Sign> for SignInput {
    type Error = Error;

    fn try_from(body: Sign) -> Result<Self, Error> {
        Ok(Self {
            data: signed_data(body.message.as_deref(), body.digest.as_deref())?,
            algorithm: body.algorithm,
            signature_format: body.signature_format,
        })
    }
}

impl TryFrom<Verify> for VerifyInput {
    type Error = Error;

    fn try_from(body: Verify) -> Result<Self, Error> {
        Ok(Self {
            data: signed_data(body.message.as_deref(), body.digest.as_deref())?,
            signature: decode_b64("signature", &body.signature)?,
            algorithm: body.algorithm,
            signature_format: body.signature_format,
            version: body.version,
        })
    }
}

impl TryFrom<CreateMachineToken> for MachineTokenSpec {
    type Error = Error;

    fn try_from(body: CreateMachineToken) -> Result<Self, Error> {
        let kind = MachineTokenKind::requestable(&body.kind).ok_or_else(|| {
            Error::InvalidInput("kind must be bootstrap, enrollment or temporary".into())
        })?;
        Ok(Self {
            kind,
            name: body.name,
            flags: body.flags,
            grants: body.groups,
            lifetime_seconds: body.lifetime_seconds,
            max_uses: body.max_uses,
            machine_lifetime_seconds: body.machine_lifetime_seconds,
            guardrails: body.guardrails,
        })
    }
}

impl From<ProvisionMachine> for ProvisionSpec {
    fn from(body: ProvisionMachine) -> Self {
        Self {
            name: body.name,
            flags: body.flags,
            grants: body.groups,
            expires_at: body.expires_at,
        }
    }
}

impl TryFrom<BindCertificate> for CertificateBinding {
    type Error = Error;

    fn try_from(body: BindCertificate) -> Result<Self, Error> {
        let rule = body.subject.is_some() || body.san.is_some();
        let proof = possession_proof(body.proof)?;
        match (body.certificate, body.fingerprint, body.ca) {
            (Some(pem), None, None) if !rule => Ok(Self::Pinned {
                certificate: pem.into_bytes(),
                proof,
            }),
            (None, Some(_), None) | (None, None, Some(_)) if proof.is_some() => {
                Err(Error::InvalidInput(
                    "a \"proof\" goes with a \"certificate\" only: a fingerprint has no public key to check it with, and a CA rule is proven by its trusted CA"
                        .into(),
                ))
            }
            (None, Some(fingerprint), None) if !rule => Ok(Self::PinnedFingerprint { fingerprint }),
            (None, None, Some(ca)) => Ok(Self::Issued {
                ca,
                subject: body.subject,
                san: body.san,
            }),
            _ => Err(Error::InvalidInput(
                "give either \"certificate\" (with an optional \"proof\") or \"fingerprint\" (pinned), or \"ca\" with \"subject\" and/or \"san\""
                    .into(),
            )),
        }
    }
}

impl Revoke {
    /// The certificate to revoke and the reason to record.
    pub fn into_target(self) -> Result<(RevocationTarget, Option<String>), Error> {
        let target = match (self.certificate, self.fingerprint) {
            (Some(pem), None) => RevocationTarget::Certificate(pem.into_bytes()),
            (None, Some(fp)) => RevocationTarget::Fingerprint(fp),
            _ => {
                return Err(Error::InvalidInput(
                    "give either \"certificate\" or \"fingerprint\"".into(),
                ));
            }
        };
        Ok((target, self.reason))
    }
}

impl TryFrom<ActivityQuery> for ActivityFilter {
    type Error = Error;

    fn try_from(q: ActivityQuery) -> Result<Self, Error> {
        Ok(Self {
            since: time_filter("since", q.since)?,
            until: time_filter("until", q.until)?,
            principal: q.principal,
            object: q.object,
            action: q.action,
            // A word, checked by the service once the caller may read the feed.
            outcome: None,
            before_seq: q.before,
            limit: q.limit.unwrap_or(100),
        })
    }
}

impl From<ObjectQuery> for ObjectFilter {
    fn from(q: ObjectQuery) -> Self {
        Self {
            group: q.group.map(Into::into),
            kind: q.kind,
        }
    }
}
