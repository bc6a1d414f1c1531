//! OpenClaw's channel log lines, as a CloudWatch Logs subscription delivers them, turned into
//! [`ChannelSignal`](clawkeeper_core::watch::ChannelSignal) parts.
//!
//! The payload is `{"awslogs":{"data":"<base64 of gzip of JSON>"}}`; the JSON names the log group
//! and carries the log events. A line is read structurally in whichever shape OpenClaw wrote it
//! (`shape`): compact console text (`<time> [whatsapp] Web connection closed (status 440: ...)`, the
//! container's default), JSON console lines (`logging.consoleStyle: "json"`), or tslog file
//! records (numbered arguments, `_meta`) when a deployment ships the file log. The logger names the
//! channel from an explicit table ([`subsystems`]); a status code comes from structured fields
//! before the text; only then do the words decide.
//!
//! [`read_line`] gives every signal ([`LineSignal`]), [`classify_line`] the ones the engine has a
//! [`ChannelEvent`] for. Both return only a kind, a channel, an account and a status: callers log
//! the classification and the event id, never the line (it may carry personal data or secrets).

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

mod shape;
pub mod subsystems;

pub use shape::MAX_LINE_BYTES;
use subsystems::Owner;

/// What a channel line says, finer than [`ChannelEvent`]: every event the watchdog acts on, plus
/// the 2026.9 conflict stop and two states it does not act on. [`LineSignal::event`] maps it to
/// the [`ChannelEvent`] the engine takes today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineSignal {
    /// The session was logged out (status 401, `loggedOut: true`): the link is gone, relink.
    LoggedOut,
    /// Status 440 (another client took the session over), with nothing said about what follows:
    /// the reconnect loop's `connection closed` record, or an older release's wording.
    Conflict,
    /// Status 440 and the WhatsApp monitor stopped (2026.9: `isNonRetryableWebCloseStatus`):
    /// "Resolve conflicting WhatsApp Web sessions, then restart the channel ... Stopping web
    /// monitoring." The creds are kept and the gateway skips its auto-restart (a terminal
    /// disconnect), so the channel stays down until restarted, but it needs no relink.
    ConflictStopped,
    /// The reconnect loop stopped after its maximum attempts.
    ReconnectExhausted,
    /// OpenClaw deleted the cached credentials (after a logout): relink.
    AuthCleared,
    /// The channel manager stopped restarting the account (`giving up after 10 restart attempts`).
    GaveUp,
    /// `channel autostart suppressed by crash-loop breaker`.
    BreakerSuppressed,
    /// Telegram `getMe returned 401`: the bot token is wrong or revoked.
    TelegramUnauthorized,
    /// Telegram `getUpdates conflict` (409): another poller uses the bot token.
    TelegramConflict,
    /// The channel is connected (again): `Listening for WhatsApp inbound messages`, `reconnected`.
    Connected,
    /// The connection closed and a retry is scheduled: it heals by itself (no [`ChannelEvent`]).
    Reconnecting,
    /// A QR login is waiting for a scan (no [`ChannelEvent`]: an owner is relinking, or the account
    /// was never linked).
    QrRequired,
}

impl LineSignal {
    /// The engine's event for this signal; `None` for the states it does not act on.
    ///
    /// [`LineSignal::ConflictStopped`] is [`ChannelEvent::ConflictStopped`]: no relink (the creds
    /// are kept), a restart once the other client is gone; `log-alerts` still counts ECS tasks for
    /// it, as for any conflict (two writers are the usual cause).
    pub fn event(self) -> Option<ChannelEvent> {
        Some(match self {
            Self::LoggedOut => ChannelEvent::LoggedOut,
            Self::Conflict => ChannelEvent::Conflict,
            Self::ConflictStopped => ChannelEvent::ConflictStopped,
            Self::ReconnectExhausted => ChannelEvent::ReconnectExhausted,
            Self::AuthCleared => ChannelEvent::AuthCleared,
            Self::GaveUp => ChannelEvent::GaveUp,
            Self::BreakerSuppressed => ChannelEvent::BreakerSuppressed,
            Self::TelegramUnauthorized => ChannelEvent::TelegramUnauthorized,
            Self::TelegramConflict => ChannelEvent::TelegramConflict,
            Self::Connected => ChannelEvent::Connected,
            Self::Reconnecting | Self::QrRequired => return None,
        })
    }

    /// The link or credential is gone: only a relink (or a new token) brings the channel back.
    pub fn needs_relink(self) -> bool {
        matches!(self, Self::LoggedOut | Self::AuthCleared | Self::TelegramUnauthorized)
    }

