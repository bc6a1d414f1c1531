//! `bench_fleet`: what a fleet costs the functions, in one run. Printed to stdout as a Markdown
//! section (`make bench` appends it to `docs/BENCHMARKS.md`) and written to
//! `docs/fleet-bench.json` (`BENCH_FLEET_JSON` names another file), which `scripts/cost.py`
//! prices the fleet from.
//!
//! 1. The reconciler's steady run (the run after a first one wrote the states) over 10, 100 and
//!    1,000 gateways registered in the registry, all in one cluster, each probed at a live
//!    loopback stub, nine in ten with a RUNNING task in their service's group; with snapshots off
//!    and on. Per run: AWS calls by service and operation, wall time, CPU time and peak resident
//!    memory (`VmHWM`) of a process started for that fleet size.
//! 2. A burst of 1,000 task-stopped events (two crashes of a task of each of 200 gateways and
//!    their redeliveries) through three `task-events` processes at once: events per second, AWS
//!    calls per event, and the notices per gateway, which must be exactly one: a run that lost
//!    or duplicated one prints no figures.
//!
//! The functions run from `CLAWKEEPER_BIN_DIR` (release builds, as deployed) behind the counting
//! proxy in front of moto. `BENCH_FLEET_SIZES` (comma-separated) replaces the fleet sizes. No
//! assertion on time: numbers only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clawkeeper_tests::bench_support::{
    CallCounts, command_output, count_calls, cpu_ns, machine, measure_invocation, service_total, status_kib,
};
use clawkeeper_tests::consts::{POLICY_NOTIFY_AT_ONCE, TABLE};
use clawkeeper_tests::fault_proxy::FaultProxy;
use clawkeeper_tests::fleet_load::{
    SerialProxy, crash_burst, create_services, deliver_round_robin, fleet_gateway, fleet_id, fleet_service, register,
    run_tasks,
};
use clawkeeper_tests::stub::Stub;
use clawkeeper_tests::{FunctionProcess, Invocation, Stack, set_env, workspace_root};
use serde_json::{Value, json};

const SIZES: &[usize] = &[10, 100, 1_000];
const BURST_GATEWAYS: usize = 200;
const BURST_EVENTS_PER_GATEWAY: usize = 5;
const BURST_INSTANCES: usize = 3;
/// The services' names in the answers and the document, in this order.
const SERVICE_NAMES: &[(&str, &str)] = &[
    ("dynamodb", "DynamoDB"),
    ("ecs", "ECS"),
    ("s3", "S3"),
    ("secretsmanager", "Secrets Manager"),
    ("sns", "SNS"),
    ("lambda", "Lambda"),
    ("unknown", "other"),
];
/// A first run over 1,000 new gateways writes 1,000 states: give it time on a slow machine.
const FIRST_RUN_WAIT: Duration = Duration::from_secs(600);
const STEADY_RUN_WAIT: Duration = Duration::from_secs(300);

/// One measured steady run of the reconciler.
struct SteadyRun {
    gateways: usize,
    snapshots: bool,
    calls: CallCounts,
    total: usize,
    wall_ms: f64,
    cpu_ms: f64,
    peak_kib: u64,
    /// Bytes the run logged (what CloudWatch Logs ingests, Lambda's own records aside).
    log_bytes: usize,
}

/// The measured burst through `task-events`.
struct BurstRun {
    gateways: usize,
    events: usize,
    instances: usize,
    seconds: f64,
    calls: CallCounts,
    total: usize,
    cpu_ms: f64,
    peak_kib: u64,
    /// Notices that reached the inbox, per gateway: (fewest, most).
    notices: (usize, usize),
}

