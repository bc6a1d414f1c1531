//! `restore`: the owner's restore of a snapshot, orchestrated step by step (ARCHITECTURE.md
//! section 6): pause, wait until no task runs, invoke the `restore` function (verify, stage, swap,
//! keep the previous state), resume, watch the first health checks, notify `restore_done`.
//!
//! Safety rule: a failed step stops the run. Before the restore function has swapped the state,
//! the gateway is left paused with its state untouched; after it (health not confirmed), the
//! gateway is paused again, and the previous state is kept under the name the restore reported.
//! Health is "ECS runs a task" until the probes of the health work can be reused here.

use std::time::Instant;

use clawkeeper_aws::FunctionError;
use clawkeeper_core::ecs::TaskView;
use clawkeeper_core::engine::Moment;
use clawkeeper_core::health;
use clawkeeper_core::permit::StopPermit;
use clawkeeper_core::ports::{EcsRead, StopPermits};
use clawkeeper_core::watch::plan::owner::OwnerAction;
use clawkeeper_core::watch::time::now_secs;
use clawkeeper_core::{AwsError, Gateway};
use clawkeeper_snapshot::restore::{RecoveryReport, RestoreReport};
use serde::Serialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::functions::{Functions, InvokeError};
use crate::restore_budget::{self, Asked};
use crate::snapshots;

/// One step of the run, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `pause`, `wait_stopped`, `restore`, `resume`, `watch_health`, `notify`.
    pub step: &'static str,
    pub ok: bool,
    /// What happened, in words.
    pub detail: String,
    /// Seconds it took.
    pub secs: u64,
}

/// The answer to `restore`: `ok` false when a step failed (the invocation itself succeeds, so the
/// steps reach the caller).
#[derive(Debug, Clone, Serialize)]
pub struct RestoreRun {
    pub gateway: String,
    pub action: &'static str,
    pub by: String,
    /// The snapshot's name and archive key.
    pub snapshot: String,
    pub key: String,
    pub ok: bool,
    pub failed_step: Option<&'static str>,
    pub steps: Vec<Step>,
    /// Where the restore function kept the replaced state, when it said.
    pub previous_state: Option<String>,
    /// What to do now.
    pub next: Vec<String>,
}

/// The bounded waits of one run.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub stop_timeout_secs: u64,
    pub health_timeout_secs: u64,
}

