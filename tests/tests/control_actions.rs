//! `control`'s actions end to end: the real binary through the Runtime API, with DynamoDB, SNS
//! (read through a subscribed queue), ECS and S3 in moto, and the snapshot and restore functions
//! reached through the local Lambda bridge (`AWS_ENDPOINT_URL_LAMBDA`).

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clawkeeper_tests::aws_setup::{self, CLUSTER, Inbox, SERVICE};
use clawkeeper_tests::events::{now, task_stopped};
use clawkeeper_tests::lambda_bridge::LambdaBridge;
use clawkeeper_tests::runtime_api::FunctionFailure;
use clawkeeper_tests::{FunctionProcess, Invocation, Moto, clawkeeper_env};
use serde_json::{Value, json};

const TABLE: &str = "clawkeeper-test";
const BUCKET: &str = "clawkeeper-test-snapshots";
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const POLICY: &str = r#"{"down_grace_secs":0,"min_notify_interval_secs":0,"crash_loop_stops":3,
  "crash_loop_window_secs":900,"crash_loop_max_runtime_secs":600,"backoff_initial_secs":300,
  "backoff_max_secs":600,"backoff_max_tries":2,"backoff_reset_secs":600}"#;

struct Stack {
    moto: Moto,
    inbox: Inbox,
    env: Vec<(String, String)>,
    state_root: tempfile::TempDir,
}

