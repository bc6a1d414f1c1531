//! `control`: owners' requests (`aws lambda invoke` or the `clawkeeper` CLI), JSON in, JSON out.
//!
//! Actions: `status`, `restart`, `pause`, `resume`, `silence`, `history`, `snapshot`, `snapshots`,
//! `restore`, `test` (see `request.rs` for each one's fields). Changes go through the watchdog engine as
//! owner requests, so the watchdog respects them and the incident log records who asked.

mod actions;
mod app;
mod caller;
mod dispatch;
mod doctor;
mod functions;
mod request;
mod restore;
mod snapshots;
mod status;

use std::time::Duration;

use app::App;
use clawkeeper_aws::lambda::start;
use functions::LambdaFunctions;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

/// Longest wait for a snapshot or restore function's answer (Lambda's own limit is 15 minutes).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(870);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, adapters) = start("control").await?;
    let functions = LambdaFunctions::new(&adapters.sdk, INVOKE_TIMEOUT);
    let app = App {
        config,
        adapters,
        functions,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| dispatch::handle(&app, event))).await
}
