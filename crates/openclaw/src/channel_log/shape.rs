//! The shapes a gateway log line takes, read into one [`Line`]: who logged it, its text, and the
//! structured fields a classification needs (a close status, a logged-out flag, an account).
//!
//! What OpenClaw 2026.9.6 prints (read from `dist/subsystem-*.mjs`, `dist/console-*.mjs`,
//! `dist/json-console-line-*.mjs` and `dist/logger-*.mjs`):
//! - **compact console** (no TTY; the gateway turns the timestamp prefix on):
//!   `2026-11-20T08:00:00.000+00:00 [whatsapp] text key=value ...`, the subsystem shortened, warn and
//!   error lines with their fields as a `key=value` tail, colours when `TERM`/`FORCE_COLOR` ask;
//! - **JSON console** (`logging.consoleStyle: "json"`): `{...fields, "time", "level", "subsystem",
//!   "message"}`, the fields spread at the top; raw `console.*` output has no `subsystem`;
//! - **tslog file records** (the file log, shipped only if a deployment tails it): the logger's
//!   arguments as `"0"`, `"1"`, ...: `"0"` the logger's bindings as a JSON string
//!   (`{"subsystem":"channels/whatsapp"}`, `{"module":"web-reconnect","runId":"..."}`), then a
//!   fields object and the message; `_meta` carries `logLevelName`, `name` (the same bindings) and
//!   `parentNames`.
//!
//! Work per line is bounded: lines over [`MAX_LINE_BYTES`] are not read at all, JSON nesting
//! deeper than serde_json's recursion limit fails to parse, and the structured walk looks at a
//! fixed number of arguments and levels.

use serde_json::{Map, Value};

use super::subsystems::{Owner, owner_of_module, owner_of_subsystem};

/// Longest line read. OpenClaw's own channel lines are far shorter: file records clamp a message
/// to 4096 characters and the console's field tail to 2048; anything longer is not one of them,
/// and skipping it keeps a hostile line from costing more than a bounded parse.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// tslog arguments looked at (`"0"` .. `"15"`): OpenClaw logs a bindings prefix, one fields object
/// and a message.
const MAX_ARGS: usize = 16;

/// Levels of nested objects searched for a status (`lastDisconnect.error.output.statusCode` is 3).
const MAX_DEPTH: usize = 4;

/// Longest bindings string parsed as JSON (OpenClaw's own are well under 200 bytes).
const MAX_BINDINGS_BYTES: usize = 1024;

/// Which shape the line had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Console text, `[subsystem] message` or no prefix at all.
    Text,
    /// `logging.consoleStyle: "json"` line.
    JsonConsole,
    /// tslog record of the file log.
    Tslog,
}

/// One line, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub shape: Shape,
    /// Whose logger wrote it; `None` when the line names no logger (raw console output).
    pub owner: Option<Owner>,
    /// The human text (the message arguments joined).
    pub text: String,
    /// A status code read from structured fields, if any.
    pub status: Option<u16>,
    /// `loggedOut` / `isLoggedOut` from structured fields, if any.
    pub logged_out: Option<bool>,
    /// `accountId` from structured fields or bindings, if any.
    pub account: Option<String>,
}

/// Reads a line in any of the shapes; `None` for a line that is too long, or that starts like a
/// JSON object and is not one (a cut or corrupted record: its text is not trusted).
pub fn read(line: &str) -> Option<Line> {
    if line.len() > MAX_LINE_BYTES {
        return None;
    }
    let cleaned;
    let mut line = line.trim();
    if line.contains('\u{1b}') {
        cleaned = strip_ansi(line);
        line = cleaned.trim();
    }
    if line.starts_with('{') {
        let Ok(Value::Object(record)) = serde_json::from_str::<Value>(line) else {
            return None;
        };
        return json_record(&record);
    }
    Some(text_line(line))
}

/// A JSON line: a tslog record when it has numbered arguments, else a JSON console line.
fn json_record(record: &Map<String, Value>) -> Option<Line> {
    if record.contains_key("0") {
        tslog_record(record)
    } else {
        json_console(record)
    }
}

/// `{"time":...,"level":"error","subsystem":"channels/whatsapp","message":"...", ...fields}`.
fn json_console(record: &Map<String, Value>) -> Option<Line> {
    let text = record.get("message")?.as_str()?.to_owned();
    let owner = record.get("subsystem").and_then(Value::as_str).map(owner_of_subsystem);
    let fields = [record];
    Some(Line {
        shape: Shape::JsonConsole,
        owner,
        text,
        status: fields.iter().find_map(|f| status_in(f, MAX_DEPTH)),
        logged_out: fields.iter().find_map(|f| logged_out_in(f, MAX_DEPTH)),
        account: fields.iter().find_map(|f| account_field(f)),
    })
}

