//! One error type for every AWS call, mapped from the SDK's `SdkError` in the adapters so the
//! core never sees an SDK type. It keeps what matters for deciding what to do next: whether a
//! retry may help (Lambda retries, the dead-letter queue keeps the event) and the service's code.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Whether repeating the call later may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Throttling, a 5xx answer, a timeout or a dropped connection.
    Transient,
    /// The request itself is wrong or not allowed: retrying changes nothing.
    Permanent,
}

/// A failed AWS call, with the service and operation that failed.
#[derive(Debug, Clone, thiserror::Error)]
pub struct AwsError {
    /// e.g. `ecs`.
    pub service: &'static str,
    /// e.g. `DescribeServices`.
    pub operation: &'static str,
    /// The service's error code, when it answered with one.
    pub code: Option<String>,
    /// Whether a retry may help.
    pub retry: Retry,
    /// The full error chain, for the log and the caller.
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} failed", self.service, self.operation)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Service error codes that mean "try again later" across the services we call.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "SlowDown",
    "ServerException",
    "InternalServerError",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TransactionConflictException",
];

impl AwsError {
    /// Maps an SDK error of any service.
    pub fn from_sdk<E, R>(service: &'static str, operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        let (code, retry) = match &err {
            SdkError::ServiceError(service_err) => {
                let code = service_err.err().code().map(str::to_string);
                let transient = code.as_deref().is_some_and(|c| TRANSIENT_CODES.contains(&c));
                (code, if transient { Retry::Transient } else { Retry::Permanent })
            }
            SdkError::ConstructionFailure(_) => (None, Retry::Permanent),
            // Timeouts, dispatch failures and unparsable answers (a dropped connection) may pass.
            _ => (None, Retry::Transient),
        };
        Self {
            service,
            operation,
            code,
            retry,
            message: DisplayErrorContext(&err).to_string(),
        }
    }

    /// True when a retry of the whole invocation may succeed.
    pub fn is_transient(&self) -> bool {
        self.retry == Retry::Transient
    }
}
