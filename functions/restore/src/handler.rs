//! One restore request: verify the snapshot, stage it beside the live state, swap it in by rename
//! (journaled) and keep the previous state for rollback; or, on its own, finish or undo the swap
//! of a restore that was killed.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clawkeeper_aws::FunctionError;
use clawkeeper_aws::lambda::VolumeApp as App;
use clawkeeper_core::permit::{PermitRefusal, StopPermit};
use clawkeeper_core::ports::StopPermits;
use clawkeeper_core::watch::time::now_secs;
use clawkeeper_snapshot::SnapshotError;
use clawkeeper_snapshot::restore::{
    RecoverRequest, RestoreOptions, RestoreRequest, recover_gateway, restore_snapshot_with,
};
use clawkeeper_snapshot::verify::Limits;
use serde_json::Value;

use crate::request::{self, Request};

/// Restores the snapshot the request names onto its gateway's state (or recovers an interrupted
/// swap), or fails without changing it. `ends_at_ms` is this invocation's own deadline.
pub async fn handle(app: &App, event: Value, ends_at_ms: i64) -> Result<Value, FunctionError> {
    let named = event.get("gateway").and_then(Value::as_str);
    let (config, _) = app
        .adapters
        .watched_or_known(&app.config, |fleet| named.is_none_or(|id| fleet.member(id).is_some()))
        .await?;
    let request = request::parse(&event, &config).inspect_err(|e| {
        tracing::warn!(error_type = e.error_type, error = %e.message, "refused restore request");
    })?;
    let what = request.permit_word().to_string();
    tracing::info!(gateway = %request.gateway.id, what = %what, by = %request.by, "restore requested");
    let permit = take_permit(app, &request.gateway.id, &what).await?;
    tracing::info!(gateway = %permit.gateway, observed_at = permit.observed_at, observed = %permit.observed, "stop permit taken");
    let deadline = deadline(&request, ends_at_ms);
    let answer = match &request.snapshot {
        Some(snapshot) => restore(app, &request, snapshot, deadline).await,
        None => {
            let recover = RecoverRequest {
                gateway: request.gateway.id.clone(),
                state_root: PathBuf::from(&request.gateway.state_root),
                // The permit, not the caller, says no task runs.
                confirm_stopped: true,
                deadline: Some(deadline),
            };
            recover_gateway(recover).await.and_then(|r| to_value(&r))
        }
    };
    answer.map_err(|e| {
        tracing::error!(gateway = %request.gateway.id, error_type = e.error_type(), error = %e, "restore failed; the state in place is unchanged unless the error says otherwise");
        FunctionError::new(e.error_type(), e.to_string())
    })
}

async fn restore(
    app: &App,
    request: &Request<'_>,
    snapshot: &str,
    deadline: SystemTime,
) -> Result<Value, SnapshotError> {
    let config = &app.config;
    let restore = RestoreRequest {
        gateway: request.gateway.id.clone(),
        state_root: PathBuf::from(&request.gateway.state_root),
        state_dir: request.gateway.state_dir.clone(),
        snapshot: snapshot.to_string(),
        // The permit, not the caller, says no task runs; the live-writer check still looks.
        confirm_stopped: true,
        quiet_window: config.timings.restore_quiet,
        settle: config.timings.restore_settle,
        scratch_dir: app.scratch.clone(),
        // Tightened by what the sidecar and the two disks say (`Limits::for_restore`).
        limits: Limits::default(),
    };
    let options = RestoreOptions {
        deadline: Some(deadline),
        ..RestoreOptions::default()
    };
    let report = restore_snapshot_with(&app.adapters.objects, restore, options).await?;
    to_value(&report)
}

/// The earlier of the caller's deadline and this invocation's own.
fn deadline(request: &Request<'_>, ends_at_ms: i64) -> SystemTime {
    let ms = request.deadline_ms.map_or(ends_at_ms, |ms| ms.min(ends_at_ms));
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn to_value<T: serde::Serialize>(report: &T) -> Result<Value, SnapshotError> {
    serde_json::to_value(report).map_err(|e| SnapshotError::Refused(format!("the report does not serialize: {e}")))
}

/// Takes the gateway's stop permit (it serves this one request) and checks it names this
/// snapshot (or a recovery) and is fresh. Without one nothing is read or written.
async fn take_permit(app: &App, gateway: &str, what: &str) -> Result<StopPermit, FunctionError> {
    let refused = |r: PermitRefusal| {
        tracing::warn!(gateway, error = %r, "restore refused: no valid stop permit");
        FunctionError::new("NoStopPermit", r.to_string())
    };
    let permit = app
        .adapters
        .store
        .take(gateway)
        .await
        .map_err(|e| {
            FunctionError::new(
                if e.is_transient() {
                    "StateUnavailable"
                } else {
                    "StateError"
                },
                e.to_string(),
            )
        })?
        .ok_or_else(|| refused(PermitRefusal::Missing))?;
    permit.admits(gateway, what, now_secs()).map_err(refused)?;
    Ok(permit)
}
