//! The gateway's admin RPC: OpenClaw's bundled, opt-in `admin-http-rpc` plugin
//! (`docs/plugins/admin-http-rpc.md` of the package), `POST /api/v1/admin/rpc` on the gateway's
//! own port with `Authorization: Bearer <gateway token>` and `{"method":...,"params":{...}}`.
//! Two methods: `channels.status` (every channel account's runtime: lifecycle, terminal
//! disconnect, last close) and `channels.start` (restart one account, keeping its credentials).
//!
//! The client is the probes' ([`Prober`]): the same connector that knows whether the gateway was
//! reached, the same timeouts (connect, then answer), a bounded body, and the token only where
//! [`token_may_go_to`] allows. Answers as the real gateway gives them (2026.9.6, fixtures in
//! `admin_rpc/fixtures/`, captured on loopback):
//! - `200 {"id","ok":true,"payload":{...}}`;
//! - `400 {"ok":false,"error":{"code":"INVALID_REQUEST","message":"invalid channels.start channel"}}`
//!   for a channel the gateway does not have; other codes map to 404, 409, 503, 504, 500;
//! - `401 {"error":{"message":"Unauthorized","type":"unauthorized"}}` for a wrong token;
//! - `404` `text/plain` `Not Found` when the plugin is disabled (the route is not registered):
//!   reported as [`RpcMiss::NotEnabled`], unknown, never a failure of the gateway.

use clawkeeper_core::health::GatewayToken;
use clawkeeper_core::watch::channel_runtime::{ChannelRuntime, Lifecycle};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Request, StatusCode};
use serde_json::{Map, Value, json};

use crate::probe::{Answer, Miss, Prober, bearer, json_object, token_may_go_to};

/// The route the plugin registers.
pub const RPC_PATH: &str = "/api/v1/admin/rpc";
/// `channels.status` of a gateway with a few dozen accounts is tens of KB; more is not an answer.
const MAX_RPC_BODY_BYTES: usize = 512 * 1024;
/// Accounts read at most (a gateway has a handful; this bounds the work and the state).
const MAX_ACCOUNTS: usize = 64;
/// Longest channel or account id taken (OpenClaw's are short words).
const MAX_ID_CHARS: usize = 64;

/// Why the admin RPC gave no usable answer. Every one is unknown to the policy, never a failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcMiss {
    /// `404`: the `admin-http-rpc` plugin is not enabled (its route is not registered).
    #[error("admin RPC not enabled (enable OpenClaw's admin-http-rpc plugin: openclaw plugins enable admin-http-rpc)")]
    NotEnabled,
    /// The token may not go there (plain HTTP to an address that is not private).
    #[error("gateway token withheld: plain http:// to an address that is not private; use https")]
    TokenWithheld,
    /// `401`: the gateway refused the token.
    #[error("the gateway refused the token (HTTP 401)")]
    Unauthorized,
    /// No answer: unreachable, or reached and then nothing within the timeout.
    #[error("{0}")]
    NoAnswer(String),
    /// The method answered `ok: false`.
    #[error("{method} refused: {code}: {message}")]
    Refused {
        /// The method asked.
        method: &'static str,
        /// OpenClaw's error code (`INVALID_REQUEST`, `UNAVAILABLE`...).
        code: String,
        /// Its message.
        message: String,
    },
    /// Something other than the RPC's JSON (a proxy's page, another server).
    #[error("{0}")]
    NotTheRpc(String),
}

/// What `channels.start` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartOutcome {
    /// The channel it resolved.
    pub channel: String,
    /// The account it resolved (the default account when none was named).
    pub account: String,
    /// `started`: the runtime reports running (not yet that the provider is connected).
    pub started: bool,
    /// `outcome.status`: `handed-off`, `retry` or `skipped`.
    pub status: String,
    /// `outcome.reason`: `task-owned`, `start-in-flight`, `unlinked`, `disabled`, ...
    pub reason: Option<String>,
}

impl StartOutcome {
    /// `handed-off`, `retry: task-owned`, `skipped: unlinked`.
    pub fn words(&self) -> String {
        match &self.reason {
            Some(reason) => format!("{}: {reason}", self.status),
            None => self.status.clone(),
        }
    }
}

/// The admin RPC client of one process, over the probes' HTTP stack.
#[derive(Clone)]
pub struct AdminRpc {
    prober: Prober,
}

impl AdminRpc {
    /// Over `prober` (its timeouts bound every call: to connect, then to answer).
    pub fn new(prober: Prober) -> Self {
        Self { prober }
    }

    /// `channels.status`: every account of every channel the gateway runs.
    pub async fn channels_status(&self, base: &str, token: &GatewayToken) -> Result<Vec<ChannelRuntime>, RpcMiss> {
        let payload = self.call(base, token, "channels.status", json!({})).await?;
        Ok(parse_channels_status(&payload))
    }

    /// `channels.start` for one account; `account` `default` is sent as no account, so OpenClaw
    /// picks the channel's default account (whatever its id).
    pub async fn start_channel(
        &self,
        base: &str,
        token: &GatewayToken,
        channel: &str,
        account: &str,
    ) -> Result<StartOutcome, RpcMiss> {
        let params = if account == "default" {
            json!({ "channel": channel })
        } else {
            json!({ "channel": channel, "accountId": account })
        };
        let payload = self.call(base, token, "channels.start", params).await?;
        parse_start(&payload).ok_or_else(|| RpcMiss::NotTheRpc("channels.start answered without `started`".into()))
    }

