//! The `control` function's request contract, shared by the function that parses requests and the
//! CLI that builds them: the actions it knows and the defaults and bounds of their fields.

/// Actions `control` knows, as the `action` field names them (and the CLI's subcommands do).
pub const ACTIONS: &[&str] = &[
    "status",
    "restart",
    "pause",
    "resume",
    "silence",
    "history",
    "snapshot",
    "snapshots",
    "restore",
    "test",
    "register",
    "unregister",
    "gateways",
];

/// Default and longest `history` window, in days (incident records are kept 90 days).
pub const DEFAULT_HISTORY_DAYS: u32 = 7;
pub const MAX_HISTORY_DAYS: u32 = 90;
/// Longest silence: a week; longer would hide a gateway that needs its owner.
pub const MAX_SILENCE_MINUTES: u32 = 7 * 24 * 60;
/// Default number of snapshots listed.
pub const DEFAULT_SNAPSHOT_LIMIT: usize = 20;

pub mod doctor {
    //! The answer to `{"action":"test"}`: a test notice through the real topic, then each check of a
    //! working deployment with what to do when it fails. The CLI's `doctor` renders it and exits
    //! non-zero when [`DoctorReport::ok`] is false.

    use serde::{Deserialize, Serialize};

    /// How one check came out.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Verdict {
        Ok,
        /// Works, but needs a look (a subscription still pending beside a confirmed one, say).
        Warn,
        /// Broken: the owner would not be told, or nothing is watching.
        Fail,
        /// Not part of this deployment (no snapshots configured, no probe in this mode).
        Skipped,
    }

    /// One check: what was looked at, what was found, and the fix when it is not ok.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Check {
        /// `notice`, `subscriptions`, `alarms`, `heartbeat`, `dead_letters`, `snapshot`, `probe`.
        pub name: String,
        /// The gateway a per-gateway check is about.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub gateway: Option<String>,
        pub verdict: Verdict,
        pub detail: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub fix: Option<String>,
    }

    impl Check {
        /// A check of the whole deployment.
        pub fn new(name: &str, verdict: Verdict, detail: impl Into<String>) -> Self {
            Self {
                name: name.into(),
                gateway: None,
                verdict,
                detail: detail.into(),
                fix: None,
            }
        }

        /// With what to do about it.
        pub fn fix(mut self, fix: impl Into<String>) -> Self {
            self.fix = Some(fix.into());
            self
        }

        /// About one gateway.
        pub fn of(mut self, gateway: &str) -> Self {
            self.gateway = Some(gateway.into());
            self
        }
    }

    /// Every check, in the order they ran; `ok` is false when any failed.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct DoctorReport {
        pub ok: bool,
        pub checks: Vec<Check>,
    }

    impl DoctorReport {
        pub fn new(checks: Vec<Check>) -> Self {
            Self {
                ok: checks.iter().all(|c| c.verdict != Verdict::Fail),
                checks,
            }
        }
    }
}

pub mod status {
    //! The answer to `{"action":"status"}`, typed on both sides: the control function builds it
    //! from ECS, the stored watchdog state and the snapshot listing; the CLI reads it back.

    use serde::{Deserialize, Serialize};

    use crate::ecs::{ServiceView, TaskView};
    use crate::gateway::GatewayTarget;
    use crate::watch::channel_runtime::{AdminRpc, ChannelRuntimes, ChannelStart, Lifecycle, Trouble};
    use crate::watch::health::ProbeStatus;
    use crate::watch::state::{Backoff, GatewayState, Incident, OwnerLogEntry, Phase, RunningTask, StartRefusals};
    use crate::watch::time::format_utc;

    /// Owner actions `status` shows, newest first.
    pub const RECENT_OWNER_ACTIONS: usize = 5;

