//! One snapshot request: each gateway it names is captured, archived, uploaded, verified and
//! retention-pruned; each run's end is recorded in the gateway's snapshot status in the state table
//! (when the state was saved, or the run of failures the reconciler tells the owner of).

use std::path::PathBuf;
use std::time::Instant;

use clawkeeper_aws::FunctionError;
use clawkeeper_aws::lambda::VolumeApp as App;
use clawkeeper_core::ports::SnapshotStatusStore;
use clawkeeper_snapshot::job::apply_retention;
use clawkeeper_snapshot::retention::RetentionPolicy;
use clawkeeper_snapshot::{
    CaptureOptions, SnapshotAnswer, SnapshotOutcome, SnapshotRequest, SnapshotSummary, clock, status, take_snapshot,
};
use serde_json::Value;

use crate::request;

/// Snapshots every gateway the request names, before `deadline` (the invocation's end); any
/// failure fails the invocation (after recording it).
pub async fn handle(app: &App, event: Value, deadline: Option<Instant>) -> Result<Value, FunctionError> {
    // A request for one gateway needs the fleet that knows it; a scheduled run snapshots the fleet
    // last known when the registry cannot be read.
    let named = event.get("gateway").and_then(Value::as_str);
    let (config, _) = app
        .adapters
        .watched_or_known(&app.config, |fleet| named.is_none_or(|id| fleet.member(id).is_some()))
        .await?;
    let (config, store, scratch) = (&config, &app.adapters.objects, app.scratch.as_path());
    let stale_upload_age = config.timings.stale_upload_age;
    let request = request::parse(&event, config).inspect_err(|e| {
        tracing::warn!(error_type = e.error_type, error = %e.message, "refused snapshot request");
    })?;
    let mut results = Vec::new();
    let mut failures: Vec<FunctionError> = Vec::new();
    for gateway in &request.gateways {
        let now = clock::epoch_millis(std::time::SystemTime::now());
        let snapshot = SnapshotRequest {
            gateway: gateway.id.clone(),
            state_root: PathBuf::from(&gateway.state_root),
            state_dir: gateway.state_dir.clone(),
            trigger: request.trigger.clone(),
            quiescent: request.quiescent,
            source_task: request.source_task.clone(),
            force: request.force,
            capture: CaptureOptions {
                compression: config.gzip_level,
                ..CaptureOptions::new(now, scratch)
            },
            stale_upload_age,
            invocation_deadline: deadline,
            read_back: request.read_back,
        };
        match take_snapshot(store, snapshot).await {
            Ok(outcome) => {
                // Saved now (a new archive, or unchanged since the newest): the reconciler's
                // freshness check reads this, and any run of failures ends.
                if let Err(e) = app.adapters.store.record_saved(&gateway.id, now).await {
                    tracing::warn!(gateway = %gateway.id, error = %e, "could not record the snapshot status");
                }
                let mut summary = SnapshotSummary {
                    outcome,
                    retention_deleted: None,
                    retention_error: None,
                };
                if matches!(summary.outcome, SnapshotOutcome::Created(_)) {
                    match apply_retention(store, &gateway.id, &RetentionPolicy::default(), now).await {
                        Ok(deleted) => summary.retention_deleted = Some(deleted),
                        // The snapshot exists; a retention failure is retried on the next run.
                        Err(e) => {
                            tracing::warn!(gateway = %gateway.id, error = %e, "retention failed");
                            summary.retention_error = Some(e.to_string());
                        }
                    }
                }
                results.push(summary);
            }
            Err(e) => {
                tracing::error!(gateway = %gateway.id, error_type = e.error_type(), error = %e, "snapshot failed");
                let recorded = status::record_failure(
                    &app.adapters.store,
                    &gateway.id,
                    &request.trigger,
                    e.error_type(),
                    &e.to_string(),
                    now,
                )
                .await;
                if let Err(record) = recorded {
                    // The failed invocation (and its alarm) remains the owner's signal.
                    tracing::error!(gateway = %gateway.id, error = %record, "could not write the failure record");
                }
                let mut failure = FunctionError::new(e.error_type(), e.to_string());
                failure.message = format!("{}: {}", gateway.id, failure.message);
                failures.push(failure);
            }
        }
    }
    match failures.len() {
        0 => serde_json::to_value(SnapshotAnswer { results })
            .map_err(|e| FunctionError::new("Internal", format!("answer: {e}"))),
        1 => Err(failures.remove(0)),
        n => Err(FunctionError::new(
            failures[0].error_type,
            format!(
                "{n} snapshots failed: {}",
                failures
                    .iter()
                    .map(|f| f.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )),
    }
}
