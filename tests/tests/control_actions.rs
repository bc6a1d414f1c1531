//! `control`'s actions end to end: the real binary through the Runtime API, with DynamoDB, SNS
//! (read through a subscribed queue), ECS and S3 in moto, and the snapshot and restore functions
//! reached through the local Lambda bridge (`AWS_ENDPOINT_URL_LAMBDA`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clawkeeper_snapshot::restore::RestoreReport;
use clawkeeper_tests::aws_setup::{self, kinds};
use clawkeeper_tests::events::{now, task_stopped};
use clawkeeper_tests::lambda_bridge::LambdaBridge;
use clawkeeper_tests::runtime_api::FunctionFailure;
use clawkeeper_tests::{FunctionProcess, Invocation, Stack, owner_actions};
use serde_json::{Value, json};

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const POLICY: &str = r#"{"down_grace_secs":0,"min_notify_interval_secs":0,"crash_loop_stops":3,
  "crash_loop_window_secs":900,"crash_loop_max_runtime_secs":600,"backoff_initial_secs":300,
  "backoff_max_secs":600,"backoff_max_tries":2,"backoff_reset_secs":600}"#;

/// The gateway service, the bucket and a small OpenClaw home (enough for a real snapshot).
async fn stack() -> Stack {
    Stack::builder()
        .policy(POLICY)
        .with_service()
        .with_bucket()
        .with_small_home()
        .start()
        .await
}

fn alice() -> Option<String> {
    Some(json!({"custom": {"caller": ALICE, "user": "alice@laptop"}}).to_string())
}

/// Invokes `control` as alice and expects an answer.
fn ask(control: &mut FunctionProcess, request: Value) -> Value {
    match control.invoke_with_context(&request, alice(), Duration::from_secs(120)) {
        Invocation::Ok(v) => v,
        other => panic!("{request} failed: {other:?}\nlogs:\n{}", control.logs()),
    }
}

/// Invokes `control` as alice and expects a function error.
fn refused(control: &mut FunctionProcess, request: Value) -> FunctionFailure {
    control
        .invoke_with_context(&request, alice(), Duration::from_secs(120))
        .expect_failed()
}

