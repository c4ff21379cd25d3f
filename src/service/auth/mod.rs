//! Credential verification: every way a request proves who it is, one file per kind of
//! credential (bearer API keys and sessions, passwords at log-in, signed requests of
//! machines, TLS client certificates, one-time tokens).
//!
//! It lives in the service, not in [`crate::auth`], because verifying needs the store (the
//! stored digests, machines, bindings, lockouts) and the HSM (the pepper that digests every
//! secret). The credential formats themselves (token text, the signed-request canonical
//! form, guardrails) are in [`crate::auth`], which does no I/O.

mod bearer;
mod certificate;
mod login;
mod signed;
mod sigv4;
mod tokens;

pub use login::LoginOutput;
pub(in crate::service) use signed::DeferredNonce;
pub use signed::SignedRequest;
pub use sigv4::{AwsSigner, SigV4Caller, SigV4Failure};

use super::identity::verify_password;
use super::machines::{MICROS, secs_to_micros};
use super::*;
use crate::audit::{Identity, NonceClaim};
use crate::auth::MachineToken;
use crate::auth::guardrails::Guardrails;
use crate::auth::signed::{SignedHeaderError, SignedHeaders};
use crate::crypto::x509::{CertificateInfo, parse_certificates, verifies_to};
use crate::ids::{AccountId, ApiKeyId, AppId, UserId};
use crate::store;
use crate::store::{
    AppCertificateKind, AppCertificateRow, LockoutRule, LoginFailures, MachineRow, MachineTokenRow,
    SessionRow, TrustedCaRow,
};
use secrecy::SecretString;

impl Service {
    /// A user of an active account who is an unsuspended member, as a caller.
    pub(in crate::service) async fn user_caller(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
        credential: Credential,
    ) -> Result<Caller, Error> {
        self.active_account(account_id).await?;
        let member = self
            .store
            .member(account_id, user_id)
            .await?
            .filter(|m| !m.suspended)
            .ok_or(Error::Unauthenticated)?;
        if let Some((template, scope)) = self.held_template(account_id, user_id).await? {
            return Ok(Caller {
                role: None,
                scope,
                template: Some(template),
                ..Self::user_caller_base(account_id, user_id, credential)
            });
        }
        let role = member.role;
        let scope = if role.sees_all_groups() {
            GroupScope::All
        } else {
            let mut groups = Vec::new();
            for (group, group_role) in self.store.user_groups(account_id, user_id).await? {
                groups.push((group, group_role.operations()));
            }
            GroupScope::Only(groups)
        };
        Ok(Caller {
            account_id: account_id.clone(),
            kind: PrincipalKind::User,
            principal_id: user_id.to_string(),
            api_key_id: (credential.method == AuthMethod::ApiKey)
                .then(|| ApiKeyId::from(credential.id.as_str())),
            flags: credential.flags,
            method: credential.method,
            role: Some(role),
            scope,
            credential: Some(credential.id),
            template: None,
        })
    }

    /// A user caller with no role, template or group yet: what every kind of user shares.
    fn user_caller_base(
        account_id: &AccountId,
        user_id: &UserId,
        credential: Credential,
    ) -> Caller {
        Caller {
            account_id: account_id.clone(),
            kind: PrincipalKind::User,
            principal_id: user_id.to_string(),
            api_key_id: (credential.method == AuthMethod::ApiKey)
                .then(|| ApiKeyId::from(credential.id.as_str())),
            flags: credential.flags,
            method: credential.method,
            role: None,
            scope: GroupScope::Only(Vec::new()),
            credential: Some(credential.id),
            template: None,
        }
    }

    /// An enabled app of an active account, as a caller.
    pub(in crate::service) async fn app_caller(
        &self,
        account_id: &AccountId,
        app_id: &AppId,
        credential: Credential,
    ) -> Result<Caller, Error> {
        self.active_account(account_id).await?;
        let app = self
            .store
            .app(account_id, app_id)
            .await?
            .filter(|a| a.enabled)
            .ok_or(Error::Unauthenticated)?;
        let groups = app
            .operations
            .iter()
            .map(|(group, ops)| {
                let ops = Operations::parse(ops)
                    .map_err(|op| Error::Internal(format!("stored operation {op}").into()))?;
                Ok((group.clone(), ops))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Caller {
            account_id: account_id.clone(),
            kind: PrincipalKind::App,
            principal_id: app_id.to_string(),
            api_key_id: (credential.method == AuthMethod::ApiKey)
                .then(|| ApiKeyId::from(credential.id.as_str())),
            flags: credential.flags,
            method: credential.method,
            role: None,
            scope: GroupScope::Only(groups),
            credential: Some(credential.id),
            template: None,
        })
    }

    /// Refuses credentials of a closed account.
    pub(in crate::service) async fn active_account(
        &self,
        account_id: &AccountId,
    ) -> Result<(), Error> {
        match self.store.account(account_id).await? {
            Some(account) if account.closed_at.is_none() => Ok(()),
            _ => Err(Error::Unauthenticated),
        }
    }
}

impl Service {
    /// The HSM HMAC of a secret's digest input, under the pepper that never leaves the token.
    async fn secret_digest(&self, digest_input: Vec<u8>) -> Result<[u8; 32], Error> {
        Ok(self
            .hsm
            .hmac_sha256(APIKEY_PEPPER_LABEL, digest_input)
            .await?)
    }

    /// `record` with the HSM digest of its secret (`digest_input`), ready to store.
    pub(in crate::service) async fn credential<R>(
        &self,
        record: R,
        digest_input: Vec<u8>,
    ) -> Result<store::Credential<R>, Error> {
        let digest = self.secret_digest(digest_input).await?.to_vec();
        Ok(store::Credential { record, digest })
    }

    /// The record of the credential `lookup` finds for a presented secret, if the HSM digest
    /// of the secret (`digest_input`) equals the stored one, compared in constant time. The
    /// lookup and the digest run together (neither needs the other), and the digest is
    /// computed even when nothing is found, so an unknown id costs what a wrong secret
    /// costs. Only the record goes on: the digest stops here.
    pub(in crate::service) async fn verified<R>(
        &self,
        lookup: impl Future<Output = Result<Option<store::Credential<R>>, store::StoreError>>,
        digest_input: Vec<u8>,
    ) -> Result<Option<R>, Error> {
        let (stored, digest) = tokio::join!(lookup, self.secret_digest(digest_input));
        let (stored, digest) = (stored?, digest?);
        Ok(stored
            .filter(|stored| subtle::ConstantTimeEq::ct_eq(&digest[..], &stored.digest[..]).into())
            .map(|stored| stored.record))
    }
}
