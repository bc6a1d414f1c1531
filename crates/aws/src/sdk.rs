//! The one place SDK clients are configured: where the region, credentials and endpoint come
//! from, retries, timeouts, and the HTTPS client.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use clawkeeper_core::config::ConfigError;

/// How long an AWS endpoint may take to accept a connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The variables the SDK configuration is read from. Lambda sets the region and the execution
/// role's credentials in every function's environment; the rest are optional overrides.
pub mod vars {
    /// The function's region (Lambda sets it; the notices' commands name it too).
    pub use clawkeeper_core::config::vars::REGION;
    /// The execution role's access key (Lambda sets it, with the secret key and session token).
    pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
    /// The execution role's secret key.
    pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
    /// One endpoint for every service (moto in tests).
    pub const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
    /// One service's endpoint, over `AWS_ENDPOINT_URL` (a test's Lambda stand-in, say).
    pub const ENDPOINT_URL_DYNAMODB: &str = "AWS_ENDPOINT_URL_DYNAMODB";
    /// See [`ENDPOINT_URL_DYNAMODB`].
    pub const ENDPOINT_URL_ECS: &str = "AWS_ENDPOINT_URL_ECS";
    /// See [`ENDPOINT_URL_DYNAMODB`].
    pub const ENDPOINT_URL_LAMBDA: &str = "AWS_ENDPOINT_URL_LAMBDA";
    /// See [`ENDPOINT_URL_DYNAMODB`].
    pub const ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";
    /// See [`ENDPOINT_URL_DYNAMODB`].
    pub const ENDPOINT_URL_SECRETS_MANAGER: &str = "AWS_ENDPOINT_URL_SECRETS_MANAGER";
    /// See [`ENDPOINT_URL_DYNAMODB`].
    pub const ENDPOINT_URL_SNS: &str = "AWS_ENDPOINT_URL_SNS";
    /// See [`ENDPOINT_URL_DYNAMODB`].
    pub const ENDPOINT_URL_SQS: &str = "AWS_ENDPOINT_URL_SQS";
    /// Attempts per call, the first included (default 3).
    pub const MAX_ATTEMPTS: &str = "AWS_MAX_ATTEMPTS";
    /// `true` for the FIPS endpoints.
    pub const USE_FIPS_ENDPOINT: &str = "AWS_USE_FIPS_ENDPOINT";
    /// `true` for the dual-stack (IPv6) endpoints.
    pub const USE_DUALSTACK_ENDPOINT: &str = "AWS_USE_DUALSTACK_ENDPOINT";
}

/// The services the functions call, by the SDK's service id, with the variable of each one's
/// own endpoint (the SDK's `AWS_ENDPOINT_URL_<SERVICE>` convention).
const SERVICE_ENDPOINTS: &[(&str, &str)] = &[
    ("DynamoDB", vars::ENDPOINT_URL_DYNAMODB),
    ("ECS", vars::ENDPOINT_URL_ECS),
    ("Lambda", vars::ENDPOINT_URL_LAMBDA),
    ("S3", vars::ENDPOINT_URL_S3),
    ("Secrets Manager", vars::ENDPOINT_URL_SECRETS_MANAGER),
    ("SNS", vars::ENDPOINT_URL_SNS),
    ("SQS", vars::ENDPOINT_URL_SQS),
];

/// Where a function's SDK clients reach AWS, and as whom, read from its environment at init.
///
/// Only what Lambda provides is read: the region and the execution role's credentials from their
/// variables, never a profile file, the instance metadata service or a web-identity token. The
/// SDK's default chain would probe each of them (and link an STS client, a profile parser and an
/// IMDS client into every binary) for a function that always finds its answer in the first place
/// it looks. A missing or malformed variable is an init error that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkEnvironment {
    /// The region every client calls.
    pub region: String,
    /// The endpoint every client calls instead of AWS's, when set.
    pub endpoint_url: Option<String>,
    /// Endpoints of single services (by service id), over `endpoint_url`.
    pub service_endpoints: Vec<(&'static str, String)>,
    /// Attempts per call.
    pub max_attempts: u32,
    /// FIPS endpoints.
    pub use_fips: bool,
    /// Dual-stack endpoints.
    pub use_dual_stack: bool,
}

