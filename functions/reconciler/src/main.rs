//! `reconciler`: the every-minute, level-triggered pass over every configured gateway.
//!
//! For each gateway, concurrently (bounded): read ECS (service counts, deployment limits, RUNNING
//! tasks with their IPs, the task the state thinks runs if ECS no longer lists it), probe the
//! gateway (`probe_url`; else the task's private IP on port 18789, only when this function runs in
//! the gateway's VPC: `CLAWKEEPER_PROBE_TASK_IP=true`), check the age of the newest snapshot, and
//! run it all through the watchdog policy as one [`Input::Observed`], which also runs the
//! time-driven rules (due "down" notices, backoff resumes, reminders, channel grace).
//!
//! A probe that cannot be made (outside the VPC) or that never reaches the gateway is reported as
//! such, never as a failure: the policy stops a hung task only on answers it actually got.
//!
//! It prints CloudWatch embedded-metric lines (namespace `Clawkeeper`): `ReconcilerHeartbeat` for the
//! dead-man's-switch alarm, and per gateway `GatewayUp`, `GatewayReady`, `IncidentOpen`,
//! `SnapshotStale`. One gateway's failure does not stop the others; the invocation then fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clawkeeper_shared::aws::dynamodb::DynamoStore;
use clawkeeper_shared::aws::ecs::EcsClient;
use clawkeeper_shared::aws::invoke::SnapshotInvoker;
use clawkeeper_shared::aws::load_sdk_config;
use clawkeeper_shared::aws::s3::S3Store;
use clawkeeper_shared::aws::secrets::SecretsClient;
use clawkeeper_shared::aws::sns::SnsNotifier;
use clawkeeper_shared::engine::{self, Ports};
use clawkeeper_shared::health::probe::Prober;
use clawkeeper_shared::health::{GatewayToken, ProbePlan, TokenSource, observe_ecs, probe_plan};
use clawkeeper_shared::lambda::{init_tracing, load_config};
use clawkeeper_shared::snapshot::ObjectStore;
use clawkeeper_shared::snapshot::layout::{parse_snapshot_key, snapshots_prefix};
use clawkeeper_shared::snapshot::status::{failure_notice, read_failure};
use clawkeeper_shared::store::StateStore;
use clawkeeper_shared::watch::health::{ProbeOutcome, SnapshotFailure, snapshot_is_stale};
use clawkeeper_shared::watch::{GatewayState, Input, Observation, ProbeReport, SnapshotCheck, plan};
use clawkeeper_shared::{Config, FunctionError, Gateway};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Connecting to a gateway is bounded by this, and so is its answer once connected.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Gateways handled at once: probes wait on the network, not the CPU.
const CONCURRENCY: usize = 32;
/// A token is read from Secrets Manager at most this often per warm process.
const TOKEN_TTL: Duration = Duration::from_secs(300);

struct App {
    config: Config,
    store: DynamoStore,
    notifier: SnsNotifier,
    ecs: EcsClient,
    snapshots: SnapshotInvoker,
    objects: S3Store,
    secrets: SecretsClient,
    prober: Prober,
    tokens: Mutex<HashMap<String, (Instant, GatewayToken)>>,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = load_config("reconciler")?;
    let sdk = load_sdk_config().await;
    let prober = Prober::new(PROBE_TIMEOUT)?;
    let app = App {
        store: DynamoStore::new(&sdk, config.table.clone()),
        notifier: SnsNotifier::new(&sdk, config.topic_arn.clone()),
        ecs: EcsClient::new(&sdk),
        snapshots: SnapshotInvoker::new(&sdk, config.snapshot_function.clone()),
        objects: S3Store::new(&sdk, config.bucket.clone()),
        secrets: SecretsClient::new(&sdk),
        prober,
        tokens: Mutex::new(HashMap::new()),
        config,
    };
    // Lives as long as the process: gateway passes run as tasks that borrow it.
    let app: &'static App = Box::leak(Box::new(app));
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| reconcile_all(app))).await
}

/// What one gateway's pass found, for the answer and the metrics.
struct Report {
    gateway: String,
    phase: String,
    executed: Vec<String>,
    up: Option<bool>,
    ready: Option<bool>,
    probe: Value,
    incident_open: bool,
    snapshot_stale: bool,
    probe_ms: Option<u128>,
    millis: u128,
    problems: Vec<String>,
}

