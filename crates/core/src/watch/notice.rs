//! Owner notifications (ARCHITECTURE.md section 5, examples in docs/NOTICES.md): the kinds and
//! severities owners filter SNS subscriptions on, and the text a person reads on a phone, often at
//! night, where the first question is "must I do something?".
//!
//! Every notice has the same shape:
//! - subject: `STATE | gateway: what happened`, the state in capitals ([`Status`]), under 100
//!   characters;
//! - body: the verdict line (`Action needed: ...` or `No action needed: ...`), what happened in
//!   one line, since when (UTC, how long ago, the owner's zone), what clawkeeper did; then the
//!   numbered steps, whose commands are the lines indented by four spaces (each complete, pasted as
//!   is); one console link; the evidence last.
//!
//! Messages are built only from ECS metadata and configuration (ids, stop codes, exit codes,
//! reasons): never from environment values, tokens or file contents.

mod channels;
mod clock;
mod commands;

use serde::{Deserialize, Serialize};

pub use self::channels::{ChannelSteps, channel_problem, channel_steps, retrying_steps, start_step, with_task_lookup};
pub use self::clock::{Clock, format_span, is_known_zone};
pub use self::commands::{Commands, GATEWAY_CONTAINER, NoticeContext, RunNetwork, TaskRef, is_task_arn};
use super::signal::StopEvidence;
use super::time::format_utc;

/// SNS subjects must be shorter than 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// Where the command lines of a body start: four spaces, nothing else (ARCHITECTURE.md section 5).
pub const COMMAND_INDENT: &str = "    ";

/// The `kind` message attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The gateway stopped unexpectedly and did not come back within the grace period.
    GatewayDown,
    /// Back to RUNNING after a notified incident.
    Recovered,
    /// Repeated fast crashes: clawkeeper backs off.
    CrashLoop,
    /// Backoff used up: the gateway stays paused until the owner acts.
    BackoffPaused,
    /// OpenClaw refused to start (exit 78): another writer owns its state or a migration is unsafe.
    StartRefused,
    /// A hung task was stopped so the service replaces it.
    HungRestarted,
    /// A channel is down past its grace.
    ChannelDown,
    /// A channel needs relinking (logged out, conflict).
    RelinkNeeded,
    /// clawkeeper restarted a channel account (`channels.start`) and it did not hold: the start
    /// failed, or the account was blocked or stopped again soon after.
    ChannelRestarted,
    /// Two gateways write the same state.
    SingleWriterViolation,
    /// An ECS deployment failed.
    DeploymentFailed,
    /// A snapshot failed.
    SnapshotFailed,
    /// No recent snapshot.
    SnapshotStale,
    /// A restore finished.
    RestoreDone,
    /// An incident is still open.
    Reminder,
    /// clawkeeper itself has a problem.
    WatchdogError,
}

impl NoticeKind {
    /// Every kind, in the order of ARCHITECTURE.md section 5.
    pub const ALL: [NoticeKind; 16] = [
        Self::GatewayDown,
        Self::Recovered,
        Self::CrashLoop,
        Self::BackoffPaused,
        Self::StartRefused,
        Self::HungRestarted,
        Self::ChannelDown,
        Self::RelinkNeeded,
        Self::ChannelRestarted,
        Self::SingleWriterViolation,
        Self::DeploymentFailed,
        Self::SnapshotFailed,
        Self::SnapshotStale,
        Self::RestoreDone,
        Self::Reminder,
        Self::WatchdogError,
    ];

    /// The attribute value, e.g. `gateway_down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GatewayDown => "gateway_down",
            Self::Recovered => "recovered",
            Self::CrashLoop => "crash_loop",
            Self::BackoffPaused => "backoff_paused",
            Self::StartRefused => "start_refused",
            Self::HungRestarted => "hung_restarted",
            Self::ChannelDown => "channel_down",
            Self::RelinkNeeded => "relink_needed",
            Self::ChannelRestarted => "channel_restarted",
            Self::SingleWriterViolation => "single_writer_violation",
            Self::DeploymentFailed => "deployment_failed",
            Self::SnapshotFailed => "snapshot_failed",
            Self::SnapshotStale => "snapshot_stale",
            Self::RestoreDone => "restore_done",
            Self::Reminder => "reminder",
            Self::WatchdogError => "watchdog_error",
        }
    }
}

