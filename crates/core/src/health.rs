//! The reconciler's eyes: what ECS runs (with the task's private IP) and the gateway's HTTP probes
//! with its token, for the [`Observation`] of each gateway the pure policy reads.
//!
//! ECS and the token come through the core's ports ([`EcsRead`], [`TokenSource`]); the probe
//! client itself lives in `clawkeeper-openclaw`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::aws_error::AwsError;
use crate::ecs::{DESCRIBE_SERVICES_MAX, Missing, ServiceView, TaskView};
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

/// ECS's view of a whole fleet in few calls: per cluster, its gateways' services described
/// [`DESCRIBE_SERVICES_MAX`] at a time, and one listing of the cluster's RUNNING tasks (ECS
/// describes them 100 at a time) split among the gateways by [`TaskGroup::holds`]. Each gateway
/// gets the desired count and deployment limits of its service and its RUNNING and starting
/// tasks (with their IPs); `Ok(None)` when its service does not exist. A call that fails is the
/// error of the gateways it was for only: one broken cluster or batch leaves the others seen.
/// The stop the state may have missed is [`add_missed_stop`]'s, per gateway.
pub async fn observe_fleet_ecs<E>(ecs: &E, gateways: &[Gateway]) -> HashMap<String, EcsAnswer>
where
    E: EcsRead + Sync,
{
    let mut by_cluster: BTreeMap<&str, Vec<&Gateway>> = BTreeMap::new();
    for gateway in gateways {
        by_cluster.entry(gateway.cluster.as_str()).or_default().push(gateway);
    }
    let mut answers = HashMap::with_capacity(gateways.len());
    for (cluster, members) in by_cluster {
        let services = describe_services(ecs, cluster, &members).await;
        let mut listed = Vec::with_capacity(members.len());
        for gateway in members {
            let mut view = EcsObservation::default();
            if let GatewayTarget::Service(service) = &gateway.target {
                // Every name was answered; the fallback only keeps a gateway unseen, never gone.
                match services
                    .get(service.as_str())
                    .cloned()
                    .unwrap_or_else(|| Err(no_answer(service)))
                {
                    Ok(Ok(found)) => {
                        view.desired = Some(found.desired);
                        view.limits = found.deployment_configuration;
                    }
                    Ok(Err(Missing { reason })) => {
                        tracing::warn!(gateway = %gateway.id, reason = %reason, "service not found in ECS");
                        answers.insert(gateway.id.clone(), Ok(None));
                        continue;
                    }
                    Err(e) => {
                        answers.insert(gateway.id.clone(), Err(e));
                        continue;
                    }
                }
            }
            listed.push((gateway, view));
        }
        if listed.is_empty() {
            continue;
        }
        match ecs.cluster_tasks(cluster, "RUNNING").await {
            Ok(tasks) => {
                for (gateway, mut view) in listed {
                    let group = gateway.tasks();
                    fold_tasks(&mut view, tasks.iter().filter(|t| group.holds(t)));
                    answers.insert(gateway.id.clone(), Ok(Some(view)));
                }
            }
            Err(e) => {
                for (gateway, _) in listed {
                    answers.insert(gateway.id.clone(), Err(e.clone()));
                }
            }
        }
    }
    answers
}

/// One gateway's answer from [`observe_fleet_ecs`].
pub type EcsAnswer = Result<Option<EcsObservation>, AwsError>;

/// Every service of `members` described, [`DESCRIBE_SERVICES_MAX`] names a call; a failed call
/// is the answer of each of its names.
async fn describe_services<E: EcsRead + Sync>(
    ecs: &E,
    cluster: &str,
    members: &[&Gateway],
) -> HashMap<String, Result<Result<ServiceView, Missing>, AwsError>> {
    let mut names: Vec<String> = members
        .iter()
        .filter_map(|g| match &g.target {
            GatewayTarget::Service(service) => Some(service.clone()),
            GatewayTarget::Standalone { .. } => None,
        })
        .collect();
    names.sort();
    names.dedup();
    let mut answers = HashMap::with_capacity(names.len());
    for batch in names.chunks(DESCRIBE_SERVICES_MAX) {
        match ecs.describe_services(cluster, batch).await {
            Ok(mut found) => {
                for name in batch {
                    let answer = found.remove(name).unwrap_or_else(|| {
                        Err(Missing {
                            reason: "MISSING".into(),
                        })
                    });
                    answers.insert(name.clone(), Ok(answer));
                }
            }
            Err(e) => {
                for name in batch {
                    answers.insert(name.clone(), Err(e.clone()));
                }
            }
        }
    }
    answers
}

