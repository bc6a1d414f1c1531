//! Health inputs of the watchdog policy and what they leave in the state: what the reconciler
//! observes each minute (ECS tasks, deployment limits, probes, snapshot age) and the channel
//! signals `log-alerts` finds in the gateway's log lines.
//!
//! Plain values only: the reconciler and `log-alerts` build them from ECS, HTTP and CloudWatch
//! Logs; [`super::plan`] folds them into [`Health`] (see `plan/health_rules.rs` for the rules).

use serde::{Deserialize, Serialize};

use super::channel_runtime::ChannelRuntimes;
pub use super::channel_runtime::ChannelsCheck;
use crate::ecs::DeploymentLimits;

/// Channels OpenClaw runs, as they appear in its log subsystems (the console shows just the name)
/// and in `/readyz` failing entries.
pub const CHANNELS: &[&str] = &[
    "whatsapp",
    "telegram",
    "discord",
    "slack",
    "signal",
    "imessage",
    "matrix",
    "msteams",
    "googlechat",
    "mattermost",
    "line",
    "feishu",
    "wechat",
    "zalo",
    "irc",
    "nostr",
];

/// What the reconciler saw of one gateway in one pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observation {
    /// ECS's view; `None` when ECS could not be read (no ECS rule runs then).
    pub ecs: Option<EcsObservation>,
    /// Probe results, or why there were none; `None` leaves every probe rule and the probe status
    /// alone (the reconciler always sends one).
    pub probe: Option<ProbeReport>,
    /// Age of the newest snapshot.
    pub snapshot: SnapshotCheck,
    /// The snapshot function's failure record, turned into its notice (the snapshot function runs in
    /// the VPC without a route to SNS, so the reconciler tells the owner).
    pub snapshot_failure: Option<SnapshotFailure>,
    /// The channel accounts as OpenClaw's admin RPC (`channels.status`) reported them, or why
    /// they are unknown; nothing is decided on an unknown.
    pub channels: ChannelsCheck,
}

/// A failed snapshot run to tell the owner about, once per run of failures (the policy renders
/// the `snapshot_failed` notice, with the deployment's commands).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotFailure {
    /// Identifies the run of failures (a new key only after a success in between).
    pub key: String,
    /// When the run of failures began (epoch seconds).
    pub first_failed_at: i64,
    /// When the last run failed (epoch seconds).
    pub failed_at: i64,
    /// Failed runs in a row.
    pub consecutive_failures: u32,
    /// The trigger of the failed run (`scheduled`, `task-stopped`, ...).
    pub trigger: String,
    /// Stable error type (`SqliteCaptureFailed`, `StateMissing`, `AwsTransient`...).
    pub error_type: String,
    /// What went wrong, for a person (no secrets).
    pub message: String,
}

/// ECS's view of a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EcsObservation {
    /// The service's desired count; `None` for a standalone gateway.
    pub desired: Option<i32>,
    /// Tasks ECS is starting.
    pub pending: i32,
    /// Deployment limits of the service (a single-writer gateway needs min 0 %, max 100 %).
    pub limits: Option<DeploymentLimits>,
    /// Tasks with last status RUNNING that are meant to keep running.
    pub running: Vec<ObservedTask>,
    /// Recently stopped tasks the state may still think are running.
    pub stopped: Vec<ObservedTask>,
}

/// One task as the reconciler saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedTask {
    /// Task ARN.
    pub task_arn: String,
    /// Task definition ARN.
    pub task_definition: Option<String>,
    /// When it started (epoch seconds).
    pub started_at: Option<i64>,
    /// Private IPv4 address of its ENI.
    pub private_ip: Option<String>,
    /// Subnet of its ENI.
    pub subnet_id: Option<String>,
    /// `stopCode`, for a stopped task.
    pub stop_code: Option<String>,
    /// `stoppedReason`, for a stopped task.
    pub stopped_reason: Option<String>,
    /// When it stopped (epoch seconds).
    pub stopped_at: Option<i64>,
}

