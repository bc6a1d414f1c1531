//! OpenClaw's refusals to start: the gateway exits 78 (`EX_CONFIG` of sysexits.h) when its state
//! cannot be taken over safely, and prints why just before. A refusal is no crash: the same state
//! refuses the same way on every restart, so the watchdog does not restart it and pauses the
//! service after [`REFUSALS_TO_PAUSE`] in a row (`plan/start_refusals.rs`).
//!
//! The two causes, from OpenClaw 2026.9.6 (`dist/`, checked against the release
//! `scripts/install-openclaw.sh` installs; docs/install/docker.md, docs/cli/doctor/state-migrations.md):
//! - another writer owns the state: `doctor-startup-migration-refusal.ts` refuses while a live
//!   gateway owns the state directory (`Another gateway (pid N) already owns this state directory;
//!   refusing to run automatic startup migrations ...`); the shared-state database refuses unmarked
//!   writers once a supervisor claimed it (`... is externally supervised by M`, set up by
//!   `openclaw database ownership claim`), or when that claim is unreadable (`... ownership metadata
//!   is invalid ...`); Doctor's maintenance, which startup migrations run under, cannot start while
//!   another process holds the state (`Doctor could not enter maintenance. ...`, `another OpenClaw
//!   process owns gateway-lifecycle`). The remedy is to stop the other writer.
//! - a migration is unsafe: startup runs Doctor's migrations and exits 78 when a required store
//!   cannot be migrated safely (`OpenClaw startup migrations did not complete cleanly; refusing to
//!   report the gateway ready.`, `gateway requires state migration. ...`), when a newer build wrote
//!   the databases (`Gateway refused startup because 1 OpenClaw database schema(s) are newer than
//!   this build.`, `gateway requires a newer OpenClaw build`), or when the inputs changed under it
//!   (`OpenClaw migration inputs changed during startup ...`). The remedy is OpenClaw's own step:
//!   `openclaw doctor --fix` against the same state with the same image (or, for a newer state, the
//!   newer image or the pre-update backup).
//!
//! `log-alerts` runs every line of the gateway's log through [`start_refusal_cause`] and hands a
//! match to the policy ([`StartRefusalLine`]), which keeps the newest in the state; the exit-78 stop
//! that `task-events` plans later (or earlier: the two paths are not ordered) takes it from there.
//! task-events never reads CloudWatch Logs itself.

use serde::{Deserialize, Serialize};

/// OpenClaw's exit code for a refused start: `EX_CONFIG`, which also keeps systemd from
/// restarting it (`RestartPreventExitStatus=78`).
pub const START_REFUSED_EXIT_CODE: i64 = 78;

/// Refused starts in a row (no healthy run between) after which clawkeeper pauses the service:
/// the first may be passing (the other writer was on its way out); a second shows ECS's retries
/// only repeat it.
pub const REFUSALS_TO_PAUSE: u32 = 2;

/// The phrases the refusal lines carry, exactly as OpenClaw writes them: CloudWatch Logs filter
/// terms are case-sensitive, so the template's log subscription lists these as they are (a core
/// test checks it does), and [`start_refusal_cause`] looks for them in any case.
pub const LOG_TERMS: &[&str] = &[
    "already owns this state directory",
    "is externally supervised by",
    "ownership metadata is invalid",
    "another OpenClaw process owns",
    "could not enter maintenance",
    "startup migrations did not complete cleanly",
    "migration inputs changed during startup",
    "gateway requires",
    "Gateway refused startup",
];

/// Why OpenClaw refused to start, as its log line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartRefusalCause {
    /// Another writer owns the state: a live gateway on the same state directory, a supervisor's
    /// ownership claim on the shared-state database, or a process holding Doctor's maintenance.
    AnotherWriter,
    /// A required state migration cannot run safely (unsafe store, newer schema, changed inputs).
    UnsafeMigration,
}

impl StartRefusalCause {
    /// The stable name (logs, answers, the state).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AnotherWriter => "another_writer",
            Self::UnsafeMigration => "unsafe_migration",
        }
    }

    /// What it means, in words for a notice.
    pub fn describe(self) -> &'static str {
        match self {
            Self::AnotherWriter => "another writer owns its state",
            Self::UnsafeMigration => "a state migration cannot run safely",
        }
    }
}

