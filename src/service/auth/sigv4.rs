//! SigV4-signed requests of the AWS KMS face: an access key pair's app as the caller.
//!
//! The signature is an HMAC under a key derived from the secret access key, so checking it
//! needs the secret itself: it is unwrapped through the HSM (it is stored wrapped by a group
//! master key) once per access key and credential scope, and only the derived signing key is
//! kept, in memory, for `auth_cache_ttl`. A repeated identical request is accepted (SigV4 has
//! no nonce; clients retry with the same signature), inside AWS's 5-minute clock window.

use super::*;
use crate::auth::sigv4::{self as form, Authorization, SigV4Error};
use crate::ids::AwsAccessKeyId;
use crate::store::AwsCredentialRow;
use zeroize::Zeroizing;

/// A verified access key: its caller, and the signing key of one credential scope.
pub struct AwsSigner {
    pub(in crate::service) caller: Arc<Caller>,
    key: Zeroizing<[u8; 32]>,
}

/// Why a SigV4 request is refused. The AWS face answers each with the error type AWS uses
/// for it, so a client reports what it would report against AWS.
#[derive(Debug)]
pub enum SigV4Failure {
    /// No `Authorization` header.
    Unsigned,
    /// A signature whose parts are malformed, or without a signed `X-Amz-Date`.
    Incomplete(SigV4Error),
    /// `X-Amz-Date` outside the 5-minute window.
    Expired,
    /// The signature is not the access key's (whose app the request claims to be).
    Mismatch(Arc<Caller>),
    /// No such access key, or it (or its app, or its account) is disabled.
    UnknownAccessKey,
    /// The HSM or the database could not check the signature now.
    Unavailable(Error),
}

impl SigV4Failure {
    /// The message a client shows; never anything about the secret.
    pub fn message(&self) -> String {
        match self {
            Self::Unsigned => SigV4Error::Missing.to_string(),
            Self::Incomplete(e) => e.to_string(),
            Self::Expired => SigV4Error::Expired.to_string(),
            Self::Mismatch(_) => {
                "the request signature does not match: check the secret access key \
                 and that the client signs what it sends"
                    .to_owned()
            }
            Self::UnknownAccessKey => {
                "the access key id is not known here, or it is disabled".to_owned()
            }
            Self::Unavailable(e) => e.public_message(),
        }
    }
}

impl From<Error> for SigV4Failure {
    fn from(error: Error) -> Self {
        match error {
            Error::Unauthenticated => Self::UnknownAccessKey,
            other => Self::Unavailable(other),
        }
    }
}

/// What a verified SigV4 request brings: its caller and the region it was signed for.
pub struct SigV4Caller {
    pub caller: Arc<Caller>,
    pub region: String,
}

impl Service {
    /// Verifies a SigV4 request: the header's form, the time window, the access key, then the
    /// signature over the canonical request (constant-time comparison).
    pub async fn authenticate_sigv4(
        &self,
        authorization: Option<&str>,
        request: &form::SignedRequest<'_>,
    ) -> Result<SigV4Caller, SigV4Failure> {
        let auth = Authorization::parse(authorization.ok_or(SigV4Failure::Unsigned)?)
            .map_err(SigV4Failure::Incomplete)?;
        let (amz_date, secs) = request.time(&auth).map_err(SigV4Failure::Incomplete)?;
        if !form::fresh(secs, self.now() / MICROS) {
            return Err(SigV4Failure::Expired);
        }
        let signer = self.aws_signer(&auth).await?;
        let to_sign = form::string_to_sign(&amz_date, &auth.scope, &request.canonical(&auth));
        if !form::verify(&signer.key, &to_sign, &auth.signature) {
            return Err(SigV4Failure::Mismatch(Arc::clone(&signer.caller)));
        }
        Ok(SigV4Caller {
            caller: Arc::clone(&signer.caller),
            region: auth.scope.region,
        })
    }

    /// The access key's signer for the request's scope: cached, else read, unwrapped through
    /// the HSM and derived.
    async fn aws_signer(&self, auth: &Authorization) -> Result<Arc<AwsSigner>, SigV4Failure> {
        let id = AwsAccessKeyId::from(auth.access_key_id.as_str());
        let cache_key = (id.clone(), auth.scope.clone());
        if let Some(hit) = self.aws_signers.get(&cache_key) {
            return Ok(hit);
        }
        let (row, secret) = self
            .store
            .aws_credential(&id)
            .await
            .map_err(|e| SigV4Failure::Unavailable(e.into()))?
            .filter(|(row, _)| !row.disabled)
            .ok_or(SigV4Failure::UnknownAccessKey)?;
        let caller = self.aws_caller(&row).await?;
        let key = self
            .hsm
            .unwrap_data_key(&secret.wrapping_key, &secret.wrapped_secret)
            .await
            .map_err(|e| SigV4Failure::Unavailable(e.into()))?;
        let secret_text = crate::crypto::aws_secret_text(&key);
        let signer = Arc::new(AwsSigner {
            caller: Arc::new(caller),
            key: form::signing_key(secret_text.as_bytes(), &auth.scope),
        });
        self.aws_signers
            .insert(cache_key, Arc::clone(&signer), self.settings.auth_cache_ttl);
        Ok(signer)
    }

    /// The access key's app as a caller, with the key's flags.
    async fn aws_caller(&self, row: &AwsCredentialRow) -> Result<Caller, Error> {
        let flags = Flags::parse(row.flags.clone(), PrincipalKind::App)
            .map_err(|e| Error::Internal(Box::new(e)))?;
        let credential = Credential {
            method: AuthMethod::AwsSigV4,
            id: row.id.to_string(),
            flags,
        };
        self.app_caller(&row.account_id, &row.app_id, credential)
            .await
    }

    /// Records an AWS-face call refused before the service ran it (its signature, its
    /// target, or a body its operation could not read). `claimed` is the app a wrongly
    /// signed request named through a real access key id: the event names it as claimed,
    /// not verified.
    pub async fn audit_aws_refusal(
        &self,
        meta: &RequestMeta,
        caller: Option<&Caller>,
        claimed: bool,
        status: u16,
        outcome: Outcome,
    ) -> Result<(), Error> {
        const ACTION: &str = "aws-kms.call";
        let mut event = self.event(meta, caller, ACTION, Some("/"), Ok(()));
        event.status = status;
        event.outcome = outcome;
        event.severity = crate::audit::severity::severity_of(ACTION, outcome);
        if claimed {
            event.identity = Some(crate::audit::Identity::Claimed);
        }
        self.record(meta, event).await
    }
}
