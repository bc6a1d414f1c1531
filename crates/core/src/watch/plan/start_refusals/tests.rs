//! Refused starts (exit 78) through the policy: a notice and no restart, a pause at the second in a
//! row, a healthy run or the owner's resume ending the run, and the cause from the log in any order.

use super::LOG_WAIT_SECS;
use crate::gateway::Gateway;
use crate::policy_settings::PolicySettings;
use crate::watch::action::ActionKind;
use crate::watch::notice::{Notice, NoticeKind, Severity};
use crate::watch::plan::fixtures::{Sim, T0, arn, service_gateway, standalone_gateway};
use crate::watch::plan::owner::{OwnerAction, OwnerInput};
use crate::watch::signal::{ContainerExit, Signal, StopCause, StopEvidence, TaskInfo, TaskStop};
use crate::watch::start_refusal::{StartRefusalCause, StartRefusalLine};
use crate::watch::state::Phase;
use crate::watch::{Action, Input};

fn info(task: &str, version: u64, started_at: i64) -> TaskInfo {
    TaskInfo {
        task_arn: arn(task),
        version: Some(version),
        task_definition: Some("arn:aws:ecs:us-east-1:123456789012:task-definition/openclaw-gateway:7".into()),
        group: Some("service:openclaw-gateway".into()),
        started_at: Some(started_at),
        network: None,
        event_time: Some(started_at),
    }
}

fn running(task: &str, at: i64) -> Input {
    Input::Signal(Signal::TaskRunning(info(task, 2, at)))
}

/// Task `task`, started at `started`, exited `code` at `stopped` (78: refused).
fn exited(task: &str, started: i64, stopped: i64, code: i64) -> Input {
    Input::Signal(Signal::TaskStopped(TaskStop {
        task: info(task, 3, started),
        evidence: StopEvidence {
            task_arn: arn(task),
            stop_code: Some("EssentialContainerExited".into()),
            stopped_reason: Some("Essential container in task exited".into()),
            containers: vec![ContainerExit {
                name: "openclaw-gateway".into(),
                exit_code: Some(code),
                reason: None,
            }],
            runtime_secs: Some(stopped - started),
            stopped_at: Some(stopped),
        },
        cause: if code == 78 {
            StopCause::StartRefused
        } else {
            StopCause::Crashed
        },
    }))
}

fn refused(task: &str, started: i64, stopped: i64) -> Input {
    exited(task, started, stopped, 78)
}

fn logged(cause: StartRefusalCause, at: i64) -> Input {
    Input::StartRefusalLogged(StartRefusalLine { cause, at })
}

fn owner(action: OwnerAction) -> Input {
    Input::Owner(OwnerInput {
        by: "arn:aws:iam::123456789012:user/alice".into(),
        action,
    })
}

fn kinds(actions: &[Action]) -> Vec<&'static str> {
    actions.iter().map(|a| a.kind.name()).collect()
}