/// `{"0":"{\"module\":\"web-reconnect\",...}","1":{"status":440,...},"2":"web reconnect: ...",
/// "_meta":{...},"time":...,"message":"..."}`.
fn tslog_record(record: &Map<String, Value>) -> Option<Line> {
    let mut args: Vec<&Value> = (0..MAX_ARGS).map_while(|i| record.get(&i.to_string())).collect();
    // The logger's bindings come first when it has any (OpenClaw passes them as tslog's `prefix`).
    let mut bindings = args.first().and_then(|a| bindings_of(a));
    if bindings.is_some() {
        args.remove(0);
    }
    let meta = record.get("_meta").and_then(Value::as_object);
    if bindings.is_none() {
        // The same bindings name the logger in `_meta.name`, or a parent's in `parentNames`.
        bindings = meta.and_then(|m| {
            let name = m.get("name").into_iter();
            let parents = m
                .get("parentNames")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .rev();
            name.chain(parents).take(MAX_ARGS).find_map(bindings_of)
        });
    }
    let owner = bindings.as_ref().and_then(|b| {
        if let Some(subsystem) = b.get("subsystem").and_then(Value::as_str) {
            return Some(owner_of_subsystem(subsystem));
        }
        let module = b.get("module").and_then(Value::as_str)?;
        Some(owner_of_module(module).map_or(Owner::Other, Owner::Channel))
    });
    let mut parts = Vec::new();
    let mut fields = Vec::new();
    for arg in &args {
        match arg {
            Value::String(s) => parts.push(s.as_str()),
            Value::Number(_) | Value::Bool(_) => {}
            Value::Object(o) => {
                // An object with a string `message` is an error or a record the message comes from
                // (OpenClaw's `buildFileLogMessage` reads it the same way); its fields still count.
                if let Some(m) = o.get("message").and_then(Value::as_str) {
                    parts.push(m);
                }
                fields.push(o);
            }
            Value::Array(_) | Value::Null => {}
        }
    }
    let text = if parts.is_empty() {
        // OpenClaw also writes the message it derived as a top-level `message`.
        record.get("message").and_then(Value::as_str)?.to_owned()
    } else {
        parts.join(" ")
    };
    let binding_fields = bindings.iter();
    Some(Line {
        shape: Shape::Tslog,
        owner,
        text,
        status: fields.iter().find_map(|f| status_in(f, MAX_DEPTH)),
        logged_out: fields.iter().find_map(|f| logged_out_in(f, MAX_DEPTH)),
        account: fields.iter().copied().chain(binding_fields).find_map(account_field),
    })
}

/// A tslog bindings string (`{"subsystem":"..."}`) as an object, if it is one.
fn bindings_of(value: &Value) -> Option<Map<String, Value>> {
    let s = value.as_str()?.trim();
    if !s.starts_with('{') || s.len() > MAX_BINDINGS_BYTES {
        return None;
    }
    match serde_json::from_str(s).ok()? {
        Value::Object(b) if b.contains_key("subsystem") || b.contains_key("module") => Some(b),
        _ => None,
    }
}

/// A status code the way the WhatsApp plugin reads one (`session-errors.ts`: `getStatusCode` is
/// `err.output.statusCode ?? err.status ?? err.error.output.statusCode`; `formatError` also looks in
/// `lastDisconnect.error` and a Boom's `output.payload.statusCode`), plus `statusCode`, which the
/// status sink and other channels use. Walks at most `depth` levels.
fn status_in(fields: &Map<String, Value>, depth: usize) -> Option<u16> {
    let output = fields.get("output").and_then(Value::as_object);
    let direct = [
        output.and_then(|o| o.get("statusCode")),
        output.and_then(|o| o.get("payload")).and_then(|p| p.get("statusCode")),
        fields.get("status"),
        fields.get("statusCode"),
    ];
    if let Some(code) = direct.into_iter().flatten().find_map(status_code) {
        return Some(code);
    }
    if depth == 0 {
        return None;
    }
    ["error", "lastDisconnect", "err", "nativeError", "cause", "reason"]
        .iter()
        .filter_map(|k| fields.get(*k).and_then(Value::as_object))
        .find_map(|inner| status_in(inner, depth - 1))
}

/// An HTTP-like status: a number in 100..=599, or such a number as a string (`statusLabel` is the
/// number, or `"unknown"`).
fn status_code(value: &Value) -> Option<u16> {
    let n = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) if s.len() == 3 => s.parse().ok()?,
        _ => return None,
    };
    u16::try_from(n).ok().filter(|n| (100..=599).contains(n))
}

