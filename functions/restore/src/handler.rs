//! One restore request: verify the snapshot, stage it beside the live state, swap it in by rename
//! and keep the previous state for rollback.

use std::path::PathBuf;

use clawkeeper_aws::FunctionError;
use clawkeeper_aws::lambda::VolumeApp as App;
use clawkeeper_snapshot::restore::{RestoreRequest, restore_snapshot};
use clawkeeper_snapshot::verify::Limits;
use serde_json::Value;

use crate::request;

/// Restores the snapshot the request names onto its gateway's state, or fails without changing it.
pub async fn handle(app: &App, event: Value) -> Result<Value, FunctionError> {
    let (config, store, scratch) = (&app.config, &app.adapters.objects, app.scratch.as_path());
    let request = request::parse(&event, config).inspect_err(|e| {
        tracing::warn!(error_type = e.error_type, error = %e.message, "refused restore request");
    })?;
    tracing::info!(gateway = %request.gateway.id, snapshot = %request.snapshot, by = %request.by, "restore requested");
    let restore = RestoreRequest {
        gateway: request.gateway.id.clone(),
        state_root: PathBuf::from(&request.gateway.state_root),
        state_dir: request.gateway.state_dir.clone(),
        snapshot: request.snapshot.clone(),
        confirm_stopped: request.confirm_stopped,
        quiet_window: config.timings.restore_quiet,
        settle: config.timings.restore_settle,
        scratch_dir: scratch.to_path_buf(),
        limits: Limits::default(),
    };
    match restore_snapshot(store, restore).await {
        Ok(report) => serde_json::to_value(&report).map_err(|e| FunctionError::new("Internal", format!("report: {e}"))),
        Err(e) => {
            tracing::error!(gateway = %request.gateway.id, error_type = e.error_type(), error = %e, "restore failed; the state in place is unchanged unless the error says otherwise");
            Err(FunctionError::new(e.error_type(), e.to_string()))
        }
    }
}
