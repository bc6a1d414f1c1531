//! [`Notifier`] over `aws-sdk-sns`: publishes to the owner's topic with the message attributes
//! `gateway`, `kind` and `severity`, which subscriptions can filter on.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_smithy_types::error::display::DisplayErrorContext;
use clawkeeper_core::aws_error::{AwsError, Retry};
use clawkeeper_core::notifier::{Publication, fit_message, fit_subject};
use clawkeeper_core::ports::Notifier;
use tracing::info;

use super::FromSdk;

/// The SNS adapter, bound to one topic (`CLAWKEEPER_TOPIC_ARN`).
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// Builds the client from the shared SDK configuration.
    pub fn new(sdk: &aws_config::SdkConfig, topic_arn: impl Into<String>) -> Self {
        Self {
            client: Client::new(sdk),
            topic_arn: topic_arn.into(),
        }
    }

    /// The topic this notifier publishes to.
    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, AwsError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| AwsError {
            service: "sns",
            operation: "Publish",
            code: None,
            retry: Retry::Permanent,
            message: DisplayErrorContext(&e).to_string(),
        })
}

impl Notifier for SnsNotifier {
    async fn publish(&self, publication: &Publication) -> Result<String, AwsError> {
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(fit_message(&publication.message));
        // SNS rejects an empty subject; without one, e-mail shows its default.
        let subject = fit_subject(&publication.subject);
        if !subject.is_empty() {
            request = request.subject(subject);
        }
        for (name, value) in [
            ("gateway", &publication.gateway),
            ("kind", &publication.kind),
            ("severity", &publication.severity),
        ] {
            // SNS rejects an attribute with an empty value; a missing one only escapes filters.
            if !value.is_empty() {
                request = request.message_attributes(name, string_attribute(value)?);
            }
        }
        let out = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sns", "Publish", e))?;
        let message_id = out.message_id().unwrap_or_default().to_string();
        // Never the body or the subject: they may carry details of the gateway.
        info!(
            gateway = %publication.gateway,
            kind = %publication.kind,
            severity = %publication.severity,
            message_id = %message_id,
            "notification published"
        );
        Ok(message_id)
    }
}