/// `loggedOut` (the reconnect loop's records) or `isLoggedOut` (the close reason itself).
fn logged_out_in(fields: &Map<String, Value>, depth: usize) -> Option<bool> {
    if let Some(b) = ["loggedOut", "isLoggedOut"]
        .iter()
        .find_map(|k| fields.get(*k).and_then(Value::as_bool))
    {
        return Some(b);
    }
    if depth == 0 {
        return None;
    }
    ["error", "lastDisconnect", "reason"]
        .iter()
        .filter_map(|k| fields.get(*k).and_then(Value::as_object))
        .find_map(|inner| logged_out_in(inner, depth - 1))
}

/// `accountId` as a string field.
fn account_field(fields: &Map<String, Value>) -> Option<String> {
    fields
        .get("accountId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
}

/// `2026-11-20T08:00:00.000+00:00 [whatsapp] text` (time optional) -> (`whatsapp`, `text`).
fn text_line(line: &str) -> Line {
    let (owner, text) = match bracket_prefix(line) {
        Some((prefix, rest)) => (Some(owner_of_subsystem(prefix)), rest),
        None => (None, line),
    };
    Line {
        shape: Shape::Text,
        owner,
        text: text.to_owned(),
        status: None,
        logged_out: None,
        account: None,
    }
}

/// The `[subsystem]` after at most a timestamp and a level word, and the text after it.
fn bracket_prefix(line: &str) -> Option<(&str, &str)> {
    let open = line.find('[')?;
    if line[..open].split_whitespace().count() > 2 {
        return None;
    }
    let close = open + line[open..].find(']')?;
    Some((line[open + 1..close].trim(), line[close + 1..].trim_start()))
}

/// The text without terminal colour codes (`ESC [ ... letter`), which chalk adds when the
/// container's `TERM` or `FORCE_COLOR` asks for colour.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in `@`..=`~`.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_are_stripped_before_the_prefix_is_read() {
        let line =
            "\u{1b}[90m2026-11-20T08:00:00.000+00:00\u{1b}[39m \u{1b}[36m[whatsapp]\u{1b}[39m \u{1b}[31mboom\u{1b}[39m";
        let got = read(line).expect("read");
        assert_eq!(got.owner, Some(Owner::Channel("whatsapp")));
        assert_eq!(got.text, "boom");
    }

    #[test]
    fn nested_boom_errors_give_their_status_the_way_the_plugin_reads_it() {
        let cases = [
            (r#"{"output":{"statusCode":440}}"#, Some(440)),
            (r#"{"output":{"payload":{"statusCode":401}}}"#, Some(401)),
            (r#"{"status":"440"}"#, Some(440)),
            (r#"{"status":"unknown"}"#, None),
            (r#"{"statusCode":515}"#, Some(515)),
            (r#"{"error":{"output":{"statusCode":440}}}"#, Some(440)),
            (
                r#"{"lastDisconnect":{"error":{"output":{"statusCode":401}}}}"#,
                Some(401),
            ),
            (r#"{"nativeError":{"output":{"statusCode":440}}}"#, Some(440)),
            (r#"{"status":70000}"#, None),
            (r#"{"status":-1}"#, None),
            (
                r#"{"error":{"error":{"error":{"error":{"error":{"status":440}}}}}}"#,
                None,
            ),
        ];
        for (json, want) in cases {
            let Value::Object(o) = serde_json::from_str(json).expect("json") else {
                panic!("object")
            };
            assert_eq!(status_in(&o, MAX_DEPTH), want, "{json}");
        }
    }

    #[test]
    fn tslog_bindings_come_from_the_prefix_or_from_meta() {
        let from_meta = r#"{"0":"WhatsApp Web connection closed (status 440: session conflict).","_meta":{"name":"{\"subsystem\":\"channels/whatsapp\"}","parentNames":["openclaw"],"logLevelName":"ERROR"}}"#;
        let got = read(from_meta).expect("read");
        assert_eq!((got.shape, got.owner), (Shape::Tslog, Some(Owner::Channel("whatsapp"))));
        let root = r#"{"0":"plain","_meta":{"name":"openclaw","logLevelName":"INFO"}}"#;
        assert_eq!(read(root).expect("read").owner, None);
        let other = r#"{"0":"{\"module\":\"cron\"}","1":"tick"}"#;
        assert_eq!(read(other).expect("read").owner, Some(Owner::Other));
    }

    #[test]
    fn overlong_and_broken_json_lines_are_not_read() {
        assert_eq!(read(&"a".repeat(MAX_LINE_BYTES + 1)), None);
        assert_eq!(read(r#"{"subsystem":"channels/whatsapp","message":"logged out""#), None);
        assert_eq!(read(r#"["not", "an", "object"]"#).map(|l| l.shape), Some(Shape::Text));
        assert_eq!(read("{}"), None);
    }
}
