//! The `snapshot` function end to end: the real binary through the Runtime API, S3 in moto,
//! the gateway's `/home/node` in a temp dir.

mod snapshot_support;

use std::fs;

use clawkeeper_snapshot::verify::{Limits, verify_archive};
use clawkeeper_tests::consts::TOPIC;
use clawkeeper_tests::home::noise;
use clawkeeper_tests::s3::{get, keys, open_uploads};
use clawkeeper_tests::{FunctionProcess, Stack, aws_setup};
use serde_json::json;
use snapshot_support::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_lands_in_s3_sidecar_last_and_unchanged_state_adds_nothing() {
    let stack = snapshot_stack().start().await;
    let s3 = stack.s3();
    let root = stack.state_root();
    let state = root.join(".openclaw");
    add_whatsapp_creds(&state, "default", 300);
    make_database(&state.join("state/openclaw.sqlite"), 3000);
    fs::write(state.join("openclaw.json"), b"{\"gateway\":{}}").expect("config");
    fs::create_dir_all(root.join(".config/openclaw")).expect("key dir");
    fs::write(root.join(".config/openclaw/auth-profile.key"), [9u8; 32]).expect("key");

    let mut function = stack.spawn("snapshot");
    let answer = function
        .invoke(&json!({"gateway": "home", "trigger": "manual", "source_task": "arn:aws:ecs:us-east-1:123456789012:task/openclaw/abc"}))
        .expect_ok();
    let created = &answer["results"][0];
    assert_eq!(created["result"], "created", "{answer:#}");
    let key = created["archive_key"].as_str().expect("key").to_string();
    assert!(
        key.starts_with("home/snapshots/") && key.ends_with("-manual.tar.gz"),
        "{key}"
    );
    assert_eq!(created["trigger"], "manual");
    assert_eq!(created["consistency"]["quiescent"], false);
    assert_eq!(
        created["source_task"],
        "arn:aws:ecs:us-east-1:123456789012:task/openclaw/abc"
    );
    assert!(created["file_count"].as_u64().expect("count") > 450, "{created:#}");

    let sidecar_key = key.replace(".tar.gz", ".json");
    assert_eq!(keys(&s3, "home/").await, vec![sidecar_key.clone(), key.clone()]);
    let archive = get(&s3, &key).await;
    let sidecar: serde_json::Value = serde_json::from_slice(&get(&s3, &sidecar_key).await).expect("sidecar");
    assert_eq!(sidecar["sha256"], sha256_hex(&archive).as_str());
    assert_eq!(sidecar["verified"], true, "read back through the verifying reader");
    assert_eq!(sidecar["archive_bytes"], archive.len() as u64);
    assert_eq!(
        sidecar["sqlite"][0]["path"],
        state.join("state/openclaw.sqlite").to_string_lossy().as_ref()
    );
    assert!(sidecar["state_fingerprint"].as_str().is_some_and(|f| f.len() == 64));
    let verified = verify_archive(archive.as_slice(), Limits::default()).expect("a valid archive");
    assert_eq!(verified.manifest.assets.len(), 2);

    // Nothing changed: no new archive, a record that the newest one is current.
    let again = function
        .invoke(&json!({"gateway": "home", "trigger": "manual"}))
        .expect_ok();
    assert_eq!(again["results"][0]["result"], "unchanged", "{again:#}");
    assert_eq!(again["results"][0]["current_key"], key.as_str());
    let snapshots = keys(&s3, "home/snapshots/").await;
    assert_eq!(
        snapshots.iter().filter(|k| !k.contains("/_status/")).count(),
        2,
        "{snapshots:?}"
    );
    // Both runs saved the state: the status the reconciler reads has the later one's time.
    let saved = snapshot_status(&stack, "home").await.expect("a status");
    let created_at = clawkeeper_snapshot::clock::parse_compact(
        key.rsplit('/').next().and_then(|f| f.split('-').next()).expect("stamp"),
    )
    .expect("stamp time");
    assert!(saved.saved_at_millis.is_some_and(|at| at >= created_at), "{saved:?}");
    assert_eq!(saved.failure, None);

    // A change and the schedule: a new snapshot of every gateway.
    fs::write(state.join("openclaw.json"), b"{\"gateway\":{\"changed\":true}}").expect("config");
    let scheduled = function
        .invoke(
            &json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-25T21:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/snapshots"], "detail": {}}),
        )
        .expect_ok();
    assert_eq!(scheduled["results"][0]["result"], "created", "{scheduled:#}");
    assert_eq!(scheduled["results"][0]["trigger"], "scheduled");
    // Retention keeps one snapshot per hour, preferring an event-triggered one (`manual`) over a
    // scheduled live one, and always the newest: both stay.
    assert_eq!(scheduled["results"][0]["retention_deleted"], json!([]), "{scheduled:#}");
    let newest = scheduled["results"][0]["archive_key"]
        .as_str()
        .expect("key")
        .to_string();
    let mut expected = vec![
        key.replace(".tar.gz", ".json"),
        key.clone(),
        newest.replace(".tar.gz", ".json"),
        newest.clone(),
    ];
    expected.sort();
    assert_eq!(keys(&s3, "home/snapshots/").await, expected);

    // The store's checksum proved both archives equal to what was written: neither was
    // downloaded again. A request may still ask for the full read-back.
    let read_backs = |logs: &str| -> Vec<bool> {
        logs.lines()
            .filter(|l| l.contains("snapshot profile"))
            .map(|l| l.contains("read_back=true"))
            .collect()
    };
    assert_eq!(read_backs(&function.logs()), vec![false, false], "{}", function.logs());
    let asked = function
        .invoke(&json!({"gateway": "home", "trigger": "manual", "force": true, "read_back": true}))
        .expect_ok();
    assert_eq!(asked["results"][0]["result"], "created", "{asked:#}");
    assert_eq!(read_backs(&function.logs()), vec![false, false, true]);

    assert!(
        !function.logs().contains("c2VjcmV0LW5vaXNl"),
        "no creds content in the logs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_mid_upload_leaves_no_sidecar_and_no_incomplete_upload() {
    let stack = snapshot_stack().start().await;
    let s3 = stack.s3();
    let root = stack.state_root();
    let state = root.join(".openclaw");
    add_whatsapp_creds(&state, "default", 20);
    // 12 MiB that gzip cannot shrink: at least one 8 MiB part is uploaded before the failure.
    fs::create_dir_all(state.join("media")).expect("media");
    fs::write(state.join("media/aaa-big.bin"), noise(12 << 20, 0x9E37_79B9_7F4A_7C15)).expect("noise");
    // A database whose pages are damaged: integrity_check fails after the big file went out.
    let db = state.join("zzz/broken.sqlite");
    make_database(&db, 3000);
    let mut bytes = fs::read(&db).expect("db");
    let len = bytes.len();
    for b in &mut bytes[8192..len - 4096] {
        *b ^= 0x5a;
    }
    fs::write(&db, bytes).expect("damage");

    let mut function = stack.spawn("snapshot");
    let failure = function
        .invoke(&json!({"gateway": "home", "trigger": "manual"}))
        .expect_failed();
    assert_eq!(failure.error_type, "SqliteCaptureFailed", "{failure:?}");
    assert!(failure.error_message.contains("broken.sqlite"), "{failure:?}");

    // No archive, no sidecar: only the failure record the reconciler reads.
    assert!(keys(&s3, "home/").await.is_empty(), "no archive, no sidecar");
    let status = snapshot_status(&stack, "home").await.expect("a status");
    assert_eq!(status.saved_at_millis, None, "never saved");
    assert_eq!(
        status.failure.map(|f| f.error_type),
        Some("SqliteCaptureFailed".to_string())
    );
    let uploads = open_uploads(&s3).await;
    assert!(uploads.is_empty(), "aborted: {uploads:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_with_stable_error_types() {
    // Without the state table the registry cannot say whether `office` is registered: a clear
    // error naming the read, never a guess either way.
    let stack = Stack::bare().with_state_root().start().await;
    let mut function = stack.spawn("snapshot");
    let failure = function.invoke(&json!({"gateway": "office"})).expect_failed();
    assert_eq!(failure.error_type, "RegistryUnreadable", "{failure:?}");
    assert!(
        failure.error_message.contains("gateway registry unreadable"),
        "{failure:?}"
    );

    let stack = Stack::bare().with_table().with_state_root().start().await;
    let mut function = stack.spawn("snapshot");
    let failure = function.invoke(&json!({"gateway": "office"})).expect_failed();
    assert_eq!(failure.error_type, "UnknownGateway");
    let failure = function
        .invoke(&json!({"gateway": "home", "trigger": "Not/OK"}))
        .expect_failed();
    assert_eq!(failure.error_type, "InvalidRequest");
    // The volume is not mounted: a clear error, not an empty snapshot.
    let failure = function.invoke(&json!({"gateway": "home"})).expect_failed();
    assert_eq!(failure.error_type, "StateMissing", "{failure:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_killed_mid_upload_leaves_nothing_visible_and_the_next_run_cleans_up() {
    let stack = snapshot_stack().start().await;
    let s3 = stack.s3();
    let root = stack.state_root();
    let state = root.join(".openclaw");
    add_whatsapp_creds(&state, "default", 50);
    fs::create_dir_all(state.join("media")).expect("media");
    for i in 0..6 {
        fs::write(state.join(format!("media/big-{i}.bin")), noise(12 << 20, 7 + i)).expect("noise");
    }
    let mut function = stack.spawn("snapshot");
    let first = serde_json::json!({"gateway": "home", "trigger": "manual"});
    // Sent without waiting: the process is killed while it uploads.
    let pid = function.pid();
    let waiter = std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            function.invoke_within(&first, std::time::Duration::from_secs(60))
        }));
        drop(function);
        outcome.is_ok()
    });
    // Kill a moment after the upload started, while parts are being sent (72 MiB that gzip
    // cannot shrink take several 8 MiB parts). moto's ListParts answer does not parse in the
    // SDK, so the moment is a short wait rather than a part count.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let killed = loop {
        assert!(std::time::Instant::now() < deadline, "no upload started");
        if let Some((key, _)) = open_uploads(&s3).await.into_iter().next() {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let status = std::process::Command::new("kill")
                .args(["-s", "KILL", &pid.to_string()])
                .status()
                .expect("kill");
            assert!(status.success());
            break key;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let _ = waiter.join();
    assert!(killed.starts_with("home/snapshots/"), "{killed}");
    assert_eq!(keys(&s3, "home/").await, Vec::<String>::new(), "no archive, no sidecar");
    assert_eq!(open_uploads(&s3).await.len(), 1, "the dead run's upload is left");

    // The next run aborts the stale upload under its prefix and succeeds.
    let env = stack.env_with(&[("CLAWKEEPER_SNAPSHOT_STALE_UPLOAD_SECS", "0")]);
    let mut function = FunctionProcess::spawn("snapshot", &env);
    let answer = function
        .invoke_within(
            &json!({"gateway": "home", "trigger": "manual"}),
            std::time::Duration::from_secs(120),
        )
        .expect_ok();
    let created = &answer["results"][0];
    assert_eq!(created["result"], "created", "{answer:#}");
    assert_eq!(created["verified"], true, "{answer:#}");
    assert!(
        created["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w.as_str().unwrap_or("").contains("aborted 1 incomplete upload")),
        "{answer:#}"
    );
    assert!(open_uploads(&s3).await.is_empty(), "the stale upload was aborted");
    assert_eq!(keys(&s3, "home/snapshots/").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_leave_a_record_the_reconciler_reads_and_a_success_clears_it() {
    use clawkeeper_snapshot::status::failure_observation;
    let stack = snapshot_stack().start().await;
    let s3 = stack.s3();
    let root = stack.state_root();
    let mut function = stack.spawn("snapshot");

    // The volume is not mounted: two failed runs in a row.
    for (n, trigger) in [(1, "scheduled"), (2, "task-stopped")] {
        let failure = function
            .invoke(&json!({"gateway": "home", "trigger": trigger}))
            .expect_failed();
        assert_eq!(failure.error_type, "StateMissing");
        let record = snapshot_status(&stack, "home")
            .await
            .and_then(|s| s.failure)
            .expect("a failure record");
        assert_eq!(record.consecutive_failures, n);
        assert_eq!(record.trigger, trigger);
        assert_eq!(record.error_type, "StateMissing");
        assert!(record.message.contains(".openclaw"), "{record:?}");
    }
    let record = snapshot_status(&stack, "home")
        .await
        .and_then(|s| s.failure)
        .expect("a failure record");
    let failure = failure_observation(&record);
    assert_eq!(
        failure.key,
        format!("home/snapshot-failed/{}", record.first_failed_at_millis)
    );
    assert_eq!(
        (failure.consecutive_failures, failure.error_type.as_str()),
        (2, "StateMissing")
    );
    assert!(keys(&s3, "home/").await.is_empty(), "nothing in the bucket");

    // The reconciler (outside the VPC) tells the owner: once for this run of failures.
    aws_setup::create_gateway_service(&stack.sdk).await;
    let inbox = aws_setup::Inbox::create(&stack.sdk, TOPIC).await;
    let mut reconciler = stack.spawn("reconciler");
    for _ in 0..2 {
        reconciler.invoke(&json!({})).expect_ok();
    }
    let told: Vec<String> = inbox
        .settle_and_drain()
        .await
        .into_iter()
        .map(|d| d.kind)
        .filter(|k| k == "snapshot_failed")
        .collect();
    assert_eq!(told, ["snapshot_failed"], "one notice for one run of failures");

    // Mounted again: the next success clears the record.
    add_whatsapp_creds(&root.join(".openclaw"), "default", 5);
    let answer = function
        .invoke(&json!({"gateway": "home", "trigger": "manual"}))
        .expect_ok();
    assert_eq!(answer["results"][0]["result"], "created");
    let status = snapshot_status(&stack, "home").await.expect("a status");
    assert_eq!(status.failure, None, "the run of failures ended");
    assert!(status.saved_at_millis.is_some());
    assert_eq!(keys(&s3, "home/").await.len(), 2, "only the snapshot and its sidecar");
}
