//! Scenario and property tests of the health rules: ECS repair, hung tasks (and probes that cannot
//! see the gateway), channels, single writer, snapshot freshness and a rejected token.

use proptest::prelude::*;

use crate::ecs::DeploymentLimits;
use crate::gateway::Gateway;
use crate::policy_settings::PolicySettings;
use crate::watch::action::{Action, ActionKind};
use crate::watch::health::{
    ChannelEvent, ChannelSignal, EcsObservation, Observation, ProbeMode, ProbeOutcome, ProbeReport, ProbeStatus,
    SnapshotCheck, Startup,
};
use crate::watch::notice::NoticeKind;
use crate::watch::plan::fixtures::{
    Sim, T0, arn, ecs_running as ecs, observed_task as task, service_gateway_with_token as gw,
    standalone_gateway as standalone,
};
use crate::watch::signal::{Signal, TaskInfo};
use crate::watch::state::GatewayState;
use crate::watch::{Input, plan};

fn cfg() -> PolicySettings {
    PolicySettings {
        down_grace_secs: 90,
        min_notify_interval_secs: 0,
        hung_probe_failures: 3,
        channel_grace_secs: 180,
        snapshot_interval_secs: 3600,
        ..PolicySettings::default()
    }
}

/// A reconciler pass in the VPC: `Some(true)` live, `Some(false)` reached but wrong (an HTML page),
/// `None` nothing probed.
fn observe(ecs: EcsObservation, live: Option<bool>) -> Input {
    let outcome = live.map(|l| if l { ProbeOutcome::Live } else { ProbeOutcome::Failed });
    probed(ecs, outcome)
}

fn probed(ecs: EcsObservation, outcome: Option<ProbeOutcome>) -> Input {
    let detail = match outcome {
        Some(ProbeOutcome::Live) => None,
        Some(ProbeOutcome::Failed) => Some("HTML instead of the JSON contract".into()),
        Some(ProbeOutcome::Unreachable) => Some("could not reach the gateway: connection refused".into()),
        None => Some("no RUNNING task to probe".into()),
    };
    Input::Observed(Observation {
        ecs: Some(ecs),
        probe: Some(ProbeReport {
            mode: ProbeMode::TaskIp,
            outcome,
            detail,
            ..Default::default()
        }),
        snapshot: SnapshotCheck::NotChecked,
        snapshot_failure: None,
        channels: Default::default(),
    })
}

/// A reconciler pass outside the VPC without a `probe_url`: nothing can be probed.
fn unavailable(ecs: EcsObservation) -> Input {
    Input::Observed(Observation {
        ecs: Some(ecs),
        probe: Some(ProbeReport::skipped(ProbeMode::Unavailable, crate::health::OUTSIDE_VPC)),
        snapshot: SnapshotCheck::NotChecked,
        snapshot_failure: None,
        channels: Default::default(),
    })
}

fn channel(kind: ChannelEvent, at: i64) -> Input {
    Input::Channel(ChannelSignal {
        channel: "whatsapp".into(),
        account: None,
        kind,
        at,
        running_tasks: None,
    })
}

fn kinds(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match &a.kind {
            ActionKind::Notify(n) => format!("notify:{}", n.kind.as_str()),
            other => other.name().to_string(),
        })
        .collect()
}

