//! What the owner reads, checked on every kind and variant the policy produces ([`examples`]):
//! the state first in the subject, a verdict as the first line, no placeholder, every command
//! line parseable by a shell and of the shape its CLI takes, honest numbers, phone length; and
//! `docs/NOTICES.md` generated from the same examples.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::{Example, REGION, examples, folded};
use crate::watch::notice::{COMMAND_INDENT, MAX_SUBJECT_CHARS, Notice, NoticeKind, Status};
use crate::watch::plan::fixtures::T0;

/// Lines before the first command, at most: what fits a phone screen above the first step.
const MAX_LINES_BEFORE_A_COMMAND: usize = 8;

fn all() -> Vec<Example> {
    let mut all = examples();
    all.push(folded());
    all
}

fn label(e: &Example) -> String {
    format!("{} ({})", e.notice.kind.as_str(), e.variant)
}

/// A notice's own text, without the parts folded in after it.
fn own_part(e: &Example) -> &str {
    e.notice.message.split(FOLDED_PARTS).next().unwrap_or_default()
}

/// Where a folded notice's further parts begin.
const FOLDED_PARTS: &str = "\nAlso since the last message";

fn command_lines(n: &Notice) -> Vec<&str> {
    n.message
        .lines()
        .filter_map(|l| l.strip_prefix(COMMAND_INDENT))
        .collect()
}

#[test]
fn every_kind_is_rendered() {
    let kinds: BTreeSet<&str> = all().iter().map(|e| e.notice.kind.as_str()).collect();
    for kind in NoticeKind::ALL {
        assert!(kinds.contains(kind.as_str()), "no example of {kind:?}");
    }
}

#[test]
fn subjects_lead_with_the_state_in_capitals() {
    for e in all() {
        let n = &e.notice;
        let status = Status::ALL
            .iter()
            .find(|s| n.subject.starts_with(&format!("{} | home: ", s.as_str())));
        assert!(status.is_some(), "{}: {:?}", label(&e), n.subject);
        assert!(
            n.subject.chars().count() <= MAX_SUBJECT_CHARS && !n.subject.contains('\n'),
            "{}: {:?}",
            label(&e),
            n.subject
        );
        let acts = n.message.starts_with("Action needed: ");
        match status.copied() {
            Some(Status::Up | Status::Info) => assert!(!acts, "{}: good news asks nothing", label(&e)),
            Some(Status::ActionNeeded | Status::Paused) => assert!(acts, "{}: says action needed", label(&e)),
            _ => {}
        }
    }
}

#[test]
fn the_first_line_says_whether_to_act() {
    for e in all() {
        let first = e.notice.message.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("Action needed: ") || first.starts_with("No action needed: "),
            "{}: {first:?}",
            label(&e)
        );
        // The steps say the same: what to do when acting, how to look closer otherwise.
        let acts = first.starts_with("Action needed: ");
        let heading = if acts { "\nTo look closer:\n" } else { "\nWhat to do:\n" };
        let body = own_part(&e);
        assert!(!body.contains(heading), "{}: verdict and steps disagree", label(&e));
        // A verdict that waits must not also say OpenClaw gave up, and the reverse.
        if !acts {
            assert!(!body.contains("stopped retrying"), "{}", label(&e));
        }
    }
}

#[test]
fn no_placeholder_internal_id_or_invented_code() {
    for e in all() {
        let text = format!("{}\n{}", e.notice.subject, e.notice.message);
        // `<task id>`, `<token>`: in a shell, `<` and `>` are redirects.
        assert!(!text.contains('<'), "{}: a placeholder in:\n{text}", label(&e));
        for bad in ["reconciler@", "IMPAIRED@", "LivenessProbeFailed", "incident 1"] {
            assert!(!text.contains(bad), "{}: {bad:?} in:\n{text}", label(&e));
        }
        // No epoch seconds (an incident id is one): a number within ten days of the scenarios.
        for word in text.split(|c: char| !c.is_ascii_digit()) {
            let near = word.len() == 10 && word.parse::<i64>().is_ok_and(|t| (t - T0).abs() < 10 * 86_400);
            assert!(!near, "{}: epoch seconds {word} in:\n{text}", label(&e));
        }
    }
}

