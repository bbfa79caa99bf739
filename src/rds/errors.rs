//! RDS API errors mapped to [`Error::Rds`] by the service's error code: one readable
//! sentence naming the target, the region, the thing and what to do. Throttling that
//! outlasted the retries is [`RdsFailure::Unavailable`].

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::error::{Error, RdsFailure};

/// Where a call was made: the target and the region.
#[derive(Debug, Clone)]
pub struct At {
    pub target: String,
    pub region: String,
}

impl At {
    pub fn new(target: &str, region: &str) -> Self {
        At {
            target: target.to_string(),
            region: region.to_string(),
        }
    }

    pub fn error(&self, failure: RdsFailure) -> Error {
        Error::Rds {
            target: self.target.clone(),
            region: self.region.clone(),
            failure: Box::new(failure),
        }
    }

    pub fn refused(&self, msg: impl Into<String>) -> Error {
        self.error(RdsFailure::Refused(msg.into()))
    }

    /// Classifies an SDK error of the call `what` (e.g. `CreateDBSnapshot orders-x`).
    /// `snapshot` and `kms_key` give the quota and KMS messages their names.
    pub fn sdk<E>(
        &self,
        what: &str,
        err: SdkError<E, HttpResponse>,
        attempts: u32,
        kms_key: Option<&str>,
    ) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().unwrap_or_default().to_string();
        let message = err.message().unwrap_or_default().to_string();
        self.error(classify(what, &code, &message, &err, attempts, kms_key))
    }
}

fn classify<E>(
    what: &str,
    code: &str,
    message: &str,
    err: &SdkError<E, HttpResponse>,
    attempts: u32,
    kms_key: Option<&str>,
) -> RdsFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let what = what.to_string();
    if code.is_empty() {
        // No service error: the request never got an answer (connection, timeout).
        let reason = match err {
            SdkError::TimeoutError(_) => "timed out".to_string(),
            SdkError::DispatchFailure(d) => format!("cannot reach the RDS endpoint: {d:?}")
                .chars()
                .take(300)
                .collect(),
            other => format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(other)
            )
            .chars()
            .take(300)
            .collect(),
        };
        return RdsFailure::Unavailable {
            what,
            attempts,
            reason,
        };
    }
    let code_s = code.to_string();
    let message_s = message.to_string();
    match code {
        "SnapshotQuotaExceeded" | "SnapshotQuotaExceededFault" => {
            RdsFailure::QuotaExceeded { snapshot: what }
        }
        "KMSKeyNotAccessibleFault" | "KMSKeyNotAccessible" | "InvalidKMSKeyFault" => {
            RdsFailure::KmsKeyNotAccessible {
                key: kms_key.unwrap_or("(the snapshot's key)").to_string(),
                snapshot: what,
            }
        }
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "RequestThrottled"
        | "ServiceUnavailable"
        | "InternalFailure"
        | "InternalError" => RdsFailure::Unavailable {
            what,
            attempts,
            reason: format!("{code}: {message}"),
        },
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "UnrecognizedClientException" => RdsFailure::AccessDenied {
            what,
            code: code_s,
            message: message_s,
        },
        c if c.starts_with("Invalid") && c.contains("State") => RdsFailure::WrongState {
            what,
            code: code_s,
            message: message_s,
        },
        c if c.contains("NotFound") => RdsFailure::NotFound { what, code: code_s },
        c if c.contains("AlreadyExists") => RdsFailure::AlreadyExists { what, code: code_s },
        _ => RdsFailure::Api {
            what,
            code: code_s,
            message: message_s,
        },
    }
}
