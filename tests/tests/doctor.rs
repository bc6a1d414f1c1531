//! `{"action":"test"}` and `clawkeeper doctor` end to end: the real control binary through the
//! Runtime API against moto, with the owner's topic read through a subscribed queue, the stack's
//! dead-letter queue, its alarms and the reconciler's heartbeat metric in moto's CloudWatch.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clawkeeper_tests::function::bin_path;
use clawkeeper_tests::lambda_bridge::LambdaBridge;
use clawkeeper_tests::{Invocation, Moto, Stack};
use serde_json::{Value, json};

const ALARMS: &[&str] = &["clawkeeper-reconciler-heartbeat", "clawkeeper-dead-letters"];

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// CloudWatch over its JSON protocol (the test crate has no CloudWatch client).
fn cloudwatch(moto: &Moto, operation: &str, body: Value) {
    moto.call(
        "monitoring",
        &[
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", &format!("GraniteServiceVersion20100801.{operation}")),
        ],
        &body.to_string(),
    );
}

fn alarm(moto: &Moto, name: &str, actions: &[&str]) {
    cloudwatch(
        moto,
        "PutMetricAlarm",
        json!({"AlarmName": name, "Namespace": "Clawkeeper", "MetricName": "ReconcilerHeartbeat",
               "Statistic": "Sum", "Period": 300, "EvaluationPeriods": 1, "Threshold": 1,
               "ComparisonOperator": "LessThanThreshold", "AlarmActions": actions}),
    );
}

fn heartbeat(moto: &Moto, at: i64) {
    cloudwatch(
        moto,
        "PutMetricData",
        json!({"Namespace": "Clawkeeper", "MetricData": [
            {"MetricName": "ReconcilerHeartbeat", "Value": 1, "Unit": "Count", "Timestamp": at}]}),
    );
}

/// A dead-letter queue in moto, with `messages` in it. Returns its URL.
async fn dead_letter_queue(stack: &Stack, messages: usize) -> String {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let url = sqs
        .create_queue()
        .queue_name("clawkeeper-dead-letters")
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    for i in 0..messages {
        sqs.send_message()
            .queue_url(&url)
            .message_body(format!("failed event {i}"))
            .send()
            .await
            .expect("send");
    }
    url
}

async fn stack() -> Stack {
    Stack::builder()
        .with_service()
        .with_bucket()
        .env("CLAWKEEPER_ALARM_NAMES", &ALARMS.join(","))
        .start()
        .await
}

fn checks(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["verdict"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn verdict<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_working_deployment_gets_a_test_notice_and_passes_every_check() {
    let mut stack = stack().await;
    let topic = stack.inbox().topic_arn.clone();
    for name in ALARMS {
        alarm(&stack.moto, name, &[&topic]);
    }
    heartbeat(&stack.moto, now() - 60);
    let queue = dead_letter_queue(&stack, 0).await;
    stack.env.push(("CLAWKEEPER_DEAD_LETTER_QUEUE_URL".into(), queue));
    let mut control = stack.spawn("control");

    let report = match control.invoke(&json!({"action": "test"})) {
        Invocation::Ok(v) => v,
        other => panic!("test failed: {other:?}\n{}", control.logs()),
    };
    assert_eq!(report["ok"], true, "{report:#}\n{}", control.logs());
    assert_eq!(
        checks(&report),
        [
            ("notice", "ok"),
            ("subscriptions", "ok"),
            ("alarms", "ok"),
            ("heartbeat", "ok"),
            ("dead_letters", "ok"),
            ("snapshot", "skipped"),
            ("probe", "warn"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // The notice went through the real topic, as a notice of kind `test`, severity info.
    let delivered = stack.inbox().settle_and_drain().await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0].kind, "test");
    assert_eq!(delivered[0].severity, "info");
    assert_eq!(delivered[0].gateway, "home");
    assert!(delivered[0].subject.contains("test notice"), "{}", delivered[0].subject);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_names_each_broken_part_with_its_fix_and_exits_non_zero() {
    let mut stack = stack().await;
    // One alarm is gone, the other notifies nobody; no heartbeat; two dead letters.
    alarm(&stack.moto, ALARMS[0], &[]);
    let queue = dead_letter_queue(&stack, 2).await;
    stack
        .env
        .push(("CLAWKEEPER_DEAD_LETTER_QUEUE_URL".into(), queue.clone()));
    stack
        .env
        .push(("CLAWKEEPER_SNAPSHOT_FUNCTION".into(), "snapshot".into()));
    stack
        .env
        .push(("CLAWKEEPER_SNAPSHOT_INTERVAL_SECS".into(), "3600".into()));
    let bridge = LambdaBridge::start();
    bridge.route_process("control", stack.spawn("control"));

    let mut env = stack.moto.aws_env();
    env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), bridge.endpoint()));
    env.push(("CLAWKEEPER_CONTROL_FUNCTION".into(), "control".into()));
    let run = |args: &[&str]| {
        Command::new(bin_path("clawkeeper"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run clawkeeper")
    };

    let out = run(&["doctor"]);
    let words = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{words}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "FAIL  alarms",
        "clawkeeper-dead-letters does not exist",
        "clawkeeper-reconciler-heartbeat does not notify the topic",
        "FAIL  heartbeat",
        "FAIL  dead_letters",
        "2 events failed",
        "FAIL  snapshot (home)",
        "fix: take one now: clawkeeper snapshot home",
        "Something is wrong",
    ] {
        assert!(words.contains(line), "{line:?} not in:\n{words}");
    }
    assert!(words.contains(&format!("purge-queue --queue-url {queue}")), "{words}");

    // --json: the report as control answered it, the same exit code.
    let out = run(&["--json", "doctor", "home"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["ok"], false);
    assert_eq!(verdict(&report, "notice")["verdict"], "ok");
    assert_eq!(verdict(&report, "heartbeat")["verdict"], "fail");
    assert!(
        verdict(&report, "heartbeat")["fix"]
            .as_str()
            .is_some_and(|f| f.contains("schedule"))
    );
    // Two test notices reached the owner, one per doctor run.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let kinds: Vec<String> = stack.inbox().drain().await.into_iter().map(|d| d.kind).collect();
    assert_eq!(kinds, ["test", "test"]);
}
