//! One reconciler pass: every configured gateway, concurrently (bounded), observed and run through
//! the watchdog engine; the answer and the metrics say what each pass found.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clawkeeper_aws::Adapters;
use clawkeeper_aws::FunctionError;
use clawkeeper_aws::adapters::watching;
use clawkeeper_aws::metrics;
use clawkeeper_core::aws_error::{AwsError, Retry};
use clawkeeper_core::engine::{self, Moment};
use clawkeeper_core::health::{
    EcsAnswer, GatewayToken, ProbePlan, TokenCache, add_missed_stop, observe_fleet_ecs, probe_plan,
};
use clawkeeper_core::ports::StateStore;
use clawkeeper_core::ports::{SnapshotStatus, SnapshotStatusStore};
use clawkeeper_core::store::StoreError;
use clawkeeper_core::store::Versioned;
use clawkeeper_core::watch::channel_runtime::ChannelsCheck;
use clawkeeper_core::watch::health::{ProbeMode, ProbeOutcome, snapshot_is_stale};
use clawkeeper_core::watch::{EcsObservation, GatewayState, Input, Observation, ProbeReport, SnapshotCheck};
use clawkeeper_core::{Config, Gateway};
use clawkeeper_openclaw::admin_rpc::AdminRpc;
use clawkeeper_openclaw::probe::Prober;
use clawkeeper_snapshot::status::{FailureRecord, status_facts};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::channels::{self, PassAdmin, Target};

/// Connecting to a gateway is bounded by this, and so is its answer once connected.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The admin RPC's bound, to connect and again to answer: `channels.status` builds every
/// account's snapshot, slower than a probe.
pub const ADMIN_RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// Gateways handled at once: probes wait on the network, not the CPU.
const CONCURRENCY: usize = 64;
/// Probes and channel reads end this long before Lambda ends the invocation: what is left saves
/// the states, sends the notices and answers. A gateway not probed by then is unknown this run.
pub const AFTER_PROBES: Duration = Duration::from_secs(15);
/// A token is read from Secrets Manager at most this often per warm process.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);

/// What a warm process keeps between passes.
pub struct App {
    pub config: Config,
    pub adapters: Adapters,
    pub prober: Prober,
    /// The gateways' admin RPC (channel runtimes and restarts).
    pub admin: AdminRpc,
    pub tokens: TokenCache,
}

/// What one gateway's pass found, for the answer and the metrics.
struct Report {
    gateway: String,
    phase: String,
    executed: Vec<String>,
    up: Option<bool>,
    ready: Option<bool>,
    probe: Value,
    channels: Value,
    incident_open: bool,
    snapshot_stale: bool,
    snapshot_age_secs: Option<i64>,
    probe_ms: Option<u128>,
    millis: u128,
    problems: Vec<String>,
}

/// One run over the fleet at `at`, with `time_left` until Lambda ends the invocation.
pub async fn reconcile_all(app: &'static App, at: Moment, time_left: Duration) -> Result<Value, FunctionError> {
    let started = Instant::now();
    let probes_until = tokio::time::Instant::now() + time_left.saturating_sub(AFTER_PROBES);
    let mut failures = Vec::new();
    // An unreadable registry does not stop the watch: the fleet last read (or the seeds) is
    // reconciled, and the run fails so the errors alarm says so.
    let (config, fleet) = match app.adapters.watched_fresh(&app.config).await {
        Ok(watched) => watched,
        Err(e) => {
            tracing::error!(error = %e, "gateway registry unreadable; reconciling the fleet last known");
            failures.push(e.to_string());
            watching(&app.config, e.last_known)
        }
    };
    failures.extend(fleet.problems.iter().cloned());
    let config = Arc::new(config);
    // Every state in a few batched reads; a gateway whose state the batch could not give is
    // loaded by the engine itself.
    let ids: Vec<String> = config.gateways.iter().map(|g| g.id.clone()).collect();
    let mut states = match app.adapters.store.load_many::<GatewayState>(&ids).await {
        Ok(states) => Some(states),
        Err(e) => {
            tracing::warn!(error = %e, "batched state read failed; each gateway loads its own");
            None
        }
    };
    // ECS for the whole fleet in a few batched calls.
    let mut ecs_views = observe_fleet_ecs(&app.adapters.ecs, &config.gateways).await;
    let mut snapshots = snapshot_statuses(app, &ids).await;
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (index, gateway) in config.gateways.iter().enumerate() {
        let limit = Arc::clone(&limit);
        let config = Arc::clone(&config);
        let loaded = states.as_mut().map(|found| found.remove(&gateway.id));
        let ecs = ecs_views.remove(&gateway.id);
        let snapshot = snapshots.as_mut().map(|found| found.remove(&gateway.id));
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let gateway = &config.gateways[index];
            let seen = Seen { loaded, ecs, snapshot };
            (index, reconcile(app, &config, gateway, at, seen, probes_until).await)
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
    let mut totals = Totals::default();
    for (_, result) in results {
        match result {
            Ok(report) => {
                totals.add(&report);
                log_gateway(&report);
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
                    "channels": report.channels,
                    "incident_open": report.incident_open,
                    "snapshot_stale": report.snapshot_stale,
                    "probe_ms": report.probe_ms,
                    "ms": report.millis,
                    "problems": report.problems,
                }));
            }
            Err(e) => {
                totals.unknown += 1;
                failures.push(e);
            }
        }
    }
    totals.emit(config.gateways.len(), started.elapsed());
    if !failures.is_empty() {
        tracing::error!(failed = failures.len(), "reconciler pass finished with failures");
        return Err(FunctionError::new("ReconcileFailed", failures.join(" | ")));
    }
    Ok(json!({ "gateways": answer }))
}

