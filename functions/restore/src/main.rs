//! `restore`: puts a snapshot back as a gateway's state (ARCHITECTURE.md section 6), invoked by
//! `control` once the gateway is stopped:
//! `{"gateway":"<id>","snapshot":"<archive key>","by":"<who>","deadline_ms":<epoch ms>}`.
//!
//! The function runs in the VPC beside the EFS volume, without a route to ECS, so it cannot ask
//! whether a task runs: `control` checks ECS and writes a stop permit to the state table that only
//! its role may write; the function takes it (one restore per permit) and also refuses when the
//! state dir shows a live writer (OpenClaw's gateway lock with fresh
//! writes, or files still changing). It then downloads, verifies, stages beside the state and
//! swaps by rename, keeping the previous state as `<name>.pre-restore-<stamp>`, and answers with
//! what it did (`previous_state` among it). Failures answer a stable `errorType`.
//!
//! Optional environment: `CLAWKEEPER_RESTORE_QUIET_SECS` (default 60: writes newer than this
//! are looked at closer) and `CLAWKEEPER_RESTORE_SETTLE_SECS` (default 5: how long recent state
//! is watched for further writes).

mod handler;
mod request;

use clawkeeper_aws::lambda::VolumeApp;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = VolumeApp::start("restore")?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        // Lambda's own deadline: the work must end before it, whatever the caller allowed.
        let ends_at_ms = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
        handler::handle(&app, event.payload, ends_at_ms)
    }))
    .await
}
