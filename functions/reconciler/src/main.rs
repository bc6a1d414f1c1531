//! `reconciler`: the every-minute, level-triggered pass over every configured gateway.
//!
//! For each gateway, concurrently (bounded): read ECS (service counts, deployment limits, RUNNING
//! tasks with their IPs, the task the state thinks runs if ECS no longer lists it), probe the
//! gateway (`probe_url`; else the task's private IP on port 18789, only when this function runs in
//! the gateway's VPC: `CLAWKEEPER_PROBE_TASK_IP=true`), check the age of the newest snapshot, and
//! run it all through the watchdog policy as one [`Input::Observed`], which also runs the
//! time-driven rules (due "down" notices, backoff resumes, reminders, channel grace).
//!
//! A probe that cannot be made (outside the VPC) or that never reaches the gateway is reported as
//! such, never as a failure: the policy stops a hung task only on answers it actually got.
//!
//! Where it reaches a live gateway with its token, it also reads `channels.status` over the
//! gateway's admin RPC (OpenClaw's opt-in `admin-http-rpc` plugin) and runs the `channels.start`
//! the policy plans for a channel account OpenClaw will not restart by itself (`channels.rs`).
//!
//! It prints CloudWatch embedded-metric lines (namespace `Clawkeeper`): `ReconcilerHeartbeat` for the
//! dead-man's-switch alarm, and per gateway `GatewayUp`, `GatewayReady`, `IncidentOpen`,
//! `SnapshotStale`. One gateway's failure does not stop the others; the invocation then fails.

mod channels;
mod pass;

use clawkeeper_aws::lambda::{moment, start};
use clawkeeper_core::health::TokenCache;
use clawkeeper_openclaw::admin_rpc::AdminRpc;
use clawkeeper_openclaw::probe::Prober;
use lambda_runtime::{LambdaEvent, service_fn};
use pass::{ADMIN_RPC_TIMEOUT, App, PROBE_TIMEOUT, TOKEN_TTL};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, adapters) = start("reconciler").await?;
    let app = App {
        config,
        adapters,
        prober: Prober::new(PROBE_TIMEOUT)?,
        admin: AdminRpc::new(Prober::new(ADMIN_RPC_TIMEOUT)?),
        tokens: TokenCache::new(TOKEN_TTL),
    };
    // Lives as long as the process: gateway passes run as tasks that borrow it.
    let app: &'static App = Box::leak(Box::new(app));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        pass::reconcile_all(app, moment(&event.context))
    }))
    .await
}
