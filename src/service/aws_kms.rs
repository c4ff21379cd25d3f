//! TEMPORARY stub of the AWS KMS operations (replaced by the operations branch).

use super::{Ctx, Error, Service};

pub struct AwsCall<'a> {
    pub operation: &'a str,
    pub region: &'a str,
    pub body: &'a [u8],
}

#[derive(Debug)]
pub struct AwsFault {
    pub error: AwsErrorType,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorType {
    UnknownOperation,
    Internal,
    DependencyTimeout,
    UnrecognizedClient,
    InvalidSignature,
    IncompleteSignature,
    MissingAuthenticationToken,
}

impl AwsErrorType {
    pub fn name(self) -> &'static str {
        match self {
            Self::UnknownOperation => "UnknownOperationException",
            Self::Internal => "KMSInternalException",
            Self::DependencyTimeout => "DependencyTimeoutException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::InvalidSignature => "InvalidSignatureException",
            Self::IncompleteSignature => "IncompleteSignatureException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
        }
    }
    pub fn status(self) -> u16 {
        match self {
            Self::Internal => 500,
            Self::DependencyTimeout => 503,
            _ => 400,
        }
    }
}

impl From<Error> for AwsFault {
    fn from(_: Error) -> Self {
        AwsFault {
            error: AwsErrorType::Internal,
            message: "internal".into(),
        }
    }
}

impl Service {
    pub async fn aws_kms(
        &self,
        _ctx: &Ctx<'_>,
        call: AwsCall<'_>,
    ) -> Result<serde_json::Value, AwsFault> {
        Err(AwsFault {
            error: AwsErrorType::UnknownOperation,
            message: format!("{} {}", call.operation, call.region),
        })
    }
}
