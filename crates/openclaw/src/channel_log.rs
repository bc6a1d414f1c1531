//! OpenClaw's channel log lines, as a CloudWatch Logs subscription delivers them, turned into
//! [`ChannelSignal`](clawkeeper_core::watch::ChannelSignal) parts.
//!
//! The payload is `{"awslogs":{"data":"<base64 of gzip of JSON>"}}`; the JSON names the log group
//! and carries the log events. OpenClaw prints a line in one of two console styles:
//! - compact (no TTY, the container's default): `<time> [whatsapp] WhatsApp session logged out...`,
//!   where the bracket is the shortened subsystem (`channels/whatsapp` shows as `whatsapp`);
//! - JSON (`logging.consoleStyle: "json"`): `{"time":...,"level":"warn","subsystem":
//!   "gateway/channels/whatsapp","message":"..."}`.
//!
//! Classification reads the text and returns only a kind, a channel and an account: callers log the
//! classification and the event id, never the line (it may carry personal data or secrets).

use std::io::Read;

use base64::Engine as _;
use clawkeeper_core::watch::ChannelEvent;
use serde::Deserialize;
use serde_json::Value;

/// Largest decompressed payload accepted (CloudWatch Logs sends at most about 1 MB per delivery).
const MAX_DECODED_BYTES: u64 = 16 * 1024 * 1024;

/// A subscription payload that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// No `awslogs.data` string.
    #[error("not a CloudWatch Logs subscription payload: `awslogs.data` is missing or not a string")]
    Missing,
    /// `awslogs.data` is not base64.
    #[error("`awslogs.data` is not base64: {0}")]
    Base64(#[source] base64::DecodeError),
    /// The decoded data is not gzip (or is truncated or too large).
    #[error("`awslogs.data` is not gzip-compressed data: {0}")]
    Gzip(#[source] std::io::Error),
    /// The decompressed data is not the documented JSON.
    #[error("the decompressed subscription data is not the CloudWatch Logs JSON: {0}")]
    Json(#[source] serde_json::Error),
}

/// The decoded subscription data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsData {
    /// `DATA_MESSAGE`, or `CONTROL_MESSAGE` (CloudWatch Logs checking the destination).
    pub message_type: String,
    /// The source log group.
    #[serde(default)]
    pub log_group: String,
    /// The source log stream.
    #[serde(default)]
    pub log_stream: String,
    /// The lines.
    #[serde(default)]
    pub log_events: Vec<LogEvent>,
}

impl LogsData {
    /// A control message carries no log lines: acknowledge it and do nothing.
    pub fn is_control(&self) -> bool {
        self.message_type == "CONTROL_MESSAGE"
    }
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogEvent {
    /// CloudWatch Logs' unique event id: the dedupe key.
    pub id: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The line.
    pub message: String,
}

/// Decodes a subscription payload: base64, gzip, JSON.
pub fn decode_subscription(event: &Value) -> Result<LogsData, PayloadError> {
    let data = event
        .get("awslogs")
        .and_then(|a| a.get("data"))
        .and_then(Value::as_str)
        .ok_or(PayloadError::Missing)?;
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(PayloadError::Base64)?;
    let mut json = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed.as_slice())
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(PayloadError::Gzip)?;
    if json.len() as u64 > MAX_DECODED_BYTES {
        return Err(PayloadError::Gzip(std::io::Error::other(
            "larger than 16 MiB decompressed",
        )));
    }
    let value: Value = serde_json::from_slice(&json).map_err(PayloadError::Json)?;
    if !value.is_object() {
        // serde would also read the struct from an array of its fields.
        return Err(PayloadError::Json(serde::de::Error::custom("expected a JSON object")));
    }
    serde_json::from_value(value).map_err(PayloadError::Json)
}

/// What a channel line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// `whatsapp`, `telegram`, ...
    pub channel: String,
    /// The account the line names, if any.
    pub account: Option<String>,
    /// The event.
    pub kind: ChannelEvent,
}

use clawkeeper_core::watch::health::CHANNELS;

