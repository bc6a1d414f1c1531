//! Channel recovery scenarios: the runtime `channels.status` reports, the one restart, the one
//! notice when it does not hold, a logout that stays a relink, and an admin RPC that is unknown.

use crate::policy_settings::PolicySettings;
use crate::watch::Input;
use crate::watch::action::{Action, ActionKind};
use crate::watch::channel_runtime::{AdminRpc, ChannelRuntime, ChannelStart, ChannelsCheck, Lifecycle, Trouble};
use crate::watch::health::{ChannelEvent, ChannelSignal, Observation, ProbeMode, ProbeOutcome, ProbeReport};
use crate::watch::notice::NoticeKind;
use crate::watch::plan::fixtures::{Sim, T0, ecs_running, observed_task, service_gateway_with_token as gw};

fn cfg() -> PolicySettings {
    PolicySettings {
        min_notify_interval_secs: 0,
        channel_grace_secs: 180,
        channel_restart_window_secs: 1800,
        ..PolicySettings::default()
    }
}

fn sim() -> Sim {
    Sim::new(gw(), cfg())
}

/// The WhatsApp account as the real gateway reports it, in `lifecycle`.
fn whatsapp(lifecycle: Lifecycle) -> ChannelRuntime {
    ChannelRuntime {
        channel: "whatsapp".into(),
        account: "default".into(),
        lifecycle: Some(lifecycle),
        running: Some(lifecycle != Lifecycle::Stopped && lifecycle != Lifecycle::Blocked),
        enabled: Some(true),
        configured: Some(true),
        linked: Some(true),
        ..Default::default()
    }
}

/// What a 440 leaves (2026.9 with `@openclaw/whatsapp`): blocked, `conflict`, terminal, link kept.
fn conflict() -> ChannelRuntime {
    ChannelRuntime {
        health_state: Some("conflict".into()),
        disconnect_status: Some(440),
        terminal_disconnect: true,
        ..whatsapp(Lifecycle::Blocked)
    }
}

fn logged_out() -> ChannelRuntime {
    ChannelRuntime {
        health_state: Some("logged-out".into()),
        disconnect_status: Some(401),
        logged_out: true,
        terminal_disconnect: true,
        ..whatsapp(Lifecycle::Blocked)
    }
}

/// A reconciler pass: one live task, and `channels` as the admin RPC gave them.
fn pass(channels: ChannelsCheck) -> Input {
    Input::Observed(Observation {
        ecs: Some(ecs_running(vec![observed_task("0f1e", T0 - 3600)])),
        probe: Some(ProbeReport {
            mode: ProbeMode::ProbeUrl,
            outcome: Some(ProbeOutcome::Live),
            ready: Some(true),
            ..Default::default()
        }),
        channels,
        ..Default::default()
    })
}

fn seen(accounts: Vec<ChannelRuntime>) -> Input {
    pass(ChannelsCheck::Read(accounts))
}

fn starts(actions: &[Action]) -> Vec<(String, String)> {
    actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::StartChannel { channel, account } => Some((channel.clone(), account.clone())),
            _ => None,
        })
        .collect()
}

fn start_key(actions: &[Action]) -> String {
    actions
        .iter()
        .find(|a| matches!(a.kind, ActionKind::StartChannel { .. }))
        .map(|a| a.key.clone())
        .unwrap_or_else(|| panic!("no channel start in {actions:?}"))
}

/// What the engine does once the reconciler ran the start: records its answer.
fn answered(sim: &mut Sim, key: &str, answer: ChannelStart) {
    assert!(sim.state.health.channel_runtime.record_start(key, &answer), "{key}");
}

fn started() -> ChannelStart {
    ChannelStart::Started {
        outcome: "handed-off".into(),
    }
}

#[test]
fn a_conflict_block_gets_one_start_and_healed_the_owner_hears_nothing() {
    let mut s = sim();
    let first = s.at(T0, seen(vec![conflict()]));
    assert_eq!(starts(&first), [("whatsapp".to_string(), "default".to_string())]);
    let key = start_key(&first);
    assert_eq!(key, format!("home/channel/whatsapp/default/{T0}/start"));
    // Passes before the reconciler's answer is in: no second start, nothing told.
    assert!(s.at(T0 + 30, seen(vec![conflict()])).is_empty());
    answered(&mut s, &key, started());
    // Starting, then ready: healed without the owner.
    assert!(s.at(T0 + 60, seen(vec![whatsapp(Lifecycle::Starting)])).is_empty());
    assert!(s.at(T0 + 120, seen(vec![whatsapp(Lifecycle::Ready)])).is_empty());
    assert!(s.notices().is_empty(), "{:?}", s.kinds());
    let account = s
        .state
        .health
        .channel_runtime
        .get("whatsapp", "default")
        .cloned()
        .expect("tracked");
    assert_eq!(account.lifecycle, Some(Lifecycle::Ready));
    assert_eq!(account.since, T0 + 120, "since the lifecycle last changed");
    assert_eq!(account.trouble, None);
    // A steady ready account writes no new state.
    let before = s.state.clone();
    s.at(T0 + 180, seen(vec![whatsapp(Lifecycle::Ready)]));
    assert_eq!(s.state, before);
}

