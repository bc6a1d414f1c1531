//! `task-events` end to end: the real binary through the Runtime API, with DynamoDB, SNS (read
//! through a subscribed SQS queue) and ECS in moto, fed a scripted sequence of real-shaped events.

use clawkeeper_tests::aws_setup::{self, Delivered, Inbox};
use clawkeeper_tests::events::{now, task_running, task_stopped};
use clawkeeper_tests::{FunctionProcess, Moto, clawkeeper_env};
use serde_json::{Value, json};

const TABLE: &str = "clawkeeper-test";

/// Small policy values so a whole crash loop fits in a few seconds.
const POLICY: &str = r#"{"down_grace_secs":0,"min_notify_interval_secs":0,"crash_loop_stops":3,
  "crash_loop_window_secs":900,"crash_loop_max_runtime_secs":600,"backoff_initial_secs":1,
  "backoff_max_secs":2,"backoff_max_tries":2,"backoff_reset_secs":2}"#;

struct Stack {
    moto: Moto,
    inbox: Inbox,
    env: Vec<(String, String)>,
}

async fn stack() -> Stack {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    aws_setup::create_table(&sdk, TABLE).await;
    aws_setup::create_gateway_service(&sdk).await;
    let inbox = Inbox::create(&sdk, "clawkeeper-alerts").await;
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(
        &json!([{"id": "home", "cluster": "openclaw", "service": "openclaw-gateway"}]),
    ));
    env.push(("CLAWKEEPER_TOPIC_ARN".into(), inbox.topic_arn.clone()));
    env.push(("CLAWKEEPER_POLICY".into(), POLICY.into()));
    Stack { moto, inbox, env }
}

fn kinds(delivered: &[Delivered]) -> Vec<&str> {
    delivered.iter().map(|d| d.kind.as_str()).collect()
}

