//! Owner notifications (ARCHITECTURE.md section 5): the kinds and severities owners filter SNS
//! subscriptions on, and the rendering of a subject (plain, one line, under 100 characters) and a
//! plain-text message a person reads on a phone: what happened, since when, evidence, what
//! clawkeeper did, what to do next with commands to copy.
//!
//! Messages are built only from ECS metadata and configuration (ids, stop codes, exit codes,
//! reasons): never from environment values, tokens or file contents.

use serde::{Deserialize, Serialize};

use super::signal::StopEvidence;
use super::time::{format_duration, format_utc};
use crate::gateway::{Gateway, GatewayTarget};

/// SNS subjects must be shorter than 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

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
    /// A hung task was stopped so the service replaces it.
    HungRestarted,
    /// A channel is down past its grace.
    ChannelDown,
    /// A channel needs relinking (logged out, conflict).
    RelinkNeeded,
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
    pub const ALL: [NoticeKind; 14] = [
        Self::GatewayDown,
        Self::Recovered,
        Self::CrashLoop,
        Self::BackoffPaused,
        Self::HungRestarted,
        Self::ChannelDown,
        Self::RelinkNeeded,
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
            Self::HungRestarted => "hung_restarted",
            Self::ChannelDown => "channel_down",
            Self::RelinkNeeded => "relink_needed",
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

/// The parts of a notice before rendering.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// What happened, in one or two sentences.
    pub happened: String,
    /// Since when (epoch seconds).
    pub since: Option<i64>,
    /// Evidence lines (stop codes, exit codes, reasons, runtimes).
    pub evidence: Vec<String>,
    /// What clawkeeper did.
    pub done: Vec<String>,
    /// What to do next: advice and commands to copy.
    pub next: Vec<String>,
}

impl Notice {
    /// Renders a notice for `gateway_id`; `headline` completes the subject `clawkeeper: <id> <headline>`.
    pub fn render(kind: NoticeKind, severity: Severity, gateway_id: &str, headline: &str, draft: Draft) -> Self {
        let subject = clean_subject(&format!("clawkeeper: {gateway_id} {headline}"));
        let mut message = format!("{}\n", one_paragraph(&draft.happened));
        if let Some(since) = draft.since {
            message.push_str(&format!("\nSince: {}\n", format_utc(since)));
        }
        for (title, lines) in [
            ("Evidence", &draft.evidence),
            ("What clawkeeper did", &draft.done),
            ("What to do next", &draft.next),
        ] {
            if lines.is_empty() {
                continue;
            }
            message.push_str(&format!("\n{title}:\n"));
            for line in lines {
                message.push_str(&format!("- {}\n", one_paragraph(line)));
            }
        }
        Self {
            kind,
            severity,
            subject,
            message,
        }
    }
}

/// Folds notices held back by the rate limit into one: the newest decides kind and subject (it says
/// where things stand now), the highest severity wins (so a critical never hides behind an info),
/// and the earlier ones are listed in the body. `None` for no notices.
pub fn fold(notices: &[Notice]) -> Option<Notice> {
    let (latest, earlier) = notices.split_last()?;
    if earlier.is_empty() {
        return Some(latest.clone());
    }
    let severity = notices.iter().map(|n| n.severity).max().unwrap_or(latest.severity);
    let suffix = format!(" (+{} more)", earlier.len());
    let subject = clean_subject(&format!(
        "{}{suffix}",
        truncate_chars(
            &latest.subject,
            MAX_SUBJECT_CHARS.saturating_sub(suffix.chars().count())
        )
    ));
    let mut message = latest.message.clone();
    message.push_str("\nEarlier messages held back by the rate limit:\n");
    for n in earlier {
        message.push_str(&format!("\n== {} [{}]\n{}", n.subject, n.kind.as_str(), n.message));
    }
    Some(Notice {
        kind: latest.kind,
        severity,
        subject,
        message,
    })
}