    /// The stable name (logs, classification reports).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoggedOut => "logged_out",
            Self::Conflict => "conflict",
            Self::ConflictStopped => "conflict_stopped",
            Self::ReconnectExhausted => "reconnect_exhausted",
            Self::AuthCleared => "auth_cleared",
            Self::GaveUp => "gave_up",
            Self::BreakerSuppressed => "breaker_suppressed",
            Self::TelegramUnauthorized => "telegram_unauthorized",
            Self::TelegramConflict => "telegram_conflict",
            Self::Connected => "connected",
            Self::Reconnecting => "reconnecting",
            Self::QrRequired => "qr_required",
        }
    }
}

/// What a channel line says, with every signal [`read_line`] knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// `whatsapp`, `telegram`, ...
    pub channel: String,
    /// The account the line names, if any.
    pub account: Option<String>,
    /// What it says.
    pub signal: LineSignal,
    /// The close status it carries (structured field first, else its text), if any.
    pub status: Option<u16>,
}

impl Reading {
    /// The reading as the engine's classification; `None` for signals it does not act on.
    pub fn classified(self) -> Option<Classified> {
        Some(Classified {
            kind: self.signal.event()?,
            channel: self.channel,
            account: self.account,
            signal: self.signal,
            status: self.status,
        })
    }
}

/// What a channel line says, as the engine's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// `whatsapp`, `telegram`, ...
    pub channel: String,
    /// The account the line names, if any.
    pub account: Option<String>,
    /// The event.
    pub kind: ChannelEvent,
    /// The finer signal `kind` came from (tells a 2026.9 conflict stop from a plain conflict).
    pub signal: LineSignal,
    /// The close status the line carries, if any.
    pub status: Option<u16>,
}

/// Classifies one line of any shape (compact or JSON console, tslog file record); `None` for lines
/// that are not channel events the engine acts on.
pub fn classify_line(line: &str) -> Option<Classified> {
    read_line(line)?.classified()
}

/// Reads one line of any shape into a channel signal, including the ones the engine does not act on
/// ([`LineSignal::Reconnecting`], [`LineSignal::QrRequired`]); `None` for other lines.
///
/// The logger decides the channel: a channel's subsystem or WhatsApp module
/// ([`subsystems::owner_of_subsystem`]) names it; the gateway's and channel manager's own loggers
/// and raw console output leave it to the text; any other subsystem (agents, storage, plugins) is
/// never a channel line, whatever status or words it carries.
pub fn read_line(line: &str) -> Option<Reading> {
    let line = shape::read(line)?;
    let lower = line.text.to_ascii_lowercase();
    let channel = match line.owner {
        Some(Owner::Channel(channel)) => channel,
        Some(Owner::Other) => return None,
        Some(Owner::Generic) | None => subsystems::channel_named_in(&lower)?,
    };
    // A structured status wins; only without one does the text give it.
    let statuses: Vec<u16> = match line.status {
        Some(status) => vec![status],
        None => statuses_in_text(&lower).collect(),
    };
    let facts = Facts {
        lower: &lower,
        statuses: &statuses,
        logged_out: line.logged_out,
    };
    let signal = classify(&facts, channel)?;
    Some(Reading {
        channel: channel.to_owned(),
        account: line.account.or_else(|| account_in(&line.text)),
        signal,
        status: statuses.first().copied(),
    })
}

/// What classification looks at.
struct Facts<'a> {
    /// The text, lower-cased.
    lower: &'a str,
    /// The structured status, or else every status the text gives, in order.
    statuses: &'a [u16],
    /// `loggedOut` from structured fields.
    logged_out: Option<bool>,
}

impl Facts<'_> {
    fn has(&self, needle: &str) -> bool {
        self.lower.contains(needle)
    }

    /// The line carries status `code`.
    fn status_is(&self, code: u16) -> bool {
        self.statuses.contains(&code)
    }
}

