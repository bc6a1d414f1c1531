//! The AWS requests one invocation makes, by service and operation, in the runs that happen every
//! minute or every hour of a deployed stack: what `scripts/cost.py` prices DynamoDB and S3 requests
//! from (`docs/COST.md`). The real function binaries run behind the counting proxy in front of moto
//! (the same measurement `make bench` prints as "Per run"), and the counts are kept in
//! `docs/call-counts.json`: this test fails when a change of the functions changes them, so the
//! cost table cannot silently drift from the code. `CLAWKEEPER_WRITE_DOCS=1` rewrites the file.
//!
//! Only counts are compared, never timings: a count is the same on every machine.

use std::collections::BTreeMap;

use clawkeeper_tests::consts::GATEWAY;
use clawkeeper_tests::events::{now, task_stopped};
use clawkeeper_tests::fault_proxy::FaultProxy;
use clawkeeper_tests::stub::Stub;
use clawkeeper_tests::{FunctionProcess, Stack, ok, workspace_root};
use serde_json::{Value, json};

const DOC: &str = "docs/call-counts.json";

/// The snapshot schedule's event, as the template's `Input` says it.
fn scheduled() -> Value {
    json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"})
}

/// (service, operation) of one request, as the library names it; an operation it does not know
/// fails the test: the cost table must know which service (and price) a call is.
fn classify(request: &str) -> (String, String) {
    let (service, operation) = clawkeeper_tests::bench_support::classify(request);
    assert_ne!(
        service, "unknown",
        "{request}: unknown operation; name it in bench_support::classify with its service"
    );
    (service, operation)
}

/// One measured run: the requests of one invocation, counted by service and operation.
struct Run {
    function: &'static str,
    what: &'static str,
    requests: Vec<String>,
}

impl Run {
    fn counts(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut by_service: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for request in &self.requests {
            let (service, operation) = classify(request);
            *by_service.entry(service).or_default().entry(operation).or_default() += 1;
        }
        by_service
    }

    fn to_json(&self) -> Value {
        json!({
            "function": self.function,
            "what": self.what,
            "calls": self.counts(),
            "total": self.requests.len(),
        })
    }
}

/// Invokes `function` with `event`, expecting an answer, and returns it with the requests the
/// proxy forwarded meanwhile (only the function reaches AWS through the proxy).
fn measure(function: &mut FunctionProcess, proxy: &FaultProxy, event: &Value) -> (Value, Vec<String>) {
    let before = proxy.forwarded().len();
    let answer = ok(function, event);
    (answer, proxy.forwarded()[before..].to_vec())
}

/// Two ticks after the first: the same requests each time, or the state is not steady yet.
fn steady_tick(reconciler: &mut FunctionProcess, proxy: &FaultProxy) -> Vec<String> {
    let _ = measure(reconciler, proxy, &scheduled());
    let (answer, second) = measure(reconciler, proxy, &scheduled());
    let gateway = &answer["gateways"][0];
    assert_eq!(gateway["phase"], "healthy", "{answer:#}\n{}", reconciler.logs());
    assert_eq!(gateway["up"], true, "{answer:#}");
    assert_eq!(gateway["incident_open"], false, "{answer:#}");
    let (_, third) = measure(reconciler, proxy, &scheduled());
    let names = |r: &[String]| r.iter().map(|x| classify(x)).collect::<Vec<_>>();
    assert_eq!(
        names(&second),
        names(&third),
        "a steady tick makes the same requests every time"
    );
    second
}