async fn reconcile_all(app: &'static App) -> Result<Value, FunctionError> {
    let now = now_secs();
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (index, gateway) in app.config.gateways.iter().enumerate() {
        let limit = Arc::clone(&limit);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            (index, reconcile(app, gateway, now).await)
        });
    }
    let mut results: Vec<(usize, Result<Report, String>)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(result) => results.push(result),
            Err(e) => results.push((usize::MAX, Err(format!("a gateway pass panicked: {e}")))),
        }
    }
    results.sort_by_key(|(i, _)| *i);
    let mut answer = Vec::new();
    let mut failures = Vec::new();
    for (_, result) in results {
        match result {
            Ok(report) => {
                emit_gateway_metrics(&report);
                if !report.problems.is_empty() {
                    failures.push(format!("{}: {}", report.gateway, report.problems.join("; ")));
                }
                answer.push(json!({
                    "gateway": report.gateway,
                    "phase": report.phase,
                    "executed": report.executed,
                    "up": report.up,
                    "ready": report.ready,
                    "probe": report.probe,
                    "incident_open": report.incident_open,
                    "snapshot_stale": report.snapshot_stale,
                    "probe_ms": report.probe_ms,
                    "ms": report.millis,
                    "problems": report.problems,
                }));
            }
            Err(e) => failures.push(e),
        }
    }
    // The heartbeat says the reconciler ran, whatever it found: the dead-man's switch watches it.
    emit_metric_line(&[], &[("ReconcilerHeartbeat", 1.0, "Count")]);
    if !failures.is_empty() {
        tracing::error!(failed = failures.len(), "reconciler pass finished with failures");
        return Err(FunctionError::new("ReconcileFailed", failures.join(" | ")));
    }
    Ok(json!({ "gateways": answer }))
}

async fn reconcile(app: &App, gateway: &Gateway, now: i64) -> Result<Report, String> {
    let started = Instant::now();
    let mut problems = Vec::new();
    let state = app
        .store
        .load::<GatewayState>(&gateway.id)
        .await
        .map_err(|e| format!("{}: state store: {e}", gateway.id))?
        .map(|v| v.state)
        .unwrap_or_default();

    let ecs = match observe_ecs(&app.ecs, gateway, &state).await {
        Ok(view) => view,
        Err(e) => {
            tracing::error!(gateway = %gateway.id, error = %e, "ECS not readable; probing anyway");
            problems.push(format!("ECS: {e}"));
            None
        }
    };

    let (probe, probe_elapsed) = match probe_plan(gateway, ecs.as_ref(), app.config.probe_task_ip) {
        ProbePlan::Probe { mode, base } => {
            let token = usable_token(app, gateway, &state).await;
            let probed = app.prober.probe(&base, token.as_ref()).await;
            tracing::info!(
                gateway = %gateway.id, mode = mode.as_str(), outcome = probed.outcome.as_str(), ready = probed.ready,
                failing = probed.failing.len(), ms = probed.elapsed.as_millis() as u64,
                detail = probed.detail.as_deref().unwrap_or(""), "probed"
            );
            if probed.token_rejected {
                tracing::warn!(gateway = %gateway.id, "the gateway rejected the token (401): not sending it again");
                forget_token(app, gateway);
            }
            let report = ProbeReport {
                mode,
                outcome: Some(probed.outcome),
                detail: probed.detail,
                ready: probed.ready,
                failing: probed.failing,
                token_rejected: token.filter(|_| probed.token_rejected).map(|t| t.version),
            };
            (report, Some(probed.elapsed))
        }
        ProbePlan::Skip(report) => {
            tracing::info!(
                gateway = %gateway.id, mode = report.mode.as_str(),
                reason = report.detail.as_deref().unwrap_or(""), "not probed"
            );
            (report, None)
        }
    };
    let probed_summary = (probe.mode, probe.outcome, probe.detail.clone());

    let snapshot = newest_snapshot(app, gateway).await;
    let snapshot_failure = snapshot_failure(app, gateway).await;
    let probe_ms = probe_elapsed.map(|elapsed| elapsed.as_millis());
    let observation = Observation {
        ecs,
        probe: Some(probe),
        snapshot,
        snapshot_failure,
    };
    // The probe's word where it has one; ECS's when the probe could not see the gateway.
    let up = match (probed_summary.1, &observation.ecs) {
        (Some(ProbeOutcome::Live), _) => Some(true),
        (Some(ProbeOutcome::Failed), _) => Some(false),
        (Some(ProbeOutcome::Unreachable) | None, Some(e)) => Some(!e.running.is_empty()),
        (Some(ProbeOutcome::Unreachable) | None, None) => None,
    };
    let ready = observation.probe.as_ref().and_then(|p| p.ready);
    let input = Input::Observed(observation);
    // The same pure plan the engine runs, for the gauges (no extra read).
    let expected = plan(&state, &input, now, &app.config.policy, gateway).state;
    let (mode, outcome, detail) = probed_summary;
    let probe_view = json!({
        "mode": mode.as_str(),
        "outcome": outcome.map(ProbeOutcome::as_str),
        "detail": detail,
        // The hung streak after this pass: unknown probes leave it as it was.
        "failures": expected.health.probe_failures,
    });
    let snapshot_stale = snapshot_is_stale(
        snapshot,
        expected.health.watching_since,
        now,
        app.config.policy.snapshot_interval_secs,
    );

    let ports = Ports {
        store: &app.store,
        notifier: &app.notifier,
        ecs: &app.ecs,
        snapshots: &app.snapshots,
    };
    let (phase, executed, incident_open) =
        match engine::handle(&ports, gateway, &app.config.policy, &input, None, now).await {
            Ok(outcome) => (outcome.phase, outcome.executed, expected.incident.is_some()),
            Err(e) => {
                tracing::error!(gateway = %gateway.id, error = %e, "policy pass failed");
                problems.push(e.to_string());
                (
                    expected.phase.as_str().to_string(),
                    Vec::new(),
                    expected.incident.is_some(),
                )
            }
        };
    let millis = started.elapsed().as_millis();
    tracing::info!(gateway = %gateway.id, phase = %phase, executed = executed.len(), ms = millis as u64, "reconciled");
    Ok(Report {
        gateway: gateway.id.clone(),
        phase,
        executed,
        up,
        ready,
        probe: probe_view,
        incident_open,
        snapshot_stale,
        probe_ms,
        millis,
        problems,
    })
}

