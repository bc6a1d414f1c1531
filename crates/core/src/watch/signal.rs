//! What happens to a gateway, in domain terms: [`Signal`]s (a task stopped or started, a service
//! action, a deployment's outcome) with the evidence ECS gave, and the rule that classifies a
//! stop ([`classify_stop`]). [`super::ecs_event`] reads them out of EventBridge events.

use serde::{Deserialize, Serialize};

use super::notice::GATEWAY_CONTAINER;
use super::start_refusal::START_REFUSED_EXIT_CODE;

/// Something that happened to a gateway, in domain terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Signal {
    /// A task reached RUNNING (and is meant to keep running).
    TaskRunning(TaskInfo),
    /// A task stopped, with the evidence ECS gave and our classification.
    TaskStopped(TaskStop),
    /// `SERVICE_STEADY_STATE`: the service has what it wants.
    ServiceSteady {
        /// Event time (epoch seconds), when given.
        at: Option<i64>,
    },
    /// The service cannot start tasks (`SERVICE_TASK_START_IMPAIRED` and the placement and
    /// configuration failures): counts as a failure to start.
    ServiceImpaired {
        /// The ECS `eventName`.
        event_name: String,
        /// Event time (epoch seconds), when given.
        at: Option<i64>,
    },
    /// `SERVICE_DEPLOYMENT_IN_PROGRESS`.
    DeploymentStarted {
        /// ECS deployment id, e.g. `ecs-svc/3817563411738393612`.
        deployment_id: Option<String>,
        /// ECS's reason text.
        reason: Option<String>,
    },
    /// `SERVICE_DEPLOYMENT_COMPLETED`.
    DeploymentCompleted {
        /// ECS deployment id.
        deployment_id: Option<String>,
    },
    /// `SERVICE_DEPLOYMENT_FAILED` (e.g. the circuit breaker rolled back).
    DeploymentFailed {
        /// ECS deployment id.
        deployment_id: Option<String>,
        /// ECS's reason text.
        reason: Option<String>,
    },
}

/// What a task event tells about the task itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Task ARN.
    pub task_arn: String,
    /// `detail.version`: monotonic per task.
    pub version: Option<u64>,
    /// Task definition ARN (a standalone gateway is restarted with it).
    pub task_definition: Option<String>,
    /// `service:<name>` or `family:<name>`.
    pub group: Option<String>,
    /// When the task reached RUNNING (epoch seconds).
    pub started_at: Option<i64>,
    /// Network of the task's ENI, when the event lists it.
    pub network: Option<TaskNetwork>,
    /// The EventBridge event time (epoch seconds).
    pub event_time: Option<i64>,
}

impl TaskInfo {
    /// The last segment of the task ARN: what `aws ecs describe-tasks` also accepts.
    pub fn task_id(&self) -> &str {
        short_task_id(&self.task_arn)
    }
}

/// The last segment of a task ARN.
pub fn short_task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Where a task ran on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskNetwork {
    /// Subnet of the task's ENI.
    pub subnet_id: Option<String>,
    /// Private IPv4 address (the reconciler probes it on port 18789).
    pub private_ip: Option<String>,
}

/// A stopped task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStop {
    /// The task.
    pub task: TaskInfo,
    /// Why it stopped, classified.
    pub cause: StopCause,
    /// What ECS said, kept because stopped-task details expire after about an hour.
    pub evidence: StopEvidence,
}

/// Why a task stopped. Expected causes open no incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "cause", content = "detail")]
pub enum StopCause {
    /// `UserInitiated`: someone ran `StopTask` (the owner, or clawkeeper itself).
    UserInitiated,
    /// `ServiceSchedulerInitiated` for a deployment replacement or a scale-in (scale to 0 included).
    Replaced,
    /// The essential container exited (any exit code but 78: OpenClaw exits 0 on a full restart).
    Crashed,
    /// The gateway container exited 78 (`EX_CONFIG`): OpenClaw refused to start, because another
    /// writer owns its state or a state migration cannot run safely ([`super::start_refusal`]).
    /// Unexpected, but no crash: a restart meets the same state and refuses again, so it counts
    /// toward no crash loop and clawkeeper restarts nothing for it.
    StartRefused,
    /// Exit 137 or an `OutOfMemory` reason.
    OutOfMemory,
    /// `TaskFailedToStart` (image pull, EFS mount, secrets...).
    FailedToStart,
    /// Fargate Spot reclaimed the capacity.
    SpotInterruption,
    /// `TerminationNotice`: the host is going away.
    TerminationNotice,
    /// Fargate maintenance or task retirement.
    Maintenance,
    /// The scheduler replaced a task that failed its health checks (hung).
    Unhealthy,
    /// `ServiceSchedulerInitiated` with a reason we do not recognise, kept verbatim.
    Scheduler(String),
    /// A stop code we do not know (e.g. `InfrastructureHealth`), kept verbatim; empty when absent.
    Unknown(String),
}