    /// Every gateway asked about.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct StatusReport {
        pub gateways: Vec<GatewayStatus>,
    }

    /// One gateway: what ECS says, what the watchdog knows, its newest snapshots.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct GatewayStatus {
        pub id: String,
        #[serde(default)]
        pub cluster: String,
        pub target: GatewayTarget,
        pub ecs: EcsState,
        pub watchdog: Watchdog,
        /// The newest few snapshots as the snapshot listing shows them, or why they are unknown.
        #[serde(default)]
        pub snapshots: serde_json::Value,
    }

    /// What ECS says, by kind of gateway.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(tag = "state", rename_all = "snake_case")]
    pub enum EcsState {
        /// The service exists.
        Service(ServiceView),
        /// ECS does not know the service (deleted, wrong name or cluster).
        Missing { reason: String },
        /// A standalone gateway: its running and pending tasks.
        Standalone {
            running: usize,
            pending: usize,
            tasks: Vec<TaskView>,
        },
        /// ECS could not be asked; `retryable` says whether asking again may help.
        Error { message: String, retryable: bool },
    }

    /// The watchdog's view of a gateway.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(untagged)]
    pub enum Watchdog {
        // Read in this order: the two with a field of their own first, as the view reads leniently.
        /// The state could not be read.
        Unreadable { error: String },
        /// Never saved: the watchdog has not seen this gateway yet.
        Unseen { phase: Phase, note: String },
        /// From its stored state.
        Seen(Box<WatchdogView>),
    }

    impl Watchdog {
        /// A gateway the watchdog has no state of.
        pub fn unseen() -> Self {
            Self::Unseen {
                phase: Phase::Unknown,
                note: "the watchdog has not seen this gateway yet".into(),
            }
        }
    }

    /// The parts of the stored state an owner reads. Read leniently (a field an older control
    /// function did not send takes its default), like the state itself.
    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    #[serde(default)]
    pub struct WatchdogView {
        pub phase: Phase,
        pub owner_paused: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub silence_until: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub silenced_until_utc: Option<String>,
        pub backoff: Backoff,
        /// Refused starts in a row and clawkeeper's pause for them (with why), when there are any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub start_refusals: Option<StartRefusals>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub incident: Option<Incident>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub running: Option<RunningTask>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub deployment: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub probe: Option<ProbeView>,
        /// The channel accounts as the admin RPC's `channels.status` last reported them (`None`
        /// before the reconciler first asked).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub channels: Option<ChannelsView>,
        /// Newest first.
        pub recent_owner_actions: Vec<OwnerLogEntry>,
        pub rev: u64,
        pub updated_at: i64,
    }

    /// How the reconciler probes the gateway, as it stored it, with the hung streak.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ProbeView {
        #[serde(flatten)]
        pub status: ProbeStatus,
        /// Failed probes in a row (the hung streak).
        #[serde(default)]
        pub failures: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub since_utc: Option<String>,
    }

    /// The channel runtimes the reconciler last read, and whether it can read them.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ChannelsView {
        /// `read`, or `unavailable` with why (`admin RPC not enabled ...`).
        pub admin_rpc: AdminRpc,
        #[serde(default)]
        pub accounts: Vec<ChannelView>,
    }

    /// One channel account: its lifecycle since when, its trouble, clawkeeper's restart of it.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ChannelView {
        pub channel: String,
        pub account: String,
        /// `None`: the channel publishes no lifecycle.
        #[serde(default)]
        pub lifecycle: Option<Lifecycle>,
        /// Since when it reported that lifecycle (epoch seconds).
        #[serde(default)]
        pub since: i64,
        #[serde(default)]
        pub since_utc: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub trouble: Option<Trouble>,
        /// When clawkeeper last restarted it (`channels.start`), within its window.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub restarted_at_utc: Option<String>,
        /// What that restart answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub restart_answer: Option<ChannelStart>,
    }

    impl ChannelsView {
        /// The view of the stored runtimes; `None` before the reconciler ever asked.
        pub fn of(runtimes: &ChannelRuntimes) -> Option<Self> {
            if runtimes.admin_rpc == AdminRpc::NotAsked && runtimes.accounts.is_empty() {
                return None;
            }
            let accounts = runtimes
                .accounts
                .iter()
                .map(|a| ChannelView {
                    channel: a.channel.clone(),
                    account: a.account.clone(),
                    lifecycle: a.lifecycle,
                    since: a.since,
                    since_utc: format_utc(a.since),
                    trouble: a.trouble,
                    restarted_at_utc: a.restart.as_ref().map(|r| format_utc(r.at)),
                    restart_answer: a.restart.as_ref().and_then(|r| r.answer.clone()),
                })
                .collect();
            Some(Self {
                admin_rpc: runtimes.admin_rpc.clone(),
                accounts,
            })
        }
    }

    impl WatchdogView {
        /// The view of a stored state at revision `rev`, saved at `updated_at`.
        pub fn of(state: &GatewayState, rev: u64, updated_at: i64) -> Self {
            let probe = state.health.probe.clone().map(|status| ProbeView {
                since_utc: status.since.map(format_utc),
                failures: state.health.probe_failures,
                status,
            });
            Self {
                phase: state.phase,
                owner_paused: state.owner_paused,
                silence_until: state.silence_until,
                silenced_until_utc: state.silence_until.map(format_utc),
                backoff: state.backoff.clone(),
                start_refusals: (state.start_refusals.count > 0 || state.start_refusals.paused_at.is_some())
                    .then(|| state.start_refusals.clone()),
                incident: state.incident.clone(),
                running: state.running.clone(),
                deployment: state.deployment.clone(),
                probe,
                channels: ChannelsView::of(&state.health.channel_runtime),
                recent_owner_actions: state
                    .owner_log
                    .iter()
                    .rev()
                    .take(RECENT_OWNER_ACTIONS)
                    .cloned()
                    .collect(),
                rev,
                updated_at,
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use serde_json::json;

        use super::*;

        fn view(state: serde_json::Value) -> serde_json::Value {
            let state: GatewayState = serde_json::from_value(state).expect("state");
            serde_json::to_value(WatchdogView::of(&state, 3, 1_795_161_000)).expect("view")
        }

        #[test]
        fn the_probe_view_shows_the_mode_the_last_outcome_and_the_streak() {
            let state = json!({"phase": "healthy", "health": {"probe_failures": 1, "probe": {
                "mode": "task_ip", "reason": null, "last_outcome": "failed",
                "last_detail": "connected, but no answer within 2000 ms", "since": 1_795_161_600}}});
            let probe = &view(state)["probe"];
            assert_eq!(probe["mode"], "task_ip");
            assert_eq!(probe["last_outcome"], "failed");
            assert_eq!(probe["failures"], 1);
            assert_eq!(probe["since_utc"], "2026-11-20 08:00:00 UTC");
            // A state from before probe modes, or one the reconciler never saw: nothing to show.
            assert_eq!(view(json!({"health": {"probe_failures": 0}})).get("probe"), None);
            assert_eq!(view(json!({})).get("probe"), None);
        }

        #[test]
        fn the_view_shows_readiness_startup_and_each_channels_lifecycle_since_when() {
            let state = json!({"phase": "healthy", "health": {
                "probe": {"mode": "probe_url", "last_outcome": "live", "since": 1_795_161_600,
                          "startup": "started", "ready": false, "failing": ["channel:whatsapp:default"]},
                "channel_runtime": {"admin_rpc": {"state": "read"}, "accounts": [
                    {"channel": "whatsapp", "account": "default", "lifecycle": "ready", "since": 1_795_161_660,
                     "restart": {"at": 1_795_161_600, "episode": 1_795_161_600, "key": "k",
                                 "trouble": "conflict", "answer": {"result": "started", "outcome": "handed-off"}}},
                    {"channel": "telegram", "account": "ops", "lifecycle": "blocked", "since": 1_795_161_000}]}}});
            let written = view(state);
            let probe = &written["probe"];
            assert_eq!(
                (probe["ready"].clone(), probe["startup"].clone()),
                (json!(false), json!("started"))
            );
            assert_eq!(probe["failing"], json!(["channel:whatsapp:default"]));
            let channels = &written["channels"];
            assert_eq!(channels["admin_rpc"], json!({"state": "read"}));
            let wa = &channels["accounts"][0];
            assert_eq!(wa["lifecycle"], "ready");
            assert_eq!(wa["since_utc"], "2026-11-20 08:01:00 UTC");
            assert_eq!(wa["restarted_at_utc"], "2026-11-20 08:00:00 UTC");
            assert_eq!(
                wa["restart_answer"],
                json!({"result": "started", "outcome": "handed-off"})
            );
            assert_eq!(channels["accounts"][1].get("restarted_at_utc"), None);
            // The CLI reads it back.
            let read: Watchdog = serde_json::from_value(written.clone()).expect("reads back");
            let Watchdog::Seen(v) = read else { panic!("seen") };
            assert_eq!(v.channels.as_ref().map(|c| c.accounts.len()), Some(2));
            // Not enabled: the reason shows; never asked: no channels at all.
            let off = view(json!({"health": {"channel_runtime": {"admin_rpc":
                {"state": "unavailable", "why": "admin RPC not enabled"}}}}));
            assert_eq!(off["channels"]["admin_rpc"]["why"], "admin RPC not enabled");
            assert_eq!(view(json!({})).get("channels"), None);
        }

        #[test]
        fn the_view_reads_back_as_it_was_written_and_shows_the_newest_owner_actions_first() {
            let log: Vec<_> = (0..8)
                .map(|i| json!({"at": i, "action": "pause", "by": "me"}))
                .collect();
            let written = view(
                json!({"phase": "paused", "owner_paused": true, "silence_until": 1_795_161_600,
                                       "owner_log": log}),
            );
            assert_eq!(written["silenced_until_utc"], "2026-11-20 08:00:00 UTC");
            let ats: Vec<_> = written["recent_owner_actions"]
                .as_array()
                .expect("list")
                .iter()
                .map(|e| e["at"].clone())
                .collect();
            assert_eq!(ats, [7, 6, 5, 4, 3]);
            let read: Watchdog = serde_json::from_value(written.clone()).expect("reads back");
            assert!(matches!(&read, Watchdog::Seen(v) if v.owner_paused && v.rev == 3));
            assert_eq!(serde_json::to_value(&read).expect("json"), written);
            let unseen: Watchdog =
                serde_json::from_value(serde_json::to_value(Watchdog::unseen()).expect("json")).expect("reads");
            assert!(matches!(unseen, Watchdog::Unseen { .. }));
        }
    }
}
