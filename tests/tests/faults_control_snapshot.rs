//! `control` and `snapshot` under AWS faults injected between the real SDK clients and moto
//! (`fault_proxy`): throttling, 5xx, answers slower than the attempt timeout, dropped
//! connections. Transient faults are retried inside the invocation; a fault that outlasts the
//! retries fails it with a retryable error type, and the next run converges: ECS ends as asked,
//! the owner's action is logged once, and no partial snapshot is ever visible (no sidecar
//! without its archive, no archive left without its sidecar, no multipart upload left open).

use std::fs;
use std::time::Duration;

use clawkeeper_tests::fault_proxy::Fault;
use clawkeeper_tests::home::noise;
use clawkeeper_tests::s3::{keys, open_uploads};
use clawkeeper_tests::{Stack, ok};
use serde_json::{Value, json};

/// The gateway service, the bucket and a small OpenClaw home with 6 MiB that gzip cannot shrink
/// (the archive takes two multipart parts), behind the fault proxy. No inbox.
async fn stack() -> Stack {
    let stack = Stack::builder()
        .without_inbox()
        .with_service()
        .with_bucket()
        .with_small_home()
        .with_fault_proxy()
        .start()
        .await;
    fs::create_dir_all(stack.state_dir().join("media")).expect("media");
    fs::write(
        stack.state_dir().join("media/noise.bin"),
        noise(6 << 20, 0x9E37_79B9_7F4A_7C15),
    )
    .expect("noise");
    stack
}

/// Snapshot keys under `home/snapshots/`, and the number of multipart uploads still open.
async fn bucket(stack: &Stack) -> (Vec<String>, usize) {
    let s3 = stack.s3();
    // `_status/` holds the run records (last failure), not snapshots.
    let keys: Vec<String> = keys(&s3, "home/snapshots/")
        .await
        .into_iter()
        .filter(|k| !k.contains("/_status/"))
        .collect();
    (keys, open_uploads(&s3).await.len())
}

/// Every sidecar has its archive and every archive its sidecar.
fn assert_only_whole_snapshots(step: &str, keys: &[String]) {
    for key in keys {
        let pair = match key.strip_suffix(".json") {
            Some(base) => format!("{base}.tar.gz"),
            None => key.replace(".tar.gz", ".json"),
        };
        assert!(keys.contains(&pair), "{step}: {key} without {pair}: {keys:?}");
    }
}

/// Every sidecar has its archive: what makes a snapshot visible is always whole.
fn assert_no_sidecar_without_archive(keys: &[String]) {
    for key in keys.iter().filter(|k| k.ends_with(".json")) {
        let archive = key.replace(".json", ".tar.gz");
        assert!(keys.contains(&archive), "sidecar {key} without its archive: {keys:?}");
    }
}

/// Archives without a sidecar (not snapshots, but stored bytes).
fn orphan_archives(keys: &[String]) -> Vec<String> {
    keys.iter()
        .filter(|k| k.ends_with(".tar.gz") && !keys.contains(&k.replace(".tar.gz", ".json")))
        .cloned()
        .collect()
}