#[tokio::main]
async fn main() {
    let sizes = sizes();
    let steady = steady_runs(&sizes).await;
    let burst = burst_run().await;
    let json_path = std::env::var("BENCH_FLEET_JSON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("docs/fleet-bench.json"));
    let document = serde_json::to_string_pretty(&to_json(&steady, &burst)).expect("JSON") + "\n";
    if let Err(e) = std::fs::write(&json_path, document) {
        fail(&format!("cannot write {}: {e}", json_path.display()));
    }
    eprintln!("bench_fleet: wrote {}", json_path.display());
    print!("{}", render(&steady, &burst));
}

fn fail(message: &str) -> ! {
    eprintln!("bench_fleet: {message}");
    std::process::exit(1);
}

fn sizes() -> Vec<usize> {
    match std::env::var("BENCH_FLEET_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .unwrap_or_else(|_| fail(&format!("BENCH_FLEET_SIZES: {n:?}")))
            })
            .collect(),
        Err(_) => SIZES.to_vec(),
    }
}

/// One gateway in ten has no task: a real fleet's run judges some gateways down.
fn runs_a_task(i: usize) -> bool {
    i % 10 != 9
}

/// A stack whose functions reach moto through the counting proxy, in front of the proxy that
/// lets moto serve one request at a time (its transactions are not safe under concurrent ones).
struct Counted {
    stack: Stack,
    proxy: FaultProxy,
    _line: SerialProxy,
}

/// The proxy only counts here: one attempt per call, with time enough that a busy machine never
/// gives up on a call that went through.
/// Both measurements use a policy that tells the owner at once: a reconciler's first run has told
/// of every gateway down, so no "down" notice falls due during the measured run, and a burst's
/// first crash of a gateway is its notice.
async fn counted_stack(running_task: bool) -> Counted {
    let builder = Stack::builder()
        .gateways(json!([]))
        .policy(POLICY_NOTIFY_AT_ONCE)
        .with_bucket()
        .env("CLAWKEEPER_AWS_ATTEMPT_TIMEOUT_MS", "20000")
        // Logged as deployed (the template's LoggingConfig): JSON lines at INFO.
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("RUST_LOG", "info");
    let builder = if running_task {
        builder.with_running_task()
    } else {
        builder.with_service()
    };
    let mut stack = builder.start().await;
    let line = SerialProxy::start(&stack.moto.endpoint());
    let proxy = FaultProxy::start(&line.endpoint());
    set_env(&mut stack.env, "AWS_ENDPOINT_URL", proxy.endpoint());
    Counted {
        stack,
        proxy,
        _line: line,
    }
}

/// Adds gateways to the fleet until it has `size`: their services, a task in most of them, and
/// their registrations.
async fn grow_fleet(stack: &Stack, from: usize, size: usize, probe_url: &str) {
    let ids: Vec<String> = (from..size).map(fleet_id).collect();
    let services: Vec<String> = ids.iter().map(|id| fleet_service(id)).collect();
    create_services(&stack.sdk, &services).await;
    let running: Vec<String> = (from..size)
        .filter(|i| runs_a_task(*i))
        .map(|i| fleet_service(&fleet_id(i)))
        .collect();
    run_tasks(&stack.sdk, stack.network(), &running).await;
    let gateways: Vec<Value> = ids.iter().map(|id| fleet_gateway(id, Some(probe_url))).collect();
    register(&stack.sdk, TABLE, &gateways).await;
}

async fn steady_runs(sizes: &[usize]) -> Vec<SteadyRun> {
    let counted = counted_stack(true).await;
    let live = Stub::live();
    let mut runs = Vec::new();
    let mut watched = 0;
    for &size in sizes {
        eprintln!("bench_fleet: {size} gateways");
        grow_fleet(&counted.stack, watched, size, &live.url).await;
        watched = size;
        for snapshots in [false, true] {
            runs.push(steady_run(&counted, size, snapshots));
        }
    }
    runs
}