#[test]
fn phone_first_length_and_one_console_link() {
    for e in all() {
        let lines: Vec<&str> = e.notice.message.lines().collect();
        if let Some(first) = lines.iter().position(|l| l.starts_with(COMMAND_INDENT)) {
            assert!(
                first <= MAX_LINES_BEFORE_A_COMMAND,
                "{}: {first} lines before the first command:\n{}",
                label(&e),
                e.notice.message
            );
        }
        let body = own_part(&e);
        let links = body.lines().filter(|l| l.starts_with("Console: https://")).count();
        assert_eq!(links, 1, "{}: one console link", label(&e));
        // The evidence comes last: nothing but evidence after `Details:`.
        if let Some(at) = body.find("\nDetails:\n") {
            let rest = &body[at + "\nDetails:\n".len()..];
            assert!(rest.lines().all(|l| l.starts_with("- ")), "{}: {rest}", label(&e));
        }
        assert!(lines.len() <= 40, "{}: {} lines", label(&e), lines.len());
    }
}

#[test]
fn counts_and_durations_are_those_of_the_scenario() {
    for e in all() {
        for needle in &e.expect {
            assert!(
                e.notice.message.contains(needle.as_str()) || e.notice.subject.contains(needle.as_str()),
                "{}: {needle:?} missing from:\n{}\n{}",
                label(&e),
                e.notice.subject,
                e.notice.message
            );
        }
    }
}

#[test]
fn times_are_utc_with_how_long_ago_and_the_owner_zone() {
    for e in all() {
        let since = e
            .notice
            .message
            .lines()
            .find(|l| l.starts_with("Since ") || l.starts_with("At "));
        let Some(since) = since else {
            panic!("{}: no time line", label(&e))
        };
        assert!(
            since.contains(" UTC, ")
                && (since.contains(" ago") || since.contains("just now"))
                && since.contains(" Europe/Berlin)"),
            "{}: {since}",
            label(&e)
        );
    }
}

/// The fold leads with its most severe part, and keeps the others short.
#[test]
fn a_folded_notice_leads_with_its_most_severe_part() {
    let e = folded();
    assert_eq!(e.notice.kind, NoticeKind::RelinkNeeded);
    assert!(
        e.notice.subject.starts_with("ACTION NEEDED | home: whatsapp"),
        "{}",
        e.notice.subject
    );
    let rest = e.notice.message.split(FOLDED_PARTS).nth(1).unwrap_or_default();
    assert!(
        rest.contains("== DOWN | home: stopped (exit code 1)\nNo action needed: "),
        "{rest}"
    );
}

#[test]
fn reminders_say_how_to_silence() {
    for e in all().iter().filter(|e| e.notice.kind == NoticeKind::Reminder) {
        assert!(
            command_lines(&e.notice)
                .iter()
                .any(|c| c.starts_with("clawkeeper silence home --minutes ")),
            "{}",
            label(e)
        );
    }
}

// ------------------------------------------------------------------------ command shapes