fn notice(actions: &[Action], kind: NoticeKind) -> String {
    actions
        .iter()
        .find_map(|a| match &a.kind {
            ActionKind::Notify(n) if n.kind == kind => Some(format!("{}\n{}", n.subject, n.message)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {kind:?} in {actions:?}"))
}

#[test]
fn a_service_with_nothing_running_and_no_incident_gets_one() {
    let mut sim = Sim::new(gw(), cfg());
    let none = ecs(Vec::new());
    assert!(
        kinds(&sim.at(T0, observe(none.clone(), None))).is_empty(),
        "grace first"
    );
    assert_eq!(sim.state.phase.as_str(), "down");
    assert!(sim.state.incident.is_some());
    assert_eq!(
        kinds(&sim.at(T0 + 60, observe(none.clone(), None))),
        Vec::<String>::new()
    );
    let got = sim.at(T0 + 90, observe(none.clone(), None));
    assert_eq!(kinds(&got), ["notify:gateway_down"]);
    assert!(notice(&got, NoticeKind::GatewayDown).contains("no task running or starting"));
    // Running again (its event missed too): recovered.
    let got = sim.at(T0 + 200, observe(ecs(vec![task("b", T0 + 190)]), Some(true)));
    assert_eq!(kinds(&got), ["notify:recovered"]);
    assert_eq!(sim.state.phase.as_str(), "healthy");
    assert_eq!(sim.state.running.as_ref().map(|r| r.task_arn.clone()), Some(arn("b")));
}

#[test]
fn starting_paused_or_scaled_down_services_open_nothing() {
    let mut sim = Sim::new(gw(), cfg());
    let starting = EcsObservation {
        pending: 1,
        ..ecs(Vec::new())
    };
    sim.at(T0, observe(starting, None));
    let scaled_down = EcsObservation {
        desired: Some(0),
        ..ecs(Vec::new())
    };
    sim.at(T0 + 60, observe(scaled_down, None));
    assert!(sim.state.incident.is_none());
    // A standalone gateway has no desired count: nothing is expected to run.
    let mut solo = Sim {
        gw: standalone(),
        ..Sim::new(gw(), cfg())
    };
    solo.at(
        T0,
        observe(
            EcsObservation {
                desired: None,
                ..ecs(Vec::new())
            },
            None,
        ),
    );
    assert!(solo.state.incident.is_none());
}

#[test]
fn a_missed_stop_is_taken_from_ecs_with_its_evidence() {
    let mut sim = Sim::new(gw(), cfg());
    sim.at(T0, observe(ecs(vec![task("a", T0 - 600)]), Some(true)));
    assert_eq!(sim.state.phase.as_str(), "healthy");
    let mut stopped = task("a", T0 - 600);
    stopped.stop_code = Some("EssentialContainerExited".into());
    stopped.stopped_reason = Some("Essential container in task exited".into());
    stopped.stopped_at = Some(T0 + 30);
    let view = EcsObservation {
        pending: 1,
        stopped: vec![stopped],
        ..ecs(Vec::new())
    };
    let got = sim.at(T0 + 60, observe(view, None));
    assert_eq!(kinds(&got), ["request_snapshot"]);
    let incident = sim.state.incident.clone().expect("incident");
    assert_eq!(
        incident.evidence[0].stop_code.as_deref(),
        Some("EssentialContainerExited")
    );
    assert_eq!(incident.down_since, T0 + 30);
    // The late event of the same stop adds nothing.
    let again = sim.at(T0 + 61, observe(ecs(Vec::new()), None));
    assert!(!kinds(&again).contains(&"request_snapshot".to_string()));
}

#[test]
fn a_task_ecs_does_not_know_is_left_to_its_events() {
    let mut sim = Sim::new(gw(), cfg());
    let info = TaskInfo {
        task_arn: arn("e"),
        version: Some(2),
        task_definition: None,
        group: None,
        started_at: Some(T0),
        network: None,
        event_time: None,
    };
    sim.at(T0, Input::Signal(Signal::TaskRunning(info)));
    let got = sim.at(T0 + 60, observe(ecs(Vec::new()), None));
    assert!(got.is_empty(), "{got:?}");
    assert!(sim.state.running.is_some() && sim.state.incident.is_none());
}

#[test]
fn a_hung_task_is_stopped_after_the_configured_failures_within_the_budget() {
    let mut sim = Sim::new(gw(), cfg());
    let mut now = T0;
    let mut stops = Vec::new();
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        let view = ecs(vec![task(id, now - 600)]);
        sim.at(now, observe(view.clone(), Some(true)));
        for n in 1..=3 {
            now += 60;
            let got = sim.at(now, observe(view.clone(), Some(false)));
            if n < 3 {
                assert!(got.is_empty(), "failure {n} of {id}: {got:?}");
                assert_eq!(sim.state.health.probe_failures, n);
                continue;
            }
            if i < 2 {
                assert_eq!(kinds(&got), ["stop_task", "notify:hung_restarted"], "{id}");
                let text = notice(&got, NoticeKind::HungRestarted);
                assert!(text.contains("3 times in a row") && text.contains("HTML"), "{text}");
                stops.push(now);
            } else {
                // Third hung task within the window: out of budget, the crash-loop backoff pauses.
                assert_eq!(kinds(&got), ["set_desired_count", "notify:crash_loop"], "{got:?}");
                assert!(sim.state.backoff.active);
            }
        }
        now += 60;
    }
    assert_eq!(stops.len(), 2);
    // Recovered once the replacement runs (after the backoff, past its reset).
}

#[test]
fn probe_failures_need_ecs_running_a_streak_and_a_started_task() {
    let mut sim = Sim::new(gw(), cfg());
    // Just started: failures do not count during the startup grace.
    let fresh = ecs(vec![task("a", T0 - 10)]);
    for i in 0..5 {
        assert!(sim.at(T0 + i, observe(fresh.clone(), Some(false))).is_empty());
    }
    assert_eq!(sim.state.health.probe_failures, 0);
    let old = ecs(vec![task("a", T0 - 600)]);
    sim.at(T0 + 60, observe(old.clone(), Some(false)));
    sim.at(T0 + 120, observe(old.clone(), Some(false)));
    // A success breaks the streak.
    sim.at(T0 + 180, observe(old.clone(), Some(true)));
    assert_eq!(sim.state.health.probe_failures, 0);
    sim.at(T0 + 240, observe(old.clone(), Some(false)));
    // Not RUNNING per ECS: no streak.
    sim.at(
        T0 + 300,
        observe(
            EcsObservation {
                pending: 1,
                ..ecs(Vec::new())
            },
            Some(false),
        ),
    );
    assert_eq!(sim.state.health.probe_failures, 0);
    // Paused by the owner: never stopped.
    let mut paused = Sim::new(gw(), cfg());
    paused.state.owner_paused = true;
    for i in 0..6 {
        let got = paused.at(T0 + 60 * i, observe(old.clone(), Some(false)));
        assert!(!kinds(&got).contains(&"stop_task".to_string()), "{got:?}");
    }
}

/// A failed liveness probe with what `/startupz` said.
fn failed_with(ecs: EcsObservation, startup: Option<Startup>) -> Input {
    let Input::Observed(mut observation) = probed(ecs, Some(ProbeOutcome::Failed)) else {
        unreachable!("probed makes an observation")
    };
    if let Some(probe) = observation.probe.as_mut() {
        probe.startup = startup;
    }
    Input::Observed(observation)
}

#[test]
fn a_slow_start_is_never_a_hang_and_hung_detection_begins_when_startupz_says_started() {
    let mut sim = Sim::new(gw(), cfg());
    // Started ten minutes ago and still starting (well within four times the 300 s grace): however
    // many probes fail, nothing counts.
    let slow = ecs(vec![task("a", T0 - 600)]);
    for i in 0..10 {
        let got = sim.at(T0 + 60 * i, failed_with(slow.clone(), Some(Startup::Starting)));
        assert!(got.is_empty(), "tick {i}: {got:?}");
    }
    assert_eq!(sim.state.health.probe_failures, 0);
    // Draining (shutting down) never counts either.
    assert!(
        sim.at(T0 + 700, failed_with(slow.clone(), Some(Startup::Draining)))
            .is_empty()
    );
    assert_eq!(sim.state.health.probe_failures, 0);
    // Started: from now on failures count, also when /startupz no longer answers (a hung
    // gateway's does not).
    sim.at(T0 + 760, failed_with(slow.clone(), Some(Startup::Started)));
    assert_eq!(sim.state.health.probe_failures, 1);
    sim.at(T0 + 820, failed_with(slow.clone(), None));
    let got = sim.at(T0 + 880, failed_with(slow.clone(), None));
    assert_eq!(kinds(&got), ["stop_task", "notify:hung_restarted"], "{got:?}");
}

#[test]
fn without_startupz_a_new_tasks_first_startup_grace_does_not_count_and_a_stuck_start_does() {
    let mut sim = Sim::new(gw(), cfg());
    // An older gateway without /startupz: the first 300 s of the task do not count, whatever
    // down_grace_secs says.
    let fresh = ecs(vec![task("a", T0)]);
    for t in [100, 200, 299] {
        assert!(sim.at(T0 + t, failed_with(fresh.clone(), None)).is_empty());
    }
    assert_eq!(sim.state.health.probe_failures, 0);
    sim.at(T0 + 300, failed_with(fresh.clone(), None));
    assert_eq!(sim.state.health.probe_failures, 1);

    // Still "starting" after four times the grace: stuck, and counted.
    let mut stuck = Sim::new(gw(), cfg());
    let old = ecs(vec![task("b", T0 - 1200)]);
    stuck.at(T0, failed_with(old.clone(), Some(Startup::Starting)));
    assert_eq!(stuck.state.health.probe_failures, 1);

    // A task that said started is remembered; a new task is not.
    let mut sim = Sim::new(gw(), cfg());
    let a = ecs(vec![task("a", T0)]);
    let Input::Observed(mut live) = observe(a.clone(), Some(true)) else {
        unreachable!()
    };
    live.probe.as_mut().expect("probe").startup = Some(Startup::Started);
    sim.at(T0 + 10, Input::Observed(live));
    assert_eq!(sim.state.health.started_task.as_deref(), Some(arn("a").as_str()));
    sim.at(T0 + 20, failed_with(a, None));
    assert_eq!(sim.state.health.probe_failures, 1, "started before: counts at once");
    let b = ecs(vec![task("b", T0 + 30)]);
    sim.at(T0 + 40, failed_with(b, None));
    assert_eq!(sim.state.health.probe_failures, 0, "a new task gets its startup grace");
}

#[test]
fn a_hung_standalone_task_is_replaced_once_it_is_gone() {
    let mut sim = Sim {
        gw: standalone(),
        ..Sim::new(gw(), cfg())
    };
    let view = EcsObservation {
        desired: None,
        ..ecs(vec![task("a", T0 - 600)])
    };
    sim.at(T0, observe(view.clone(), Some(true)));
    sim.at(T0 + 60, observe(view.clone(), Some(false)));
    sim.at(T0 + 120, observe(view.clone(), Some(false)));
    let got = sim.at(T0 + 180, observe(view.clone(), Some(false)));
    assert_eq!(kinds(&got), ["stop_task", "notify:hung_restarted"]);
    // Still stopping: no second writer.
    assert!(sim.at(T0 + 200, observe(view.clone(), None)).is_empty());
    let gone = EcsObservation {
        desired: None,
        ..ecs(Vec::new())
    };
    let got = sim.at(T0 + 240, observe(gone.clone(), None));
    assert_eq!(kinds(&got), ["run_task"]);
    assert!(sim.at(T0 + 300, observe(gone, None)).is_empty());
}

#[test]
fn unreachable_probes_are_unknown_they_neither_count_nor_reset_a_streak() {
    let mut sim = Sim::new(gw(), cfg());
    let view = ecs(vec![task("a", T0 - 600)]);
    let unreachable = || probed(view.clone(), Some(ProbeOutcome::Unreachable));
    sim.at(T0, observe(view.clone(), Some(true)));
    // Refused, timed out, no route: any number of them stops nothing.
    for i in 1..=20 {
        let got = sim.at(T0 + 60 * i, unreachable());
        assert!(got.is_empty(), "unreachable probe {i}: {got:?}");
        assert_eq!(sim.state.health.probe_failures, 0);
    }
    assert!(sim.state.incident.is_none());
    // Failures with unknowns between them are still "in a row": the streak waits, it does not reset.
    let mut now = T0 + 60 * 21;
    for step in [Some(false), None, Some(false), None] {
        now += 60;
        let got = sim.at(
            now,
            if step.is_some() {
                observe(view.clone(), step)
            } else {
                unreachable()
            },
        );
        assert!(got.is_empty(), "{got:?}");
    }
    assert_eq!(sim.state.health.probe_failures, 2);
    assert_eq!(sim.state.health.probe_task.as_deref(), Some(arn("a").as_str()));
    let got = sim.at(now + 60, observe(view.clone(), Some(false)));
    assert_eq!(kinds(&got), ["stop_task", "notify:hung_restarted"]);
    // Nothing probed in a pass (no single task with an IP) leaves the streak alone as well.
    let mut quiet = Sim::new(gw(), cfg());
    quiet.at(T0, observe(view.clone(), Some(false)));
    quiet.at(T0 + 60, probed(view.clone(), None));
    assert_eq!(quiet.state.health.probe_failures, 1);
}

#[test]
fn outside_the_vpc_a_running_task_is_never_stopped_and_status_says_why() {
    let mut sim = Sim::new(gw(), cfg());
    let view = ecs(vec![task("a", T0 - 600)]);
    for i in 0..30 {
        let got = sim.at(T0 + 60 * i, unavailable(view.clone()));
        assert!(got.is_empty(), "pass {i}: {got:?}");
    }
    assert_eq!(sim.state.phase.as_str(), "healthy");
    assert!(sim.state.incident.is_none());
    let status = sim.state.health.probe.clone().expect("probe status");
    assert_eq!(status.mode, ProbeMode::Unavailable);
    assert_eq!(status.last_outcome, None);
    assert!(
        status.reason.as_deref().is_some_and(|r| r.contains("ProbeInVpc=true")),
        "{status:?}"
    );
}

#[test]
fn the_probe_status_keeps_the_mode_and_the_last_outcome_and_writes_only_changes() {
    let mut sim = Sim::new(gw(), cfg());
    let view = ecs(vec![task("a", T0 - 600)]);
    sim.at(T0, observe(view.clone(), Some(true)));
    let live = ProbeStatus {
        mode: ProbeMode::TaskIp,
        reason: None,
        last_outcome: Some(ProbeOutcome::Live),
        last_detail: None,
        since: Some(T0),
        startup: None,
        ready: None,
        failing: Vec::new(),
    };
    assert_eq!(sim.state.health.probe.as_ref(), Some(&live));
    // The same answer a minute later changes nothing: no state write.
    let before = sim.state.clone();
    sim.at(T0 + 60, observe(view.clone(), Some(true)));
    assert_eq!(sim.state, before);
    sim.at(T0 + 120, probed(view.clone(), Some(ProbeOutcome::Unreachable)));
    let status = sim.state.health.probe.clone().expect("status");
    assert_eq!(status.last_outcome, Some(ProbeOutcome::Unreachable));
    assert_eq!(status.since, Some(T0 + 120));
    assert!(
        status
            .last_detail
            .as_deref()
            .is_some_and(|d| d.contains("could not reach"))
    );
    // No task to probe: the reason shows, the last outcome stays.
    sim.at(T0 + 180, probed(ecs(Vec::new()), None));
    let status = sim.state.health.probe.clone().expect("status");
    assert_eq!(status.last_outcome, Some(ProbeOutcome::Unreachable));
    assert_eq!(status.reason.as_deref(), Some("no RUNNING task to probe"));
    // Another mode starts afresh.
    sim.at(T0 + 240, unavailable(view));
    let status = sim.state.health.probe.clone().expect("status");
    assert_eq!(
        (status.mode, status.last_outcome, status.since),
        (ProbeMode::Unavailable, None, None)
    );
    // Older states without the field still load.
    let old: GatewayState = serde_json::from_str(r#"{"health":{"probe_failures":2}}"#).expect("old state");
    assert_eq!(old.health.probe, None);
    let text = serde_json::to_value(&sim.state.health.probe).expect("json");
    assert_eq!(text["mode"], "unavailable");
}

#[test]
fn single_writer_violations_are_notified_once_per_episode() {
    let mut sim = Sim::new(gw(), cfg());
    let two = ecs(vec![task("a", T0 - 600), task("b", T0 - 30)]);
    let got = sim.at(T0, observe(two.clone(), Some(true)));
    assert_eq!(kinds(&got), ["notify:single_writer_violation"]);
    let text = notice(&got, NoticeKind::SingleWriterViolation);
    assert!(
        text.contains("2 tasks of gateway home run at once")
            && text.contains("aws ecs stop-task --cluster openclaw --task a "),
        "{text}"
    );
    assert!(sim.at(T0 + 60, observe(two.clone(), Some(true))).is_empty());
    sim.at(T0 + 120, observe(ecs(vec![task("b", T0 - 30)]), Some(true)));
    assert_eq!(sim.state.health.single_writer_since, None);
    let limits = EcsObservation {
        limits: Some(DeploymentLimits {
            minimum_healthy_percent: Some(100),
            maximum_percent: Some(200),
        }),
        ..ecs(vec![task("b", T0 - 30)])
    };
    let got = sim.at(T0 + 180, observe(limits.clone(), Some(true)));
    let text = notice(&got, NoticeKind::SingleWriterViolation);
    assert!(
        text.contains("minimumHealthyPercent=0,maximumPercent=100") && text.contains("minimum healthy 100 %"),
        "{text}"
    );
    assert!(sim.at(T0 + 240, observe(limits, Some(true))).is_empty());
}

#[test]
fn a_logout_asks_for_a_relink_at_once_and_a_reconnect_closes_it() {
    let mut sim = Sim::new(gw(), cfg());
    sim.at(T0, observe(ecs(vec![task("a", T0 - 600)]), Some(true)));
    let got = sim.at(T0 + 5, channel(ChannelEvent::LoggedOut, T0 + 4));
    assert_eq!(kinds(&got), ["notify:relink_needed"]);
    let text = notice(&got, NoticeKind::RelinkNeeded);
    for needle in [
        "aws ecs execute-command --cluster openclaw",
        "--container openclaw-gateway",
        "--command \"runuser -u node -- openclaw channels login --channel whatsapp --account default\"",
        "--task a ",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(text.lines().next().is_some_and(|s| s.chars().count() < 100));
    // The same episode's next lines (creds cleared, duplicates) send nothing more, even after grace.
    assert!(sim.at(T0 + 6, channel(ChannelEvent::AuthCleared, T0 + 5)).is_empty());
    assert!(sim.at(T0 + 6, channel(ChannelEvent::LoggedOut, T0 + 4)).is_empty());
    assert!(sim.at(T0 + 1000, Input::Tick).is_empty());
    let got = sim.at(T0 + 1200, channel(ChannelEvent::Connected, T0 + 1200));
    assert_eq!(kinds(&got), ["notify:recovered"]);
    assert!(sim.state.health.channels.is_empty());
}

#[test]
fn a_transient_disconnect_waits_for_the_grace_and_heals_silently_within_it() {
    let mut sim = Sim::new(gw(), cfg());
    assert!(sim.at(T0, channel(ChannelEvent::ReconnectExhausted, T0)).is_empty());
    assert!(sim.at(T0 + 179, Input::Tick).is_empty());
    let got = sim.at(T0 + 180, Input::Tick);
    assert_eq!(kinds(&got), ["notify:channel_down"]);
    assert!(notice(&got, NoticeKind::ChannelDown).contains("openclaw gateway call channels.start"));
    assert!(sim.at(T0 + 400, Input::Tick).is_empty());
    assert_eq!(
        kinds(&sim.at(T0 + 500, channel(ChannelEvent::Connected, T0 + 500))),
        ["notify:recovered"]
    );
    // Flapping within the grace: nothing at all.
    let mut quiet = Sim::new(gw(), cfg());
    for i in 0..5 {
        let t = T0 + i * 100;
        assert!(quiet.at(t, channel(ChannelEvent::GaveUp, t)).is_empty());
        assert!(quiet.at(t + 50, channel(ChannelEvent::Connected, t + 50)).is_empty());
        assert!(quiet.at(t + 99, Input::Tick).is_empty());
    }
}

#[test]
fn a_conflict_with_two_tasks_also_reports_the_single_writer_violation() {
    let mut sim = Sim::new(gw(), cfg());
    let got = sim.at(
        T0,
        Input::Channel(ChannelSignal {
            channel: "whatsapp".into(),
            account: Some("work".into()),
            kind: ChannelEvent::Conflict,
            at: T0,
            running_tasks: Some(2),
        }),
    );
    assert_eq!(kinds(&got), ["notify:single_writer_violation", "notify:relink_needed"]);
    let text = notice(&got, NoticeKind::RelinkNeeded);
    assert!(
        text.contains("Two gateway tasks ran at once") && text.contains("--account work"),
        "{text}"
    );
    assert!(sim.state.health.single_writer_since.is_some());
    // With the rate limit, the two fold into one message that lists both.
    let mut limited = Sim::new(gw(), cfg());
    limited.cfg.min_notify_interval_secs = 60;
    limited.at(T0 - 30, channel(ChannelEvent::GaveUp, T0 - 30));
    assert_eq!(kinds(&limited.at(T0 + 150, Input::Tick)), ["notify:channel_down"]);
    let conflict = Input::Channel(ChannelSignal {
        channel: "whatsapp".into(),
        account: Some("work".into()),
        kind: ChannelEvent::Conflict,
        at: T0 + 170,
        running_tasks: Some(2),
    });
    assert!(limited.at(T0 + 170, conflict).is_empty(), "held by the rate limit");
    let got = limited.at(T0 + 210, Input::Tick);
    assert_eq!(kinds(&got), ["notify:relink_needed"]);
    assert!(notice(&got, NoticeKind::RelinkNeeded).contains("single_writer_violation"));
}

#[test]
fn readyz_failing_channels_open_episodes_that_a_ready_probe_closes() {
    let mut sim = Sim::new(gw(), cfg());
    let failing = |ready: bool, failing: Vec<&str>| {
        Input::Observed(Observation {
            ecs: Some(ecs(vec![task("a", T0 - 600)])),
            probe: Some(ProbeReport {
                outcome: Some(ProbeOutcome::Live),
                ready: Some(ready),
                failing: failing.into_iter().map(String::from).collect(),
                ..Default::default()
            }),
            snapshot: SnapshotCheck::NotChecked,
            snapshot_failure: None,
            channels: Default::default(),
        })
    };
    sim.at(
        T0,
        failing(false, vec!["channel:telegram:default", "agent-database:main"]),
    );
    assert_eq!(sim.state.health.channels.len(), 1);
    assert_eq!(
        kinds(&sim.at(T0 + 180, failing(false, vec!["channel:telegram:default"]))),
        ["notify:channel_down"]
    );
    assert_eq!(kinds(&sim.at(T0 + 240, failing(true, vec![]))), ["notify:recovered"]);
    assert!(sim.state.health.channels.is_empty());
}

#[test]
fn a_rejected_token_is_recorded_and_notified_once_per_version() {
    let mut sim = Sim::new(gw(), cfg());
    let rejected = |v: &str| {
        Input::Observed(Observation {
            ecs: None,
            probe: Some(ProbeReport {
                outcome: Some(ProbeOutcome::Live),
                token_rejected: Some(v.into()),
                ..Default::default()
            }),
            snapshot: SnapshotCheck::NotChecked,
            snapshot_failure: None,
            channels: Default::default(),
        })
    };
    let got = sim.at(T0, rejected("v1"));
    assert_eq!(kinds(&got), ["notify:watchdog_error"]);
    let text = notice(&got, NoticeKind::WatchdogError);
    assert!(
        text.contains("clawkeeper restart home") && !text.contains("put-secret-value"),
        "{text}"
    );
    assert_eq!(sim.state.health.rejected_token_version.as_deref(), Some("v1"));
    assert!(sim.at(T0 + 60, rejected("v1")).is_empty());
    assert_eq!(kinds(&sim.at(T0 + 120, rejected("v2"))), ["notify:watchdog_error"]);
}

#[test]
fn a_stale_snapshot_is_notified_once_per_episode() {
    let mut sim = Sim::new(gw(), cfg());
    let snap = |check| {
        Input::Observed(Observation {
            ecs: None,
            probe: None,
            snapshot: check,
            snapshot_failure: None,
            channels: Default::default(),
        })
    };
    // No snapshot yet: stale only once watched for twice the schedule.
    assert!(sim.at(T0, snap(SnapshotCheck::NoneFound)).is_empty());
    assert!(sim.at(T0 + 7200, snap(SnapshotCheck::NoneFound)).is_empty());
    let got = sim.at(T0 + 7201, snap(SnapshotCheck::NoneFound));
    assert_eq!(kinds(&got), ["notify:snapshot_stale"]);
    assert!(notice(&got, NoticeKind::SnapshotStale).contains("clawkeeper snapshot home"));
    assert!(sim.at(T0 + 7300, snap(SnapshotCheck::NewestAt(T0 - 10_000))).is_empty());
    assert!(sim.at(T0 + 7400, snap(SnapshotCheck::NewestAt(T0 + 7390))).is_empty());
    assert_eq!(sim.state.health.snapshot_stale_since, None);
    let got = sim.at(T0 + 7390 + 7201, snap(SnapshotCheck::NewestAt(T0 + 7390)));
    assert_eq!(kinds(&got), ["notify:snapshot_stale"]);
    // Turned off.
    let mut off = Sim::new(gw(), cfg());
    off.cfg.snapshot_interval_secs = 0;
    assert!(off.at(T0 + 100_000, snap(SnapshotCheck::NewestAt(0))).is_empty());
}

#[derive(Debug, Clone)]
enum Op {
    /// A new task reaches RUNNING (event).
    Start,
    /// The current task crashes (event).
    Crash,
    Tick,
    /// Reconciler pass: 0 nothing running, 1 the current task, 2 two tasks; what the probe found
    /// (`None`: nothing probed); bad limits.
    Observe(u8, Option<ProbeOutcome>, bool),
    /// A channel line: index into the kinds.
    Channel(u8),
    OwnerPause,
    OwnerResume,
}

/// Any probe outcome, failures most often (they are what could stop a task).
fn any_outcome() -> BoxedStrategy<Option<ProbeOutcome>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(ProbeOutcome::Live)),
        3 => Just(Some(ProbeOutcome::Failed)),
        2 => Just(Some(ProbeOutcome::Unreachable)),
    ]
    .boxed()
}

/// Only what the watchdog cannot see: no probe, or a probe that never reached the gateway.
fn unknown_outcome() -> BoxedStrategy<Option<ProbeOutcome>> {
    prop_oneof![Just(None), Just(Some(ProbeOutcome::Unreachable))].boxed()
}

fn op(outcome: BoxedStrategy<Option<ProbeOutcome>>) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Start),
        2 => Just(Op::Crash),
        3 => Just(Op::Tick),
        8 => (0u8..3, outcome, prop::bool::weighted(0.1))
            .prop_map(|(n, outcome, bad)| Op::Observe(n, outcome, bad)),
        3 => (0u8..9).prop_map(Op::Channel),
        1 => Just(Op::OwnerPause),
        1 => Just(Op::OwnerResume),
    ]
}

