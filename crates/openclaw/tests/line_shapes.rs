//! Every shape an OpenClaw 2026.9.6 gateway prints a channel line in, classified from fixtures the
//! real logger wrote (`tests/fixtures/lines/generate.mjs` runs it; each case there names the dist
//! function whose call it repeats), plus hostile lines that must give no signal and never panic.
//!
//! Where the shapes come from (OpenClaw `dist/`, WhatsApp plugin `@openclaw/whatsapp/dist/.setup/`):
//! - `compact-*`: `subsystem-*.mjs` `createConsoleLineFormatter` (the container default: no TTY, no
//!   colour; `run-*.mjs` `gateway run` turns on `setConsoleTimestampPrefix`). The subsystem shows
//!   shortened (`channels/whatsapp` as `[whatsapp]`) and `stripRedundantSubsystemPrefixForConsole`
//!   drops a leading `WhatsApp` from the message: `[whatsapp] Web connection closed (status 440...`.
//!   Raw `console.*` output (`console-*.mjs` `enableConsoleCapture`) has no bracket at all.
//! - `colour-*`: the same with `TERM=xterm` (chalk colour codes around time, prefix and message).
//! - `json-*`: `json-console-line-*.mjs` `formatJsonConsoleLine` (`logging.consoleStyle: "json"`):
//!   `{...fields,"time","level","subsystem","message"}`; raw console output without `subsystem`.
//! - `tslog-*`: `logger-*.mjs` `buildLogger`'s file transport: tslog's numbered arguments, `"0"` the
//!   logger's bindings (`{"subsystem":...}` or `{"module":"web-reconnect",...}`), `_meta`. The
//!   reconnect loop (`monitor-*.mjs` `monitorWebChannel`, `reconnectLogger`) writes only these.
//! - `negative-*`: written by hand: JSON no OpenClaw logger writes, and records cut mid-way.
//!
//! The signals follow what 2026.9 does: a 440 stops the WhatsApp monitor and keeps the creds
//! (`isNonRetryableWebCloseStatus`, "restart the channel"), a 401 is a logout that needs a relink.

use std::time::{Duration, Instant};

use clawkeeper_core::watch::ChannelEvent;
use clawkeeper_openclaw::channel_log::{LineSignal, MAX_LINE_BYTES, Reading, classify_line, read_line};
use proptest::prelude::*;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lines");

type Want = Option<(&'static str, LineSignal, Option<&'static str>, Option<u16>)>;