/// The fleet's figures of one run: the stack-level gauges, whose number (and cost) does not grow
/// with the fleet; per-gateway figures go to the log line of each gateway instead.
#[derive(Debug, Default)]
struct Totals {
    up: u32,
    down: u32,
    unknown: u32,
    incidents: u32,
    stale: u32,
}

impl Totals {
    fn add(&mut self, report: &Report) {
        match report.up {
            Some(true) => self.up += 1,
            Some(false) => self.down += 1,
            None => self.unknown += 1,
        }
        self.incidents += u32::from(report.incident_open);
        self.stale += u32::from(report.snapshot_stale);
    }

    fn emit(&self, watched: usize, elapsed: Duration) {
        // The heartbeat says the reconciler ran, whatever it found: the dead-man's switch watches it.
        metrics::emit(
            &[],
            &[
                ("ReconcilerHeartbeat", 1.0, "Count"),
                ("GatewaysWatched", watched as f64, "Count"),
                ("GatewaysUp", f64::from(self.up), "Count"),
                ("GatewaysDown", f64::from(self.down), "Count"),
                ("GatewaysUnknown", f64::from(self.unknown), "Count"),
                ("IncidentsOpen", f64::from(self.incidents), "Count"),
                ("SnapshotsStale", f64::from(self.stale), "Count"),
                ("ReconcileMillis", elapsed.as_millis() as f64, "Milliseconds"),
            ],
        );
    }
}

/// One structured line per gateway and run (the dashboard's fleet table reads it).
fn log_gateway(report: &Report) {
    let word = |flag: Option<bool>| flag.map_or("unknown", |b| if b { "true" } else { "false" });
    let probe = report
        .probe
        .get("outcome")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("none");
    tracing::info!(
        gateway = %report.gateway,
        phase = %report.phase,
        up = word(report.up),
        ready = word(report.ready),
        incident_open = report.incident_open,
        snapshot_stale = report.snapshot_stale,
        snapshot_age_secs = report.snapshot_age_secs,
        probe,
        "fleet gateway"
    );
}

/// What the run's batched reads already saw of one gateway: its stored state (`None` when the
/// batch failed and the gateway reads its own) and ECS's answer (`None`: no answer, unseen).
struct Seen {
    loaded: Option<Option<Versioned<GatewayState>>>,
    ecs: Option<EcsAnswer>,
    /// `None`: not checked this run; `Some(None)`: no status recorded yet.
    snapshot: Option<Option<StatusRead>>,
}

/// One gateway's snapshot status as the batch read it.
type StatusRead = Result<SnapshotStatus<FailureRecord>, StoreError>;

