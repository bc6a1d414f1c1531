//! The per-gateway watchdog state stored at `pk=GW#<id>, sk=STATE` (ARCHITECTURE.md section 3).
//!
//! Every field has a default (`serde(default)`) so a state written by an older clawkeeper still
//! loads; collections are bounded so the item stays far below DynamoDB's 400 KB limit whatever
//! happens. The store adds `rev` for optimistic concurrency around this value.

use serde::{Deserialize, Serialize};

use super::action::Action;
use super::notice::Notice;
use super::signal::{StopEvidence, TaskNetwork};
use super::start_refusal::StartRefusalCause;

/// How many task versions to remember (a gateway has one task at a time; this covers the tasks of
/// a long crash loop, so late duplicates of recent tasks are still recognised).
pub const MAX_TASK_VERSIONS: usize = 32;
/// Stops kept as evidence in one incident.
pub const MAX_EVIDENCE: usize = 12;
/// Timeline entries kept in one incident (the first entries and the newest are what matter).
pub const MAX_TIMELINE: usize = 60;
/// Idempotency keys remembered after their action is done, to refuse a second emission.
pub const MAX_RECENT_KEYS: usize = 128;
/// Unexpected stops kept for crash-loop detection.
pub const MAX_RECENT_STOPS: usize = 32;
/// Owner actions kept in the state (each is also in the incident log).
pub const MAX_OWNER_LOG: usize = 50;

/// Where a gateway stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Running, no incident.
    Healthy,
    /// Running, but an incident is open or a crash-loop backoff is not yet reset.
    Degraded,
    /// Stopped unexpectedly and not running.
    Down,
    /// Crash loop declared; the restarted task is not up yet.
    CrashLoop,
    /// Paused by clawkeeper, waiting to resume under backoff.
    Backoff,
    /// Paused by the owner, or by clawkeeper after the last backoff try (needs the owner).
    Paused,
    /// Nothing known yet, or stopped on purpose and waiting for the next task.
    #[default]
    Unknown,
}

/// An invocation's exclusive right to execute the outbox until `until` (epoch seconds).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OutboxLease {
    /// Opaque token of the holding invocation.
    pub owner: String,
    /// Epoch seconds after which another invocation may take over (the holder died).
    pub until: i64,
    /// Digest of the holder's Lambda request id (0: unknown): Lambda's retry of the same
    /// invocation may take the lease at once ([`crate::engine::Moment::invocation`]).
    #[serde(default)]
    pub invocation: u64,
}

impl Phase {
    /// The phase as stored beside the state and shown to owners.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Down => "down",
            Self::CrashLoop => "crash_loop",
            Self::Backoff => "backoff",
            Self::Paused => "paused",
            Self::Unknown => "unknown",
        }
    }
}

/// Per-gateway state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayState {
    /// Derived from the rest after every plan; stored for `status` and queries.
    pub phase: Phase,
    /// The owner paused the gateway: never restart it.
    pub owner_paused: bool,
    /// The open incident, if any.
    pub incident: Option<Incident>,
    /// Id of the last incident opened, so a new one never reuses an `INCIDENT#<id>` key.
    pub last_incident_id: i64,
    /// Unexpected stops since the last crash-loop declaration, for the crash-loop rule.
    pub recent_stops: Vec<StopRecord>,
    /// Crash-loop backoff.
    pub backoff: Backoff,
    /// OpenClaw's refusals to start (exit 78) since the last healthy run, and the pause they made.
    pub start_refusals: StartRefusals,
    /// Last `detail.version` seen per task (bounded, oldest dropped first).
    pub task_versions: Vec<SeenVersion>,
    /// The task believed to be running.
    pub running: Option<RunningTask>,
    /// The last task seen (definition and network), to restart a standalone gateway.
    pub last_task: Option<LastTask>,
    /// The deployment in progress, if one was seen starting.
    pub deployment: Option<String>,
    /// When the last notice went out (rate limit).
    pub last_notice_at: Option<i64>,
    /// Notices are muted (recorded, not sent) until then.
    pub silence_until: Option<i64>,
    /// Notices held back by the rate limit, delivered folded into one on the next chance.
    pub held_notices: Vec<HeldNotice>,
    /// The outbox: actions planned but not yet confirmed done.
    pub pending: Vec<Action>,
    /// Who may execute the outbox now (set and cleared by the engine, never by the policy): two
    /// invocations draining the same outbox at once would act twice.
    pub outbox_lease: Option<OutboxLease>,
    /// Keys of actions already planned (done or pending), newest last: a key is never planned twice.
    pub recent_keys: Vec<String>,
    /// Probe streaks, channel episodes and once-per-episode checks (reconciler, log-alerts).
    pub health: super::health::Health,
    /// What owners asked through `control`, newest last (bounded).
    pub owner_log: Vec<OwnerLogEntry>,
}