/// Each fixture and what it says: (channel, signal, account, status), or nothing.
const EXPECTED: &[(&str, Want)] = &[
    // The 440 stop: conflict, channel stopped, creds kept.
    (
        "compact-whatsapp-conflict-440",
        Some(("whatsapp", LineSignal::ConflictStopped, None, Some(440))),
    ),
    (
        "colour-whatsapp-conflict-440",
        Some(("whatsapp", LineSignal::ConflictStopped, None, Some(440))),
    ),
    (
        "json-whatsapp-conflict-440",
        Some(("whatsapp", LineSignal::ConflictStopped, None, Some(440))),
    ),
    (
        "tslog-whatsapp-conflict-440",
        Some(("whatsapp", LineSignal::ConflictStopped, None, Some(440))),
    ),
    (
        "tslog-web-reconnect-stop-440",
        Some(("whatsapp", LineSignal::ConflictStopped, None, Some(440))),
    ),
    // The setup path logs "max attempts reached" for a 440 too: the status field decides.
    (
        "tslog-web-reconnect-setup-stop-440",
        Some(("whatsapp", LineSignal::ConflictStopped, None, Some(440))),
    ),
    // The close record before the stop says only "connection closed" with status 440.
    (
        "tslog-web-reconnect-closed-440",
        Some(("whatsapp", LineSignal::Conflict, None, Some(440))),
    ),
    // Logged out (401): relink.
    (
        "compact-whatsapp-logged-out",
        Some(("whatsapp", LineSignal::LoggedOut, None, None)),
    ),
    (
        "json-whatsapp-logged-out",
        Some(("whatsapp", LineSignal::LoggedOut, None, None)),
    ),
    (
        "tslog-web-reconnect-closed-401",
        Some(("whatsapp", LineSignal::LoggedOut, None, Some(401))),
    ),
    (
        "compact-console-logged-out",
        Some(("whatsapp", LineSignal::LoggedOut, None, None)),
    ),
    (
        "json-console-logged-out",
        Some(("whatsapp", LineSignal::LoggedOut, None, None)),
    ),
    (
        "tslog-console-logged-out",
        Some(("whatsapp", LineSignal::LoggedOut, None, None)),
    ),
    (
        "compact-console-auth-cleared",
        Some(("whatsapp", LineSignal::AuthCleared, None, None)),
    ),
    (
        "json-console-auth-cleared",
        Some(("whatsapp", LineSignal::AuthCleared, None, None)),
    ),
    // Reconnecting: heals by itself, no engine event.
    (
        "compact-whatsapp-retry-428",
        Some(("whatsapp", LineSignal::Reconnecting, None, Some(428))),
    ),
    (
        "json-whatsapp-retry-428",
        Some(("whatsapp", LineSignal::Reconnecting, None, Some(428))),
    ),
    (
        "tslog-web-reconnect-retry-428",
        Some(("whatsapp", LineSignal::Reconnecting, None, Some(428))),
    ),
    // Reconnect loop exhausted.
    (
        "compact-whatsapp-max-attempts",
        Some(("whatsapp", LineSignal::ReconnectExhausted, None, None)),
    ),
    (
        "json-whatsapp-max-attempts",
        Some(("whatsapp", LineSignal::ReconnectExhausted, None, None)),
    ),
    (
        "tslog-web-reconnect-max-attempts",
        Some(("whatsapp", LineSignal::ReconnectExhausted, None, Some(428))),
    ),
    // Connected again.
    (
        "compact-whatsapp-listening",
        Some(("whatsapp", LineSignal::Connected, None, None)),
    ),
    (
        "json-whatsapp-listening",
        Some(("whatsapp", LineSignal::Connected, None, None)),
    ),
    (
        "tslog-whatsapp-listening",
        Some(("whatsapp", LineSignal::Connected, None, None)),
    ),
    // The channel manager.
    (
        "compact-whatsapp-gave-up",
        Some(("whatsapp", LineSignal::GaveUp, Some("default"), None)),
    ),
    (
        "json-whatsapp-gave-up",
        Some(("whatsapp", LineSignal::GaveUp, Some("default"), None)),
    ),
    (
        "compact-whatsapp-breaker",
        Some(("whatsapp", LineSignal::BreakerSuppressed, Some("work"), None)),
    ),
    (
        "json-whatsapp-breaker",
        Some(("whatsapp", LineSignal::BreakerSuppressed, Some("work"), None)),
    ),
    // A QR login waits: no engine event.
    (
        "compact-console-qr-received",
        Some(("whatsapp", LineSignal::QrRequired, None, None)),
    ),
    (
        "json-console-qr-received",
        Some(("whatsapp", LineSignal::QrRequired, None, None)),
    ),
    // Telegram.
    (
        "compact-telegram-unauthorized",
        Some(("telegram", LineSignal::TelegramUnauthorized, Some("default"), None)),
    ),
    (
        "json-telegram-unauthorized",
        Some(("telegram", LineSignal::TelegramUnauthorized, Some("default"), None)),
    ),
    (
        "compact-telegram-conflict",
        Some(("telegram", LineSignal::TelegramConflict, None, Some(409))),
    ),
    (
        "json-telegram-conflict",
        Some(("telegram", LineSignal::TelegramConflict, None, Some(409))),
    ),
    // Not signals: the manager's note after a stop, the gateway's own line, a 440 from a subsystem
    // that is no channel (even naming WhatsApp), JSON of no OpenClaw logger, cut records.
    ("compact-whatsapp-terminal-disconnect", None),
    ("json-whatsapp-terminal-disconnect", None),
    ("compact-gateway-listening", None),
    ("json-gateway-listening", None),
    ("compact-web-push-440", None),
    ("json-web-push-440", None),
    ("tslog-web-push-440", None),
    ("negative-unrelated-json", None),
    ("negative-unrelated-json-message", None),
    ("negative-malformed-json", None),
    ("negative-malformed-tslog", None),
    ("negative-tslog-no-message", None),
];

fn fixture(name: &str) -> String {
    let path = format!("{DIR}/{name}.log");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let line = lines.next().unwrap_or_else(|| panic!("{path}: empty"));
    assert!(lines.next().is_none(), "{path}: one line per fixture");
    line.to_owned()
}

#[test]
fn every_fixture_reads_to_its_signal_and_maps_to_the_engines_event() {
    for (name, want) in EXPECTED {
        let line = fixture(name);
        let got = read_line(&line);
        let want = want.map(|(channel, signal, account, status)| Reading {
            channel: channel.to_owned(),
            account: account.map(str::to_owned),
            signal,
            status,
        });
        assert_eq!(got, want, "{name}");
        // classify_line is the same reading, kept only when the engine has an event for it.
        let classified = classify_line(&line);
        assert_eq!(
            classified.as_ref().map(|c| (c.channel.as_str(), c.kind, c.signal)),
            want.as_ref()
                .and_then(|w| Some((w.channel.as_str(), w.signal.event()?, w.signal))),
            "{name}"
        );
    }
}

#[test]
fn every_fixture_file_is_in_the_table() {
    let mut files: Vec<String> = std::fs::read_dir(DIR)
        .expect("fixtures dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".log").map(str::to_owned))
        .collect();
    files.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed);
}

#[test]
fn a_conflict_stop_is_the_engines_conflict_stop_and_needs_no_relink() {
    let got = classify_line(&fixture("json-whatsapp-conflict-440")).expect("classified");
    assert_eq!(
        (got.kind, got.signal),
        (ChannelEvent::ConflictStopped, LineSignal::ConflictStopped)
    );
    assert!(!got.signal.needs_relink() && !got.kind.is_terminal());
    let got = classify_line(&fixture("tslog-web-reconnect-closed-401")).expect("classified");
    assert_eq!((got.kind, got.signal), (ChannelEvent::LoggedOut, LineSignal::LoggedOut));
    assert!(got.signal.needs_relink());
    // States the engine takes no event for.
    assert_eq!(LineSignal::Reconnecting.event(), None);
    assert_eq!(LineSignal::QrRequired.event(), None);
    assert_eq!(classify_line(&fixture("tslog-web-reconnect-retry-428")), None);
}