/// The `severity` message attribute. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Good news or a record.
    Info,
    /// Something to look at.
    Warning,
    /// The gateway is not serving.
    Critical,
}

impl Severity {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// The word that opens a subject: where things stand, before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The gateway does not serve.
    Down,
    /// It serves again.
    Up,
    /// It serves (or nothing is down), but something needs the owner.
    ActionNeeded,
    /// Paused: nothing restarts it until the owner resumes it.
    Paused,
    /// Something to know about that may need a look.
    Warning,
    /// A record: nothing is wrong.
    Info,
}

impl Status {
    /// Every status, for tests and the subject check.
    pub const ALL: [Status; 6] = [
        Self::Down,
        Self::Up,
        Self::ActionNeeded,
        Self::Paused,
        Self::Warning,
        Self::Info,
    ];

    /// The capitals of the subject.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Down => "DOWN",
            Self::Up => "UP",
            Self::ActionNeeded => "ACTION NEEDED",
            Self::Paused => "PAUSED",
            Self::Warning => "WARNING",
            Self::Info => "INFO",
        }
    }
}

/// The first line of every body: whether the owner must act, and the one thing to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `Action needed: ...`.
    Act(String),
    /// `No action needed: ...`.
    Wait(String),
}

impl Verdict {
    /// The rendered line.
    pub fn line(&self) -> String {
        match self {
            Self::Act(why) => format!("Action needed: {}", one_paragraph(why)),
            Self::Wait(why) => format!("No action needed: {}", one_paragraph(why)),
        }
    }

    /// Whether the owner must act.
    pub fn acts(&self) -> bool {
        matches!(self, Self::Act(_))
    }
}

/// One numbered step: what to do in words, then the commands that do it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Step {
    /// What and why, one line.
    pub text: String,
    /// Complete commands, rendered indented by [`COMMAND_INDENT`].
    pub commands: Vec<String>,
}

impl Step {
    /// A step in words only.
    pub fn say(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            commands: Vec::new(),
        }
    }

    /// A step with one command.
    pub fn run(text: impl Into<String>, command: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            commands: vec![command.into()],
        }
    }
}

/// When the notice's story starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Something ongoing, since then (epoch seconds): "Since ...".
    Since(i64),
    /// Something that happened then (epoch seconds): "At ...".
    At(i64),
}

/// The parts of a notice before rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// The subject's first word.
    pub status: Status,
    /// The rest of the subject, after `STATUS | gateway: `.
    pub headline: String,
    /// Whether the owner must act.
    pub verdict: Verdict,
    /// What happened, in one line.
    pub happened: String,
    /// Since when.
    pub when: Option<When>,
    /// What clawkeeper did, in one line (rendered after `clawkeeper: `).
    pub done: Option<String>,
    /// What to do, or how to look closer.
    pub steps: Vec<Step>,
    /// One console link (the ECS service or the log group).
    pub link: Option<String>,
    /// Evidence (stop codes, exit codes, reasons, runtimes): last, for who wants it.
    pub evidence: Vec<String>,
}

impl Draft {
    /// A draft with the parts every notice has; the rest is filled by the caller.
    pub fn new(status: Status, headline: impl Into<String>, verdict: Verdict, happened: impl Into<String>) -> Self {
        Self {
            status,
            headline: headline.into(),
            verdict,
            happened: happened.into(),
            when: None,
            done: None,
            steps: Vec::new(),
            link: None,
            evidence: Vec::new(),
        }
    }
}

/// One message to the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// `kind` attribute.
    pub kind: NoticeKind,
    /// `severity` attribute.
    pub severity: Severity,
    /// SNS subject: plain, one line, under 100 characters.
    pub subject: String,
    /// Plain-text body.
    pub message: String,
}

/// The heading of the evidence, the last part of a body (folding leaves it out of earlier parts).
const DETAILS: &str = "Details:";

