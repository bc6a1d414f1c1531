//! `control` end to end: the real binary through the Runtime API, ECS in moto.

use clawkeeper_tests::consts::{CLUSTER, SERVICE};
use clawkeeper_tests::{FunctionProcess, Stack, clawkeeper_env, moto};
use serde_json::json;

fn gateways() -> serde_json::Value {
    json!([
        {"id": "home", "cluster": CLUSTER, "service": SERVICE},
        {"id": "old", "cluster": CLUSTER, "service": "deleted-service"}
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_what_ecs_says_about_each_gateway() {
    let stack = Stack::bare().gateways(gateways()).with_service().start().await;
    let task_definition = stack.task_definition();
    let mut control = stack.spawn("control");

    let status = control.invoke(&json!({"action": "status"})).expect_ok();
    let gateways = status["gateways"].as_array().expect("gateways array");
    assert_eq!(gateways.len(), 2, "{status:#}");

    let home = &gateways[0];
    assert_eq!(home["id"], "home");
    assert_eq!(home["target"], json!({"kind": "service", "name": "openclaw-gateway"}));
    let ecs = &home["ecs"];
    assert_eq!(ecs["state"], "service", "{status:#}");
    assert_eq!(ecs["status"], "ACTIVE");
    assert_eq!(ecs["desired"], 1);
    assert_eq!(ecs["task_definition"], task_definition);
    // moto does not keep a service's deployment configuration; real ECS reports it here.
    assert!(ecs.get("deployment_configuration").is_some(), "{status:#}");
    let deployments = ecs["deployments"].as_array().expect("deployments");
    assert_eq!(deployments.len(), 1, "{status:#}");
    assert_eq!(deployments[0]["status"], "PRIMARY");
    assert_eq!(deployments[0]["task_definition"], task_definition);
    assert_eq!(deployments[0]["desired"], 1);
    assert!(deployments[0]["rollout_state"].is_string(), "{status:#}");
    assert_eq!(
        ecs["running"].as_i64().zip(ecs["pending"].as_i64()).map(|(r, p)| r + p),
        Some(1),
        "{status:#}"
    );

    assert_eq!(gateways[1]["id"], "old");
    assert_eq!(gateways[1]["ecs"]["state"], "missing", "{status:#}");

    // One gateway only; the process keeps serving after each answer.
    let one = control
        .invoke(&json!({"action": "status", "gateway": "old"}))
        .expect_ok();
    assert_eq!(one["gateways"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["gateways"][0]["id"], "old");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_actions_and_gateways_are_errors_naming_them() {
    let stack = Stack::bare().gateways(gateways()).start().await;
    let mut control = stack.spawn("control");

    let failure = control.invoke(&json!({"action": "reboot"})).expect_failed();
    assert_eq!(failure.error_type, "UnknownAction");
    assert!(failure.error_message.contains("\"reboot\""), "{failure:?}");

    let failure = control
        .invoke(&json!({"action": "status", "gateway": "office"}))
        .expect_failed();
    assert_eq!(failure.error_type, "UnknownGateway");
    assert!(failure.error_message.contains("\"office\""), "{failure:?}");

    let failure = control.invoke(&json!([1, 2])).expect_failed();
    assert_eq!(failure.error_type, "InvalidRequest");

    // Still serving after refusals; a cluster that does not exist is reported, not fatal.
    let status = control.invoke(&json!({"action": "status"})).expect_ok();
    assert_eq!(status["gateways"][0]["ecs"]["state"], "missing", "{status:#}");
    assert_eq!(status["gateways"][0]["ecs"]["reason"], "cluster openclaw not found");
}

#[tokio::test(flavor = "multi_thread")]
async fn ecs_unreachable_is_reported_per_gateway_as_retryable() {
    // Nothing listens on this port: every ECS call fails to connect.
    let mut env = moto::aws_env(&format!("http://127.0.0.1:{}", moto::free_port()));
    env.extend(clawkeeper_env(&gateways()));
    let mut control = FunctionProcess::spawn("control", &env);
    let status = control.invoke(&json!({"action": "status"})).expect_ok();
    assert_eq!(status["gateways"][0]["ecs"]["state"], "error", "{status:#}");
    assert_eq!(status["gateways"][0]["ecs"]["retryable"], true);
    assert!(
        status["gateways"][0]["ecs"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("DescribeServices"),
        "{status:#}"
    );
}