/// How the reconciler can see a gateway's HTTP probes (shown by `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeMode {
    /// The gateway's `probe_url` (an ALB or any address the reconciler reaches), wherever it runs.
    ProbeUrl,
    /// The task's private IP on port 18789: the reconciler runs in the gateway's VPC
    /// (`CLAWKEEPER_PROBE_TASK_IP=true`).
    TaskIp,
    /// Nothing the reconciler can reach: no probe is made and no probe rule runs.
    #[default]
    Unavailable,
}

impl ProbeMode {
    /// The stable name (`probe_url`, `task_ip`, `unavailable`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProbeUrl => "probe_url",
            Self::TaskIp => "task_ip",
            Self::Unavailable => "unavailable",
        }
    }
}

/// What one liveness probe (`GET /healthz`) found.
///
/// The line between [`Self::Failed`] and [`Self::Unreachable`] is whether a connection to the
/// gateway's HTTP server was ever established (TCP, plus TLS for an `https` `probe_url`): only
/// something that was reached and then answered wrong, or not at all, says the gateway is hung.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// `/healthz` answered OpenClaw's JSON contract (`{"ok":true}`).
    Live,
    /// Reached but wrong: connected, then no answer within the timeout, an HTML page, a body that is
    /// not JSON or says `ok:false`, a 5xx. Counts toward `hung_probe_failures`.
    Failed,
    /// Could not reach: no route, connection refused, connect timeout, DNS or TLS failure. Unknown:
    /// proves nothing about the gateway, so it neither counts toward nor breaks a hung streak.
    Unreachable,
}

impl ProbeOutcome {
    /// The stable name (`live`, `failed`, `unreachable`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Failed => "failed",
            Self::Unreachable => "unreachable",
        }
    }
}

/// What `/startupz` said: whether OpenClaw's startup is done. Older gateways without the endpoint,
/// or an answer that is not its JSON, give no word at all (`None` where it is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Startup {
    /// `200` with `status: "started"`: startup sidecars settled, not draining.
    Started,
    /// `503` with `status: "starting"`: still starting (it can take minutes).
    Starting,
    /// `503` with `status: "draining"`: shutting down.
    Draining,
}

impl Startup {
    /// The stable name (`started`, `starting`, `draining`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Starting => "starting",
            Self::Draining => "draining",
        }
    }
}

/// What the probes of one gateway found in one pass, or why there were none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProbeReport {
    /// How the gateway can be probed at all.
    pub mode: ProbeMode,
    /// What `/healthz` found; `None` when nothing was probed in this pass (mode `unavailable`, or
    /// no single RUNNING task with an IP to probe).
    pub outcome: Option<ProbeOutcome>,
    /// In words (never a response body): why not live, or why nothing was probed.
    pub detail: Option<String>,
    /// What `/startupz` said; `None` when not asked or not understood.
    pub startup: Option<Startup>,
    /// `/readyz` said ready; `None` when not asked or not understood.
    pub ready: Option<bool>,
    /// Entries of `/readyz`'s `failing` list (`channel:whatsapp:default`, `agent-database:main`...).
    pub failing: Vec<String>,
    /// Secrets Manager version of the token `/readyz` answered 401 to in this pass.
    pub token_rejected: Option<String>,
}

impl ProbeReport {
    /// No probe in this pass, and why.
    pub fn skipped(mode: ProbeMode, reason: impl Into<String>) -> Self {
        Self {
            mode,
            detail: Some(reason.into()),
            ..Self::default()
        }
    }
}

