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

mod handler;
mod request;

use clawkeeper_aws::lambda::VolumeApp;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = VolumeApp::start("restore").await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handler::handle(&app, event.payload)
    }))
    .await
}
