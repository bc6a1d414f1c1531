//! Scenario and property tests of the watchdog policy.

use proptest::prelude::*;

use super::fixtures::{Sim, T0, arn, service_gateway as service_gw, standalone_gateway as standalone_gw};
use super::*;
use crate::watch::notice::{NoticeKind, Severity};
use crate::watch::signal::{ContainerExit, TaskNetwork};

fn info(task: &str, version: u64, started_at: Option<i64>) -> TaskInfo {
    TaskInfo {
        task_arn: arn(task),
        version: Some(version),
        task_definition: Some("arn:aws:ecs:us-east-1:123456789012:task-definition/openclaw-gateway:7".into()),
        group: Some("service:openclaw-gateway".into()),
        started_at,
        network: Some(TaskNetwork {
            subnet_id: Some("subnet-0a1b2c3d".into()),
            private_ip: Some("10.0.1.23".into()),
        }),
        event_time: started_at,
    }
}

fn running(task: &str, started_at: i64) -> Input {
    Input::Signal(Signal::TaskRunning(info(task, 4, Some(started_at))))
}

fn stopped(task: &str, cause: StopCause, started_at: Option<i64>, stopped_at: i64) -> Input {
    let code = match &cause {
        StopCause::UserInitiated => "UserInitiated",
        StopCause::Replaced | StopCause::Maintenance => "ServiceSchedulerInitiated",
        StopCause::FailedToStart => "TaskFailedToStart",
        _ => "EssentialContainerExited",
    };
    Input::Signal(Signal::TaskStopped(TaskStop {
        task: info(task, 7, started_at),
        evidence: StopEvidence {
            task_arn: arn(task),
            stop_code: Some(code.into()),
            stopped_reason: Some("Essential container in task exited".into()),
            containers: vec![ContainerExit {
                name: "openclaw-gateway".into(),
                exit_code: Some(1),
                reason: None,
            }],
            runtime_secs: started_at.map(|s| stopped_at - s),
            stopped_at: Some(stopped_at),
        },
        cause,
    }))
}

fn crash(task: &str, started_at: i64, stopped_at: i64) -> Input {
    stopped(task, StopCause::Crashed, Some(started_at), stopped_at)
}

/// Drives the policy like `task-events` and the reconciler would, confirming every action done.
fn notices(actions: &[Action]) -> Vec<&Notice> {
    actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::Notify(n) => Some(n),
            _ => None,
        })
        .collect()
}

fn kinds_of(actions: &[Action]) -> Vec<&'static str> {
    actions.iter().map(|a| a.kind.name()).collect()
}

fn small() -> PolicySettings {
    PolicySettings {
        backoff_initial_secs: 60,
        backoff_max_secs: 100,
        backoff_max_tries: 2,
        ..PolicySettings::default()
    }
}

#[test]
fn crash_then_recovery_within_grace_sends_nothing() {
    let mut sim = Sim::new(service_gw(), PolicySettings::default());
    sim.at(T0, running("a", T0));
    assert_eq!(sim.state.phase, Phase::Healthy);
    let actions = sim.at(T0 + 3600, crash("a", T0, T0 + 3600));
    assert_eq!(kinds_of(&actions), ["request_snapshot"]);
    assert!(matches!(&actions[0].kind, ActionKind::RequestSnapshot { trigger } if trigger == "task-stopped"));
    assert_eq!(sim.state.phase, Phase::Down);
    assert!(sim.tick(T0 + 3630).is_empty());
    assert!(sim.at(T0 + 3640, running("b", T0 + 3640)).is_empty());
    for t in (T0 + 3660..T0 + 7200).step_by(60) {
        assert!(sim.tick(t).is_empty());
    }
    assert!(sim.notices().is_empty());
    assert_eq!(sim.state.incident, None);
    assert_eq!(sim.state.phase, Phase::Healthy);
}

