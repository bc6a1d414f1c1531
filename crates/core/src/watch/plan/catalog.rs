//! Every notice kind and its variants, produced by the real policy from scenarios driven through
//! [`Sim`] (no text is built by hand here): what the rendering rules are checked on
//! (`catalog/tests.rs`) and what `docs/NOTICES.md` shows.
//!
//! The deployment is the template's: region `us-east-1`, stack `home-claw`, a snapshot function,
//! the gateway `home` as ECS service `openclaw-gateway` in cluster `openclaw` with its log group,
//! and an owner in `Europe/Berlin`.

use super::fixtures::{Sim, T0, arn, ecs_running as ecs, observed_task, service_gateway, standalone_gateway};
use crate::ecs::DeploymentLimits;
use crate::gateway::Gateway;
use crate::policy_settings::PolicySettings;
use crate::watch::Input;
use crate::watch::action::ActionKind;
use crate::watch::channel_runtime::{ChannelRuntime, ChannelStart, ChannelsCheck, Lifecycle};
use crate::watch::health::{
    ChannelEvent, ChannelSignal, EcsObservation, Observation, ObservedTask, ProbeMode, ProbeOutcome, ProbeReport,
    SnapshotCheck, SnapshotFailure,
};
use crate::watch::notice::{Notice, NoticeContext, NoticeKind};
use crate::watch::plan::owner::{OwnerAction, OwnerInput};
use crate::watch::signal::{ContainerExit, Signal, StopCause, StopEvidence, TaskInfo, TaskStop};
use crate::watch::start_refusal::{StartRefusalCause, StartRefusalLine};

/// The region every AWS command must carry.
pub const REGION: &str = "us-east-1";
/// The owner's zone.
pub const ZONE: &str = "Europe/Berlin";

/// One notice as the owner receives it, with what its scenario makes true.
pub struct Example {
    /// Which variant of its kind, in words.
    pub variant: &'static str,
    /// The notice, as planned.
    pub notice: Notice,
    /// Texts the scenario's facts require (counts, durations, times from the first signal).
    pub expect: Vec<String>,
}

/// A 32-hex ECS task id, distinct per `n`, with letters throughout (no long digit runs).
pub fn task_id(n: u8) -> String {
    format!("{n:02x}e4fa9c0b2d6e4f8a9b1c3d5e7f9a{n:02x}")
}

fn deployment() -> NoticeContext {
    NoticeContext {
        region: Some(REGION.into()),
        stack: Some("home-claw".into()),
        snapshot_function: Some("home-claw-SnapshotFunction-Q1W2E3R4T5Y6".into()),
    }
}

fn settings() -> PolicySettings {
    PolicySettings {
        min_notify_interval_secs: 0,
        owner_timezone: Some(ZONE.into()),
        notices: deployment(),
        ..PolicySettings::default()
    }
}

fn gateway() -> Gateway {
    Gateway {
        token_secret_arn: Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:home-claw-gateway-token".into()),
        ..service_gateway()
    }
}

fn sim() -> Sim {
    Sim::new(gateway(), settings())
}

fn info(n: u8, started_at: Option<i64>) -> TaskInfo {
    TaskInfo {
        task_arn: arn(&task_id(n)),
        version: Some(4),
        task_definition: Some("arn:aws:ecs:us-east-1:123456789012:task-definition/openclaw-gateway:7".into()),
        group: Some("service:openclaw-gateway".into()),
        started_at,
        network: None,
        event_time: started_at,
    }
}

fn running(n: u8, at: i64) -> Input {
    Input::Signal(Signal::TaskRunning(info(n, Some(at))))
}

/// Task `n`, started at `started`, exited with `exit_code` at `stopped` (78: OpenClaw refused to start).
fn crashed(n: u8, started: i64, stopped: i64, exit_code: i64) -> Input {
    let (cause, reason) = match exit_code {
        137 => (
            StopCause::OutOfMemory,
            Some("OutOfMemoryError: Container killed due to memory usage".to_string()),
        ),
        78 => (StopCause::StartRefused, None),
        _ => (StopCause::Crashed, None),
    };
    Input::Signal(Signal::TaskStopped(TaskStop {
        task: TaskInfo {
            version: Some(7),
            ..info(n, Some(started))
        },
        evidence: StopEvidence {
            task_arn: arn(&task_id(n)),
            stop_code: Some("EssentialContainerExited".into()),
            stopped_reason: Some("Essential container in task exited".into()),
            containers: vec![ContainerExit {
                name: "openclaw-gateway".into(),
                exit_code: Some(exit_code),
                reason,
            }],
            runtime_secs: Some(stopped - started),
            stopped_at: Some(stopped),
        },
        cause,
    }))
}