/// Evidence lines for one stop, most telling first.
pub fn evidence_lines(e: &StopEvidence) -> Vec<String> {
    let mut lines = Vec::new();
    let task = super::signal::short_task_id(&e.task_arn);
    let at = e
        .stopped_at
        .map(|t| format!(" at {}", format_utc(t)))
        .unwrap_or_default();
    let mut head = format!("task {task} stopped{at}");
    if let Some(code) = &e.stop_code {
        head.push_str(&format!(", stop code {code}"));
    }
    match e.runtime_secs {
        Some(r) => head.push_str(&format!(", after {} running", format_duration(r))),
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

fn exit_hint(code: i64) -> &'static str {
    match code {
        0 => " (OpenClaw exits 0 on a full restart: not a clean stop)",
        137 => " (killed: out of memory or SIGKILL)",
        143 => " (SIGTERM)",
        _ => "",
    }
}

/// Commands an owner can copy to look closer or act, for this gateway.
pub fn commands(gateway: &Gateway, task_arn: Option<&str>, resume: bool) -> Vec<String> {
    let mut lines = vec![format!("Check: clawkeeper status {}", gateway.id)];
    if resume {
        lines.push(format!("Resume when fixed: clawkeeper resume {}", gateway.id));
    }
    match &gateway.target {
        GatewayTarget::Service(service) => lines.push(format!(
            "ECS view: aws ecs describe-services --cluster {} --services {service}",
            gateway.cluster
        )),
        GatewayTarget::Standalone { family } => lines.push(format!(
            "ECS view: aws ecs list-tasks --cluster {} --family {family} --desired-status STOPPED",
            gateway.cluster
        )),
    }
    if let Some(arn) = task_arn {
        lines.push(format!(
            "Stopped task (kept by ECS for about an hour): aws ecs describe-tasks --cluster {} --tasks {arn}",
            gateway.cluster
        ));
    }
    if let Some(group) = &gateway.log_group {
        lines.push(format!("Logs: aws logs tail {group} --since 1h"));
    }
    lines
}

/// One line, no control characters, at most [`MAX_SUBJECT_CHARS`].
fn clean_subject(text: &str) -> String {
    truncate_chars(&one_paragraph(text), MAX_SUBJECT_CHARS)
}

/// Collapses line breaks, control characters and runs of spaces into single spaces.
fn one_paragraph(text: &str) -> String {
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

    #[test]
    fn kinds_serialize_as_the_documented_strings() {
        let documented = "gateway_down, recovered, crash_loop, backoff_paused, hung_restarted, channel_down, \
                          relink_needed, single_writer_violation, deployment_failed, snapshot_failed, \
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
    fn subject_is_one_short_plain_line() {
        let long = format!("is down\nwith {}", "x".repeat(300));
        let n = Notice::render(
            NoticeKind::GatewayDown,
            Severity::Critical,
            "home",
            &long,
            Draft::default(),
        );
        assert!(n.subject.chars().count() <= MAX_SUBJECT_CHARS);
        assert!(!n.subject.contains('\n'));
        assert!(n.subject.starts_with("clawkeeper: home is down with"));
    }

    #[test]
    fn message_has_every_section() {
        let e = StopEvidence {
            task_arn: "arn:aws:ecs:us-east-1:1:task/openclaw/abc".into(),
            stop_code: Some("EssentialContainerExited".into()),
            stopped_reason: Some("Essential container in task exited".into()),
            containers: vec![crate::watch::signal::ContainerExit {
                name: "openclaw-gateway".into(),
                exit_code: Some(0),
                reason: None,
            }],
            runtime_secs: Some(151),
            stopped_at: Some(1_795_161_792),
        };
        let n = Notice::render(
            NoticeKind::GatewayDown,
            Severity::Critical,
            "home",
            "is down",
            Draft {
                happened: "The gateway stopped.".into(),
                since: Some(1_795_161_792),
                evidence: evidence_lines(&e),
                done: vec!["Requested a snapshot.".into()],
                next: vec!["Check: clawkeeper status home".into()],
            },
        );
        for needle in [
            "Since: 2026-11-20 08:03:12 UTC",
            "Evidence:",
            "stop code EssentialContainerExited",
            "after 2 min 31 s running",
            "exit code 0 (OpenClaw exits 0",
            "What clawkeeper did:",
            "What to do next:",
            "clawkeeper status home",
        ] {
            assert!(n.message.contains(needle), "{needle} missing from:\n{}", n.message);
        }
    }

    #[test]
    fn folding_keeps_the_newest_and_the_worst() {
        let a = Notice::render(
            NoticeKind::CrashLoop,
            Severity::Critical,
            "home",
            "crash loop",
            Draft::default(),
        );
        let b = Notice::render(
            NoticeKind::Recovered,
            Severity::Info,
            "home",
            "recovered",
            Draft::default(),
        );
        let folded = fold(&[a.clone(), b.clone()]).expect("one notice");
        assert_eq!(folded.kind, NoticeKind::Recovered);
        assert_eq!(folded.severity, Severity::Critical);
        assert!(folded.subject.ends_with("(+1 more)"));
        assert!(folded.message.contains(&a.subject));
        assert_eq!(fold(std::slice::from_ref(&b)), Some(b));
        assert_eq!(fold(&[]), None);
    }
}
