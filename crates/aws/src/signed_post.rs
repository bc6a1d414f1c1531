//! A JSON POST signed with SigV4 under the caller's SDK credentials, over one HTTPS client with
//! the system's roots: for the AWS endpoints clawkeeper calls without an SDK client of their own
//! (CloudWatch's JSON protocol in `doctor`, a Lambda function URL from the CLI), so neither builds
//! and signs requests its own way.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::ConfigBuilderExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// Where a signed request goes and what it is.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The full URL.
    pub url: &'a str,
    /// The signing name (`monitoring`, `lambda`).
    pub service: &'a str,
    /// The signing region.
    pub region: &'a str,
}

/// An HTTPS client (plain HTTP too, for a stand-in on loopback) for signed POSTs.
#[derive(Clone)]
pub struct SignedPost {
    client: Client<Https, Full<Bytes>>,
}

impl SignedPost {
    /// A client that gives up connecting after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Result<Self, String> {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_native_roots()
            .map_err(|e| format!("TLS roots: {e}"))?
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// POSTs `body` with `headers` to `target`, signed with `sdk`'s credentials, and returns the
    /// status and body of the answer, both within `timeout`.
    pub async fn post(
        &self,
        sdk: &SdkConfig,
        target: Target<'_>,
        headers: &[(&str, &str)],
        body: String,
        timeout: Duration,
    ) -> Result<(u16, Bytes), String> {
        let request = signed(sdk, target, headers, body).await?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                let cause = std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                format!("{e}: {cause}")
            })?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok((status, bytes))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
    }
}

/// The request, signed for `target` with the SDK's credentials.
async fn signed(
    sdk: &SdkConfig,
    target: Target<'_>,
    headers: &[(&str, &str)],
    body: String,
) -> Result<http::Request<Full<Bytes>>, String> {
    let provider = sdk
        .credentials_provider()
        .ok_or("no AWS credentials found: set AWS_PROFILE or run `aws configure`")?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| format!("no AWS credentials: {}", DisplayErrorContext(&e)))?;
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(target.region)
        .name(target.service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("signing: {e}"))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        target.url,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| format!("signing: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("signing: {e}"))?
        .into_parts();
    let mut request = http::Request::builder().method("POST").uri(target.url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("not a URL: {e}"))?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(request)
}
