//! `control`: owners' requests (`aws lambda invoke` or the CLI), JSON in, JSON out.

mod request;
mod status;

use clawkeeper_shared::aws::ecs::EcsClient;
use clawkeeper_shared::aws::load_sdk_config;
use clawkeeper_shared::lambda::{init_tracing, load_config};
use clawkeeper_shared::{Config, FunctionError};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use request::Request;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = load_config("control")?;
    let ecs = EcsClient::new(&load_sdk_config().await);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handle(&config, &ecs, event.payload)
    }))
    .await
}

async fn handle(config: &Config, ecs: &EcsClient, event: Value) -> Result<Value, FunctionError> {
    let request = request::parse(&event, config).inspect_err(|e| {
        tracing::warn!(error_type = e.error_type, error = %e.message, "refused control request");
    })?;
    match request {
        Request::Status { gateway } => {
            let report = status::report(config, ecs, gateway.as_deref()).await;
            serde_json::to_value(report).map_err(|e| FunctionError::new("Internal", format!("status report: {e}")))
        }
    }
}
