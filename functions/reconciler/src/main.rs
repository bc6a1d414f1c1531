//! `reconciler`: the scheduled reconciliation and probes. Not built yet: it answers every event with a `NotImplemented`
//! error (never a fake success), so an event it receives stays in Lambda's retry and
//! dead-letter path.

use clawkeeper_shared::FunctionError;
use clawkeeper_shared::lambda::{init_tracing, load_config};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

const FUNCTION: &str = "reconciler";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let _config = load_config(FUNCTION)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        tracing::warn!(request_id = %event.context.request_id, "event refused: not built yet");
        Err::<Value, _>(FunctionError::not_implemented(
            FUNCTION,
            "the scheduled reconciliation and probes",
        ))
    }))
    .await
}
