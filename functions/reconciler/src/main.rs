//! `reconciler`: the every-minute, level-triggered pass over every configured gateway.
//!
//! Built so far: the policy tick. For each gateway it runs the watchdog policy with
//! `Input::Tick`, which delivers what is due when no event arrives to carry it: a "down" notice
//! after the grace period, a resume after a crash-loop backoff, reminders and held notices.
//! Comparing with ECS, probes, single-writer checks and snapshot freshness come with the health issue.
//! One gateway's failure does not stop the others; the invocation then fails so it is visible.

use std::time::{SystemTime, UNIX_EPOCH};

use clawkeeper_shared::aws::dynamodb::DynamoStore;
use clawkeeper_shared::aws::ecs::EcsClient;
use clawkeeper_shared::aws::invoke::SnapshotInvoker;
use clawkeeper_shared::aws::load_sdk_config;
use clawkeeper_shared::aws::sns::SnsNotifier;
use clawkeeper_shared::engine::{self, Ports};
use clawkeeper_shared::lambda::{init_tracing, load_config};
use clawkeeper_shared::watch::Input;
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
    let config = load_config("reconciler")?;
    let sdk = load_sdk_config().await;
    let app = App {
        store: DynamoStore::new(&sdk, config.table.clone()),
        notifier: SnsNotifier::new(&sdk, config.topic_arn.clone()),
        ecs: EcsClient::new(&sdk),
        snapshots: SnapshotInvoker::new(&sdk, config.snapshot_function.clone()),
        config,
    };
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| tick_all(&app))).await
}

async fn tick_all(app: &App) -> Result<Value, FunctionError> {
    let ports = Ports {
        store: &app.store,
        notifier: &app.notifier,
        ecs: &app.ecs,
        snapshots: &app.snapshots,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for gateway in &app.config.gateways {
        match engine::handle(&ports, gateway, &app.config.policy, &Input::Tick, None, now).await {
            Ok(outcome) => report.push(json!({
                "gateway": gateway.id,
                "phase": outcome.phase,
                "executed": outcome.executed,
            })),
            Err(e) => {
                tracing::error!(gateway = %gateway.id, error = %e, "tick failed");
                failures.push(e.to_string());
                report.push(json!({ "gateway": gateway.id, "error": e.to_string() }));
            }
        }
    }
    if !failures.is_empty() {
        return Err(FunctionError::new("TickFailed", failures.join("; ")));
    }
    Ok(json!({ "gateways": report }))
}
