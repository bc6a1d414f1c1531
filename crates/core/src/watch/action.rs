//! What the policy asks the adapters to do. Actions live in the stored outbox
//! ([`super::GatewayState::pending`]) until confirmed done, so they serialize, and each carries an
//! idempotency key: a retried invocation finds the key and does not act twice.

use serde::{Deserialize, Serialize};

use super::notice::Notice;

/// One step to execute, with its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// Unique per (gateway, incident, step), e.g. `home/1795161792/backoff-2/resume`.
    pub key: String,
    /// What to do.
    pub kind: ActionKind,
}

/// The operations the core can ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ActionKind {
    /// Publish a notice to the owner's SNS topic (attributes `gateway`, `kind`, `severity`).
    Notify(Notice),
    /// `UpdateService` desired count: 0 pauses the gateway, 1 resumes it.
    SetDesiredCount {
        /// The new desired count.
        count: i32,
    },
    /// `UpdateService --force-new-deployment`.
    ForceNewDeployment,
    /// `StopTask` (the service, if any, replaces it).
    StopTask {
        /// Task to stop.
        task_arn: String,
        /// Reason recorded on the task (ECS keeps it as `stoppedReason`).
        reason: String,
    },
    /// `RunTask` for a standalone gateway, with the last task's definition and network.
    RunTask {
        /// Task definition ARN.
        task_definition: String,
        /// Subnets of the last task's ENI.
        subnets: Vec<String>,
        /// Security groups; ECS task events do not carry them, so the adapter fills them in
        /// (e.g. from the last task's ENI) when this is empty.
        security_groups: Vec<String>,
        /// Whether the ENI gets a public IP.
        assign_public_ip: bool,
    },
    /// Ask the snapshot function for a snapshot (`task-stopped`, `deployment-started`, ...).
    RequestSnapshot {
        /// Why: becomes the `<trigger>` part of the snapshot's name.
        trigger: String,
    },
    /// `channels.start` over the gateway's admin RPC: restarts one channel account and keeps its
    /// credentials. Only the reconciler reaches the RPC; what it answered is recorded for the
    /// policy ([`super::channel_runtime::ChannelRuntimes::record_start`]).
    StartChannel {
        /// `whatsapp`, `telegram`, ...
        channel: String,
        /// OpenClaw account id.
        account: String,
    },
}

impl ActionKind {
    /// Whether this starts the gateway again (what backoff limits to one per step).
    pub fn is_restart(&self) -> bool {
        matches!(
            self,
            Self::SetDesiredCount { count: 1.. } | Self::RunTask { .. } | Self::ForceNewDeployment
        )
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Notify(_) => "notify",
            Self::SetDesiredCount { .. } => "set_desired_count",
            Self::ForceNewDeployment => "force_new_deployment",
            Self::StopTask { .. } => "stop_task",
            Self::RunTask { .. } => "run_task",
            Self::RequestSnapshot { .. } => "request_snapshot",
            Self::StartChannel { .. } => "start_channel",
        }
    }
}
