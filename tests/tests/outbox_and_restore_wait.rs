//! Paths no other end-to-end test reaches, which the IAM coverage check (`tests/iam/`) needs to
//! see because the functions' roles must allow them:
//!
//! - every function that runs the engine (task-events, reconciler, log-alerts, control) executes
//!   whatever an earlier invocation left in the gateway's stored outbox, whichever function planned
//!   it: an ECS stop and desired-count change, a new deployment, a notice, a snapshot request;
//! - control's restore waits for the gateway's task to stop, describing it while it still runs,
//!   and gives up (the gateway left paused) when it does not stop in time;
//! - the reconciler reads the gateway token from Secrets Manager for its probes.
//!
//! The real binaries run against moto as everywhere else; their requests are recorded like all the
//! others (`tests/src/recorder.rs`).

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use clawkeeper_tests::aws_setup::create_secret;
use clawkeeper_tests::consts::{CLUSTER, LOG_GROUP, SERVICE, TABLE};
use clawkeeper_tests::events::{log_lines, now, task_running};
use clawkeeper_tests::lambda_bridge::LambdaBridge;
use clawkeeper_tests::runtime_api::FunctionFailure;
use clawkeeper_tests::stub::Stub;
use clawkeeper_tests::{FunctionProcess, Invocation, Stack, ok, set_env};
use serde_json::{Value, json};

struct World {
    stack: Stack,
    bridge: LambdaBridge,
}

/// A RUNNING gateway task, the bucket, a small OpenClaw home (enough for a real snapshot to
/// restore), and the snapshot and restore functions behind the Lambda bridge: a snapshot request
/// answered, a restore refused (it must not run while the task runs).
async fn world() -> World {
    let bridge = LambdaBridge::start();
    bridge.route("snapshot", |_, _| Ok(json!({"results": []})));
    bridge.route("restore", |_, _| {
        Err(FunctionFailure {
            error_type: "Unexpected".into(),
            error_message: "restore must not run while the task runs".into(),
        })
    });
    let stack = Stack::builder()
        .gateway(json!({"log_group": LOG_GROUP}))
        .policy(r#"{"min_notify_interval_secs":0}"#)
        .with_running_task()
        .with_bucket()
        .with_small_home()
        .env("AWS_ENDPOINT_URL_LAMBDA", &bridge.endpoint())
        .env("CLAWKEEPER_POLL_MS", "200")
        .start()
        .await;
    World { stack, bridge }
}

impl World {
    /// Each function's environment as the template gives it: the snapshot function named for every
    /// function that runs the engine, the restore function for control.
    fn function_env(&self, function: &str) -> Vec<(String, String)> {
        let mut env = self.stack.env.clone();
        set_env(&mut env, "CLAWKEEPER_SNAPSHOT_FUNCTION", "snapshot");
        if function == "control" {
            set_env(&mut env, "CLAWKEEPER_RESTORE_FUNCTION", "restore");
        }
        env
    }

    fn spawn(&self, function: &str) -> FunctionProcess {
        FunctionProcess::spawn(function, &self.function_env(function))
    }

    fn ddb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.stack.sdk)
    }

    /// The gateway's stored state item: its `state` JSON and the whole item.
    async fn state(&self) -> (Value, std::collections::HashMap<String, AttributeValue>) {
        let item = self
            .ddb()
            .get_item()
            .table_name(TABLE)
            .key("pk", AttributeValue::S("GW#home".into()))
            .key("sk", AttributeValue::S("STATE".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get state")
            .item
            .expect("a stored state");
        let state = serde_json::from_str(item["state"].as_s().expect("state attribute")).expect("state JSON");
        (state, item)
    }

    /// Leaves `actions` in the stored outbox, as an invocation that planned them and then died
    /// would: pending, and no live lease.
    async fn leave_in_outbox(&self, actions: Value) {
        let (mut state, mut item) = self.state().await;
        state["pending"] = actions;
        state["outbox_lease"] = Value::Null;
        item.insert("state".into(), AttributeValue::S(state.to_string()));
        self.ddb()
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item))
            .send()
            .await
            .expect("put state");
    }
}

