//! The `test` action: a `test` notice (severity info) through the owner's real topic, then every
//! check of a working deployment, run with control's own role so that automation and the CLI's
//! `doctor` see the same answer. Each check says what it found and, when it fails, the fix
//! ([`verdicts`]); the report's `ok` is false when any check failed.

mod cloudwatch;
mod verdicts;

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use clawkeeper_aws::FunctionError;
use clawkeeper_core::control::doctor::{Check, DoctorReport};
use clawkeeper_core::engine::Moment;
use clawkeeper_core::notifier::Publication;
use clawkeeper_core::ports::{Notifier, StateStore};
use clawkeeper_core::watch::state::GatewayState;
use clawkeeper_core::{Config, Gateway};
use clawkeeper_snapshot::catalog;
use serde_json::Value;

use crate::app::App;
use cloudwatch::CloudWatch;
use verdicts::Subscription;

/// Where the reconciler's heartbeat goes (crates/aws/src/metrics.rs, functions/reconciler).
const HEARTBEAT_NAMESPACE: &str = "Clawkeeper";
const HEARTBEAT_METRIC: &str = "ReconcilerHeartbeat";
const HEARTBEAT_WINDOW: Duration = Duration::from_secs(30 * 60);

impl App<'_> {
    /// `test`: the notice, then the deployment's checks and those of one gateway or all.
    pub async fn test(&self, only: Option<&str>, by: &str, at: Moment) -> Result<Value, FunctionError> {
        let topic = self.adapters.notifier.topic_arn().to_string();
        let gateways: Vec<&Gateway> = self
            .config
            .gateways
            .iter()
            .filter(|g| only.is_none_or(|id| g.id == id))
            .collect();
        let published = self
            .adapters
            .notifier
            .publish(&test_notice(&self.config, &gateways, by))
            .await
            .map_err(|e| e.to_string());
        let mut checks = vec![
            verdicts::notice(published, &topic),
            verdicts::subscriptions(self.subscriptions(&topic).await, &topic),
        ];
        match CloudWatch::new(&self.adapters.sdk) {
            Ok(cw) => {
                let alarms = if self.config.alarm_names.is_empty() {
                    Ok(Vec::new())
                } else {
                    cw.alarms(&self.config.alarm_names).await
                };
                checks.push(verdicts::alarms(&self.config.alarm_names, alarms, &topic));
                let newest = cw
                    .newest_datapoint(HEARTBEAT_NAMESPACE, HEARTBEAT_METRIC, at.now, HEARTBEAT_WINDOW)
                    .await;
                checks.push(verdicts::heartbeat(newest, at.now));
            }
            Err(e) => {
                checks.push(verdicts::alarms(&self.config.alarm_names, Err(e.clone()), &topic));
                checks.push(verdicts::heartbeat(Err(e), at.now));
            }
        }
        let queue = self.config.dead_letter_queue_url.as_deref();
        checks.push(verdicts::dead_letters(queue, self.dead_letters(queue).await));
        for gateway in gateways {
            checks.extend(self.gateway_checks(gateway, at.now).await);
        }
        serde_json::to_value(DoctorReport::new(checks))
            .map_err(|e| FunctionError::new("Internal", format!("test report: {e}")))
    }

    async fn gateway_checks(&self, gateway: &Gateway, now: i64) -> Vec<Check> {
        let interval = if self.config.snapshot_function.is_some() {
            self.config.policy.snapshot_interval_secs
        } else {
            0
        };
        let newest = if interval == 0 {
            Ok(None)
        } else {
            catalog::newest_first(&self.adapters.objects, &gateway.id)
                .await
                .map(|list| list.into_iter().next().map(|s| (s.name, s.taken_at_millis / 1000)))
                .map_err(|e| e.to_string())
        };
        let snapshot = verdicts::snapshot(&gateway.id, interval, newest, now);
        let probe = match self.adapters.store.load::<GatewayState>(&gateway.id).await {
            Ok(stored) => verdicts::probe(&gateway.id, stored.as_ref().and_then(|s| s.state.health.probe.as_ref())),
            Err(e) => Check::new(
                "probe",
                clawkeeper_core::control::doctor::Verdict::Fail,
                format!("the watchdog state could not be read: {e}"),
            )
            .fix("the control function must be allowed dynamodb:GetItem on the state table")
            .of(&gateway.id),
        };
        vec![snapshot, probe]
    }

    async fn subscriptions(&self, topic: &str) -> Result<Vec<Subscription>, String> {
        let sns = aws_sdk_sns::Client::new(&self.adapters.sdk);
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = sns
                .list_subscriptions_by_topic()
                .topic_arn(topic)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())?;
            out.extend(page.subscriptions().iter().map(|s| Subscription {
                protocol: s.protocol().unwrap_or_default().to_string(),
                endpoint: s.endpoint().unwrap_or_default().to_string(),
                arn: s.subscription_arn().unwrap_or_default().to_string(),
            }));
            match page.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn dead_letters(&self, queue: Option<&str>) -> Result<u64, String> {
        let Some(queue) = queue else { return Ok(0) };
        let sqs = aws_sdk_sqs::Client::new(&self.adapters.sdk);
        let answer = sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())?;
        let count = |name: QueueAttributeName| {
            answer
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
    }
}

/// The `test` notice: what a real notice looks like, with the attributes subscriptions filter on.
fn test_notice(config: &Config, gateways: &[&Gateway], by: &str) -> Publication {
    let ids: Vec<&str> = gateways.iter().map(|g| g.id.as_str()).collect();
    let gateway = match ids.as_slice() {
        [one] => (*one).to_string(),
        _ => config.gateways.first().map(|g| g.id.clone()).unwrap_or_default(),
    };
    Publication {
        subject: format!("clawkeeper test notice for {}", ids.join(", ")),
        message: format!(
            "This is a test notice from clawkeeper, asked for by {by}.\n\n\
             If you read this, notices about {} reach you. Nothing needs doing.",
            ids.join(", ")
        ),
        gateway,
        kind: "test".into(),
        severity: "info".into(),
    }
}