/// The classification. Structured facts come before words: the reconnect loop's setup stop says
/// "max attempts reached" for a 440 or a 401 too, and only its `status` field tells them apart.
fn classify(f: &Facts<'_>, channel: &str) -> Option<LineSignal> {
    if channel == "telegram" {
        if f.has("getme returned 401") || f.has("bot token unauthorized") {
            return Some(LineSignal::TelegramUnauthorized);
        }
        if f.has("getupdates conflict") || ((f.status_is(409) || f.has("409")) && f.has("conflict")) {
            return Some(LineSignal::TelegramConflict);
        }
    }
    // `login.ts` / `connection-controller.ts`: "WhatsApp reported the session is logged out.
    // Cleared cached web session; ..."; `logoutWeb`: "Cleared WhatsApp Web credentials."
    if f.has("cleared cached auth") || f.has("cleared cached web session") || f.has("cleared whatsapp web credentials")
    {
        return Some(LineSignal::AuthCleared);
    }
    if f.logged_out == Some(true) || f.status_is(401) || logged_out_text(f.lower) {
        return Some(LineSignal::LoggedOut);
    }
    if f.status_is(440) || f.has("session conflict") || (f.has("conflict") && f.has("replaced")) {
        // 2026.9 stops the monitor on any 440; the line says so in one of these ways.
        let stopped = f.has("restart the channel")
            || f.has("stopping")
            || f.has("max attempts reached")
            || f.has("non-retryable");
        return Some(if stopped {
            LineSignal::ConflictStopped
        } else {
            LineSignal::Conflict
        });
    }
    if f.has("max attempts reached")
        || f.has("stopping web monitoring")
        || (f.has("closed during setup") && f.has(" attempts."))
    {
        return Some(LineSignal::ReconnectExhausted);
    }
    if f.has("giving up after") && f.has("restart attempts") {
        return Some(LineSignal::GaveUp);
    }
    if f.has("autostart suppressed by crash-loop breaker") {
        return Some(LineSignal::BreakerSuppressed);
    }
    if connected(f.lower) {
        return Some(LineSignal::Connected);
    }
    if f.has("scan this qr") || f.has("qr received") || f.has("no whatsapp web session found") {
        return Some(LineSignal::QrRequired);
    }
    let reconnecting = [
        "connection closed",
        "scheduling retry",
        "reconnecting",
        "forcing reconnect",
        "restarting connection",
        "auto-restart attempt",
    ];
    if reconnecting.iter().any(|n| f.has(n)) || disconnected(f.lower) {
        return Some(LineSignal::Reconnecting);
    }
    None
}

/// `logged out`, `loggedOut`, but not `loggedOut=false` (a console field tail).
fn logged_out_text(lower: &str) -> bool {
    lower.contains("logged out")
        || lower.match_indices("loggedout").any(|(i, w)| {
            let after = lower[i + w.len()..].trim_start_matches(['"', ' ']);
            let after = after.strip_prefix(['=', ':']).map_or(after, str::trim_start);
            !after.starts_with("false")
        })
}

/// Status codes the text gives, in order: `status 401`, `status=440`, `status: 440`,
/// `statusCode: 440`, `"status":440`, `code 440`, `(440)`.
fn statuses_in_text(lower: &str) -> impl Iterator<Item = u16> + '_ {
    const PREFIXES: &[&str] = &[
        "status ",
        "status=",
        "status: ",
        "statuscode: ",
        "statuscode=",
        "\"status\":",
        "\"statuscode\":",
        "code ",
        "code=",
        "(",
    ];
    let mut found: Vec<(usize, u16)> = PREFIXES
        .iter()
        .flat_map(|prefix| {
            lower.match_indices(prefix).filter_map(|(i, p)| {
                let after = &lower.as_bytes()[i + p.len()..];
                let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
                if digits != 3 {
                    return None;
                }
                let code = after[..3].iter().fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
                (100..=599).contains(&code).then_some((i, code))
            })
        })
        .collect();
    found.sort_unstable();
    found.into_iter().map(|(_, code)| code)
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