fn no_answer(service: &str) -> AwsError {
    AwsError {
        service: "ecs",
        operation: "DescribeServices",
        code: None,
        retry: crate::aws_error::Retry::Transient,
        message: format!("no answer about service {service}"),
    }
}

/// The gateway's RUNNING tasks and, as pending, those meant to run that are not RUNNING yet:
/// what the service's `pendingCount` says, read from the tasks themselves (the count lags behind
/// them, and moto fakes it as desired - running).
fn fold_tasks<'t>(view: &mut EcsObservation, tasks: impl Iterator<Item = &'t TaskView>) {
    for task in tasks {
        if task.status() == "RUNNING" {
            view.running.push(task.observed());
        } else {
            view.pending += 1;
        }
    }
}

/// Adds to `view` the task the state believes runs when ECS no longer lists it as RUNNING and
/// describes it STOPPED: a stop whose event was missed. One call, and only then.
pub async fn add_missed_stop<E>(
    ecs: &E,
    gateway: &Gateway,
    state: &GatewayState,
    view: &mut EcsObservation,
) -> Result<(), AwsError>
where
    E: EcsRead + Sync,
{
    if let Some(running) = &state.running
        && !view.running.iter().any(|t| t.task_arn == running.task_arn)
        && let Some(task) = ecs.task(&gateway.cluster, &running.task_arn).await?
        && task.status() == "STOPPED"
    {
        view.stopped.push(task.observed());
    }
    Ok(())
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

    fn service(name: &str, desired: i32) -> ServiceView {
        ServiceView {
            name: name.into(),
            status: "ACTIVE".into(),
            desired,
            running: desired,
            pending: 0,
            task_definition: None,
            deployment_configuration: None,
            deployments: Vec::new(),
        }
    }

    fn task_of(arn: &str, group: Option<&str>, task_definition: &str, status: &str) -> TaskView {
        TaskView {
            arn: arn.into(),
            last_status: Some(status.into()),
            desired_status: Some("RUNNING".into()),
            task_definition: Some(task_definition.into()),
            group: group.map(str::to_string),
            started_at: None,
            stopped_reason: None,
            stop_code: None,
            stopped_at: None,
            private_ip: Some("10.0.1.23".into()),
            subnet_id: None,
        }
    }

    fn throttled() -> AwsError {
        AwsError {
            service: "ecs",
            operation: "DescribeServices",
            code: Some("ThrottlingException".into()),
            retry: crate::aws_error::Retry::Transient,
            message: "slow down".into(),
        }
    }

    fn fleet_gateway(id: &str, cluster: &str, target: GatewayTarget) -> Gateway {
        crate::watch::plan::fixtures::gateway(id, cluster, target)
    }

    #[tokio::test]
    async fn a_fleet_is_read_in_batches_of_ten_services_and_one_listing_per_cluster() {
        let mut ecs = crate::fakes::FakeEcs::new();
        let mut gateways = Vec::new();
        for i in 0..23_u32 {
            let name = format!("gw-{i}");
            gateways.push(fleet_gateway(&name, "a", GatewayTarget::Service(name.clone())));
            if i != 7 {
                ecs = ecs.with_service(&name, Ok(service(&name, 1)));
            }
            if i.is_multiple_of(2) {
                ecs = ecs.with_task(task_of(
                    &format!("t{i}"),
                    Some(&format!("service:{name}")),
                    "openclaw:1",
                    "RUNNING",
                ));
            }
        }
        ecs = ecs
            .with_task(task_of("t-pending", Some("service:gw-1"), "openclaw:1", "PROVISIONING"))
            .with_task(task_of(
                "t-solo",
                None,
                "arn:aws:ecs:us-east-1:123456789012:task-definition/solo:4",
                "RUNNING",
            ));
        gateways.push(fleet_gateway(
            "solo",
            "a",
            GatewayTarget::Standalone { family: "solo".into() },
        ));
        let views = observe_fleet_ecs(&ecs, &gateways).await;
        assert_eq!(
            ecs.reads(),
            [
                "describe-services 10",
                "describe-services 10",
                "describe-services 3",
                "cluster-tasks"
            ]
        );
        assert_eq!(views.len(), 24);
        let view = |id: &str| views[id].as_ref().expect("read").clone();
        let gw0 = view("gw-0").expect("service exists");
        assert_eq!((gw0.desired, gw0.running.len(), gw0.pending), (Some(1), 1, 0));
        assert_eq!(gw0.running[0].task_arn, "t0");
        let gw1 = view("gw-1").expect("service exists");
        assert_eq!((gw1.running.len(), gw1.pending), (0, 1), "its task is starting");
        assert_eq!(view("gw-7"), None, "a missing service");
        assert_eq!(view("solo").expect("standalone").running[0].task_arn, "t-solo");
        assert!(views.values().flatten().flatten().all(|v| v.running.len() <= 1));
    }

    #[tokio::test]
    async fn a_failed_batch_or_listing_leaves_only_its_own_gateways_unseen() {
        let mut ecs = crate::fakes::FakeEcs::new().with_service("broken", Err(throttled()));
        let mut gateways = vec![fleet_gateway("broken", "a", GatewayTarget::Service("broken".into()))];
        for i in 0..12 {
            let name = format!("gw-{i:02}");
            ecs = ecs.with_service(&name, Ok(service(&name, 1)));
            gateways.push(fleet_gateway(&name, "a", GatewayTarget::Service(name.clone())));
        }
        let views = observe_fleet_ecs(&ecs, &gateways).await;
        // Names are batched in order: "broken" and the first nine share the failed call.
        let unseen: Vec<&String> = {
            let mut ids: Vec<&String> = views.iter().filter(|(_, v)| v.is_err()).map(|(id, _)| id).collect();
            ids.sort();
            ids
        };
        assert_eq!(unseen.len(), 10, "{unseen:?}");
        assert!(views["gw-11"].as_ref().is_ok_and(Option::is_some));

        let listing = crate::fakes::FakeEcs::new()
            .with_service("a1", Ok(service("a1", 1)))
            .failing_listings(throttled());
        let views = observe_fleet_ecs(
            &listing,
            &[fleet_gateway("a1", "a", GatewayTarget::Service("a1".into()))],
        )
        .await;
        assert!(views["a1"].is_err(), "no listing: unseen, never taken for stopped");
    }

    #[tokio::test]
    async fn a_missed_stop_is_described_only_when_the_believed_task_is_not_listed() {
        let gateway = fleet_gateway("home", "a", GatewayTarget::Service("home".into()));
        let mut stopped = task_of("t-old", Some("service:home"), "openclaw:1", "STOPPED");
        stopped.desired_status = Some("STOPPED".into());
        let ecs = crate::fakes::FakeEcs::new().with_task(stopped);
        let mut state = GatewayState::default();
        let believed = |arn: &str| crate::watch::state::RunningTask {
            task_arn: arn.into(),
            task_definition: None,
            started_at: None,
            seen_at: 0,
            network: None,
        };
        state.running = Some(believed("t-old"));
        let mut view = EcsObservation::default();
        add_missed_stop(&ecs, &gateway, &state, &mut view).await.expect("read");
        assert_eq!(view.stopped.len(), 1);

        let mut listed = running(&[Some("10.0.1.23")]);
        state.running = Some(believed(&listed.running[0].task_arn));
        add_missed_stop(&ecs, &gateway, &state, &mut listed)
            .await
            .expect("read");
        assert!(listed.stopped.is_empty());
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