/// A reconciler process started for this fleet: a first run writes the states, the second is
/// measured. Snapshots on: each gateway's snapshot freshness is checked (hourly schedule).
fn steady_run(counted: &Counted, size: usize, snapshots: bool) -> SteadyRun {
    let interval = if snapshots { "3600" } else { "0" };
    let env = counted
        .stack
        .env_with(&[("CLAWKEEPER_SNAPSHOT_INTERVAL_SECS", interval)]);
    let mut reconciler = FunctionProcess::spawn("reconciler", &env);
    let tick = json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"});
    let first = reconciler.invoke_within(&tick, FIRST_RUN_WAIT);
    expect_fleet_answer(&first, size, &reconciler);
    let logged_before = settled_log_bytes(&reconciler);
    let run = measure_invocation(&mut reconciler, &counted.proxy, &tick, STEADY_RUN_WAIT);
    expect_fleet_answer(&run.outcome, size, &reconciler);
    let log_bytes = settled_log_bytes(&reconciler) - logged_before;
    SteadyRun {
        gateways: size,
        snapshots,
        calls: count_calls(&run.calls),
        total: run.calls.len(),
        wall_ms: run.wall_ms,
        cpu_ms: run.cpu_ms,
        peak_kib: status_kib(reconciler.pid(), "VmHWM:").unwrap_or(0),
        log_bytes,
    }
}

/// The bytes the process has logged, once its output pipes have been read to the end of the run.
fn settled_log_bytes(process: &FunctionProcess) -> usize {
    std::thread::sleep(Duration::from_millis(300));
    process.logs().len()
}

/// A run that failed or left out gateways measured something else: no figures from it.
fn expect_fleet_answer(outcome: &Invocation, size: usize, process: &FunctionProcess) {
    let reconciled = match outcome {
        Invocation::Ok(answer) => answer["gateways"].as_array().map_or(0, Vec::len),
        other => fail(&format!(
            "the reconciler run failed: {other:?}\n{}",
            tail(&process.logs())
        )),
    };
    if reconciled != size {
        fail(&format!("the reconciler answered for {reconciled} gateways of {size}"));
    }
}

