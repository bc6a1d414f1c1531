//! `log-alerts`: the CloudWatch Logs subscription on the gateway's log group -> channel signals
//! (logged out, conflict, gave up, reconnected...) -> the watchdog policy -> owner notices.
//!
//! A payload that does not decode fails the invocation (`MalformedPayload`) so the retry path keeps
//! it; a control message is acknowledged. Each log event is handled once: its CloudWatch event id is
//! the dedupe key the engine stores with the state. Lines are never logged (they may carry personal
//! data or secrets): only their classification and event id.

use std::time::{SystemTime, UNIX_EPOCH};

use clawkeeper_shared::aws::dynamodb::DynamoStore;
use clawkeeper_shared::aws::ecs::EcsClient;
use clawkeeper_shared::aws::invoke::SnapshotInvoker;
use clawkeeper_shared::aws::load_sdk_config;
use clawkeeper_shared::aws::sns::SnsNotifier;
use clawkeeper_shared::channel_log::{classify_line, decode_subscription};
use clawkeeper_shared::ecs::Ecs;
use clawkeeper_shared::engine::{self, Ports};
use clawkeeper_shared::watch::{ChannelEvent, ChannelSignal, Input};
use clawkeeper_shared::{Config, FunctionError, Gateway, GatewayTarget};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

struct App {
    config: Config,
    store: DynamoStore,
    notifier: SnsNotifier,
    ecs: EcsClient,
    snapshots: SnapshotInvoker,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    clawkeeper_shared::lambda::init_tracing();
    let config = clawkeeper_shared::lambda::load_config("log-alerts")?;
    let sdk = load_sdk_config().await;
    let app = App {
        store: DynamoStore::new(&sdk, config.table.clone()),
        notifier: SnsNotifier::new(&sdk, config.topic_arn.clone()),
        ecs: EcsClient::new(&sdk),
        snapshots: SnapshotInvoker::new(&sdk, config.snapshot_function.clone()),
        config,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(&app, event.payload))).await
}

async fn handle(app: &App, event: Value) -> Result<Value, FunctionError> {
    let data = decode_subscription(&event).map_err(|e| {
        tracing::error!(error = %e, "undecodable log subscription payload; failing so the retry path keeps it");
        FunctionError::new("MalformedPayload", e.to_string())
    })?;
    if data.is_control() {
        tracing::info!("CloudWatch Logs control message acknowledged");
        return Ok(json!({ "control": true }));
    }
    let Some(gateway) = app
        .config
        .gateways
        .iter()
        .find(|g| g.log_group.as_deref() == Some(data.log_group.as_str()))
    else {
        // Retrying cannot help: the subscription points at a group no gateway is configured with.
        tracing::warn!(log_group = %data.log_group, events = data.log_events.len(), "log group of no configured gateway; ignored");
        return Ok(json!({ "ignored": format!("log group {} is not a configured gateway's", data.log_group) }));
    };
    let ports = Ports {
        store: &app.store,
        notifier: &app.notifier,
        ecs: &app.ecs,
        snapshots: &app.snapshots,
    };
    let mut handled = Vec::new();
    let mut ignored = 0usize;
    let mut failures = Vec::new();
    for log_event in &data.log_events {
        let Some(classified) = classify_line(&log_event.message) else {
            ignored += 1;
            continue;
        };
        let conflict = matches!(classified.kind, ChannelEvent::Conflict | ChannelEvent::TelegramConflict);
        // A conflict is checked against ECS: two tasks at once is the usual cause (single writer).
        let running_tasks = if conflict {
            running_tasks(app, gateway).await
        } else {
            None
        };
        tracing::info!(
            gateway = %gateway.id, event_id = %log_event.id, channel = %classified.channel,
            account = classified.account.as_deref().unwrap_or("default"), kind = classified.kind.as_str(),
            running_tasks, "channel signal"
        );
        let signal = ChannelSignal {
            channel: classified.channel,
            account: classified.account,
            kind: classified.kind,
            at: log_event.timestamp.div_euclid(1000),
            running_tasks,
        };
        let dedupe = format!("log/{}", log_event.id);
        match engine::handle(
            &ports,
            gateway,
            &app.config.policy,
            &Input::Channel(signal),
            Some(&dedupe),
            now_secs(),
        )
        .await
        {
            Ok(outcome) => handled.push(json!({
                "event_id": log_event.id,
                "kind": classified.kind.as_str(),
                "duplicate": outcome.duplicate,
                "executed": outcome.executed,
            })),
            Err(e) => {
                // Keep going: the events already handled are deduplicated when Lambda retries the batch.
                tracing::error!(gateway = %gateway.id, event_id = %log_event.id, error = %e, "signal not handled");
                failures.push((e.is_transient(), e.to_string()));
            }
        }
    }
    if !failures.is_empty() {
        let error_type = if failures.iter().all(|(t, _)| *t) {
            "Retryable"
        } else {
            "Failed"
        };
        let message: Vec<String> = failures.into_iter().map(|(_, m)| m).collect();
        return Err(FunctionError::new(error_type, message.join("; ")));
    }
    Ok(json!({ "gateway": gateway.id, "signals": handled, "ignored": ignored }))
}

/// RUNNING tasks of the gateway, or `None` when ECS cannot say (the signal is handled anyway).
async fn running_tasks(app: &App, gateway: &Gateway) -> Option<u32> {
    let count = match &gateway.target {
        GatewayTarget::Service(service) => match app.ecs.describe_service(&gateway.cluster, service).await {
            Ok(Ok(view)) => Some(view.running),
            Ok(Err(missing)) => {
                tracing::warn!(gateway = %gateway.id, reason = %missing.reason, "service not found for the conflict check");
                None
            }
            Err(e) => {
                tracing::warn!(gateway = %gateway.id, error = %e, "conflict check: ECS not readable");
                None
            }
        },
        GatewayTarget::Standalone { family } => match app.ecs.family_tasks(&gateway.cluster, family, "RUNNING").await {
            Ok(tasks) => i32::try_from(tasks.len()).ok(),
            Err(e) => {
                tracing::warn!(gateway = %gateway.id, error = %e, "conflict check: ECS not readable");
                None
            }
        },
    };
    count.and_then(|n| u32::try_from(n).ok())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