/// What each function is woken by; each one runs the engine for gateway `home`.
fn wake_up(function: &str) -> Value {
    match function {
        "task-events" => task_running("aaaa", 2, now() - 30),
        "reconciler" => json!({"source": "aws.scheduler"}),
        // A 440 conflict: log-alerts asks ECS for a second task, then records the signal.
        "log-alerts" => {
            log_lines(&["[whatsapp] web connection closed (status 440): conflict, replaced by another session"])
        }
        "control" => json!({"action": "resume", "gateway": "home"}),
        other => panic!("no wake-up for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_engine_function_executes_what_an_earlier_invocation_left_in_the_outbox() {
    for function in ["task-events", "reconciler", "log-alerts", "control"] {
        let world = world().await;
        let stack = &world.stack;
        // A stored state to leave the outbox in: the owner paused the gateway.
        let mut control = world.spawn("control");
        ok(&mut control, &json!({"action": "pause", "gateway": "home"}));
        assert_eq!(stack.desired_count().await, 0);
        stack.inbox().settle_and_drain().await;
        let t = now();
        world
            .leave_in_outbox(json!([
                {"key": format!("home/left/{t}/resume"), "kind": {"type": "set_desired_count", "count": 1}},
                {"key": format!("home/left/{t}/deploy"), "kind": {"type": "force_new_deployment"}},
                {"key": format!("home/left/{t}/snapshot"), "kind": {"type": "request_snapshot", "trigger": "left"}},
                {"key": format!("home/left/{t}/notice"), "kind": {"type": "notify", "kind": "gateway_down",
                    "severity": "critical", "subject": "left in the outbox", "message": "left in the outbox"}},
                {"key": format!("home/left/{t}/stop"), "kind": {"type": "stop_task", "task_arn": stack.task(),
                    "reason": "left in the outbox"}},
            ]))
            .await;

        let mut process = world.spawn(function);
        let answer = ok(&mut process, &wake_up(function));
        let (state, _) = world.state().await;
        assert_eq!(
            state["pending"],
            json!([]),
            "{function} drained the outbox: {answer}\n{}",
            process.logs()
        );
        assert_eq!(stack.desired_count().await, 1, "{function}");
        assert_eq!(stack.task_desired_status().await, "STOPPED", "{function}");
        let delivered = stack.inbox().settle_and_drain().await;
        assert!(
            delivered.iter().any(|d| d.subject == "left in the outbox"),
            "{function}: {delivered:#?}"
        );
        let snapshot_requests = world.bridge.calls().iter().filter(|(f, _)| f == "snapshot").count();
        // Whoever drains the outbox hands the leftover snapshot request on, exactly once.
        assert_eq!(snapshot_requests, 1, "{function}: {:?}", world.bridge.calls());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_waits_for_the_running_task_and_gives_up_paused_while_it_runs() {
    let world = world().await;
    let mut snapshot = world.spawn("snapshot");
    let taken = ok(&mut snapshot, &json!({"gateway": "home", "trigger": "manual"}));
    assert_eq!(taken["results"][0]["result"], "created", "{taken:#}");
    let mut control = world.spawn("control");
    let report = match control.invoke_with_context(
        &json!({"action": "restore", "gateway": "home", "snapshot": "latest", "stop_timeout_secs": 2, "health_timeout_secs": 20}),
        None,
        Duration::from_secs(60),
    ) {
        Invocation::Ok(v) => v,
        other => panic!("restore: {other:?}\nlogs:\n{}", control.logs()),
    };
    assert_eq!(report["ok"], false, "{report:#}");
    assert_eq!(report["failed_step"], "wait_stopped", "{report:#}");
    assert_eq!(world.stack.desired_count().await, 0, "left paused");
    assert!(
        world.bridge.calls().iter().all(|(f, _)| f != "restore"),
        "no restore while a writer runs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reconciler_probes_with_the_token_from_secrets_manager() {
    let world = world().await;
    let token = "token-for-the-readiness-probe";
    let arn = create_secret(&world.stack.moto, "openclaw-gateway-token", token);
    // A gateway stand-in answering `{"ok":true}` to everything.
    let gateway = Stub::live();
    let mut env = world.function_env("reconciler");
    set_env(
        &mut env,
        "CLAWKEEPER_GATEWAYS",
        json!([{"id": "home", "cluster": CLUSTER, "service": SERVICE, "probe_url": gateway.url, "token_secret_arn": arn}])
            .to_string(),
    );
    let mut reconciler = FunctionProcess::spawn("reconciler", &env);
    let answer = ok(&mut reconciler, &json!({"source": "aws.scheduler"}));
    assert_eq!(answer["gateways"][0]["probe"]["mode"], "probe_url", "{answer}");
    let sent = gateway.authorizations();
    assert!(
        sent.iter().any(|h| h.ends_with(&format!("Bearer {token}"))),
        "the token went with a probe: {sent:?}\n{}",
        reconciler.logs()
    );
    assert!(!reconciler.logs().contains(token), "the token is never logged");
}
