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

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use clawkeeper_tests::aws_setup::{self, CLUSTER, Inbox, SERVICE};
use clawkeeper_tests::ec2::Network;
use clawkeeper_tests::events::{now, task_running};
use clawkeeper_tests::lambda_bridge::LambdaBridge;
use clawkeeper_tests::runtime_api::FunctionFailure;
use clawkeeper_tests::{FunctionProcess, Invocation, Moto, clawkeeper_env};
use serde_json::{Value, json};

const TABLE: &str = "clawkeeper-test";
const BUCKET: &str = "clawkeeper-test-snapshots";
const LOG_GROUP: &str = "/ecs/openclaw-gateway";

struct Stack {
    moto: Moto,
    inbox: Inbox,
    bridge: LambdaBridge,
    /// Each function's environment as the template gives it: the snapshot function named for all
    /// but log-alerts, the restore function for control.
    env: Vec<(String, String)>,
    task: String,
    _state_root: tempfile::TempDir,
}

async fn stack() -> Stack {
    let moto = Moto::start();
    let network = Network::create(&moto).configuration();
    // The task stays RUNNING until stopped (moto otherwise moves one status per describe).
    moto.control(
        "/moto-api/state-manager/set-transition",
        &json!({"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}),
    );
    let sdk = moto.sdk_config().await;
    aws_setup::create_table(&sdk, TABLE).await;
    aws_setup::create_awsvpc_gateway_service(&sdk, &network).await;
    let task = aws_setup::run_service_task(&sdk, &network).await;
    let inbox = Inbox::create(&sdk, "clawkeeper-alerts").await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket(BUCKET).send().await.expect("create bucket");
    let bridge = LambdaBridge::start();
    bridge.route("snapshot", |_, _| Ok(json!({"results": []})));
    bridge.route("restore", |_, _| {
        Err(FunctionFailure {
            error_type: "Unexpected".into(),
            error_message: "restore must not run while the task runs".into(),
        })
    });
    // A small OpenClaw home, enough for a real snapshot to restore.
    let state_root = tempfile::tempdir().expect("state root");
    let state = state_root.path().join(".openclaw");
    std::fs::create_dir_all(state.join("credentials/whatsapp/default")).expect("state dir");
    std::fs::write(state.join("openclaw.json"), r#"{"gateway":{"port":18789}}"#).expect("config");
    std::fs::write(
        state.join("credentials/whatsapp/default/creds.json"),
        r#"{"me":{"id":"1"}}"#,
    )
    .expect("creds");
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(&json!([{
        "id": "home", "cluster": CLUSTER, "service": SERVICE, "log_group": LOG_GROUP,
        "state_root": state_root.path().to_string_lossy(),
    }])));
    env.push(("CLAWKEEPER_TOPIC_ARN".into(), inbox.topic_arn.clone()));
    env.push(("CLAWKEEPER_POLICY".into(), r#"{"min_notify_interval_secs":0}"#.into()));
    env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), bridge.endpoint()));
    env.push(("CLAWKEEPER_POLL_MS".into(), "200".into()));
    Stack {
        moto,
        inbox,
        bridge,
        env,
        task,
        _state_root: state_root,
    }
}

impl Stack {
    fn function_env(&self, function: &str) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        if function != "log-alerts" {
            env.push(("CLAWKEEPER_SNAPSHOT_FUNCTION".into(), "snapshot".into()));
        }
        if function == "control" {
            env.push(("CLAWKEEPER_RESTORE_FUNCTION".into(), "restore".into()));
        }
        env
    }

    fn spawn(&self, function: &str) -> FunctionProcess {
        FunctionProcess::spawn(function, &self.function_env(function))
    }

    async fn ddb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.moto.sdk_config().await)
    }

    /// The gateway's stored state item: its `state` JSON and the whole item.
    async fn state(&self) -> (Value, std::collections::HashMap<String, AttributeValue>) {
        let item = self
            .ddb()
            .await
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
            .await
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item))
            .send()
            .await
            .expect("put state");
    }

    async fn desired_count(&self) -> i32 {
        aws_setup::desired_count(&self.moto.sdk_config().await).await
    }

    async fn task_desired_status(&self) -> String {
        aws_sdk_ecs::Client::new(&self.moto.sdk_config().await)
            .describe_tasks()
            .cluster(CLUSTER)
            .tasks(&self.task)
            .send()
            .await
            .expect("describe task")
            .tasks()
            .first()
            .and_then(|t| t.desired_status())
            .unwrap_or_default()
            .to_string()
    }
}

