//! `reconciler`, `log-alerts` and `restore` under AWS faults injected between the real SDK clients
//! and moto (`fault_proxy`): transient faults within the retries end as a run without faults
//! does; a fault that outlasts the retries fails the invocation with a retryable error type (the
//! reconciler's `ReconcileFailed`, log-alerts' `Retryable`, restore's `AwsTransient`) and leaves
//! nothing half done; the next run without faults converges (no lost notice, no duplicate
//! notice, no second StopTask, the restore completes).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use clawkeeper_tests::aws_setup::{self, kinds};
use clawkeeper_tests::consts::{LOG_GROUP, POLICY_HUNG_AFTER_TWO};
use clawkeeper_tests::fault_proxy::{Fault, FaultProxy};
use clawkeeper_tests::stack::StackBuilder;
use clawkeeper_tests::stub::Stub;
use clawkeeper_tests::{Stack, ok};
use serde_json::{Value, json};

/// moto with the table and the inbox, the proxy in front of it, and the functions' environment
/// pointing at the proxy with retries as deployed (3 attempts) and a 1 s attempt timeout.
fn faulty_stack() -> StackBuilder {
    Stack::builder().policy(POLICY_HUNG_AFTER_TWO).with_fault_proxy()
}

fn forwarded(proxy: &FaultProxy, operation: &str) -> usize {
    proxy.forwarded().iter().filter(|op| op.contains(operation)).count()
}

fn report_injected(function: &str, proxy: &FaultProxy) {
    let injected: Vec<String> = proxy
        .injected()
        .iter()
        .map(|i| format!("{} {:?}", i.operation, i.fault))
        .collect();
    eprintln!("faults injected into {function}: {} {injected:?}", injected.len());
}

// ---------------------------------------------------------------------------------------------
// reconciler

