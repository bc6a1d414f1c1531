//! Synchronous invokes of the other clawkeeper functions (snapshot, restore) behind a small
//! trait, so the actions are tested with fakes; the adapter is `aws-sdk-lambda`.

use std::future::Future;
use std::time::Duration;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use clawkeeper_aws::FromSdk;
use clawkeeper_core::AwsError;
use serde_json::Value;

/// Why an invoke did not answer.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// Lambda could not be asked (permissions, throttling, network).
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The function ran and reported an error.
    #[error("{function} failed ({error_type}): {message}")]
    Function {
        /// The invoked function.
        function: String,
        /// Its `errorType`.
        error_type: String,
        /// Its `errorMessage`.
        message: String,
    },
}

/// Invokes a function and waits for its answer.
pub trait Functions {
    /// Invokes `function` with `payload` (RequestResponse) and returns its JSON answer, waiting
    /// at most `timeout` (sized by the caller from what its own invocation has left).
    fn invoke(
        &self,
        function: &str,
        payload: &Value,
        timeout: Duration,
    ) -> impl Future<Output = Result<Value, InvokeError>> + Send;
}

/// [`Functions`] over `aws-sdk-lambda`.
#[derive(Debug, Clone)]
pub struct LambdaFunctions {
    client: Client,
}

impl LambdaFunctions {
    /// A client that never retries (a snapshot or a restore must not run twice because an answer
    /// was slow); each invoke says how long it waits.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let config = aws_sdk_lambda::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }
}

impl Functions for LambdaFunctions {
    async fn invoke(&self, function: &str, payload: &Value, timeout: Duration) -> Result<Value, InvokeError> {
        let waits = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(timeout)
            .operation_timeout(timeout)
            .build();
        let out = self
            .client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload.to_string()))
            .customize()
            .config_override(aws_sdk_lambda::config::Builder::default().timeout_config(waits))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("lambda", "Invoke", e))?;
        let body: Value = out
            .payload()
            .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
            .unwrap_or(Value::Null);
        if out.function_error().is_some() {
            return Err(InvokeError::Function {
                function: function.to_string(),
                error_type: body["errorType"].as_str().unwrap_or("Unhandled").to_string(),
                message: body["errorMessage"]
                    .as_str()
                    .unwrap_or("the function failed without a message")
                    .to_string(),
            });
        }
        Ok(body)
    }
}