fn notices(actions: &[Action]) -> Vec<&Notice> {
    actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::Notify(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// The service gateway without a log group: nothing can give the cause, the notice goes at once.
fn unlogged() -> Gateway {
    Gateway {
        log_group: None,
        ..service_gateway()
    }
}

fn cfg() -> PolicySettings {
    PolicySettings {
        min_notify_interval_secs: 0,
        ..PolicySettings::default()
    }
}

#[test]
fn a_first_refusal_notifies_once_restarts_nothing_and_counts_no_crash() {
    let mut sim = Sim::new(unlogged(), cfg());
    sim.at(T0, running("a", T0));
    let actions = sim.at(T0 + 20, refused("a", T0, T0 + 20));
    // No restart, no snapshot request, no pause: ECS's scheduler starts the next task by itself.
    assert_eq!(kinds(&actions), ["notify"], "{actions:?}");
    let notice = notices(&actions)[0];
    assert_eq!(notice.kind, NoticeKind::StartRefused);
    assert_eq!(notice.severity, Severity::Critical);
    assert_eq!(notice.subject, "DOWN | home: refused to start (exit 78)");
    for needle in [
        "Action needed: find in its log why OpenClaw refused to start",
        "exited with code 78",
        "the cause is not known from the logs",
        "This is no crash",
        // Both causes and what to do about each.
        "another gateway already owns this state directory",
        "aws ecs list-tasks --cluster openclaw --service-name openclaw-gateway --desired-status RUNNING",
        "minimumHealthyPercent=0,maximumPercent=100",
        "startup migrations did not complete",
        "clawkeeper pause home",
        "aws ecs run-task --cluster openclaw",
        r#""command":["openclaw","doctor","--fix","--non-interactive"]"#,
        "clawkeeper resume home",
        "if that one refuses too, clawkeeper pauses the service",
        "exit code 78 (EX_CONFIG: OpenClaw refused to start)",
    ] {
        assert!(notice.message.contains(needle), "{needle}:\n{}", notice.message);
    }
    assert!(sim.state.recent_stops.is_empty(), "no crash counted");
    assert!(!sim.state.backoff.active);
    assert_eq!(sim.state.start_refusals.count, 1);
    assert_eq!(sim.state.phase, Phase::Down);
    // The down notice would only repeat it; the grace passes without one.
    for t in (T0 + 30..T0 + 600).step_by(30) {
        assert!(sim.tick(t).is_empty(), "at {t}");
    }
}

#[test]
fn a_second_refusal_in_a_row_pauses_the_service_without_a_second_notice() {
    let mut sim = Sim::new(unlogged(), cfg());
    sim.at(T0, running("a", T0));
    sim.at(T0 + 20, refused("a", T0, T0 + 20));
    // ECS's next task reaches RUNNING before it refuses too: the incident stays open.
    assert!(sim.at(T0 + 80, running("b", T0 + 80)).is_empty(), "no recovered");
    assert_eq!(sim.state.phase, Phase::Degraded);
    let actions = sim.at(T0 + 100, refused("b", T0 + 80, T0 + 100));
    assert!(
        matches!(
            actions[..],
            [Action {
                kind: ActionKind::SetDesiredCount { count: 0 },
                ..
            }]
        ),
        "the owner's pause action, nothing else: {actions:?}"
    );
    assert_eq!(sim.state.phase, Phase::Paused);
    let why = sim.state.start_refusals.paused_why.clone().unwrap_or_default();
    assert!(why.contains("refused to start twice in a row (exit 78)"), "{why}");
    assert_eq!(sim.kinds(), [NoticeKind::StartRefused], "one notice");

    // Nothing restarts it: not a tick, not a crash or refusal of the task ECS had started.
    sim.at(T0 + 110, running("c", T0 + 110));
    let actions = sim.at(T0 + 130, refused("c", T0 + 110, T0 + 130));
    assert!(actions.iter().all(|a| !a.kind.is_restart()), "{actions:?}");
    for t in (T0 + 200..T0 + 3000).step_by(60) {
        assert!(sim.tick(t).iter().all(|a| !a.kind.is_restart()));
    }
    assert_eq!(sim.state.phase, Phase::Paused);
    // The hour's reminder says it is paused and how to resume.
    sim.tick(T0 + 20 + 3600);
    let reminder = sim.notices().last().map(|n| (*n).clone()).expect("a reminder");
    assert_eq!(reminder.kind, NoticeKind::Reminder);
    assert!(
        reminder.subject.starts_with("PAUSED | home: still paused"),
        "{}",
        reminder.subject
    );
    assert!(
        reminder.message.contains("clawkeeper resume home"),
        "{}",
        reminder.message
    );
}

#[test]
fn refusals_never_make_a_crash_loop() {
    let mut sim = Sim::new(
        unlogged(),
        PolicySettings {
            crash_loop_stops: 2,
            ..cfg()
        },
    );
    // A crash, then a refusal, both fast: one crash, no loop.
    sim.at(T0, running("a", T0));
    sim.at(T0 + 30, exited("a", T0, T0 + 30, 1));
    sim.at(T0 + 60, running("b", T0 + 60));
    let actions = sim.at(T0 + 80, refused("b", T0 + 60, T0 + 80));
    assert!(!sim.state.backoff.active, "{actions:?}");
    assert_eq!(sim.state.recent_stops.len(), 1);
    assert!(!sim.kinds().contains(&NoticeKind::CrashLoop));
}

#[test]
fn a_healthy_run_between_resets_the_count() {
    let mut sim = Sim::new(unlogged(), cfg());
    sim.at(T0, running("a", T0));
    sim.at(T0 + 20, refused("a", T0, T0 + 20));
    sim.at(T0 + 80, running("b", T0 + 80));
    // Healthy for backoff_reset_secs: the run of refusals is over, the incident closes.
    let reset = i64::try_from(cfg().backoff_reset_secs).unwrap_or(i64::MAX);
    assert!(sim.tick(T0 + 80 + reset - 1).is_empty());
    let actions = sim.tick(T0 + 80 + reset);
    assert_eq!(notices(&actions).first().map(|n| n.kind), Some(NoticeKind::Recovered));
    assert_eq!(sim.state.start_refusals.count, 0);
    assert_eq!(sim.state.incident, None);
    assert_eq!(sim.state.phase, Phase::Healthy);
    // The next refusal is a first again: told, not paused.
    let t = T0 + 80 + reset + 100;
    let actions = sim.at(t, refused("b", T0 + 80, t));
    assert_eq!(kinds(&actions), ["notify"]);
    assert_eq!(sim.state.start_refusals.count, 1);
    assert_ne!(sim.state.phase, Phase::Paused);

    // A task that ran healthy before it crashed ends the run as well, ticks or not.
    let mut sim = Sim::new(unlogged(), cfg());
    sim.at(T0, refused("a", T0 - 20, T0));
    sim.at(T0 + 60, running("b", T0 + 60));
    sim.at(T0 + 60 + reset, exited("b", T0 + 60, T0 + 60 + reset, 1));
    assert_eq!(sim.state.start_refusals.count, 0);
    sim.at(T0 + 700, running("c", T0 + 700));
    sim.at(T0 + 720, refused("c", T0 + 700, T0 + 720));
    assert_eq!(sim.state.start_refusals.count, 1);
    assert_ne!(sim.state.phase, Phase::Paused);
}

#[test]
fn resume_lifts_the_pause_and_clears_the_count() {
    let mut sim = Sim::new(unlogged(), cfg());
    sim.at(T0, refused("a", T0 - 20, T0));
    sim.at(T0 + 60, refused("b", T0 + 40, T0 + 60));
    assert_eq!(sim.state.phase, Phase::Paused);
    let actions = sim.at(T0 + 600, owner(OwnerAction::Resume));
    assert!(
        matches!(
            actions[..],
            [Action {
                kind: ActionKind::SetDesiredCount { count: 1 },
                ..
            }]
        ),
        "{actions:?}"
    );
    assert_eq!(sim.state.start_refusals.count, 0);
    assert_eq!(sim.state.start_refusals.paused_at, None);
    assert_ne!(sim.state.phase, Phase::Paused);
    // It still refuses: a new run, told again (the owner's fix did not help), paused at its second.
    let actions = sim.at(T0 + 700, refused("c", T0 + 680, T0 + 700));
    assert_eq!(kinds(&actions), ["notify"]);
    let actions = sim.at(T0 + 800, refused("d", T0 + 780, T0 + 800));
    assert_eq!(kinds(&actions), ["set_desired_count"]);
    assert_eq!(sim.state.phase, Phase::Paused);

    // The owner's restart of a gateway paused this way starts it, like a resume.
    let actions = sim.at(T0 + 900, owner(OwnerAction::Restart));
    assert!(actions.iter().any(|a| a.kind.is_restart()), "{actions:?}");
    assert_eq!(sim.state.start_refusals.paused_at, None);
}

#[test]
fn the_cause_from_the_log_picks_the_remedy() {
    // Another writer: the log line first (the usual order), then the stop.
    let mut sim = Sim::new(service_gateway(), cfg());
    sim.at(T0, running("a", T0));
    sim.at(T0 + 18, logged(StartRefusalCause::AnotherWriter, T0 + 18));
    let actions = sim.at(T0 + 20, refused("a", T0, T0 + 20));
    let notice = notices(&actions)[0].clone();
    assert_eq!(
        notice.subject,
        "DOWN | home: refused to start (exit 78): another writer owns its state"
    );
    assert!(
        notice
            .message
            .contains("because another writer owns its state (its log says so)")
    );
    assert!(notice.message.contains("aws ecs list-tasks"), "{}", notice.message);
    assert!(
        !notice.message.contains("doctor"),
        "no migration steps:\n{}",
        notice.message
    );

    // An unsafe migration: its steps, not the writer's.
    let mut sim = Sim::new(service_gateway(), cfg());
    sim.at(T0 + 18, logged(StartRefusalCause::UnsafeMigration, T0 + 18));
    let actions = sim.at(T0 + 20, refused("a", T0, T0 + 20));
    let notice = notices(&actions)[0].clone();
    assert!(notice.subject.ends_with("unsafe state migration"), "{}", notice.subject);
    for needle in [
        "Action needed: run OpenClaw's doctor on its state",
        "clawkeeper pause home",
        "NET=$(aws ecs describe-services --cluster openclaw --services openclaw-gateway --query \
         'services[0].networkConfiguration' --output json)",
        "--network-configuration \"$NET\"",
        "--task-definition arn:aws:ecs:us-east-1:123456789012:task-definition/openclaw-gateway:7",
        "a newer OpenClaw build",
        "clawkeeper snapshots home",
    ] {
        assert!(notice.message.contains(needle), "{needle}:\n{}", notice.message);
    }
    assert!(!notice.message.contains("list-tasks"), "{}", notice.message);

    // A line of an older refusal says nothing about this one.
    let mut sim = Sim::new(service_gateway(), cfg());
    sim.at(T0 - 3600, logged(StartRefusalCause::AnotherWriter, T0 - 3600));
    assert!(
        sim.at(T0 + 20, refused("a", T0, T0 + 20)).is_empty(),
        "waits for this task's line"
    );
}

#[test]
fn the_notice_waits_a_little_for_a_late_log_line() {
    // The stop first: the notice waits for the line log-alerts may still deliver.
    let mut sim = Sim::new(service_gateway(), cfg());
    assert!(sim.at(T0 + 20, refused("a", T0, T0 + 20)).is_empty());
    let actions = sim.at(T0 + 25, logged(StartRefusalCause::UnsafeMigration, T0 + 19));
    let got = notices(&actions);
    assert_eq!(got.len(), 1);
    assert!(got[0].subject.ends_with("unsafe state migration"), "{}", got[0].subject);

    // No line at all: the wait ends, the notice says the cause is not known.
    let mut sim = Sim::new(service_gateway(), cfg());
    sim.at(T0 + 20, refused("a", T0, T0 + 20));
    assert!(sim.tick(T0 + 20 + LOG_WAIT_SECS - 1).is_empty());
    let actions = sim.tick(T0 + 20 + LOG_WAIT_SECS);
    let got = notices(&actions);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].message.contains("the cause is not known from the logs"),
        "{}",
        got[0].message
    );
    assert!(
        got[0]
            .message
            .contains("aws logs tail /ecs/openclaw-gateway --since 30m")
    );

    // The second refusal before the wait is over: paused, and the one notice says so.
    let mut sim = Sim::new(service_gateway(), cfg());
    sim.at(T0 + 20, refused("a", T0, T0 + 20));
    let actions = sim.at(T0 + 50, refused("b", T0 + 35, T0 + 50));
    assert_eq!(kinds(&actions), ["set_desired_count", "notify"]);
    let notice = notices(&actions)[0];
    assert!(
        notice
            .subject
            .starts_with("PAUSED | home: refused to start twice, paused"),
        "{}",
        notice.subject
    );
    assert!(
        notice
            .message
            .contains("paused the service (desired count 0) after 2 refused starts")
    );
    assert!(
        !notice.message.contains("clawkeeper pause"),
        "paused already:\n{}",
        notice.message
    );
}

