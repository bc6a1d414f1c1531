//! `control`: owners' requests (`aws lambda invoke` or the `clawkeeper` CLI), JSON in, JSON out.
//!
//! Actions: `status`, `restart`, `pause`, `resume`, `silence`, `history`, `snapshot`, `snapshots`,
//! `restore` (see `request.rs` for each one's fields). Changes go through the watchdog engine as
//! owner requests, so the watchdog respects them and the incident log records who asked.

mod actions;
mod app;
mod caller;
mod functions;
mod request;
mod restore;
mod snapshots;
mod status;

use std::time::Duration;

use clawkeeper_shared::FunctionError;
use clawkeeper_shared::aws::dynamodb::DynamoStore;
use clawkeeper_shared::aws::ecs::EcsClient;
use clawkeeper_shared::aws::invoke::SnapshotInvoker;
use clawkeeper_shared::aws::load_sdk_config;
use clawkeeper_shared::aws::s3::S3Store;
use clawkeeper_shared::aws::sns::SnsNotifier;
use clawkeeper_shared::ecs::{Ecs, EcsControl};
use clawkeeper_shared::engine::SnapshotRequester;
use clawkeeper_shared::lambda::{init_tracing, load_config};
use clawkeeper_shared::notifier::Notifier;
use clawkeeper_shared::snapshot::ObjectStore;
use clawkeeper_shared::store::StateStore;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use app::{App, now_secs};
use functions::{Functions, LambdaFunctions};
use request::Request;

/// Longest wait for a snapshot or restore function's answer (Lambda's own limit is 15 minutes).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(870);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = load_config("control")?;
    let sdk = load_sdk_config().await;
    let poll_ms = std::env::var("CLAWKEEPER_POLL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(2000);
    let app = App {
        store: DynamoStore::new(&sdk, config.table.clone()),
        notifier: SnsNotifier::new(&sdk, config.topic_arn.clone()),
        ecs: EcsClient::new(&sdk),
        snapshots: SnapshotInvoker::new(&sdk, config.snapshot_function.clone()),
        objects: S3Store::new(&sdk, &config.bucket),
        functions: LambdaFunctions::new(&sdk, INVOKE_TIMEOUT),
        poll: Duration::from_millis(poll_ms),
        config,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(&app, event))).await
}

async fn handle<S, N, E, R, O, F>(
    app: &App<S, N, E, R, O, F>,
    event: LambdaEvent<Value>,
) -> Result<Value, FunctionError>
where
    S: StateStore + Sync,
    N: Notifier + Sync,
    E: Ecs + EcsControl + Sync,
    R: SnapshotRequester + Sync,
    O: ObjectStore,
    F: Functions + Sync,
{
    let request = request::parse(&event.payload, &app.config).inspect_err(|e| {
        tracing::warn!(error_type = e.error_type, error = %e.message, "refused control request");
    })?;
    let by = caller::identify(&event.context);
    tracing::info!(action = request.action(), by = %by, "control request");
    let now = now_secs();
    let answer = match request {
        Request::Status { gateway } => app.status(gateway.as_deref()).await,
        Request::Restart { gateway, force } => app.restart(&gateway, force, &by, now).await,
        Request::Pause { gateway } => app.pause(&gateway, &by, now).await,
        Request::Resume { gateway } => app.resume(&gateway, &by, now).await,
        Request::Silence {
            gateway,
            minutes,
            reason,
        } => app.silence(&gateway, minutes, reason, &by, now).await,
        Request::History { gateway, days } => app.history(gateway.as_deref(), days, now).await,
        Request::Snapshot { gateway } => app.snapshot(&gateway, &by, now).await,
        Request::Snapshots { gateway, limit } => app.list_snapshots(gateway.as_deref(), limit).await,
        Request::Restore {
            gateway,
            snapshot,
            stop_timeout_secs,
            health_timeout_secs,
        } => {
            let waits = restore::Waits {
                stop_timeout_secs,
                health_timeout_secs,
            };
            let report = app.restore(&gateway, &snapshot, waits, &by).await?;
            serde_json::to_value(report).map_err(|e| FunctionError::new("Internal", format!("restore report: {e}")))
        }
    };
    answer.inspect_err(|e| tracing::warn!(error_type = e.error_type, error = %e.message, "control action failed"))
}