#[test]
fn crash_with_down_notice_then_recovery() {
    let mut sim = Sim::new(service_gw(), PolicySettings::default());
    sim.at(T0, running("a", T0));
    sim.at(T0 + 3600, crash("a", T0, T0 + 3600));
    assert!(sim.tick(T0 + 3689).is_empty(), "grace not over");
    let actions = sim.tick(T0 + 3690);
    let down = notices(&actions);
    assert_eq!(down.len(), 1);
    assert_eq!(down[0].kind, NoticeKind::GatewayDown);
    assert_eq!(down[0].severity, Severity::Critical);
    assert_eq!(
        down[0].subject,
        "DOWN | home: stopped (exit code 1), not back after 1 min"
    );
    for needle in [
        "EssentialContainerExited",
        "exit code 1",
        "after 1 h running",
        "clawkeeper status home",
    ] {
        assert!(down[0].message.contains(needle), "{needle}:\n{}", down[0].message);
    }
    assert!(sim.tick(T0 + 3750).is_empty(), "down is sent once");
    let actions = sim.at(T0 + 3900, running("b", T0 + 3900));
    let recovered = notices(&actions);
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].kind, NoticeKind::Recovered);
    assert!(
        recovered[0]
            .message
            .contains("down or unstable for 5 min: the gateway process exited, 1 unexpected stop."),
        "{}",
        recovered[0].message
    );
    assert_eq!(sim.state.phase, Phase::Healthy);
    assert_eq!(sim.kinds(), [NoticeKind::GatewayDown, NoticeKind::Recovered]);
}

#[test]
fn zero_grace_notifies_at_once() {
    let cfg = PolicySettings {
        down_grace_secs: 0,
        ..PolicySettings::default()
    };
    let mut sim = Sim::new(service_gw(), cfg);
    let actions = sim.at(T0, crash("a", T0 - 3600, T0));
    assert_eq!(kinds_of(&actions), ["request_snapshot", "notify"]);
}

#[test]
fn three_fast_crashes_make_a_crash_loop_with_backoff_and_escalation() {
    let mut sim = Sim::new(service_gw(), small());
    let mut t = T0;
    for (i, task) in ["a", "b"].iter().enumerate() {
        sim.at(t, running(task, t));
        let actions = sim.at(t + 60, crash(task, t, t + 60));
        assert_eq!(kinds_of(&actions), ["request_snapshot"], "crash {i}");
        t += 100;
    }
    sim.at(t, running("c", t));
    let actions = sim.at(t + 60, crash("c", t, t + 60));
    assert_eq!(kinds_of(&actions), ["request_snapshot", "set_desired_count", "notify"]);
    assert!(matches!(actions[1].kind, ActionKind::SetDesiredCount { count: 0 }));
    let loop_notice = notices(&actions)[0];
    assert_eq!(loop_notice.kind, NoticeKind::CrashLoop);
    assert!(
        loop_notice.message.contains("stopped 3 times in 3 min 20 s")
            || loop_notice.message.contains("stopped 3 times in 3 min,"),
        "{}",
        loop_notice.message
    );
    assert!(loop_notice.message.contains("clawkeeper resume home"));
    assert_eq!(sim.state.phase, Phase::Backoff);
    let paused_at = t + 60;

    // ECS's replacement started before the pause took effect goes away: no new step.
    sim.at(paused_at + 5, running("d", paused_at + 2));
    assert!(
        sim.at(
            paused_at + 10,
            stopped("d", StopCause::Replaced, Some(paused_at + 2), paused_at + 10)
        )
        .is_empty()
    );

    // Resume after 60 s (try 1).
    assert!(sim.tick(paused_at + 59).is_empty());
    let actions = sim.tick(paused_at + 60);
    assert_eq!(kinds_of(&actions), ["set_desired_count"]);
    assert!(matches!(actions[0].kind, ActionKind::SetDesiredCount { count: 1 }));
    assert!(sim.tick(paused_at + 61).is_empty(), "one restart per step");
    assert_eq!(sim.state.phase, Phase::CrashLoop);

    // Crashes again: pause for 100 s (120 capped at 100), then try 2.
    let t = paused_at + 100;
    sim.at(t, running("e", t));
    assert_eq!(sim.state.phase, Phase::Degraded);
    let actions = sim.at(t + 30, crash("e", t, t + 30));
    assert_eq!(kinds_of(&actions), ["request_snapshot", "set_desired_count"]);
    assert_eq!(sim.state.backoff.resume_at, Some(t + 130));
    let actions = sim.tick(t + 130);
    assert_eq!(kinds_of(&actions), ["set_desired_count"]);

    // Crashes after the last try: stays paused, needs the owner.
    let t = t + 200;
    sim.at(t, running("f", t));
    let actions = sim.at(t + 30, crash("f", t, t + 30));
    let kinds = kinds_of(&actions);
    assert_eq!(kinds, ["request_snapshot", "set_desired_count", "notify"]);
    assert!(matches!(actions[1].kind, ActionKind::SetDesiredCount { count: 0 }));
    assert_eq!(notices(&actions)[0].kind, NoticeKind::BackoffPaused);
    assert_eq!(sim.state.phase, Phase::Paused);
    for step in 1..200 {
        let actions = sim.tick(t + 30 + step * 60);
        assert!(
            actions.iter().all(|a| !a.kind.is_restart()),
            "never restarts after escalation"
        );
    }
    // Reminders continue for the open incident.
    assert!(sim.kinds().contains(&NoticeKind::Reminder));

    // The owner resumes: started again, and the next RUNNING closes the incident.
    let t = t + 30 + 200 * 60;
    let actions = sim.at(t, Input::OwnerResume);
    assert!(matches!(
        actions[..],
        [Action {
            kind: ActionKind::SetDesiredCount { count: 1 },
            ..
        }]
    ));
    let actions = sim.at(t + 60, running("g", t + 60));
    assert_eq!(notices(&actions)[0].kind, NoticeKind::Recovered);
    assert_eq!(sim.state.phase, Phase::Healthy);
}

