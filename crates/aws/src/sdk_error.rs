//! The SDK's `SdkError` turned into the core's [`AwsError`]: the one place that reads SDK error
//! metadata, so nothing outside the adapters ever sees an SDK type.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use clawkeeper_core::aws_error::{AwsError, Retry, TRANSIENT_CODES};

/// `AwsError::from_sdk(service, operation, err)` in every adapter.
pub trait FromSdk {
    /// Maps an SDK error of any service.
    fn from_sdk<E, R>(service: &'static str, operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static;
}

impl FromSdk for AwsError {
    fn from_sdk<E, R>(service: &'static str, operation: &'static str, err: SdkError<E, R>) -> Self
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
}
