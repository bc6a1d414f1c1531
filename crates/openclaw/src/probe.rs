//! The gateway probes: `GET /healthz` must answer OpenClaw's JSON contract (`{"ok":true,...}`); the
//! Control UI answers unknown paths with an HTML 200, so a status alone proves nothing. `GET /readyz`
//! (with the gateway token as a bearer when there is one) says whether channels and agents are ready
//! and which are failing; `GET /startupz` whether OpenClaw's startup is done (until it is, a failing
//! `/healthz` is a slow start, not a hang). Plain HTTP to a task's private IP, HTTPS to an ALB
//! `probe_url`.
//!
//! A probe that never reached the gateway is [`ProbeOutcome::Unreachable`], not a failure: the
//! connector below records the moment a connection (TCP, plus TLS for HTTPS) is established, and
//! only what happens after it can be held against the gateway. Connecting is bounded by one
//! timeout; once connected, the gateway gets the same timeout again to answer (headers and body).
//! A dead `/healthz` skips `/readyz`, so one gateway costs at most a few timeouts. A 401 to the
//! token is reported, never retried: OpenClaw locks a client out after 10 failures a minute.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use clawkeeper_core::health::GatewayToken;
use clawkeeper_core::watch::health::{ProbeOutcome, Startup};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    /// What `/healthz` found: live, reached but wrong, or never reached.
    pub outcome: ProbeOutcome,
    /// Why not live, in words (never the body).
    pub detail: Option<String>,
    /// What `/startupz` said, when it answered its JSON contract (older gateways have none).
    pub startup: Option<Startup>,
    /// `/readyz`'s `ready`, when it answered JSON.
    pub ready: Option<bool>,
    /// `/readyz`'s `failing` entries.
    pub failing: Vec<String>,
    /// `/readyz` answered 401 to the token.
    pub token_rejected: bool,
    /// Wall time of both probes.
    pub elapsed: Duration,
}

impl Probed {
    /// `/healthz` answered the JSON contract.
    pub fn is_live(&self) -> bool {
        self.outcome == ProbeOutcome::Live
    }

    fn new(outcome: ProbeOutcome, detail: Option<String>) -> Self {
        Self {
            outcome,
            detail,
            startup: None,
            ready: None,
            failing: Vec::new(),
            token_rejected: false,
            elapsed: Duration::ZERO,
        }
    }
}

type Https = HttpsConnector<HttpConnector>;

/// An HTTP(S) client for gateway probes, built once per process.
#[derive(Clone)]
pub struct Prober {
    http: HttpConnector,
    /// The TLS settings, checked at build; the CA certificates are added on first use.
    tls: rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>,
    timeout: Duration,
}

/// The TLS configuration of HTTPS probes, built on the first probe rather than at init: reading
/// the system's CA certificates costs milliseconds of every cold start, and most probes are plain
/// HTTP to a private IP. Shared by every [`Prober`] of the process.
static PROBE_TLS: OnceLock<rustls::ClientConfig> = OnceLock::new();

