//! `snapshot`: consistent archives of gateway state to S3 (ARCHITECTURE.md section 6).
//!
//! Events: an EventBridge scheduled event (every configured gateway, trigger `scheduled`), or
//! `{"gateway":"<id>","trigger":"<word>"}` from `control` and `task-events`, optionally with
//! `"quiescent":true` (the task is known to be stopped), `"source_task":"<arn>"`,
//! `"force":true` and `"read_back":true` (also read the stored archive back in full). Answers
//! `{"results":[...]}`, one summary per gateway; any failure makes the invocation fail with a
//! stable `errorType` (`StateTooLarge` when the state cannot be archived before the invocation's
//! deadline: said at once, or as soon as the run falls behind). The owner hears of failures
//! without this function needing a route to SNS from inside the VPC: each failed gateway gets a
//! failure record in its snapshot status in the state table (through the VPC's DynamoDB
//! endpoint) that the reconciler turns into a `snapshot_failed` notice, and the next success
//! clears it.
//!
//! `CLAWKEEPER_SNAPSHOT_STALE_UPLOAD_SECS` (see the core's `Timings`) sets the age past which an
//! incomplete upload under the gateway's prefix was left by a run that died and is aborted.

mod handler;
mod request;

use clawkeeper_aws::lambda::VolumeApp;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = VolumeApp::start("snapshot")?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let deadline = std::time::Instant::now() + clawkeeper_aws::lambda::time_left(&event.context);
        handler::handle(&app, event.payload, Some(deadline))
    }))
    .await
}
