//! The gateway probes: `GET /healthz` must answer OpenClaw's JSON contract (`{"ok":true,...}`); the
//! Control UI answers unknown paths with an HTML 200, so a status alone proves nothing. `GET /readyz`
//! (with the gateway token as a bearer when there is one) says whether channels and agents are ready
//! and which are failing. Plain HTTP to a task's private IP, HTTPS to an ALB `probe_url`.
//!
//! Every request is bounded by one timeout (connect, headers and body), and a dead `/healthz` skips
//! `/readyz`, so one gateway costs at most about two timeouts. A 401 to the token is reported, never
//! retried: OpenClaw locks a client out after 10 failures a minute.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::GatewayToken;

/// Probe answers are small JSON objects; anything larger is not one.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The probe client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// TLS set-up failed.
    #[error("TLS configuration for HTTPS probes: {0}")]
    Tls(#[from] rustls::Error),
}

/// What one gateway's probes found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Probed {
    /// `/healthz` answered the JSON contract.
    pub live: bool,
    /// Why not, in words (never the body).
    pub live_detail: Option<String>,
    /// `/readyz`'s `ready`, when it answered JSON.
    pub ready: Option<bool>,
    /// `/readyz`'s `failing` entries.
    pub failing: Vec<String>,
    /// `/readyz` answered 401 to the token.
    pub token_rejected: bool,
    /// Wall time of both probes.
    pub elapsed: Duration,
}

/// An HTTP(S) client for gateway probes, built once per process.
#[derive(Clone)]
pub struct Prober {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

impl Prober {
    /// A client whose every request (connect, answer, body) is bounded by `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, ProbeError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
        let tls = match builder.clone().with_native_roots() {
            Ok(b) => b.with_no_client_auth(),
            Err(e) => {
                // Plain-HTTP probes (the common case: a private IP) still work without roots.
                tracing::warn!(error = %e, "no system CA certificates: HTTPS probe URLs will fail");
                builder
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            // One probe per gateway per minute: a pooled connection would only go stale.
            .pool_max_idle_per_host(0)
            .build(connector);
        Ok(Self { client, timeout })
    }

    /// Probes the gateway at `base` (`http://10.0.1.23:18789`, `https://gw.example.com`).
    pub async fn probe(&self, base: &str, token: Option<&GatewayToken>) -> Probed {
        let started = Instant::now();
        let base = base.trim_end_matches('/');
        let mut out = Probed::default();
        match self.get(&format!("{base}/healthz"), None).await {
            Ok(answer) => match live_verdict(&answer) {
                Ok(()) => out.live = true,
                Err(why) => out.live_detail = Some(why),
            },
            Err(why) => {
                // Nothing answers: /readyz would only wait for the same timeout again.
                out.live_detail = Some(why);
                out.elapsed = started.elapsed();
                return out;
            }
        }
        match self.get(&format!("{base}/readyz"), token).await {
            Ok(answer) if answer.status == StatusCode::UNAUTHORIZED && token.is_some() => out.token_rejected = true,
            Ok(answer) => {
                if let Some((ready, failing)) = ready_verdict(&answer) {
                    out.ready = Some(ready);
                    out.failing = failing;
                }
            }
            Err(why) => tracing::debug!(error = %why, "readyz probe failed"),
        }
        out.elapsed = started.elapsed();
        out
    }

    async fn get(&self, url: &str, token: Option<&GatewayToken>) -> Result<Answer, String> {
        // `*/*` like a generic checker: asking for JSON makes OpenClaw answer unknown paths with a
        // plain 404/503 instead of the Control UI's HTML 200, which is the trap this probe must catch.
        let mut request = Request::get(url)
            .header(USER_AGENT, "clawkeeper-reconciler")
            .header(ACCEPT, "*/*");
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.value()))
                .map_err(|_| "the gateway token is not a valid header value".to_string())?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("bad probe URL {url}: {e}"))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("no answer: {}", error_chain(&e)))?;
            let status = response.status();
            let html = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("html"));
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| format!("answer body unreadable: {e}"))?
                .to_bytes();
            Ok(Answer { status, html, body })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }
}

struct Answer {
    status: StatusCode,
    html: bool,
    body: Bytes,
}

fn json_object(body: &[u8]) -> Option<serde_json::Map<String, Value>> {
    match serde_json::from_slice(body).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// `/healthz` is live only with a 200 and a JSON object whose `ok` is `true`.
fn live_verdict(answer: &Answer) -> Result<(), String> {
    let looks_html = answer.html || answer.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
    if looks_html {
        return Err(format!(
            "/healthz answered an HTML page (HTTP {}), not the JSON probe contract",
            answer.status.as_u16()
        ));
    }
    if answer.status != StatusCode::OK {
        return Err(format!("/healthz answered HTTP {}", answer.status.as_u16()));
    }
    match json_object(&answer.body) {
        Some(map) if map.get("ok") == Some(&Value::Bool(true)) => Ok(()),
        Some(_) => Err("/healthz answered JSON without \"ok\": true".into()),
        None => Err("/healthz answered something other than JSON".into()),
    }
}

/// `/readyz`: `{"ready":bool,"failing":[...]}` with 200 or 503.
fn ready_verdict(answer: &Answer) -> Option<(bool, Vec<String>)> {
    if answer.status != StatusCode::OK && answer.status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let map = json_object(&answer.body)?;
    let ready = map.get("ready")?.as_bool()?;
    let failing = map
        .get("failing")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| match item {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => ["id", "name", "channel"]
                        .iter()
                        .find_map(|k| o.get(*k).and_then(Value::as_str))
                        .map(str::to_owned),
                    _ => None,
                })
                .take(32)
                .collect()
        })
        .unwrap_or_default();
    Some((ready, failing))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, html: bool, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).expect("status"),
            html,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn only_the_json_contract_is_live() {
        assert!(live_verdict(&answer(200, false, r#"{"ok":true,"status":"live"}"#)).is_ok());
        for (a, fragment) in [
            (answer(200, true, "<!doctype html><html></html>"), "HTML"),
            (answer(200, false, "  <html>"), "HTML"),
            (answer(200, false, r#"{"ok":false}"#), "without"),
            (answer(200, false, "ok"), "other than JSON"),
            (answer(503, false, r#"{"ok":true}"#), "HTTP 503"),
        ] {
            let why = live_verdict(&a).expect_err("not live");
            assert!(why.contains(fragment), "{why}");
        }
    }

    #[test]
    fn readiness_reads_ready_and_failing() {
        assert_eq!(
            ready_verdict(&answer(
                503,
                false,
                r#"{"ready":false,"failing":["channel:whatsapp:default",{"id":"x"}]}"#
            )),
            Some((false, vec!["channel:whatsapp:default".to_string(), "x".to_string()]))
        );
        assert_eq!(
            ready_verdict(&answer(200, false, r#"{"ready":true}"#)),
            Some((true, vec![]))
        );
        assert_eq!(ready_verdict(&answer(200, true, "<html>")), None);
        assert_eq!(ready_verdict(&answer(404, false, r#"{"ready":true}"#)), None);
    }

    #[test]
    fn a_token_never_shows_in_debug_output() {
        let token = GatewayToken::new("s3cr3t-token-value", "v1");
        let text = format!("{token:?}");
        assert!(!text.contains("s3cr3t") && text.contains("v1"), "{text}");
    }
}
