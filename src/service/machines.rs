//! Machines: apps whose credential is an Ed25519 key pair. The private key is made on the
//! machine (or, for a provisioned machine, made here once and handed over in a single-use
//! bundle); every request is signed, so an intercepted request is useless.

//!
//! Signed requests are verified in [`super::auth`], with every other credential.

mod enrolment;
mod lifecycle;
mod provisioning;
mod tokens;

pub use crate::crypto::bundle::MachineBundle;

use super::tenancy::check_display_name;
use super::{Caller, Ctx, Error, RequestMeta, Service, micros, new_id};
use crate::audit::Identity;
use crate::auth::MachineToken;
use crate::auth::guardrails::Guardrails;
use crate::authz::{Flags, Operations, PrincipalKind};
use crate::catalogue;
use crate::ids::{AccountId, GroupId, MachineId, MachineTokenId};
pub use crate::store::MachineTokenKind;
use crate::store::{
    AppRow, MachineEnrollment, MachineOrigin, MachineRow, MachineStatus, MachineTokenRow,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::SecretString;
use std::collections::BTreeMap;

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
pub(super) const MICROS: i64 = 1_000_000;

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

pub(super) fn secs_to_micros(secs: i64) -> i64 {
    secs.saturating_mul(MICROS)
}

/// A raw Ed25519 public key given as base64: 32 bytes, a valid point, not of small order
/// (a machine's, or an AI agent's: both sign the same way).
pub(in crate::service) fn parse_public_key(text: &str) -> Result<Vec<u8>, Error> {
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
    pub(super) fn machine_flags(raw: BTreeMap<String, bool>) -> Result<Flags, Error> {
        Flags::parse(raw, PrincipalKind::App).map_err(|e| Error::InvalidInput(e.to_string()))
    }

    /// Checks grants against the caller's account: every group exists and is visible, every
    /// operation is known. Returns them normalised.
    async fn checked_grants(
        &self,
        caller: &Caller,
        grants: &BTreeMap<String, Vec<String>>,
    ) -> Result<BTreeMap<GroupId, Vec<String>>, Error> {
        let mut checked = BTreeMap::new();
        for (group, operations) in grants {
            let group = GroupId::from(group.as_str());
            self.visible_group(caller, &group).await?;
            let ops = Operations::parse(operations).map_err(|op| {
                Error::InvalidInput(format!(
                    "operation {op:?} is not one of encrypt, decrypt, sign, verify, wrap, unwrap, mac, export, manage-objects"
                ))
            })?;
            checked.insert(group.clone(), ops.names());
        }
        Ok(checked)
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
    async fn own_machine(&self, caller: &Caller, id: &MachineId) -> Result<MachineRow, Error> {
        self.store
            .machine(id)
            .await?
            .filter(|m| m.account_id == caller.account_id)
            .ok_or_else(|| Error::NotFound(format!("machine {id}")))
    }
}

/// A new, approved and enabled machine of `account_id` with a fresh id; enrolment and
/// provisioning adjust what differs.
fn new_machine(
    account_id: &AccountId,
    name: &str,
    public_key: Vec<u8>,
    origin: MachineOrigin,
    flags: BTreeMap<String, bool>,
    now: i64,
) -> MachineRow {
    MachineRow {
        id: new_id("mch"),
        account_id: account_id.to_owned(),
        name: name.to_owned(),
        public_key,
        origin,
        status: MachineStatus::Approved,
        enabled: true,
        flags,
        created_at: now,
        approved_at: Some(now),
        lifetime_seconds: None,
        expires_at: None,
        previous_expires_at: None,
        guardrails: None,
        token_id: None,
        disabled_at: None,
    }
}

/// The app a machine is: same id and name, in the groups it was granted.
fn machine_app(machine: &MachineRow, grants: BTreeMap<GroupId, Vec<String>>) -> AppRow {
    AppRow {
        id: machine.id.app_id(),
        account_id: machine.account_id.clone(),
        name: machine.name.clone(),
        groups: grants.keys().cloned().collect(),
        operations: grants,
        enabled: true,
        created_at: machine.created_at,
    }
}

impl Service {
    /// A new machine token of `kind` in the caller's account: its text (shown once) and its
    /// row, with the HSM digest of the text; the caller fills in what its kind needs.
    async fn issue_machine_token(
        &self,
        caller: &Caller,
        kind: MachineTokenKind,
        name: &str,
        expires_at: i64,
        max_uses: i64,
        now: i64,
    ) -> Result<(MachineToken, crate::store::Credential<MachineTokenRow>), Error> {
        let id: MachineTokenId = new_id("mtk");
        let token = MachineToken::generate(&id);
        let row = MachineTokenRow {
            id,
            account_id: caller.account_id.clone(),
            kind,
            name: name.to_owned(),
            created_by: caller.principal_id.clone(),
            created_at: now,
            expires_at,
            max_uses,
            uses: 0,
            flags: BTreeMap::new(),
            grants: BTreeMap::new(),
            machine_lifetime_seconds: None,
            guardrails: None,
            machine_id: None,
            sealed_bundle: None,
            disabled_at: None,
        };
        let stored = self.credential(row, token.digest_input()).await?;
        Ok((token, stored))
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
        for kind in MachineTokenKind::ALL {
            assert_eq!(MachineTokenKind::parse(kind.as_str()), Some(*kind));
        }
        for kind in ["bootstrap", "enrollment", "temporary"] {
            assert_eq!(
                MachineTokenKind::requestable(kind).map(|k| k.as_str()),
                Some(kind)
            );
        }
        assert_eq!(MachineTokenKind::requestable("bundle"), None);
    }
}
