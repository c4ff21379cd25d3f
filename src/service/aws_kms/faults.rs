//! The AWS face's errors: the `__type` names and statuses AWS KMS answers, and the one table
//! from the service's [`Error`] to them. AWS SDKs branch on `__type` (a retry on
//! `ThrottlingException`, a re-prompt on `AccessDeniedException`), so each native failure maps
//! to the AWS fault an SDK handles the same way.

use crate::service::Error;

/// An AWS error: its `__type` and a message a person can act on (never a secret).
#[derive(Debug)]
pub struct AwsFault {
    pub error: AwsErrorType,
    pub message: String,
}

/// The AWS KMS error types Coffer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorType {
    NotFound,
    InvalidCiphertext,
    AccessDenied,
    Disabled,
    InvalidState,
    Validation,
    AlreadyExists,
    InvalidKeyUsage,
    IncorrectKey,
    UnsupportedOperation,
    InvalidArn,
    InvalidAliasName,
    LimitExceeded,
    KmsInvalidSignature,
    Throttling,
    DependencyTimeout,
    Internal,
    UnknownOperation,
    Serialization,
    // Used by the authentication of the HTTP face.
    UnrecognizedClient,
    InvalidSignature,
    IncompleteSignature,
    MissingAuthenticationToken,
}

impl AwsErrorType {
    /// The `__type` of the answer.
    pub fn name(self) -> &'static str {
        use AwsErrorType::*;
        match self {
            NotFound => "NotFoundException",
            InvalidCiphertext => "InvalidCiphertextException",
            AccessDenied => "AccessDeniedException",
            Disabled => "DisabledException",
            InvalidState => "KMSInvalidStateException",
            Validation => "ValidationException",
            AlreadyExists => "AlreadyExistsException",
            InvalidKeyUsage => "InvalidKeyUsageException",
            IncorrectKey => "IncorrectKeyException",
            UnsupportedOperation => "UnsupportedOperationException",
            InvalidArn => "InvalidArnException",
            InvalidAliasName => "InvalidAliasNameException",
            LimitExceeded => "LimitExceededException",
            KmsInvalidSignature => "KMSInvalidSignatureException",
            Throttling => "ThrottlingException",
            DependencyTimeout => "DependencyTimeoutException",
            Internal => "KMSInternalException",
            UnknownOperation => "UnknownOperationException",
            Serialization => "SerializationException",
            UnrecognizedClient => "UnrecognizedClientException",
            InvalidSignature => "InvalidSignatureException",
            IncompleteSignature => "IncompleteSignatureException",
            MissingAuthenticationToken => "MissingAuthenticationTokenException",
        }
    }

    /// The HTTP status: 400 for every client fault (as AWS KMS answers them), 500 for an
    /// internal error, 503 for a dependency that cannot serve now.
    pub fn status(self) -> u16 {
        match self {
            AwsErrorType::Internal => 500,
            AwsErrorType::DependencyTimeout => 503,
            _ => 400,
        }
    }
}

impl AwsFault {
    pub fn new(error: AwsErrorType, message: impl Into<String>) -> Self {
        Self {
            error,
            message: message.into(),
        }
    }

    pub(super) fn validation(message: impl Into<String>) -> Self {
        Self::new(AwsErrorType::Validation, message)
    }

    pub(super) fn unsupported(message: impl Into<String>) -> Self {
        Self::new(AwsErrorType::UnsupportedOperation, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(AwsErrorType::NotFound, message)
    }

    /// The native failure that stands for this fault in the audit trail, for faults the AWS
    /// face raises before any native operation ran (the event's status and code are
    /// Coffer's, so the trail reads the same whichever face was used).
    pub(super) fn audit_error(&self) -> Error {
        use AwsErrorType::*;
        let message = self.message.clone();
        match self.error {
            NotFound => Error::NotFound(message),
            AccessDenied => Error::Forbidden(message),
            Disabled => Error::KeyDisabled,
            InvalidCiphertext => Error::DecryptFailed,
            AlreadyExists | InvalidState => Error::Conflict(message),
            InvalidKeyUsage | IncorrectKey => Error::UsageNotAllowed(message),
            Throttling => Error::RateLimited {
                retry_after_secs: 1,
            },
            DependencyTimeout => Error::Unavailable(message.into()),
            Internal => Error::Internal(message.into()),
            UnrecognizedClient
            | InvalidSignature
            | IncompleteSignature
            | MissingAuthenticationToken => Error::Unauthenticated,
            _ => Error::InvalidInput(message),
        }
    }
}

impl From<crate::store::StoreError> for AwsFault {
    fn from(e: crate::store::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl std::fmt::Display for AwsFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error.name(), self.message)
    }
}