async fn stack() -> Stack {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    aws_setup::create_table(&sdk, TABLE).await;
    aws_setup::create_gateway_service(&sdk).await;
    let inbox = Inbox::create(&sdk, "clawkeeper-alerts").await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket(BUCKET).send().await.expect("create bucket");
    // A small OpenClaw home: enough for a real snapshot.
    let state_root = tempfile::tempdir().expect("state root");
    let state = state_root.path().join(".openclaw");
    fs::create_dir_all(state.join("credentials/whatsapp/default")).expect("state dir");
    fs::write(state.join("openclaw.json"), r#"{"gateway":{"port":18789}}"#).expect("config");
    fs::write(
        state.join("credentials/whatsapp/default/creds.json"),
        r#"{"me":{"id":"1"}}"#,
    )
    .expect("creds");
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(&json!([{
        "id": "home", "cluster": CLUSTER, "service": SERVICE,
        "state_root": state_root.path().to_string_lossy()
    }])));
    env.push(("CLAWKEEPER_TOPIC_ARN".into(), inbox.topic_arn.clone()));
    env.push(("CLAWKEEPER_POLICY".into(), POLICY.into()));
    Stack {
        moto,
        inbox,
        env,
        state_root,
    }
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

async fn deployment_id(moto: &Moto) -> String {
    aws_sdk_ecs::Client::new(&moto.sdk_config().await)
        .describe_services()
        .cluster(CLUSTER)
        .services(SERVICE)
        .send()
        .await
        .expect("describe services")
        .services()
        .first()
        .and_then(|s| s.deployments().first())
        .and_then(|d| d.id().map(str::to_string))
        .expect("a deployment")
}

fn actions_by(history: &Value) -> Vec<(String, String)> {
    history["gateways"][0]["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["kind"] == "owner_action")
        .map(|r| {
            (
                r["action"].as_str().unwrap_or("").to_string(),
                r["by"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_resume_restart_change_ecs_and_the_log_records_who_asked() {
    let stack = stack().await;
    let sdk = stack.moto.sdk_config().await;
    let mut control = FunctionProcess::spawn("control", &stack.env);
    let mut events = FunctionProcess::spawn("task-events", &stack.env);

    // Pause: desired 0, the owner's wish.
    let paused = ask(&mut control, json!({"action": "pause", "gateway": "home"}));
    assert_eq!(paused["phase"], "paused", "{paused}");
    assert!(paused["by"].as_str().unwrap_or("").contains("user/alice"), "{paused}");
    assert_eq!(aws_setup::desired_count(&sdk).await, 0);

    // While paused, a crash restarts nothing and tells nobody.
    let t = now();
    let answer = events
        .invoke(&task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t - 1))
        .expect_ok();
    assert_eq!(answer["phase"], "paused", "{answer}");
    assert_eq!(aws_setup::desired_count(&sdk).await, 0, "not restarted while paused");
    assert!(stack.inbox.settle_and_drain().await.is_empty());

    // Restart is refused while paused, unless forced.
    let refusal = refused(&mut control, json!({"action": "restart", "gateway": "home"}));
    assert_eq!(refusal.error_type, "Paused", "{refusal:?}");
    assert!(refusal.error_message.contains("clawkeeper resume home"), "{refusal:?}");

    // Resume: desired 1.
    let resumed = ask(&mut control, json!({"action": "resume", "gateway": "home"}));
    assert_eq!(aws_setup::desired_count(&sdk).await, 1, "{resumed}");

    // Restart: a new deployment.
    let before = deployment_id(&stack.moto).await;
    let restarted = ask(&mut control, json!({"action": "restart", "gateway": "home"}));
    assert_eq!(restarted["executed"].as_array().map(Vec::len), Some(2), "{restarted}");
    assert_ne!(deployment_id(&stack.moto).await, before, "forced a new deployment");

    // The log: every change with who asked, in order.
    let history = ask(&mut control, json!({"action": "history", "gateway": "home", "days": 1}));
    assert_eq!(
        actions_by(&history)
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
    let sdk = stack.moto.sdk_config().await;
    let mut control = FunctionProcess::spawn("control", &stack.env);
    let mut events = FunctionProcess::spawn("task-events", &stack.env);
    let t = now();
    for (i, id) in ["aaaa", "bbbb", "cccc"].iter().enumerate() {
        let at = t - 30 + i as i64;
        events
            .invoke(&task_stopped("task-stopped-crash", id, 3, at - 20, at))
            .expect_ok();
    }
    assert_eq!(aws_setup::desired_count(&sdk).await, 0, "paused under backoff");
    let status = ask(&mut control, json!({"action": "status"}));
    assert_eq!(status["gateways"][0]["watchdog"]["phase"], "backoff", "{status:#}");

    let refusal = refused(&mut control, json!({"action": "restart", "gateway": "home"}));
    assert!(refusal.error_message.contains("crash-loop backoff"), "{refusal:?}");

    ask(&mut control, json!({"action": "resume", "gateway": "home"}));
    assert_eq!(aws_setup::desired_count(&sdk).await, 1);
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
    let mut control = FunctionProcess::spawn("control", &stack.env);
    let mut events = FunctionProcess::spawn("task-events", &stack.env);
    let silenced = ask(
        &mut control,
        json!({"action": "silence", "gateway": "home", "minutes": 60, "reason": "moving house"}),
    );
    assert!(silenced["silenced_until"]["utc"].is_string(), "{silenced}");
    let t = now();
    events
        .invoke(&task_stopped("task-stopped-crash", "aaaa", 3, t - 20, t - 1))
        .expect_ok();
    assert!(stack.inbox.settle_and_drain().await.is_empty(), "muted");

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
    let got = stack.inbox.settle_and_drain().await;
    assert_eq!(
        got.iter().map(|d| d.kind.as_str()).collect::<Vec<_>>(),
        ["crash_loop"],
        "told once the silence ended: {got:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_snapshots_and_restore_run_their_steps() {
    let stack = stack().await;
    let sdk = stack.moto.sdk_config().await;
    let bridge = LambdaBridge::start();
    bridge.route_process("snapshot", FunctionProcess::spawn("snapshot", &stack.env));
    bridge.route_process("restore-real", FunctionProcess::spawn("restore", &stack.env));
    let fail_restore = Arc::new(AtomicBool::new(false));
    let fail = Arc::clone(&fail_restore);
    // A stand-in with the restore contract drives the good path and a refusal; the real restore
    // function runs at the end.
    bridge.route("restore", move |event, _| {
        if fail.load(Ordering::SeqCst) {
            return Err(FunctionFailure {
                error_type: "InvalidArchive".into(),
                error_message: "archive rejected: hash mismatch".into(),
            });
        }
        Ok(json!({"restored": event["snapshot"], "previous_state": "/mnt/openclaw/.openclaw.before-restore-1"}))
    });
    let mut env = stack.env.clone();
    env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), bridge.endpoint()));
    env.push(("CLAWKEEPER_SNAPSHOT_FUNCTION".into(), "snapshot".into()));
    env.push(("CLAWKEEPER_RESTORE_FUNCTION".into(), "restore".into()));
    env.push(("CLAWKEEPER_POLL_MS".into(), "200".into()));
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
    assert_eq!(aws_setup::desired_count(&sdk).await, 1);

    // Restore: every step in order, then running, and the owner is told with the relink warning.
    let report = ask(
        &mut control,
        json!({"action": "restore", "gateway": "home", "snapshot": name, "stop_timeout_secs": 20,
               "health_timeout_secs": 20}),
    );
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        ["pause", "wait_stopped", "restore", "resume", "watch_health", "notify"],
        "{report:#}"
    );
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["previous_state"], "/mnt/openclaw/.openclaw.before-restore-1");
    assert_eq!(aws_setup::desired_count(&sdk).await, 1);
    let restore_call = bridge
        .calls()
        .into_iter()
        .find(|(f, _)| f == "restore")
        .expect("restore invoked");
    assert_eq!(restore_call.1["snapshot"], key.as_str());
    assert!(restore_call.1["by"].as_str().unwrap_or("").contains("user/alice"));
    let got = stack.inbox.settle_and_drain().await;
    let done: Vec<_> = got.iter().filter(|d| d.kind == "restore_done").collect();
    assert_eq!(done.len(), 1, "{got:#?}");
    assert!(done[0].message.contains("relink"), "{}", done[0].message);

    // A failing restore step stops the run: paused, state untouched, the failure logged.
    fail_restore.store(true, Ordering::SeqCst);
    let report = ask(
        &mut control,
        json!({"action": "restore", "gateway": "home", "snapshot": "latest", "stop_timeout_secs": 20}),
    );
    assert_eq!(report["ok"], false, "{report:#}");
    assert_eq!(report["failed_step"], "restore", "{report:#}");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(steps, ["pause", "wait_stopped", "restore"], "{report:#}");
    assert!(
        report["steps"][2]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("hash mismatch"),
        "{report:#}"
    );
    assert_eq!(aws_setup::desired_count(&sdk).await, 0, "left paused");
    let history = ask(&mut control, json!({"action": "history", "gateway": "home"}));
    let actions: Vec<String> = actions_by(&history).into_iter().map(|(a, _)| a).collect();
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

    // The real restore function, told by control that no task runs, restores the snapshot and
    // keeps the previous state under a dated name.
    let mut env_real = env.clone();
    env_real.push(("CLAWKEEPER_RESTORE_FUNCTION".into(), "restore-real".into()));
    let mut control_real = FunctionProcess::spawn("control", &env_real);
    ask(&mut control_real, json!({"action": "resume", "gateway": "home"}));
    let report = ask(
        &mut control_real,
        json!({"action": "restore", "gateway": "home", "snapshot": "latest", "stop_timeout_secs": 20}),
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
    drop(stack.state_root);
}