impl Notice {
    /// Renders a notice about gateway `gateway_id`, with times as `clock` tells them.
    pub fn render(kind: NoticeKind, severity: Severity, gateway_id: &str, draft: Draft, clock: &Clock) -> Self {
        let subject = clean_subject(&format!("{} | {gateway_id}: {}", draft.status.as_str(), draft.headline));
        let mut lines = vec![draft.verdict.line(), one_paragraph(&draft.happened)];
        match draft.when {
            Some(When::Since(at)) => lines.push(clock.line("Since", at)),
            Some(When::At(at)) => lines.push(clock.line("At", at)),
            None => {}
        }
        if let Some(done) = &draft.done {
            lines.push(format!("clawkeeper: {}", one_paragraph(done)));
        }
        if !draft.steps.is_empty() {
            lines.push(String::new());
            lines.push(
                if draft.verdict.acts() {
                    "What to do:"
                } else {
                    "To look closer:"
                }
                .into(),
            );
            for (n, step) in draft.steps.iter().enumerate() {
                lines.push(format!("{}. {}", n + 1, one_paragraph(&step.text)));
                for command in &step.commands {
                    lines.push(format!("{COMMAND_INDENT}{}", one_paragraph(command)));
                }
            }
        }
        if let Some(link) = &draft.link {
            lines.push(String::new());
            lines.push(format!("Console: {link}"));
        }
        if !draft.evidence.is_empty() {
            lines.push(String::new());
            lines.push(DETAILS.into());
            for line in &draft.evidence {
                lines.push(format!("- {}", one_paragraph(line)));
            }
        }
        let mut message = lines.join("\n");
        message.push('\n');
        Self {
            kind,
            severity,
            subject,
            message,
        }
    }
}

/// Folds notices held back by the rate limit into one that leads with its most severe part: one
/// that needs the owner before one that does not (so the first line, "Action needed" or not, is
/// true of the whole message), then the higher severity, then the newest. An owner who reads only
/// the top reads what matters most; kind and subject follow that part, and the severity is the
/// highest of all, so a subscription filter never lets a critical part hide behind an info. The
/// other parts follow, newest first: in full (without their details) when they ask the owner to
/// act, as subject and first two lines otherwise. `None` for no notices.
pub fn fold(notices: &[Notice]) -> Option<Notice> {
    // `max_by_key` keeps the last of equal maxima: the newest of the most severe.
    let (lead_index, lead) = notices
        .iter()
        .enumerate()
        .max_by_key(|(_, n)| (n.message.starts_with("Action needed:"), n.severity))?;
    let severity = notices.iter().map(|n| n.severity).max().unwrap_or(lead.severity);
    if notices.len() == 1 {
        return Some(lead.clone());
    }
    let suffix = format!(" (+{} more)", notices.len() - 1);
    let subject = clean_subject(&format!(
        "{}{suffix}",
        truncate_chars(&lead.subject, MAX_SUBJECT_CHARS.saturating_sub(suffix.chars().count()))
    ));
    let mut message = lead.message.clone();
    message.push_str("\nAlso since the last message (newest first):\n");
    for (_, part) in notices.iter().enumerate().rev().filter(|(i, _)| *i != lead_index) {
        message.push_str(&format!("\n== {}\n", part.subject));
        let body = part
            .message
            .split(&format!("\n\n{DETAILS}\n"))
            .next()
            .unwrap_or_default();
        if body.starts_with("Action needed:") {
            message.push_str(body.trim_end());
            message.push('\n');
        } else {
            for line in body.lines().take(2) {
                message.push_str(line);
                message.push('\n');
            }
        }
    }
    Some(Notice {
        kind: lead.kind,
        severity,
        subject,
        message,
    })
}

