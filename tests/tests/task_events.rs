//! `task-events` end to end: the real binary through the Runtime API, with DynamoDB, SNS (read
//! through a subscribed SQS queue) and ECS in moto, fed a scripted sequence of real-shaped events.

use clawkeeper_tests::aws_setup::{self, Inbox, kinds};
use clawkeeper_tests::consts::{LOG_GROUP, TABLE, TOPIC};
use clawkeeper_tests::events::{log_lines, now, task_running, task_stopped};
use clawkeeper_tests::{Stack, ok};
use serde_json::json;

/// Small policy values so a whole crash loop fits in a few seconds.
const POLICY: &str = r#"{"down_grace_secs":0,"min_notify_interval_secs":0,"crash_loop_stops":3,
  "crash_loop_window_secs":900,"crash_loop_max_runtime_secs":600,"backoff_initial_secs":1,
  "backoff_max_secs":2,"backoff_max_tries":2,"backoff_reset_secs":2}"#;

#[tokio::test(flavor = "multi_thread")]
async fn scripted_sequence_produces_exactly_the_expected_notices_and_ecs_changes() {
    let stack = Stack::builder().policy(POLICY).with_service().start().await;
    let inbox = stack.inbox();
    let mut events = stack.spawn("task-events");
    let mut reconciler = stack.spawn("reconciler");
    let t = now();

    // 1. A crash: the owner hears at once (grace 0); ECS replaces the task itself.
    let crash_a = task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t - 1);
    let answer = ok(&mut events, &crash_a);
    assert_eq!(answer["phase"], "down", "{answer}");
    let got = inbox.settle_and_drain().await;
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
    assert_eq!(stack.desired_count().await, 1);

    // 2. The replacement runs: recovered, with the downtime.
    let running_b = task_running("bbbb", 4, t);
    ok(&mut events, &running_b);
    let got = inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["recovered"], "{got:#?}");

    // 3. Duplicates and an older version change nothing.
    ok(&mut events, &crash_a);
    ok(&mut events, &running_b);
    let stale = ok(&mut events, &task_running("bbbb", 2, t));
    assert_eq!(stale["executed"], json!([]), "{stale}");
    assert!(inbox.settle_and_drain().await.is_empty());

    // 4. The owner stops the task: expected, no incident, no notice.
    ok(&mut events, &task_stopped("task-stopped-user", "bbbb", 5, t, t + 1));
    ok(&mut events, &task_running("cccc", 2, t + 2));
    assert!(inbox.settle_and_drain().await.is_empty());

    // 5. Two more fast crashes: with the first one, three within the window: a crash loop.
    ok(
        &mut events,
        &task_stopped("task-stopped-crash", "cccc", 3, t + 2, t + 3),
    );
    let got = inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["gateway_down"], "{got:#?}");
    let answer = ok(&mut events, &task_stopped("task-stopped-oom", "dddd", 3, t + 3, t + 4));
    let got = inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["crash_loop"], "{got:#?}");
    assert!(
        got[0].message.contains("137") || got[0].message.contains("OutOfMemory"),
        "{}",
        got[0].message
    );
    assert_eq!(stack.desired_count().await, 0, "paused under backoff: {answer}");

    // 6. The backoff passes: the reconciler's tick resumes the service.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let tick = ok(
        &mut reconciler,
        &json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"}),
    );
    assert_eq!(stack.desired_count().await, 1, "resumed after the backoff: {tick}");

    // 7. It runs and stays up past backoff_reset_secs: recovered, once.
    ok(&mut events, &task_running("eeee", 2, now()));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    ok(&mut reconciler, &json!({}));
    ok(&mut reconciler, &json!({}));
    let got = inbox.settle_and_drain().await;
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
    ok(&mut events, &failed);
    let again = ok(&mut events, &failed);
    assert_eq!(again["duplicate"], true, "{again}");
    let got = inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["deployment_failed"], "{got:#?}");

    // Events of other services and clusters are ignored.
    let mut other = task_running("ffff", 2, now());
    other["detail"]["group"] = json!("service:something-else");
    let ignored = ok(&mut events, &other);
    assert!(ignored.get("ignored").is_some(), "{ignored}");
    assert!(inbox.settle_and_drain().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_keep_the_event_and_the_notice_until_aws_is_fixed() {
    let stack = Stack::bare().policy(POLICY).start().await;
    let mut events = stack.spawn("task-events");
    let t = now();
    let crash = task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t);

    // No table: the invocation fails naming it, so Lambda retries the event.
    let failure = events.invoke(&crash).expect_failed();
    assert!(failure.error_message.contains(TABLE), "names the table: {failure:?}");
    assert!(failure.error_message.contains("not found"), "{failure:?}");

    // The table exists, the topic does not: the state is stored, the notice waits in the outbox
    // and the invocation fails again.
    aws_setup::create_table(&stack.sdk, TABLE).await;
    let failure = events.invoke(&crash).expect_failed();
    assert!(failure.error_message.contains("Publish"), "{failure:?}");

    // The owner creates the topic; Lambda's next retry of the same event delivers the notice once.
    let inbox = Inbox::create(&stack.sdk, TOPIC).await;
    let answer = ok(&mut events, &crash);
    assert_eq!(
        answer["executed"].as_array().map(Vec::len),
        Some(1),
        "only the held notice: {answer}"
    );
    let got = inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["gateway_down"], "{got:#?}");
    ok(&mut events, &crash);
    assert!(inbox.settle_and_drain().await.is_empty(), "never twice");
}