impl Prober {
    /// A client that waits at most `timeout` to connect, and `timeout` again for the answer.
    /// The CA certificates for HTTPS are read on the first probe ([`PROBE_TLS`]).
    pub fn new(timeout: Duration) -> Result<Self, ProbeError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        Ok(Self { http, tls, timeout })
    }

    fn tls_config(&self) -> rustls::ClientConfig {
        let config = PROBE_TLS.get_or_init(|| match self.tls.clone().with_native_roots() {
            Ok(b) => b.with_no_client_auth(),
            Err(e) => {
                // Plain-HTTP probes (the common case: a private IP) still work without roots.
                tracing::warn!(error = %e, "no system CA certificates: HTTPS probe URLs will fail");
                self.tls
                    .clone()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        });
        config.clone()
    }

    fn connector(&self) -> Https {
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(self.tls_config())
            .https_or_http()
            .enable_http1()
            .wrap_connector(self.http.clone())
    }

    /// Probes the gateway at `base` (`http://10.0.1.23:18789`, `https://gw.example.com`).
    pub async fn probe(&self, base: &str, token: Option<&GatewayToken>) -> Probed {
        let started = Instant::now();
        let base = base.trim_end_matches('/');
        let mut out = match self.get(&format!("{base}/healthz"), None).await {
            Ok(answer) => match live_verdict(&answer) {
                Ok(()) => Probed::new(ProbeOutcome::Live, None),
                Err(why) => Probed::new(ProbeOutcome::Failed, Some(why)),
            },
            Err(miss) => {
                // Nothing answers: /readyz would only wait for the same timeout again.
                let mut out = Probed::new(miss.outcome(), Some(miss.why));
                out.elapsed = started.elapsed();
                return out;
            }
        };
        // Whether startup is done: a failing /healthz of a gateway still starting is not a hang.
        // Asked whatever /healthz said, since a live gateway's "started" is what lets a later
        // failure count at once.
        match self.get(&format!("{base}/startupz"), None).await {
            Ok(answer) => out.startup = startup_verdict(&answer),
            Err(miss) => tracing::debug!(error = %miss.why, "startupz probe failed"),
        }
        // The token is a bearer secret: never over plain HTTP beyond the gateway's private network.
        let token = match token {
            Some(_) if !token_may_go_to(base) => {
                tracing::warn!(
                    base,
                    "gateway token withheld: plain http:// to an address that is not private; use https"
                );
                None
            }
            token => token,
        };
        match self.get(&format!("{base}/readyz"), token).await {
            Ok(answer) if answer.status == StatusCode::UNAUTHORIZED && token.is_some() => out.token_rejected = true,
            Ok(answer) => {
                if let Some((ready, failing)) = ready_verdict(&answer) {
                    out.ready = Some(ready);
                    out.failing = failing;
                }
            }
            Err(miss) => tracing::debug!(error = %miss.why, "readyz probe failed"),
        }
        out.elapsed = started.elapsed();
        out
    }

    async fn get(&self, url: &str, token: Option<&GatewayToken>) -> Result<Answer, Miss> {
        // `*/*` like a generic checker: asking for JSON makes OpenClaw answer unknown paths with a
        // plain 404/503 instead of the Control UI's HTML 200, which is the trap this probe must catch.
        let mut request = Request::get(url)
            .header(USER_AGENT, "clawkeeper-reconciler")
            .header(ACCEPT, "*/*");
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, bearer(token)?);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| Miss::unreached(format!("bad probe URL {url}: {e}")))?;
        self.exchange(request, MAX_BODY_BYTES).await
    }

    /// Sends `request` and reads its answer (at most `max_body` bytes), within the timeouts: the
    /// connector tells whether the gateway was reached, which decides what a miss means.
    pub(crate) async fn exchange<B>(&self, request: Request<B>, max_body: usize) -> Result<Answer, Miss>
    where
        B: hyper::body::Body + Send + Unpin + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // A client per request (no pooling: a few requests per gateway per minute) so the connector
        // can tell this request, and only this one, when its connection was established.
        let connected = Arc::new(OnceLock::new());
        let client: Client<Traced, B> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(Traced {
                inner: self.connector(),
                connected: Arc::clone(&connected),
            });
        let exchange = async {
            let response = client.request(request).await.map_err(|e| error_chain(&e))?;
            let status = response.status();
            let html = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("html"));
            let body = Limited::new(response.into_body(), max_body)
                .collect()
                .await
                .map_err(|e| format!("answer body unreadable: {e}"))?
                .to_bytes();
            Ok::<_, String>(Answer { status, html, body })
        };
        let mut exchange = std::pin::pin!(exchange);
        let ms = self.timeout.as_millis();
        let mut deadline = Instant::now() + self.timeout;
        loop {
            let waited = tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), &mut exchange).await;
            let reached = connected.get().copied();
            match (waited, reached) {
                (Ok(Ok(answer)), _) => return Ok(answer),
                (Ok(Err(why)), Some(_)) => return Err(Miss::reached(format!("connected, then {why}"))),
                (Ok(Err(why)), None) => return Err(Miss::unreached(why)),
                // Connected late in the connect budget: the answer still gets its full timeout.
                (Err(_), Some(at)) if at + self.timeout > deadline => deadline = at + self.timeout,
                (Err(_), Some(_)) => return Err(Miss::reached(format!("connected, but no answer within {ms} ms"))),
                (Err(_), None) => return Err(Miss::unreached(format!("no connection within {ms} ms"))),
            }
        }
    }
}

