//! `reconciler`: the every-minute, level-triggered pass over every configured gateway.
//!
//! Each run reads the fleet (seeds and registry), every gateway's state and snapshot status (when
//! its state was last saved, its run of snapshot failures) and ECS view in a few batched calls
//! (services 10 at a time, one task listing per cluster), then for each gateway, concurrently
//! (bounded): the task the state thinks runs if ECS no longer lists it and a probe of the gateway
//! (`probe_url`; else the task's private IP on port 18789, only when this function runs in the
//! gateway's VPC: `CLAWKEEPER_PROBE_TASK_IP=true`), all run through the watchdog policy as one [`Input::Observed`], which also runs the time-driven rules
//! (due "down" notices, backoff resumes, reminders, channel grace). Probes end 15 s before the
//! invocation does: a gateway not probed by then is unknown this run, and the others go on.
//!
//! A probe that cannot be made (outside the VPC) or that never reaches the gateway is reported as
//! such, never as a failure: the policy stops a hung task only on answers it actually got.
//!
//! Where it reaches a live gateway with its token, it also reads `channels.status` over the
//! gateway's admin RPC (OpenClaw's opt-in `admin-http-rpc` plugin) and runs the `channels.start`
//! the policy plans for a channel account OpenClaw will not restart by itself (`channels.rs`).
//!
//! It prints one CloudWatch embedded-metric line per run (namespace `Clawkeeper`, no dimensions):
//! `ReconcilerHeartbeat` for the dead-man's-switch alarm and the fleet's totals (`GatewaysWatched`,
//! `GatewaysUp`, `GatewaysDown`, `GatewaysUnknown`, `IncidentsOpen`, `SnapshotsStale`,
//! `ReconcileMillis`), and one `fleet gateway` log line per gateway. One gateway's failure does
//! not stop the others; the invocation then fails.

mod channels;
mod pass;

use clawkeeper_aws::lambda::{moment, start, time_left};
use clawkeeper_core::health::TokenCache;
use clawkeeper_openclaw::admin_rpc::AdminRpc;
use clawkeeper_openclaw::probe::Prober;
use lambda_runtime::{LambdaEvent, service_fn};
use pass::{ADMIN_RPC_TIMEOUT, App, PROBE_TIMEOUT, TOKEN_TTL};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, adapters) = start("reconciler")?;
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
        pass::reconcile_all(app, moment(&event.context), time_left(&event.context))
    }))
    .await
}