impl SdkEnvironment {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (blank counts as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let region = read(vars::REGION)
            .ok_or_else(|| ConfigError::new(vars::REGION, "is not set (Lambda sets it to the function's region)"))?;
        for name in [vars::ACCESS_KEY_ID, vars::SECRET_ACCESS_KEY] {
            if read(name).is_none() {
                return Err(ConfigError::new(
                    name,
                    "is not set (Lambda sets the execution role's credentials in the function's environment)",
                ));
            }
        }
        let url = |name: &'static str| match read(name) {
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => Err(ConfigError::new(
                name,
                format!("`{url}` is not an http:// or https:// URL"),
            )),
            other => Ok(other),
        };
        let endpoint_url = url(vars::ENDPOINT_URL)?;
        let mut service_endpoints = Vec::new();
        for &(service, name) in SERVICE_ENDPOINTS {
            if let Some(endpoint) = url(name)? {
                service_endpoints.push((service, endpoint));
            }
        }
        let max_attempts = match read(vars::MAX_ATTEMPTS) {
            None => 3,
            Some(v) => v.parse::<u32>().ok().filter(|&n| n >= 1).ok_or_else(|| {
                ConfigError::new(vars::MAX_ATTEMPTS, format!("`{v}` is not a whole number of at least 1"))
            })?,
        };
        let flag = |name: &'static str| match read(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ConfigError::new(
                name,
                format!("`{other}` is neither `true` nor `false`"),
            )),
        };
        Ok(Self {
            region,
            endpoint_url,
            service_endpoints,
            max_attempts,
            use_fips: flag(vars::USE_FIPS_ENDPOINT)?,
            use_dual_stack: flag(vars::USE_DUALSTACK_ENDPOINT)?,
        })
    }
}

