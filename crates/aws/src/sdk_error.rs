//! The SDK's `SdkError` turned into the core's [`AwsError`]: the one place that reads SDK error
//! metadata, so nothing outside the adapters ever sees an SDK type.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use clawkeeper_core::aws_error::{AwsError, Retry, TRANSIENT_CODES};

/// `AwsError::from_sdk(service, operation, err)` in every adapter.
pub trait FromSdk {
    /// Maps an SDK error of any service.
    fn from_sdk<E>(service: &'static str, operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static;
}

impl FromSdk for AwsError {
    fn from_sdk<E>(service: &'static str, operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let (code, retry) = match &err {
            SdkError::ServiceError(service_err) => {
                let code = service_err.err().code().map(str::to_string);
                // A known transient code, or any 5xx or 429 whatever its body says: a server
                // error answered in HTML (a proxy, a load balancer) carries no code at all.
                let status = service_err.raw().status().as_u16();
                let transient =
                    code.as_deref().is_some_and(|c| TRANSIENT_CODES.contains(&c)) || status >= 500 || status == 429;
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

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn answered(status: u16, code: Option<&str>) -> AwsError {
        let mut meta = ErrorMetadata::builder();
        if let Some(code) = code {
            meta = meta.code(code);
        }
        let raw = HttpResponse::new(status.try_into().expect("status"), SdkBody::empty());
        AwsError::from_sdk(
            "dynamodb",
            "GetItem",
            SdkError::service_error(GetItemError::generic(meta.build()), raw),
        )
    }

    #[test]
    fn a_server_error_is_transient_even_without_a_code() {
        assert_eq!(answered(500, None).retry, Retry::Transient, "an HTML 500 has no code");
        assert_eq!(answered(503, Some("SomethingNew")).retry, Retry::Transient);
        assert_eq!(answered(429, None).retry, Retry::Transient);
        assert_eq!(answered(400, Some("ThrottlingException")).retry, Retry::Transient);
        assert_eq!(answered(400, Some("ValidationException")).retry, Retry::Permanent);
        assert_eq!(answered(403, None).retry, Retry::Permanent);
    }
}