/// How the reconciler probes a gateway and what it last found, kept in the state for `status`.
///
/// Only changes are written (the state is stored when it changes), so there is no per-pass time here.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeStatus {
    /// `probe_url`, `task_ip` or `unavailable`.
    pub mode: ProbeMode,
    /// Why the last pass probed nothing (always set for `unavailable`).
    pub reason: Option<String>,
    /// What the last probe made in this mode found.
    pub last_outcome: Option<ProbeOutcome>,
    /// Why that probe was not live, in words.
    pub last_detail: Option<String>,
    /// Since when probes have found `last_outcome` (epoch seconds).
    pub since: Option<i64>,
    /// What `/startupz` said at the last probe.
    pub startup: Option<Startup>,
    /// What `/readyz` said at the last probe: ready or not (`None`: no answer understood).
    pub ready: Option<bool>,
    /// `/readyz`'s `failing` entries at the last probe (`channel:whatsapp:default`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
}

/// Age of the newest snapshot sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotCheck {
    /// Not looked at in this pass.
    #[default]
    NotChecked,
    /// No snapshot exists.
    NoneFound,
    /// The newest snapshot was taken then (epoch seconds).
    NewestAt(i64),
}

/// A channel line of the gateway's log, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSignal {
    /// `whatsapp`, `telegram`, ...
    pub channel: String,
    /// OpenClaw account id, when the line names one.
    pub account: Option<String>,
    /// What the line says.
    pub kind: ChannelEvent,
    /// When it was logged (epoch seconds).
    pub at: i64,
    /// RUNNING tasks ECS showed when the signal was handled, for a conflict (`None`: not checked).
    pub running_tasks: Option<u32>,
}

/// The channel events OpenClaw logs that matter to an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelEvent {
    /// `WhatsApp session logged out` / status 401: the link is gone.
    LoggedOut,
    /// Status 440: another client uses the same creds (two gateways at once).
    Conflict,
    /// Status 440 in 2026.9: OpenClaw stopped the channel and kept its link ("restart the
    /// channel"): a restart (`channels.start`) brings it back once the other client is gone.
    ConflictStopped,
    /// `max attempts reached (12/12)`: the reconnect loop gave up.
    ReconnectExhausted,
    /// `cleared cached auth after terminal close`: OpenClaw deleted the creds.
    AuthCleared,
    /// `giving up after 10 restart attempts`: the channel manager stopped restarting it.
    GaveUp,
    /// `channel autostart suppressed by crash-loop breaker`.
    BreakerSuppressed,
    /// Telegram `getMe returned 401`: the bot token is wrong or revoked.
    TelegramUnauthorized,
    /// Telegram `getUpdates conflict` (409): another poller uses the bot token.
    TelegramConflict,
    /// The channel is connected (again).
    Connected,
}

impl ChannelEvent {
    /// A state that does not heal by itself: the owner must relink or replace a credential.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::LoggedOut | Self::Conflict | Self::AuthCleared | Self::TelegramUnauthorized
        )
    }

    /// The stable name (logs, classification reports).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoggedOut => "logged_out",
            Self::Conflict => "conflict",
            Self::ConflictStopped => "conflict_stopped",
            Self::ReconnectExhausted => "reconnect_exhausted",
            Self::AuthCleared => "auth_cleared",
            Self::GaveUp => "gave_up",
            Self::BreakerSuppressed => "breaker_suppressed",
            Self::TelegramUnauthorized => "telegram_unauthorized",
            Self::TelegramConflict => "telegram_conflict",
            Self::Connected => "connected",
        }
    }

    /// What happened, in words for a notice.
    pub fn describe(self) -> &'static str {
        match self {
            Self::LoggedOut => "the session was logged out (status 401): the link to the phone is gone",
            Self::Conflict => "another client took over the session (status 440 conflict)",
            Self::ConflictStopped => {
                "another client took over the session (status 440); OpenClaw stopped the channel and kept its link"
            }
            Self::ReconnectExhausted => "reconnecting failed too often (max attempts reached)",
            Self::AuthCleared => "OpenClaw cleared the cached credentials after a terminal disconnect",
            Self::GaveUp => "OpenClaw gave up restarting the channel after 10 attempts",
            Self::BreakerSuppressed => "the crash-loop breaker stopped the channel from starting",
            Self::TelegramUnauthorized => "Telegram rejected the bot token (getMe returned 401)",
            Self::TelegramConflict => "another poller uses the same Telegram bot token (409 conflict)",
            Self::Connected => "connected",
        }
    }
}

