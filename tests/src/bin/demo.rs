//! `make demo`: clawkeeper's main job, locally. Starts a private moto_server (the local AWS),
//! creates a gateway service in it, runs the real function binaries through the Lambda Runtime
//! API emulator, and prints what they report.

use aws_sdk_ecs::types::{ContainerDefinition, DeploymentConfiguration};
use clawkeeper_tests::{FunctionProcess, Invocation, Moto, clawkeeper_env};
use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    println!("== clawkeeper demo ==");
    let moto = Moto::start();
    println!("local AWS (moto_server) at {}", moto.endpoint());

    let ecs = aws_sdk_ecs::Client::new(&moto.sdk_config().await);
    create_gateway(&ecs).await;
    println!("created ECS cluster `openclaw` with service `openclaw-gateway` (desired 1, min 0% / max 100%)");

    let gateways = json!([{"id": "home", "cluster": "openclaw", "service": "openclaw-gateway"}]);
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(&gateways));

    let mut control = FunctionProcess::spawn("control", &env);
    step(&mut control, "control", json!({"action": "status"}));
    step(&mut control, "control", json!({"action": "status", "gateway": "nope"}));

    println!("\ndemo finished: the functions above ran as real Lambda processes against local AWS");
}

fn step(function: &mut FunctionProcess, name: &str, event: Value) {
    println!("\n$ invoke {name} {event}");
    match function.invoke(&event) {
        Invocation::Ok(answer) => println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default()),
        Invocation::Failed(f) => println!("error {}: {}", f.error_type, f.error_message),
        Invocation::Exited { status, init_error } => {
            println!(
                "function exited ({status}); init error: {init_error:?}\n{}",
                function.logs()
            )
        }
    }
}

async fn create_gateway(ecs: &aws_sdk_ecs::Client) {
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        eprintln!("demo: {what} failed: {e}");
        std::process::exit(1)
    };
    if let Err(e) = ecs.create_cluster().cluster_name("openclaw").send().await {
        fail("CreateCluster", &e);
    }
    let task_definition = match ecs
        .register_task_definition()
        .family("openclaw-gateway")
        .container_definitions(
            ContainerDefinition::builder()
                .name("gateway")
                .image("ghcr.io/openclaw/openclaw:latest")
                .memory(1024)
                .build(),
        )
        .send()
        .await
    {
        Ok(out) => out
            .task_definition
            .and_then(|t| t.task_definition_arn)
            .unwrap_or_default(),
        Err(e) => fail("RegisterTaskDefinition", &e),
    };
    if let Err(e) = ecs
        .create_service()
        .cluster("openclaw")
        .service_name("openclaw-gateway")
        .task_definition(task_definition)
        .desired_count(1)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(0)
                .maximum_percent(100)
                .build(),
        )
        .send()
        .await
    {
        fail("CreateService", &e);
    }
}