/// The SDK configuration every client of a function is built from, with retries and timeouts
/// chosen on purpose: a few jittered retries of transient faults, and attempts short enough that
/// a stuck call fails inside the function's own timeout so Lambda can retry the event
/// (`attempt_timeout`: the `Config`'s `CLAWKEEPER_AWS_ATTEMPT_TIMEOUT_MS`, default 10 s).
/// Credentials are read from the environment when a first call signs, and cached. The HTTPS
/// client is the SDK's own (rustls on aws-lc), set up on the first request ([`FirstUseHttpClient`]).
pub fn sdk_config(env: &SdkEnvironment, attempt_timeout: Duration) -> SdkConfig {
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(env.region.clone()))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .identity_cache(IdentityCache::lazy().build())
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(SharedTimeSource::default())
        .http_client(FirstUseHttpClient::new(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .build_https(),
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(env.max_attempts)
                .with_initial_backoff(Duration::from_millis(200)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(attempt_timeout)
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .use_fips(env.use_fips)
        .use_dual_stack(env.use_dual_stack);
    builder.set_endpoint_url(env.endpoint_url.clone());
    if !env.service_endpoints.is_empty() {
        builder.set_service_config(Some(ServiceEndpoints(env.service_endpoints.clone())));
    }
    builder.build()
}

/// The per-service endpoints, as the SDK's clients ask for them when they are built (each falls
/// back to the configuration's `endpoint_url` when its service has none).
#[derive(Debug)]
struct ServiceEndpoints(Vec<(&'static str, String)>);

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != vars::ENDPOINT_URL {
            return None;
        }
        self.0
            .iter()
            .find(|(service, _)| *service == key.service_id())
            .map(|(_, endpoint)| endpoint.clone())
    }
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

    fn lambda_env(overrides: &[(&str, Option<&str>)]) -> Result<SdkEnvironment, ConfigError> {
        let mut env: Vec<(&str, Option<&str>)> = vec![
            (vars::REGION, Some("eu-west-1")),
            (vars::ACCESS_KEY_ID, Some("ASIAEXAMPLE")),
            (vars::SECRET_ACCESS_KEY, Some("secret")),
        ];
        env.extend_from_slice(overrides);
        SdkEnvironment::from_lookup(|name| {
            env.iter()
                .rev()
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.map(str::to_string))
        })
    }

    #[test]
    fn lambdas_variables_are_enough() {
        assert_eq!(
            lambda_env(&[]),
            Ok(SdkEnvironment {
                region: "eu-west-1".into(),
                endpoint_url: None,
                service_endpoints: vec![],
                max_attempts: 3,
                use_fips: false,
                use_dual_stack: false,
            })
        );
        let tuned = lambda_env(&[
            (vars::ENDPOINT_URL, Some("http://127.0.0.1:5000")),
            (vars::MAX_ATTEMPTS, Some("1")),
            (vars::USE_FIPS_ENDPOINT, Some("TRUE")),
            (vars::USE_DUALSTACK_ENDPOINT, Some("false")),
        ])
        .expect("valid");
        assert_eq!(tuned.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(
            (tuned.max_attempts, tuned.use_fips, tuned.use_dual_stack),
            (1, true, false)
        );
    }

    #[test]
    fn a_missing_or_malformed_variable_is_named() {
        let cases = [
            (vars::REGION, None, "is not set"),
            (vars::REGION, Some(" "), "is not set"),
            (vars::ACCESS_KEY_ID, None, "execution role"),
            (vars::SECRET_ACCESS_KEY, Some(""), "execution role"),
            (
                vars::ENDPOINT_URL,
                Some("localhost:4566"),
                "not an http:// or https:// URL",
            ),
            (vars::MAX_ATTEMPTS, Some("0"), "at least 1"),
            (vars::MAX_ATTEMPTS, Some("three"), "at least 1"),
            (vars::USE_FIPS_ENDPOINT, Some("yes"), "neither `true` nor `false`"),
            (vars::USE_DUALSTACK_ENDPOINT, Some("1"), "neither `true` nor `false`"),
        ];
        for (var, value, fragment) in cases {
            let e = lambda_env(&[(var, value)]).expect_err(var);
            assert_eq!(e.var, var, "{e}");
            assert!(e.problem.contains(fragment), "{var}={value:?}: {e}");
        }
    }

    #[tokio::test]
    async fn the_configuration_carries_the_environment() {
        let env = lambda_env(&[
            (vars::ENDPOINT_URL, Some("http://127.0.0.1:9")),
            (vars::USE_FIPS_ENDPOINT, Some("true")),
        ])
        .expect("valid");
        let sdk = sdk_config(&env, Duration::from_millis(1500));
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:9"));
        assert_eq!(sdk.use_fips(), Some(true));
        assert_eq!(sdk.retry_config().map(|r| r.max_attempts()), Some(3));
        assert_eq!(
            sdk.timeout_config().and_then(|t| t.operation_attempt_timeout()),
            Some(Duration::from_millis(1500))
        );
        assert!(sdk.sleep_impl().is_some() && sdk.time_source().is_some());
    }

    /// A loopback listener that answers nothing and hands back the first request line it read
    /// within 10 s (empty when no request came).
    fn first_request_line() -> (String, std::thread::JoinHandle<String>) {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = std::thread::spawn(move || {
            for _ in 0..1000 {
                if let Ok((stream, _)) = listener.accept() {
                    let _ = stream.set_nonblocking(false);
                    let mut line = String::new();
                    let _ = BufReader::new(stream).read_line(&mut line);
                    return line;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            String::new()
        });
        (endpoint, seen)
    }

    #[tokio::test]
    async fn a_services_own_endpoint_wins_for_that_service_only() {
        let (default, default_seen) = first_request_line();
        let (lambda, lambda_seen) = first_request_line();
        let env = lambda_env(&[
            (vars::ENDPOINT_URL, Some(&default)),
            (vars::ENDPOINT_URL_LAMBDA, Some(&lambda)),
        ])
        .expect("valid");
        assert_eq!(env.service_endpoints, vec![("Lambda", lambda.clone())]);
        let sdk = sdk_config(&env, Duration::from_secs(2));
        // The test process has no credential variables of its own: the clients get some here.
        let keys = Credentials::new("AKID", "secret", None, None, "test");
        let lambda_client = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&sdk)
                .credentials_provider(keys.clone())
                .build(),
        );
        let sns_client = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&sdk)
                .credentials_provider(keys)
                .build(),
        );
        // Neither listener answers: both calls fail, after reaching their endpoint.
        let _ = lambda_client.invoke().function_name("snapshot").send().await;
        let _ = sns_client.list_topics().send().await;
        let lambda_line = lambda_seen.join().expect("lambda listener");
        let default_line = default_seen.join().expect("default listener");
        assert!(
            lambda_line.starts_with("POST /2015-03-31/functions/snapshot/invocations"),
            "{lambda_line}"
        );
        assert!(
            default_line.starts_with("POST / "),
            "SNS at the shared endpoint: {default_line}"
        );
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