#[test]
fn backoff_resets_after_healthy_time() {
    let mut sim = Sim::new(service_gw(), small());
    for (i, task) in ["a", "b", "c"].iter().enumerate() {
        let t = T0 + i as i64 * 100;
        sim.at(t, running(task, t));
        sim.at(t + 50, crash(task, t, t + 50));
    }
    assert!(sim.state.backoff.active);
    let resume = sim.state.backoff.resume_at.expect("scheduled");
    sim.tick(resume);
    sim.at(resume + 30, running("d", resume + 30));
    assert!(sim.tick(resume + 30 + 599).is_empty());
    let actions = sim.tick(resume + 30 + 600);
    assert_eq!(notices(&actions)[0].kind, NoticeKind::Recovered);
    assert!(!sim.state.backoff.active);
    assert_eq!(sim.state.backoff.tries, 0);
    assert_eq!(sim.state.phase, Phase::Healthy);
    // A single crash afterwards is a plain incident again, not a continued crash loop.
    let t = resume + 2000;
    let actions = sim.at(t, crash("d", resume + 30, t));
    assert_eq!(kinds_of(&actions), ["request_snapshot"]);
}

#[test]
fn owner_stop_and_deployment_replacement_do_nothing() {
    let mut sim = Sim::new(service_gw(), PolicySettings::default());
    sim.at(T0, running("a", T0));
    assert!(
        sim.at(T0 + 100, stopped("a", StopCause::UserInitiated, Some(T0), T0 + 100))
            .is_empty()
    );
    sim.at(T0 + 200, running("b", T0 + 200));
    assert!(
        sim.at(T0 + 300, stopped("b", StopCause::Replaced, Some(T0 + 200), T0 + 300))
            .is_empty()
    );
    for t in (T0 + 300..T0 + 100_000).step_by(600) {
        assert!(sim.tick(t).is_empty());
    }
    assert_eq!(sim.state.incident, None);
    assert_eq!(sim.state.phase, Phase::Unknown);
}