/// The gateway token, unless none is configured, it cannot be read, or the gateway rejected this
/// very version before (a rejected token is never sent again; a new secret version is tried once).
async fn usable_token(app: &App, gateway: &Gateway, state: &GatewayState) -> Option<GatewayToken> {
    let arn = gateway.token_secret_arn.as_deref()?;
    let cached = app
        .tokens
        .lock()
        .ok()
        .and_then(|tokens| tokens.get(&gateway.id).cloned())
        .filter(|(at, _)| at.elapsed() < TOKEN_TTL)
        .map(|(_, token)| token);
    let token = match cached {
        Some(token) => token,
        None => match app.secrets.token(arn).await {
            Ok(token) => {
                if let Ok(mut tokens) = app.tokens.lock() {
                    tokens.insert(gateway.id.clone(), (Instant::now(), token.clone()));
                }
                token
            }
            Err(e) => {
                tracing::warn!(gateway = %gateway.id, error = %e, "gateway token not readable; probing without it");
                return None;
            }
        },
    };
    if state.health.rejected_token_version.as_deref() == Some(token.version.as_str()) {
        tracing::debug!(gateway = %gateway.id, version = %token.version, "token version was rejected before; not sent");
        return None;
    }
    Some(token)
}

fn forget_token(app: &App, gateway: &Gateway) {
    if let Ok(mut tokens) = app.tokens.lock() {
        tokens.remove(&gateway.id);
    }
}

/// The snapshot function's record of failed runs, as a notice (`None` when the last run succeeded).
async fn snapshot_failure(app: &App, gateway: &Gateway) -> Option<SnapshotFailure> {
    if app.config.policy.snapshot_interval_secs == 0 {
        return None;
    }
    match read_failure(&app.objects, &gateway.id).await {
        Ok(record) => record.map(|record| {
            let (key, notice) = failure_notice(&record);
            SnapshotFailure { key, notice }
        }),
        Err(e) => {
            tracing::warn!(gateway = %gateway.id, error = %e, "snapshot failure record unreadable; not checked");
            None
        }
    }
}

/// The newest snapshot's time, from the sidecar keys under `<gateway>/snapshots/` (a snapshot exists
/// only when its sidecar does).
async fn newest_snapshot(app: &App, gateway: &Gateway) -> SnapshotCheck {
    if app.config.policy.snapshot_interval_secs == 0 {
        return SnapshotCheck::NotChecked;
    }
    match app.objects.list(&snapshots_prefix(&gateway.id)).await {
        Ok(objects) => objects
            .iter()
            .filter(|o| o.key.ends_with(".json"))
            .filter_map(|o| parse_snapshot_key(&o.key))
            .map(|name| name.taken_at_millis.div_euclid(1000))
            .max()
            .map_or(SnapshotCheck::NoneFound, SnapshotCheck::NewestAt),
        Err(e) => {
            tracing::warn!(gateway = %gateway.id, error = %e, "snapshot listing failed; freshness not checked");
            SnapshotCheck::NotChecked
        }
    }
}

fn emit_gateway_metrics(report: &Report) {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let mut metrics = vec![
        ("IncidentOpen", flag(report.incident_open), "Count"),
        ("SnapshotStale", flag(report.snapshot_stale), "Count"),
    ];
    if let Some(up) = report.up {
        metrics.push(("GatewayUp", flag(up), "Count"));
    }
    if let Some(ready) = report.ready {
        metrics.push(("GatewayReady", flag(ready), "Count"));
    }
    emit_metric_line(&[("Gateway", report.gateway.as_str())], &metrics);
}

/// One CloudWatch embedded-metric-format line on stdout: CloudWatch Logs turns it into metrics,
/// with no API call from the function.
fn emit_metric_line(dimensions: &[(&str, &str)], metrics: &[(&str, f64, &str)]) {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _, unit)| json!({ "Name": name, "Unit": unit }))
        .collect();
    let mut line = json!({
        "_aws": {
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": "Clawkeeper",
                "Dimensions": [names],
                "Metrics": definitions,
            }],
        },
    });
    if let Some(obj) = line.as_object_mut() {
        for (name, value) in dimensions {
            obj.insert((*name).to_string(), json!(value));
        }
        for (name, value, _) in metrics {
            obj.insert((*name).to_string(), json!(value));
        }
    }
    println!("{line}");
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