#[tokio::test(flavor = "multi_thread")]
async fn the_call_counts_of_the_runs_the_cost_table_prices_are_current() {
    // One healthy gateway: a RUNNING task, a probe URL answering the probe contract, a small home
    // for the snapshots.
    let gateway = Stub::live();
    let stack = Stack::builder()
        .gateway(json!({"probe_url": gateway.url}))
        .with_running_task()
        .with_bucket()
        .with_small_home()
        .with_fault_proxy()
        // One attempt, with time to spare: a retry under load would count as a request of its own.
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("CLAWKEEPER_AWS_ATTEMPT_TIMEOUT_MS", "30000")
        .start()
        .await;
    let proxy = stack.proxy();
    let mut runs: BTreeMap<&str, Run> = BTreeMap::new();

    // Snapshots: the schedule's first run of a small state, then the next with nothing changed.
    let mut snapshot = stack.spawn("snapshot");
    let (answer, first) = measure(&mut snapshot, proxy, &scheduled());
    assert_eq!(answer["results"][0]["result"], "created", "{answer:#}");
    let (answer, unchanged) = measure(&mut snapshot, proxy, &scheduled());
    assert_eq!(answer["results"][0]["result"], "unchanged", "{answer:#}");
    runs.insert(
        "snapshot_first_run",
        Run {
            function: "snapshot",
            what: "a scheduled snapshot that writes a new archive of a small state (a config and a creds file: one part)",
            requests: first,
        },
    );
    runs.insert(
        "snapshot_unchanged",
        Run {
            function: "snapshot",
            what: "a scheduled snapshot that finds the state unchanged since the newest archive",
            requests: unchanged,
        },
    );

    // The reconciler, snapshots off (no state volume: interval 0) and on (hourly, a current snapshot).
    let mut reconciler = FunctionProcess::spawn(
        "reconciler",
        &stack.env_with(&[("CLAWKEEPER_SNAPSHOT_INTERVAL_SECS", "0")]),
    );
    runs.insert(
        "reconciler_steady",
        Run {
            function: "reconciler",
            what: "a tick for 1 healthy gateway in steady state (second tick onward), snapshots off",
            requests: steady_tick(&mut reconciler, proxy),
        },
    );
    drop(reconciler);
    let mut reconciler = FunctionProcess::spawn(
        "reconciler",
        &stack.env_with(&[("CLAWKEEPER_SNAPSHOT_INTERVAL_SECS", "3600")]),
    );
    runs.insert(
        "reconciler_steady_with_snapshots",
        Run {
            function: "reconciler",
            what: "a tick for 1 healthy gateway in steady state (second tick onward), hourly snapshots, the newest current",
            requests: steady_tick(&mut reconciler, proxy),
        },
    );
    drop(reconciler);

    // A routine stop: the owner (or a scale-in) stops the task; nothing to tell, nothing to do.
    let task_id = stack.task().rsplit('/').next().expect("task id").to_string();
    let t = now();
    let mut events = stack.spawn("task-events");
    let (_, stop) = measure(
        &mut events,
        proxy,
        &task_stopped("task-stopped-user", &task_id, 5, t - 600, t),
    );
    runs.insert(
        "task_events_routine_stop",
        Run {
            function: "task-events",
            what: "one ECS task-stopped event of a stop someone asked for (owner or scale-in)",
            requests: stop,
        },
    );

    for (name, run) in &runs {
        eprintln!("{name}: {:?}", run.requests);
    }
    let doc = json!({
        "about": "AWS requests per invocation, by service and operation, measured by tests/tests/call_counts.rs \
                  (the function binaries behind a counting proxy in front of moto; gateway: home). \
                  scripts/cost.py prices docs/COST.md from them. Regenerate: \
                  CLAWKEEPER_WRITE_DOCS=1 cargo test -p clawkeeper-tests --test call_counts",
        "gateway": GATEWAY,
        "runs": runs.iter().map(|(k, r)| (k.to_string(), r.to_json())).collect::<BTreeMap<_, _>>(),
    });
    let text = serde_json::to_string_pretty(&doc).expect("json") + "\n";
    check_doc(&text);
}

/// The file as measured, or a failure that says how to regenerate it (`CLAWKEEPER_WRITE_DOCS=1`
/// writes it, as the kill-point tables of `docs/RELIABILITY.md` are).
fn check_doc(measured: &str) {
    let path = workspace_root().join(DOC);
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == measured {
        return;
    }
    if std::env::var("CLAWKEEPER_WRITE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, measured).unwrap_or_else(|e| panic!("write {DOC}: {e}"));
        return;
    }
    panic!(
        "{DOC} is stale (the functions' AWS requests changed); run \
         `CLAWKEEPER_WRITE_DOCS=1 cargo test -p clawkeeper-tests --test call_counts` to regenerate it, \
         then `make cost` for docs/COST.md. Measured:\n{measured}"
    );
}

#[test]
fn rest_requests_are_named_by_their_operation() {
    let cases = [
        ("GET /b?list-type=2&prefix=home%2F", "ListObjectsV2"),
        ("GET /b/home/snapshots/x.json?x-id=GetObject", "GetObject"),
        ("GET /b/home/snapshots/x.json", "GetObject"),
        ("PUT /b/home/snapshots/x.tar.gz?partNumber=1&uploadId=u", "UploadPart"),
        ("POST /b/home/snapshots/x.tar.gz?uploads", "CreateMultipartUpload"),
        ("POST /b/home/snapshots/x.tar.gz?uploadId=u", "CompleteMultipartUpload"),
        ("PUT /b/home/snapshots/_status/last-check.json", "PutObject"),
        ("GET /b?uploads&prefix=home", "ListMultipartUploads"),
        ("GET /b/", "ListObjects"),
        ("POST /b/?delete", "DeleteObjects"),
    ];
    for (request, operation) in cases {
        assert_eq!(
            classify(request),
            ("s3".to_string(), operation.to_string()),
            "{request}"
        );
    }
    assert_eq!(
        classify("POST /2015-03-31/functions/snapshot/invocations"),
        ("lambda".into(), "Invoke".into())
    );
    assert_eq!(
        classify("TransactWriteItems"),
        ("dynamodb".into(), "TransactWriteItems".into())
    );
}