/// OpenClaw refusing to start (exit 78) is no crash: the cause from the gateway's log (log-alerts),
/// one `start_refused` notice, no restart of clawkeeper's own, and at the second refusal in a row
/// the service paused in ECS.
#[tokio::test(flavor = "multi_thread")]
async fn two_refused_starts_make_one_notice_and_pause_the_service() {
    let stack = Stack::builder()
        .policy(r#"{"down_grace_secs":0,"min_notify_interval_secs":0}"#)
        .gateway(json!({"log_group": LOG_GROUP}))
        .with_service()
        .start()
        .await;
    let inbox = stack.inbox();
    let mut events = stack.spawn("task-events");
    let mut alerts = stack.spawn("log-alerts");
    let deployment = aws_setup::deployment_id(&stack.sdk).await;
    let t = now();

    // The line OpenClaw 2026.9.6 prints before it exits 78 reaches log-alerts first, as it usually
    // does (the subscription is faster than ECS's STOPPED event): kept, nothing sent yet.
    let line = "Another gateway (pid 4242) already owns this state directory; refusing to run automatic startup \
                migrations or report the gateway ready. Stop it with \"openclaw gateway stop\" (or select a \
                different OPENCLAW_STATE_DIR), then retry startup.";
    let answer = ok(&mut alerts, &log_lines(&[line]));
    assert_eq!(answer["signals"][0]["kind"], "start_refused", "{answer}");
    assert_eq!(answer["signals"][0]["cause"], "another_writer", "{answer}");
    assert!(!alerts.logs().contains("pid 4242"), "the line itself is never logged");
    assert!(inbox.settle_and_drain().await.is_empty());

    // 1. The first refused start: one critical notice naming the cause and what to do; ECS's
    //    scheduler starts the next task, clawkeeper adds nothing.
    let first = task_stopped("task-stopped-start-refused", "aaaa", 3, t - 25, t);
    let answer = ok(&mut events, &first);
    assert_eq!(answer["phase"], "down", "{answer}");
    let got = inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["start_refused"], "{got:#?}");
    let notice = &got[0];
    assert_eq!(notice.severity, "critical");
    assert!(
        notice.subject.contains("another writer owns its state"),
        "{}",
        notice.subject
    );
    for needle in [
        "exited with code 78",
        "aws ecs list-tasks --cluster openclaw --service-name openclaw-gateway --desired-status RUNNING",
        "clawkeeper resume home",
        "if that one refuses too, clawkeeper pauses the service",
    ] {
        assert!(notice.message.contains(needle), "{needle}:\n{}", notice.message);
    }
    assert_eq!(stack.desired_count().await, 1, "no pause yet");

    // 2. ECS's next task runs, then refuses too (no healthy run between): paused, no second notice.
    ok(&mut events, &task_running("bbbb", 2, t + 2));
    let second = task_stopped("task-stopped-start-refused", "bbbb", 3, t + 2, t + 20);
    let answer = ok(&mut events, &second);
    assert_eq!(answer["phase"], "paused", "{answer}");
    let executed: Vec<&str> = answer["executed"]
        .as_array()
        .map(|a| a.iter().filter_map(|k| k.as_str()).collect())
        .unwrap_or_default();
    assert!(
        executed.len() == 1 && executed[0].ends_with("/start-refused/bbbb/pause"),
        "only the pause: {answer}"
    );
    assert_eq!(stack.desired_count().await, 0, "paused in ECS");
    assert!(
        inbox.settle_and_drain().await.is_empty(),
        "one notice for the two refusals"
    );

    // Redelivered events change nothing; clawkeeper never forced a new deployment.
    ok(&mut events, &first);
    ok(&mut events, &second);
    assert!(inbox.settle_and_drain().await.is_empty());
    assert_eq!(stack.desired_count().await, 0);
    assert_eq!(
        aws_setup::deployment_id(&stack.sdk).await,
        deployment,
        "no force-new-deployment"
    );
}