#[tokio::test(flavor = "multi_thread")]
async fn reconciler_rides_out_transient_faults_and_a_lasting_sns_outage_loses_no_notice() {
    let stack = faulty_stack().with_service().start().await;
    let mut reconciler = stack.spawn("reconciler");

    // (b) first: SNS down for good while the gateway is found down (desired 1, nothing running).
    stack.proxy().inject("Publish", Fault::Status(500), 100);
    let failure = reconciler.invoke(&json!({})).expect_failed();
    assert_eq!(failure.error_type, "ReconcileFailed", "{failure:?}");
    assert!(failure.error_message.contains("home"), "{failure:?}");
    assert!(stack.inbox().settle_and_drain().await.is_empty(), "nothing sent");
    assert_eq!(
        stack.proxy().injected().len(),
        3,
        "one per attempt: {:?}",
        stack.proxy().injected()
    );
    stack.proxy().clear();

    // (c) the next tick, SNS healthy: the notice held in the outbox goes out once; later ticks
    // send nothing more.
    let answer = ok(&mut reconciler, &json!({}));
    assert_eq!(answer["gateways"][0]["phase"], "down", "{answer}");
    ok(&mut reconciler, &json!({}));
    assert_eq!(kinds(&stack.inbox().settle_and_drain().await), ["gateway_down"]);
    let outage = stack.proxy().injected().len();

    // (a) a fresh incident on a second stack under transient faults on every service it calls.
    let stack2 = faulty_stack().with_service().start().await;
    let mut reconciler = stack2.spawn("reconciler");
    stack2.proxy().inject("GetItem", Fault::Throttle, 1);
    stack2.proxy().inject("DescribeServices", Fault::Status(503), 1);
    stack2.proxy().inject("ListTasks", Fault::Drop, 1);
    stack2.proxy().inject("TransactWriteItems", Fault::Throttle, 2);
    stack2.proxy().inject("Publish", Fault::Status(503), 1);
    let answer = ok(&mut reconciler, &json!({}));
    assert_eq!(answer["gateways"][0]["phase"], "down", "{answer}");
    assert_eq!(answer["gateways"][0]["incident_open"], true, "{answer}");
    assert_eq!(answer["gateways"][0]["problems"], json!([]), "{answer}");
    assert_eq!(stack2.proxy().injected().len(), 6, "{:?}", stack2.proxy().injected());
    ok(&mut reconciler, &json!({}));
    assert_eq!(kinds(&stack2.inbox().settle_and_drain().await), ["gateway_down"]);
    eprintln!("reconciler SNS outage: {outage} faults");
    report_injected("reconciler (transient)", stack2.proxy());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_batched_state_read_falls_back_to_each_gateways_own_read() {
    let stack = faulty_stack().with_service().start().await;
    let mut reconciler = stack.spawn("reconciler");
    // The batch fails on every attempt; the run still reconciles the gateway from its own read.
    stack.proxy().inject("BatchGetItem", Fault::Status(500), 100);
    let answer = ok(&mut reconciler, &json!({}));
    assert_eq!(answer["gateways"][0]["phase"], "down", "{answer}");
    assert_eq!(answer["gateways"][0]["incident_open"], true, "{answer}");
    assert_eq!(answer["gateways"][0]["problems"], json!([]), "{answer}");
    let own_reads = stack.proxy().forwarded().iter().filter(|op| *op == "GetItem").count();
    assert!(own_reads >= 1, "{:?}", stack.proxy().forwarded());
    assert_eq!(
        forwarded(stack.proxy(), "BatchGetItem"),
        0,
        "every batch attempt failed"
    );
    stack.proxy().clear();
    // The next tick batches again and, the incident already open, sends nothing more.
    ok(&mut reconciler, &json!({}));
    assert_eq!(kinds(&stack.inbox().settle_and_drain().await), ["gateway_down"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_gateway_is_stopped_exactly_once_through_ecs_faults() {
    // Every path answers an HTML 200, like the Control UI: not the probe contract, so the gateway
    // counts as hung.
    let html = Stub::html();
    let stack = faulty_stack()
        .gateway(json!({"probe_url": html.url}))
        .with_running_task()
        .start()
        .await;
    let mut reconciler = stack.spawn("reconciler");

    // (a) First failed probe under transient ECS and DynamoDB faults: as without faults, one
    // failure is not hung.
    stack.proxy().inject("DescribeTasks", Fault::Drop, 1);
    stack.proxy().inject("ListTasks", Fault::Throttle, 1);
    stack.proxy().inject("GetItem", Fault::Status(503), 1);
    stack.proxy().inject("TransactWriteItems", Fault::Drop, 1);
    let first = ok(&mut reconciler, &json!({}));
    assert_eq!(first["gateways"][0]["up"], false, "{first}");
    assert_eq!(first["gateways"][0]["phase"], "healthy", "{first}");
    assert_eq!(first["gateways"][0]["problems"], json!([]), "{first}");
    assert_eq!(stack.proxy().injected().len(), 4, "{:?}", stack.proxy().injected());
    assert!(stack.inbox().settle_and_drain().await.is_empty());
    assert_eq!(stack.task_last_status().await, "RUNNING");
    let transient = stack.proxy().injected().len();

    // (b) Hung on the second probe, but StopTask fails on every attempt: a retryable failure,
    // the task still runs.
    stack.proxy().inject("StopTask", Fault::Status(500), 100);
    let failure = reconciler.invoke(&json!({})).expect_failed();
    assert_eq!(failure.error_type, "ReconcileFailed", "{failure:?}");
    assert!(failure.error_message.contains("StopTask"), "{failure:?}");
    assert_eq!(stack.task_last_status().await, "RUNNING");
    let mut notices = stack.inbox().settle_and_drain().await;
    assert!(
        notices.is_empty(),
        "the hung_restarted notice waits behind the stop in the outbox: {notices:#?}"
    );
    let outage = stack.proxy().injected().len() - transient;
    assert_eq!(outage, 3, "one per attempt: {:?}", stack.proxy().injected());
    stack.proxy().clear();

    // (c) The next ticks, ECS healthy: stopped once, one notice, no second StopTask.
    ok(&mut reconciler, &json!({}));
    assert_eq!(stack.task_last_status().await, "STOPPED");
    ok(&mut reconciler, &json!({}));
    ok(&mut reconciler, &json!({}));
    notices.extend(stack.inbox().settle_and_drain().await);
    assert_eq!(
        kinds(&notices).iter().filter(|k| **k == "hung_restarted").count(),
        1,
        "{notices:#?}"
    );
    assert_eq!(
        forwarded(stack.proxy(), "StopTask"),
        1,
        "{:?}",
        stack.proxy().forwarded()
    );
    report_injected("reconciler (hung)", stack.proxy());
}

// ---------------------------------------------------------------------------------------------
// log-alerts

async fn log_stack() -> Stack {
    faulty_stack().gateway(json!({"log_group": LOG_GROUP})).start().await
}

#[tokio::test(flavor = "multi_thread")]
async fn log_alerts_rides_out_transient_faults() {
    let stack = log_stack().await;
    let mut alerts = stack.spawn("log-alerts");
    stack.proxy().inject("GetItem", Fault::Throttle, 2);
    stack.proxy().inject("TransactWriteItems", Fault::Status(503), 1);
    stack.proxy().inject("Publish", Fault::Drop, 1);
    let answer = ok(&mut alerts, &aws_setup::fixture("logs-whatsapp-logged-out"));
    assert_eq!(answer["gateway"], "home", "{answer}");
    assert_eq!(answer["signals"][0]["duplicate"], false, "{answer}");
    eprintln!("log-alerts answer under transient faults: {answer}");
    assert_eq!(stack.proxy().injected().len(), 4, "{:?}", stack.proxy().injected());
    assert_eq!(kinds(&stack.inbox().settle_and_drain().await), ["relink_needed"]);
    report_injected("log-alerts (transient)", stack.proxy());
}

#[tokio::test(flavor = "multi_thread")]
async fn log_alerts_fails_retryably_past_its_retries_and_the_redelivery_converges() {
    let stack = log_stack().await;
    let mut alerts = stack.spawn("log-alerts");
    let payload = aws_setup::fixture("logs-whatsapp-logged-out");

    // SNS down for good: the notice is held, the invocation fails retryably.
    stack.proxy().inject("Publish", Fault::Status(500), 100);
    let failure = alerts.invoke(&payload).expect_failed();
    assert_eq!(failure.error_type, "Retryable", "{failure:?}");
    assert!(stack.inbox().settle_and_drain().await.is_empty());
    // The batch holds two log lines, each handled on its own: the second pass finds the notice
    // still in the outbox and tries it again (3 attempts each).
    assert_eq!(stack.proxy().injected().len(), 6, "{:?}", stack.proxy().injected());
    stack.proxy().clear();

    // DynamoDB throttled for good: nothing recorded, nothing sent, retryable again.
    stack.proxy().inject("TransactWriteItems", Fault::Throttle, 100);
    stack.proxy().inject("GetItem", Fault::Throttle, 100);
    let failure = alerts.invoke(&payload).expect_failed();
    assert_eq!(failure.error_type, "Retryable", "{failure:?}");
    assert!(stack.inbox().settle_and_drain().await.is_empty());
    stack.proxy().clear();

    // Lambda redelivers the batch twice: exactly one relink notice.
    ok(&mut alerts, &payload);
    ok(&mut alerts, &payload);
    assert_eq!(kinds(&stack.inbox().settle_and_drain().await), ["relink_needed"]);
    report_injected("log-alerts (outlasting)", stack.proxy());
}

// ---------------------------------------------------------------------------------------------
// restore

type Tree = BTreeMap<PathBuf, Option<Vec<u8>>>;

/// Every file (with its content) and directory under `root`, by relative path.
fn tree(root: &Path) -> Tree {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            if fs::symlink_metadata(&path).expect("meta").is_dir() {
                dirs.push(path);
                out.insert(rel, None);
            } else {
                out.insert(rel, Some(fs::read(&path).expect("read")));
            }
        }
    }
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

struct RestoreStack {
    stack: Stack,
    root: PathBuf,
    scratch: PathBuf,
    original: Tree,
    broken: Tree,
}

/// A gateway home with state, a snapshot of it taken by the real `snapshot` function (no
/// faults), then the state damaged.
async fn restore_stack() -> RestoreStack {
    let stack = faulty_stack()
        .with_bucket()
        .with_state_root()
        .env("CLAWKEEPER_RESTORE_SETTLE_SECS", "1")
        .start()
        .await;
    let (root, scratch, state) = (stack.state_root(), stack.scratch(), stack.state_dir());
    fs::create_dir_all(state.join("credentials/whatsapp/default")).expect("state dir");
    fs::write(state.join("openclaw.json"), r#"{"gateway":{"mode":"local"}}"#).expect("config");
    for i in 0..20 {
        fs::write(
            state.join(format!("credentials/whatsapp/default/pre-key-{i}.json")),
            format!(r#"{{"id":{i}}}"#),
        )
        .expect("pre-key");
    }
    fs::write(
        state.join("credentials/whatsapp/default/creds.json"),
        r#"{"me":{"id":"1"}}"#,
    )
    .expect("creds");

    let original = tree(&state);
    let mut snapshot = stack.spawn("snapshot");
    let taken = ok(&mut snapshot, &json!({"gateway": "home", "trigger": "manual"}));
    assert_eq!(taken["results"][0]["result"], "created", "{taken:#}");

    fs::write(state.join("openclaw.json"), b"{broken").expect("overwrite");
    for i in 0..10 {
        fs::remove_file(state.join(format!("credentials/whatsapp/default/pre-key-{i}.json"))).expect("lose");
    }
    let broken = tree(&state);
    RestoreStack {
        stack,
        root,
        scratch,
        original,
        broken,
    }
}

/// Restored: the snapshot's state in place, the damaged one kept as the previous state, no
/// staging dir left.
fn assert_restored(rs: &RestoreStack, report: &Value) {
    assert_eq!(report["result"], "restored", "{report:#}");
    assert_eq!(tree(&rs.root.join(".openclaw")), rs.original);
    let previous = PathBuf::from(report["previous_state"].as_str().expect("previous_state"));
    assert_eq!(tree(&previous), rs.broken);
    assert!(
        !names(&rs.root).iter().any(|n| n.starts_with(".clawkeeper-restore-")),
        "{:?}",
        names(&rs.root)
    );
}

fn restore_request() -> Value {
    json!({"gateway": "home", "snapshot": "latest", "by": "test"})
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_rides_out_transient_s3_faults() {
    let rs = restore_stack().await;
    let mut restore = rs.stack.spawn("restore");
    let proxy = rs.stack.proxy();
    proxy.inject("?list-type=2", Fault::Status(500), 1);
    proxy.inject(".json?x-id=GetObject", Fault::Throttle, 1);
    proxy.inject(".tar.gz?x-id=GetObject", Fault::Status(503), 1);
    proxy.inject(".tar.gz?x-id=GetObject", Fault::Drop, 1);
    rs.stack.issue_stop_permit("home", "latest").await;
    let report = ok(&mut restore, &restore_request());
    assert_restored(&rs, &report);
    assert_eq!(report["sidecar_checked"], true, "{report:#}");
    assert_eq!(proxy.injected().len(), 4, "{:?}", proxy.injected());
    report_injected("restore (transient)", proxy);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_whose_download_fails_past_its_retries_leaves_the_state_and_the_retry_completes() {
    let rs = restore_stack().await;
    let mut restore = rs.stack.spawn("restore");
    let proxy = rs.stack.proxy();
    let before = names(&rs.root);
    let scratch_before = names(&rs.scratch);

    proxy.inject(".tar.gz?x-id=GetObject", Fault::Status(503), 100);
    rs.stack.issue_stop_permit("home", "latest").await;
    let failure = restore.invoke(&restore_request()).expect_failed();
    assert_eq!(failure.error_type, "AwsTransient", "{failure:?}");
    assert!(failure.error_message.contains("GetObject"), "{failure:?}");
    assert_eq!(proxy.injected().len(), 3, "one per attempt: {:?}", proxy.injected());
    assert_eq!(
        tree(&rs.root.join(".openclaw")),
        rs.broken,
        "the state in place is untouched"
    );
    assert_eq!(names(&rs.root), before, "no staging dir, no previous-state dir");
    assert_eq!(names(&rs.scratch), scratch_before, "no download left in scratch");
    proxy.clear();

    rs.stack.issue_stop_permit("home", "latest").await;
    let report = ok(&mut restore, &restore_request());
    assert_restored(&rs, &report);
    report_injected("restore (outlasting)", proxy);
}