#[test]
fn owner_pause_is_respected() {
    let cfg = PolicySettings {
        down_grace_secs: 0,
        ..small()
    };
    let mut sim = Sim::new(service_gw(), cfg.clone());
    sim.at(T0, running("a", T0));
    let actions = sim.at(T0 + 10, Input::OwnerPause);
    assert!(matches!(
        actions[..],
        [Action {
            kind: ActionKind::SetDesiredCount { count: 0 },
            ..
        }]
    ));
    assert_eq!(sim.state.phase, Phase::Paused);
    for i in 0..5 {
        let t = T0 + 20 + i * 30;
        let actions = sim.at(t, crash(&format!("x{i}"), t - 5, t));
        assert!(actions.iter().all(|a| !a.kind.is_restart()), "{actions:?}");
    }
    for t in (T0 + 200..T0 + 10_000).step_by(60) {
        assert!(sim.tick(t).iter().all(|a| !a.kind.is_restart()));
    }
    assert!(sim.notices().is_empty());
    // Found by the property test: service events while paused start no crash loop either.
    for i in 0..3 {
        let impaired = Input::Signal(Signal::ServiceImpaired {
            event_name: "SERVICE_TASK_START_IMPAIRED".into(),
            at: Some(T0 + 20_000 + i),
        });
        assert!(sim.at(T0 + 20_000 + i, impaired).is_empty());
    }
    assert!(!sim.state.backoff.active);

    // Paused by the owner in the middle of a backoff: the scheduled restart never happens.
    let mut sim = Sim::new(service_gw(), cfg);
    for (i, task) in ["a", "b", "c"].iter().enumerate() {
        let t = T0 + i as i64 * 100;
        sim.at(t, running(task, t));
        sim.at(t + 50, crash(task, t, t + 50));
    }
    assert!(sim.state.backoff.resume_at.is_some());
    sim.at(T0 + 260, Input::OwnerPause);
    for t in (T0 + 300..T0 + 5000).step_by(60) {
        assert!(sim.tick(t).iter().all(|a| !a.kind.is_restart()));
    }
}

#[test]
fn notices_within_the_interval_are_folded() {
    let cfg = PolicySettings {
        down_grace_secs: 0,
        ..PolicySettings::default()
    };
    let mut sim = Sim::new(service_gw(), cfg);
    let failed = |id: &str| {
        Input::Signal(Signal::DeploymentFailed {
            deployment_id: Some(id.into()),
            reason: Some("tasks failed to start".into()),
        })
    };
    let first = sim.at(T0, failed("d1"));
    assert_eq!(notices(&first)[0].kind, NoticeKind::DeploymentFailed);
    let actions = sim.at(T0 + 10, crash("a", T0 - 3600, T0 + 10));
    assert_eq!(kinds_of(&actions), ["request_snapshot"], "down held by the rate limit");
    assert!(sim.at(T0 + 20, failed("d2")).is_empty());
    assert!(
        sim.at(T0 + 20, failed("d2")).is_empty(),
        "a duplicate is not held twice"
    );
    assert!(sim.tick(T0 + 59).is_empty());
    let actions = sim.tick(T0 + 60);
    let folded = notices(&actions);
    assert_eq!(folded.len(), 1);
    // The deployment failure asks the owner to act and the held down notice (ECS restarts it)
    // does not: the failure leads, the severity is the down notice's critical.
    assert_eq!(folded[0].kind, NoticeKind::DeploymentFailed);
    assert_eq!(
        folded[0].severity,
        Severity::Critical,
        "the held down notice is critical"
    );
    assert!(
        folded[0].subject.starts_with("WARNING | home: "),
        "{}",
        folded[0].subject
    );
    assert!(folded[0].subject.ends_with("(+1 more)"), "{}", folded[0].subject);
    assert!(
        folded[0].message.contains("\n== DOWN | home: stopped"),
        "{}",
        folded[0].message
    );
    assert!(sim.state.held_notices.is_empty());
    assert!(sim.tick(T0 + 200).is_empty());
}

#[test]
fn reminders_follow_the_offsets_then_daily() {
    let cfg = PolicySettings {
        down_grace_secs: 0,
        ..PolicySettings::default()
    };
    let mut sim = Sim::new(service_gw(), cfg);
    sim.at(T0, crash("a", T0 - 3600, T0));
    let mut reminders = Vec::new();
    for t in (T0 + 60..T0 + 5 * 86_400).step_by(60) {
        for n in notices(&sim.tick(t)) {
            assert_eq!(n.kind, NoticeKind::Reminder);
            reminders.push(t - T0);
        }
    }
    assert_eq!(reminders, [3600, 6 * 3600, 24 * 3600, 48 * 3600, 72 * 3600, 96 * 3600]);
    assert_eq!(reminder_due(0, 0, &[]), None);
}

