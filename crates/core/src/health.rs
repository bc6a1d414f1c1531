//! The reconciler's eyes: what ECS runs (with the task's private IP), the gateway's HTTP probes, the
//! gateway token, and the age of the newest snapshot, turned into one [`Observation`] per gateway
//! for the pure policy.
//!
//! ECS and the token come through the core's ports ([`EcsRead`], [`TokenSource`]); the probe
//! client itself lives in `clawkeeper-openclaw`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::aws_error::AwsError;
use crate::ecs::Missing;
use crate::gateway::{Gateway, GatewayTarget};
use crate::ports::{EcsRead, TokenSource};
use crate::watch::health::ProbeMode;
use crate::watch::{EcsObservation, GatewayState, ProbeReport};

/// OpenClaw's gateway port: probes go to the task's private IP on it when no `probe_url` is set
/// and the reconciler runs in the gateway's VPC.
pub const GATEWAY_PORT: u16 = 18789;

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
    pub fn value(&self) -> &str {
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

/// Gateway tokens read from their secret at most once per `ttl` in a warm process (a minute's
/// passes over many gateways would otherwise read every secret every minute), and forgotten at
/// once when a gateway rejects one, so a rotated secret is picked up by the next pass.
pub struct TokenCache {
    ttl: Duration,
    tokens: Mutex<HashMap<String, (Instant, GatewayToken)>>,
}

impl TokenCache {
    /// An empty cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The token of `gateway` from `secret_arn`: cached when fresh, else read through `source`.
    pub async fn get<T: TokenSource + Sync>(
        &self,
        source: &T,
        gateway: &str,
        secret_arn: &str,
    ) -> Result<GatewayToken, AwsError> {
        let cached = self
            .tokens
            .lock()
            .ok()
            .and_then(|tokens| tokens.get(gateway).cloned())
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, token)| token);
        if let Some(token) = cached {
            return Ok(token);
        }
        let token = source.token(secret_arn).await?;
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(gateway.to_string(), (Instant::now(), token.clone()));
        }
        Ok(token)
    }

    /// Drops the cached token of `gateway` (it was rejected).
    pub fn forget(&self, gateway: &str) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.remove(gateway);
        }
    }
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
    E: EcsRead + Sync,
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
    let tasks = ecs.tasks(&gateway.cluster, &gateway.tasks(), "RUNNING").await?;
    let mut starting = 0;
    for task in tasks {
        if task.status() == "RUNNING" {
            view.running.push(task.observed());
        } else {
            starting += 1;
        }
    }
    // Tasks meant to run that are not RUNNING yet: what the service's `pendingCount` says, read
    // from the tasks themselves (the count lags behind them, and moto fakes it as desired - running).
    view.pending = starting;
    if let Some(running) = &state.running
        && !view.running.iter().any(|t| t.task_arn == running.task_arn)
        && let Some(task) = ecs.task(&gateway.cluster, &running.task_arn).await?
        && task.status() == "STOPPED"
    {
        view.stopped.push(task.observed());
    }
    Ok(Some(view))
}

/// How many of the gateway's tasks ECS reports RUNNING: its service's running count, or its
/// family's tasks whose last status is RUNNING. `Ok(None)` when ECS does not know the service.
pub async fn running_tasks<E: EcsRead + Sync>(ecs: &E, gateway: &Gateway) -> Result<Option<usize>, AwsError> {
    match &gateway.target {
        GatewayTarget::Service(service) => Ok(ecs
            .describe_service(&gateway.cluster, service)
            .await?
            .ok()
            .map(|view| usize::try_from(view.running).unwrap_or(0))),
        GatewayTarget::Standalone { .. } => Ok(Some(
            ecs.tasks(&gateway.cluster, &gateway.tasks(), "RUNNING")
                .await?
                .iter()
                .filter(|t| t.status() == "RUNNING")
                .count(),
        )),
    }
}

/// Why there is no task-IP probe outside the VPC, in the words `status` shows.
pub const OUTSIDE_VPC: &str = "the reconciler runs outside the VPC and cannot reach the task's private IP; set \
                               ProbeInVpc=true or a probe_url";

/// What the reconciler probes in this pass, or why nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbePlan {
    /// `GET <base>/healthz` (and `/readyz`).
    Probe {
        /// `probe_url` or `task_ip`.
        mode: ProbeMode,
        /// `https://gw.example.com`, `http://10.0.1.23:18789`.
        base: String,
    },
    /// Nothing to probe: the report to hand the policy as it is.
    Skip(ProbeReport),
}