/// One owner request through `control`, with who asked.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OwnerLogEntry {
    /// Epoch seconds.
    pub at: i64,
    /// `pause`, `resume`, `silence`, `restart`, `snapshot`, `restore`...
    pub action: String,
    /// Who asked, as the Lambda invocation context tells it.
    pub by: String,
    /// Details in words (reason, snapshot, outcome).
    pub detail: String,
    /// The incident open at the time: the entry is in its timeline.
    pub incident: Option<i64>,
    /// With no incident open: the id of the entry's own incident-log record (`INCIDENT#<id>`).
    pub record: Option<i64>,
}

/// An open incident: from the first unexpected stop to recovery.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Incident {
    /// Opened-at epoch seconds; also the `INCIDENT#<id>` sort key.
    pub id: i64,
    /// What went wrong first, in words.
    pub cause: String,
    /// When the gateway went down (first stop time).
    pub down_since: i64,
    /// Stops seen during the incident (bounded; the newest kept).
    pub evidence: Vec<StopEvidence>,
    /// What happened, what clawkeeper did and told (bounded).
    pub timeline: Vec<TimelineEntry>,
    /// The "down" notice is due then, unless the gateway runs again first.
    pub down_due_at: Option<i64>,
    /// A `gateway_down` notice was sent (or held, or muted).
    pub down_notified: bool,
    /// A crash loop was declared in this incident.
    pub crash_loop: bool,
    /// A `crash_loop` notice was sent (or held, or muted).
    pub crash_loop_notified: bool,
    /// Reminders sent so far.
    pub reminders_sent: u32,
    /// A `hung_restarted` notice was sent (or held, or muted).
    pub hung_notified: bool,
    /// Unexpected stops of this incident, the fast stops that made its crash loop included: what
    /// notices count (the evidence is bounded, the count is not).
    pub stops: u32,
    /// Snapshots requested during the incident: a notice claims one only when this is not 0.
    pub snapshots_requested: u32,
    /// The `start_refused` notice is due then (it waits a little for the log line that gives the
    /// cause), unless sent already.
    pub start_refused_due_at: Option<i64>,
    /// A `start_refused` notice was sent (or held, or muted).
    pub start_refused_notified: bool,
}

impl Incident {
    /// Whether the owner was told the gateway is down: only then is recovery announced.
    pub fn owner_told(&self) -> bool {
        self.down_notified || self.crash_loop_notified || self.hung_notified || self.start_refused_notified
    }
}

/// OpenClaw's refusals to start (exit 78, [`super::start_refusal`]): counted apart from crashes,
/// since a restart meets the same state and refuses again.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StartRefusals {
    /// Refused starts in a row: no task ran healthy (`backoff_reset_secs`) since the first.
    pub count: u32,
    /// The first refused task of this run: the `start_refused` notice's key, so the notice goes
    /// out once per run (a run after the owner's resume gets its own).
    pub first_task: Option<String>,
    /// The last refused task (the same stop delivered again counts once).
    pub last_task: Option<String>,
    /// When the last refused task started (epoch seconds), if it did: its log lines are its own.
    pub last_started_at: Option<i64>,
    /// When the last refused task stopped (epoch seconds).
    pub last_stopped_at: Option<i64>,
    /// clawkeeper paused the gateway then (desired count 0) for refusing again: nothing restarts it
    /// until the owner resumes it (or a task runs healthy).
    pub paused_at: Option<i64>,
    /// Why it paused, in words (status and the incident log show it).
    pub paused_why: Option<String>,
    /// The newest refusal line of the gateway's log (`log-alerts`).
    pub logged: Option<LoggedRefusal>,
}

/// A refusal line `log-alerts` saw in the gateway's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRefusal {
    /// What the line says.
    pub cause: StartRefusalCause,
    /// When it was logged (epoch seconds).
    pub at: i64,
}

/// One line of an incident's log.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TimelineEntry {
    /// Epoch seconds.
    pub at: i64,
    /// What happened.
    pub what: String,
}

/// An unexpected stop, for the crash-loop window.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StopRecord {
    /// When it stopped (epoch seconds).
    pub at: i64,
    /// How long it ran; 0 when it never started.
    pub runtime_secs: i64,
    /// Task ARN, or a synthetic id for a service event.
    pub task_arn: String,
    /// What ECS said.
    pub evidence: StopEvidence,
}

/// Crash-loop backoff, like Kubernetes' CrashLoopBackOff.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Backoff {
    /// A crash loop is being handled: every fast unexpected stop takes the next step.
    pub active: bool,
    /// Restarts made under this backoff.
    pub tries: u32,
    /// Paused, resuming then.
    pub resume_at: Option<i64>,
    /// Out of tries: stays paused until the owner resumes.
    pub escalated: bool,
}