const CHANNEL_EVENTS: [ChannelEvent; 9] = [
    ChannelEvent::LoggedOut,
    ChannelEvent::Conflict,
    ChannelEvent::ReconnectExhausted,
    ChannelEvent::AuthCleared,
    ChannelEvent::GaveUp,
    ChannelEvent::BreakerSuppressed,
    ChannelEvent::TelegramUnauthorized,
    ChannelEvent::TelegramConflict,
    ChannelEvent::Connected,
];

/// A stop made because the task looked hung. (Its notice may be held by the rate limit and go out
/// on a later step, and a standalone replacement starts once the stopped task is gone: both follow
/// from the earlier decision, so only the stop itself marks the step that decided.)
fn is_hung_stop(action: &Action) -> bool {
    matches!(action.kind, ActionKind::StopTask { .. }) && action.key.contains("/hung/")
}

/// Runs `ops` through the policy, checking the invariants after each step; returns the hung stops.
fn run(ops: &[(Op, i64)], gateway: Gateway) -> Result<Vec<i64>, TestCaseError> {
    let cfg = PolicySettings {
        min_notify_interval_secs: 60,
        down_grace_secs: 30,
        hung_probe_failures: 2,
        channel_grace_secs: 120,
        crash_loop_window_secs: 900,
        backoff_max_tries: 3,
        ..PolicySettings::default()
    };
    let mut state = GatewayState::default();
    let mut now = T0;
    let mut task_no = 0;
    let mut current: Option<(String, i64)> = None;
    let mut keys = std::collections::HashSet::new();
    let mut last_notice: Option<i64> = None;
    let mut hung_stops: Vec<i64> = Vec::new();
    let mut version = 0;
    for (op, dt) in ops {
        now += dt;
        version += 1;
        let input = match op {
            Op::Start => {
                task_no += 1;
                let id = format!("t{task_no}");
                current = Some((id.clone(), now));
                Input::Signal(Signal::TaskRunning(TaskInfo {
                    task_arn: arn(&id),
                    version: Some(version),
                    task_definition: Some("td:1".into()),
                    group: None,
                    started_at: Some(now),
                    network: None,
                    event_time: Some(now),
                }))
            }
            Op::Crash => match current.take() {
                Some((id, started)) => Input::Signal(Signal::TaskStopped(crate::watch::signal::TaskStop {
                    task: TaskInfo {
                        task_arn: arn(&id),
                        version: Some(version),
                        task_definition: Some("td:1".into()),
                        group: None,
                        started_at: Some(started),
                        network: None,
                        event_time: Some(now),
                    },
                    cause: crate::watch::signal::StopCause::Crashed,
                    evidence: crate::watch::signal::StopEvidence {
                        task_arn: arn(&id),
                        stop_code: Some("EssentialContainerExited".into()),
                        stopped_reason: None,
                        containers: Vec::new(),
                        runtime_secs: Some(now - started),
                        stopped_at: Some(now),
                    },
                })),
                None => Input::Tick,
            },
            Op::Tick => Input::Tick,
            Op::Observe(n, outcome, bad) => {
                let mut running = Vec::new();
                if *n >= 1
                    && let Some((id, started)) = &current
                {
                    running.push(task(id, *started));
                }
                if *n == 2 {
                    running.push(task("extra", now - 5));
                }
                let mut view = ecs(running);
                if *bad {
                    view.limits = Some(DeploymentLimits {
                        minimum_healthy_percent: Some(100),
                        maximum_percent: Some(200),
                    });
                }
                probed(view, *outcome)
            }
            Op::Channel(i) => Input::Channel(ChannelSignal {
                channel: if i % 2 == 0 {
                    "whatsapp".into()
                } else {
                    "telegram".into()
                },
                account: None,
                kind: CHANNEL_EVENTS[*i as usize % CHANNEL_EVENTS.len()],
                at: now - 3,
                running_tasks: Some(u32::from(i % 3 == 0) + 1),
            }),
            Op::OwnerPause => Input::OwnerPause,
            Op::OwnerResume => Input::OwnerResume,
        };
        let out = plan(&state, &input, now, &cfg, &gateway);
        prop_assert_eq!(&out, &plan(&state, &input, now, &cfg, &gateway), "deterministic");
        if let Op::Observe(_, None | Some(ProbeOutcome::Unreachable), _) = op {
            // Unknown: the hung streak is exactly as it was, and nothing is stopped for it.
            prop_assert_eq!(out.state.health.probe_failures, state.health.probe_failures);
            prop_assert_eq!(&out.state.health.probe_task, &state.health.probe_task);
            prop_assert_eq!(&out.state.health.hung_stops, &state.health.hung_stops);
            prop_assert!(
                !out.actions.iter().any(is_hung_stop),
                "hung stop on an unknown probe: {:?}",
                out.actions
            );
        }
        for action in &out.actions {
            prop_assert!(keys.insert(action.key.clone()), "key planned twice: {}", action.key);
            match &action.kind {
                ActionKind::Notify(n) => {
                    if let Some(last) = last_notice {
                        prop_assert!(now - last >= 60, "notices at {} and {}", last, now);
                    }
                    last_notice = Some(now);
                    prop_assert!(n.subject.chars().count() < 100 && !n.subject.contains('\n'));
                }
                ActionKind::StopTask { .. } if action.key.contains("/hung/") => {
                    prop_assert!(!state.owner_paused, "hung stop while paused");
                    hung_stops.push(now);
                    let window = cfg.crash_loop_window_secs as i64;
                    let recent = hung_stops.iter().filter(|t| now - **t <= window).count();
                    // Service: the budget; standalone: one more stop comes with the crash-loop pause.
                    let budget = cfg.crash_loop_stops as usize - 1 + usize::from(gateway.target != gw().target);
                    prop_assert!(
                        recent <= budget,
                        "{} hung stops within the window: {:?}",
                        recent,
                        hung_stops
                    );
                }
                _ => {}
            }
        }
        prop_assert!(out.actions.iter().filter(|a| a.kind.is_restart()).count() <= 1);
        let text = serde_json::to_string(&out.state).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: GatewayState = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &out.state);
        prop_assert!(out.state.health.channels.len() <= crate::watch::health::MAX_CHANNEL_EPISODES);
        state = out.state;
        for a in &out.actions {
            state.confirm_done(&a.key);
        }
    }
    Ok(hung_stops)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn health_invariants_hold_for_service(ops in prop::collection::vec((op(any_outcome()), 1i64..200), 1..100)) {
        run(&ops, gw())?;
    }

    #[test]
    fn health_invariants_hold_for_standalone(ops in prop::collection::vec((op(any_outcome()), 1i64..200), 1..100)) {
        run(&ops, standalone())?;
    }

    /// No sequence of probes that never reached the gateway (with crashes, restarts, two tasks,
    /// pauses and channel lines around them) ever stops a task as hung.
    #[test]
    fn unknown_probes_never_stop_a_task(
        ops in prop::collection::vec((op(unknown_outcome()), 1i64..200), 1..150),
        standalone_gateway in any::<bool>(),
    ) {
        let gateway = if standalone_gateway { standalone() } else { gw() };
        let hung = run(&ops, gateway)?;
        prop_assert!(hung.is_empty(), "hung stops at {:?}", hung);
    }
}