/// The probe of one gateway: its `probe_url` wherever the reconciler runs; else the single RUNNING
/// task's private IP on port 18789, but only when `task_ip_reachable` (the reconciler runs in the
/// gateway's VPC: `CLAWKEEPER_PROBE_TASK_IP=true`). Outside the VPC a private IP cannot be reached:
/// each attempt would only time out, so none is made and the report says the probe is unavailable.
pub fn probe_plan(gateway: &Gateway, ecs: Option<&EcsObservation>, task_ip_reachable: bool) -> ProbePlan {
    if let Some(url) = &gateway.probe_url {
        return ProbePlan::Probe {
            mode: ProbeMode::ProbeUrl,
            base: url.trim_end_matches('/').to_string(),
        };
    }
    if !task_ip_reachable {
        return ProbePlan::Skip(ProbeReport::skipped(ProbeMode::Unavailable, OUTSIDE_VPC));
    }
    let skip = |why: &str| ProbePlan::Skip(ProbeReport::skipped(ProbeMode::TaskIp, why));
    let Some(ecs) = ecs else {
        return skip("ECS could not be read: no task IP to probe in this pass");
    };
    // Two tasks: probing one says nothing about "the" gateway; the single-writer rule speaks instead.
    match ecs.running.as_slice() {
        [] => skip("no RUNNING task to probe"),
        [task] => match &task.private_ip {
            Some(ip) => ProbePlan::Probe {
                mode: ProbeMode::TaskIp,
                base: format!("http://{ip}:{GATEWAY_PORT}"),
            },
            None => skip("the RUNNING task has no private IP (not an awsvpc task?)"),
        },
        _ => skip("more than one RUNNING task: none is probed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::ObservedTask;

    fn gateway(probe_url: Option<&str>) -> Gateway {
        Gateway {
            probe_url: probe_url.map(str::to_owned),
            ..crate::watch::plan::fixtures::gateway(
                "home",
                "openclaw",
                GatewayTarget::Service("openclaw-gateway".into()),
            )
        }
    }

    fn running(ips: &[Option<&str>]) -> EcsObservation {
        EcsObservation {
            running: ips
                .iter()
                .enumerate()
                .map(|(i, ip)| ObservedTask {
                    task_arn: format!("arn:aws:ecs:us-east-1:123456789012:task/openclaw/t{i}"),
                    private_ip: ip.map(str::to_owned),
                    ..ObservedTask::default()
                })
                .collect(),
            ..EcsObservation::default()
        }
    }

    fn skipped(plan: ProbePlan) -> ProbeReport {
        match plan {
            ProbePlan::Skip(report) => report,
            other => panic!("expected no probe, got {other:?}"),
        }
    }

    #[test]
    fn outside_the_vpc_a_task_ip_is_never_probed() {
        let one = running(&[Some("10.0.1.23")]);
        let report = skipped(probe_plan(&gateway(None), Some(&one), false));
        assert_eq!(report.mode, ProbeMode::Unavailable);
        assert_eq!(report.outcome, None);
        let why = report.detail.unwrap_or_default();
        assert!(
            why.contains("outside the VPC") && why.contains("ProbeInVpc=true"),
            "{why}"
        );
    }

    #[test]
    fn a_probe_url_is_probed_in_or_outside_the_vpc() {
        for in_vpc in [false, true] {
            assert_eq!(
                probe_plan(&gateway(Some("https://gw.example.com/")), None, in_vpc),
                ProbePlan::Probe {
                    mode: ProbeMode::ProbeUrl,
                    base: "https://gw.example.com".into()
                }
            );
        }
    }

    #[test]
    fn in_the_vpc_only_a_single_running_task_with_an_ip_is_probed() {
        let gw = gateway(None);
        assert_eq!(
            probe_plan(&gw, Some(&running(&[Some("10.0.1.23")])), true),
            ProbePlan::Probe {
                mode: ProbeMode::TaskIp,
                base: "http://10.0.1.23:18789".into()
            }
        );
        for (ecs, fragment) in [
            (None, "ECS could not be read"),
            (Some(running(&[])), "no RUNNING task"),
            (Some(running(&[None])), "no private IP"),
            (Some(running(&[Some("10.0.1.23"), Some("10.0.1.24")])), "more than one"),
        ] {
            let report = skipped(probe_plan(&gw, ecs.as_ref(), true));
            assert_eq!(report.mode, ProbeMode::TaskIp);
            assert!(
                report.detail.as_deref().is_some_and(|d| d.contains(fragment)),
                "{report:?}"
            );
        }
    }
}
