//! What a request can fail with, and the one table from failure to status and code.

use crate::hsm::HsmError;
use crate::store::{ErrorCode, StoreError};

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// A request's failure, named for what the caller can do about it. Messages never carry
/// secrets; the causes of 5xx failures go to the server log only.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidInput(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the key is disabled")]
    KeyDisabled,
    /// The object exists but was not made for this operation (sign with a verify-only key).
    #[error("{0}")]
    UsageNotAllowed(String),
    #[error("this ciphertext's key version is retired (below min_decryption_version)")]
    VersionRetired,
    /// A temporary machine's guardrail (source allowlist, time window) refused the request.
    #[error("{0}")]
    MachineBlocked(String),
    /// The object's group is frozen (a canary tripped, or an operator froze it).
    #[error(
        "group {0} is frozen: no app or machine reads a secret or decrypts there until an owner or admin unfreezes it"
    )]
    GroupFrozen(String),
    #[error("too many failed attempts from this address; retry after {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    #[error("request body is larger than the limit")]
    PayloadTooLarge,
    #[error("the request body did not arrive within the time limit")]
    RequestTimeout,
    #[error("the ciphertext does not authenticate (tampered, wrong keyring or wrong context)")]
    DecryptFailed,
    #[error("the service cannot serve this request right now; retry")]
    Unavailable(#[source] Cause),
    #[error("internal error")]
    Internal(#[source] Cause),
    /// A share that was opened, expired, deleted, refused a wrong passphrase or never
    /// existed: one answer for all, so a guess learns nothing.
    #[error("this share is gone (opened, expired or a wrong passphrase)")]
    ShareGone,
    /// An access policy bound to the object refused this use by an app or machine: the
    /// message names the policy and what it allows; the audit event names the axis.
    #[error("{message}")]
    PolicyDenied {
        policy: String,
        axis: &'static str,
        message: String,
    },
    /// An access policy's rate cap refused this use; the window resets in
    /// `retry_after_secs`.
    #[error("{message}")]
    PolicyRateLimited {
        policy: String,
        message: String,
        retry_after_secs: u64,
    },
    /// Not a failure: the operation's group (or the account) has a quorum, so the request
    /// became this pending approval (`service::approvals`). It answers 202 with the
    /// approval; its event was recorded with the approval.
    #[error("the operation awaits approval")]
    AwaitingApproval(Box<crate::store::ApprovalRow>),
}

impl Error {
    /// The HTTP status and error code of api.md for every failure: the only such table.
    pub fn status_and_code(&self) -> (u16, ErrorCode) {
        match self {
            Error::InvalidInput(_) => (400, ErrorCode::InvalidInput),
            Error::Unauthenticated => (401, ErrorCode::Unauthenticated),
            Error::Forbidden(_) => (403, ErrorCode::Forbidden),
            Error::MachineBlocked(_) => (403, ErrorCode::TempMachineBlocked),
            Error::GroupFrozen(_) => (403, ErrorCode::GroupFrozen),
            Error::NotFound(_) => (404, ErrorCode::NotFound),
            Error::Conflict(_) => (409, ErrorCode::Conflict),
            Error::KeyDisabled => (409, ErrorCode::KeyDisabled),
            Error::UsageNotAllowed(_) => (409, ErrorCode::UsageNotAllowed),
            Error::VersionRetired => (409, ErrorCode::VersionRetired),
            Error::RequestTimeout => (408, ErrorCode::RequestTimeout),
            Error::PayloadTooLarge => (413, ErrorCode::PayloadTooLarge),
            Error::RateLimited { .. } => (429, ErrorCode::RateLimited),
            Error::DecryptFailed => (422, ErrorCode::DecryptFailed),
            Error::Unavailable(_) => (503, ErrorCode::Unavailable),
            Error::Internal(_) => (500, ErrorCode::Internal),
            Error::ShareGone => (404, ErrorCode::NotFound),
            Error::PolicyDenied { .. } => (403, ErrorCode::PolicyDenied),
            Error::PolicyRateLimited { .. } => (429, ErrorCode::RateLimited),
            // Never rendered as an error nor recorded as a failure (see the variant); the
            // code only fills the table.
            Error::AwaitingApproval(_) => (202, ErrorCode::Conflict),
        }
    }

    pub fn status(&self) -> u16 {
        self.status_and_code().0
    }

    pub fn code(&self) -> ErrorCode {
        self.status_and_code().1
    }

    /// The message a client may see: 5xx bodies say nothing about the cause.
    pub fn public_message(&self) -> String {
        self.to_string()
    }
}

impl From<HsmError> for Error {
    fn from(e: HsmError) -> Self {
        match e {
            // A key the database knows but the token does not show is the token being
            // away (moved, rebooting, logged out): retryable, like every other outage.
            HsmError::Unavailable(_)
            | HsmError::Busy
            | HsmError::Timeout(_)
            | HsmError::Stalled
            | HsmError::KeyNotFound(_) => Error::Unavailable(Box::new(e)),
            HsmError::AuthenticationFailed => Error::DecryptFailed,
            HsmError::Internal(_) => Error::Internal(Box::new(e)),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(reason) => Error::Conflict(reason.to_string()),
            StoreError::Unavailable(_) => Error::Unavailable(Box::new(e)),
            StoreError::Corrupt(_) => Error::Internal(Box::new(e)),
        }
    }
}