/// The `Authorization` header for the gateway token, marked sensitive (never logged by hyper).
pub(crate) fn bearer(token: &GatewayToken) -> Result<HeaderValue, Miss> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.value()))
        .map_err(|_| Miss::unreached("the gateway token is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// A request that got no answer, and whether the gateway's HTTP server was reached before that.
///
/// The decision the watchdog rests on: only `reached` misses count against the gateway. Not
/// reached covers no route, DNS, a connect timeout (a security group or a dead link drops the
/// SYN), a TLS handshake failure (the ALB's certificate or our CA roots, not the gateway), and a
/// refused connection. Refused is the one that could be read as "the gateway is dead", and it is
/// unknown on purpose: while ECS says RUNNING the container's process runs, and a refusal only
/// means nothing listens on that port *yet* or *there*. OpenClaw binds its port some 10-25 s after
/// start and again after an in-process restart; a gateway bound to loopback refuses every outside
/// probe while it serves its channels perfectly. A process that dies ends the essential container
/// and ECS stops and replaces the task itself; one that stops serving is the container health
/// check's to catch (the template's gateway task has one). Stopping on a refusal would add nothing
/// but false restarts and crash loops of gateways that work.
#[derive(Debug)]
pub(crate) struct Miss {
    /// The gateway's HTTP server was reached (connected) before the miss.
    pub(crate) reached: bool,
    /// In words.
    pub(crate) why: String,
}

impl Miss {
    pub(crate) fn reached(why: String) -> Self {
        Self { reached: true, why }
    }

    pub(crate) fn unreached(why: impl std::fmt::Display) -> Self {
        Self {
            reached: false,
            why: format!("could not reach the gateway: {why}"),
        }
    }

    fn outcome(&self) -> ProbeOutcome {
        if self.reached {
            ProbeOutcome::Failed
        } else {
            ProbeOutcome::Unreachable
        }
    }
}

/// The HTTPS-or-HTTP connector, noting when it handed over an established connection.
#[derive(Clone)]
struct Traced {
    inner: Https,
    connected: Arc<OnceLock<Instant>>,
}

impl tower_service::Service<Uri> for Traced {
    type Response = <Https as tower_service::Service<Uri>>::Response;
    type Error = <Https as tower_service::Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let connected = Arc::clone(&self.connected);
        Box::pin(async move {
            let connection = connecting.await?;
            // First connection only: with pooling off there is one per request anyway.
            let _ = connected.set(Instant::now());
            Ok(connection)
        })
    }
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) html: bool,
    pub(crate) body: Bytes,
}

/// Whether the gateway token may be sent to `base`: over HTTPS anywhere; over plain HTTP only to
/// an IP address of a private network (a task's address in its VPC: RFC 1918, the shared range
/// VPCs may add, IPv6 unique local) or of this host. A name is never trusted over plain HTTP: it
/// could resolve anywhere.
pub fn token_may_go_to(base: &str) -> bool {
    let Ok(uri) = base.parse::<Uri>() else {
        return false;
    };
    match uri.scheme_str() {
        Some("https") => true,
        Some("http") => {
            let host = uri.host().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
            match host.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(ip)) => {
                    let [a, b, ..] = ip.octets();
                    ip.is_private() || ip.is_loopback() || (a == 100 && (64..128).contains(&b))
                }
                Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
                Err(_) => false,
            }
        }
        _ => false,
    }
}