/// A refusal line of the gateway's log, classified (`log-alerts` to the policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRefusalLine {
    /// What the line says.
    pub cause: StartRefusalCause,
    /// When it was logged (epoch seconds): it belongs to the refused task that ran then.
    pub at: i64,
}

/// Which cause a line of the gateway's log gives for a refused start; `None` for every other line.
/// Works on any shape OpenClaw writes (raw console text, the compact and JSON console styles, tslog
/// file records): it looks for the phrases, not at the layout.
pub fn start_refusal_cause(line: &str) -> Option<StartRefusalCause> {
    let lower = line.to_ascii_lowercase();
    let has = |needle: &str| lower.contains(needle);
    // Writer lines first: the migration refusal's headline wraps every failure, a writer among them
    // (`OpenClaw startup migrations did not complete cleanly ... - OpenClaw shared state database
    // ... is externally supervised by ...` when the detail stays on one line).
    if has("already owns this state directory")
        || has("is externally supervised by")
        || has("shared state ownership metadata is invalid")
        || has("another openclaw process owns")
        || has("could not enter maintenance")
    {
        return Some(StartRefusalCause::AnotherWriter);
    }
    if has("startup migrations did not complete cleanly")
        || has("migration inputs changed during startup")
        || has("gateway refused startup because")
        // `gateway requires <reason>` (startup-maintenance.ts): every reason is a migration or
        // `a newer OpenClaw build`; other "requires" wording is not a refusal.
        || (has("gateway requires") && (has("migration") || has("newer openclaw build")))
    {
        return Some(StartRefusalCause::UnsafeMigration);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines OpenClaw 2026.9.6 prints before exiting 78, as its source builds them (the
    /// template literals of `dist/doctor-config-preflight-*.mjs`, `dist/startup-maintenance-*.mjs`,
    /// `dist/openclaw-state-ownership-*.mjs`, `dist/openclaw-database-preflight.messages-*.mjs`,
    /// `dist/doctor-maintenance-*.mjs`, `dist/sqlite-source-handle-*.mjs`) with sample values.
    const WRITER_LINES: &[&str] = &[
        "Another gateway (pid 4242) already owns this state directory; refusing to run automatic startup \
         migrations or report the gateway ready. Stop it with \"openclaw gateway stop\" (or select a different \
         OPENCLAW_STATE_DIR), then retry startup.",
        "- OpenClaw shared state database /home/node/.openclaw/state/openclaw.sqlite is externally supervised by \
         gateway-supervisor. Use that external supervisor with OPENCLAW_SUPERVISOR_MODE=external for writable \
         operations.",
        "OpenClaw shared state ownership metadata is invalid at /home/node/.openclaw/state/openclaw.sqlite: reserved \
         value is not valid JSON. Repair it with OPENCLAW_SUPERVISOR_MODE=external openclaw database ownership claim \
         --manager <manager-id>.",
        "Doctor could not enter maintenance. Error: another OpenClaw process owns gateway-lifecycle Stop the Gateway \
         service and other OpenClaw processes using this state, then run openclaw doctor --fix from an independent \
         shell.",
        "another OpenClaw process owns state-database",
    ];

    const MIGRATION_LINES: &[&str] = &[
        "OpenClaw startup migrations did not complete cleanly; refusing to report the gateway ready.",
        "gateway requires state migration. Stop the service with openclaw gateway stop (or its service owner), then \
         run openclaw doctor --fix, then start it again with openclaw gateway start.",
        "gateway requires a newer OpenClaw build. Stop the service with openclaw gateway stop (or its service owner), \
         then restore your pre-update backup created with openclaw backup create, then start it again with openclaw \
         gateway start. See https://docs.openclaw.ai/install/updating#rollback.",
        "gateway requires session store migration; parked the managed LaunchAgent. Stop the service with ...",
        "Gateway refused startup because 1 OpenClaw database schema(s) are newer than this build. state database \
         /home/node/.openclaw/state/openclaw.sqlite uses schema 19; this build supports 18; writer build 2026.10.1. \
         Refused by OpenClaw 2026.9.6. Run a build at least as new as the writer that supports these schemas, or \
         stop the service and restore your pre-upgrade backup created with openclaw backup create.",
        "Gateway refused startup because persisted database readiness could not be verified:",
        "OpenClaw migration inputs changed during startup (plugin inventory); refusing to report the gateway ready. \
         Restart OpenClaw so state migrations run against the final config and plugin inventory.",
    ];

    #[test]
    fn the_lines_openclaw_prints_before_exit_78_give_their_cause() {
        for line in WRITER_LINES {
            assert_eq!(
                start_refusal_cause(line),
                Some(StartRefusalCause::AnotherWriter),
                "{line}"
            );
        }
        for line in MIGRATION_LINES {
            assert_eq!(
                start_refusal_cause(line),
                Some(StartRefusalCause::UnsafeMigration),
                "{line}"
            );
        }
    }

    #[test]
    fn every_console_shape_is_read() {
        let writer = WRITER_LINES[0];
        let migration = "gateway requires state migration. Stop the service with openclaw gateway stop";
        for (line, cause) in [
            (writer, StartRefusalCause::AnotherWriter),
            (migration, StartRefusalCause::UnsafeMigration),
        ] {
            let message = serde_json::to_string(line).expect("json string");
            let shapes = [
                format!("2026-11-20T08:00:12.345+00:00 [gateway] {line}"),
                format!(
                    r#"{{"time":"2026-11-20T08:00:12.345Z","level":"error","subsystem":"gateway","message":{message}}}"#
                ),
                format!(
                    r#"{{"0":{message},"_meta":{{"name":"{{\"subsystem\":\"gateway\"}}","logLevelName":"ERROR"}}}}"#
                ),
                line.to_ascii_uppercase(),
            ];
            for shape in shapes {
                assert_eq!(start_refusal_cause(&shape), Some(cause), "{shape}");
            }
        }
    }

    #[test]
    fn other_lines_give_none() {
        for line in [
            "",
            "[whatsapp] Listening for WhatsApp inbound messages",
            "[gateway] starting...",
            "[gateway] Gateway failed to start: listen EADDRINUSE. Run openclaw gateway status --deep for diagnostics.",
            "gateway already running (pid 12); lock held",
            "waiting for gateway-lifecycle ownership held by another OpenClaw process, up to 300 s",
            "Gateway auth is set to password, but no password is configured.",
            "the gateway requires a token for remote access",
            "[gateway] state migrations complete (3 stores)",
        ] {
            assert_eq!(start_refusal_cause(line), None, "{line}");
        }
    }

    #[test]
    fn each_log_term_is_in_a_refusal_line_as_written() {
        let all: Vec<&str> = WRITER_LINES.iter().chain(MIGRATION_LINES).copied().collect();
        for term in LOG_TERMS {
            assert!(
                all.iter().any(|l| l.contains(term)),
                "{term} matches no line as written"
            );
        }
        for line in &all {
            assert!(
                LOG_TERMS.iter().any(|t| line.contains(t)),
                "the log subscription would not pass: {line}"
            );
        }
    }

    #[test]
    fn the_log_subscription_passes_every_refusal_line() {
        // The template's filter decides what log-alerts ever sees.
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
            .expect("template.yaml");
        let pattern = template
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("FilterPattern: "))
            .expect("the log subscription's FilterPattern");
        for term in LOG_TERMS {
            assert!(
                pattern.contains(&format!("?\"{term}\"")),
                "{term} missing from {pattern}"
            );
        }
        // CloudWatch Logs takes at most 1024 characters.
        assert!(pattern.len() <= 1024, "{}", pattern.len());
    }

    #[test]
    fn causes_have_stable_names() {
        for cause in [StartRefusalCause::AnotherWriter, StartRefusalCause::UnsafeMigration] {
            assert_eq!(serde_json::to_value(cause).expect("json"), cause.as_str());
        }
    }
}
