//! `task-events`: EventBridge `aws.ecs` task, service and deployment events of the watched
//! clusters -> signals -> the watchdog policy -> restarts, snapshot requests and owner notices.
//!
//! A malformed event fails the invocation (`MalformedEvent`) so Lambda's retries and the
//! dead-letter queue keep it; events of gateways that are not configured are ignored.

mod handler;

use clawkeeper_aws::lambda::start;
use handler::App;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, adapters) = start("task-events")?;
    let app = App { config, adapters };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handler::handle(&app, event))).await
}