fn observed(n: u8, started: i64) -> ObservedTask {
    observed_task(&task_id(n), started)
}

/// A reconciler pass: ECS as given, a probe report, a snapshot check, a failure record.
fn pass(ecs: EcsObservation, probe: ProbeReport, snapshot: SnapshotCheck, failure: Option<SnapshotFailure>) -> Input {
    Input::Observed(Observation {
        ecs: Some(ecs),
        probe: Some(probe),
        snapshot,
        snapshot_failure: failure,
        channels: Default::default(),
    })
}

fn live() -> ProbeReport {
    ProbeReport {
        mode: ProbeMode::TaskIp,
        outcome: Some(ProbeOutcome::Live),
        ready: Some(true),
        ..Default::default()
    }
}

fn one_task(n: u8, started: i64) -> Input {
    pass(ecs(vec![observed(n, started)]), live(), SnapshotCheck::NotChecked, None)
}

fn channel(name: &str, account: Option<&str>, kind: ChannelEvent, at: i64, running_tasks: Option<u32>) -> Input {
    Input::Channel(ChannelSignal {
        channel: name.into(),
        account: account.map(str::to_string),
        kind,
        at,
        running_tasks,
    })
}

/// A reconciler pass that read `channels.status` through the admin RPC.
fn runtimes(accounts: Vec<ChannelRuntime>) -> Input {
    Input::Observed(Observation {
        ecs: Some(ecs(vec![observed(1, T0 - 3600)])),
        probe: Some(live()),
        channels: ChannelsCheck::Read(accounts),
        ..Default::default()
    })
}

/// The default WhatsApp account, linked, in `lifecycle`.
fn whatsapp_runtime(lifecycle: Lifecycle) -> ChannelRuntime {
    ChannelRuntime {
        channel: "whatsapp".into(),
        account: "default".into(),
        lifecycle: Some(lifecycle),
        running: Some(lifecycle == Lifecycle::Ready),
        enabled: Some(true),
        configured: Some(true),
        linked: Some(true),
        ..Default::default()
    }
}

/// What 2026.9 reports after a 440: blocked, `conflict`, a terminal disconnect, the link kept.
fn blocked_by_conflict() -> ChannelRuntime {
    ChannelRuntime {
        health_state: Some("conflict".into()),
        disconnect_status: Some(440),
        terminal_disconnect: true,
        ..whatsapp_runtime(Lifecycle::Blocked)
    }
}

/// The key of the scenario's channel start.
fn start_key(sim: &Sim) -> String {
    sim.log
        .iter()
        .find_map(|(_, a)| matches!(a.kind, ActionKind::StartChannel { .. }).then(|| a.key.clone()))
        .unwrap_or_else(|| panic!("the scenario started no channel"))
}

fn owner(action: OwnerAction) -> Input {
    Input::Owner(OwnerInput {
        by: "arn:aws:iam::123456789012:user/alice".into(),
        action,
    })
}

/// The newest notice of `kind` the scenario sent.
fn newest(sim: &Sim, kind: NoticeKind) -> Notice {
    match sim.notices().into_iter().rev().find(|n| n.kind == kind) {
        Some(n) => n.clone(),
        None => panic!("the scenario sent no {kind:?}: {:?}", sim.kinds()),
    }
}

fn example(variant: &'static str, notice: Notice, expect: &[&str]) -> Example {
    Example {
        variant,
        notice,
        expect: expect.iter().map(|s| (*s).to_string()).collect(),
    }
}

/// Three fast crashes (tasks 1 to 3, each after 60 s), the first at T0 + 60: a crash loop at T0 + 260.
fn crash_loop(sim: &mut Sim) {
    for (i, n) in [1_u8, 2, 3].into_iter().enumerate() {
        let t = T0 + 100 * i as i64;
        sim.at(t, running(n, t));
        sim.at(t + 60, crashed(n, t, t + 60, 1));
    }
}