#[test]
fn the_probe_status_keeps_readiness_and_what_fails_and_writes_only_changes() {
    let mut sim = Sim::new(gw(), cfg());
    let view = ecs(vec![task("a", T0 - 600)]);
    let ready = |ready: bool, failing: &[&str]| {
        Input::Observed(Observation {
            ecs: Some(view.clone()),
            probe: Some(ProbeReport {
                mode: ProbeMode::TaskIp,
                outcome: Some(ProbeOutcome::Live),
                startup: Some(Startup::Started),
                ready: Some(ready),
                failing: failing.iter().map(|f| (*f).to_string()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
    };
    sim.at(T0, ready(false, &["channel:whatsapp:default"]));
    let status = sim.state.health.probe.clone().expect("status");
    assert_eq!(
        (status.ready, status.failing.as_slice(), status.startup),
        (
            Some(false),
            &["channel:whatsapp:default".to_string()][..],
            Some(Startup::Started)
        )
    );
    let before = sim.state.clone();
    sim.at(T0 + 60, ready(false, &["channel:whatsapp:default"]));
    assert_eq!(sim.state, before, "the same answer writes nothing");
    sim.at(T0 + 120, ready(true, &[]));
    let status = sim.state.health.probe.clone().expect("status");
    assert_eq!((status.ready, status.failing.len()), (Some(true), 0));
    // An empty failing list is left out of the stored JSON.
    let json = serde_json::to_value(&status).expect("json");
    assert_eq!(json.get("failing"), None, "{json}");
}