fn ok(function: &mut FunctionProcess, event: &Value) -> Value {
    match function.invoke(event) {
        Invocation::Ok(v) => v,
        other => panic!("invocation failed: {other:?}\nlogs:\n{}", function.logs()),
    }
}

/// What each function is woken by; each one runs the engine for gateway `home`.
fn wake_up(function: &str) -> Value {
    match function {
        "task-events" => task_running("aaaa", 2, now() - 30),
        "reconciler" => json!({"source": "aws.scheduler"}),
        // A 440 conflict: log-alerts asks ECS for a second task, then records the signal.
        "log-alerts" => logs(&["[whatsapp] web connection closed (status 440): conflict, replaced by another session"]),
        "control" => json!({"action": "resume", "gateway": "home"}),
        other => panic!("no wake-up for {other}"),
    }
}

/// A CloudWatch Logs subscription delivery of `lines` from the gateway's log group.
fn logs(lines: &[&str]) -> Value {
    let t = now() * 1000;
    let events: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| json!({"id": format!("{t}{i:04}"), "timestamp": t, "message": line}))
        .collect();
    let data = json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": LOG_GROUP,
        "logStream": "gateway/openclaw-gateway/1", "subscriptionFilters": ["clawkeeper"], "logEvents": events,
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data.to_string().as_bytes()).expect("gzip");
    let bytes = gz.finish().expect("gzip");
    json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(bytes)}})
}