/// Evidence lines for one stop, most telling first. A record that is not a task (the reconciler
/// found nothing running, ECS cannot start tasks) says so instead of inventing a task.
pub fn evidence_lines(e: &StopEvidence) -> Vec<String> {
    let at = e
        .stopped_at
        .map(|t| format!(" at {}", format_utc(t)))
        .unwrap_or_default();
    if !is_task_arn(&e.task_arn) {
        let source = e.stop_code.as_deref().unwrap_or("clawkeeper's check of ECS");
        let reason = e.stopped_reason.as_deref().unwrap_or("no task is running");
        return vec![format!("{source}{at}: {}", truncate_chars(&one_paragraph(reason), 300))];
    }
    let mut lines = Vec::new();
    let task = super::signal::short_task_id(&e.task_arn);
    let mut head = format!("task {task} stopped{at}");
    if let Some(code) = &e.stop_code {
        head.push_str(&format!(", stop code {code}"));
    }
    match e.runtime_secs {
        Some(r) => head.push_str(&format!(", after {} running", format_span(r))),
        None => head.push_str(", never reached RUNNING"),
    }
    lines.push(head);
    if let Some(reason) = &e.stopped_reason {
        lines.push(format!("  reason: {}", truncate_chars(&one_paragraph(reason), 300)));
    }
    for c in &e.containers {
        let mut line = format!("  container {}", c.name);
        match c.exit_code {
            Some(code) => line.push_str(&format!(" exit code {code}{}", exit_hint(code))),
            None => line.push_str(" has no exit code"),
        }
        if let Some(reason) = &c.reason {
            line.push_str(&format!(" ({})", truncate_chars(&one_paragraph(reason), 200)));
        }
        lines.push(line);
    }
    lines
}

/// A stop in two or three words, for a subject: `exit code 137` (the evidence explains codes).
pub fn stop_summary(e: &StopEvidence) -> Option<String> {
    if let Some(code) = e.containers.iter().find_map(|c| c.exit_code) {
        return Some(format!("exit code {code}"));
    }
    e.stop_code.clone()
}

fn exit_hint(code: i64) -> &'static str {
    match code {
        0 => " (OpenClaw exits 0 on a full restart: not a clean stop)",
        78 => " (EX_CONFIG: OpenClaw refused to start)",
        137 => " (killed: out of memory or SIGKILL)",
        143 => " (SIGTERM)",
        _ => "",
    }
}

/// One line, no control characters, at most [`MAX_SUBJECT_CHARS`].
fn clean_subject(text: &str) -> String {
    truncate_chars(&one_paragraph(text), MAX_SUBJECT_CHARS)
}

