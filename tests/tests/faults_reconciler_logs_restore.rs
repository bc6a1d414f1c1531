//! `reconciler`, `log-alerts` and `restore` under AWS faults injected between the real SDK clients
//! and moto (`fault_proxy`): transient faults within the retries end as a run without faults
//! does; a fault that outlasts the retries fails the invocation with a retryable error type (the
//! reconciler's `ReconcileFailed`, log-alerts' `Retryable`, restore's `AwsTransient`) and leaves
//! nothing half done; the next run without faults converges (no lost notice, no duplicate
//! notice, no second StopTask, the restore completes).

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread;

use clawkeeper_tests::aws_setup::{self, CLUSTER, Delivered, Inbox, SERVICE};
use clawkeeper_tests::ec2::Network;
use clawkeeper_tests::fault_proxy::{Fault, FaultProxy};
use clawkeeper_tests::{FunctionProcess, Invocation, Moto, clawkeeper_env};
use serde_json::{Value, json};

const POLICY: &str = r#"{"down_grace_secs":0,"min_notify_interval_secs":0,"hung_probe_failures":2,
  "snapshot_interval_secs":0}"#;
const BUCKET: &str = "clawkeeper-test-snapshots";

struct Stack {
    moto: Moto,
    proxy: FaultProxy,
    inbox: Inbox,
    env: Vec<(String, String)>,
}