#[test]
fn every_command_parses_and_has_the_shape_of_its_cli() {
    for e in all() {
        let mut task_assigned = false;
        let mut net_assigned = false;
        for line in command_lines(&e.notice) {
            let context = format!("{}: {line}", label(&e));
            assert!(
                !line.contains('>') && !line.contains('|') && !line.contains(';'),
                "{context}"
            );
            if let Some(inner) = line.strip_prefix("TASK=$(").and_then(|l| l.strip_suffix(')')) {
                let words = split(inner, &context);
                check_aws(&words, &context);
                assert_eq!(&words[..3], ["aws", "ecs", "list-tasks"], "{context}");
                task_assigned = true;
                continue;
            }
            if let Some(inner) = line.strip_prefix("NET=$(").and_then(|l| l.strip_suffix(')')) {
                // The service's network configuration as JSON, which run-task takes as it is.
                let words = split(inner, &context);
                check_aws(&words, &context);
                assert_eq!(&words[..3], ["aws", "ecs", "describe-services"], "{context}");
                assert_eq!(value(&words, "--output").as_deref(), Some("json"), "{context}");
                net_assigned = true;
                continue;
            }
            let words = split(line, &context);
            match words[0].as_str() {
                "aws" => {
                    check_aws(&words, &context);
                    if value(&words, "--task").as_deref() == Some("$TASK") {
                        assert!(task_assigned, "{context}: $TASK used before it is set");
                    }
                    if value(&words, "--network-configuration").as_deref() == Some("$NET") {
                        assert!(net_assigned, "{context}: $NET used before it is set");
                    }
                }
                "clawkeeper" => check_clawkeeper(&words, &context),
                other => panic!("{context}: unknown program {other}"),
            }
        }
    }
}

fn split(line: &str, context: &str) -> Vec<String> {
    match shlex::split(line) {
        Some(words) if !words.is_empty() => words,
        _ => panic!("{context}: a shell cannot split it"),
    }
}

/// The value after `flag`, if the flag is there.
fn value(words: &[String], flag: &str) -> Option<String> {
    let at = words.iter().position(|w| w == flag)?;
    words.get(at + 1).cloned()
}

/// `aws <service> <operation>` with the flags that operation needs, each given a value once.
fn check_aws(words: &[String], context: &str) {
    assert!(words.len() >= 3, "{context}");
    assert_eq!(value(words, "--region").as_deref(), Some(REGION), "{context}: --region");
    let (required, optional, positional): (&[&str], &[&str], usize) = match (words[1].as_str(), words[2].as_str()) {
        ("ecs", "execute-command") => (&["--cluster", "--task", "--container", "--command"], &[], 0),
        ("ecs", "describe-tasks") => (&["--cluster", "--tasks"], &[], 0),
        ("ecs", "describe-services") => (&["--cluster", "--services"], &["--query", "--output"], 0),
        ("ecs", "run-task") => (
            &[
                "--cluster",
                "--task-definition",
                "--launch-type",
                "--network-configuration",
                "--overrides",
            ],
            &[],
            0,
        ),
        ("ecs", "list-tasks") => (
            &["--cluster", "--desired-status"],
            &["--service-name", "--family", "--query", "--output"],
            0,
        ),
        ("ecs", "stop-task") => (&["--cluster", "--task", "--reason"], &[], 0),
        ("ecs", "update-service") => (&["--cluster", "--service", "--deployment-configuration"], &[], 0),
        ("logs", "tail") => (&["--since"], &["--filter-pattern"], 1),
        (service, op) => panic!("{context}: aws {service} {op} is not a command notices use"),
    };
    let mut i = 3 + positional;
    if positional == 1 {
        assert!(words[3].starts_with('/'), "{context}: the log group");
    }
    let mut seen = BTreeSet::new();
    while i < words.len() {
        let flag = words[i].as_str();
        if flag == "--interactive" {
            assert_eq!(words[2], "execute-command", "{context}");
            seen.insert(flag);
            i += 1;
            continue;
        }
        assert!(
            required.contains(&flag) || optional.contains(&flag) || flag == "--region",
            "{context}: unexpected {flag}"
        );
        assert!(seen.insert(flag), "{context}: {flag} twice");
        let v = words
            .get(i + 1)
            .unwrap_or_else(|| panic!("{context}: {flag} has no value"));
        assert!(!v.starts_with("--") && !v.is_empty(), "{context}: {flag} {v}");
        i += 2;
    }
    for flag in required {
        assert!(seen.contains(flag), "{context}: {flag} missing");
    }
    if words[2] == "execute-command" {
        assert!(
            seen.contains("--interactive"),
            "{context}: ECS Exec runs interactive only"
        );
        assert_eq!(
            value(words, "--container").as_deref(),
            Some("openclaw-gateway"),
            "{context}"
        );
        let task = value(words, "--task").unwrap_or_default();
        assert!(task == "$TASK" || is_task_id(&task), "{context}: --task {task}");
        check_openclaw(&value(words, "--command").unwrap_or_default(), context);
    }
    if words[2] == "run-task" {
        check_one_off(words, context);
    }
    for flag in ["--task", "--tasks"] {
        if let Some(task) = value(words, flag).filter(|t| t != "$TASK") {
            assert!(is_task_id(&task), "{context}: {flag} {task} is no task id");
        }
    }
    assert_eq!(
        value(words, "--cluster").as_deref().unwrap_or("openclaw"),
        "openclaw",
        "{context}"
    );
}

