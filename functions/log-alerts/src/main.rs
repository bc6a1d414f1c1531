//! `log-alerts`: the CloudWatch Logs subscription on the gateway's log group -> channel signals
//! (logged out, conflict, gave up, reconnected...) and the causes of refused starts (another
//! writer, an unsafe migration) -> the watchdog policy -> owner notices.
//!
//! A payload that does not decode fails the invocation (`MalformedPayload`) so the retry path keeps
//! it; a control message is acknowledged. Each log event is handled once: its CloudWatch event id is
//! the dedupe key the engine stores with the state. Lines are never logged (they may carry personal
//! data or secrets): only their classification and event id.

mod handler;

use clawkeeper_aws::lambda::start;
use handler::App;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, adapters) = start("log-alerts")?;
    let app = App { config, adapters };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handler::handle(&app, event))).await
}