pub(crate) fn json_object(body: &[u8]) -> Option<serde_json::Map<String, Value>> {
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

/// `/startupz`: `200 {"status":"started"}`, or `503` with `"starting"` or `"draining"`. Anything
/// else (a 404 of an older gateway, the Control UI's HTML) says nothing.
fn startup_verdict(answer: &Answer) -> Option<Startup> {
    let map = json_object(&answer.body)?;
    match (answer.status, map.get("status")?.as_str()?) {
        (StatusCode::OK, "started") => Some(Startup::Started),
        (StatusCode::SERVICE_UNAVAILABLE, "starting") => Some(Startup::Starting),
        (StatusCode::SERVICE_UNAVAILABLE, "draining") => Some(Startup::Draining),
        _ => None,
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
    fn startup_reads_started_starting_and_draining_and_nothing_else() {
        let read = |status, body| startup_verdict(&answer(status, false, body));
        assert_eq!(read(200, r#"{"status":"started"}"#), Some(Startup::Started));
        assert_eq!(read(503, r#"{"status":"starting"}"#), Some(Startup::Starting));
        assert_eq!(read(503, r#"{"status":"draining","extra":1}"#), Some(Startup::Draining));
        // A status that does not go with its word, an older gateway's 404, the Control UI's page.
        assert_eq!(read(200, r#"{"status":"starting"}"#), None);
        assert_eq!(read(404, r#"{"error":"not found"}"#), None);
        assert_eq!(startup_verdict(&answer(200, true, "<!doctype html>")), None);
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

    /// Loopback only: a port nothing listens on refuses; a listener that never accepts still
    /// completes the TCP handshake (the kernel's backlog) and then answers nothing.
    #[tokio::test]
    async fn refused_is_unreachable_and_connected_but_silent_is_failed() {
        let prober = Prober::new(Duration::from_millis(300)).expect("prober");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let refused = prober.probe(&format!("http://127.0.0.1:{port}"), None).await;
        assert_eq!(refused.outcome, ProbeOutcome::Unreachable, "{refused:?}");
        let why = refused.detail.clone().unwrap_or_default();
        assert!(why.starts_with("could not reach the gateway"), "{why}");
        assert!(
            refused.elapsed < Duration::from_millis(300),
            "refused at once: {refused:?}"
        );

        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", silent.local_addr().expect("addr"));
        let hung = prober.probe(&base, None).await;
        assert_eq!(hung.outcome, ProbeOutcome::Failed, "{hung:?}");
        assert_eq!(
            hung.detail.as_deref(),
            Some("connected, but no answer within 300 ms"),
            "{hung:?}"
        );
        assert!(hung.elapsed >= Duration::from_millis(300), "{hung:?}");
        assert!(!hung.is_live() && hung.ready.is_none(), "/readyz skipped: {hung:?}");
        drop(silent);
    }

    #[test]
    fn the_token_goes_over_plain_http_only_to_a_private_address() {
        for allowed in [
            "https://gw.example.com",
            "http://10.0.1.23:18789",
            "http://172.31.255.1:18789",
            "http://192.168.1.5",
            "http://100.64.0.9:18789",
            "http://127.0.0.1:18789",
            "http://[fd12::1]:18789",
        ] {
            assert!(token_may_go_to(allowed), "{allowed}");
        }
        for refused in [
            "http://gw.example.com",
            "http://localhost:18789",
            "http://54.1.2.3:18789",
            "http://172.32.0.1",
            "http://[2001:db8::1]",
            "ftp://10.0.0.1",
            "not a url",
        ] {
            assert!(!token_may_go_to(refused), "{refused}");
        }
    }

    /// A gateway on loopback that answers every request live and records what it was sent.
    fn recording_gateway() -> (u16, std::sync::mpsc::Receiver<String>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten().take(4) {
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
                let body = r#"{"ok":true,"ready":true}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (port, rx)
    }

    #[tokio::test]
    async fn the_token_is_sent_to_a_private_address_and_withheld_from_a_name_over_http() {
        let prober = Prober::new(Duration::from_millis(2000)).expect("prober");
        let token = GatewayToken::new("s3cr3t-token-value", "v1");
        for (host, sent) in [("127.0.0.1", true), ("localhost", false)] {
            let (port, requests) = recording_gateway();
            let probed = prober.probe(&format!("http://{host}:{port}"), Some(&token)).await;
            assert!(probed.is_live(), "{host}: {probed:?}");
            let seen: Vec<String> = requests.try_iter().collect();
            let readyz = seen
                .iter()
                .find(|r| r.starts_with("GET /readyz"))
                .expect("readyz asked");
            assert_eq!(readyz.contains("s3cr3t-token-value"), sent, "{host}: {readyz}");
            assert!(
                seen.iter()
                    .all(|r| !r.starts_with("GET /healthz") || !r.contains("s3cr3t"))
            );
        }
    }

    #[test]
    fn a_token_never_shows_in_debug_output() {
        let token = GatewayToken::new("s3cr3t-token-value", "v1");
        let text = format!("{token:?}");
        assert!(!text.contains("s3cr3t") && text.contains("v1"), "{text}");
    }
}