#[test]
fn silence_mutes_but_records() {
    let cfg = PolicySettings {
        down_grace_secs: 0,
        ..PolicySettings::default()
    };
    let mut sim = Sim::new(service_gw(), cfg);
    sim.at(T0, Input::Silence { until: T0 + 1000 });
    let actions = sim.at(T0 + 10, crash("a", T0 - 3600, T0 + 10));
    assert_eq!(kinds_of(&actions), ["request_snapshot"]);
    let incident = sim.state.incident.as_ref().expect("incident");
    assert!(
        incident
            .timeline
            .iter()
            .any(|e| e.what.starts_with("muted (gateway_down)"))
    );
    // After the silence, recovery is announced (the owner can read what happened meanwhile).
    let actions = sim.at(T0 + 2000, running("b", T0 + 2000));
    assert_eq!(notices(&actions)[0].kind, NoticeKind::Recovered);
}

#[test]
fn standalone_gateway_is_restarted_with_run_task_under_backoff() {
    let mut sim = Sim::new(standalone_gw(), small());
    sim.at(T0, running("a", T0));
    let actions = sim.at(T0 + 50, crash("a", T0, T0 + 50));
    assert_eq!(kinds_of(&actions), ["request_snapshot", "run_task"]);
    match &actions[1].kind {
        ActionKind::RunTask {
            task_definition,
            subnets,
            ..
        } => {
            assert!(task_definition.ends_with("openclaw-gateway:7"));
            assert_eq!(subnets, &["subnet-0a1b2c3d".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    sim.at(T0 + 100, running("b", T0 + 100));
    let actions = sim.at(T0 + 150, crash("b", T0 + 100, T0 + 150));
    assert_eq!(kinds_of(&actions), ["request_snapshot", "run_task"]);
    sim.at(T0 + 200, running("c", T0 + 200));
    let actions = sim.at(T0 + 250, crash("c", T0 + 200, T0 + 250));
    assert_eq!(
        kinds_of(&actions),
        ["request_snapshot", "notify"],
        "crash loop: no SetDesiredCount"
    );
    assert_eq!(sim.state.phase, Phase::Backoff);
    let actions = sim.tick(T0 + 310);
    assert_eq!(kinds_of(&actions), ["run_task"]);
    assert!(actions[0].key.contains("backoff-0/resume"), "{}", actions[0].key);

    // Next step; a task someone else starts meanwhile cancels our restart (never two writers).
    sim.at(T0 + 320, running("d", T0 + 320));
    sim.at(T0 + 330, crash("d", T0 + 320, T0 + 330));
    assert!(sim.state.backoff.resume_at.is_some());
    sim.at(T0 + 340, running("manual", T0 + 340));
    assert_eq!(sim.state.backoff.resume_at, None);
    for t in (T0 + 400..T0 + 600).step_by(30) {
        assert!(sim.tick(t).iter().all(|a| !a.kind.is_restart()));
    }
}

#[test]
fn duplicates_and_older_versions_change_nothing() {
    let mut sim = Sim::new(service_gw(), PolicySettings::default());
    sim.at(T0, running("a", T0));
    sim.at(T0 + 100, crash("a", T0, T0 + 100));
    let before = sim.state.clone();
    for input in [crash("a", T0, T0 + 100), running("a", T0)] {
        let out = plan(&before, &input, T0 + 120, &sim.cfg, &sim.gw);
        assert_eq!(out.state, before);
        assert!(out.actions.is_empty());
    }
}

#[test]
fn maintenance_and_unknown_stop_codes_open_incidents() {
    for cause in [
        StopCause::Maintenance,
        StopCause::Unknown("InfrastructureHealth".into()),
    ] {
        let mut sim = Sim::new(service_gw(), PolicySettings::default());
        sim.at(T0, running("a", T0));
        sim.at(T0 + 9000, stopped("a", cause.clone(), Some(T0), T0 + 9000));
        assert!(sim.state.incident.is_some(), "{cause:?}");
    }
}

#[test]
fn start_impaired_counts_as_failing_to_start() {
    let mut sim = Sim::new(service_gw(), small());
    for i in 0..3 {
        let actions = sim.at(
            T0 + i * 60,
            Input::Signal(Signal::ServiceImpaired {
                event_name: "SERVICE_TASK_START_IMPAIRED".into(),
                at: Some(T0 + i * 60),
            }),
        );
        if i == 2 {
            assert_eq!(kinds_of(&actions), ["set_desired_count", "notify"]);
        }
    }
    assert!(sim.state.backoff.active);
}

#[test]
fn deployment_start_requests_one_snapshot() {
    let mut sim = Sim::new(service_gw(), PolicySettings::default());
    let started = Input::Signal(Signal::DeploymentStarted {
        deployment_id: Some("ecs-svc/1".into()),
        reason: None,
    });
    let actions = sim.at(T0, started.clone());
    assert!(
        matches!(&actions[..], [Action { kind: ActionKind::RequestSnapshot { trigger }, key }] if trigger == "deployment-started" && key == "home/deploy/ecs-svc/1/snapshot")
    );
    assert!(sim.at(T0 + 1, started).is_empty());
}

#[test]
fn unconfirmed_actions_stay_in_the_outbox() {
    let cfg = PolicySettings {
        down_grace_secs: 0,
        ..PolicySettings::default()
    };
    let out = plan(
        &GatewayState::default(),
        &crash("a", T0 - 60, T0),
        T0,
        &cfg,
        &service_gw(),
    );
    assert_eq!(out.state.pending, out.actions);
    // A retry of the same input with the stored state plans nothing new.
    let again = plan(&out.state, &crash("a", T0 - 60, T0), T0 + 1, &cfg, &service_gw());
    assert!(again.actions.is_empty());
    let mut state = out.state;
    for a in &out.actions {
        assert!(state.confirm_done(&a.key));
    }
    assert!(state.pending.is_empty());
    let text = serde_json::to_string(&state).expect("serializes");
    assert_eq!(serde_json::from_str::<GatewayState>(&text).expect("loads"), state);
}

#[test]
fn backoff_delay_doubles_and_caps() {
    let cfg = PolicySettings::default();
    let delays: Vec<i64> = (0..8).map(|n| backoff_delay(n, &cfg)).collect();
    assert_eq!(delays, [60, 120, 240, 480, 960, 1800, 1800, 1800]);
    assert_eq!(backoff_delay(200, &cfg), 1800);
}

// ---- Property tests -------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// A new task reaches RUNNING.
    Start,
    /// The current task stops: 0 crash, 1 OOM, 2 owner stop, 3 deployment replacement, 4 failed start,
    /// 5 refused start (exit 78).
    Stop(u8),
    /// Redeliver an earlier task event (duplicate, or older version after a newer one).
    Replay(usize),
    Tick,
    Impaired,
    DeploymentFailed(u8),
    DeploymentStarted(u8),
    OwnerPause,
    OwnerResume,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Start),
        6 => (0u8..6).prop_map(Op::Stop),
        4 => any::<usize>().prop_map(Op::Replay),
        6 => Just(Op::Tick),
        1 => Just(Op::Impaired),
        1 => (0u8..3).prop_map(Op::DeploymentFailed),
        1 => (0u8..3).prop_map(Op::DeploymentStarted),
        1 => Just(Op::OwnerPause),
        1 => Just(Op::OwnerResume),
    ]
}

fn prop_settings() -> PolicySettings {
    PolicySettings {
        down_grace_secs: 90,
        crash_loop_stops: 3,
        crash_loop_window_secs: 600,
        crash_loop_max_runtime_secs: 300,
        backoff_initial_secs: 60,
        backoff_max_secs: 240,
        backoff_reset_secs: 300,
        backoff_max_tries: 3,
        reminder_secs: vec![600, 1800],
        min_notify_interval_secs: 60,
        ..PolicySettings::default()
    }
}

/// The crash-loop rule, computed independently of the state: some `window` span containing the
/// stop at `at` holds `n` stops that each ran less than `max_runtime`.
fn oracle(stops: &[(i64, i64)], at: i64, cfg: &PolicySettings) -> bool {
    let fast: Vec<i64> = stops
        .iter()
        .filter(|(_, r)| *r < cfg.crash_loop_max_runtime_secs as i64)
        .map(|(t, _)| *t)
        .collect();
    let n = cfg.crash_loop_stops as usize;
    let window = cfg.crash_loop_window_secs as i64;
    // Brute force over every start time: no sorting trick shared with the implementation.
    fast.iter().any(|&start| {
        start <= at && at - start <= window && fast.iter().filter(|&&t| t >= start && t <= start + window).count() >= n
    })
}

/// A late redelivery of a stop whose version fell out of the bounded map is still recognised.
fn already_recorded(state: &GatewayState, task_arn: &str) -> bool {
    state.recent_stops.iter().any(|r| r.task_arn == task_arn)
        || state
            .incident
            .as_ref()
            .is_some_and(|i| i.evidence.iter().any(|e| e.task_arn == task_arn))
}

fn run_ops(ops: &[(Op, i64)], standalone: bool) -> Result<(), TestCaseError> {
    let cfg = prop_settings();
    let gw = if standalone { standalone_gw() } else { service_gw() };
    let mut state = GatewayState::default();
    let mut now = T0;
    let mut task_no = 0;
    let mut current: Option<(String, i64)> = None;
    let mut delivered: Vec<Input> = Vec::new();
    let mut keys = std::collections::HashSet::new();
    let mut last_notice: Option<i64> = None;
    let mut window: Vec<(i64, i64)> = Vec::new();

    for (op, dt) in ops {
        now += dt;
        let input = match op {
            Op::Start => {
                task_no += 1;
                let task = format!("t{task_no}");
                current = Some((task.clone(), now));
                running(&task, now)
            }
            Op::Stop(kind) => {
                let (task, started) = match current.take() {
                    Some(c) => (c.0, Some(c.1)),
                    None => {
                        task_no += 1;
                        (format!("t{task_no}"), None)
                    }
                };
                let cause = match (kind, started) {
                    (_, None) | (4, _) => StopCause::FailedToStart,
                    (0, _) => StopCause::Crashed,
                    (1, _) => StopCause::OutOfMemory,
                    (5, _) => StopCause::StartRefused,
                    (2, _) => StopCause::UserInitiated,
                    _ => StopCause::Replaced,
                };
                let started = if cause == StopCause::FailedToStart {
                    None
                } else {
                    started
                };
                stopped(&task, cause, started, now)
            }
            Op::Replay(i) if !delivered.is_empty() => delivered[i % delivered.len()].clone(),
            Op::Replay(_) | Op::Tick => Input::Tick,
            Op::Impaired => Input::Signal(Signal::ServiceImpaired {
                event_name: "SERVICE_TASK_START_IMPAIRED".into(),
                at: Some(now),
            }),
            Op::DeploymentFailed(d) => Input::Signal(Signal::DeploymentFailed {
                deployment_id: Some(format!("d{d}")),
                reason: None,
            }),
            Op::DeploymentStarted(d) => Input::Signal(Signal::DeploymentStarted {
                deployment_id: Some(format!("d{d}")),
                reason: None,
            }),
            Op::OwnerPause => Input::OwnerPause,
            Op::OwnerResume => Input::OwnerResume,
        };
        if matches!(input, Input::Signal(Signal::TaskRunning(_) | Signal::TaskStopped(_))) {
            delivered.push(input.clone());
        }

        let out = plan(&state, &input, now, &cfg, &gw);
        prop_assert_eq!(&out, &plan(&state, &input, now, &cfg, &gw), "deterministic");

        // A stale task event changes nothing.
        if let Input::Signal(Signal::TaskRunning(task) | Signal::TaskStopped(TaskStop { task, .. })) = &input
            && state
                .seen_version(&task.task_arn)
                .is_some_and(|v| Some(v) >= task.version)
        {
            prop_assert_eq!(&out.state, &state);
            prop_assert!(out.actions.is_empty());
        }

        // The crash-loop rule, against an independent record of the unexpected stops.
        let fresh_stop = match &input {
            // A refused start is no crash: it never counts toward a crash loop.
            Input::Signal(Signal::TaskStopped(stop))
                if !stop.cause.is_expected()
                    && stop.cause != StopCause::StartRefused
                    && state
                        .seen_version(&stop.task.task_arn)
                        .is_none_or(|v| Some(v) < stop.task.version)
                    && !already_recorded(&state, &stop.task.task_arn) =>
            {
                let at = stop.evidence.stopped_at.unwrap_or(now).min(now);
                Some((at, stop.evidence.runtime_secs.unwrap_or(0)))
            }
            Input::Signal(Signal::ServiceImpaired { .. }) => Some((now, 0)),
            _ => None,
        };
        let declared = !state.backoff.active && out.state.backoff.active;
        // Paused by the owner, or after refused starts and still (a stop after a healthy run ends
        // that pause, and is then a stop like any other).
        let held = state.owner_paused || out.state.start_refusals.paused_at.is_some();
        if let Some(stop) = fresh_stop.filter(|_| !state.backoff.active && !held) {
            // Documented forgetting: stops older than twice the window are dropped.
            window.retain(|(t, _)| *t >= now - 2 * cfg.crash_loop_window_secs as i64);
            window.push(stop);
            let expected = stop.1 < cfg.crash_loop_max_runtime_secs as i64 && oracle(&window, stop.0, &cfg);
            prop_assert_eq!(declared, expected, "crash loop at {} with stops {:?}", now, window);
        } else {
            prop_assert!(!declared, "crash loop declared without a new stop");
        }
        if declared || matches!(input, Input::OwnerResume) {
            window.clear();
        }

        for action in &out.actions {
            prop_assert!(keys.insert(action.key.clone()), "key planned twice: {}", action.key);
            prop_assert!(out.state.pending.contains(action));
            if let ActionKind::Notify(n) = &action.kind {
                if let Some(last) = last_notice {
                    prop_assert!(
                        now - last >= cfg.min_notify_interval_secs as i64,
                        "notices at {} and {}",
                        last,
                        now
                    );
                }
                last_notice = Some(now);
                prop_assert!(n.subject.chars().count() < 100 && !n.subject.contains('\n'));
            }
            if action.kind.is_restart() {
                prop_assert!(
                    !held || matches!(input, Input::OwnerResume),
                    "restart while paused: {:?}",
                    action
                );
            }
        }
        // A refused start restarts nothing and asks for no snapshot of its own.
        if let Input::Signal(Signal::TaskStopped(stop)) = &input
            && stop.cause == StopCause::StartRefused
        {
            let id = short_task_id(&stop.task.task_arn);
            for action in out.actions.iter().filter(|a| a.key.contains(&format!("/{id}"))) {
                prop_assert!(
                    !action.kind.is_restart() && !matches!(action.kind, ActionKind::RequestSnapshot { .. }),
                    "{:?} for a refused start",
                    action
                );
            }
        }
        // Paused after refused starts only after enough of them in a row (at once when standalone).
        if out.state.start_refusals.paused_at.is_some() && state.start_refusals.paused_at.is_none() {
            let needed = if standalone {
                1
            } else {
                crate::watch::start_refusal::REFUSALS_TO_PAUSE
            };
            prop_assert!(
                out.state.start_refusals.count >= needed,
                "{:?}",
                out.state.start_refusals
            );
            prop_assert_eq!(out.state.phase, Phase::Paused);
        }
        // Restarts within one plan: at most one.
        prop_assert!(out.actions.iter().filter(|a| a.kind.is_restart()).count() <= 1);

        let text = serde_json::to_string(&out.state).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: GatewayState = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &out.state);

        state = out.state;
        for a in &out.actions {
            state.confirm_done(&a.key);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn policy_invariants_hold_for_service(ops in prop::collection::vec((op(), 1i64..400), 1..80)) {
        run_ops(&ops, false)?;
    }

    #[test]
    fn policy_invariants_hold_for_standalone(ops in prop::collection::vec((op(), 1i64..400), 1..80)) {
        run_ops(&ops, true)?;
    }

    #[test]
    fn plan_never_panics_on_any_state(
        tries in 0u32..20,
        resume in prop::option::of(0i64..10_000),
        active in any::<bool>(),
        escalated in any::<bool>(),
        paused in any::<bool>(),
        last_notice in prop::option::of(-100i64..10_000),
        now in -1000i64..1_000_000,
        grace in 0u64..1000,
    ) {
        let mut state = GatewayState::default();
        state.backoff = crate::watch::state::Backoff { active, tries, resume_at: resume, escalated };
        state.owner_paused = paused;
        state.last_notice_at = last_notice;
        let cfg = PolicySettings { down_grace_secs: grace, ..prop_settings() };
        for input in [Input::Tick, crash("z", now - 10, now), Input::OwnerResume, Input::OwnerPause] {
            let _ = plan(&state, &input, now, &cfg, &service_gw());
            let _ = plan(&state, &input, now, &cfg, &standalone_gw());
        }
    }
}
