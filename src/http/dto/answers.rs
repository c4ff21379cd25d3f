//! The service's answers as reply shapes, for the answers that are not a stored row (those
//! convert next to their shape). Outputs of the cryptographic routes are taken by value, so
//! a ciphertext or signature moves into its reply instead of being copied; an answer that
//! shows a token once is taken by reference, like a row.

use super::{
    CreatedApiKey, DataKey, Decrypted, Encrypted, GroupApp, GroupMembers, GroupUser, HashInfo,
    Machine, MachineBundle, MachineTokenInfo, MachineTokenIssued, ProvisionedMachine, PublicKeyOut,
    ResetIssued, Session, Signed, Verified,
};
use crate::clock::rfc3339;
use crate::service;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::ExposeSecret;

impl From<&service::CreatedApiKey> for CreatedApiKey {
    fn from(created: &service::CreatedApiKey) -> Self {
        Self {
            id: created.row.id.to_string(),
            api_key: created.token.reveal().to_owned(),
        }
    }
}

impl From<&service::LoginOutput> for Session {
    fn from(out: &service::LoginOutput) -> Self {
        Self {
            session_token: out.token.reveal().to_owned(),
            session_id: out.session.id.to_string(),
            account_id: out.session.account_id.to_string(),
            user_id: out.session.user_id.to_string(),
            role: out.role.as_str().to_owned(),
            expires_at: rfc3339(out.session.expires_at),
        }
    }
}

impl From<&service::ResetOutput> for ResetIssued {
    fn from(out: &service::ResetOutput) -> Self {
        Self {
            id: out.row.id.to_string(),
            reset_token: out.token.reveal().to_owned(),
            expires_at: rfc3339(out.row.expires_at),
        }
    }
}

impl From<service::GroupMembersView> for GroupMembers {
    fn from(members: service::GroupMembersView) -> Self {
        Self {
            users: members
                .users
                .into_iter()
                .map(|(id, role)| GroupUser {
                    id: id.to_string(),
                    role: role.as_str().to_owned(),
                })
                .collect(),
            apps: members
                .apps
                .into_iter()
                .map(|(id, operations)| GroupApp {
                    id: id.to_string(),
                    operations,
                })
                .collect(),
        }
    }
}

impl From<service::EncryptOutput> for Encrypted {
    fn from(out: service::EncryptOutput) -> Self {
        Self {
            ciphertext: out.ciphertext,
            key_version: out.key_version,
        }
    }
}

/// A keyring's and a key's decryption answer alike.
fn decrypted(plaintext: &[u8], key_version: u32) -> Decrypted {
    Decrypted {
        plaintext: B64.encode(plaintext),
        key_version,
    }
}

impl From<service::DecryptOutput> for Decrypted {
    fn from(out: service::DecryptOutput) -> Self {
        decrypted(&out.plaintext, out.key_version)
    }
}

impl From<service::KeyDecryptOutput> for Decrypted {
    fn from(out: service::KeyDecryptOutput) -> Self {
        decrypted(&out.plaintext, out.key_version)
    }
}

impl From<service::DataKeyOutput> for DataKey {
    fn from(out: service::DataKeyOutput) -> Self {
        Self {
            plaintext: B64.encode(&out.plaintext[..]),
            ciphertext: out.ciphertext,
            key_version: out.key_version,
        }
    }
}

impl From<service::HashLookup> for HashInfo {
    fn from(found: service::HashLookup) -> Self {
        Self {
            keyring: found.keyring,
            version: found.info.version,
            created_at: rfc3339(found.info.created_at),
            state: found.info.state,
        }
    }
}

impl From<service::PublicKeyOutput> for PublicKeyOut {
    fn from(out: service::PublicKeyOutput) -> Self {
        Self {
            key_version: out.key_version,
            algorithm: out.algorithm.name(),
            pem: out.pem,
            jwk: out.jwk,
        }
    }
}

impl From<service::SignOutput> for Signed {
    fn from(out: service::SignOutput) -> Self {
        Self {
            signature: B64.encode(&out.signature),
            key_version: out.key_version,
            algorithm: out.algorithm,
        }
    }
}

impl From<service::VerifyOutput> for Verified {
    fn from(out: service::VerifyOutput) -> Self {
        Self {
            valid: out.valid,
            key_version: out.key_version,
        }
    }
}

impl From<&service::CreatedMachineToken> for MachineTokenIssued {
    fn from(out: &service::CreatedMachineToken) -> Self {
        Self {
            info: MachineTokenInfo::from(&out.row),
            token: out.token.reveal().to_owned(),
        }
    }
}

impl From<&service::Provisioned> for ProvisionedMachine {
    fn from(out: &service::Provisioned) -> Self {
        Self {
            machine: Machine::from(&out.machine),
            bundle_token: out.bundle_token.reveal().to_owned(),
            bundle_path: "/v1/machines/bundle",
            bundle_expires_at: rfc3339(out.bundle_expires_at),
        }
    }
}

impl From<service::MachineBundle> for MachineBundle {
    fn from(bundle: service::MachineBundle) -> Self {
        Self {
            machine_id: bundle.machine_id,
            account_id: bundle.account_id,
            private_key_pem: bundle.private_key_pem.expose_secret().to_owned(),
        }
    }
}

/// An account as any route but the listing shows it: without the caller's role.
impl From<&crate::service::AccountState> for super::Account {
    fn from(account: &crate::service::AccountState) -> Self {
        Self::from_state(account, None)
    }
}