impl App<'_> {
    /// Restores `wanted` (name, key or `latest`) onto gateway `id`.
    pub async fn restore(
        &self,
        id: &str,
        wanted: &str,
        waits: Waits,
        by: &str,
        at: Moment,
    ) -> Result<RestoreRun, FunctionError> {
        let gateway = self.gateway(id)?;
        let function = self.config.restore_function.clone().ok_or_else(|| {
            FunctionError::new(
                "NotConfigured",
                "no restore function is configured: set CLAWKEEPER_RESTORE_FUNCTION on the control function \
                 (the template does)",
            )
        })?;
        // Refusals before anything changes: an unknown snapshot pauses nothing.
        let snapshot = snapshots::resolve(&self.adapters.objects, &gateway.id, wanted).await?;
        let mut run = Run {
            started: at,
            report: RestoreRun {
                gateway: gateway.id.clone(),
                action: "restore",
                by: by.to_string(),
                snapshot: snapshot.name.clone(),
                key: snapshot.key.clone(),
                ok: false,
                failed_step: None,
                steps: Vec::new(),
                previous_state: None,
                next: Vec::new(),
            },
        };
        tracing::info!(gateway = %gateway.id, snapshot = %snapshot.key, by, "restore starting");
        let asked = Asked {
            stop_timeout_secs: waits.stop_timeout_secs,
            health_timeout_secs: waits.health_timeout_secs,
        };
        // Refused before anything changes: a run Lambda ends midway leaves nobody told.
        restore_budget::fits(asked, at.now, at.deadline).map_err(|m| FunctionError::new("NotEnoughTime", m))?;

        let started = Instant::now();
        let paused = self.owner(gateway, by, OwnerAction::Pause, run.at()).await;
        if !run.step("pause", started, paused.map(|o| format!("paused (phase {})", o.phase))) {
            return Ok(self.stopped(gateway, run, by, "the gateway may still run").await);
        }

        let started = Instant::now();
        let stopped = self.wait_stopped(gateway, waits.stop_timeout_secs).await;
        let Some(observed) = run.step_kept("wait_stopped", started, stopped) else {
            return Ok(self.stopped(gateway, run, by, "").await);
        };

        let started = Instant::now();
        let now = now_secs();
        let time = restore_budget::restore_time(asked, now, at.deadline);
        // Only now does control vouch that no task runs, with a permit only its role may write:
        // the restore function cannot ask ECS from inside the VPC, and refuses without one (it
        // also looks for a live writer itself).
        let permit = StopPermit::issue(
            &gateway.id,
            &snapshot.key,
            observed,
            by,
            &format!("{:016x}", at.invocation),
            now,
        );
        let mut outcome_unknown = false;
        let restored = match time {
            Err(e) => Err(e),
            Ok(time) => match self.adapters.store.issue(&permit).await {
                Err(e) => Err(format!("could not write the stop permit: {e}")),
                Ok(()) => {
                    let payload = json!({ "gateway": gateway.id, "snapshot": snapshot.key, "by": by, "deadline_ms": time.deadline_ms });
                    let answer = self.functions.invoke(&function, &payload, time.invoke_timeout).await;
                    outcome_unknown = answer.as_ref().is_err_and(may_have_died_mid_swap);
                    answer.map_err(|e| e.to_string())
                }
            },
        };
        let restored = restored.and_then(|answer: Value| {
            let report: RestoreReport = serde_json::from_value(answer)
                .map_err(|e| format!("the restore function's answer does not read as a restore report: {e}"))?;
            run.report.previous_state = report.previous_state;
            Ok(match &run.report.previous_state {
                Some(previous) => format!("restored {}; previous state kept at {previous}", snapshot.key),
                None => format!("restored {}", snapshot.key),
            })
        });
        if !run.step("restore", started, restored) {
            if outcome_unknown {
                // The restore may have died between two renames of its swap: have the restore
                // function finish or undo it now, so a later resume never starts on a mix.
                let started = Instant::now();
                let recovered = self.recover(gateway, &function, by, at).await;
                run.step("recover", started, recovered);
            }
            return Ok(self.stopped(gateway, run, by, "").await);
        }

        let started = Instant::now();
        let resumed = self.owner(gateway, by, OwnerAction::Resume, run.at()).await;
        if !run.step(
            "resume",
            started,
            resumed.map(|o| format!("resumed (phase {})", o.phase)),
        ) {
            return Ok(self.stopped(gateway, run, by, "").await);
        }

        let started = Instant::now();
        let healthy = self.wait_running(gateway, waits.health_timeout_secs).await;
        if !run.step("watch_health", started, healthy) {
            // The restored state may be what keeps it from starting: stop it rather than let the
            // watchdog restart it in a loop, and say how to go back.
            if let Err(e) = self.owner(gateway, by, OwnerAction::Pause, run.at()).await {
                tracing::error!(gateway = %gateway.id, error = %e.message, "could not pause again after the failed health watch");
            }
            return Ok(self.stopped(gateway, run, by, "").await);
        }

        let started = Instant::now();
        let done = OwnerAction::RestoreDone {
            snapshot: snapshot.key.clone(),
            previous_state: run.report.previous_state.clone(),
        };
        let notified = self.owner(gateway, by, done, run.at()).await;
        run.step(
            "notify",
            started,
            notified.map(|_| "owners notified (restore_done)".to_string()),
        );
        // A lost notice does not undo a good restore: the run is reported as done either way.
        run.report.ok = true;
        run.report.failed_step = None;
        run.report.next = vec![
            format!("Check: clawkeeper status {}", gateway.id),
            "WhatsApp may need relinking after a restore: openclaw channels login --channel whatsapp".into(),
        ];
        tracing::info!(gateway = %gateway.id, snapshot = %snapshot.key, "restore done");
        Ok(run.report)
    }

    /// Ends a failed run: logs it with who asked and says what to do.
    async fn stopped(&self, gateway: &Gateway, mut run: Run, by: &str, extra: &str) -> RestoreRun {
        let failed = run.report.failed_step.unwrap_or("?");
        let swapped = run.report.steps.iter().any(|s| s.step == "restore" && s.ok);
        let what = format!(
            "restore of {} stopped at step {failed}: the gateway stays paused{}{}",
            run.report.key,
            if swapped {
                ", with the restored state"
            } else {
                " with its state untouched"
            },
            if extra.is_empty() {
                String::new()
            } else {
                format!(" ({extra})")
            }
        );
        let note = OwnerAction::Note {
            action: "restore".into(),
            what: what.clone(),
        };
        if let Err(e) = self.owner(gateway, by, note, run.at()).await {
            tracing::error!(gateway = %gateway.id, error = %e.message, "could not log the failed restore");
        }
        tracing::warn!(gateway = %gateway.id, step = failed, "{what}");
        let id = &gateway.id;
        run.report.next = if swapped {
            vec![format!(
                "The previous state is kept{}: restore an older snapshot with `clawkeeper restore {id} <name>`, \
                     or look at the logs and `clawkeeper resume {id}`.",
                run.report
                    .previous_state
                    .as_deref()
                    .map(|p| format!(" at {p}"))
                    .unwrap_or_default()
            )]
        } else {
            vec![
                format!("Nothing was restored. Fix the cause shown in the failed step and run the restore again."),
                format!("To run the gateway as it was: clawkeeper resume {id}"),
            ]
        };
        run.report
    }

    /// Asks the restore function to finish or undo an interrupted swap, under a permit of its own
    /// (the gateway is still paused and seen stopped).
    async fn recover(&self, gateway: &Gateway, function: &str, by: &str, at: Moment) -> Result<String, String> {
        let now = now_secs();
        let left = at.deadline - now - restore_budget::TAIL_SECS / 2;
        if left < 20 {
            return Err(format!(
                "no time left to check the swap ({left} s); the next restore finishes or undoes it first"
            ));
        }
        let observed = self.wait_stopped(gateway, 0).await?;
        let permit = StopPermit::issue(
            &gateway.id,
            RECOVER,
            observed,
            by,
            &format!("{:016x}", at.invocation),
            now,
        );
        self.adapters
            .store
            .issue(&permit)
            .await
            .map_err(|e| format!("could not write the stop permit: {e}"))?;
        let wait = std::time::Duration::from_secs(u64::try_from(left).unwrap_or(20).min(120));
        let payload = json!({ "gateway": gateway.id, "recover": true, "by": by,
                              "deadline_ms": (now + i64::try_from(wait.as_secs()).unwrap_or(20) - 5) * 1000 });
        let answer = self
            .functions
            .invoke(function, &payload, wait)
            .await
            .map_err(|e| e.to_string())?;
        let report: RecoveryReport = serde_json::from_value(answer)
            .map_err(|e| format!("the restore function's answer does not read as a recovery report: {e}"))?;
        Ok(match report.recovery {
            Some(recovery) => recovery.summary(),
            None => "no interrupted swap: the state is as it was before the restore".into(),
        })
    }

    async fn wait_stopped(&self, gateway: &Gateway, timeout_secs: u64) -> Result<String, String> {
        let deadline = Instant::now() + std::time::Duration::from_secs(timeout_secs);
        loop {
            let last = match self.live_tasks(gateway).await {
                Ok(live) if live.is_empty() => {
                    return Ok(format!(
                        "ECS lists no task of {} running, pending or still stopping",
                        gateway.tasks()
                    ));
                }
                Ok(live) => format!(
                    "{} task(s) still running: {}",
                    live.len(),
                    live.iter().map(|t| t.arn.as_str()).collect::<Vec<_>>().join(", ")
                ),
                Err(e) => format!("ECS: {e}"),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "after {timeout_secs} s: {last}; the gateway is paused, its state untouched"
                ));
            }
            tokio::time::sleep(self.config.timings.poll).await;
        }
    }

    /// Tasks of the gateway that are not STOPPED yet (whatever their desired status: a task told to
    /// stop still writes until it has stopped).
    async fn live_tasks(&self, gateway: &Gateway) -> Result<Vec<TaskView>, AwsError> {
        let mut tasks = Vec::new();
        for desired in ["RUNNING", "STOPPED"] {
            tasks.extend(
                self.adapters
                    .ecs
                    .tasks(&gateway.cluster, &gateway.tasks(), desired)
                    .await?,
            );
        }
        tasks.retain(|t| t.last_status.as_deref() != Some("STOPPED"));
        Ok(tasks)
    }

    async fn wait_running(&self, gateway: &Gateway, timeout_secs: u64) -> Result<String, String> {
        let deadline = Instant::now() + std::time::Duration::from_secs(timeout_secs);
        loop {
            let last = match self.running_count(gateway).await {
                Ok(n) if n > 0 => return Ok(format!("ECS reports {n} task(s) RUNNING")),
                Ok(_) => "no task RUNNING yet".to_string(),
                Err(e) => format!("ECS: {e}"),
            };
            if Instant::now() >= deadline {
                return Err(format!("after {timeout_secs} s: {last}; paused again"));
            }
            tokio::time::sleep(self.config.timings.poll).await;
        }
    }

    async fn running_count(&self, gateway: &Gateway) -> Result<usize, AwsError> {
        Ok(health::running_tasks(&self.adapters.ecs, gateway).await?.unwrap_or(0))
    }
}