fn tail(logs: &str) -> String {
    let lines: Vec<&str> = logs.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

async fn burst_run() -> BurstRun {
    eprintln!("bench_fleet: a burst over {BURST_GATEWAYS} gateways");
    let counted = counted_stack(false).await;
    let stack = &counted.stack;
    let ids: Vec<String> = (0..BURST_GATEWAYS).map(fleet_id).collect();
    let services: Vec<String> = ids.iter().map(|id| fleet_service(id)).collect();
    create_services(&stack.sdk, &services).await;
    let gateways: Vec<Value> = ids.iter().map(|id| fleet_gateway(id, None)).collect();
    register(&stack.sdk, TABLE, &gateways).await;
    let events = crash_burst(&ids, BURST_EVENTS_PER_GATEWAY);
    let mut instances: Vec<FunctionProcess> = (0..BURST_INSTANCES).map(|_| stack.spawn("task-events")).collect();

    let before = counted.proxy.forwarded().len();
    let cpu_before: u64 = instances.iter().map(|p| cpu_ns(p.pid()).unwrap_or(0)).sum();
    let burst = tokio::task::block_in_place(|| deliver_round_robin(&mut instances, &events));
    let cpu_after: u64 = instances.iter().map(|p| cpu_ns(p.pid()).unwrap_or(0)).sum();
    let calls = counted.proxy.forwarded()[before..].to_vec();
    if let Some((i, outcome)) = burst.failures().first() {
        fail(&format!(
            "{} of {} events failed; event {i}: {outcome:?}",
            burst.failures().len(),
            events.len()
        ));
    }
    let notices = notices_per_gateway(stack, &ids).await;
    BurstRun {
        gateways: BURST_GATEWAYS,
        events: events.len(),
        instances: BURST_INSTANCES,
        seconds: burst.elapsed.as_secs_f64(),
        calls: count_calls(&calls),
        total: calls.len(),
        cpu_ms: cpu_after.saturating_sub(cpu_before) as f64 / 1e6,
        peak_kib: instances
            .iter()
            .filter_map(|p| status_kib(p.pid(), "VmHWM:"))
            .max()
            .unwrap_or(0),
        notices,
    }
}

/// (fewest, most) notices a gateway of `ids` got; a notice of another gateway, or a gateway
/// without exactly one, ends the run without figures.
async fn notices_per_gateway(stack: &Stack, ids: &[String]) -> (usize, usize) {
    let delivered = stack.inbox().settle_and_drain().await;
    let mut per_gateway: BTreeMap<&str, usize> = ids.iter().map(|id| (id.as_str(), 0)).collect();
    for notice in &delivered {
        match per_gateway.get_mut(notice.gateway.as_str()) {
            Some(n) => *n += 1,
            None => fail(&format!("a notice of no fleet gateway: {notice:?}")),
        }
    }
    let fewest = per_gateway.values().copied().min().unwrap_or(0);
    let most = per_gateway.values().copied().max().unwrap_or(0);
    if (fewest, most) != (1, 1) {
        let wrong: Vec<_> = per_gateway.iter().filter(|(_, n)| **n != 1).take(10).collect();
        fail(&format!(
            "notices per gateway must be exactly one, got {fewest} to {most}: {wrong:?}"
        ));
    }
    (fewest, most)
}

fn per(n: u64, of: usize) -> f64 {
    n as f64 / of.max(1) as f64
}

/// Per-unit figures by service (and the total), for the JSON and the tables.
fn per_unit(calls: &CallCounts, of: usize) -> BTreeMap<String, f64> {
    calls
        .keys()
        .map(|service| (service.clone(), per(service_total(calls, service), of)))
        .collect()
}

fn to_json(steady: &[SteadyRun], burst: &BurstRun) -> Value {
    let runs: Vec<Value> = steady
        .iter()
        .map(|r| {
            json!({
                "gateways": r.gateways,
                "snapshots": r.snapshots,
                "calls": r.calls,
                "total": r.total,
                "per_gateway": per_unit(&r.calls, r.gateways),
                "wall_ms": round2(r.wall_ms),
                "cpu_ms": round2(r.cpu_ms),
                "peak_rss_kib": r.peak_kib,
                "log_bytes": r.log_bytes,
            })
        })
        .collect();
    json!({
        "about": "The fleet's figures of one bench_fleet run (tests/src/bin/bench_fleet.rs; make bench): the \
                  reconciler's steady run over registered gateways of one cluster, each probed at a live stub, \
                  nine in ten with a RUNNING task, snapshots off and on (hourly); and a burst of task-stopped \
                  events through task-events instances at once. AWS calls counted by a proxy in front of moto. \
                  scripts/cost.py prices the fleet in docs/COST.md from the reconciler's calls per run.",
        "date": command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        "machine": machine(),
        "binaries": bin_dir_label(),
        "reconciler_steady": runs,
        "task_events_burst": {
            "gateways": burst.gateways,
            "events": burst.events,
            "instances": burst.instances,
            "seconds": round2(burst.seconds),
            "events_per_second": round2(burst.events as f64 / burst.seconds.max(1e-9)),
            "calls": burst.calls,
            "total": burst.total,
            "per_event": per_unit(&burst.calls, burst.events),
            "cpu_ms_per_event": round2(burst.cpu_ms / burst.events.max(1) as f64),
            "peak_rss_kib": burst.peak_kib,
            "notices_per_gateway": {"fewest": burst.notices.0, "most": burst.notices.1},
        },
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `release` or `debug`: the profile of the function binaries measured.
fn bin_dir_label() -> String {
    let dir = clawkeeper_tests::function::bin_path("reconciler");
    let profile = dir
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if profile == "release" {
        "release".into()
    } else {
        format!("{profile} (not release)")
    }
}

/// `DynamoDB 0.02, ECS 0.13`: per-unit calls of each service that was called.
fn by_service(calls: &CallCounts, of: usize) -> String {
    let parts: Vec<String> = SERVICE_NAMES
        .iter()
        .filter(|(key, _)| calls.contains_key(*key))
        .map(|(key, name)| format!("{name} {}", figure(per(service_total(calls, key), of))))
        .collect();
    if parts.is_empty() { "-".into() } else { parts.join(", ") }
}

/// A per-unit figure with the digits it needs.
fn figure(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.0}")
    } else if x >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// `BatchGetItem 10, DescribeServices 100, ...`: every operation of a run, by service.
fn operations(calls: &CallCounts) -> String {
    SERVICE_NAMES
        .iter()
        .filter_map(|(key, _)| calls.get(*key))
        .flat_map(|ops| ops.iter().map(|(op, n)| format!("{op} {n}")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn render(steady: &[SteadyRun], burst: &BurstRun) -> String {
    let mut doc = String::new();
    let _ = writeln!(doc, "\n## Fleet: the reconciler and task-events over many gateways\n");
    let _ = writeln!(
        doc,
        "One run of `CLAWKEEPER_BIN_DIR=target/release cargo run -p clawkeeper-tests --bin bench_fleet` ({} \
         function binaries) on {}, against moto on loopback behind the counting proxy; the figures are also in \
         [`fleet-bench.json`](fleet-bench.json), which `make cost` prices the fleet from \
         ([`COST.md`](COST.md), \"A fleet\").\n",
        bin_dir_label(),
        machine()
    );
    let _ = writeln!(
        doc,
        "### The reconciler's steady run\n\n\
         Gateways registered in the registry, all in one cluster, each with its own service and a `probe_url` \
         answering live (a loopback stub), nine in ten with a RUNNING task in their service's group. A process \
         started for each fleet size and mode makes a first run (it writes the states and, with a policy that \
         tells the owner at once, the notices of the gateways without a task), then the measured one. \
         CPU is the process's own time for the run; peak RSS is its `VmHWM` over both runs; logged is what the run \
         wrote as the template logs it (JSON lines at INFO), Lambda's own records aside.\n"
    );
    let _ = writeln!(
        doc,
        "| gateways | snapshots | AWS calls | per gateway | per gateway, by service | wall ms | CPU ms | peak RSS MiB | logged KB |"
    );
    let _ = writeln!(doc, "|---:|---|---:|---:|---|---:|---:|---:|---:|");
    for r in steady {
        let _ = writeln!(
            doc,
            "| {} | {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} |",
            r.gateways,
            if r.snapshots { "on (hourly)" } else { "off" },
            r.total,
            figure(per(r.total as u64, r.gateways)),
            by_service(&r.calls, r.gateways),
            r.wall_ms,
            r.cpu_ms,
            r.peak_kib as f64 / 1024.0,
            r.log_bytes as f64 / 1024.0
        );
    }
    let _ = writeln!(doc);
    for r in steady {
        let _ = writeln!(
            doc,
            "- {} gateways, snapshots {}: {}",
            r.gateways,
            if r.snapshots { "on" } else { "off" },
            operations(&r.calls)
        );
    }
    let _ = writeln!(doc, "\n{}", growth(steady));
    let per_event = |n: usize| figure(per(n as u64, burst.events));
    let _ = writeln!(
        doc,
        "\n### A burst through task-events\n\n\
         {} task-stopped events: two crashes of a task of each of {} registered gateways and three \
         redeliveries of them, in rounds, delivered round-robin to {} `task-events` processes handling them at \
         once (as Lambda scales out), with a policy that tells the owner at once. One gateway's events meet only \
         on its own state item.\n",
        burst.events, burst.gateways, burst.instances
    );
    let _ = writeln!(
        doc,
        "| events | gateways | instances | seconds | events/s | AWS calls per event | per event, by service | CPU ms per event | peak RSS MiB | notices per gateway |"
    );
    let _ = writeln!(doc, "|---:|---:|---:|---:|---:|---:|---|---:|---:|---|");
    let notices = if burst.notices.0 == burst.notices.1 {
        format!("{} (every gateway)", burst.notices.0)
    } else {
        format!("{} to {}", burst.notices.0, burst.notices.1)
    };
    let _ = writeln!(
        doc,
        "| {} | {} | {} | {:.1} | {:.0} | {} | {} | {:.2} | {:.1} | {notices} |",
        burst.events,
        burst.gateways,
        burst.instances,
        burst.seconds,
        burst.events as f64 / burst.seconds.max(1e-9),
        per_event(burst.total),
        by_service(&burst.calls, burst.events),
        burst.cpu_ms / burst.events.max(1) as f64,
        burst.peak_kib as f64 / 1024.0
    );
    let _ = writeln!(doc, "\n- operations: {}", operations(&burst.calls));
    let _ = writeln!(
        doc,
        "\nEvents per second here are moto's and this machine's: every event's calls go to one local Python \
         server on the same {} cores; they say that a burst is handled in seconds, not what AWS sustains.",
        command_output("nproc", &[])
    );
    doc
}

/// What the steady runs changed: a steady fleet's run should write and publish nothing.
fn writes_and_publishes(steady: &[SteadyRun]) -> String {
    let count = |ops: &[&str]| -> u64 {
        steady
            .iter()
            .flat_map(|r| r.calls.values())
            .flat_map(|by_op| by_op.iter())
            .filter(|(op, _)| ops.contains(&op.as_str()))
            .map(|(_, n)| n)
            .sum()
    };
    let writes = count(&[
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactWriteItems",
        "BatchWriteItem",
    ]);
    let publishes = count(&["Publish"]);
    if writes == 0 && publishes == 0 {
        "The steady runs wrote no item and published no notice.".into()
    } else {
        format!("The steady runs wrote {writes} times and published {publishes} notices in all.")
    }
}

/// How calls grow with the fleet, from the smallest and largest fleet measured (snapshots off,
/// then what snapshots add).
fn growth(steady: &[SteadyRun]) -> String {
    let off: Vec<&SteadyRun> = steady.iter().filter(|r| !r.snapshots).collect();
    let (Some(small), Some(large)) = (off.first(), off.last()) else {
        return String::new();
    };
    let service = |r: &SteadyRun, key: &str| figure(per(service_total(&r.calls, key), r.gateways));
    // What turning snapshots on adds per gateway at the largest fleet, by service.
    let with_snapshots = steady.iter().find(|r| r.snapshots && r.gateways == large.gateways);
    let snapshots_add = with_snapshots.map_or_else(
        || "-".to_string(),
        |on| {
            let added = per(on.total as u64, on.gateways) - per(large.total as u64, large.gateways);
            format!(
                "{} a gateway (S3 {}, DynamoDB {} instead of {})",
                figure(added),
                service(on, "s3"),
                service(on, "dynamodb"),
                service(large, "dynamodb")
            )
        },
    );
    format!(
        "How it grows: ECS and DynamoDB are read for the whole fleet in batches (services 10 to a call, one \
         listing of the cluster's tasks, 100 tasks and 100 states to a call, one registry query), so their calls \
         per gateway fall as the fleet grows: from {} to {} gateways, ECS {} to {} and DynamoDB {} to {} a \
         gateway. {} Snapshots on add {} at {} gateways: the snapshot statuses are read in batches like \
         the states, with no S3 request. The wall time grows with the probes (64 at once) and the batched reads; the log with the \
         gateways' own lines: {} bytes a gateway and run at {} gateways.",
        small.gateways,
        large.gateways,
        service(small, "ecs"),
        service(large, "ecs"),
        service(small, "dynamodb"),
        service(large, "dynamodb"),
        writes_and_publishes(steady),
        snapshots_add,
        large.gateways,
        large.log_bytes / large.gateways.max(1),
        large.gateways
    )
}