#[test]
fn a_migration_headline_does_not_hide_the_writer_under_it() {
    let mut sim = Sim::new(service_gateway(), cfg());
    // `OpenClaw startup migrations did not complete cleanly ...` then `- ... externally supervised by ...`.
    sim.at(T0 + 19, logged(StartRefusalCause::UnsafeMigration, T0 + 19));
    sim.at(T0 + 19, logged(StartRefusalCause::AnotherWriter, T0 + 19));
    sim.at(T0 + 19, logged(StartRefusalCause::UnsafeMigration, T0 + 19));
    let actions = sim.at(T0 + 20, refused("a", T0, T0 + 20));
    assert!(notices(&actions)[0].subject.ends_with("another writer owns its state"));
    // A later refusal's own line does replace it.
    sim.at(T0 + 400, logged(StartRefusalCause::UnsafeMigration, T0 + 400));
    assert_eq!(
        sim.state.start_refusals.logged.map(|l| l.cause),
        Some(StartRefusalCause::UnsafeMigration)
    );
}

#[test]
fn the_same_refusal_delivered_again_counts_once() {
    let mut sim = Sim::new(unlogged(), cfg());
    sim.at(T0 + 20, refused("a", T0, T0 + 20));
    // Redelivered without its version (the bounded version map forgot it): still one.
    let Input::Signal(Signal::TaskStopped(mut stop)) = refused("a", T0, T0 + 20) else {
        unreachable!()
    };
    stop.task.version = None;
    assert!(sim.at(T0 + 30, Input::Signal(Signal::TaskStopped(stop))).is_empty());
    assert_eq!(sim.state.start_refusals.count, 1);
    assert_ne!(sim.state.phase, Phase::Paused);
}