impl StopCause {
    /// Whether this stop is meant to happen (owner stop, deployment, scale-in): no incident.
    pub fn is_expected(&self) -> bool {
        matches!(self, Self::UserInitiated | Self::Replaced)
    }

    /// A short phrase for notices and logs.
    pub fn label(&self) -> String {
        match self {
            Self::UserInitiated => "stopped by a user".into(),
            Self::Replaced => "replaced by a deployment or scale-in".into(),
            Self::Crashed => "the gateway process exited".into(),
            Self::StartRefused => "OpenClaw refused to start (exit 78)".into(),
            Self::OutOfMemory => "out of memory".into(),
            Self::FailedToStart => "the task failed to start".into(),
            Self::SpotInterruption => "Fargate Spot interruption".into(),
            Self::TerminationNotice => "host termination notice".into(),
            Self::Maintenance => "Fargate maintenance (task retirement)".into(),
            Self::Unhealthy => "failed health checks (hung)".into(),
            Self::Scheduler(reason) => format!("stopped by the ECS scheduler: {reason}"),
            Self::Unknown(code) if code.is_empty() => "stopped for an unknown reason".into(),
            Self::Unknown(code) => format!("stop code {code}"),
        }
    }
}

/// What ECS said about a stop.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StopEvidence {
    /// Task ARN.
    pub task_arn: String,
    /// `detail.stopCode`, verbatim.
    pub stop_code: Option<String>,
    /// `detail.stoppedReason`, verbatim.
    pub stopped_reason: Option<String>,
    /// Per container: name, exit code, reason.
    pub containers: Vec<ContainerExit>,
    /// Seconds from `startedAt` to `stoppedAt`; `None` when the task never started.
    pub runtime_secs: Option<i64>,
    /// When it stopped (epoch seconds).
    pub stopped_at: Option<i64>,
}

/// How one container ended.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerExit {
    /// Container name.
    pub name: String,
    /// Process exit code, when the container ran.
    pub exit_code: Option<i64>,
    /// ECS's container reason (e.g. `OutOfMemoryError: ...`).
    pub reason: Option<String>,
}

/// Whether the gateway's container exited [`START_REFUSED_EXIT_CODE`]. The gateway container
/// decides when the task has one by the template's name: the containers ECS stops with it exit
/// 143 or 137, whatever OpenClaw did. A task of another layout counts when any container exited
/// 78, a code no sidecar of a gateway has a reason to use.
fn refused_to_start(containers: &[ContainerExit]) -> bool {
    match containers.iter().find(|c| c.name == GATEWAY_CONTAINER) {
        Some(gateway) => gateway.exit_code == Some(START_REFUSED_EXIT_CODE),
        None => containers.iter().any(|c| c.exit_code == Some(START_REFUSED_EXIT_CODE)),
    }
}

/// Classifies a stop from its stop code, reason and container exits.
pub fn classify_stop(stop_code: Option<&str>, stopped_reason: Option<&str>, containers: &[ContainerExit]) -> StopCause {
    let reason = stopped_reason.unwrap_or_default().to_ascii_lowercase();
    let refused = refused_to_start(containers);
    let oom = reason.contains("outofmemory")
        || containers.iter().any(|c| {
            c.exit_code == Some(137)
                || c.reason
                    .as_deref()
                    .is_some_and(|r| r.to_ascii_lowercase().contains("outofmemory"))
        });
    match stop_code {
        Some("UserInitiated") => StopCause::UserInitiated,
        Some("ServiceSchedulerInitiated") => {
            // Same code for a deployment and for maintenance: the reason text tells them apart
            // (fixtures task-stopped-deployment.json vs task-stopped-maintenance.json).
            if reason.contains("maintenance") || reason.contains("retire") {
                StopCause::Maintenance
            } else if reason.contains("health check") {
                StopCause::Unhealthy
            } else if reason.contains("scaling activity") || reason.contains("deployment") {
                StopCause::Replaced
            } else {
                StopCause::Scheduler(stopped_reason.unwrap_or_default().to_owned())
            }
        }
        // Before the memory check: a sidecar killed after the gateway exited 78 shows 137.
        Some("EssentialContainerExited") | None if refused => StopCause::StartRefused,
        Some("EssentialContainerExited") | None if oom => StopCause::OutOfMemory,
        Some("EssentialContainerExited") => StopCause::Crashed,
        Some("TaskFailedToStart") => StopCause::FailedToStart,
        Some("SpotInterruption") => StopCause::SpotInterruption,
        Some("TerminationNotice") => StopCause::TerminationNotice,
        None if containers.iter().any(|c| c.exit_code.is_some()) => StopCause::Crashed,
        None => StopCause::Unknown(String::new()),
        Some(other) => StopCause::Unknown(other.to_owned()),
    }
}
