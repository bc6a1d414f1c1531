//! Benchmark peer: a minimal Rust Lambda that echoes its event. Same runtime crate and
//! release profile as the clawkeeper functions, no AWS SDK: the floor for cold start and size.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