#[test]
fn a_standalone_task_that_refused_stays_stopped() {
    let mut sim = Sim::new(
        Gateway {
            log_group: None,
            ..standalone_gateway()
        },
        cfg(),
    );
    sim.at(T0, running("a", T0));
    let actions = sim.at(T0 + 20, refused("a", T0, T0 + 20));
    // No RunTask (clawkeeper restarts a crashed standalone task; a refused one would refuse again).
    assert_eq!(kinds(&actions), ["notify"]);
    assert_eq!(sim.state.phase, Phase::Paused);
    let notice = notices(&actions)[0];
    assert!(
        notice.message.contains("did not start a new task"),
        "{}",
        notice.message
    );
    assert!(notice.message.contains("--family openclaw-solo"), "{}", notice.message);
    for t in (T0 + 60..T0 + 3000).step_by(60) {
        assert!(sim.tick(t).iter().all(|a| !a.kind.is_restart()));
    }
    let actions = sim.at(T0 + 3100, owner(OwnerAction::Resume));
    assert_eq!(kinds(&actions), ["run_task"]);
}

#[test]
fn while_the_owner_paused_a_refusal_counts_nothing() {
    let mut sim = Sim::new(unlogged(), cfg());
    sim.at(T0, running("a", T0));
    sim.at(T0 + 10, owner(OwnerAction::Pause));
    assert!(sim.at(T0 + 20, refused("a", T0, T0 + 20)).is_empty());
    assert_eq!(sim.state.start_refusals.count, 0);
    assert_eq!(sim.state.incident, None);
}

#[test]
fn a_refusal_after_minutes_of_migrating_still_counts_in_a_row() {
    // Startup migrations can take minutes before OpenClaw refuses: that time RUNNING was spent
    // starting, not serving, so it is no healthy run between the refusals.
    let mut sim = Sim::new(unlogged(), cfg());
    sim.at(T0 + 700, refused("a", T0, T0 + 700));
    sim.at(T0 + 1500, refused("b", T0 + 760, T0 + 1500));
    assert_eq!(sim.state.start_refusals.count, 2);
    assert_eq!(sim.state.phase, Phase::Paused);
}
