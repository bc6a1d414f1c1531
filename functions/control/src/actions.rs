//! The actions that change a gateway (pause, resume, silence, restart, snapshot) and the incident
//! history. Each change goes through the watchdog engine as an owner request with who asked.

use clawkeeper_aws::FunctionError;
use clawkeeper_core::Gateway;
use clawkeeper_core::engine::{Moment, Outcome};
use clawkeeper_core::ports::StateStore;
use clawkeeper_core::watch::GatewayState;
use clawkeeper_core::watch::plan::owner::OwnerAction;
use clawkeeper_core::watch::time::format_utc;
use clawkeeper_snapshot::{SnapshotAnswer, SnapshotOutcome};
use serde_json::{Value, json};

use crate::app::App;
use crate::functions::{Functions, InvokeError};

fn answer(gateway: &Gateway, action: &str, by: &str, outcome: &Outcome) -> Value {
    json!({
        "gateway": gateway.id,
        "action": action,
        "by": by,
        "phase": outcome.phase,
        "executed": outcome.executed,
        "rev": outcome.rev,
    })
}

impl App<'_> {
    /// Desired 0, as the owner's wish: the watchdog restarts nothing until `resume`.
    pub async fn pause(&self, id: &str, by: &str, at: Moment) -> Result<Value, FunctionError> {
        let gateway = self.gateway(id)?;
        let outcome = self.owner(gateway, by, OwnerAction::Pause, at).await?;
        Ok(answer(gateway, "pause", by, &outcome))
    }

    /// Desired 1 and a clean backoff.
    pub async fn resume(&self, id: &str, by: &str, at: Moment) -> Result<Value, FunctionError> {
        let gateway = self.gateway(id)?;
        let outcome = self.owner(gateway, by, OwnerAction::Resume, at).await?;
        Ok(answer(gateway, "resume", by, &outcome))
    }

    /// Mutes notices for `minutes` (0 unmutes); muted notices are recorded, reminders resume after.
    pub async fn silence(
        &self,
        id: &str,
        minutes: u32,
        reason: Option<String>,
        by: &str,
        at: Moment,
    ) -> Result<Value, FunctionError> {
        let gateway = self.gateway(id)?;
        let until = at.now.saturating_add(i64::from(minutes) * 60);
        let outcome = self
            .owner(
                gateway,
                by,
                OwnerAction::Silence {
                    until,
                    reason: reason.clone(),
                },
                at,
            )
            .await?;
        let mut out = answer(gateway, "silence", by, &outcome);
        out["silenced_until"] = if minutes == 0 {
            Value::Null
        } else {
            json!({ "epoch": until, "utc": format_utc(until) })
        };
        out["reason"] = json!(reason);
        Ok(out)
    }

    /// Restarts now; refused while paused (by the owner or the backoff) unless `force`.
    pub async fn restart(&self, id: &str, force: bool, by: &str, at: Moment) -> Result<Value, FunctionError> {
        let gateway = self.gateway(id)?;
        let state = self
            .adapters
            .store
            .load::<GatewayState>(&gateway.id)
            .await
            .map_err(|e| FunctionError::new("StateUnavailable", e.to_string()))?
            .map(|v| v.state)
            .unwrap_or_default();
        let paused_by = if state.owner_paused {
            Some("the owner")
        } else if state.backoff.escalated || state.backoff.resume_at.is_some() {
            Some("the crash-loop backoff")
        } else {
            None
        };
        if let (Some(who), false) = (paused_by, force) {
            return Err(FunctionError::new(
                "Paused",
                format!(
                    "gateway {id} is paused by {who}: not restarted. `clawkeeper resume {id}` starts it; \
                     `clawkeeper restart {id} --force` starts it and forgets the pause"
                ),
            ));
        }
        let outcome = self.owner(gateway, by, OwnerAction::Restart, at).await?;
        if outcome.executed.is_empty() {
            return Err(FunctionError::new(
                "NothingToRestart",
                format!(
                    "gateway {id}: nothing was restarted (a standalone gateway needs a task seen once to know its task \
                     definition; start it with `aws ecs run-task` the first time)"
                ),
            ));
        }
        Ok(answer(gateway, "restart", by, &outcome))
    }

    /// Incident log records of the last `days` days, for one gateway or all.
    pub async fn history(&self, only: Option<&str>, days: u32, at: Moment) -> Result<Value, FunctionError> {
        let since = at.now.saturating_sub(i64::from(days) * 86_400);
        let mut gateways = Vec::new();
        for gateway in self.config.gateways.iter().filter(|g| only.is_none_or(|id| g.id == id)) {
            let records = self
                .adapters
                .store
                .incidents(&gateway.id, since)
                .await
                .map_err(|e| FunctionError::new("StateUnavailable", e.to_string()))?;
            gateways.push(json!({ "id": gateway.id, "records": records }));
        }
        Ok(json!({ "since": { "epoch": since, "utc": format_utc(since) }, "days": days, "gateways": gateways }))
    }

    /// Invokes the snapshot function now and returns its summary.
    pub async fn snapshot(&self, id: &str, by: &str, at: Moment) -> Result<Value, FunctionError> {
        let gateway = self.gateway(id)?;
        let function = self.config.snapshot_function.as_deref().ok_or_else(|| {
            FunctionError::new(
                "NotConfigured",
                "no snapshot function is configured: set CLAWKEEPER_SNAPSHOT_FUNCTION on the control function \
                 (the template does)",
            )
        })?;
        let answer = self
            .functions
            .invoke(
                function,
                &json!({ "gateway": gateway.id, "trigger": "manual" }),
                answer_within(at),
            )
            .await
            .map_err(|e| invoke_failure("SnapshotFailed", e))?;
        let parsed: SnapshotAnswer = serde_json::from_value(answer).map_err(|e| {
            FunctionError::new(
                "SnapshotFailed",
                format!("the snapshot function's answer does not read as a snapshot summary: {e}"),
            )
        })?;
        let Some(summary) = parsed.results.into_iter().next() else {
            return Err(FunctionError::new(
                "SnapshotFailed",
                format!("the snapshot function answered no result for gateway {}", gateway.id),
            ));
        };
        let what = match &summary.outcome {
            SnapshotOutcome::Created(sidecar) => format!("took snapshot {}", sidecar.archive_key),
            SnapshotOutcome::Unchanged { current_key, .. } => {
                format!("state unchanged since snapshot {current_key}")
            }
        };
        let note = OwnerAction::Note {
            action: "snapshot".into(),
            what,
        };
        // The snapshot exists whatever happens to the log line: report it, log the failure.
        if let Err(e) = self.owner(gateway, by, note, at).await {
            tracing::warn!(gateway = %gateway.id, error = %e.message, "snapshot taken but not logged");
        }
        Ok(json!({ "gateway": gateway.id, "action": "snapshot", "by": by, "snapshot": summary }))
    }
}

/// How long an invoke may wait: what this invocation has left, less a few seconds to answer.
fn answer_within(at: Moment) -> std::time::Duration {
    std::time::Duration::from_secs(u64::try_from(at.deadline - at.now - 10).unwrap_or(0).max(1))
}

/// A failed invoke of another function, for the caller.
pub fn invoke_failure(error_type: &'static str, e: InvokeError) -> FunctionError {
    match e {
        InvokeError::Aws(aws) => FunctionError::new(
            if aws.is_transient() {
                "AwsTransient"
            } else {
                "AwsRequestFailed"
            },
            aws.to_string(),
        ),
        other => FunctionError::new(error_type, other.to_string()),
    }
}
