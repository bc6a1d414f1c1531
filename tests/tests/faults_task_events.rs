//! `task-events` under AWS faults injected between the real SDK clients and moto: transient faults
//! are retried inside the invocation; a fault that outlasts the retries fails it with a retryable
//! error, and Lambda's retry of the same event converges on the same final state (no lost incident,
//! no double restart, no duplicate notice).

use std::time::Duration;

use clawkeeper_tests::aws_setup::{self, Delivered, Inbox};
use clawkeeper_tests::events::{now, task_stopped};
use clawkeeper_tests::fault_proxy::{Fault, FaultProxy};
use clawkeeper_tests::{FunctionProcess, Invocation, Moto, clawkeeper_env};
use serde_json::{Value, json};

struct Stack {
    moto: Moto,
    proxy: FaultProxy,
    inbox: Inbox,
    events: FunctionProcess,
}

async fn stack(policy: &str) -> Stack {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    aws_setup::create_table(&sdk, "clawkeeper-test").await;
    aws_setup::create_gateway_service(&sdk).await;
    let inbox = Inbox::create(&sdk, "clawkeeper-alerts").await;
    let proxy = FaultProxy::start(&moto.endpoint());
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(
        &json!([{"id": "home", "cluster": "openclaw", "service": "openclaw-gateway"}]),
    ));
    env.extend(
        [
            ("AWS_ENDPOINT_URL", proxy.endpoint()),
            // Retries on purpose, as deployed: three attempts, short attempt timeout for the test.
            ("AWS_MAX_ATTEMPTS", "3".to_string()),
            ("CLAWKEEPER_AWS_ATTEMPT_TIMEOUT_MS", "1000".to_string()),
            ("CLAWKEEPER_TOPIC_ARN", inbox.topic_arn.clone()),
            ("CLAWKEEPER_POLICY", policy.to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let events = FunctionProcess::spawn("task-events", &env);
    Stack {
        moto,
        proxy,
        inbox,
        events,
    }
}

fn kinds(delivered: &[Delivered]) -> Vec<String> {
    delivered.iter().map(|d| d.kind.clone()).collect()
}

fn ok(stack: &mut Stack, event: &Value) -> Value {
    match stack.events.invoke(event) {
        Invocation::Ok(v) => v,
        other => panic!("expected success, got {other:?}\n{}", stack.events.logs()),
    }
}

const GRACE_0: &str = r#"{"down_grace_secs":0,"min_notify_interval_secs":0}"#;

#[tokio::test(flavor = "multi_thread")]
async fn transient_faults_are_retried_inside_the_invocation() {
    let mut stack = stack(GRACE_0).await;
    stack.proxy.inject("TransactWriteItems", Fault::Throttle, 2);
    stack.proxy.inject("GetItem", Fault::Drop, 1);
    stack.proxy.inject("Publish", Fault::Status(503), 1);
    let t = now();
    let answer = ok(&mut stack, &task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t));
    assert_eq!(answer["phase"], "down", "{answer}");
    assert_eq!(stack.proxy.injected().len(), 4, "{:?}", stack.proxy.injected());
    assert_eq!(kinds(&stack.inbox.settle_and_drain().await), ["gateway_down"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_outlasting_the_retries_fails_retryably_and_the_retry_converges() {
    let mut stack = stack(GRACE_0).await;
    stack.proxy.inject("Publish", Fault::Status(500), 100);
    let t = now();
    let crash = task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t);
    let failure = stack.events.invoke(&crash).expect_failed();
    assert_eq!(failure.error_type, "Retryable", "{failure:?}");
    assert!(stack.inbox.settle_and_drain().await.is_empty());
    let attempts = stack.proxy.injected().len();
    assert_eq!(
        attempts,
        3,
        "three attempts of Publish, then give up: {:?}",
        stack.proxy.injected()
    );

    // SNS is healthy again; Lambda retries the same event (twice: a duplicate of the retry too).
    stack.proxy.clear();
    ok(&mut stack, &crash);
    ok(&mut stack, &crash);
    assert_eq!(
        kinds(&stack.inbox.settle_and_drain().await),
        ["gateway_down"],
        "exactly once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_or_dropped_ecs_call_during_a_crash_loop_never_restarts_twice() {
    let policy = r#"{"down_grace_secs":600,"min_notify_interval_secs":0,"backoff_initial_secs":60}"#;
    let mut stack = stack(policy).await;
    let sdk = stack.moto.sdk_config().await;
    let t = now();
    ok(
        &mut stack,
        &task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t - 40),
    );
    ok(
        &mut stack,
        &task_stopped("task-stopped-crash", "bbbb", 3, t - 40, t - 20),
    );
    // The third fast stop declares the crash loop; pausing the service is slow, then dropped.
    stack
        .proxy
        .inject("UpdateService", Fault::Delay(Duration::from_millis(1500)), 2);
    stack.proxy.inject("UpdateService", Fault::Drop, 5);
    let third = task_stopped("task-stopped-oom", "cccc", 3, t - 20, t);
    let failure = stack.events.invoke(&third).expect_failed();
    assert_eq!(failure.error_type, "Retryable", "{failure:?}");
    assert!(
        stack.inbox.settle_and_drain().await.is_empty(),
        "the crash-loop notice waits behind the pause in the outbox"
    );

    stack.proxy.clear();
    ok(&mut stack, &third);
    assert_eq!(aws_setup::desired_count(&sdk).await, 0, "paused");
    ok(&mut stack, &third);
    assert_eq!(kinds(&stack.inbox.settle_and_drain().await), ["crash_loop"]);
    let updates = stack
        .proxy
        .forwarded()
        .iter()
        .filter(|op| op.contains("UpdateService"))
        .count();
    // The delayed attempts reached moto after the client gave up; the retry's own call is the
    // only one clawkeeper confirmed. Setting desired 0 is idempotent, so ECS ends the same.
    assert!(updates >= 1, "{:?}", stack.proxy.forwarded());
}
