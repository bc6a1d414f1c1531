//! `task-events`: EventBridge `aws.ecs` task, service and deployment events of the watched
//! clusters -> signals -> the watchdog policy -> restarts, snapshot requests and owner notices.
//!
//! A malformed event fails the invocation (`MalformedEvent`) so Lambda's retries and the
//! dead-letter queue keep it; events of gateways that are not configured are ignored.

use std::time::{SystemTime, UNIX_EPOCH};

use clawkeeper_shared::aws::dynamodb::DynamoStore;
use clawkeeper_shared::aws::ecs::EcsClient;
use clawkeeper_shared::aws::invoke::SnapshotInvoker;
use clawkeeper_shared::aws::load_sdk_config;
use clawkeeper_shared::aws::sns::SnsNotifier;
use clawkeeper_shared::engine::{self, EngineError, Ports};
use clawkeeper_shared::lambda::{init_tracing, load_config};
use clawkeeper_shared::watch::{Dedupe, Input, Parsed, parse_ecs_event};
use clawkeeper_shared::{Config, FunctionError};
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
    init_tracing();
    let config = load_config("task-events")?;
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
    let parsed = parse_ecs_event(&event, &app.config.gateways).map_err(|e| {
        let id = event.get("id").and_then(Value::as_str).unwrap_or("<no id>");
        tracing::error!(event_id = id, error = %e, "malformed ECS event; failing so the retry path keeps it");
        FunctionError::new("MalformedEvent", e.to_string())
    })?;
    let (gateway_id, signal, dedupe) = match parsed {
        Parsed::Ignored { reason } => {
            tracing::debug!(reason = %reason, "event ignored");
            return Ok(json!({ "ignored": reason }));
        }
        Parsed::Signal {
            gateway,
            signal,
            dedupe,
        } => (gateway, signal, dedupe),
    };
    let Some(gateway) = app.config.gateway(&gateway_id) else {
        return Err(FunctionError::new(
            "Internal",
            format!("signal for gateway {gateway_id} that is not configured"),
        ));
    };
    let dedupe_key = match &dedupe {
        Dedupe::Key(key) => Some(key.as_str()),
        Dedupe::TaskVersion { .. } => None,
    };
    let ports = Ports {
        store: &app.store,
        notifier: &app.notifier,
        ecs: &app.ecs,
        snapshots: &app.snapshots,
    };
    let outcome = engine::handle(
        &ports,
        gateway,
        &app.config.policy,
        &Input::Signal(signal),
        dedupe_key,
        now_secs(),
    )
    .await
    .map_err(engine_failure)?;
    Ok(json!({
        "gateway": gateway.id,
        "duplicate": outcome.duplicate,
        "executed": outcome.executed,
        "phase": outcome.phase,
        "rev": outcome.rev,
    }))
}

fn engine_failure(e: EngineError) -> FunctionError {
    tracing::error!(error = %e, transient = e.is_transient(), "event not fully handled; Lambda will retry it");
    let error_type = if e.is_transient() { "Retryable" } else { "Failed" };
    FunctionError::new(error_type, e.to_string())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