#[test]
fn a_start_that_failed_is_told_once() {
    let mut s = sim();
    let key = start_key(&s.at(T0, seen(vec![conflict()])));
    answered(
        &mut s,
        &key,
        ChannelStart::NotStarted {
            why: "the admin RPC is not enabled (HTTP 404)".into(),
        },
    );
    let told = s.at(T0 + 60, seen(vec![conflict()]));
    assert!(starts(&told).is_empty(), "no second start");
    assert_eq!(s.kinds(), [NoticeKind::ChannelRestarted]);
    let n = s.notices()[0].clone();
    assert!(
        n.subject.starts_with("ACTION NEEDED | home: whatsapp restart failed"),
        "{}",
        n.subject
    );
    assert_eq!(n.severity, crate::watch::notice::Severity::Warning);
    for needle in [
        "Action needed: stop the other client or second gateway using whatsapp (account default)",
        "it answered: the admin RPC is not enabled (HTTP 404)",
        "do not relink",
        "openclaw gateway call channels.start --params",
        "channels.status: whatsapp (default) lifecycle blocked, health conflict, last disconnect status 440",
    ] {
        assert!(n.message.contains(needle), "{needle}:\n{}", n.message);
    }
    assert!(
        !n.message.contains("channels logout"),
        "no relink steps:\n{}",
        n.message
    );
    for t in [T0 + 120, T0 + 600, T0 + 3600] {
        assert!(s.at(t, seen(vec![conflict()])).is_empty(), "once, at {t}");
    }
}

#[test]
fn blocked_again_within_the_window_is_told_once_and_not_restarted_again() {
    let mut s = sim();
    let key = start_key(&s.at(T0, seen(vec![conflict()])));
    answered(&mut s, &key, started());
    s.at(T0 + 60, seen(vec![whatsapp(Lifecycle::Ready)]));
    // Ten minutes later the other client takes the session again.
    let again = s.at(T0 + 660, seen(vec![conflict()]));
    assert!(starts(&again).is_empty(), "{again:?}");
    assert_eq!(s.kinds(), [NoticeKind::ChannelRestarted]);
    let n = s.notices()[0].clone();
    assert!(
        n.subject.contains("whatsapp blocked again after a restart"),
        "{}",
        n.subject
    );
    assert!(n.message.contains("it did not hold"), "{}", n.message);
    assert!(n.message.contains("does not try again within 30 min"), "{}", n.message);
    s.at(T0 + 720, seen(vec![whatsapp(Lifecycle::Ready)]));
    s.at(T0 + 780, seen(vec![conflict()]));
    assert_eq!(s.kinds(), [NoticeKind::ChannelRestarted], "once per restart");
    // Past the window, a new block is a new episode with a start of its own.
    s.at(T0 + 2700, seen(vec![whatsapp(Lifecycle::Ready)]));
    let later = s.at(T0 + 2760, seen(vec![conflict()]));
    assert_eq!(starts(&later).len(), 1, "{later:?}");
}

#[test]
fn still_blocked_at_the_pass_after_a_start_is_told() {
    // The other client grabbed the session back before the next pass ever saw it start.
    let mut s = sim();
    let key = start_key(&s.at(T0, seen(vec![conflict()])));
    answered(&mut s, &key, started());
    s.at(T0 + 60, seen(vec![conflict()]));
    assert_eq!(s.kinds(), [NoticeKind::ChannelRestarted]);
}

#[test]
fn a_logout_stays_a_relink_and_is_never_restarted() {
    let mut s = sim();
    let actions = s.at(T0, seen(vec![logged_out()]));
    assert!(starts(&actions).is_empty(), "{actions:?}");
    assert_eq!(s.kinds(), [NoticeKind::RelinkNeeded]);
    assert!(s.notices()[0].message.contains("channels login --channel whatsapp"));
    // Every pass after: nothing more, and the same logout in the log adds nothing either.
    assert!(s.at(T0 + 60, seen(vec![logged_out()])).is_empty());
    s.at(
        T0 + 90,
        Input::Channel(ChannelSignal {
            channel: "whatsapp".into(),
            account: None,
            kind: ChannelEvent::LoggedOut,
            at: T0 + 85,
            running_tasks: None,
        }),
    );
    assert_eq!(s.kinds(), [NoticeKind::RelinkNeeded]);
    // Relinked: ready closes it, and the owner hears it is back.
    s.at(T0 + 600, seen(vec![whatsapp(Lifecycle::Ready)]));
    assert_eq!(s.kinds(), [NoticeKind::RelinkNeeded, NoticeKind::Recovered]);
}