/// `disconnected` as a word (`WhatsApp Web disconnected; reconnecting`), not `not_connected`.
fn disconnected(lower: &str) -> bool {
    lower
        .match_indices("disconnected")
        .any(|(i, _)| !lower[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
}

/// Bracket tags that are not account ids: OpenClaw's own diagnostic tags (`[telegram][diag]`).
const NOT_ACCOUNTS: &[&str] = &["diag"];

/// `[work] giving up...` (the channel manager's prefix), `for whatsapp account work.` (the breaker),
/// `for account "work"` (Telegram). A bare `account <word>` counts only where the word ends the
/// clause: `switch this account to webhook mode` names no account.
fn account_in(message: &str) -> Option<String> {
    let id_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let valid = |a: &str| !a.is_empty() && a.len() <= 64 && a.chars().all(id_char);
    if let Some(rest) = message.trim_start().strip_prefix('[')
        && let Some(end) = rest.find(']')
        && valid(&rest[..end])
        && subsystems::channel_id(&rest[..end]).is_none()
        && !NOT_ACCOUNTS.iter().any(|t| t.eq_ignore_ascii_case(&rest[..end]))
    {
        return Some(rest[..end].to_owned());
    }
    let lower = message.to_ascii_lowercase();
    lower.match_indices("account ").find_map(|(at, w)| {
        let rest = &message[at + w.len()..];
        let (quoted, rest) = match rest.strip_prefix('"') {
            Some(inner) => (true, inner),
            None => (false, rest),
        };
        let end = rest.find(|c: char| !id_char(c)).unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        let closed = if quoted {
            after.starts_with('"')
        } else {
            after.is_empty() || after.starts_with(['.', ',', ';', ':', ')'])
        };
        (closed && valid(word)).then(|| word.to_owned())
    })
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

    #[test]
    fn a_440_that_stops_the_monitor_is_told_from_a_plain_conflict() {
        let read = |line: &str| read_line(line).map(|r| (r.signal, r.status));
        // 2026.9's wording (the compact console drops the leading "WhatsApp").
        assert_eq!(
            read(
                "[whatsapp] Web connection closed (status 440: session conflict). Resolve conflicting WhatsApp Web \
                  sessions, then restart the channel. Stopping web monitoring."
            ),
            Some((LineSignal::ConflictStopped, Some(440)))
        );
        assert_eq!(
            read("[whatsapp] web connection closed (status 440): conflict, replaced by another session"),
            Some((LineSignal::Conflict, Some(440)))
        );
        // The stop is the engine's ConflictStopped (no relink), the bare close its Conflict; the
        // ECS check for a second task runs for either (`log-alerts`).
        for (line, kind) in [
            (
                "[whatsapp] Web connection closed (status 440: session conflict). Stopping web monitoring.",
                ChannelEvent::ConflictStopped,
            ),
            (
                "[whatsapp] web connection closed (status 440): conflict, replaced by another session",
                ChannelEvent::Conflict,
            ),
        ] {
            assert_eq!(classify_line(line).map(|c| c.kind), Some(kind), "{line}");
        }
    }

    #[test]
    fn structured_fields_decide_before_words() {
        // The setup stop says "max attempts reached" whatever the status: 401 is a logout.
        let line = r#"{"0":"{\"module\":\"web-reconnect\",\"runId\":\"r\"}","1":{"status":401},"2":"web reconnect: setup status error; max attempts reached"}"#;
        assert_eq!(classify_line(line).map(|c| c.kind), Some(ChannelEvent::LoggedOut));
        // `loggedOut: true` alone is a logout; `loggedOut=false` in a console tail is not.
        let line = r#"{"time":"t","level":"warn","subsystem":"channels/whatsapp","message":"closed","loggedOut":true}"#;
        assert_eq!(classify_line(line).map(|c| c.kind), Some(ChannelEvent::LoggedOut));
        assert_eq!(
            read_line("[whatsapp] web reconnect: connection closed status=428 loggedOut=false").map(|r| r.signal),
            Some(LineSignal::Reconnecting)
        );
        // A Boom error nested the way Baileys hands it over.
        let line = r#"{"subsystem":"gateway/channels/whatsapp","message":"socket closed","lastDisconnect":{"error":{"output":{"statusCode":440,"payload":{"statusCode":440,"error":"Unknown","message":"Stream Errored (conflict)"}}}}}"#;
        assert_eq!(
            read_line(line).map(|r| (r.signal, r.status)),
            Some((LineSignal::Conflict, Some(440)))
        );
        // An account from the fields.
        let line = r#"{"subsystem":"channels/whatsapp","message":"Listening for WhatsApp inbound messages.","accountId":"work"}"#;
        assert_eq!(classify_line(line).and_then(|c| c.account).as_deref(), Some("work"));
    }

    #[test]
    fn a_subsystem_that_is_no_channel_gives_no_signal_whatever_it_says() {
        for line in [
            "2026-11-20T08:00:00.000+00:00 [agents/tools] whatsapp send failed: status 401",
            "[web-push] push endpoint answered status 440 for whatsapp relay status=440",
            r#"{"time":"t","level":"error","subsystem":"state/db","message":"WhatsApp session logged out"}"#,
            r#"{"0":"{\"module\":\"cron\"}","1":{"status":440},"2":"whatsapp job failed"}"#,
        ] {
            assert_eq!(read_line(line), None, "{line}");
        }
        // The gateway's and the channel manager's own loggers leave the channel to the text.
        assert_eq!(
            classify_line("[channels] whatsapp session logged out").map(|c| c.channel),
            Some("whatsapp".to_owned())
        );
    }

    #[test]
    fn accounts_are_read_only_where_a_line_names_one() {
        let account = |line: &str| read_line(line).and_then(|r| r.account);
        assert_eq!(
            account(
                "[telegram] [diag] isolated polling ingress failed: Telegram getUpdates conflict: (409: Conflict). \
                 Another OpenClaw gateway may be using this bot token; stop the duplicate poller or switch this \
                 account to webhook mode."
            ),
            None
        );
        assert_eq!(
            account(
                "[whatsapp] channel autostart suppressed by crash-loop breaker; refusing automatic start for whatsapp account work. Run ..."
            ),
            Some("work".to_owned())
        );
        assert_eq!(
            account(
                "[telegram] Telegram bot token unauthorized for account \"ops-2\" (getMe returned 401 from Telegram)."
            ),
            Some("ops-2".to_owned())
        );
        assert_eq!(account("[whatsapp] [work] reconnected"), Some("work".to_owned()));
    }
}