/// The steps a restore report lists, in order.
fn steps_of(report: &Value) -> Vec<&str> {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_resume_restart_change_ecs_and_the_log_records_who_asked() {
    let stack = stack().await;
    let mut control = stack.spawn("control");
    let mut events = stack.spawn("task-events");

    // Pause: desired 0, the owner's wish.
    let paused = ask(&mut control, json!({"action": "pause", "gateway": "home"}));
    assert_eq!(paused["phase"], "paused", "{paused}");
    assert!(paused["by"].as_str().unwrap_or("").contains("user/alice"), "{paused}");
    assert_eq!(stack.desired_count().await, 0);

    // While paused, a crash restarts nothing and tells nobody.
    let t = now();
    let answer = events
        .invoke(&task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t - 1))
        .expect_ok();
    assert_eq!(answer["phase"], "paused", "{answer}");
    assert_eq!(stack.desired_count().await, 0, "not restarted while paused");
    assert!(stack.inbox().settle_and_drain().await.is_empty());

    // Restart is refused while paused, unless forced.
    let refusal = refused(&mut control, json!({"action": "restart", "gateway": "home"}));
    assert_eq!(refusal.error_type, "Paused", "{refusal:?}");
    assert!(refusal.error_message.contains("clawkeeper resume home"), "{refusal:?}");

    // Resume: desired 1.
    let resumed = ask(&mut control, json!({"action": "resume", "gateway": "home"}));
    assert_eq!(stack.desired_count().await, 1, "{resumed}");

    // Restart: a new deployment.
    let before = aws_setup::deployment_id(&stack.sdk).await;
    let restarted = ask(&mut control, json!({"action": "restart", "gateway": "home"}));
    assert_eq!(restarted["executed"].as_array().map(Vec::len), Some(2), "{restarted}");
    assert_ne!(
        aws_setup::deployment_id(&stack.sdk).await,
        before,
        "forced a new deployment"
    );

    // The log: every change with who asked, in order.
    let history = ask(&mut control, json!({"action": "history", "gateway": "home", "days": 1}));
    assert_eq!(
        owner_actions(&history)
            .iter()
            .map(|(a, by)| (a.as_str(), by.contains("user/alice")))
            .collect::<Vec<_>>(),
        [("pause", true), ("resume", true), ("restart", true)],
        "{history:#}"
    );

    // Status: the watchdog's view beside ECS.
    let status = ask(&mut control, json!({"action": "status", "gateway": "home"}));
    let gateway = &status["gateways"][0];
    assert_eq!(gateway["ecs"]["desired"], 1, "{status:#}");
    assert_eq!(gateway["watchdog"]["owner_paused"], false, "{status:#}");
    assert_eq!(
        gateway["watchdog"]["recent_owner_actions"][0]["action"], "restart",
        "{status:#}"
    );
    assert_eq!(gateway["snapshots"], json!([]), "{status:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_clears_the_crash_loop_backoff_and_the_incident_records_the_caller() {
    let stack = stack().await;
    let mut control = stack.spawn("control");
    let mut events = stack.spawn("task-events");
    let t = now();
    for (i, id) in ["aaaa", "bbbb", "cccc"].iter().enumerate() {
        let at = t - 30 + i as i64;
        events
            .invoke(&task_stopped("task-stopped-crash", id, 3, at - 20, at))
            .expect_ok();
    }
    assert_eq!(stack.desired_count().await, 0, "paused under backoff");
    let status = ask(&mut control, json!({"action": "status"}));
    assert_eq!(status["gateways"][0]["watchdog"]["phase"], "backoff", "{status:#}");

    let refusal = refused(&mut control, json!({"action": "restart", "gateway": "home"}));
    assert!(refusal.error_message.contains("crash-loop backoff"), "{refusal:?}");

    ask(&mut control, json!({"action": "resume", "gateway": "home"}));
    assert_eq!(stack.desired_count().await, 1);
    let status = ask(&mut control, json!({"action": "status"}));
    let watchdog = &status["gateways"][0]["watchdog"];
    assert_eq!(watchdog["backoff"]["active"], false, "{status:#}");
    assert_eq!(watchdog["backoff"]["tries"], 0, "{status:#}");
    // The incident stays open (nothing runs yet) and its timeline says who resumed it.
    let timeline = watchdog["incident"]["timeline"].as_array().expect("timeline");
    assert!(
        timeline.iter().any(|e| e["what"]
            .as_str()
            .unwrap_or("")
            .contains("resume asked by arn:aws:iam::123456789012:user/alice")),
        "{status:#}"
    );
    let history = ask(&mut control, json!({"action": "history"}));
    let records = history["gateways"][0]["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "one incident, the resume inside it: {history:#}");
    assert!(
        records[0]["cause"].as_str().unwrap_or("").contains("crash loop"),
        "{history:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn silence_mutes_notices_until_it_ends() {
    let stack = stack().await;
    let mut control = stack.spawn("control");
    let mut events = stack.spawn("task-events");
    let silenced = ask(
        &mut control,
        json!({"action": "silence", "gateway": "home", "minutes": 60, "reason": "moving house"}),
    );
    assert!(silenced["silenced_until"]["utc"].is_string(), "{silenced}");
    let t = now();
    events
        .invoke(&task_stopped("task-stopped-crash", "aaaa", 3, t - 20, t - 1))
        .expect_ok();
    assert!(stack.inbox().settle_and_drain().await.is_empty(), "muted");

    // Unmuted (0 minutes): the next crash is told.
    let unmuted = ask(
        &mut control,
        json!({"action": "silence", "gateway": "home", "minutes": 0}),
    );
    assert_eq!(unmuted["silenced_until"], Value::Null, "{unmuted}");
    let status = ask(&mut control, json!({"action": "status"}));
    let watchdog = &status["gateways"][0]["watchdog"];
    assert!(
        watchdog["incident"]["timeline"]
            .to_string()
            .contains("muted (gateway_down)"),
        "recorded though muted: {status:#}"
    );
    assert!(
        watchdog["recent_owner_actions"].to_string().contains("moving house"),
        "the reason is kept: {status:#}"
    );
    // Two more fast crashes make a crash loop: told, now that the silence ended.
    for (id, at) in [("bbbb", t), ("cccc", t + 1)] {
        events
            .invoke(&task_stopped("task-stopped-crash", id, 3, at - 20, at))
            .expect_ok();
    }
    let got = stack.inbox().settle_and_drain().await;
    assert_eq!(kinds(&got), ["crash_loop"], "told once the silence ended: {got:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_snapshots_and_restore_run_their_steps() {
    let stack = stack().await;
    let bridge = LambdaBridge::start();
    bridge.route_process("snapshot", stack.spawn("snapshot"));
    bridge.route_process("restore-real", stack.spawn("restore"));
    let fail_restore = Arc::new(AtomicBool::new(false));
    let fail = Arc::clone(&fail_restore);
    let crash_restore = Arc::new(AtomicBool::new(false));
    let crash = Arc::clone(&crash_restore);
    // A stand-in with the restore contract drives the good path, a refusal and a crash; the real
    // restore function runs at the end.
    bridge.route("restore", move |event, _| {
        if event["recover"] == true {
            let report = json!({"gateway": "home", "result": "nothing_to_recover", "recovery": null,
                                "warnings": [], "duration_ms": 1});
            return Ok(report);
        }
        if crash.load(Ordering::SeqCst) {
            // What Lambda answers for a function that died mid-run (killed, out of memory).
            return Err(FunctionFailure {
                error_type: "Runtime.ExitError".into(),
                error_message: "RequestId: x Error: Runtime exited with error: signal: killed".into(),
            });
        }
        if fail.load(Ordering::SeqCst) {
            return Err(FunctionFailure {
                error_type: "InvalidArchive".into(),
                error_message: "archive rejected: hash mismatch".into(),
            });
        }
        let report = RestoreReport {
            gateway: "home".into(),
            result: "restored".into(),
            snapshot_key: event["snapshot"].as_str().unwrap_or_default().into(),
            made_by: "clawkeeper".into(),
            archive_bytes: 1,
            archive_sha256: "0".repeat(64),
            sidecar_checked: true,
            archive_created_at: "2026-12-01T00:00:00Z".into(),
            files: 1,
            bytes: 1,
            assets: Vec::new(),
            previous_state: Some("/mnt/openclaw/.openclaw.before-restore-1".into()),
            warnings: Vec::new(),
            duration_ms: 1,
        };
        Ok(serde_json::to_value(report).expect("a restore report is JSON"))
    });
    let env = stack.env_with(&[
        ("AWS_ENDPOINT_URL_LAMBDA", bridge.endpoint().as_str()),
        ("CLAWKEEPER_SNAPSHOT_FUNCTION", "snapshot"),
        ("CLAWKEEPER_RESTORE_FUNCTION", "restore"),
        ("CLAWKEEPER_POLL_MS", "200"),
    ]);
    let mut control = FunctionProcess::spawn("control", &env);

    // Snapshot now: the snapshot function's summary comes back.
    let taken = ask(&mut control, json!({"action": "snapshot", "gateway": "home"}));
    assert_eq!(taken["snapshot"]["result"], "created", "{taken:#}");
    let key = taken["snapshot"]["archive_key"]
        .as_str()
        .expect("archive key")
        .to_string();
    assert!(
        key.starts_with("home/snapshots/") && key.ends_with("-manual.tar.gz"),
        "{key}"
    );
    assert_eq!(bridge.calls()[0].1, json!({"gateway": "home", "trigger": "manual"}));

    // Listed with its sizes, trigger and consistency.
    let listed = ask(&mut control, json!({"action": "snapshots", "gateway": "home"}));
    let list = listed["gateways"][0]["snapshots"].as_array().expect("list");
    assert_eq!(list.len(), 1, "{listed:#}");
    assert_eq!(list[0]["key"], key.as_str());
    assert_eq!(list[0]["trigger"], "manual");
    assert!(list[0]["archive_bytes"].as_u64().unwrap_or(0) > 0, "{listed:#}");
    assert_eq!(list[0]["consistency"]["quiescent"], false);
    assert_eq!(list[0]["verified"], true, "read back and verified after upload");
    let name = list[0]["name"].as_str().expect("name").to_string();

    // An unknown snapshot is an error naming it and changes nothing.
    let unknown = refused(
        &mut control,
        json!({"action": "restore", "gateway": "home", "snapshot": "20200101T000000Z-manual"}),
    );
    assert_eq!(unknown.error_type, "UnknownSnapshot");
    assert!(unknown.error_message.contains("20200101T000000Z-manual") && unknown.error_message.contains(&name));
    assert_eq!(stack.desired_count().await, 1);
    // Waits that cannot fit the invocation are refused before anything is paused.
    let too_long = refused(
        &mut control,
        json!({"action": "restore", "gateway": "home", "snapshot": name, "stop_timeout_secs": 300}),
    );
    assert_eq!(too_long.error_type, "NotEnoughTime", "{too_long:?}");
    assert_eq!(stack.desired_count().await, 1, "nothing paused");

    // Restore: every step in order, then running, and the owner is told with the relink warning.
    let report = ask(
        &mut control,
        json!({"action": "restore", "gateway": "home", "snapshot": name, "stop_timeout_secs": 20,
               "health_timeout_secs": 20}),
    );
    let steps = steps_of(&report);
    assert_eq!(
        steps,
        ["pause", "wait_stopped", "restore", "resume", "watch_health", "notify"],
        "{report:#}"
    );
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["previous_state"], "/mnt/openclaw/.openclaw.before-restore-1");
    assert_eq!(stack.desired_count().await, 1);
    let restore_call = bridge
        .calls()
        .into_iter()
        .find(|(f, _)| f == "restore")
        .expect("restore invoked");
    assert_eq!(restore_call.1["snapshot"], key.as_str());
    assert!(restore_call.1["by"].as_str().unwrap_or("").contains("user/alice"));
    // No word of the caller's that the gateway stopped: control's permit in the table says so,
    // for this snapshot, and the restore is told when it must be done by.
    assert!(restore_call.1.get("confirm_stopped").is_none(), "{:#}", restore_call.1);
    let deadline_ms = restore_call.1["deadline_ms"].as_i64().expect("deadline_ms");
    let now_ms = clawkeeper_core::watch::time::now_secs() * 1000;
    assert!(deadline_ms > now_ms && deadline_ms < now_ms + 900_000, "{deadline_ms}");
    let permit = {
        use clawkeeper_core::ports::StopPermits;
        clawkeeper_aws::dynamodb::DynamoStore::new(&stack.sdk, clawkeeper_tests::consts::TABLE)
            .take("home")
            .await
            .expect("read the permit")
            .expect("control issued a stop permit")
    };
    assert_eq!(permit.snapshot_key, key, "{permit:?}");
    assert!(permit.observed.contains("no task of service"), "{permit:?}");
    let got = stack.inbox().settle_and_drain().await;
    let done: Vec<_> = got.iter().filter(|d| d.kind == "restore_done").collect();
    assert_eq!(done.len(), 1, "{got:#?}");
    assert!(done[0].message.contains("relink"), "{}", done[0].message);

    // A failing restore step stops the run: paused, state untouched, the failure logged.
    fail_restore.store(true, Ordering::SeqCst);
    let report = ask(
        &mut control,
        json!({"action": "restore", "gateway": "home", "snapshot": "latest", "stop_timeout_secs": 20,
               "health_timeout_secs": 20}),
    );
    assert_eq!(report["ok"], false, "{report:#}");
    assert_eq!(report["failed_step"], "restore", "{report:#}");
    let steps = steps_of(&report);
    assert_eq!(steps, ["pause", "wait_stopped", "restore"], "{report:#}");
    assert!(
        report["steps"][2]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("hash mismatch"),
        "{report:#}"
    );
    assert_eq!(stack.desired_count().await, 0, "left paused");
    let history = ask(&mut control, json!({"action": "history", "gateway": "home"}));
    let actions: Vec<String> = owner_actions(&history).into_iter().map(|(a, _)| a).collect();
    assert_eq!(
        actions,
        ["snapshot", "pause", "resume", "restore", "pause", "restore"],
        "{history:#}"
    );
    assert!(
        history
            .to_string()
            .contains("stopped at step restore: the gateway stays paused with its state untouched"),
        "{history:#}"
    );

    // A restore that died mid-run may have stopped between two renames of its swap: control has
    // the restore function finish or undo it (under a permit of its own) before it reports.
    fail_restore.store(false, Ordering::SeqCst);
    crash_restore.store(true, Ordering::SeqCst);
    let report = ask(
        &mut control,
        json!({"action": "restore", "gateway": "home", "snapshot": "latest", "stop_timeout_secs": 20,
               "health_timeout_secs": 20}),
    );
    assert_eq!(report["failed_step"], "restore", "{report:#}");
    assert_eq!(
        steps_of(&report),
        ["pause", "wait_stopped", "restore", "recover"],
        "{report:#}"
    );
    assert_eq!(report["steps"][3]["ok"], true, "{report:#}");
    let recover_call = bridge
        .calls()
        .into_iter()
        .rev()
        .find(|(f, e)| f == "restore" && e["recover"] == true)
        .expect("recovery invoked");
    assert!(recover_call.1.get("snapshot").is_none(), "{:#}", recover_call.1);
    crash_restore.store(false, Ordering::SeqCst);

    // The real restore function, told by control that no task runs, restores the snapshot and
    // keeps the previous state under a dated name.
    let mut env_real = env.clone();
    clawkeeper_tests::set_env(&mut env_real, "CLAWKEEPER_RESTORE_FUNCTION", "restore-real");
    let mut control_real = FunctionProcess::spawn("control", &env_real);
    ask(&mut control_real, json!({"action": "resume", "gateway": "home"}));
    let report = ask(
        &mut control_real,
        json!({"action": "restore", "gateway": "home", "snapshot": "latest", "stop_timeout_secs": 20,
               "health_timeout_secs": 20}),
    );
    assert_eq!(report["ok"], true, "{report:#}");
    let restore_step = &report["steps"][2];
    assert_eq!(restore_step["step"], "restore", "{report:#}");
    assert_eq!(restore_step["ok"], true, "{report:#}");
    assert!(
        report["previous_state"]
            .as_str()
            .is_some_and(|p| p.contains("pre-restore")),
        "{report:#}"
    );
    // The real restore function took (and so used up) control's permit.
    let left = {
        use clawkeeper_core::ports::StopPermits;
        clawkeeper_aws::dynamodb::DynamoStore::new(&stack.sdk, clawkeeper_tests::consts::TABLE)
            .take("home")
            .await
            .expect("read the permit")
    };
    assert_eq!(left, None, "the permit serves one restore");
}