fn owner_actions(history: &Value) -> Vec<String> {
    history["gateways"][0]["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["kind"] == "owner_action")
        .filter_map(|r| r["action"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn control_rides_out_transient_faults_within_its_retries() {
    let stack = stack().await;
    let mut control = stack.spawn("control");

    stack.proxy().inject("DescribeServices", Fault::Throttle, 2);
    stack.proxy().inject("GetItem", Fault::Status(503), 1);
    let status = ok(&mut control, &json!({"action": "status"}));
    assert_eq!(status["gateways"][0]["ecs"]["state"], "service", "{status:#}");
    assert_eq!(status["gateways"][0]["ecs"]["desired"], 1, "{status:#}");

    stack.proxy().inject("GetItem", Fault::Drop, 1);
    stack.proxy().inject("TransactWriteItems", Fault::Throttle, 1);
    stack.proxy().inject("UpdateService", Fault::Status(500), 1);
    let paused = ok(&mut control, &json!({"action": "pause", "gateway": "home"}));
    assert_eq!(paused["phase"], "paused", "{paused}");
    assert_eq!(stack.desired_count().await, 0);

    stack
        .proxy()
        .inject("UpdateService", Fault::Delay(Duration::from_millis(1500)), 1);
    stack.proxy().inject("TransactWriteItems", Fault::Status(503), 1);
    ok(&mut control, &json!({"action": "resume", "gateway": "home"}));
    assert_eq!(stack.desired_count().await, 1);

    let history = ok(
        &mut control,
        &json!({"action": "history", "gateway": "home", "days": 1}),
    );
    assert_eq!(owner_actions(&history), ["pause", "resume"], "{history:#}");
    assert_eq!(stack.proxy().injected().len(), 8, "{:?}", stack.proxy().injected());
}

#[tokio::test(flavor = "multi_thread")]
async fn control_fails_retryably_when_faults_outlast_the_retries_and_the_next_run_converges() {
    let stack = stack().await;
    let mut control = stack.spawn("control");

    // ECS down for good: status still answers, naming the failure per gateway as retryable.
    stack.proxy().inject("DescribeServices", Fault::Status(500), 100);
    let status = ok(&mut control, &json!({"action": "status"}));
    assert_eq!(status["gateways"][0]["ecs"]["state"], "error", "{status:#}");
    assert_eq!(status["gateways"][0]["ecs"]["retryable"], true, "{status:#}");
    stack.proxy().clear();

    // Pause while UpdateService keeps failing: a clear, retryable failure.
    stack.proxy().inject("UpdateService", Fault::Status(500), 100);
    let failure = control
        .invoke(&json!({"action": "pause", "gateway": "home"}))
        .expect_failed();
    assert_eq!(failure.error_type, "Retryable", "{failure:?}");
    assert!(failure.error_message.contains("UpdateService"), "{failure:?}");
    assert_eq!(stack.desired_count().await, 1, "ECS unchanged");
    stack.proxy().clear();

    // The owner (or the CLI) asks again: ECS ends paused, the log has the pause.
    let paused = ok(&mut control, &json!({"action": "pause", "gateway": "home"}));
    assert_eq!(paused["phase"], "paused", "{paused}");
    assert_eq!(stack.desired_count().await, 0);

    // Resume with DynamoDB throttled for good: refused before ECS is touched.
    stack.proxy().inject("TransactWriteItems", Fault::Throttle, 100);
    let failure = control
        .invoke(&json!({"action": "resume", "gateway": "home"}))
        .expect_failed();
    assert_eq!(failure.error_type, "Retryable", "{failure:?}");
    assert_eq!(stack.desired_count().await, 0, "not resumed behind the watchdog's back");
    stack.proxy().clear();
    ok(&mut control, &json!({"action": "resume", "gateway": "home"}));
    assert_eq!(stack.desired_count().await, 1);

    let history = ok(
        &mut control,
        &json!({"action": "history", "gateway": "home", "days": 1}),
    );
    let actions = owner_actions(&history);
    eprintln!("faults injected into control: {:?}", stack.proxy().injected());
    assert_eq!(actions.last().map(String::as_str), Some("resume"), "{history:#}");
    assert!(actions.iter().filter(|a| *a == "resume").count() == 1, "{history:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_rides_out_transient_s3_faults_within_its_retries() {
    let stack = stack().await;
    let mut snapshot = stack.spawn("snapshot");
    stack.proxy().inject("?list-type=2", Fault::Status(500), 1);
    stack.proxy().inject(".tar.gz?uploads", Fault::Throttle, 1);
    stack.proxy().inject("x-id=UploadPart", Fault::Status(503), 1);
    stack.proxy().inject("x-id=UploadPart", Fault::Drop, 1);
    stack.proxy().inject(".tar.gz?uploadId=", Fault::Drop, 1);
    stack.proxy().inject(".json?x-id=PutObject", Fault::Throttle, 1);
    let answer = ok(&mut snapshot, &json!({"gateway": "home", "trigger": "manual"}));
    assert_eq!(answer["results"][0]["result"], "created", "{answer:#}");
    assert_eq!(stack.proxy().injected().len(), 6, "{:?}", stack.proxy().injected());
    let (keys, open_uploads) = bucket(&stack).await;
    assert_eq!(keys.len(), 2, "one archive, one sidecar: {keys:?}");
    assert_only_whole_snapshots("step 1", &keys);
    assert_eq!(open_uploads, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_failing_past_its_retries_leaves_nothing_visible_and_the_next_run_converges() {
    let stack = stack().await;
    let mut snapshot = stack.spawn("snapshot");
    let request = json!({"gateway": "home", "trigger": "manual"});

    // 1. Parts keep failing, and so does the abort: the invocation fails retryably and the
    //    upload it could not abort is left for the next run.
    stack.proxy().inject("x-id=UploadPart", Fault::Status(500), 100);
    stack.proxy().inject("DELETE /", Fault::Status(500), 100);
    let failure = snapshot.invoke(&request).expect_failed();
    assert_eq!(failure.error_type, "AwsTransient", "{failure:?}");
    let (keys, open_uploads) = bucket(&stack).await;
    assert!(keys.is_empty(), "no archive, no sidecar: {keys:?}");
    assert_eq!(open_uploads, 1, "the abort failed too");
    stack.proxy().clear();

    // 2. The sidecar cannot be written: the archive without it is not a snapshot, so it goes.
    stack.proxy().inject(".json?x-id=PutObject", Fault::Status(503), 100);
    let failure = snapshot.invoke(&request).expect_failed();
    assert_eq!(failure.error_type, "AwsTransient", "{failure:?}");
    let (keys, _) = bucket(&stack).await;
    assert_only_whole_snapshots("step 2", &keys);
    assert!(keys.is_empty(), "{keys:?}");
    stack.proxy().clear();

    // 3. A completion slower than any other call may be (S3 assembling a large archive): it is
    //    waited for, not given up on after the ordinary attempt timeout (1 s here), which would
    //    leave an archive without its sidecar.
    stack
        .proxy()
        .inject(".tar.gz?uploadId=", Fault::Delay(Duration::from_millis(1500)), 3);
    let answer = ok(&mut snapshot, &request);
    assert_eq!(answer["results"][0]["result"], "created", "{answer:#}");
    let (keys, _) = bucket(&stack).await;
    assert_only_whole_snapshots("step 3", &keys);
    let orphans = orphan_archives(&keys);
    assert!(orphans.is_empty(), "{keys:?}");
    stack.proxy().clear();

    // 4. AWS is healthy again: one whole snapshot, and no upload left open by the runs before.
    let answer = ok(&mut snapshot, &request);
    assert!(
        matches!(answer["results"][0]["result"].as_str(), Some("created" | "unchanged")),
        "{answer:#}"
    );
    let (keys, open_uploads) = bucket(&stack).await;
    assert_no_sidecar_without_archive(&keys);
    assert_eq!(orphan_archives(&keys), orphans, "no orphan archive");
    assert!(keys.iter().any(|k| k.ends_with(".json")), "{keys:?}");
    assert_eq!(open_uploads, 0, "the leftover upload was aborted by the next run");
    eprintln!(
        "orphan archives: {orphans:?}; faults injected into snapshot: {} ({:?})",
        stack.proxy().injected().len(),
        stack
            .proxy()
            .injected()
            .iter()
            .map(|i| format!("{:?}", i.fault))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_damaged_on_its_way_to_s3_is_never_published() {
    let stack = stack().await;
    let mut snapshot = stack.spawn("snapshot");
    let request = json!({"gateway": "home", "trigger": "manual"});

    // One bit of one part flips between the function and the store: the CRC-64/NVME the store
    // computed over what it holds is not the one of the archive written.
    stack.proxy().inject("x-id=UploadPart", Fault::Corrupt, 1);
    let failure = snapshot.invoke(&request).expect_failed();
    assert_eq!(stack.proxy().injected().len(), 1, "{:?}", stack.proxy().injected());
    assert_eq!(failure.error_type, "InvalidArchive", "{failure:?}");
    assert!(failure.error_message.contains("checksum"), "{failure:?}");
    let (keys, open_uploads) = bucket(&stack).await;
    assert!(keys.is_empty(), "the damaged archive is removed, no sidecar: {keys:?}");
    assert_eq!(open_uploads, 0);
    stack.proxy().clear();

    // Undamaged, the same state is a snapshot.
    let answer = ok(&mut snapshot, &request);
    assert_eq!(answer["results"][0]["result"], "created", "{answer:#}");
    let (keys, _) = bucket(&stack).await;
    assert_eq!(keys.len(), 2, "one archive, one sidecar: {keys:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_too_large_for_the_time_left_fails_early_with_the_figures() {
    let stack = stack().await;
    let bulk = 192usize << 20;
    fs::write(
        stack.state_dir().join("media/bulk.bin"),
        noise(bulk, 0xD1B5_4A32_D192_ED03),
    )
    .expect("bulk");
    let mut snapshot = stack.spawn("snapshot");
    let request = json!({"gateway": "home", "trigger": "manual"});
    let wait = Duration::from_secs(120);

    // 1. Less time left than finishing an upload needs: refused before a byte is read or sent.
    let failure = snapshot
        .invoke_as("too-large-1", &request, Duration::from_secs(40), wait)
        .expect_failed();
    assert_eq!(failure.error_type, "StateTooLarge", "{failure:?}");
    assert!(failure.error_message.contains("at the fastest"), "{failure:?}");
    assert!(
        !stack
            .proxy()
            .seen()
            .iter()
            .any(|op| op.starts_with("POST") && op.contains("?uploads")),
        "no upload was started: {:?}",
        stack.proxy().seen()
    );

    // 2. Time enough at the fastest rate, but the store takes every part slowly: the capture stops
    //    at its own deadline, before the invocation's, and says how far it got.
    stack
        .proxy()
        .inject("x-id=UploadPart", Fault::Delay(Duration::from_millis(700)), 1000);
    let runs_for = Duration::from_millis(47_500);
    let started = std::time::Instant::now();
    let failure = snapshot
        .invoke_as("too-large-2", &request, runs_for, wait)
        .expect_failed();
    assert_eq!(failure.error_type, "StateTooLarge", "{failure:?}");
    assert!(failure.error_message.contains("reached its deadline"), "{failure:?}");
    assert!(
        started.elapsed() < runs_for,
        "answered before the invocation's own deadline, not killed by it: {:?}",
        started.elapsed()
    );
    let (keys, open_uploads) = bucket(&stack).await;
    assert!(keys.is_empty(), "nothing published: {keys:?}");
    assert_eq!(open_uploads, 0, "the upload was aborted");
}
