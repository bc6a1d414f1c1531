//! The reconciler's eyes: what ECS runs (with the task's private IP), the gateway's HTTP probes, the
//! gateway token, and the age of the newest snapshot, turned into one [`Observation`] per gateway
//! for the pure policy.
//!
//! Capabilities are small traits ([`TaskObserver`], [`TokenSource`]) with SDK adapters in
//! [`crate::aws`]; the probe client ([`probe::Prober`]) speaks HTTP itself, on the hyper stack the
//! SDK already builds on.

pub mod probe;

use std::future::Future;

use crate::aws_error::AwsError;
use crate::ecs::{Ecs, Missing};
use crate::gateway::{Gateway, GatewayTarget};
use crate::watch::{EcsObservation, GatewayState, ObservedTask};

/// OpenClaw's gateway port: probes go to the task's private IP on it when no `probe_url` is set.
pub const GATEWAY_PORT: u16 = 18789;

/// Task reads with what the reconciler needs beyond [`crate::ecs::TaskView`].
pub trait TaskObserver {
    /// Tasks of `group` (`service:<name>` or `family:<name>`) with the desired status, each with its
    /// last status.
    fn tasks_of_group(
        &self,
        cluster: &str,
        group: &str,
        desired_status: &str,
    ) -> impl Future<Output = Result<Vec<(String, ObservedTask)>, AwsError>> + Send;

    /// One task with its last status; `None` when ECS does not know it (any more).
    fn task(
        &self,
        cluster: &str,
        task_arn: &str,
    ) -> impl Future<Output = Result<Option<(String, ObservedTask)>, AwsError>> + Send;
}

/// The gateway token and the secret version it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayToken {
    value: String,
    /// Secrets Manager version id: what a rejection is recorded under.
    pub version: String,
}

impl GatewayToken {
    /// A token read from a secret version.
    pub fn new(value: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            value: value.into().trim().to_string(),
            version: version.into(),
        }
    }

    /// The secret itself, for the `Authorization` header only.
    pub(crate) fn value(&self) -> &str {
        &self.value
    }
}

impl std::fmt::Debug for GatewayToken {
    // Never print the token, even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayToken")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Where the gateway token comes from.
pub trait TokenSource {
    /// Reads the current token from the secret.
    fn token(&self, secret_arn: &str) -> impl Future<Output = Result<GatewayToken, AwsError>> + Send;
}

/// Reads ECS's view of a gateway: desired and pending counts and deployment limits of its service,
/// its RUNNING tasks with their IPs, and the task the state believes runs when ECS no longer lists
/// it as RUNNING (to tell a missed stop). `Ok(None)` when the service does not exist.
pub async fn observe_ecs<E>(
    ecs: &E,
    gateway: &Gateway,
    state: &GatewayState,
) -> Result<Option<EcsObservation>, AwsError>
where
    E: Ecs + TaskObserver + Sync,
{
    let mut view = EcsObservation::default();
    if let GatewayTarget::Service(service) = &gateway.target {
        match ecs.describe_service(&gateway.cluster, service).await? {
            Ok(service) => {
                view.desired = Some(service.desired);
                view.limits = service.deployment_configuration;
            }
            Err(Missing { reason }) => {
                tracing::warn!(gateway = %gateway.id, reason = %reason, "service not found in ECS");
                return Ok(None);
            }
        }
    }
    let tasks = ecs
        .tasks_of_group(&gateway.cluster, &gateway.task_group(), "RUNNING")
        .await?;
    let mut starting = 0;
    for (status, task) in tasks {
        if status == "RUNNING" {
            view.running.push(task);
        } else {
            starting += 1;
        }
    }
    // Tasks meant to run that are not RUNNING yet: what the service's `pendingCount` says, read
    // from the tasks themselves (the count lags behind them, and moto fakes it as desired - running).
    view.pending = starting;
    if let Some(running) = &state.running
        && !view.running.iter().any(|t| t.task_arn == running.task_arn)
        && let Some((status, task)) = ecs.task(&gateway.cluster, &running.task_arn).await?
        && status == "STOPPED"
    {
        view.stopped.push(task);
    }
    Ok(Some(view))
}

/// The base URL to probe: `probe_url`, else the single RUNNING task's private IP on port 18789.
pub fn probe_target(gateway: &Gateway, ecs: Option<&EcsObservation>) -> Option<String> {
    if let Some(url) = &gateway.probe_url {
        return Some(url.trim_end_matches('/').to_string());
    }
    let running = &ecs?.running;
    // Two tasks: probing one says nothing about "the" gateway; the single-writer rule speaks instead.
    match running.as_slice() {
        [task] => task.private_ip.as_ref().map(|ip| format!("http://{ip}:{GATEWAY_PORT}")),
        _ => None,
    }
}