    async fn call(
        &self,
        base: &str,
        token: &GatewayToken,
        method: &'static str,
        params: Value,
    ) -> Result<Map<String, Value>, RpcMiss> {
        let base = base.trim_end_matches('/');
        // The token is a bearer secret: never over plain HTTP beyond the gateway's private network.
        if !token_may_go_to(base) {
            return Err(RpcMiss::TokenWithheld);
        }
        let body = json!({ "method": method, "params": params }).to_string();
        let request = Request::post(format!("{base}{RPC_PATH}"))
            .header(USER_AGENT, "clawkeeper-reconciler")
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, bearer(token).map_err(no_answer)?)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| RpcMiss::NoAnswer(format!("bad admin RPC URL {base}{RPC_PATH}: {e}")))?;
        let answer = self
            .prober
            .exchange(request, MAX_RPC_BODY_BYTES)
            .await
            .map_err(no_answer)?;
        read_answer(method, &answer)
    }
}

fn no_answer(miss: Miss) -> RpcMiss {
    RpcMiss::NoAnswer(miss.why)
}

/// The payload of an answer, or why there is none.
fn read_answer(method: &'static str, answer: &Answer) -> Result<Map<String, Value>, RpcMiss> {
    match answer.status {
        StatusCode::NOT_FOUND if json_object(&answer.body).is_none_or(|o| !o.contains_key("ok")) => {
            return Err(RpcMiss::NotEnabled);
        }
        StatusCode::UNAUTHORIZED => return Err(RpcMiss::Unauthorized),
        _ => {}
    }
    let Some(map) = json_object(&answer.body).filter(|_| !answer.html) else {
        return Err(RpcMiss::NotTheRpc(format!(
            "{method} answered HTTP {} with something other than the RPC's JSON",
            answer.status.as_u16()
        )));
    };
    match map.get("ok") {
        Some(Value::Bool(true)) => match map.get("payload") {
            Some(Value::Object(payload)) => Ok(payload.clone()),
            _ => Err(RpcMiss::NotTheRpc(format!(
                "{method} answered ok without a payload object"
            ))),
        },
        Some(Value::Bool(false)) => {
            let error = map.get("error").and_then(Value::as_object);
            let word = |k: &str| {
                error
                    .and_then(|e| e.get(k))
                    .and_then(Value::as_str)
                    .map(|s| bounded(s, 200))
                    .unwrap_or_else(|| "-".into())
            };
            Err(RpcMiss::Refused {
                method,
                code: word("code"),
                message: word("message"),
            })
        }
        _ => Err(RpcMiss::NotTheRpc(format!(
            "{method} answered HTTP {} without `ok`",
            answer.status.as_u16()
        ))),
    }
}

/// `payload.channelAccounts`: `{ <channel>: [ <account snapshot>, ... ] }`, bounded; entries
/// without a usable channel or account id are skipped.
fn parse_channels_status(payload: &Map<String, Value>) -> Vec<ChannelRuntime> {
    let Some(Value::Object(channels)) = payload.get("channelAccounts") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (channel, accounts) in channels {
        let channel = channel.to_ascii_lowercase();
        if !is_id(&channel) {
            continue;
        }
        for account in accounts.as_array().into_iter().flatten() {
            if out.len() >= MAX_ACCOUNTS {
                return out;
            }
            if let Some(runtime) = account.as_object().and_then(|a| account_runtime(&channel, a)) {
                out.push(runtime);
            }
        }
    }
    out
}

fn account_runtime(channel: &str, a: &Map<String, Value>) -> Option<ChannelRuntime> {
    let account = a.get("accountId")?.as_str()?.trim();
    if !is_id(account) {
        return None;
    }
    let flag = |k: &str| a.get(k).and_then(Value::as_bool);
    let disconnect = a.get("lastDisconnect").and_then(Value::as_object);
    Some(ChannelRuntime {
        channel: channel.to_string(),
        account: account.to_string(),
        lifecycle: a.get("lifecycle").and_then(Value::as_str).and_then(Lifecycle::parse),
        running: flag("running"),
        enabled: flag("enabled"),
        configured: flag("configured"),
        linked: flag("linked"),
        restart_pending: flag("restartPending") == Some(true),
        terminal_disconnect: flag("terminalDisconnect") == Some(true),
        health_state: a
            .get("healthState")
            .and_then(Value::as_str)
            .map(|s| bounded(s, MAX_ID_CHARS)),
        disconnect_status: disconnect
            .and_then(|d| d.get("status"))
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok()),
        logged_out: disconnect.and_then(|d| d.get("loggedOut")).and_then(Value::as_bool) == Some(true),
    })
}

fn parse_start(payload: &Map<String, Value>) -> Option<StartOutcome> {
    let word = |v: Option<&Value>| v.and_then(Value::as_str).map(|s| bounded(s, MAX_ID_CHARS));
    let outcome = payload.get("outcome").and_then(Value::as_object);
    Some(StartOutcome {
        channel: word(payload.get("channel")).unwrap_or_default(),
        account: word(payload.get("accountId")).unwrap_or_default(),
        started: payload.get("started")?.as_bool()?,
        status: word(outcome.and_then(|o| o.get("status"))).unwrap_or_else(|| "unknown".into()),
        reason: word(outcome.and_then(|o| o.get("reason"))),
    })
}

/// A channel or account id this watchdog keeps: short, printable, no spaces.
fn is_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= MAX_ID_CHARS && id.chars().all(|c| c.is_ascii_graphic())
}

/// `text` cut to `max` characters, control characters out.
fn bounded(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests;