#[tokio::test(flavor = "multi_thread")]
async fn every_engine_function_executes_what_an_earlier_invocation_left_in_the_outbox() {
    for function in ["task-events", "reconciler", "log-alerts", "control"] {
        let stack = stack().await;
        // A stored state to leave the outbox in: the owner paused the gateway.
        let mut control = stack.spawn("control");
        ok(&mut control, &json!({"action": "pause", "gateway": "home"}));
        assert_eq!(stack.desired_count().await, 0);
        stack.inbox.settle_and_drain().await;
        let t = now();
        stack
            .leave_in_outbox(json!([
                {"key": format!("home/left/{t}/resume"), "kind": {"type": "set_desired_count", "count": 1}},
                {"key": format!("home/left/{t}/deploy"), "kind": {"type": "force_new_deployment"}},
                {"key": format!("home/left/{t}/snapshot"), "kind": {"type": "request_snapshot", "trigger": "left"}},
                {"key": format!("home/left/{t}/notice"), "kind": {"type": "notify", "kind": "gateway_down",
                    "severity": "critical", "subject": "left in the outbox", "message": "left in the outbox"}},
                {"key": format!("home/left/{t}/stop"), "kind": {"type": "stop_task", "task_arn": stack.task,
                    "reason": "left in the outbox"}},
            ]))
            .await;

        let mut process = stack.spawn(function);
        let answer = ok(&mut process, &wake_up(function));
        let (state, _) = stack.state().await;
        assert_eq!(
            state["pending"],
            json!([]),
            "{function} drained the outbox: {answer}\n{}",
            process.logs()
        );
        assert_eq!(stack.desired_count().await, 1, "{function}");
        assert_eq!(stack.task_desired_status().await, "STOPPED", "{function}");
        let delivered = stack.inbox.settle_and_drain().await;
        assert!(
            delivered.iter().any(|d| d.subject == "left in the outbox"),
            "{function}: {delivered:#?}"
        );
        let snapshot_requests = stack.bridge.calls().iter().filter(|(f, _)| f == "snapshot").count();
        // The template names no snapshot function for log-alerts: it logs the request and drops it.
        let expected = usize::from(function != "log-alerts");
        assert_eq!(snapshot_requests, expected, "{function}: {:?}", stack.bridge.calls());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_waits_for_the_running_task_and_gives_up_paused_while_it_runs() {
    let stack = stack().await;
    let mut snapshot = stack.spawn("snapshot");
    let taken = ok(&mut snapshot, &json!({"gateway": "home", "trigger": "manual"}));
    assert_eq!(taken["results"][0]["result"], "created", "{taken:#}");
    let mut control = stack.spawn("control");
    let report = match control.invoke_with_context(
        &json!({"action": "restore", "gateway": "home", "snapshot": "latest", "stop_timeout_secs": 2}),
        None,
        Duration::from_secs(60),
    ) {
        Invocation::Ok(v) => v,
        other => panic!("restore: {other:?}\nlogs:\n{}", control.logs()),
    };
    assert_eq!(report["ok"], false, "{report:#}");
    assert_eq!(report["failed_step"], "wait_stopped", "{report:#}");
    assert_eq!(stack.desired_count().await, 0, "left paused");
    assert!(
        stack.bridge.calls().iter().all(|(f, _)| f != "restore"),
        "no restore while a writer runs"
    );
}

/// A secret in moto's Secrets Manager (JSON protocol, sent directly: the test crate has no Secrets
/// Manager client); returns its ARN.
fn create_secret(moto: &Moto, name: &str, value: &str) -> String {
    let addr = moto.endpoint().trim_start_matches("http://").to_string();
    let body = json!({"Name": name, "SecretString": value}).to_string();
    let stream = TcpStream::connect(&addr).expect("connect to moto");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    write!(
        writer,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: secretsmanager.CreateSecret\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/secretsmanager/aws4_request, \
         SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send CreateSecret");
    let answer = clawkeeper_tests::http::read_message(&mut BufReader::new(stream))
        .expect("read")
        .expect("an answer");
    let text = String::from_utf8_lossy(&answer.body).to_string();
    assert_eq!(answer.status(), 200, "CreateSecret: {text}");
    let parsed: Value = serde_json::from_str(&text).expect("JSON");
    parsed["ARN"].as_str().expect("ARN").to_string()
}

/// A gateway stand-in answering `{"ok":true}` to everything; returns its base URL and the
/// `Authorization` headers it was sent.
fn gateway_stand_in() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let headers = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    headers.lock().expect("headers").push(line.trim_end().to_string());
                }
                line.clear();
            }
            let body = r#"{"ok":true}"#;
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reconciler_probes_with_the_token_from_secrets_manager() {
    let stack = stack().await;
    let token = "token-for-the-readiness-probe";
    let arn = create_secret(&stack.moto, "openclaw-gateway-token", token);
    let (url, authorizations) = gateway_stand_in();
    let mut env = stack.function_env("reconciler");
    env.push((
        "CLAWKEEPER_GATEWAYS".into(),
        json!([{"id": "home", "cluster": CLUSTER, "service": SERVICE, "probe_url": url, "token_secret_arn": arn}])
            .to_string(),
    ));
    let mut reconciler = FunctionProcess::spawn("reconciler", &env);
    let answer = ok(&mut reconciler, &json!({"source": "aws.scheduler"}));
    assert_eq!(answer["gateways"][0]["probe"]["mode"], "probe_url", "{answer}");
    let sent = authorizations.lock().expect("headers").clone();
    assert!(
        sent.iter().any(|h| h.ends_with(&format!("Bearer {token}"))),
        "the token went with a probe: {sent:?}\n{}",
        reconciler.logs()
    );
    assert!(!reconciler.logs().contains(token), "the token is never logged");
}