/// Every kind, most with several variants, in the order of [`NoticeKind::ALL`].
pub fn examples() -> Vec<Example> {
    let mut out = Vec::new();

    // gateway_down and its recovery: out of memory after an hour, back 5 min later.
    let mut s = sim();
    s.at(T0, running(1, T0));
    s.at(T0 + 3600, crashed(1, T0, T0 + 3600, 137));
    s.tick(T0 + 3690);
    let down = newest(&s, NoticeKind::GatewayDown);
    s.at(T0 + 3900, running(2, T0 + 3900));
    let recovered = newest(&s, NoticeKind::Recovered);
    out.push(example(
        "a task stopped (ECS starts a replacement)",
        down,
        &[
            "Since 2026-11-20 09:00 UTC, 1 min ago (10:00 Europe/Berlin)",
            "not back after 1 min",
            "exit code 137",
        ],
    ));

    let mut s = sim();
    s.at(T0, pass(ecs(Vec::new()), live(), SnapshotCheck::NotChecked, None));
    s.tick(T0 + 90);
    out.push(example(
        "the reconciler finds nothing running",
        newest(&s, NoticeKind::GatewayDown),
        &[
            "ECS is not starting a new task",
            "Since 2026-11-20 08:00 UTC, 1 min ago",
        ],
    ));

    let mut s = sim();
    s.at(
        T0,
        Input::Signal(Signal::ServiceImpaired {
            event_name: "SERVICE_TASK_START_IMPAIRED".into(),
            at: Some(T0),
        }),
    );
    s.tick(T0 + 90);
    out.push(example(
        "ECS cannot start tasks (SERVICE_TASK_START_IMPAIRED)",
        newest(&s, NoticeKind::GatewayDown),
        &["SERVICE_TASK_START_IMPAIRED at 2026-11-20 08:00:00 UTC"],
    ));

    let mut s = Sim::new(standalone_gateway(), settings());
    s.at(T0, running(1, T0));
    s.at(T0 + 3600, crashed(1, T0, T0 + 3600, 1));
    s.tick(T0 + 3690);
    out.push(example(
        "a standalone task stopped (clawkeeper started a new one)",
        newest(&s, NoticeKind::GatewayDown),
        &["clawkeeper started a new task", "RunTask"],
    ));

    out.push(example(
        "after a stop",
        recovered,
        &[
            "was down 5 min",
            "1 unexpected stop.",
            "Since 2026-11-20 09:00 UTC, 5 min ago",
        ],
    ));

    // The crash loop, its recovery after the backoff reset, and the last try.
    let mut s = sim();
    crash_loop(&mut s);
    let looping = newest(&s, NoticeKind::CrashLoop);
    s.tick(T0 + 320);
    s.at(T0 + 330, running(4, T0 + 330));
    s.tick(T0 + 930);
    let loop_recovered = newest(&s, NoticeKind::Recovered);
    out.push(example(
        "after a crash loop (channels: OpenClaw's breaker, no relink)",
        loop_recovered,
        &[
            "3 unexpected stops",
            "was down 14 min",
            "do not relink",
            "Since 2026-11-20 08:01 UTC",
        ],
    ));
    out.push(example(
        "three fast stops",
        looping,
        &[
            "stopped 3 times in 3 min",
            "Since 2026-11-20 08:01 UTC, 3 min ago",
            "restart 1 of 8 at 2026-11-20 08:05 UTC (09:05 Europe/Berlin) (in 1 min)",
        ],
    ));

    let mut s = Sim::new(
        gateway(),
        PolicySettings {
            backoff_max_tries: 2,
            ..settings()
        },
    );
    crash_loop(&mut s);
    s.tick(T0 + 320);
    s.at(T0 + 330, running(4, T0 + 330));
    s.at(T0 + 390, crashed(4, T0 + 330, T0 + 390, 1));
    s.tick(T0 + 510);
    s.at(T0 + 520, running(5, T0 + 520));
    s.at(T0 + 580, crashed(5, T0 + 520, T0 + 580, 1));
    let paused = newest(&s, NoticeKind::BackoffPaused);
    s.tick(T0 + 260 + 3600);
    let paused_reminder = newest(&s, NoticeKind::Reminder);
    out.push(example(
        "out of restarts",
        paused,
        &[
            "after 2 restarts",
            "5 unexpected stops in 8 min",
            "Since 2026-11-20 08:01 UTC",
        ],
    ));

    // start_refused: OpenClaw exits 78 at startup, 25 s in.
    let mut s = sim();
    s.at(T0, running(1, T0));
    s.at(T0 + 25, crashed(1, T0, T0 + 25, 78));
    s.tick(T0 + 85);
    out.push(example(
        "the cause is not known from the logs (both causes, what to do for each)",
        newest(&s, NoticeKind::StartRefused),
        &[
            "the cause is not known from the logs",
            "Since 2026-11-20 08:00 UTC, 1 min ago",
            "another gateway already owns this state directory",
            "clawkeeper pause home --stack home-claw --region us-east-1",
            "openclaw\",\"doctor\",\"--fix\",\"--non-interactive",
            "clawkeeper resume home",
        ],
    ));
    for (variant, cause, expect) in [
        (
            "another writer owns the state (from its log)",
            StartRefusalCause::AnotherWriter,
            "minimumHealthyPercent=0,maximumPercent=100",
        ),
        (
            "a state migration cannot run safely (from its log)",
            StartRefusalCause::UnsafeMigration,
            "NET=$(aws ecs describe-services",
        ),
    ] {
        let mut s = sim();
        s.at(T0, running(1, T0));
        s.at(
            T0 + 24,
            Input::StartRefusalLogged(StartRefusalLine { cause, at: T0 + 24 }),
        );
        s.at(T0 + 25, crashed(1, T0, T0 + 25, 78));
        out.push(example(
            variant,
            newest(&s, NoticeKind::StartRefused),
            &[expect, "(its log says so)"],
        ));
    }
    let mut s = sim();
    s.at(T0, running(1, T0));
    s.at(T0 + 25, crashed(1, T0, T0 + 25, 78));
    s.at(T0 + 45, running(2, T0 + 45));
    s.at(T0 + 70, crashed(2, T0 + 45, T0 + 70, 78));
    out.push(example(
        "refused twice in a row: paused",
        newest(&s, NoticeKind::StartRefused),
        &["refused to start twice, paused", "after 2 refused starts in a row"],
    ));

    // hung: three failed probes over 2 minutes.
    let mut s = sim();
    let failed = || {
        pass(
            ecs(vec![observed(1, T0 - 3600)]),
            ProbeReport {
                mode: ProbeMode::TaskIp,
                outcome: Some(ProbeOutcome::Failed),
                detail: Some("no answer within 5 s".into()),
                ..Default::default()
            },
            SnapshotCheck::NotChecked,
            None,
        )
    };
    for t in [T0, T0 + 60, T0 + 120] {
        s.at(t, failed());
    }
    out.push(example(
        "three failed liveness probes",
        newest(&s, NoticeKind::HungRestarted),
        &[
            "3 times in a row over 2 min",
            "Since 2026-11-20 08:00 UTC, 2 min ago",
            "1 of at most 2",
        ],
    ));

    // channel_down, per last problem.
    for (variant, name, kind, expect) in [
        (
            "OpenClaw stopped retrying (channels.start keeps the login)",
            "whatsapp",
            ChannelEvent::ReconnectExhausted,
            "channels.start",
        ),
        (
            "held by OpenClaw's crash-loop breaker (wait)",
            "whatsapp",
            ChannelEvent::BreakerSuppressed,
            "starts it by itself",
        ),
        (
            "another poller uses the Telegram bot token",
            "telegram",
            ChannelEvent::TelegramConflict,
            "webhook mode",
        ),
    ] {
        let mut s = sim();
        s.at(T0 - 60, one_task(1, T0 - 3600));
        s.at(T0, channel(name, None, kind, T0, None));
        s.tick(T0 + 180);
        out.push(example(
            variant,
            newest(&s, NoticeKind::ChannelDown),
            &[expect, "down for 3 min"],
        ));
        if kind == ChannelEvent::ReconnectExhausted {
            s.at(T0 + 500, channel(name, None, ChannelEvent::Connected, T0 + 500, None));
            out.push(example(
                "a channel connected again",
                newest(&s, NoticeKind::Recovered),
                &["connected again after 8 min"],
            ));
        }
    }
    let mut s = sim();
    let failing = ProbeReport {
        ready: Some(false),
        failing: vec!["channel:whatsapp:default".into()],
        ..live()
    };
    s.at(
        T0,
        pass(
            ecs(vec![observed(1, T0 - 3600)]),
            failing.clone(),
            SnapshotCheck::NotChecked,
            None,
        ),
    );
    s.at(
        T0 + 180,
        pass(
            ecs(vec![observed(1, T0 - 3600)]),
            failing,
            SnapshotCheck::NotChecked,
            None,
        ),
    );
    out.push(example(
        "/readyz lists it failing (OpenClaw still retrying)",
        newest(&s, NoticeKind::ChannelDown),
        &["keeps reconnecting it by itself", "down for 3 min"],
    ));

    // relink_needed, per channel.
    for (variant, name, account, kind, expect) in [
        (
            "WhatsApp logged out (QR relink)",
            "whatsapp",
            Some("work"),
            ChannelEvent::LoggedOut,
            "channels login --channel whatsapp --account work",
        ),
        (
            "Telegram rejected the bot token",
            "telegram",
            None,
            ChannelEvent::TelegramUnauthorized,
            "@BotFather",
        ),
        (
            "Discord answered 401",
            "discord",
            None,
            ChannelEvent::LoggedOut,
            "Reset Token",
        ),
        (
            "Slack answered 401",
            "slack",
            None,
            ChannelEvent::LoggedOut,
            "Bot User OAuth Token",
        ),
        (
            "another channel logged out",
            "signal",
            None,
            ChannelEvent::LoggedOut,
            "channels login --channel signal --account default",
        ),
    ] {
        let mut s = sim();
        s.at(T0 - 60, one_task(1, T0 - 3600));
        s.at(T0, channel(name, account, kind, T0, Some(1)));
        out.push(example(variant, newest(&s, NoticeKind::RelinkNeeded), &[expect]));
    }
    let mut s = sim();
    s.at(T0, channel("whatsapp", None, ChannelEvent::LoggedOut, T0, None));
    out.push(example(
        "no running task known (looked up first)",
        newest(&s, NoticeKind::RelinkNeeded),
        &["TASK=$(aws ecs list-tasks"],
    ));
    let mut s = sim();
    s.at(T0 - 60, one_task(1, T0 - 3600));
    s.at(T0, channel("whatsapp", None, ChannelEvent::Conflict, T0, Some(2)));
    let conflict_writer = newest(&s, NoticeKind::SingleWriterViolation);
    out.push(example(
        "WhatsApp conflict (440) with two tasks running",
        newest(&s, NoticeKind::RelinkNeeded),
        &["stop the older one first"],
    ));

    // channel_restarted: clawkeeper's one restart of a WhatsApp account a 440 blocked did not hold.
    let mut s = sim();
    s.at(T0, runtimes(vec![blocked_by_conflict()]));
    let key = start_key(&s);
    s.state.health.channel_runtime.record_start(
        &key,
        &ChannelStart::NotStarted {
            why: "could not reach the gateway: no answer within 5000 ms".into(),
        },
    );
    s.at(T0 + 60, runtimes(vec![blocked_by_conflict()]));
    out.push(example(
        "the restart (channels.start) failed",
        newest(&s, NoticeKind::ChannelRestarted),
        &[
            "whatsapp restart failed",
            "it answered: could not reach the gateway",
            "Since 2026-11-20 08:00 UTC, 1 min ago",
        ],
    ));
    let mut s = sim();
    s.at(T0, runtimes(vec![blocked_by_conflict()]));
    let key = start_key(&s);
    s.state.health.channel_runtime.record_start(
        &key,
        &ChannelStart::Started {
            outcome: "handed-off".into(),
        },
    );
    s.at(T0 + 60, runtimes(vec![whatsapp_runtime(Lifecycle::Ready)]));
    s.at(T0 + 600, runtimes(vec![blocked_by_conflict()]));
    out.push(example(
        "blocked again within the window after a restart",
        newest(&s, NoticeKind::ChannelRestarted),
        &[
            "whatsapp blocked again after a restart",
            "restarted it (channels.start) at 2026-11-20 08:00 UTC",
            "does not try again within 30 min",
        ],
    ));
    // Without the admin RPC: the conflict stop in the log is channel_down, with the start command.
    let mut s = sim();
    s.at(T0 - 60, one_task(1, T0 - 3600));
    s.at(
        T0,
        channel("whatsapp", None, ChannelEvent::ConflictStopped, T0, Some(1)),
    );
    s.tick(T0 + 180);
    out.push(example(
        "WhatsApp conflict (440) stopped the channel, link kept (no admin RPC to restart it)",
        newest(&s, NoticeKind::ChannelDown),
        &["kept its link", "channels.start", "do not relink"],
    ));

    // single_writer_violation.
    let mut s = sim();
    s.at(
        T0,
        pass(
            ecs(vec![observed(1, T0 - 600), observed(2, T0 - 30)]),
            live(),
            SnapshotCheck::NotChecked,
            None,
        ),
    );
    let older = task_id(1);
    let two_tasks_expect = format!("--task {older} ");
    out.push(Example {
        variant: "two tasks run at once (the older one named)",
        notice: newest(&s, NoticeKind::SingleWriterViolation),
        expect: vec![two_tasks_expect, "2 tasks of gateway home run at once".into()],
    });
    out.push(example(
        "two tasks reported by a channel conflict (no task list)",
        conflict_writer,
        &["aws ecs list-tasks"],
    ));
    let mut s = sim();
    s.at(
        T0,
        pass(
            EcsObservation {
                limits: Some(DeploymentLimits {
                    minimum_healthy_percent: Some(100),
                    maximum_percent: Some(200),
                }),
                ..ecs(vec![observed(1, T0 - 600)])
            },
            live(),
            SnapshotCheck::NotChecked,
            None,
        ),
    );
    out.push(example(
        "deployment limits allow two tasks",
        newest(&s, NoticeKind::SingleWriterViolation),
        &["minimumHealthyPercent=0,maximumPercent=100", "minimum healthy 100 %"],
    ));

    // deployment_failed.
    let mut s = sim();
    s.at(
        T0,
        Input::Signal(Signal::DeploymentFailed {
            deployment_id: Some("ecs-svc/3817563411738393612".into()),
            reason: Some("tasks failed to start".into()),
        }),
    );
    out.push(example(
        "the circuit breaker stopped a deployment",
        newest(&s, NoticeKind::DeploymentFailed),
        &["tasks failed to start"],
    ));

    // snapshot_failed: a passing AWS error, and a real failure.
    for (variant, runs, error_type, message, expect) in [
        (
            "a first passing AWS error (wait)",
            1,
            "AwsTransient",
            "S3 PutObject: slow down",
            "No action needed",
        ),
        (
            "three runs failed (look at its log)",
            3,
            "StateMissing",
            "/mnt/openclaw/.openclaw does not exist",
            "The last 3 snapshot runs",
        ),
    ] {
        let mut s = sim();
        let failure = SnapshotFailure {
            key: format!("home/snapshot-failed/{error_type}"),
            first_failed_at: T0 - 2 * 3600,
            failed_at: T0 - 60,
            consecutive_failures: runs,
            trigger: "scheduled".into(),
            error_type: error_type.into(),
            message: message.into(),
        };
        s.at(
            T0,
            pass(
                ecs(vec![observed(1, T0 - 3600)]),
                live(),
                SnapshotCheck::NotChecked,
                Some(failure),
            ),
        );
        out.push(example(variant, newest(&s, NoticeKind::SnapshotFailed), &[expect]));
    }

    // snapshot_stale.
    let mut s = sim();
    s.at(
        T0,
        pass(
            ecs(vec![observed(1, T0 - 3600)]),
            live(),
            SnapshotCheck::NewestAt(T0 - 3 * 3600 - 600),
            None,
        ),
    );
    out.push(example(
        "the newest snapshot is too old",
        newest(&s, NoticeKind::SnapshotStale),
        &["no snapshot for 3 h 10 min", "lose the last 3 h 10 min of state"],
    ));
    let mut s = sim();
    s.at(T0, one_task(1, T0 - 3600));
    s.at(
        T0 + 7201,
        pass(
            ecs(vec![observed(1, T0 - 3600)]),
            live(),
            SnapshotCheck::NoneFound,
            None,
        ),
    );
    out.push(example(
        "no snapshot at all",
        newest(&s, NoticeKind::SnapshotStale),
        &["no snapshot 2 h after clawkeeper started watching it"],
    ));

    // restore_done.
    let mut s = sim();
    s.at(T0 - 60, one_task(1, T0 - 60));
    s.at(
        T0,
        owner(OwnerAction::RestoreDone {
            snapshot: "home/snapshots/20261120T070000Z-scheduled.tar.gz".into(),
            previous_state: Some("/mnt/openclaw/.openclaw.before-restore".into()),
        }),
    );
    let restored_task = format!("--task {} ", task_id(1));
    out.push(Example {
        variant: "check the channels (WhatsApp may need relinking)",
        notice: newest(&s, NoticeKind::RestoreDone),
        expect: vec![restored_task, "channels status --probe".into()],
    });

    // Reminders, by where the gateway stands an hour in.
    out.push(example(
        "paused after the last try",
        paused_reminder,
        &["still paused after 1 h", "clawkeeper silence home --minutes 480"],
    ));
    let mut s = sim();
    s.at(T0, running(1, T0));
    s.at(T0 + 3600, crashed(1, T0, T0 + 3600, 1));
    s.tick(T0 + 3690);
    s.tick(T0 + 7200);
    out.push(example(
        "still down, ECS has not brought it back",
        newest(&s, NoticeKind::Reminder),
        &["still down after 1 h", "1 unexpected stop in 1 h"],
    ));
    let mut s = sim();
    s.at(T0, running(1, T0));
    s.at(T0 + 3600, crashed(1, T0, T0 + 3600, 1));
    s.tick(T0 + 3690);
    s.at(T0 + 3700, owner(OwnerAction::Pause));
    s.tick(T0 + 7200);
    out.push(example(
        "paused by the owner",
        newest(&s, NoticeKind::Reminder),
        &["still paused after 1 h", "clawkeeper resume home"],
    ));
    let mut s = Sim::new(
        gateway(),
        PolicySettings {
            backoff_initial_secs: 7200,
            backoff_max_secs: 7200,
            ..settings()
        },
    );
    crash_loop(&mut s);
    s.tick(T0 + 3860);
    out.push(example(
        "crash-looping, waiting for the next restart",
        newest(&s, NoticeKind::Reminder),
        &["still crash-looping after 1 h", "retries at 2026-11-20 10:04 UTC"],
    ));
    let mut s = Sim::new(
        gateway(),
        PolicySettings {
            backoff_reset_secs: 7200,
            ..settings()
        },
    );
    crash_loop(&mut s);
    s.tick(T0 + 320);
    s.at(T0 + 330, running(4, T0 + 330));
    s.tick(T0 + 3860);
    out.push(example(
        "running again, not yet healthy long enough",
        newest(&s, NoticeKind::Reminder),
        &["No action needed", "unstable for 1 h", "after 2 h of healthy running"],
    ));

    // watchdog_error: the gateway rejects the token clawkeeper read.
    let mut s = sim();
    s.at(
        T0,
        pass(
            ecs(vec![observed(1, T0 - 3600)]),
            ProbeReport {
                token_rejected: Some("v2".into()),
                ..live()
            },
            SnapshotCheck::NotChecked,
            None,
        ),
    );
    out.push(example(
        "the gateway rejects the token in its secret",
        newest(&s, NoticeKind::WatchdogError),
        &["clawkeeper restart home", "version v2"],
    ));

    out.sort_by_key(|e| NoticeKind::ALL.iter().position(|k| *k == e.notice.kind));
    out
}

/// Notices folded by the rate limit: a down notice (ECS restarts it) and a WhatsApp logout held
/// behind a deployment failure. The logout, critical and needing the owner, leads.
pub fn folded() -> Example {
    let mut s = Sim::new(
        gateway(),
        PolicySettings {
            min_notify_interval_secs: 60,
            down_grace_secs: 0,
            ..settings()
        },
    );
    let failed = |id: &str| {
        Input::Signal(Signal::DeploymentFailed {
            deployment_id: Some(id.into()),
            reason: Some("tasks failed to start".into()),
        })
    };
    s.at(T0 - 3600, running(1, T0 - 3600));
    s.at(T0, failed("ecs-svc/1111111111111111111"));
    s.at(T0 + 10, crashed(1, T0 - 3600, T0 + 10, 1));
    s.at(
        T0 + 20,
        channel("whatsapp", None, ChannelEvent::LoggedOut, T0 + 20, None),
    );
    s.tick(T0 + 60);
    let notice = s.notices().last().map(|n| (*n).clone());
    match notice {
        Some(notice) => example("a WhatsApp logout and a down notice, folded", notice, &["(+1 more)"]),
        None => panic!("nothing folded: {:?}", s.kinds()),
    }
}

#[cfg(test)]
mod tests;