/// Classifies one line in either console style; `None` for lines that are not channel events.
pub fn classify_line(line: &str) -> Option<Classified> {
    let line = line.trim();
    let (subsystem, message) = match json_line(line) {
        Some((subsystem, message)) => (subsystem, message),
        None => compact_line(line),
    };
    let lower = message.to_ascii_lowercase();
    let channel = subsystem
        .as_deref()
        .and_then(channel_of_subsystem)
        .or_else(|| channel_named_in(&lower))?;
    let kind = classify_message(&lower, &channel)?;
    Some(Classified {
        account: account_in(&message),
        channel,
        kind,
    })
}

/// `{"subsystem":"gateway/channels/whatsapp","message":"..."}` -> (subsystem, message).
fn json_line(line: &str) -> Option<(Option<String>, String)> {
    if !line.starts_with('{') {
        return None;
    }
    let value: Value = serde_json::from_str(line).ok()?;
    let message = match value.get("message") {
        Some(Value::String(m)) => m.clone(),
        // tslog file records keep the arguments as "0", "1", ...
        _ => value.get("0").and_then(Value::as_str)?.to_owned(),
    };
    let subsystem = value
        .get("subsystem")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            // File records name it in `_meta.name` as `{"subsystem":"..."}`.
            let name = value.get("_meta")?.get("name")?.as_str()?;
            let inner: Value = serde_json::from_str(name).ok()?;
            inner.get("subsystem")?.as_str().map(str::to_owned)
        });
    Some((subsystem, message))
}

/// `2026-11-20T08:00:00.000+00:00 [whatsapp] text` (time optional) -> (`whatsapp`, `text`).
fn compact_line(line: &str) -> (Option<String>, String) {
    let mut rest = line;
    // Skip a leading timestamp or level word before the first bracket.
    if let Some(open) = rest.find('[')
        && rest[..open].split_whitespace().count() <= 2
        && let Some(close) = rest[open..].find(']')
    {
        let prefix = rest[open + 1..open + close].trim().to_owned();
        rest = rest[open + close + 1..].trim_start();
        return (Some(prefix), rest.to_owned());
    }
    (None, rest.to_owned())
}

fn channel_of_subsystem(subsystem: &str) -> Option<String> {
    let lower = subsystem.to_ascii_lowercase();
    lower.split('/').find(|part| CHANNELS.contains(part)).map(str::to_owned)
}

fn channel_named_in(lower: &str) -> Option<String> {
    CHANNELS
        .iter()
        .find(|c| c.len() > 4 && lower.contains(*c))
        .map(|c| (*c).to_owned())
}

fn classify_message(lower: &str, channel: &str) -> Option<ChannelEvent> {
    let has = |needle: &str| lower.contains(needle);
    if channel == "telegram" {
        if has("getme returned 401") || has("bot token unauthorized") {
            return Some(ChannelEvent::TelegramUnauthorized);
        }
        if has("getupdates conflict") || (has("409") && has("conflict")) {
            return Some(ChannelEvent::TelegramConflict);
        }
    }
    if has("cleared cached auth") {
        return Some(ChannelEvent::AuthCleared);
    }
    if has("logged out") || has("loggedout") || status_code(lower, "401") {
        return Some(ChannelEvent::LoggedOut);
    }
    if status_code(lower, "440") || (has("conflict") && has("replaced")) {
        return Some(ChannelEvent::Conflict);
    }
    if has("max attempts reached") {
        return Some(ChannelEvent::ReconnectExhausted);
    }
    if has("giving up after") && has("restart attempts") {
        return Some(ChannelEvent::GaveUp);
    }
    if has("autostart suppressed by crash-loop breaker") {
        return Some(ChannelEvent::BreakerSuppressed);
    }
    if connected(lower) {
        return Some(ChannelEvent::Connected);
    }
    None
}

/// `status 401`, `status=440`, `statusCode: 440`, `(440)`, `code 440`.
fn status_code(lower: &str, code: &str) -> bool {
    [
        "status ",
        "status=",
        "status: ",
        "statuscode: ",
        "statuscode=",
        "code ",
        "code=",
        "(",
    ]
    .iter()
    .any(|prefix| {
        lower.match_indices(prefix).any(|(i, p)| {
            let after = &lower[i + p.len()..];
            after.starts_with(code) && !after[code.len()..].starts_with(|c: char| c.is_ascii_digit())
        })
    })
}

