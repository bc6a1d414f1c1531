//! The one place SDK clients are configured: retries, timeouts and the endpoint override.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the SDK configuration from the environment (region, credentials, and endpoint
/// overrides through the standard `AWS_ENDPOINT_URL`), with retries and timeouts chosen on
/// purpose: a few jittered retries of transient faults, and attempts short enough that a
/// stuck call fails inside the function's own timeout so Lambda can retry the event.
/// `AWS_MAX_ATTEMPTS` still overrides the attempt count (tests set it to 1), and
/// `attempt_timeout` each attempt (the `Config`'s `CLAWKEEPER_AWS_ATTEMPT_TIMEOUT_MS`, default 10 s).
pub async fn load_sdk_config(attempt_timeout: Duration) -> SdkConfig {
    let max_attempts = std::env::var("AWS_MAX_ATTEMPTS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(3);
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(max_attempts)
                .with_initial_backoff(Duration::from_millis(200)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(attempt_timeout)
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .load()
        .await
}

/// True when an endpoint override is set (moto in tests): S3 then needs path-style addressing.
pub fn endpoint_overridden() -> bool {
    std::env::var_os("AWS_ENDPOINT_URL").is_some_and(|v| !v.is_empty())
}

/// Formats an SDK timestamp as RFC 3339.
pub(crate) fn rfc3339(time: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    time.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}
