//! The one place SDK clients are configured: retries, timeouts and the endpoint override.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// How long an AWS endpoint may take to accept a connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Loads the SDK configuration from the environment (region, credentials, and endpoint
/// overrides through the standard `AWS_ENDPOINT_URL`), with retries and timeouts chosen on
/// purpose: a few jittered retries of transient faults, and attempts short enough that a
/// stuck call fails inside the function's own timeout so Lambda can retry the event.
/// `AWS_MAX_ATTEMPTS` still overrides the attempt count (tests set it to 1), and
/// `attempt_timeout` each attempt (the `Config`'s `CLAWKEEPER_AWS_ATTEMPT_TIMEOUT_MS`, default 10 s).
/// The HTTPS client is the SDK's own (rustls on aws-lc), set up on the first request
/// ([`FirstUseHttpClient`]).
pub async fn load_sdk_config(attempt_timeout: Duration) -> SdkConfig {
    let max_attempts = std::env::var("AWS_MAX_ATTEMPTS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(3);
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(FirstUseHttpClient::new(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .build_https(),
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(max_attempts)
                .with_initial_backoff(Duration::from_millis(200)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(attempt_timeout)
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .load()
        .await
}

/// An HTTP client whose connectors (TLS configuration, the system's CA certificates) are built
/// when a request first needs one, not when an SDK client is built. The SDK's client builds a
/// connector as each service client is built, to warm it, and throws it away: with six clients,
/// six parses of every CA certificate before a function's first poll, most of its init. The
/// connectors the requests use are built once per setting (timeouts) and kept by `inner`.
#[derive(Debug, Clone)]
pub struct FirstUseHttpClient {
    inner: SharedHttpClient,
}

impl FirstUseHttpClient {
    /// `inner`'s connectors, built on first use.
    pub fn new(inner: SharedHttpClient) -> Self {
        Self { inner }
    }
}

impl HttpClient for FirstUseHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }

    // `validate_base_client_config` keeps the trait's default (nothing to check): `inner`'s would
    // build the throw-away connector this type exists to avoid.
}

/// True when an endpoint override is set (moto in tests): S3 then needs path-style addressing.
pub fn endpoint_overridden() -> bool {
    std::env::var_os("AWS_ENDPOINT_URL").is_some_and(|v| !v.is_empty())
}

/// Formats an SDK timestamp as RFC 3339.
pub(crate) fn rfc3339(time: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    time.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::Region;
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_smithy_runtime_api::shared::IntoShared;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    /// An SDK configuration sending every request through `client` to `endpoint`, once.
    fn sdk(client: SharedHttpClient, endpoint: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKID", "secret", None, None, "test",
            )))
            .retry_config(RetryConfig::disabled())
            .endpoint_url(endpoint)
            .http_client(client)
            .build()
    }

    #[tokio::test]
    async fn no_connector_is_built_until_a_request_needs_one() {
        let built = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&built);
        // The SDK's client type, plain HTTP, counting the connectors it builds.
        let inner = aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, _| {
            counter.fetch_add(1, SeqCst);
            let mut connector = aws_smithy_http_client::Connector::builder();
            connector.set_connector_settings(settings.cloned());
            connector.build_http()
        });
        // A loopback port nothing listens on: the request is refused at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", closed.local_addr().expect("addr"));
        drop(closed);

        // The SDK's own client builds one as each service client is built.
        let _ = aws_sdk_sns::Client::new(&sdk(inner.clone(), &endpoint));
        assert_eq!(built.swap(0, SeqCst), 1, "the warm-up this wrapper exists to skip");

        let wrapped: SharedHttpClient = FirstUseHttpClient::new(inner).into_shared();
        let sns = aws_sdk_sns::Client::new(&sdk(wrapped.clone(), &endpoint));
        let _dynamodb = aws_sdk_dynamodb::Client::new(&sdk(wrapped, &endpoint));
        assert_eq!(built.load(SeqCst), 0, "no connector at client construction");

        let refused = sns.list_topics().send().await;
        assert!(refused.is_err(), "nothing listens there");
        assert_eq!(
            built.load(SeqCst),
            1,
            "the first request built the one connector it needed"
        );
        let _ = sns.list_topics().send().await;
        assert_eq!(built.load(SeqCst), 1, "and the next one reused it");
    }
}
