//! [`Notifier`] over `aws-sdk-sns`: publishes to the owner's topic with the message attributes
//! `gateway`, `kind` and `severity`, which subscriptions can filter on.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_smithy_types::error::display::DisplayErrorContext;
use clawkeeper_core::aws_error::{AwsError, Retry};
use clawkeeper_core::notifier::{Publication, fit_message, fit_subject};
use clawkeeper_core::ports::{Notifier, OwnerSubscriptions};
use clawkeeper_core::registry::filter_policy;
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

fn sns_error(operation: &'static str, e: impl std::fmt::Display) -> AwsError {
    AwsError {
        service: "sns",
        operation,
        code: None,
        retry: Retry::Permanent,
        message: e.to_string(),
    }
}

impl OwnerSubscriptions for SnsNotifier {
    async fn subscribe(&self, email: &str, gateways: &[String]) -> Result<String, AwsError> {
        let out = self
            .client
            .subscribe()
            .topic_arn(&self.topic_arn)
            .protocol("email")
            .endpoint(email)
            .attributes("FilterPolicyScope", "MessageAttributes")
            .attributes("FilterPolicy", filter_policy(gateways))
            // Without it SNS answers "pending confirmation" instead of the ARN the registry keeps.
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sns", "Subscribe", e))?;
        let arn = out
            .subscription_arn()
            .filter(|arn| arn.starts_with("arn:"))
            .ok_or_else(|| sns_error("Subscribe", "SNS answered without a subscription ARN"))?;
        info!(gateways = gateways.len(), "owner subscribed (confirmation e-mail sent)");
        Ok(arn.to_string())
    }

    async fn set_gateways(&self, subscription_arn: &str, gateways: &[String]) -> Result<(), AwsError> {
        self.client
            .set_subscription_attributes()
            .subscription_arn(subscription_arn)
            .attribute_name("FilterPolicy")
            .attribute_value(filter_policy(gateways))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sns", "SetSubscriptionAttributes", e))?;
        Ok(())
    }

    async fn find(&self, email: &str) -> Result<Option<String>, AwsError> {
        let mut pages = self
            .client
            .list_subscriptions_by_topic()
            .topic_arn(&self.topic_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("sns", "ListSubscriptionsByTopic", e))?;
            if let Some(found) = page
                .subscriptions()
                .iter()
                .find(|s| s.protocol() == Some("email") && s.endpoint().is_some_and(|e| e.eq_ignore_ascii_case(email)))
            {
                return Ok(Some(
                    found.subscription_arn().unwrap_or("PendingConfirmation").to_string(),
                ));
            }
        }
        Ok(None)
    }

    async fn unsubscribe(&self, subscription_arn: &str) -> Result<(), AwsError> {
        self.client
            .unsubscribe()
            .subscription_arn(subscription_arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sns", "Unsubscribe", e))?;
        Ok(())
    }
}
