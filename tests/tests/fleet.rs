//! The fleet end to end: gateways registered through `control` at run time are watched by the
//! warm `task-events` and `reconciler` processes without a restart, each owner's subscription
//! passes only their gateways' notices (SNS filtering in moto, on the filter policy `control`
//! wrote), and unregistering stops the watch and the owner's mail. The real binaries through the
//! Runtime API, DynamoDB, SNS, SQS and ECS in moto.

use std::time::Duration;

use clawkeeper_tests::aws_setup::{self, Inbox, kinds};
use clawkeeper_tests::events::{now, task_stopped};
use clawkeeper_tests::{FunctionProcess, Invocation, Stack};
use serde_json::{Value, json};

const POLICY: &str = r#"{"down_grace_secs":0,"min_notify_interval_secs":0}"#;
const LAB: &str = "lab";
const LAB_SERVICE: &str = "lab-gateway";

fn ask(control: &mut FunctionProcess, request: Value) -> Value {
    match control.invoke_within(&request, Duration::from_secs(60)) {
        Invocation::Ok(v) => v,
        other => panic!("{request} failed: {other:?}\nlogs:\n{}", control.logs()),
    }
}

fn ids(answer: &Value, list: &str, field: &str) -> Vec<String> {
    answer[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {answer}"))
        .iter()
        .map(|g| g[field].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A crash of a task of `service` (the sample event, regrouped).
fn crash_of(service: &str, task: &str) -> Value {
    let mut event = task_stopped("task-stopped-crash", task, 3, now() - 3600, now() - 5);
    event["detail"]["group"] = json!(format!("service:{service}"));
    event["id"] = json!(format!("evt-{task}-crash"));
    event
}

/// The e-mail subscriptions of the topic: (endpoint, subscription ARN).
async fn email_subscriptions(stack: &Stack) -> Vec<(String, String)> {
    let sns = aws_sdk_sns::Client::new(&stack.sdk);
    let out = sns
        .list_subscriptions_by_topic()
        .topic_arn(&stack.inbox().topic_arn)
        .send()
        .await
        .expect("list subscriptions");
    out.subscriptions()
        .iter()
        .filter(|s| s.protocol() == Some("email"))
        .map(|s| {
            (
                s.endpoint().unwrap_or_default().to_string(),
                s.subscription_arn().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn filter_policy(stack: &Stack, subscription_arn: &str) -> Value {
    let out = aws_sdk_sns::Client::new(&stack.sdk)
        .get_subscription_attributes()
        .subscription_arn(subscription_arn)
        .send()
        .await
        .expect("subscription attributes");
    let policy = out
        .attributes()
        .and_then(|a| a.get("FilterPolicy"))
        .expect("a filter policy");
    serde_json::from_str(policy).expect("filter policy JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_registered_at_run_time_is_watched_without_a_restart_and_its_owner_told_only_of_it() {
    let stack = Stack::builder().policy(POLICY).with_service().start().await;
    aws_setup::create_fleet_service(&stack.sdk, LAB_SERVICE).await;
    // Warm before the registration: nothing restarts after it.
    let mut control = stack.spawn("control");
    let mut events = stack.spawn("task-events");
    let mut reconciler = stack.spawn("reconciler");
    let tick = json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"});

    let first = reconciler.invoke(&tick).expect_ok();
    assert_eq!(ids(&first, "gateways", "gateway"), ["home"], "{first}");
    let before = events.invoke(&crash_of(LAB_SERVICE, "lab-task-0")).expect_ok();
    assert!(
        before["ignored"]
            .as_str()
            .is_some_and(|r| r.contains("matches no configured gateway")),
        "{before}"
    );

    let registered = ask(
        &mut control,
        json!({"action": "register", "owner_email": "Ann@Example.com",
               "gateway": {"id": LAB, "cluster": "openclaw", "service": LAB_SERVICE,
                           "state_root": "/mnt/openclaw/lab"}}),
    );
    assert_eq!(registered["registered"]["service"], LAB_SERVICE, "{registered}");
    assert_eq!(registered["owner"]["email"], "ann@example.com", "{registered}");
    assert_eq!(registered["owner"]["gateways"], json!([LAB]), "{registered}");
    assert_eq!(
        registered["owner"]["subscription"], "pending confirmation",
        "{registered}"
    );

    // Ann's e-mail subscription passes exactly her gateway's notices: the filter control wrote.
    let subscriptions = email_subscriptions(&stack).await;
    let [(endpoint, ann_arn)] = subscriptions.as_slice() else {
        panic!("one e-mail subscription expected: {subscriptions:?}");
    };
    assert_eq!(endpoint, "ann@example.com");
    let policy = filter_policy(&stack, ann_arn).await;
    assert_eq!(policy, json!({"gateway": [LAB]}));
    // Her mailbox, in the test: a queue with the same filter on the same topic.
    let ann = Inbox::attach(
        &stack.sdk,
        &stack.inbox().topic_arn,
        "ann-inbox",
        Some(&policy.to_string()),
    )
    .await;

    // The warm task-events process learns of `lab` from its first event.
    let handled = events.invoke(&crash_of(LAB_SERVICE, "lab-task-1")).expect_ok();
    assert_eq!(handled["gateway"], LAB, "{handled}\n{}", events.logs());
    let home = events.invoke(&crash_of("openclaw-gateway", "home-task-1")).expect_ok();
    assert_eq!(home["gateway"], "home", "{home}");
    // And the warm reconciler from its next tick.
    let second = reconciler.invoke(&tick).expect_ok();
    assert_eq!(ids(&second, "gateways", "gateway"), ["home", LAB], "{second}");

    let everything = stack.inbox().settle_and_drain().await;
    let ann_got = ann.settle_and_drain().await;
    assert!(
        everything.iter().any(|d| d.gateway == "home"),
        "{:?}",
        kinds(&everything)
    );
    assert!(everything.iter().any(|d| d.gateway == LAB), "{:?}", kinds(&everything));
    assert!(
        !ann_got.is_empty(),
        "ann got nothing; the stack's owner got {:?}",
        kinds(&everything)
    );
    assert!(
        ann_got.iter().all(|d| d.gateway == LAB),
        "ann got another gateway's notice: {:?}",
        ann_got.iter().map(|d| (&d.gateway, &d.kind)).collect::<Vec<_>>()
    );
    assert_eq!(
        ann_got.len(),
        everything.iter().filter(|d| d.gateway == LAB).count(),
        "ann gets every notice of her gateway"
    );

    let listed = ask(&mut control, json!({"action": "gateways"}));
    assert_eq!(ids(&listed, "gateways", "id"), ["home", LAB], "{listed}");
    assert_eq!(ids(&listed, "gateways", "source"), ["seed", "registered"], "{listed}");
    assert_eq!(listed["gateways"][1]["owner_email"], "ann@example.com", "{listed}");
    assert_ne!(listed["gateways"][1]["phase"], "unknown", "{listed}");
    assert_eq!(ids(&listed, "owners", "email"), ["ann@example.com"], "{listed}");

    // A second gateway of Ann's widens her filter; removing the first narrows it again.
    ask(
        &mut control,
        json!({"action": "register", "owner_email": "ann@example.com",
               "gateway": {"id": "lab2", "cluster": "openclaw", "service": "lab2-gateway",
                           "state_root": "/mnt/openclaw/lab2"}}),
    );
    assert_eq!(filter_policy(&stack, ann_arn).await, json!({"gateway": [LAB, "lab2"]}));
    let removed = ask(&mut control, json!({"action": "unregister", "gateway": LAB}));
    assert_eq!(removed["unregistered"], LAB, "{removed}");
    assert_eq!(filter_policy(&stack, ann_arn).await, json!({"gateway": ["lab2"]}));
    // Her last gateway gone, her subscription ends.
    let removed = ask(&mut control, json!({"action": "unregister", "gateway": "lab2"}));
    assert_eq!(removed["owner"]["subscription"], "ended", "{removed}");
    assert!(email_subscriptions(&stack).await.is_empty());

    // Unwatched: the next tick leaves `lab` alone, and so does every event once the warm
    // process's fleet is renewed (at most 30 s; a process started now has it at once).
    let third = reconciler.invoke(&tick).expect_ok();
    assert_eq!(ids(&third, "gateways", "gateway"), ["home"], "{third}");
    drop(events);
    let mut events = stack.spawn("task-events");
    let after = events.invoke(&crash_of(LAB_SERVICE, "lab-task-2")).expect_ok();
    assert!(after["ignored"].is_string(), "{after}");
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_are_checked_as_strictly_as_the_environment_and_a_seed_can_be_unwatched() {
    let stack = Stack::builder()
        .with_service()
        .env("CLAWKEEPER_WATCHED_CLUSTERS", "openclaw")
        .env(
            "CLAWKEEPER_TOKEN_SECRET_PREFIX",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:clawkeeper/clawkeeper/",
        )
        .start()
        .await;
    let mut control = stack.spawn("control");
    let refusals = [
        (
            json!({"id": "x", "cluster": "openclaw", "service": "s"}),
            "is gateway \"home\"'s",
        ),
        (
            json!({"id": "x", "cluster": "elsewhere", "service": "s", "state_root": "/mnt/x"}),
            "is not watched by this stack",
        ),
        (
            json!({"id": "x", "cluster": "openclaw"}),
            "neither `service` nor `task_family`",
        ),
        (
            json!({"id": "x", "cluster": "openclaw", "service": "s", "servce": "t"}),
            "unknown field `servce`",
        ),
        (
            json!({"id": "x y", "cluster": "openclaw", "service": "s"}),
            "`id` \"x y\"",
        ),
        (
            json!({"id": "x", "cluster": "openclaw", "service": "s", "state_root": "/mnt/x",
                   "token_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"}),
            "a secret the stack may read",
        ),
        (json!("x"), "must be a JSON object"),
    ];
    for (gateway, why) in refusals {
        let e = control
            .invoke(&json!({"action": "register", "gateway": gateway}))
            .expect_failed();
        assert_eq!(e.error_type, "InvalidRequest", "{gateway}: {e:?}");
        assert!(e.error_message.contains(why), "{gateway}: {}", e.error_message);
    }
    let e = control
        .invoke(&json!({"action": "register", "owner_email": "not-an-address",
                        "gateway": {"id": "x", "cluster": "openclaw", "service": "s", "state_root": "/mnt/x"}}))
        .expect_failed();
    assert!(e.error_message.contains("not an e-mail address"), "{e:?}");
    let e = control
        .invoke(&json!({"action": "unregister", "gateway": "nobody"}))
        .expect_failed();
    assert_eq!(e.error_type, "UnknownGateway", "{e:?}");
    // Nothing refused was written.
    let listed = ask(&mut control, json!({"action": "gateways"}));
    assert_eq!(ids(&listed, "gateways", "id"), ["home"], "{listed}");

    // The seed: unwatched by a tombstone, though the environment still lists it; registered again,
    // watched again, with the registration's fields.
    ask(&mut control, json!({"action": "unregister", "gateway": "home"}));
    let listed = ask(&mut control, json!({"action": "gateways"}));
    assert_eq!(ids(&listed, "gateways", "id"), Vec::<String>::new(), "{listed}");
    let e = control
        .invoke(&json!({"action": "status", "gateway": "home"}))
        .expect_failed();
    assert_eq!(e.error_type, "UnknownGateway", "{e:?}");
    ask(
        &mut control,
        json!({"action": "register",
               "gateway": {"id": "home", "cluster": "openclaw", "service": "openclaw-gateway",
                           "probe_url": "http://127.0.0.1:9/"}}),
    );
    let listed = ask(&mut control, json!({"action": "gateways"}));
    assert_eq!(ids(&listed, "gateways", "source"), ["registered"], "{listed}");
    assert_eq!(listed["gateways"][0]["probe_url"], "http://127.0.0.1:9/", "{listed}");
}
