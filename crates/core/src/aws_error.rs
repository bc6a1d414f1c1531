//! One error type for every AWS call, mapped from the SDK's `SdkError` in the adapters
//! (`clawkeeper_aws::FromSdk`) so the core never sees an SDK type. It keeps what matters for deciding what to do next: whether a
//! retry may help (Lambda retries, the dead-letter queue keeps the event) and the service's code.

use std::fmt;

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
pub const TRANSIENT_CODES: &[&str] = &[
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
    /// True when a retry of the whole invocation may succeed.
    pub fn is_transient(&self) -> bool {
        self.retry == Retry::Transient
    }
}