/// Hostile lines: each must give no signal, and all of them together must stay fast.
fn hostile_lines() -> Vec<(&'static str, String)> {
    let logged_out = "[whatsapp] session logged out. Run `openclaw channels login --channel whatsapp` to relink.";
    let record = fixture("tslog-web-reconnect-stop-440");
    vec![
        ("huge compact line", format!("{logged_out} {}", "x".repeat(4 << 20))),
        (
            "huge json line",
            format!(
                "{}{}",
                &record[..record.len() - 1],
                format_args!(",\"pad\":\"{}\"}}", "y".repeat(4 << 20))
            ),
        ),
        ("deep arrays", format!("{{\"0\":{}", "[".repeat(1 << 20))),
        (
            "deep objects",
            format!(
                "{}{{\"status\":440}}{}",
                "{\"error\":".repeat(100_000),
                "}".repeat(100_000)
            ),
        ),
        (
            "nested past the walk's depth",
            format!(
                "{{\"subsystem\":\"channels/whatsapp\",\"message\":\"closed\",{}\"status\":440{}}}",
                "\"error\":{".repeat(40),
                "}".repeat(40)
            ),
        ),
        ("many arguments", {
            let args: Vec<String> = (0..5_000).map(|i| format!("\"{i}\":{{\"status\":440}}")).collect();
            format!("{{{}}}", args.join(","))
        }),
        ("many parentheses", format!("[gateway] {}", "(".repeat(60_000))),
        (
            "many status words",
            format!("[gateway] {}", "status 440 ".repeat(5_000)),
        ),
        ("many brackets", "[".repeat(60_000)),
        ("many escapes", "\u{1b}[".repeat(30_000)),
        ("braces only", "{".repeat(60_000)),
        (
            "nul and controls",
            "{\"message\":\"\\u0000\\u001b[31m\",\"subsystem\":\"\\u0000\"}".to_owned(),
        ),
    ]
}

#[test]
fn hostile_lines_give_no_signal_and_no_panic_within_bounds() {
    let started = Instant::now();
    for (what, line) in hostile_lines() {
        assert_eq!(read_line(&line), None, "{what}");
        assert_eq!(classify_line(&line), None, "{what}");
    }
    // Debug build, shared cores: generous, but a quadratic scan of these lines would take minutes.
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}

#[test]
fn the_size_bound_is_exactly_the_documented_one() {
    let head = "[whatsapp] session logged out.";
    let at_limit = format!("{head}{}", " ".repeat(MAX_LINE_BYTES - head.len()));
    assert_eq!(at_limit.len(), MAX_LINE_BYTES);
    assert_eq!(classify_line(&at_limit).map(|c| c.kind), Some(ChannelEvent::LoggedOut));
    assert_eq!(classify_line(&format!("{at_limit} ")), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_text_never_panics(line in "[\\[\\]{}\":=()/ a-zA-Z0-9\u{1b}äß€😀\\\\,._-]{0,300}") {
        let _ = read_line(&line);
        let _ = classify_line(&line);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        pick in any::<prop::sample::Index>(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 1..6),
    ) {
        let name = EXPECTED[pick.index(EXPECTED.len())].0;
        let mut chars: Vec<char> = fixture(name).chars().collect();
        for (at, c) in cuts {
            let i = at.index(chars.len() + 1);
            if i < chars.len() && c.is_ascii_digit() {
                chars.remove(i);
            } else {
                chars.insert(i, c);
            }
        }
        let line: String = chars.into_iter().collect();
        let _ = read_line(&line);
        let _ = classify_line(&line);
    }
}

/// The terms of the template's log subscription (`?"term" ?"term" ...`): CloudWatch Logs passes a
/// line that contains any of them as written (case-sensitive).
fn filter_terms() -> Vec<String> {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).expect("template.yaml");
    let pattern = template
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("FilterPattern: "))
        .expect("the log subscription's FilterPattern")
        .trim_matches('\'');
    pattern
        .split("?\"")
        .filter_map(|t| t.trim().strip_suffix('"'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_log_subscription_passes_every_line_the_watchdog_acts_on() {
    // log-alerts sees only what the filter passes: a line it would act on but never receives is
    // a signal lost (2026.9's "Listening for WhatsApp inbound messages" is how a channel is
    // connected again; "Cleared cached web session" how its creds went).
    let terms = filter_terms();
    assert!(terms.len() > 10, "{terms:?}");
    for (name, want) in EXPECTED {
        if want.is_none() || classify_line(&fixture(name)).is_none() {
            continue;
        }
        let line = fixture(name);
        assert!(
            terms.iter().any(|t| line.contains(t.as_str())),
            "the log subscription drops {name}: {line}"
        );
    }
}