#[test]
fn an_unknown_admin_rpc_decides_nothing() {
    let mut s = sim();
    let key = start_key(&s.at(T0, seen(vec![conflict()])));
    answered(&mut s, &key, started());
    let unknown = ChannelsCheck::Unknown("admin RPC not enabled (the admin-http-rpc plugin)".into());
    for t in [T0 + 60, T0 + 120, T0 + 900] {
        assert!(s.at(t, pass(unknown.clone())).is_empty(), "at {t}");
    }
    assert!(s.notices().is_empty());
    let runtime = &s.state.health.channel_runtime;
    assert_eq!(
        runtime.admin_rpc,
        AdminRpc::Unavailable("admin RPC not enabled (the admin-http-rpc plugin)".into())
    );
    // The last answer stays what status shows.
    assert_eq!(
        runtime.get("whatsapp", "default").and_then(|a| a.lifecycle),
        Some(Lifecycle::Blocked)
    );
    // Never read at all: nothing tracked, nothing done.
    let mut fresh = sim();
    assert!(fresh.at(T0, pass(unknown)).is_empty());
    assert!(fresh.state.health.channel_runtime.accounts.is_empty());
}

#[test]
fn a_stop_is_restarted_only_when_openclaw_made_it() {
    // Stopped with no sign of why: perhaps the owner's channels.stop. Left alone.
    let mut s = sim();
    assert!(s.at(T0, seen(vec![whatsapp(Lifecycle::Stopped)])).is_empty());
    assert_eq!(
        s.state
            .health
            .channel_runtime
            .get("whatsapp", "default")
            .and_then(|a| a.trouble),
        None
    );
    // Never linked (the real gateway's fresh account): not a stop to restart either.
    let unlinked = ChannelRuntime {
        linked: Some(false),
        ..whatsapp(Lifecycle::Stopped)
    };
    assert!(s.at(T0 + 60, seen(vec![unlinked])).is_empty());

    // A terminal disconnect: OpenClaw will not restart it.
    let mut s = sim();
    let terminal = ChannelRuntime {
        terminal_disconnect: true,
        ..whatsapp(Lifecycle::Stopped)
    };
    assert_eq!(starts(&s.at(T0, seen(vec![terminal]))).len(), 1);
    assert_eq!(
        s.state
            .health
            .channel_runtime
            .get("whatsapp", "default")
            .and_then(|a| a.trouble),
        Some(Trouble::Stopped)
    );

    // The log said OpenClaw gave up on it.
    let mut s = sim();
    s.at(
        T0,
        Input::Channel(ChannelSignal {
            channel: "whatsapp".into(),
            account: None,
            kind: ChannelEvent::GaveUp,
            at: T0,
            running_tasks: None,
        }),
    );
    assert_eq!(
        starts(&s.at(T0 + 30, seen(vec![whatsapp(Lifecycle::Stopped)]))).len(),
        1
    );
}

#[test]
fn a_conflict_stop_in_the_log_is_the_restarts_while_the_rpc_is_read_and_notified_without_it() {
    let line = |at| {
        Input::Channel(ChannelSignal {
            channel: "whatsapp".into(),
            account: None,
            kind: ChannelEvent::ConflictStopped,
            at,
            running_tasks: Some(1),
        })
    };
    // The admin RPC is read: the restart heals it, the ready account closes the log's episode,
    // and the owner hears nothing, past the grace too.
    let mut s = sim();
    s.at(T0 - 60, seen(vec![whatsapp(Lifecycle::Ready)]));
    s.at(T0, line(T0));
    assert!(s.kinds().is_empty(), "no relink for a conflict stop: {:?}", s.kinds());
    let key = start_key(&s.at(T0 + 30, seen(vec![conflict()])));
    answered(&mut s, &key, started());
    s.at(T0 + 90, seen(vec![whatsapp(Lifecycle::Ready)]));
    s.tick(T0 + 400);
    assert!(s.notices().is_empty(), "{:?}", s.kinds());
    assert!(s.state.health.channels.is_empty(), "the log's episode is closed");

    // No admin RPC: channel_down past the grace, with the start command and no relink.
    let mut s = sim();
    s.at(T0, line(T0));
    s.tick(T0 + 180);
    assert_eq!(s.kinds(), [NoticeKind::ChannelDown]);
    let n = s.notices()[0].clone();
    for needle in [
        "Action needed: stop the other client or second gateway using whatsapp (account default)",
        "OpenClaw stopped the channel and kept its link",
        "openclaw gateway call channels.start --params",
        "admin-http-rpc",
    ] {
        assert!(n.message.contains(needle), "{needle}:\n{}", n.message);
    }
    assert!(!n.message.contains("channels logout") && !n.message.contains("channels login"));
}

#[test]
fn a_repeat_within_the_same_second_is_still_a_new_episode() {
    // Passes closer than the reconciler's minute (a test's, a retried invocation's) must not
    // take a new block for the restarted one.
    let mut s = sim();
    let key = start_key(&s.at(T0, seen(vec![conflict()])));
    answered(&mut s, &key, started());
    s.at(T0, seen(vec![whatsapp(Lifecycle::Ready)]));
    let again = s.at(T0, seen(vec![conflict()]));
    assert!(starts(&again).is_empty(), "{again:?}");
    assert_eq!(s.kinds(), [NoticeKind::ChannelRestarted]);
}
