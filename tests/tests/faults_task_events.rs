//! `task-events` under AWS faults injected between the real SDK clients and moto: transient faults
//! are retried inside the invocation; a fault that outlasts the retries fails it with a retryable
//! error, and Lambda's retry of the same event converges on the same final state (no lost incident,
//! no double restart, no duplicate notice).

use std::time::Duration;

use clawkeeper_tests::aws_setup::kinds;
use clawkeeper_tests::consts::POLICY_NOTIFY_AT_ONCE;
use clawkeeper_tests::events::{now, task_stopped};
use clawkeeper_tests::fault_proxy::Fault;
use clawkeeper_tests::{Stack, ok};

/// The gateway service behind the fault proxy, the owner's inbox, and `policy`.
async fn stack(policy: &str) -> Stack {
    Stack::builder()
        .policy(policy)
        .with_service()
        .with_fault_proxy()
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_faults_are_retried_inside_the_invocation() {
    let stack = stack(POLICY_NOTIFY_AT_ONCE).await;
    let mut events = stack.spawn("task-events");
    stack.proxy().inject("TransactWriteItems", Fault::Throttle, 2);
    stack.proxy().inject("GetItem", Fault::Drop, 1);
    stack.proxy().inject("Publish", Fault::Status(503), 1);
    let t = now();
    let answer = ok(&mut events, &task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t));
    assert_eq!(answer["phase"], "down", "{answer}");
    assert_eq!(stack.proxy().injected().len(), 4, "{:?}", stack.proxy().injected());
    assert_eq!(kinds(&stack.inbox().settle_and_drain().await), ["gateway_down"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_outlasting_the_retries_fails_retryably_and_the_retry_converges() {
    let stack = stack(POLICY_NOTIFY_AT_ONCE).await;
    let mut events = stack.spawn("task-events");
    stack.proxy().inject("Publish", Fault::Status(500), 100);
    let t = now();
    let crash = task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t);
    let failure = events.invoke(&crash).expect_failed();
    assert_eq!(failure.error_type, "Retryable", "{failure:?}");
    assert!(stack.inbox().settle_and_drain().await.is_empty());
    let attempts = stack.proxy().injected().len();
    assert_eq!(
        attempts,
        3,
        "three attempts of Publish, then give up: {:?}",
        stack.proxy().injected()
    );

    // SNS is healthy again; Lambda retries the same event (twice: a duplicate of the retry too).
    stack.proxy().clear();
    ok(&mut events, &crash);
    ok(&mut events, &crash);
    assert_eq!(
        kinds(&stack.inbox().settle_and_drain().await),
        ["gateway_down"],
        "exactly once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_or_dropped_ecs_call_during_a_crash_loop_never_restarts_twice() {
    let policy = r#"{"down_grace_secs":600,"min_notify_interval_secs":0,"backoff_initial_secs":60}"#;
    let stack = stack(policy).await;
    let mut events = stack.spawn("task-events");
    let t = now();
    ok(
        &mut events,
        &task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t - 40),
    );
    ok(
        &mut events,
        &task_stopped("task-stopped-crash", "bbbb", 3, t - 40, t - 20),
    );
    // The third fast stop declares the crash loop; pausing the service is slow, then dropped.
    stack
        .proxy()
        .inject("UpdateService", Fault::Delay(Duration::from_millis(1500)), 2);
    stack.proxy().inject("UpdateService", Fault::Drop, 5);
    let third = task_stopped("task-stopped-oom", "cccc", 3, t - 20, t);
    let failure = events.invoke(&third).expect_failed();
    assert_eq!(failure.error_type, "Retryable", "{failure:?}");
    assert!(
        stack.inbox().settle_and_drain().await.is_empty(),
        "the crash-loop notice waits behind the pause in the outbox"
    );

    stack.proxy().clear();
    ok(&mut events, &third);
    assert_eq!(stack.desired_count().await, 0, "paused");
    ok(&mut events, &third);
    assert_eq!(kinds(&stack.inbox().settle_and_drain().await), ["crash_loop"]);
    let updates = stack
        .proxy()
        .forwarded()
        .iter()
        .filter(|op| op.contains("UpdateService"))
        .count();
    // The delayed attempts reached moto after the client gave up; the retry's own call is the
    // only one clawkeeper confirmed. Setting desired 0 is idempotent, so ECS ends the same.
    assert!(updates >= 1, "{:?}", stack.proxy().forwarded());
}