/// moto with the table and the inbox, the proxy in front of it, and the functions' environment
/// pointing at the proxy with retries as deployed (3 attempts) and a 1 s attempt timeout.
async fn stack(gateway: Value) -> Stack {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    aws_setup::create_table(&sdk, "clawkeeper-test").await;
    let inbox = Inbox::create(&sdk, "clawkeeper-alerts").await;
    let proxy = FaultProxy::start(&moto.endpoint());
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(&json!([gateway])));
    env.extend(
        [
            ("AWS_ENDPOINT_URL", proxy.endpoint()),
            ("AWS_MAX_ATTEMPTS", "3".to_string()),
            ("CLAWKEEPER_AWS_ATTEMPT_TIMEOUT_MS", "1000".to_string()),
            ("CLAWKEEPER_TOPIC_ARN", inbox.topic_arn.clone()),
            ("CLAWKEEPER_POLICY", POLICY.to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    Stack {
        moto,
        proxy,
        inbox,
        env,
    }
}

fn kinds(delivered: &[Delivered]) -> Vec<&str> {
    delivered.iter().map(|d| d.kind.as_str()).collect()
}

fn ok(function: &mut FunctionProcess, event: &Value) -> Value {
    match function.invoke(event) {
        Invocation::Ok(v) => v,
        other => panic!("{event}: expected success, got {other:?}\n{}", function.logs()),
    }
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
    let stack = stack(json!({"id": "home", "cluster": CLUSTER, "service": SERVICE})).await;
    aws_setup::create_gateway_service(&stack.moto.sdk_config().await).await;
    let mut reconciler = FunctionProcess::spawn("reconciler", &stack.env);

    // (b) first: SNS down for good while the gateway is found down (desired 1, nothing running).
    stack.proxy.inject("Publish", Fault::Status(500), 100);
    let failure = reconciler.invoke(&json!({})).expect_failed();
    assert_eq!(failure.error_type, "ReconcileFailed", "{failure:?}");
    assert!(failure.error_message.contains("home"), "{failure:?}");
    assert!(stack.inbox.settle_and_drain().await.is_empty(), "nothing sent");
    assert_eq!(
        stack.proxy.injected().len(),
        3,
        "one per attempt: {:?}",
        stack.proxy.injected()
    );
    stack.proxy.clear();

    // (c) the next tick, SNS healthy: the notice held in the outbox goes out once; later ticks
    // send nothing more.
    let answer = ok(&mut reconciler, &json!({}));
    assert_eq!(answer["gateways"][0]["phase"], "down", "{answer}");
    ok(&mut reconciler, &json!({}));
    assert_eq!(kinds(&stack.inbox.settle_and_drain().await), ["gateway_down"]);
    let outage = stack.proxy.injected().len();

    // (a) a fresh incident on a second stack under transient faults on every service it calls.
    let stack2 = stack_with_down_gateway().await;
    let mut reconciler = FunctionProcess::spawn("reconciler", &stack2.env);
    stack2.proxy.inject("GetItem", Fault::Throttle, 1);
    stack2.proxy.inject("DescribeServices", Fault::Status(503), 1);
    stack2.proxy.inject("ListTasks", Fault::Drop, 1);
    stack2.proxy.inject("TransactWriteItems", Fault::Throttle, 2);
    stack2.proxy.inject("Publish", Fault::Status(503), 1);
    let answer = ok(&mut reconciler, &json!({}));
    assert_eq!(answer["gateways"][0]["phase"], "down", "{answer}");
    assert_eq!(answer["gateways"][0]["incident_open"], true, "{answer}");
    assert_eq!(answer["gateways"][0]["problems"], json!([]), "{answer}");
    assert_eq!(stack2.proxy.injected().len(), 6, "{:?}", stack2.proxy.injected());
    ok(&mut reconciler, &json!({}));
    assert_eq!(kinds(&stack2.inbox.settle_and_drain().await), ["gateway_down"]);
    eprintln!("reconciler SNS outage: {outage} faults");
    report_injected("reconciler (transient)", &stack2.proxy);
}

async fn stack_with_down_gateway() -> Stack {
    let stack = stack(json!({"id": "home", "cluster": CLUSTER, "service": SERVICE})).await;
    aws_setup::create_gateway_service(&stack.moto.sdk_config().await).await;
    stack
}

/// An HTTP server answering every request with an HTML 200, like the Control UI: not the probe
/// contract, so the gateway counts as hung. Returns its base URL.
fn html_gateway() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let body = "<!doctype html><title>OpenClaw</title>";
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    format!("http://{addr}")
}

async fn last_status(moto: &Moto, task: &str) -> String {
    aws_sdk_ecs::Client::new(&moto.sdk_config().await)
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks(task)
        .send()
        .await
        .expect("describe")
        .tasks()
        .first()
        .and_then(|t| t.last_status())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_gateway_is_stopped_exactly_once_through_ecs_faults() {
    let stack = stack(json!({"id": "home", "cluster": CLUSTER, "service": SERVICE, "probe_url": html_gateway()})).await;
    let network = Network::create(&stack.moto).configuration();
    stack.moto.control(
        "/moto-api/state-manager/set-transition",
        &json!({"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}),
    );
    let sdk = stack.moto.sdk_config().await;
    aws_setup::create_awsvpc_gateway_service(&sdk, &network).await;
    let task = aws_setup::run_service_task(&sdk, &network).await;
    let mut reconciler = FunctionProcess::spawn("reconciler", &stack.env);

    // (a) First failed probe under transient ECS and DynamoDB faults: as without faults, one
    // failure is not hung.
    stack.proxy.inject("DescribeTasks", Fault::Drop, 1);
    stack.proxy.inject("ListTasks", Fault::Throttle, 1);
    stack.proxy.inject("GetItem", Fault::Status(503), 1);
    stack.proxy.inject("TransactWriteItems", Fault::Drop, 1);
    let first = ok(&mut reconciler, &json!({}));
    assert_eq!(first["gateways"][0]["up"], false, "{first}");
    assert_eq!(first["gateways"][0]["phase"], "healthy", "{first}");
    assert_eq!(first["gateways"][0]["problems"], json!([]), "{first}");
    assert_eq!(stack.proxy.injected().len(), 4, "{:?}", stack.proxy.injected());
    assert!(stack.inbox.settle_and_drain().await.is_empty());
    assert_eq!(last_status(&stack.moto, &task).await, "RUNNING");
    let transient = stack.proxy.injected().len();

    // (b) Hung on the second probe, but StopTask fails on every attempt: a retryable failure,
    // the task still runs.
    stack.proxy.inject("StopTask", Fault::Status(500), 100);
    let failure = reconciler.invoke(&json!({})).expect_failed();
    assert_eq!(failure.error_type, "ReconcileFailed", "{failure:?}");
    assert!(failure.error_message.contains("StopTask"), "{failure:?}");
    assert_eq!(last_status(&stack.moto, &task).await, "RUNNING");
    let mut notices = stack.inbox.settle_and_drain().await;
    assert!(
        notices.is_empty(),
        "the hung_restarted notice waits behind the stop in the outbox: {notices:#?}"
    );
    let outage = stack.proxy.injected().len() - transient;
    assert_eq!(outage, 3, "one per attempt: {:?}", stack.proxy.injected());
    stack.proxy.clear();

    // (c) The next ticks, ECS healthy: stopped once, one notice, no second StopTask.
    ok(&mut reconciler, &json!({}));
    assert_eq!(last_status(&stack.moto, &task).await, "STOPPED");
    ok(&mut reconciler, &json!({}));
    ok(&mut reconciler, &json!({}));
    notices.extend(stack.inbox.settle_and_drain().await);
    assert_eq!(
        kinds(&notices).iter().filter(|k| **k == "hung_restarted").count(),
        1,
        "{notices:#?}"
    );
    assert_eq!(forwarded(&stack.proxy, "StopTask"), 1, "{:?}", stack.proxy.forwarded());
    report_injected("reconciler (hung)", &stack.proxy);
}

// ---------------------------------------------------------------------------------------------
// log-alerts

fn log_stack_gateway() -> Value {
    json!({"id": "home", "cluster": CLUSTER, "service": SERVICE, "log_group": "/ecs/openclaw-gateway"})
}

#[tokio::test(flavor = "multi_thread")]
async fn log_alerts_rides_out_transient_faults() {
    let stack = stack(log_stack_gateway()).await;
    let mut alerts = FunctionProcess::spawn("log-alerts", &stack.env);
    stack.proxy.inject("GetItem", Fault::Throttle, 2);
    stack.proxy.inject("TransactWriteItems", Fault::Status(503), 1);
    stack.proxy.inject("Publish", Fault::Drop, 1);
    let answer = ok(&mut alerts, &aws_setup::fixture("logs-whatsapp-logged-out"));
    assert_eq!(answer["gateway"], "home", "{answer}");
    assert_eq!(answer["signals"][0]["duplicate"], false, "{answer}");
    eprintln!("log-alerts answer under transient faults: {answer}");
    assert_eq!(stack.proxy.injected().len(), 4, "{:?}", stack.proxy.injected());
    assert_eq!(kinds(&stack.inbox.settle_and_drain().await), ["relink_needed"]);
    report_injected("log-alerts (transient)", &stack.proxy);
}

#[tokio::test(flavor = "multi_thread")]
async fn log_alerts_fails_retryably_past_its_retries_and_the_redelivery_converges() {
    let stack = stack(log_stack_gateway()).await;
    let mut alerts = FunctionProcess::spawn("log-alerts", &stack.env);
    let payload = aws_setup::fixture("logs-whatsapp-logged-out");

    // SNS down for good: the notice is held, the invocation fails retryably.
    stack.proxy.inject("Publish", Fault::Status(500), 100);
    let failure = alerts.invoke(&payload).expect_failed();
    assert_eq!(failure.error_type, "Retryable", "{failure:?}");
    assert!(stack.inbox.settle_and_drain().await.is_empty());
    // The batch holds two log lines, each handled on its own: the second pass finds the notice
    // still in the outbox and tries it again (3 attempts each).
    assert_eq!(stack.proxy.injected().len(), 6, "{:?}", stack.proxy.injected());
    stack.proxy.clear();

    // DynamoDB throttled for good: nothing recorded, nothing sent, retryable again.
    stack.proxy.inject("TransactWriteItems", Fault::Throttle, 100);
    stack.proxy.inject("GetItem", Fault::Throttle, 100);
    let failure = alerts.invoke(&payload).expect_failed();
    assert_eq!(failure.error_type, "Retryable", "{failure:?}");
    assert!(stack.inbox.settle_and_drain().await.is_empty());
    stack.proxy.clear();

    // Lambda redelivers the batch twice: exactly one relink notice.
    ok(&mut alerts, &payload);
    ok(&mut alerts, &payload);
    assert_eq!(kinds(&stack.inbox.settle_and_drain().await), ["relink_needed"]);
    report_injected("log-alerts (outlasting)", &stack.proxy);
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
    _tmp: tempfile::TempDir,
    root: PathBuf,
    scratch: PathBuf,
    original: Tree,
    broken: Tree,
}

/// A gateway home with state, a snapshot of it taken by the real `snapshot` function (no
/// faults), then the state damaged.
async fn restore_stack() -> RestoreStack {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("home");
    let state = root.join(".openclaw");
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
    let scratch = tmp.path().join("scratch");
    fs::create_dir_all(&scratch).expect("scratch");

    let mut stack = stack(json!({
        "id": "home", "cluster": CLUSTER, "service": SERVICE,
        "state_root": root.to_string_lossy(),
    }))
    .await;
    stack.env.extend(
        [
            ("TMPDIR", scratch.to_string_lossy().into_owned()),
            ("CLAWKEEPER_RESTORE_SETTLE_SECS", "1".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let sdk = stack.moto.sdk_config().await;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("bucket");
    let original = tree(&state);
    let mut snapshot = FunctionProcess::spawn("snapshot", &stack.env);
    let taken = ok(&mut snapshot, &json!({"gateway": "home", "trigger": "manual"}));
    assert_eq!(taken["results"][0]["result"], "created", "{taken:#}");

    fs::write(state.join("openclaw.json"), b"{broken").expect("overwrite");
    for i in 0..10 {
        fs::remove_file(state.join(format!("credentials/whatsapp/default/pre-key-{i}.json"))).expect("lose");
    }
    let broken = tree(&state);
    RestoreStack {
        stack,
        _tmp: tmp,
        root,
        scratch,
        original,
        broken,
    }
}

fn restore_request() -> Value {
    json!({"gateway": "home", "snapshot": "latest", "confirm_stopped": true, "by": "test"})
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_rides_out_transient_s3_faults() {
    let rs = restore_stack().await;
    let mut restore = FunctionProcess::spawn("restore", &rs.stack.env);
    let proxy = &rs.stack.proxy;
    proxy.inject("?list-type=2", Fault::Status(500), 1);
    proxy.inject(".json?x-id=GetObject", Fault::Throttle, 1);
    proxy.inject(".tar.gz?x-id=GetObject", Fault::Status(503), 1);
    proxy.inject(".tar.gz?x-id=GetObject", Fault::Drop, 1);
    let report = ok(&mut restore, &restore_request());
    assert_eq!(report["result"], "restored", "{report:#}");
    assert_eq!(report["sidecar_checked"], true, "{report:#}");
    assert_eq!(proxy.injected().len(), 4, "{:?}", proxy.injected());
    assert_eq!(tree(&rs.root.join(".openclaw")), rs.original);
    let previous = PathBuf::from(report["previous_state"].as_str().expect("previous_state"));
    assert_eq!(tree(&previous), rs.broken);
    assert!(
        !names(&rs.root).iter().any(|n| n.starts_with(".clawkeeper-restore-")),
        "{:?}",
        names(&rs.root)
    );
    report_injected("restore (transient)", proxy);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_whose_download_fails_past_its_retries_leaves_the_state_and_the_retry_completes() {
    let rs = restore_stack().await;
    let mut restore = FunctionProcess::spawn("restore", &rs.stack.env);
    let proxy = &rs.stack.proxy;
    let before = names(&rs.root);
    let scratch_before = names(&rs.scratch);

    proxy.inject(".tar.gz?x-id=GetObject", Fault::Status(503), 100);
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

    let report = ok(&mut restore, &restore_request());
    assert_eq!(report["result"], "restored", "{report:#}");
    assert_eq!(tree(&rs.root.join(".openclaw")), rs.original);
    let previous = PathBuf::from(report["previous_state"].as_str().expect("previous_state"));
    assert_eq!(tree(&previous), rs.broken);
    assert!(
        !names(&rs.root).iter().any(|n| n.starts_with(".clawkeeper-restore-")),
        "{:?}",
        names(&rs.root)
    );
    report_injected("restore (outlasting)", proxy);
}