/// Last version seen of one task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SeenVersion {
    /// Task ARN.
    pub task_arn: String,
    /// Highest `detail.version` processed.
    pub version: u64,
    /// When it was processed (eviction order).
    pub at: i64,
}

/// The task believed to be running.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunningTask {
    /// Task ARN.
    pub task_arn: String,
    /// Task definition ARN.
    pub task_definition: Option<String>,
    /// ECS `startedAt`.
    pub started_at: Option<i64>,
    /// When clawkeeper learnt it runs: the healthy clock for the backoff reset starts here.
    pub seen_at: i64,
    /// ENI network, for probes.
    pub network: Option<TaskNetwork>,
}

/// What a standalone gateway is restarted with.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LastTask {
    /// Task ARN.
    pub task_arn: String,
    /// Task definition ARN.
    pub task_definition: Option<String>,
    /// ENI network.
    pub network: Option<TaskNetwork>,
}

/// A notice held back by the rate limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldNotice {
    /// Its idempotency key.
    pub key: String,
    /// When it was planned.
    pub at: i64,
    /// The notice.
    pub notice: Notice,
}

impl GatewayState {
    /// Removes a done action from the outbox; `false` when it was not pending.
    pub fn confirm_done(&mut self, key: &str) -> bool {
        let before = self.pending.len();
        self.pending.retain(|a| a.key != key);
        self.pending.len() != before
    }

    /// Whether clawkeeper has already planned an action with this key.
    pub fn knows_key(&self, key: &str) -> bool {
        self.pending.iter().any(|a| a.key == key) || self.recent_keys.iter().any(|k| k == key)
    }

    /// The last version seen of a task.
    pub fn seen_version(&self, task_arn: &str) -> Option<u64> {
        self.task_versions
            .iter()
            .find(|v| v.task_arn == task_arn)
            .map(|v| v.version)
    }

    pub(crate) fn record_version(&mut self, task_arn: &str, version: u64, now: i64) {
        if let Some(seen) = self.task_versions.iter_mut().find(|v| v.task_arn == task_arn) {
            seen.version = seen.version.max(version);
            seen.at = now;
        } else {
            self.task_versions.push(SeenVersion {
                task_arn: task_arn.to_owned(),
                version,
                at: now,
            });
        }
        if self.task_versions.len() > MAX_TASK_VERSIONS {
            // Stable sort keeps insertion order among equal times: deterministic eviction.
            self.task_versions.sort_by_key(|v| v.at);
            let excess = self.task_versions.len() - MAX_TASK_VERSIONS;
            self.task_versions.drain(..excess);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_names_match_their_stored_form() {
        for phase in [
            Phase::Healthy,
            Phase::Degraded,
            Phase::Down,
            Phase::CrashLoop,
            Phase::Backoff,
            Phase::Paused,
            Phase::Unknown,
        ] {
            assert_eq!(
                serde_json::to_value(phase).ok(),
                Some(serde_json::Value::from(phase.as_str()))
            );
        }
    }

    #[test]
    fn old_and_empty_states_load_with_defaults() {
        let state: GatewayState = serde_json::from_str("{}").expect("empty state");
        assert_eq!(state, GatewayState::default());
        assert_eq!(state.phase, Phase::Unknown);
        let state: GatewayState =
            serde_json::from_str(r#"{"phase":"healthy","incident":{"id":5},"someday_field":1}"#).expect("old state");
        assert_eq!(state.phase, Phase::Healthy);
        assert_eq!(state.incident.map(|i| i.id), Some(5));
    }

    #[test]
    fn phases_serialize_as_documented() {
        let names: Vec<String> = [
            Phase::Healthy,
            Phase::Degraded,
            Phase::Down,
            Phase::CrashLoop,
            Phase::Backoff,
            Phase::Paused,
            Phase::Unknown,
        ]
        .iter()
        .map(|p| {
            serde_json::to_value(p)
                .expect("json")
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
        assert_eq!(
            names,
            [
                "healthy",
                "degraded",
                "down",
                "crash_loop",
                "backoff",
                "paused",
                "unknown"
            ]
        );
    }

    #[test]
    fn task_versions_are_bounded() {
        let mut state = GatewayState::default();
        for i in 0..100 {
            state.record_version(&format!("task-{i}"), 1, i);
        }
        assert_eq!(state.task_versions.len(), MAX_TASK_VERSIONS);
        assert_eq!(state.seen_version("task-99"), Some(1));
        assert_eq!(state.seen_version("task-0"), None);
        state.record_version("task-99", 0, 200);
        assert_eq!(state.seen_version("task-99"), Some(1), "never goes back");
    }
}