async fn reconcile(
    app: &App,
    config: &Config,
    gateway: &Gateway,
    at: Moment,
    seen: Seen,
    probes_until: tokio::time::Instant,
) -> Result<Report, String> {
    let now = at.now;
    let started = Instant::now();
    let mut problems = Vec::new();
    let loaded = match seen.loaded {
        Some(loaded) => loaded,
        None => app
            .adapters
            .store
            .load::<GatewayState>(&gateway.id)
            .await
            .map_err(|e| format!("{}: state store: {e}", gateway.id))?,
    };
    let state = loaded.as_ref().map(|v| v.state.clone()).unwrap_or_default();

    let ecs = match seen_by_ecs(app, gateway, &state, seen.ecs).await {
        Ok(view) => view,
        Err(e) => {
            tracing::error!(gateway = %gateway.id, error = %e, "ECS not readable; probing anyway");
            problems.push(format!("ECS: {e}"));
            None
        }
    };

    let mut target = None;
    let (probe, probe_elapsed) = match probe_plan(gateway, ecs.as_ref(), app.config.probe_task_ip) {
        ProbePlan::Probe { mode, base } => {
            // A gateway slow to answer waits for its own probe, never the run: past the run's
            // probe deadline it is unknown this time, and the others go on.
            match tokio::time::timeout_at(probes_until, probe(app, gateway, &state, mode, base)).await {
                Ok(Probed { report, elapsed, admin }) => {
                    target = admin;
                    (report, Some(elapsed))
                }
                Err(_) => {
                    tracing::warn!(gateway = %gateway.id, mode = mode.as_str(), "probe deadline passed; unknown this run");
                    (ProbeReport::skipped(mode, PROBE_DEADLINE_PASSED), None)
                }
            }
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
    let startup = probe.startup;
    let token_rejected = probe.token_rejected.is_some();
    if token_rejected {
        target = None;
    }
    let channels = tokio::time::timeout_at(
        probes_until,
        channels::read(&app.admin, gateway, target.as_ref(), probe.outcome, token_rejected),
    )
    .await
    .unwrap_or_else(|_| ChannelsCheck::Unknown(PROBE_DEADLINE_PASSED.into()));
    let channels_view = match &channels {
        ChannelsCheck::NotAsked => Value::Null,
        ChannelsCheck::Unknown(why) => json!({ "unknown": why }),
        ChannelsCheck::Read(accounts) => json!({
            "read": accounts.iter().map(|a| json!({
                "channel": a.channel,
                "account": a.account,
                "lifecycle": a.lifecycle.map(|l| l.as_str()),
            })).collect::<Vec<_>>(),
        }),
    };

    let (snapshot, snapshot_failure) = match &seen.snapshot {
        Some(status) => status_facts(&gateway.id, status.as_ref()),
        None => (SnapshotCheck::NotChecked, None),
    };
    let probe_ms = probe_elapsed.map(|elapsed| elapsed.as_millis());
    let observation = Observation {
        ecs,
        probe: Some(probe),
        snapshot,
        snapshot_failure,
        channels,
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
    // The channel starts the policy plans go to where this pass reached the gateway.
    let admin = PassAdmin {
        rpc: &app.admin,
        target,
    };
    let ports = app.adapters.engine_ports_with(&admin);
    // The gauges report the state the engine stored; when it could not store one, the state as
    // it was (nothing this pass decided took effect).
    let (after, executed) =
        match engine::handle_from(&ports, gateway, &config.policy, &input, None, at, Some(loaded)).await {
            Ok(outcome) => (outcome.state, outcome.executed),
            Err(e) => {
                tracing::error!(gateway = %gateway.id, error = %e, "policy pass failed");
                problems.push(e.to_string());
                (state, Vec::new())
            }
        };
    let (mode, outcome, detail) = probed_summary;
    let probe_view = json!({
        "mode": mode.as_str(),
        "outcome": outcome.map(ProbeOutcome::as_str),
        "detail": detail,
        "startup": startup.map(|s| s.as_str()),
        // The hung streak after this pass: unknown probes leave it as it was.
        "failures": after.health.probe_failures,
    });
    let snapshot_stale = snapshot_is_stale(
        snapshot,
        after.health.watching_since,
        now,
        config.policy.snapshot_interval_secs,
    );
    let snapshot_age_secs = match snapshot {
        SnapshotCheck::NewestAt(at) => Some(now.saturating_sub(at)),
        _ => None,
    };
    let (phase, incident_open) = (after.phase.as_str().to_string(), after.incident.is_some());
    let millis = started.elapsed().as_millis();
    tracing::info!(gateway = %gateway.id, phase = %phase, executed = executed.len(), ms = millis as u64, "reconciled");
    Ok(Report {
        gateway: gateway.id.clone(),
        phase,
        executed,
        up,
        ready,
        probe: probe_view,
        channels: channels_view,
        incident_open,
        snapshot_stale,
        snapshot_age_secs,
        probe_ms,
        millis,
        problems,
    })
}

/// Why a gateway was not probed, or its channels not read, this run.
pub const PROBE_DEADLINE_PASSED: &str = "the run's probe deadline passed first; unknown this run";

/// One gateway's probe, and the admin RPC target for its channels where it has a token.
struct Probed {
    report: ProbeReport,
    elapsed: Duration,
    admin: Option<Target>,
}

async fn probe(app: &App, gateway: &Gateway, state: &GatewayState, mode: ProbeMode, base: String) -> Probed {
    let token = usable_token(app, gateway, state).await;
    let admin = token
        .clone()
        .filter(|_| gateway.token_secret_arn.is_some())
        .map(|token| Target {
            base: base.clone(),
            token,
        });
    let probed = app.prober.probe(&base, token.as_ref()).await;
    tracing::info!(
        gateway = %gateway.id, mode = mode.as_str(), outcome = probed.outcome.as_str(),
        startup = probed.startup.map(|s| s.as_str()), ready = probed.ready,
        failing = probed.failing.len(), ms = probed.elapsed.as_millis() as u64,
        detail = probed.detail.as_deref().unwrap_or(""), "probed"
    );
    if probed.token_rejected {
        tracing::warn!(gateway = %gateway.id, "the gateway rejected the token (401): not sending it again");
        app.tokens.forget(&gateway.id);
    }
    Probed {
        report: ProbeReport {
            mode,
            outcome: Some(probed.outcome),
            detail: probed.detail,
            startup: probed.startup,
            ready: probed.ready,
            failing: probed.failing,
            token_rejected: token.filter(|_| probed.token_rejected).map(|t| t.version),
        },
        elapsed: probed.elapsed,
        admin,
    }
}

/// ECS's view of the gateway from the run's batched reads, with the stop the state may have
/// missed; `Ok(None)` when its service does not exist.
async fn seen_by_ecs(
    app: &App,
    gateway: &Gateway,
    state: &GatewayState,
    answer: Option<EcsAnswer>,
) -> Result<Option<EcsObservation>, AwsError> {
    let Some(mut view) = answer.ok_or_else(|| AwsError {
        service: "ecs",
        operation: "DescribeServices",
        code: None,
        retry: Retry::Transient,
        message: "the batched read gave no answer about this gateway".into(),
    })??
    else {
        return Ok(None);
    };
    add_missed_stop(&app.adapters.ecs, gateway, state, &mut view).await?;
    Ok(Some(view))
}

/// The gateway token, unless none is configured, it cannot be read, or the gateway rejected this
/// very version before (a rejected token is never sent again; a new secret version is tried once).
async fn usable_token(app: &App, gateway: &Gateway, state: &GatewayState) -> Option<GatewayToken> {
    let arn = gateway.token_secret_arn.as_deref()?;
    let token = match app.tokens.get(&app.adapters.secrets, &gateway.id, arn).await {
        Ok(token) => token,
        Err(e) => {
            tracing::warn!(gateway = %gateway.id, error = %e, "gateway token not readable; probing without it");
            return None;
        }
    };
    if state.health.rejected_token_version.as_deref() == Some(token.version.as_str()) {
        tracing::debug!(gateway = %gateway.id, version = %token.version, "token version was rejected before; not sent");
        return None;
    }
    Some(token)
}

/// Every gateway's snapshot status in batched reads, when snapshots are on; `None` when they
/// are off or the read failed (freshness not checked this run, logged).
async fn snapshot_statuses(app: &App, ids: &[String]) -> Option<HashMap<String, StatusRead>> {
    if app.config.policy.snapshot_interval_secs == 0 {
        return None;
    }
    match app.adapters.store.snapshot_statuses::<FailureRecord>(ids).await {
        Ok(statuses) => Some(statuses),
        Err(e) => {
            tracing::warn!(error = %e, "snapshot statuses unreadable; freshness not checked this run");
            None
        }
    }
}
