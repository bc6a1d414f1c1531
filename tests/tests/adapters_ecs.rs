//! The ECS control adapter against moto: desired count, forced deployment, RunTask on awsvpc, StopTask.

use clawkeeper_aws::ecs::EcsClient;
use clawkeeper_core::ecs::{RunSpec, ServiceView, TaskGroup};
use clawkeeper_core::ports::{EcsControl, EcsRead};
use clawkeeper_tests::Moto;
use clawkeeper_tests::aws_setup::{create_awsvpc_gateway_service, run_service_task};
use clawkeeper_tests::consts::{CLUSTER, FAMILY, SERVICE};
use clawkeeper_tests::ec2::Network;

/// A VPC with one subnet and one security group, and in it the cluster, an awsvpc Fargate task
/// definition and the gateway service; returns the network and the task definition ARN.
async fn create_gateway(moto: &Moto) -> (Network, String) {
    let network = Network::create(moto);
    let task_definition = create_awsvpc_gateway_service(&moto.sdk_config().await, &network.configuration()).await;
    (network, task_definition)
}

async fn service(ecs: &EcsClient) -> ServiceView {
    ecs.describe_service(CLUSTER, SERVICE)
        .await
        .expect("describe service")
        .expect("service exists")
}

fn primary_deployment_id(service: &ServiceView) -> String {
    let primary: Vec<_> = service.deployments.iter().filter(|d| d.status == "PRIMARY").collect();
    assert_eq!(primary.len(), 1, "{service:#?}");
    primary[0].id.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn desired_count_and_forced_deployment_change_the_service() {
    let moto = Moto::start();
    create_gateway(&moto).await;
    let ecs = EcsClient::new(&moto.sdk_config().await);
    assert_eq!(service(&ecs).await.desired, 1);

    ecs.set_desired_count(CLUSTER, SERVICE, 0).await.expect("pause");
    assert_eq!(service(&ecs).await.desired, 0);
    ecs.set_desired_count(CLUSTER, SERVICE, 1).await.expect("resume");
    assert_eq!(service(&ecs).await.desired, 1);

    let before = primary_deployment_id(&service(&ecs).await);
    ecs.force_new_deployment(CLUSTER, SERVICE)
        .await
        .expect("force new deployment");
    // moto keeps a single PRIMARY deployment (real ECS shows the old one ACTIVE beside it): the id
    // is what tells a new deployment started.
    let after = service(&ecs).await;
    assert_ne!(primary_deployment_id(&after), before, "{after:#?}");
    assert_eq!(after.desired, 1, "a restart keeps the desired count");

    let err = ecs
        .set_desired_count(CLUSTER, "no-such-service", 1)
        .await
        .expect_err("unknown service");
    assert_eq!((err.service, err.operation), ("ecs", "UpdateService"));
    assert_eq!(err.code.as_deref(), Some("ServiceNotFoundException"), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test(flavor = "multi_thread")]
async fn run_describe_list_and_stop_tasks() {
    let moto = Moto::start();
    let (network, task_definition) = create_gateway(&moto).await;
    let ecs = EcsClient::new(&moto.sdk_config().await);

    // A standalone gateway task, as the watchdog restarts one.
    let spec = RunSpec {
        task_definition: FAMILY.to_string(),
        subnets: vec![network.subnet.clone()],
        security_groups: vec![network.group.clone()],
        assign_public_ip: false,
        client_token: Some("restart-home-3".to_string()),
    };
    let standalone = ecs.run_task(CLUSTER, &spec).await.expect("run task");
    assert!(standalone.contains(":task/"), "{standalone}");

    let task = ecs
        .task(CLUSTER, &standalone)
        .await
        .expect("describe task")
        .expect("task known");
    assert_eq!(task.arn, standalone);
    assert_eq!(task.task_definition.as_deref(), Some(task_definition.as_str()));
    assert_eq!(task.desired_status.as_deref(), Some("RUNNING"));
    assert_eq!(task.group.as_deref(), Some("family:openclaw-gateway"));

    // moto starts no tasks for a service; one with the service's group stands in for it.
    let service_task = run_service_task(&moto.sdk_config().await, &network.configuration()).await;

    let running = ecs
        .tasks(CLUSTER, &TaskGroup::Service(SERVICE.into()), "RUNNING")
        .await
        .expect("list service tasks");
    let arns: Vec<&str> = running.iter().map(|t| t.arn.as_str()).collect();
    assert_eq!(
        arns,
        vec![service_task.as_str()],
        "the standalone task is not the service's"
    );

    ecs.stop_task(
        CLUSTER,
        &service_task,
        &format!("clawkeeper: hung, {}", "x".repeat(300)),
    )
    .await
    .expect("stop task");
    let stopped = ecs
        .task(CLUSTER, &service_task)
        .await
        .expect("describe stopped task")
        .expect("stopped task known");
    assert_eq!(stopped.last_status.as_deref(), Some("STOPPED"), "{stopped:?}");
    assert_eq!(stopped.desired_status.as_deref(), Some("STOPPED"));
    let reason = stopped.stopped_reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with("clawkeeper: hung"), "{reason}");
    assert_eq!(reason.chars().count(), 255, "ECS keeps 255 characters of a reason");

    assert!(
        ecs.tasks(CLUSTER, &TaskGroup::Service(SERVICE.into()), "RUNNING")
            .await
            .expect("list running")
            .is_empty()
    );
    let stopped_tasks = ecs
        .tasks(CLUSTER, &TaskGroup::Service(SERVICE.into()), "STOPPED")
        .await
        .expect("list stopped");
    assert_eq!(stopped_tasks.len(), 1, "{stopped_tasks:?}");

    let unknown = format!("arn:aws:ecs:us-east-1:123456789012:task/{CLUSTER}/0123456789abcdef0123456789abcdef");
    assert_eq!(ecs.task(CLUSTER, &unknown).await.expect("describe unknown"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_task_without_network_configuration_fails_clearly_for_awsvpc() {
    let moto = Moto::start();
    create_gateway(&moto).await;
    let ecs = EcsClient::new(&moto.sdk_config().await);
    let spec = RunSpec {
        task_definition: FAMILY.to_string(),
        subnets: Vec::new(),
        security_groups: Vec::new(),
        assign_public_ip: false,
        client_token: None,
    };
    let err = ecs.run_task(CLUSTER, &spec).await.expect_err("awsvpc without subnets");
    assert_eq!(err.operation, "RunTask");
    assert_eq!(err.code.as_deref(), Some("InvalidParameterException"), "{err:?}");
    assert!(err.message.contains("Network Configuration"), "{err}");
}