/// A one-off task of the gateway's own definition that runs an OpenClaw command in the gateway
/// container instead of the gateway (its doctor, on the same state).
fn check_one_off(words: &[String], context: &str) {
    assert_eq!(value(words, "--launch-type").as_deref(), Some("FARGATE"), "{context}");
    let definition = value(words, "--task-definition").unwrap_or_default();
    assert!(
        definition.starts_with("arn:aws:ecs:us-east-1:123456789012:task-definition/"),
        "{context}: {definition}"
    );
    let network = value(words, "--network-configuration").unwrap_or_default();
    assert!(
        network == "$NET" || network.starts_with("awsvpcConfiguration={subnets=["),
        "{context}: {network}"
    );
    let overrides: serde_json::Value = serde_json::from_str(&value(words, "--overrides").unwrap_or_default())
        .unwrap_or_else(|e| panic!("{context}: --overrides is no JSON: {e}"));
    let container = &overrides["containerOverrides"][0];
    assert_eq!(container["name"], "openclaw-gateway", "{context}");
    let command: Vec<&str> = container["command"]
        .as_array()
        .map(|c| c.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    // OpenClaw 2026.9.6: `doctor --fix --non-interactive` applies the migrations that block startup.
    assert_eq!(
        command,
        ["openclaw", "doctor", "--fix", "--non-interactive"],
        "{context}"
    );
}

fn is_task_id(id: &str) -> bool {
    id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

/// The command ECS Exec splits (shell-like, without a shell) and runs: OpenClaw as the gateway's
/// own user, with a subcommand of OpenClaw 2026.9.6's CLI (docs/cli/channels.md, gateway/query.md).
fn check_openclaw(command: &str, context: &str) {
    let words = split(command, context);
    assert_eq!(
        &words[..5],
        ["runuser", "-u", "node", "--", "openclaw"],
        "{context}: as the gateway's user"
    );
    let args: Vec<&str> = words[5..].iter().map(String::as_str).collect();
    match args.as_slice() {
        ["channels", "status", rest @ ..] => {
            assert!(
                rest.iter()
                    .all(|a| ["--channel", "--probe"].contains(a) || !a.starts_with("--")),
                "{context}"
            )
        }
        ["channels", "login" | "logout", "--channel", _, rest @ ..] => {
            assert!(matches!(rest, [] | ["--account", _]), "{context}")
        }
        ["channels", "add", "--channel", _] => {}
        ["gateway", "call", "channels.start", "--params", params] => {
            let json: serde_json::Value =
                serde_json::from_str(params).unwrap_or_else(|e| panic!("{context}: --params is no JSON: {e}"));
            assert!(json["channel"].is_string(), "{context}");
        }
        other => panic!("{context}: openclaw {other:?} is not a command notices use"),
    }
}

/// `clawkeeper <sub> home` with the flags `cli/src/args.rs` declares for it (the CLI's own test
/// parses docs/NOTICES.md's lines with the real parser).
fn check_clawkeeper(words: &[String], context: &str) {
    let sub = words.get(1).map(String::as_str).unwrap_or_default();
    let flags: &[&str] = match sub {
        "status" | "pause" | "resume" | "snapshot" => &[],
        "restart" => &["--force"],
        "silence" => &["--minutes", "--reason"],
        "history" => &["--days"],
        "snapshots" => &["--limit"],
        other => panic!("{context}: clawkeeper {other} is not a command notices use"),
    };
    assert_eq!(words.get(2).map(String::as_str), Some("home"), "{context}: the gateway");
    assert_eq!(value(words, "--region").as_deref(), Some(REGION), "{context}: --region");
    assert_eq!(
        value(words, "--stack").as_deref(),
        Some("home-claw"),
        "{context}: --stack"
    );
    let mut i = 3;
    while i < words.len() {
        let flag = words[i].as_str();
        assert!(
            flags.contains(&flag) || ["--region", "--stack"].contains(&flag),
            "{context}: {flag}"
        );
        if flag == "--force" {
            i += 1;
            continue;
        }
        let v = words
            .get(i + 1)
            .unwrap_or_else(|| panic!("{context}: {flag} has no value"));
        if flag == "--minutes" {
            assert!(v.parse::<u64>().is_ok(), "{context}: --minutes {v}");
        }
        i += 2;
    }
    if sub == "silence" {
        assert!(value(words, "--minutes").is_some(), "{context}: --minutes is required");
    }
}

// ------------------------------------------------------------------------ docs/NOTICES.md

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/NOTICES.md")
}

/// docs/NOTICES.md: one example of each kind, then a folded notice, as the owner receives them.
fn render_doc() -> String {
    let mut doc = String::from(
        "# What the owner receives\n\n\
         One example of each notice kind, as SNS delivers it (subject, then body), for the gateway `home` of a \
         stack `home-claw` in `us-east-1` whose owner set `owner_timezone` to `Europe/Berlin`. Generated from \
         the policy itself by the scenarios in `crates/core/src/watch/plan/catalog.rs`; \
         `cargo test -p clawkeeper-core catalog` rewrites this file when a text changes (and fails once, so the \
         change is seen).\n\n\
         How to read a notice (the rules are in `crates/core/src/watch/notice.rs`):\n\n\
         - the subject starts with the state in capitals: `DOWN`, `UP`, `ACTION NEEDED`, `PAUSED`, `WARNING` or \
         `INFO`, then the gateway and what happened;\n\
         - the first line says `Action needed: ...` or `No action needed: ...`;\n\
         - commands are the lines indented by four spaces: each is complete (real cluster, task, log group, \
         region) and is pasted as is; OpenClaw commands run inside the task through ECS Exec as the image's user \
         `node`;\n\
         - the evidence comes last, under `Details:`;\n\
         - the message attributes `kind` and `severity` are given beside each example, for subscription \
         filters.\n",
    );
    let examples = examples();
    for kind in NoticeKind::ALL {
        let Some(e) = examples.iter().find(|e| e.notice.kind == kind) else {
            continue;
        };
        doc.push_str(&section(kind.as_str(), e));
    }
    doc.push_str(&section("folded notices", &folded()));
    doc
}

fn section(title: &str, e: &Example) -> String {
    format!(
        "\n## {title}\n\n{} (`kind` {}, `severity` {}).\n\nSubject: `{}`\n\n```text\n{}```\n",
        capitalized(e.variant),
        e.notice.kind.as_str(),
        e.notice.severity.as_str(),
        e.notice.subject,
        e.notice.message
    )
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[test]
fn the_notices_doc_is_current() {
    let expected = render_doc();
    let path = doc_path();
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != expected {
        // Rewritten so that the change can be reviewed and committed; failing says it happened.
        std::fs::write(&path, &expected).expect("write docs/NOTICES.md");
        panic!("docs/NOTICES.md was stale and has been rewritten: review and commit it");
    }
}
