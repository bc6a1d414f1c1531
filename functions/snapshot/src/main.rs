//! `snapshot`: consistent archives of gateway state to S3 (ARCHITECTURE.md section 6).
//!
//! Events: an EventBridge scheduled event (every configured gateway, trigger `scheduled`), or
//! `{"gateway":"<id>","trigger":"<word>"}` from `control` and `task-events`, optionally with
//! `"quiescent":true` (the task is known to be stopped), `"source_task":"<arn>"` and
//! `"force":true`. Answers `{"results":[...]}`, one summary per gateway; any failure makes the
//! invocation fail with a stable `errorType`. The owner hears of failures without this function
//! needing a route to SNS from inside the VPC: each failed gateway gets a failure record in S3
//! (through the free gateway endpoint) that the reconciler turns into a `snapshot_failed`
//! notice, and the next success clears it.
//!
//! `CLAWKEEPER_SNAPSHOT_STALE_UPLOAD_SECS` (optional, default 900: Lambda's longest run) sets
//! the age past which an incomplete upload under the gateway's prefix was left by a run that
//! died and is aborted.

mod request;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clawkeeper_shared::aws::load_sdk_config;
use clawkeeper_shared::aws::s3::S3Store;
use clawkeeper_shared::lambda::{init_tracing, load_config};
use clawkeeper_shared::snapshot::job::{DEFAULT_STALE_UPLOAD_AGE, apply_retention};
use clawkeeper_shared::snapshot::retention::RetentionPolicy;
use clawkeeper_shared::snapshot::{CaptureOptions, SnapshotOutcome, SnapshotRequest, clock, status, take_snapshot};
use clawkeeper_shared::{Config, FunctionError};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

const FUNCTION: &str = "snapshot";
const STALE_UPLOAD_VAR: &str = "CLAWKEEPER_SNAPSHOT_STALE_UPLOAD_SECS";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = load_config(FUNCTION)?;
    let stale_upload_age = match std::env::var(STALE_UPLOAD_VAR) {
        Err(_) => DEFAULT_STALE_UPLOAD_AGE,
        Ok(v) => Duration::from_secs(v.trim().parse::<u64>().map_err(|e| {
            let message = format!("{STALE_UPLOAD_VAR}: {v:?} is not a number of seconds ({e})");
            clawkeeper_shared::lambda::report_init_error("Runtime.ConfigError", &message);
            lambda_runtime::Error::from(message)
        })?),
    };
    let store = S3Store::new(&load_sdk_config().await, &config.bucket);
    // Private SQLite copies go to local disk (Lambda's /tmp), never to the gateway's volume.
    let scratch = std::env::temp_dir();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handle(&config, &store, &scratch, stale_upload_age, event.payload)
    }))
    .await
}

async fn handle(
    config: &Config,
    store: &S3Store,
    scratch: &Path,
    stale_upload_age: Duration,
    event: Value,
) -> Result<Value, FunctionError> {
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
            capture: CaptureOptions::new(now, scratch),
            stale_upload_age,
        };
        match take_snapshot(store, snapshot).await {
            Ok(outcome) => {
                if let Err(e) = status::clear_failure(store, &gateway.id).await {
                    tracing::warn!(gateway = %gateway.id, error = %e, "could not clear the failure record");
                }
                let mut summary = serde_json::to_value(&outcome)
                    .map_err(|e| FunctionError::new("Internal", format!("summary: {e}")))?;
                if matches!(outcome, SnapshotOutcome::Created(_)) {
                    match apply_retention(store, &gateway.id, &RetentionPolicy::default(), now).await {
                        Ok(deleted) => summary["retention_deleted"] = json!(deleted),
                        // The snapshot exists; a retention failure is retried on the next run.
                        Err(e) => {
                            tracing::warn!(gateway = %gateway.id, error = %e, "retention failed");
                            summary["retention_error"] = json!(e.to_string());
                        }
                    }
                }
                results.push(summary);
            }
            Err(e) => {
                tracing::error!(gateway = %gateway.id, error_type = e.error_type(), error = %e, "snapshot failed");
                let recorded = status::record_failure(
                    store,
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
                results.push(json!({
                    "gateway": gateway.id,
                    "result": "failed",
                    "error_type": e.error_type(),
                    "message": e.to_string(),
                }));
                let mut failure = FunctionError::from(e);
                failure.message = format!("{}: {}", gateway.id, failure.message);
                failures.push(failure);
            }
        }
    }
    match failures.len() {
        0 => Ok(json!({ "results": results })),
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
