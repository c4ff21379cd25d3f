//! What a `KeyId` names: a keyring or a key of the caller's account, found by id through the
//! AWS store (live or in the trash, which AWS calls pending deletion), and the facts of it
//! every answer repeats (ARN, state, AWS key spec and usage).

use super::ids::{KeyName, key_arn, parse_key_name};
use super::{AwsErrorType, AwsFault};
use crate::crypto::asym::KeyAlgorithm;
use crate::ids::{GroupId, KeyId, KeyringId};
use crate::service::{Caller, Ctx, KeyRow, KeyringRow, Service};

/// A keyring (an AWS symmetric key) or a key (an AWS asymmetric key).
#[derive(Debug, Clone)]
pub(super) enum Target {
    Keyring(KeyringRow),
    Key(KeyRow),
}

impl Target {
    pub(super) fn id(&self) -> &str {
        match self {
            Target::Keyring(r) => r.id.as_str(),
            Target::Key(r) => r.id.as_str(),
        }
    }

    /// The Coffer name, which the native service methods take.
    pub(super) fn name(&self) -> &str {
        match self {
            Target::Keyring(r) => &r.name,
            Target::Key(r) => &r.name,
        }
    }

    pub(super) fn group_id(&self) -> &GroupId {
        match self {
            Target::Keyring(r) => &r.group_id,
            Target::Key(r) => &r.group_id,
        }
    }

    pub(super) fn deleted_at(&self) -> Option<i64> {
        match self {
            Target::Keyring(r) => r.deleted_at,
            Target::Key(r) => r.deleted_at,
        }
    }

    pub(super) fn created_at(&self) -> i64 {
        match self {
            Target::Keyring(r) => r.created_at,
            Target::Key(r) => r.created_at,
        }
    }

    pub(super) fn enabled(&self) -> bool {
        match self {
            Target::Keyring(r) => r.enabled,
            Target::Key(r) => r.enabled,
        }
    }

    /// The audit object, as the native routes name it.
    pub(super) fn object(&self) -> String {
        match self {
            Target::Keyring(r) => format!("keyring/{}", r.name),
            Target::Key(r) => format!("key/{}", r.name),
        }
    }

    pub(super) fn arn(&self, region: &str) -> String {
        let account = match self {
            Target::Keyring(r) => &r.account_id,
            Target::Key(r) => &r.account_id,
        };
        key_arn(region, account, self.id())
    }

    /// AWS's `KeyState`.
    pub(super) fn state(&self) -> &'static str {
        match (self.deleted_at(), self.enabled()) {
            (Some(_), _) => "PendingDeletion",
            (None, true) => "Enabled",
            (None, false) => "Disabled",
        }
    }

    /// AWS's `KeySpec` (and `CustomerMasterKeySpec`).
    pub(super) fn key_spec(&self) -> &'static str {
        match self {
            Target::Keyring(_) => "SYMMETRIC_DEFAULT",
            Target::Key(r) => match r.algorithm {
                KeyAlgorithm::Rsa2048 => "RSA_2048",
                KeyAlgorithm::Rsa3072 => "RSA_3072",
                KeyAlgorithm::Rsa4096 => "RSA_4096",
                KeyAlgorithm::EcP256 => "ECC_NIST_P256",
                KeyAlgorithm::EcP384 => "ECC_NIST_P384",
                KeyAlgorithm::Ed25519 => "ECC_NIST_EDWARDS25519",
            },
        }
    }

    /// AWS's `KeyUsage`: a key that signs is SIGN_VERIFY; a keyring, or an RSA key made only
    /// to decrypt, is ENCRYPT_DECRYPT.
    pub(super) fn key_usage(&self) -> &'static str {
        match self {
            Target::Key(r) if r.can_sign => "SIGN_VERIFY",
            _ => "ENCRYPT_DECRYPT",
        }
    }

    /// The keyring, or the fault AWS answers for a symmetric operation on another key.
    pub(super) fn keyring(&self, operation: &str) -> Result<&KeyringRow, AwsFault> {
        match self {
            Target::Keyring(row) => Ok(row),
            Target::Key(row) => Err(AwsFault::new(
                AwsErrorType::InvalidKeyUsage,
                format!(
                    "{} is an asymmetric key ({}); {operation} needs a symmetric key",
                    row.id,
                    self.key_spec()
                ),
            )),
        }
    }

    /// The key, or the fault AWS answers for an asymmetric operation on a symmetric key.
    pub(super) fn key(&self, operation: &str) -> Result<&KeyRow, AwsFault> {
        match self {
            Target::Key(row) => Ok(row),
            Target::Keyring(row) => Err(AwsFault::new(
                AwsErrorType::InvalidKeyUsage,
                format!(
                    "{} is a symmetric key; {operation} needs an asymmetric key",
                    row.id
                ),
            )),
        }
    }
}

/// The object a caller cannot see does not exist for it, as on the native routes.
fn not_found(key_id: &str) -> AwsFault {
    AwsFault::not_found(format!("Key '{key_id}' does not exist"))
}

impl Service {
    /// The keyring or key a `KeyId` member names, live or pending deletion.
    pub(super) async fn aws_target(
        &self,
        ctx: &Ctx<'_>,
        region: &str,
        key_id: &str,
    ) -> Result<Target, AwsFault> {
        let account = &ctx.caller.account_id;
        let id = match parse_key_name(key_id, region, account)? {
            KeyName::Id(id) => id,
            KeyName::Alias(alias) => {
                self.store
                    .aws_alias(account, &alias)
                    .await?
                    .ok_or_else(|| AwsFault::not_found(format!("Alias '{alias}' is not found")))?
                    .target_id
            }
        };
        self.aws_target_by_id(ctx.caller, &id)
            .await?
            .ok_or_else(|| not_found(key_id))
    }

    /// The keyring or key with Coffer id `id`, if the caller sees it.
    pub(super) async fn aws_target_by_id(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Option<Target>, AwsFault> {
        let account = &caller.account_id;
        let target = if id.starts_with("kr_") {
            let id = KeyringId::from(id);
            self.store
                .keyring_by_id(account, &id)
                .await?
                .map(Target::Keyring)
        } else if id.starts_with("key_") {
            let id = KeyId::from(id);
            self.store.key_by_id(account, &id).await?.map(Target::Key)
        } else {
            None
        };
        Ok(target.filter(|t| caller.sees_group(t.group_id())))
    }

    /// [`Service::aws_target`] for operations a key pending deletion refuses
    /// (`KMSInvalidStateException`, as AWS).
    pub(super) async fn aws_live_target(
        &self,
        ctx: &Ctx<'_>,
        region: &str,
        key_id: &str,
    ) -> Result<Target, AwsFault> {
        let target = self.aws_target(ctx, region, key_id).await?;
        if target.deleted_at().is_some() {
            return Err(AwsFault::new(
                AwsErrorType::InvalidState,
                format!("{} is pending deletion.", target.arn(region)),
            ));
        }
        Ok(target)
    }
}