impl From<Error> for AwsFault {
    /// THE table from a native failure to an AWS fault. Messages are the native ones (which
    /// never carry a secret); 5xx faults say nothing about their cause.
    fn from(e: Error) -> Self {
        use AwsErrorType::*;
        let error = match &e {
            Error::NotFound(_) | Error::ShareGone => NotFound,
            Error::Forbidden(_)
            | Error::MachineBlocked(_)
            | Error::PolicyDenied { .. }
            // A frozen group refuses decryption to apps and machines until a person acts:
            // a refusal of the caller, not a state the caller can wait out.
            | Error::GroupFrozen(_) => AccessDenied,
            Error::Unauthenticated => UnrecognizedClient,
            Error::KeyDisabled => Disabled,
            Error::DecryptFailed => InvalidCiphertext,
            // A retired version (below min_decryption_version) is, for an AWS client, a blob
            // this key will no longer decrypt: the fault SDKs treat as "cannot decrypt this".
            Error::VersionRetired => InvalidCiphertext,
            Error::InvalidInput(_) | Error::PayloadTooLarge | Error::RequestTimeout => Validation,
            // Native conflicts are states (a name taken on restore, a rotation that lost a
            // race, a deleted object); the creations that can meet a taken name (aliases)
            // answer AlreadyExists themselves.
            Error::Conflict(_) => InvalidState,
            Error::UsageNotAllowed(_) => InvalidKeyUsage,
            Error::RateLimited { .. } | Error::PolicyRateLimited { .. } => Throttling,
            Error::Unavailable(_) => DependencyTimeout,
            Error::Internal(_) => Internal,
            Error::AwaitingApproval(approval) => {
                return AwsFault::new(
                    InvalidState,
                    format!(
                        "this operation needs a quorum's approval: approval {} was recorded and \
                         waits for its approvers; it runs once they approve it",
                        approval.id
                    ),
                );
            }
        };
        let message = match error {
            Internal => "internal error".to_owned(),
            _ => e.public_message(),
        };
        AwsFault { error, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_the_aws_name_and_status() {
        assert_eq!(
            AwsErrorType::InvalidState.name(),
            "KMSInvalidStateException"
        );
        assert_eq!(AwsErrorType::Internal.name(), "KMSInternalException");
        assert_eq!(
            AwsErrorType::KmsInvalidSignature.name(),
            "KMSInvalidSignatureException"
        );
        assert_eq!(AwsErrorType::NotFound.status(), 400);
        assert_eq!(AwsErrorType::Internal.status(), 500);
        assert_eq!(AwsErrorType::DependencyTimeout.status(), 503);
    }

    #[test]
    fn native_failures_map_to_the_faults_sdks_handle() {
        let cases = [
            (Error::NotFound("keyring x".into()), AwsErrorType::NotFound),
            (Error::Forbidden("no".into()), AwsErrorType::AccessDenied),
            (
                Error::GroupFrozen("grp_1".into()),
                AwsErrorType::AccessDenied,
            ),
            (Error::KeyDisabled, AwsErrorType::Disabled),
            (Error::DecryptFailed, AwsErrorType::InvalidCiphertext),
            (Error::VersionRetired, AwsErrorType::InvalidCiphertext),
            (Error::InvalidInput("x".into()), AwsErrorType::Validation),
            (Error::Conflict("x".into()), AwsErrorType::InvalidState),
            (
                Error::UsageNotAllowed("x".into()),
                AwsErrorType::InvalidKeyUsage,
            ),
            (
                Error::RateLimited {
                    retry_after_secs: 3,
                },
                AwsErrorType::Throttling,
            ),
            (
                Error::Unavailable("hsm".into()),
                AwsErrorType::DependencyTimeout,
            ),
            (Error::Unauthenticated, AwsErrorType::UnrecognizedClient),
        ];
        for (error, expected) in cases {
            assert_eq!(AwsFault::from(error).error, expected);
        }
    }

    #[test]
    fn an_internal_fault_says_nothing_of_its_cause() {
        let fault = AwsFault::from(Error::Internal("pkcs11 secret detail".into()));
        assert_eq!(fault.error, AwsErrorType::Internal);
        assert_eq!(fault.message, "internal error");
    }
}
