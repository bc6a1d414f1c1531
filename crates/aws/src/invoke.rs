//! [`SnapshotRequester`] over `aws-sdk-lambda`: an asynchronous (`Event`) invoke of the snapshot
//! function, so the watchdog hands off the work and returns at once.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use clawkeeper_core::aws_error::{AwsError, Retry};
use clawkeeper_core::ports::SnapshotRequester;

use super::FromSdk;

/// Invokes the snapshot function, or only logs when none is configured.
#[derive(Debug, Clone)]
pub struct SnapshotInvoker {
    client: Client,
    function: Option<String>,
}

impl SnapshotInvoker {
    /// `function`: the snapshot function's name or ARN (`CLAWKEEPER_SNAPSHOT_FUNCTION`).
    pub fn new(sdk: &aws_config::SdkConfig, function: Option<String>) -> Self {
        Self {
            client: Client::new(sdk),
            function,
        }
    }
}

impl SnapshotRequester for SnapshotInvoker {
    async fn request_snapshot(&self, gateway: &str, trigger: &str) -> Result<(), AwsError> {
        let Some(function) = &self.function else {
            tracing::warn!(
                gateway,
                trigger,
                "no snapshot function configured; snapshot request skipped"
            );
            return Ok(());
        };
        let payload = serde_json::json!({ "gateway": gateway, "trigger": trigger }).to_string();
        let out = self
            .client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("lambda", "Invoke", e))?;
        if out.status_code() != 202 {
            return Err(AwsError {
                service: "lambda",
                operation: "Invoke",
                code: None,
                retry: Retry::Transient,
                message: format!("asynchronous invoke answered status {}", out.status_code()),
            });
        }
        tracing::info!(gateway, trigger, "snapshot requested");
        Ok(())
    }
}
