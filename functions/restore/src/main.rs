//! `restore`: puts a snapshot back as a gateway's state (ARCHITECTURE.md section 6), invoked by
//! `control` once the gateway is stopped:
//! `{"gateway":"<id>","snapshot":"<key, name or latest>","confirm_stopped":true}`.
//!
//! The function runs in the VPC beside the EFS volume, without a route to ECS, so it cannot ask
//! whether a task runs: `control` checks ECS and says so with `confirm_stopped`, and the function
//! also refuses when the state dir shows a live writer (OpenClaw's gateway lock with fresh
//! writes, or files still changing). It then downloads, verifies, stages beside the state and
//! swaps by rename, keeping the previous state as `<name>.pre-restore-<stamp>`, and answers with
//! what it did (`previous_state` among it). Failures answer a stable `errorType`.
//!
//! Optional environment: `CLAWKEEPER_RESTORE_QUIET_SECS` (default 60: writes newer than this
//! are looked at closer) and `CLAWKEEPER_RESTORE_SETTLE_SECS` (default 5: how long recent state
//! is watched for further writes).

mod request;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clawkeeper_shared::aws::load_sdk_config;
use clawkeeper_shared::aws::s3::S3Store;
use clawkeeper_shared::lambda::{init_tracing, load_config, report_init_error};
use clawkeeper_shared::snapshot::restore::{RestoreRequest, restore_snapshot};
use clawkeeper_shared::snapshot::verify::Limits;
use clawkeeper_shared::{Config, FunctionError};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

const FUNCTION: &str = "restore";

/// The live-writer check's timing, read once at init.
#[derive(Debug, Clone, Copy)]
struct Timing {
    quiet: Duration,
    settle: Duration,
}

fn seconds(var: &str, default: u64) -> Result<Duration, String> {
    match std::env::var(var) {
        Err(_) => Ok(Duration::from_secs(default)),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| format!("{var}: {v:?} is not a number of seconds ({e})")),
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = load_config(FUNCTION)?;
    let timing = seconds("CLAWKEEPER_RESTORE_QUIET_SECS", 60)
        .and_then(|quiet| Ok((quiet, seconds("CLAWKEEPER_RESTORE_SETTLE_SECS", 5)?)))
        .map(|(quiet, settle)| Timing { quiet, settle })
        .inspect_err(|message| report_init_error("Runtime.ConfigError", message))?;
    let store = S3Store::new(&load_sdk_config().await, &config.bucket);
    // The download goes to local disk (Lambda's /tmp), never to the gateway's volume.
    let scratch = std::env::temp_dir();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handle(&config, &store, &scratch, timing, event.payload)
    }))
    .await
}

async fn handle(
    config: &Config,
    store: &S3Store,
    scratch: &Path,
    timing: Timing,
    event: Value,
) -> Result<Value, FunctionError> {
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
        quiet_window: timing.quiet,
        settle: timing.settle,
        scratch_dir: scratch.to_path_buf(),
        limits: Limits::default(),
    };
    match restore_snapshot(store, restore).await {
        Ok(report) => serde_json::to_value(&report).map_err(|e| FunctionError::new("Internal", format!("report: {e}"))),
        Err(e) => {
            tracing::error!(gateway = %request.gateway.id, error_type = e.error_type(), error = %e, "restore failed; the state in place is unchanged unless the error says otherwise");
            Err(FunctionError::from(e))
        }
    }
}
