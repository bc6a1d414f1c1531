//! The ECS control adapter against moto: desired count, forced deployment, RunTask on awsvpc, StopTask.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType, NetworkConfiguration,
    NetworkMode,
};
use clawkeeper_shared::aws::ecs::EcsClient;
use clawkeeper_shared::ecs::{Ecs, EcsControl, RunSpec, ServiceView};
use clawkeeper_tests::Moto;
use clawkeeper_tests::http::read_message;

const CLUSTER: &str = "openclaw";
const SERVICE: &str = "openclaw-gateway";
const FAMILY: &str = "openclaw-gateway";

/// Calls moto's EC2 Query API directly (no EC2 SDK in this workspace) and returns the XML answer.
/// moto checks no signature; the Authorization header only routes the call to EC2.
fn ec2(moto: &Moto, params: &[(&str, &str)]) -> String {
    let addr = moto.endpoint().trim_start_matches("http://").to_string();
    let mut body = String::from("Version=2016-11-15");
    for (name, value) in params {
        body.push_str(&format!("&{name}={}", value.replace('/', "%2F")));
    }
    let stream = TcpStream::connect(&addr).expect("connect to moto");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut writer = stream.try_clone().expect("clone stream");
    write!(
        writer,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, \
         SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send EC2 request");
    let answer = read_message(&mut BufReader::new(stream))
        .expect("read EC2 answer")
        .expect("an EC2 answer");
    let xml = String::from_utf8_lossy(&answer.body).to_string();
    assert_eq!(answer.status(), 200, "EC2 {params:?}: {xml}");
    xml
}

/// The text of the first `<tag>` in `xml`.
fn xml_value(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = xml[start..].find('<').expect("closing tag") + start;
    xml[start..end].to_string()
}

/// A VPC with one subnet and one security group; returns (subnet, group).
fn network(moto: &Moto) -> (String, String) {
    let vpc = xml_value(
        &ec2(moto, &[("Action", "CreateVpc"), ("CidrBlock", "10.42.0.0/16")]),
        "vpcId",
    );
    // moto's awsvpc RunTask answers 500 in a VPC without DNS hostnames (its ENI then lacks the private
    // DNS name the task attachment reads); the default VPC has them, a new one must turn them on.
    ec2(
        moto,
        &[
            ("Action", "ModifyVpcAttribute"),
            ("VpcId", &vpc),
            ("EnableDnsHostnames.Value", "true"),
        ],
    );
    let subnet = xml_value(
        &ec2(
            moto,
            &[
                ("Action", "CreateSubnet"),
                ("VpcId", &vpc),
                ("CidrBlock", "10.42.1.0/24"),
            ],
        ),
        "subnetId",
    );
    let group = xml_value(
        &ec2(
            moto,
            &[
                ("Action", "CreateSecurityGroup"),
                ("VpcId", &vpc),
                ("GroupName", "openclaw-gateway"),
                ("GroupDescription", "gateway"),
            ],
        ),
        "groupId",
    );
    (subnet, group)
}

/// Cluster, an awsvpc Fargate task definition and the gateway service; returns the task definition ARN.
async fn create_gateway(moto: &Moto, subnet: &str, group: &str) -> String {
    let ecs = aws_sdk_ecs::Client::new(&moto.sdk_config().await);
    ecs.create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .expect("create cluster");
    let task_definition = ecs
        .register_task_definition()
        .family(FAMILY)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("512")
        .memory("1024")
        // moto answers RunTask with a 500 unless the container has its own memory.
        .container_definitions(
            ContainerDefinition::builder()
                .name("gateway")
                .image("ghcr.io/openclaw/openclaw:latest")
                .memory(1024)
                .build(),
        )
        .send()
        .await
        .expect("register task definition")
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .expect("task definition arn");
    ecs.create_service()
        .cluster(CLUSTER)
        .service_name(SERVICE)
        .task_definition(&task_definition)
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .network_configuration(vpc_config(subnet, group))
        .send()
        .await
        .expect("create service");
    task_definition
}

fn vpc_config(subnet: &str, group: &str) -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .subnets(subnet)
                .security_groups(group)
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .expect("vpc configuration"),
        )
        .build()
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
    let (subnet, group) = network(&moto);
    create_gateway(&moto, &subnet, &group).await;
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
    let (subnet, group) = network(&moto);
    let task_definition = create_gateway(&moto, &subnet, &group).await;
    let ecs = EcsClient::new(&moto.sdk_config().await);

    // A standalone gateway task, as the watchdog restarts one.
    let spec = RunSpec {
        task_definition: FAMILY.to_string(),
        subnets: vec![subnet.clone()],
        security_groups: vec![group.clone()],
        assign_public_ip: false,
        client_token: Some("restart-home-3".to_string()),
    };
    let standalone = ecs.run_task(CLUSTER, &spec).await.expect("run task");
    assert!(standalone.contains(":task/"), "{standalone}");

    let task = ecs
        .describe_task(CLUSTER, &standalone)
        .await
        .expect("describe task")
        .expect("task known");
    assert_eq!(task.arn, standalone);
    assert_eq!(task.task_definition.as_deref(), Some(task_definition.as_str()));
    assert_eq!(task.desired_status.as_deref(), Some("RUNNING"));
    assert_eq!(task.group.as_deref(), Some("family:openclaw-gateway"));

    // moto starts no tasks for a service; one with the service's group stands in for it.
    let service_task = aws_sdk_ecs::Client::new(&moto.sdk_config().await)
        .run_task()
        .cluster(CLUSTER)
        .task_definition(FAMILY)
        .launch_type(LaunchType::Fargate)
        .group(format!("service:{SERVICE}"))
        .network_configuration(vpc_config(&subnet, &group))
        .send()
        .await
        .expect("run service task")
        .tasks
        .and_then(|t| t.into_iter().next())
        .and_then(|t| t.task_arn)
        .expect("service task arn");

    let running = ecs
        .list_tasks_of_service(CLUSTER, SERVICE, "RUNNING")
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
        .describe_task(CLUSTER, &service_task)
        .await
        .expect("describe stopped task")
        .expect("stopped task known");
    assert_eq!(stopped.last_status.as_deref(), Some("STOPPED"), "{stopped:?}");
    assert_eq!(stopped.desired_status.as_deref(), Some("STOPPED"));
    let reason = stopped.stopped_reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with("clawkeeper: hung"), "{reason}");
    assert_eq!(reason.chars().count(), 255, "ECS keeps 255 characters of a reason");

    assert!(
        ecs.list_tasks_of_service(CLUSTER, SERVICE, "RUNNING")
            .await
            .expect("list running")
            .is_empty()
    );
    let stopped_tasks = ecs
        .list_tasks_of_service(CLUSTER, SERVICE, "STOPPED")
        .await
        .expect("list stopped");
    assert_eq!(stopped_tasks.len(), 1, "{stopped_tasks:?}");

    let unknown = format!("arn:aws:ecs:us-east-1:123456789012:task/{CLUSTER}/0123456789abcdef0123456789abcdef");
    assert_eq!(
        ecs.describe_task(CLUSTER, &unknown).await.expect("describe unknown"),
        None
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_task_without_network_configuration_fails_clearly_for_awsvpc() {
    let moto = Moto::start();
    let (subnet, group) = network(&moto);
    create_gateway(&moto, &subnet, &group).await;
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