/// Collapses line breaks, control characters and runs of spaces into single spaces.
pub(crate) fn one_paragraph(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(3)).collect();
    out.push_str("...");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> Clock<'static> {
        Clock {
            now: 1_795_161_900,
            zone: None,
        }
    }

    fn draft(status: Status, headline: &str, verdict: Verdict) -> Draft {
        Draft::new(status, headline, verdict, "It happened.")
    }

    #[test]
    fn kinds_serialize_as_the_documented_strings() {
        let documented = "gateway_down, recovered, crash_loop, backoff_paused, start_refused, hung_restarted, channel_down, \
                          relink_needed, channel_restarted, single_writer_violation, deployment_failed, snapshot_failed, \
                          snapshot_stale, restore_done, reminder, watchdog_error";
        let ours: Vec<&str> = NoticeKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(ours.join(", "), documented);
        for kind in NoticeKind::ALL {
            assert_eq!(serde_json::to_value(kind).expect("json"), kind.as_str());
        }
        assert_eq!(serde_json::to_value(Severity::Critical).expect("json"), "critical");
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    }

    #[test]
    fn subject_is_the_state_then_one_short_plain_line() {
        let long = format!("stopped\nwith {}", "x".repeat(300));
        let n = Notice::render(
            NoticeKind::GatewayDown,
            Severity::Critical,
            "home",
            draft(Status::Down, &long, Verdict::Wait("ECS restarts it.".into())),
            &clock(),
        );
        assert!(n.subject.chars().count() <= MAX_SUBJECT_CHARS);
        assert!(!n.subject.contains('\n'));
        assert!(n.subject.starts_with("DOWN | home: stopped with xxx"), "{}", n.subject);
    }

    #[test]
    fn body_opens_with_the_verdict_and_keeps_evidence_last() {
        let mut d = draft(Status::ActionNeeded, "relink", Verdict::Act("relink it.".into()));
        d.when = Some(When::Since(1_795_161_600));
        d.done = Some("nothing.".into());
        d.steps = vec![Step::run("Look:", "clawkeeper status home"), Step::say("Wait.")];
        d.link = Some("https://example.invalid/".into());
        d.evidence = vec!["stop code X".into()];
        let n = Notice::render(NoticeKind::RelinkNeeded, Severity::Critical, "home", d, &clock());
        let lines: Vec<&str> = n.message.lines().collect();
        assert_eq!(lines[0], "Action needed: relink it.");
        assert_eq!(lines[1], "It happened.");
        assert_eq!(lines[2], "Since 2026-11-20 08:00 UTC, 5 min ago");
        assert_eq!(lines[3], "clawkeeper: nothing.");
        assert_eq!(
            &lines[5..9],
            ["What to do:", "1. Look:", "    clawkeeper status home", "2. Wait."]
        );
        assert_eq!(lines.last(), Some(&"- stop code X"));
        assert!(n.message.contains("\nConsole: https://example.invalid/\n"));
    }

    #[test]
    fn folding_leads_with_the_most_severe_part_and_keeps_the_rest_short() {
        let loop_notice = Notice::render(
            NoticeKind::CrashLoop,
            Severity::Critical,
            "home",
            Draft {
                evidence: vec!["task a stopped".into()],
                ..draft(Status::Down, "crash loop", Verdict::Act("find the cause.".into()))
            },
            &clock(),
        );
        let recovered = Notice::render(
            NoticeKind::Recovered,
            Severity::Info,
            "home",
            draft(Status::Up, "runs again", Verdict::Wait("it runs.".into())),
            &clock(),
        );
        let folded = fold(&[loop_notice.clone(), recovered.clone()]).expect("one notice");
        assert_eq!(folded.kind, NoticeKind::CrashLoop, "the most severe part leads");
        assert_eq!(folded.severity, Severity::Critical);
        assert!(
            folded.subject.starts_with("DOWN | home: crash loop"),
            "{}",
            folded.subject
        );
        assert!(folded.subject.ends_with("(+1 more)"));
        assert!(folded.message.starts_with(&loop_notice.message));
        assert!(
            folded
                .message
                .contains("== UP | home: runs again\nNo action needed: it runs.\n")
        );
        // A part that needs the owner leads one that does not, whatever the severities: the first
        // line must be true of the whole message. The severity stays the highest.
        let waits = Notice {
            message: "No action needed: ECS restarts it.\n".into(),
            ..loop_notice.clone()
        };
        let acts = Notice {
            severity: Severity::Warning,
            message: "Action needed: fix the deployment.\n".into(),
            ..recovered.clone()
        };
        let folded = fold(&[waits, acts.clone()]).expect("one notice");
        assert!(folded.message.starts_with("Action needed: fix the deployment."));
        assert_eq!((folded.kind, folded.severity), (acts.kind, Severity::Critical));
        // On a tie the newest leads: it says where things stand now.
        let newer = Notice {
            subject: "DOWN | home: newer".into(),
            ..loop_notice.clone()
        };
        assert_eq!(
            fold(&[loop_notice.clone(), newer.clone()]).map(|n| n.message.starts_with(&newer.message)),
            Some(true)
        );
        assert_eq!(fold(std::slice::from_ref(&recovered)), Some(recovered));
        assert_eq!(fold(&[]), None);
    }

    #[test]
    fn evidence_never_invents_a_task() {
        let synthetic = StopEvidence {
            task_arn: "reconciler@1795161600".into(),
            stopped_reason: Some("ECS shows no task running".into()),
            stopped_at: Some(1_795_161_600),
            ..Default::default()
        };
        let lines = evidence_lines(&synthetic);
        assert_eq!(
            lines,
            ["clawkeeper's check of ECS at 2026-11-20 08:00:00 UTC: ECS shows no task running"]
        );
        let real = StopEvidence {
            task_arn: "arn:aws:ecs:us-east-1:1:task/openclaw/abc".into(),
            stop_code: Some("EssentialContainerExited".into()),
            runtime_secs: Some(151),
            containers: vec![crate::watch::signal::ContainerExit {
                name: "openclaw-gateway".into(),
                exit_code: Some(0),
                reason: None,
            }],
            ..Default::default()
        };
        let lines = evidence_lines(&real);
        assert_eq!(
            lines[0],
            "task abc stopped, stop code EssentialContainerExited, after 2 min running"
        );
        assert!(lines[1].contains("exit code 0 (OpenClaw exits 0"), "{lines:?}");
    }
}
