//! `control`: owners' requests (`aws lambda invoke` or the `clawkeeper` CLI), JSON in, JSON out.
//!
//! Actions: `status`, `restart`, `pause`, `resume`, `silence`, `history`, `snapshot`, `snapshots`,
//! `restore`, `test` (see `request.rs` for each one's fields). Changes go through the watchdog engine as
//! owner requests, so the watchdog respects them and the incident log records who asked: verified
//! when the request came signed through the function URL (`url.rs`), claimed otherwise
//! (`caller.rs`). With operators configured, only they may pause, silence and restore
//! (`operators.rs`).

mod actions;
mod app;
mod caller;
mod dispatch;
mod doctor;
mod functions;
mod operators;
mod registry;
mod request;
mod restore;
mod restore_budget;
mod snapshots;
mod status;
mod url;

use app::Shared;
use clawkeeper_aws::lambda::{report_init_error, start};
use functions::LambdaFunctions;
use lambda_runtime::{LambdaEvent, service_fn};
use operators::Operators;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, adapters) = start("control")?;
    // A bad list stops the init (naming the entry) rather than leaving the actions unguarded.
    let operators = Operators::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "invalid operator list; fix the function's environment");
        report_init_error("Runtime.ConfigError", e);
    })?;
    let functions = LambdaFunctions::new(&adapters.sdk);
    let shared = Shared {
        config,
        adapters,
        functions,
        operators,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| dispatch::handle(&shared, event))).await
}
