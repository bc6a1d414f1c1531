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

/// Rows in each of the two tables of the database the live writer below changes.
const LIVE_ROWS: i64 = 2500;

#[tokio::test(flavor = "multi_thread")]
async fn a_database_a_writer_in_another_process_keeps_changing_is_captured_as_one_committed_state() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::Duration;

    let stack = snapshot_stack().start().await;
    let s3 = stack.s3();
    let state = stack.state_root().join(".openclaw");
    add_whatsapp_creds(&state, "default", 20);
    let db = state.join("agents/main/agent/openclaw-agent.sqlite");
    fs::create_dir_all(db.parent().expect("dir")).expect("agent dir");
    // Table `a` fills the first half of the file and `b` the second (about 20 MB in all).
    rusqlite::Connection::open(&db)
        .expect("open")
        .execute_batch(&format!(
            "PRAGMA journal_mode=DELETE; \
             CREATE TABLE a(id INTEGER PRIMARY KEY, n INTEGER, pad BLOB); \
             CREATE TABLE b(id INTEGER PRIMARY KEY, n INTEGER, pad BLOB); \
             WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {LIVE_ROWS}) \
             INSERT INTO a SELECT i, 0, zeroblob(4000) FROM k; INSERT INTO b SELECT * FROM a;"
        ))
        .expect("fill");

    // The writer is this test process and the copy the function's: SQLite's locks between them
    // are the file's POSIX locks, as between the gateway and the snapshot on EFS. Each commit adds
    // one to a row of `a` and to a row of `b`, far apart in the file: any one committed state has
    // equal sums, and a copy torn by a commit does not.
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (db, stop, commits) = (db.clone(), stop.clone(), commits.clone());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).expect("writer");
            conn.busy_timeout(Duration::from_secs(20)).expect("busy timeout");
            // No fsync: commits as fast as the locks allow, so every copy overlaps many.
            conn.execute_batch("PRAGMA synchronous=OFF").expect("synchronous");
            let mut seed = 0x2545_f491_4f6c_dd1d_u64;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % LIVE_ROWS as u64) as i64 + 1
            };
            while !stop.load(Ordering::Relaxed) {
                conn.execute_batch(&format!(
                    "BEGIN IMMEDIATE; UPDATE a SET n = n + 1 WHERE id = {}; \
                     UPDATE b SET n = n + 1 WHERE id = {}; COMMIT;",
                    next(),
                    next()
                ))
                .expect("a commit within the busy timeout");
                commits.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while commits.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let mut function = stack.spawn("snapshot");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut checked = Vec::new();
    for round in 0..2 {
        let before = commits.load(Ordering::Relaxed);
        let answer = function
            .invoke(&json!({"gateway": "home", "trigger": "manual", "force": true}))
            .expect_ok();
        let created = &answer["results"][0];
        assert_eq!(created["result"], "created", "round {round}: {answer:#}");
        let during = commits.load(Ordering::Relaxed) - before;
        let key = created["archive_key"].as_str().expect("key");
        let archive = tmp.path().join(format!("{round}.tar.gz"));
        fs::write(&archive, get(&s3, key).await).expect("archive");
        let out = tmp.path().join(format!("restored-{round}"));
        // Extraction runs integrity_check on every database.
        clawkeeper_snapshot::verify::extract_archive(&archive, &out, Limits::default()).expect("a valid archive");
        let copy = files_under(&out)
            .into_iter()
            .find(|p| p.ends_with("openclaw-agent.sqlite"))
            .map(|p| out.join(p))
            .expect("the agent database in the archive");
        let conn = rusqlite::Connection::open_with_flags(&copy, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the copy");
        let sum = |table: &str| -> i64 {
            conn.query_row(&format!("SELECT sum(n) FROM {table}"), [], |r| r.get(0))
                .expect("sum")
        };
        let (a, b) = (sum("a"), sum("b"));
        assert_eq!(
            a, b,
            "round {round}: a commit tore the copy ({during} commits during the run)"
        );
        checked.push((a, during));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("the writer never gave up waiting");
    assert!(
        checked.iter().all(|&(_, during)| during > 0),
        "the writer kept committing through every run: {checked:?}"
    );
    assert!(
        checked.windows(2).all(|w| w[0].0 < w[1].0),
        "each run saw later commits: {checked:?}"
    );
}