/// Lines that say the channel is up: `connected`, `reconnected`, `listening for ... inbound`, never
/// `disconnected`, `not connected`, `connected=false`.
fn connected(lower: &str) -> bool {
    if lower.contains("listening for") && lower.contains("inbound") {
        return true;
    }
    lower.match_indices("connected").any(|(i, w)| {
        let before = &lower[..i];
        let after = &lower[i + w.len()..];
        let negated = before.ends_with("dis") || before.ends_with("not ") || before.ends_with("un");
        let word_start =
            before.is_empty() || before.ends_with("re") || !before.ends_with(|c: char| c.is_alphanumeric() || c == '_');
        !negated && word_start && !after.starts_with("=false") && !after.starts_with(": false")
    })
}

/// `[work] giving up...`, `... account work.`, `account "work"`.
fn account_in(message: &str) -> Option<String> {
    let valid = |a: &str| {
        !a.is_empty() && a.len() <= 64 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if let Some(rest) = message.trim_start().strip_prefix('[')
        && let Some(end) = rest.find(']')
        && valid(&rest[..end])
        && !CHANNELS.contains(&rest[..end].to_ascii_lowercase().as_str())
    {
        return Some(rest[..end].to_owned());
    }
    let lower = message.to_ascii_lowercase();
    let at = lower.find("account ")?;
    let word: String = message[at + "account ".len()..]
        .trim_start_matches('"')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    valid(&word).then_some(word)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../../tests/fixtures/events/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("fixture");
        serde_json::from_str(&text).expect("fixture json")
    }

    fn payload(data: &Value) -> Value {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data.to_string().as_bytes()).expect("gzip");
        let bytes = gz.finish().expect("gzip");
        serde_json::json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(bytes)}})
    }

    #[test]
    fn the_fixture_decodes_to_its_documented_form() {
        let decoded = decode_subscription(&fixture("logs-whatsapp-logged-out.json")).expect("decodes");
        let expected: LogsData =
            serde_json::from_value(fixture("logs-whatsapp-logged-out.decoded.json")).expect("decoded fixture");
        assert_eq!(decoded, expected);
        assert_eq!(decoded.log_group, "/ecs/openclaw-gateway");
        assert!(!decoded.is_control());
        let kinds: Vec<_> = decoded
            .log_events
            .iter()
            .map(|e| classify_line(&e.message).map(|c| (c.channel, c.kind)))
            .collect();
        assert_eq!(
            kinds,
            [
                Some(("whatsapp".to_string(), ChannelEvent::LoggedOut)),
                Some(("whatsapp".to_string(), ChannelEvent::AuthCleared)),
            ]
        );
    }

    #[test]
    fn malformed_payloads_are_errors_and_control_messages_are_recognised() {
        assert!(matches!(
            decode_subscription(&serde_json::json!({})),
            Err(PayloadError::Missing)
        ));
        let not_b64 = serde_json::json!({"awslogs": {"data": "%%%"}});
        assert!(matches!(decode_subscription(&not_b64), Err(PayloadError::Base64(_))));
        let garbage = base64::engine::general_purpose::STANDARD.encode(b"definitely not gzip");
        let garbage = serde_json::json!({"awslogs": {"data": garbage}});
        let e = decode_subscription(&garbage).expect_err("not gzip");
        assert!(
            matches!(e, PayloadError::Gzip(_)) && e.to_string().contains("gzip"),
            "{e}"
        );
        let not_json = payload(&serde_json::json!(["a"]));
        assert!(matches!(decode_subscription(&not_json), Err(PayloadError::Json(_))));
        let control = payload(
            &serde_json::json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs",
            "logGroup": "", "logStream": "", "subscriptionFilters": [], "logEvents": [
                {"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda."}]}),
        );
        assert!(decode_subscription(&control).expect("control").is_control());
    }

    #[test]
    fn compact_lines_of_every_signal_are_classified() {
        let cases: &[(&str, &str, ChannelEvent, Option<&str>)] = &[
            (
                "2026-11-20T08:00:00.000+00:00 [whatsapp] WhatsApp session logged out. Run `openclaw channels login --channel whatsapp` to relink.",
                "whatsapp",
                ChannelEvent::LoggedOut,
                None,
            ),
            (
                "[whatsapp] [work] connection closed: status 401",
                "whatsapp",
                ChannelEvent::LoggedOut,
                Some("work"),
            ),
            (
                "[whatsapp] web connection closed (status 440): conflict, replaced by another session",
                "whatsapp",
                ChannelEvent::Conflict,
                None,
            ),
            (
                "[whatsapp] web reconnect: max attempts reached (12/12); stopping",
                "whatsapp",
                ChannelEvent::ReconnectExhausted,
                None,
            ),
            (
                "[whatsapp] web reconnect: cleared cached auth after terminal close",
                "whatsapp",
                ChannelEvent::AuthCleared,
                None,
            ),
            (
                "[whatsapp] [default] giving up after 10 restart attempts",
                "whatsapp",
                ChannelEvent::GaveUp,
                Some("default"),
            ),
            (
                "[whatsapp] channel autostart suppressed by crash-loop breaker; refusing automatic start for whatsapp account work. Run ...",
                "whatsapp",
                ChannelEvent::BreakerSuppressed,
                Some("work"),
            ),
            (
                "[telegram] Telegram bot token unauthorized for account \"default\" (getMe returned 401 from Telegram; source: env token).",
                "telegram",
                ChannelEvent::TelegramUnauthorized,
                Some("default"),
            ),
            (
                "[telegram] [telegram][diag] isolated polling ingress failed: Telegram getUpdates conflict: Conflict: terminated by other getUpdates request.",
                "telegram",
                ChannelEvent::TelegramConflict,
                None,
            ),
            (
                "[whatsapp] WhatsApp Web connected",
                "whatsapp",
                ChannelEvent::Connected,
                None,
            ),
            (
                "[whatsapp] Listening for personal WhatsApp inbound messages.",
                "whatsapp",
                ChannelEvent::Connected,
                None,
            ),
            (
                "[whatsapp] [work] reconnected",
                "whatsapp",
                ChannelEvent::Connected,
                Some("work"),
            ),
        ];
        for (line, channel, kind, account) in cases {
            let got = classify_line(line).unwrap_or_else(|| panic!("not classified: {line}"));
            assert_eq!(
                (got.channel.as_str(), got.kind, got.account.as_deref()),
                (*channel, *kind, *account),
                "{line}"
            );
        }
    }

    #[test]
    fn json_style_lines_are_classified_from_subsystem_and_message() {
        let line = r#"{"time":"2026-11-20T08:00:00.000+00:00","level":"warn","subsystem":"gateway/channels/whatsapp","message":"WhatsApp session logged out. Run `openclaw channels login --channel whatsapp` to relink."}"#;
        let got = classify_line(line).expect("classified");
        assert_eq!((got.channel.as_str(), got.kind), ("whatsapp", ChannelEvent::LoggedOut));
        let line = r#"{"time":"t","level":"error","subsystem":"channels/telegram","message":"[default] giving up after 10 restart attempts"}"#;
        let got = classify_line(line).expect("classified");
        assert_eq!(
            (got.channel.as_str(), got.kind, got.account.as_deref()),
            ("telegram", ChannelEvent::GaveUp, Some("default"))
        );
    }

    #[test]
    fn other_lines_are_ignored() {
        for line in [
            "",
            "2026-11-20T08:00:00.000+00:00 [gateway] listening on ws://0.0.0.0:18789",
            "[whatsapp] WhatsApp Web disconnected; reconnecting in 2s",
            "[whatsapp] node wake done connected=false reason=not_connected",
            "[gateway] authenticated user connected conn=abc",
            "[whatsapp] inbound message from +15550001 handled",
            r#"{"level":"info","subsystem":"gateway","message":"ready"}"#,
            "{not json at all",
            "[telegram] sendMessage ok 200",
        ] {
            assert_eq!(classify_line(line), None, "{line}");
        }
    }
}