fn send(function: &mut FunctionProcess, event: &Value) -> Value {
    match function.invoke(event) {
        clawkeeper_tests::Invocation::Ok(v) => v,
        other => panic!("event {} failed: {other:?}\nlogs:\n{}", event["id"], function.logs()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scripted_sequence_produces_exactly_the_expected_notices_and_ecs_changes() {
    let stack = stack().await;
    let sdk = stack.moto.sdk_config().await;
    let mut events = FunctionProcess::spawn("task-events", &stack.env);
    let mut reconciler = FunctionProcess::spawn("reconciler", &stack.env);
    let t = now();

    // 1. A crash: the owner hears at once (grace 0); ECS replaces the task itself.
    let crash_a = task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t - 1);
    let answer = send(&mut events, &crash_a);
    assert_eq!(answer["phase"], "down", "{answer}");
    let got = stack.inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["gateway_down"], "{got:#?}");
    let down = &got[0];
    assert_eq!(down.gateway, "home");
    assert_eq!(down.severity, "critical");
    assert!(
        down.subject.len() < 100 && !down.subject.contains('\n'),
        "{}",
        down.subject
    );
    assert!(
        down.message.contains("EssentialContainerExited"),
        "evidence in the body:\n{}",
        down.message
    );
    assert!(
        down.message.contains("clawkeeper status home"),
        "commands to copy:\n{}",
        down.message
    );
    assert_eq!(aws_setup::desired_count(&sdk).await, 1);

    // 2. The replacement runs: recovered, with the downtime.
    let running_b = task_running("bbbb", 4, t);
    send(&mut events, &running_b);
    let got = stack.inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["recovered"], "{got:#?}");

    // 3. Duplicates and an older version change nothing.
    send(&mut events, &crash_a);
    send(&mut events, &running_b);
    let stale = send(&mut events, &task_running("bbbb", 2, t));
    assert_eq!(stale["executed"], json!([]), "{stale}");
    assert!(stack.inbox.settle_and_drain().await.is_empty());

    // 4. The owner stops the task: expected, no incident, no notice.
    send(&mut events, &task_stopped("task-stopped-user", "bbbb", 5, t, t + 1));
    send(&mut events, &task_running("cccc", 2, t + 2));
    assert!(stack.inbox.settle_and_drain().await.is_empty());

    // 5. Two more fast crashes: with the first one, three within the window: a crash loop.
    send(
        &mut events,
        &task_stopped("task-stopped-crash", "cccc", 3, t + 2, t + 3),
    );
    let got = stack.inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["gateway_down"], "{got:#?}");
    let answer = send(&mut events, &task_stopped("task-stopped-oom", "dddd", 3, t + 3, t + 4));
    let got = stack.inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["crash_loop"], "{got:#?}");
    assert!(
        got[0].message.contains("137") || got[0].message.contains("OutOfMemory"),
        "{}",
        got[0].message
    );
    assert_eq!(
        aws_setup::desired_count(&sdk).await,
        0,
        "paused under backoff: {answer}"
    );

    // 6. The backoff passes: the reconciler's tick resumes the service.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let tick = send(
        &mut reconciler,
        &json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"}),
    );
    assert_eq!(
        aws_setup::desired_count(&sdk).await,
        1,
        "resumed after the backoff: {tick}"
    );

    // 7. It runs and stays up past backoff_reset_secs: recovered, once.
    send(&mut events, &task_running("eeee", 2, now()));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    send(&mut reconciler, &json!({}));
    send(&mut reconciler, &json!({}));
    let got = stack.inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["recovered"], "{got:#?}");

    // 8. A malformed event fails the invocation (the retry path keeps it); the next one works.
    let malformed = json!({"id": "bad-1", "source": "aws.ecs", "detail-type": "ECS Task State Change",
        "detail": {"lastStatus": 7, "taskArn": clawkeeper_tests::events::task_arn("gggg"),
                   "group": "service:openclaw-gateway",
                   "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/openclaw"}});
    let failure = events.invoke(&malformed).expect_failed();
    assert_eq!(failure.error_type, "MalformedEvent");
    assert!(failure.error_message.contains("lastStatus"), "{failure:?}");

    // 9. A deployment event delivered twice: one notice.
    let failed = aws_setup::fixture("deployment-failed");
    send(&mut events, &failed);
    let again = send(&mut events, &failed);
    assert_eq!(again["duplicate"], true, "{again}");
    let got = stack.inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["deployment_failed"], "{got:#?}");

    // Events of other services and clusters are ignored.
    let mut other = task_running("ffff", 2, now());
    other["detail"]["group"] = json!("service:something-else");
    let ignored = send(&mut events, &other);
    assert!(ignored.get("ignored").is_some(), "{ignored}");
    assert!(stack.inbox.settle_and_drain().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_keep_the_event_and_the_notice_until_aws_is_fixed() {
    let moto = Moto::start();
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(
        &json!([{"id": "home", "cluster": "openclaw", "service": "openclaw-gateway"}]),
    ));
    env.push(("CLAWKEEPER_POLICY".into(), POLICY.into()));
    let mut events = FunctionProcess::spawn("task-events", &env);
    let t = now();
    let crash = task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t);

    // No table: the invocation fails naming it, so Lambda retries the event.
    let failure = events.invoke(&crash).expect_failed();
    assert!(
        failure.error_message.contains("clawkeeper-test"),
        "names the table: {failure:?}"
    );
    assert!(failure.error_message.contains("not found"), "{failure:?}");

    // The table exists, the topic does not: the state is stored, the notice waits in the outbox
    // and the invocation fails again.
    let sdk = moto.sdk_config().await;
    aws_setup::create_table(&sdk, TABLE).await;
    let failure = events.invoke(&crash).expect_failed();
    assert!(failure.error_message.contains("Publish"), "{failure:?}");

    // The owner creates the topic; Lambda's next retry of the same event delivers the notice once.
    let inbox = Inbox::create(&sdk, "clawkeeper-test").await;
    let answer = send(&mut events, &crash);
    assert_eq!(
        answer["executed"].as_array().map(Vec::len),
        Some(1),
        "only the held notice: {answer}"
    );
    let got = inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["gateway_down"], "{got:#?}");
    send(&mut events, &crash);
    assert!(inbox.settle_and_drain().await.is_empty(), "never twice");
}