struct Run {
    report: RestoreRun,
    /// The invocation the run is part of: every engine call of the run takes its outbox lease
    /// within it, so a run killed midway holds nothing past a lease's length.
    started: Moment,
}

impl Run {
    /// Now, within this run's invocation.
    fn at(&self) -> Moment {
        self.started.at(now_secs())
    }
}

impl Run {
    /// Records a step and keeps its detail when it succeeded.
    fn step_kept<T: std::fmt::Display>(
        &mut self,
        step: &'static str,
        started: Instant,
        result: Result<String, T>,
    ) -> Option<String> {
        let kept = result.as_ref().ok().cloned();
        self.step(step, started, result).then_some(kept).flatten()
    }

    /// Records a step; `false` (and the failed step) when it failed.
    fn step<T: std::fmt::Display>(&mut self, step: &'static str, started: Instant, result: Result<String, T>) -> bool {
        let secs = started.elapsed().as_secs();
        let (ok, detail) = match result {
            Ok(detail) => (true, detail),
            Err(e) => (false, e.to_string()),
        };
        tracing::info!(gateway = %self.report.gateway, step, ok, detail = %detail, "restore step");
        self.report.steps.push(Step { step, ok, detail, secs });
        if !ok {
            self.report.failed_step = Some(step);
        }
        ok
    }
}

/// The word a stop permit carries for a recovery (the restore function's `RECOVER`).
const RECOVER: &str = "recover";

/// Error types the restore function answers only before its swap starts, or after it undid it:
/// the state in place is known. Anything else (a timeout, a crash, an unknown type) may have
/// stopped it between two renames.
const SETTLED_ERRORS: &[&str] = &[
    "NoStopPermit",
    "InvalidRequest",
    "UnknownGateway",
    "StateUnavailable",
    "StateError",
    "NotConfirmedStopped",
    "GatewayRunning",
    "UnknownSnapshot",
    "InvalidArchive",
    "InvalidDocument",
    "Refused",
    "StateMissing",
    "ArchiveWriteFailed",
    "AwsTransient",
    "AwsRequestFailed",
    "RestoreSwapFailed",
    "DeadlineTooClose",
    "ScratchTooSmall",
    "StateVolumeTooSmall",
];

/// Whether a failed restore invoke leaves the state's swap in doubt.
fn may_have_died_mid_swap(e: &InvokeError) -> bool {
    match e {
        InvokeError::Aws(_) => true,
        InvokeError::Function { error_type, .. } => !SETTLED_ERRORS.contains(&error_type.as_str()),
    }
}