/// Probe streaks, channel episodes and once-per-episode checks, kept in the gateway state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// Failed liveness probes of `probe_task` while ECS said RUNNING, with no live probe between
    /// them (unreachable probes in between neither count nor break the streak).
    pub probe_failures: u32,
    /// The task the streak is about: a new task starts a new streak.
    pub probe_task: Option<String>,
    /// The task `/startupz` last said started: its failed probes count at once, even when
    /// `/startupz` stops answering (as a hung gateway's does).
    pub started_task: Option<String>,
    /// When the current streak's first failed probe was (epoch seconds): a hung gateway has been
    /// down since then, not since the last probe.
    pub probe_failing_since: Option<i64>,
    /// When clawkeeper stopped a hung task (within the crash-loop window): the restart budget.
    pub hung_stops: Vec<i64>,
    /// A standalone task stopped as hung: start a new one once it is gone.
    pub restart_after_stop: Option<String>,
    /// Secrets Manager version of the gateway token that `/readyz` rejected: never sent again.
    pub rejected_token_version: Option<String>,
    /// A single-writer violation is open since then (notified once per episode).
    pub single_writer_since: Option<i64>,
    /// The newest snapshot has been too old since then (notified once per episode).
    pub snapshot_stale_since: Option<i64>,
    /// Key of the last run of snapshot failures the owner was told about.
    pub snapshot_failure_key: Option<String>,
    /// First reconciler observation: the baseline when no snapshot exists at all.
    pub watching_since: Option<i64>,
    /// RUNNING tasks ECS showed at the last observation (a 440 conflict is checked against it).
    pub running_tasks_seen: u32,
    /// How the reconciler probes the gateway and what it last found (`None` before its first pass).
    pub probe: Option<ProbeStatus>,
    /// Channel accounts currently down (bounded).
    pub channels: Vec<ChannelEpisode>,
    /// The channel accounts as the admin RPC last reported them, and clawkeeper's restarts.
    pub channel_runtime: ChannelRuntimes,
}

/// Channel accounts tracked at most (a gateway has a handful).
pub const MAX_CHANNEL_EPISODES: usize = 16;

/// One channel account that is down, from its first problem signal to `Connected`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelEpisode {
    /// `whatsapp`, `telegram`, ...
    pub channel: String,
    /// OpenClaw account id (`default` when the line names none).
    pub account: String,
    /// Down since (epoch seconds); also the episode's id in idempotency keys.
    pub since: i64,
    /// What went wrong last.
    pub last: Option<ChannelEvent>,
    /// Relinking (or a new credential) is needed: it does not heal by itself.
    pub terminal: bool,
    /// Opened by `/readyz` (a ready probe closes it), not by a log line.
    pub from_probe: bool,
    /// `channel_down` was sent (or held, or muted).
    pub down_notified: bool,
    /// `relink_needed` was sent (or held, or muted).
    pub relink_notified: bool,
}

/// Whether the newest snapshot is older than twice the schedule (no snapshot at all counts once the
/// gateway has been watched that long). `false` when the check is off or was not made.
pub fn snapshot_is_stale(check: SnapshotCheck, watching_since: Option<i64>, now: i64, interval_secs: u64) -> bool {
    if interval_secs == 0 {
        return false;
    }
    let limit = i64::try_from(interval_secs).unwrap_or(i64::MAX / 2).saturating_mul(2);
    match check {
        SnapshotCheck::NotChecked => false,
        SnapshotCheck::NoneFound => watching_since.is_some_and(|since| now.saturating_sub(since) > limit),
        SnapshotCheck::NewestAt(at) => now.saturating_sub(at) > limit,
    }
}
