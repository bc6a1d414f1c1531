//! [`TokenSource`] over `aws-sdk-secretsmanager`: the gateway token, with the secret's version id so
//! a token the gateway rejected is recognised (and never sent again) until the secret changes.

use aws_sdk_secretsmanager::Client;
use clawkeeper_core::aws_error::AwsError;
use clawkeeper_core::health::GatewayToken;
use clawkeeper_core::ports::TokenSource;

use super::FromSdk;

/// The Secrets Manager adapter.
#[derive(Debug, Clone)]
pub struct SecretsClient {
    client: Client,
}

impl SecretsClient {
    /// Builds the client from the shared SDK configuration.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(sdk),
        }
    }
}

impl TokenSource for SecretsClient {
    async fn token(&self, secret_arn: &str) -> Result<GatewayToken, AwsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(secret_arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("secretsmanager", "GetSecretValue", e))?;
        Ok(GatewayToken::new(
            out.secret_string().unwrap_or_default(),
            out.version_id().unwrap_or("unknown"),
        ))
    }
}
