//! The reconciler over a fleet, end to end: one run over 25 gateways of one cluster reads ECS in
//! batches (services 10 at a time, one task listing for the cluster, tasks described 100 at a
//! time) and every state in one batched read, judges each gateway from its own tasks and probe,
//! and a gateway that never answers delays none of the others. Past the run's probe
//! deadline a gateway is unknown, not failed. The real binary through the Runtime API, ECS and
//! DynamoDB in moto behind the counting proxy.

use std::time::Duration;

use clawkeeper_tests::Stack;
use clawkeeper_tests::aws_setup;
use clawkeeper_tests::consts::{CLUSTER, FAMILY, GATEWAY, SERVICE};
use clawkeeper_tests::stub::Stub;
use serde_json::{Value, json};

const POLICY: &str = r#"{"down_grace_secs":0,"min_notify_interval_secs":0}"#;
/// Gateways besides `home`.
const FLEET: usize = 24;

fn fleet_id(i: usize) -> String {
    format!("fleet-{i:02}")
}

/// `fleet-NN` gateways run a task and answer their probe when NN is even; odd ones have no task.
fn runs(i: usize) -> bool {
    i.is_multiple_of(2)
}

fn forwarded(stack: &Stack, operation: &str) -> usize {
    stack.proxy().forwarded().iter().filter(|op| *op == operation).count()
}

fn gateway_answer<'a>(answer: &'a Value, id: &str) -> &'a Value {
    answer["gateways"]
        .as_array()
        .and_then(|all| all.iter().find(|g| g["gateway"] == id))
        .unwrap_or_else(|| panic!("no {id} in {answer}"))
}

async fn run_fleet_task(stack: &Stack, service: &str) {
    aws_sdk_ecs::Client::new(&stack.sdk)
        .run_task()
        .cluster(CLUSTER)
        .task_definition(FAMILY)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .group(format!("service:{service}"))
        .network_configuration(stack.network().clone())
        .send()
        .await
        .expect("run fleet task");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_over_a_fleet_reads_ecs_and_the_states_in_batches_and_a_silent_gateway_delays_no_one() {
    let hung = Stub::serve(200, "application/json", None);
    let live = Stub::live();
    let mut gateways = vec![json!({"id": GATEWAY, "cluster": CLUSTER, "service": SERVICE,
                                   "probe_url": hung.url, "state_root": "/mnt/openclaw/home"})];
    for i in 0..FLEET {
        let mut gateway = json!({"id": fleet_id(i), "cluster": CLUSTER, "service": format!("{}-gateway", fleet_id(i)),
                                 "state_root": format!("/mnt/openclaw/{}", fleet_id(i))});
        if runs(i) {
            gateway["probe_url"] = json!(live.url);
        }
        gateways.push(gateway);
    }
    let stack = Stack::builder()
        .policy(POLICY)
        .gateways(Value::Array(gateways))
        .with_running_task()
        .with_fault_proxy()
        // The proxy only counts here: a 1 s attempt timeout on a busy machine would retry a
        // write that went through, and the conflict's reload would be a read of its own.
        .env("CLAWKEEPER_AWS_ATTEMPT_TIMEOUT_MS", "20000")
        .start()
        .await;
    for i in 0..FLEET {
        let service = format!("{}-gateway", fleet_id(i));
        aws_setup::create_fleet_service(&stack.sdk, &service).await;
        if runs(i) {
            run_fleet_task(&stack, &service).await;
        }
    }
    let mut reconciler = stack.spawn("reconciler");

    let answer = reconciler.invoke(&json!({})).expect_ok();
    // 25 services: three DescribeServices; one listing and one description of the cluster's
    // 13 tasks; all 25 states in one BatchGetItem and their snapshot statuses in another, none
    // read alone, and nothing from S3.
    assert_eq!(
        forwarded(&stack, "DescribeServices"),
        3,
        "{:?}",
        stack.proxy().forwarded()
    );
    assert_eq!(forwarded(&stack, "ListTasks"), 1);
    assert_eq!(forwarded(&stack, "DescribeTasks"), 1);
    assert_eq!(forwarded(&stack, "BatchGetItem"), 2);
    assert_eq!(forwarded(&stack, "GetItem"), 0, "{:?}", stack.proxy().forwarded());
    assert!(
        !stack.proxy().forwarded().iter().any(|op| op.starts_with("GET /")),
        "no S3 read: {:?}",
        stack.proxy().forwarded()
    );

    for i in 0..FLEET {
        let seen = gateway_answer(&answer, &fleet_id(i));
        if runs(i) {
            assert_eq!(seen["probe"]["outcome"], "live", "{seen}");
            assert_eq!(seen["up"], true, "{seen}");
            assert_eq!(seen["phase"], "healthy", "{seen}");
        } else {
            assert_eq!(seen["up"], false, "its own tasks only: {seen}");
            assert_eq!(seen["phase"], "down", "{seen}");
            assert_eq!(seen["incident_open"], true, "{seen}");
        }
    }
    // The silent gateway connected and never answered: one failed probe of its own (a hung
    // streak starts), no incident yet, and the others were judged all the same.
    let home = gateway_answer(&answer, GATEWAY);
    assert_eq!(home["probe"]["outcome"], "failed", "{home}");
    assert_eq!(home["probe"]["failures"], 1, "{home}");
    assert_eq!(home["incident_open"], false, "{home}");

    // A run whose invocation ends 16 s from now has one second for probes: the silent
    // gateway's probe (2 s to give up by itself) is cut at the deadline and the run answers.
    let answer = reconciler
        .invoke_as(
            "deadline-run",
            &json!({}),
            Duration::from_secs(16),
            Duration::from_secs(60),
        )
        .expect_ok();
    let home = gateway_answer(&answer, GATEWAY);
    assert_eq!(home["probe"]["outcome"], Value::Null, "{home}");
    assert!(
        home["probe"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("probe deadline passed")),
        "{home}"
    );
    assert_eq!(home["phase"], "healthy", "{home}");
    assert_eq!(
        home["probe"]["failures"], 1,
        "unknown leaves the hung streak as it was: {home}"
    );
}
