//! Test set-up in moto through the real SDK: the table, the topic with a queue subscribed to read
//! what owners would receive, the gateway's ECS cluster, task definition and service, a secret;
//! and what ECS says of them afterwards.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, DeploymentConfiguration, LaunchType, NetworkConfiguration, NetworkMode,
};
use serde_json::{Value, json};

use crate::Moto;
use crate::consts::{CLUSTER, FAMILY, SERVICE};

/// Creates the clawkeeper table (`pk`/`sk`, TTL on `expires_at`), as the template does.
pub async fn create_table(sdk: &SdkConfig, name: &str) {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition")
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key schema")
    };
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .expect("create table");
    ddb.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .expect("ttl spec"),
        )
        .send()
        .await
        .expect("enable ttl");
}

/// An SNS topic with an SQS queue subscribed: what reaches the queue is what owners receive.
pub struct Inbox {
    pub topic_arn: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

/// One notification as SNS delivered it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub subject: String,
    pub message: String,
    pub gateway: String,
    pub kind: String,
    pub severity: String,
}

impl Delivered {
    /// From SNS's JSON envelope (message attributes as `MessageAttributes.<name>.Value`).
    pub fn from_envelope(envelope: &Value) -> Self {
        let attr = |n: &str| {
            envelope["MessageAttributes"][n]["Value"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        Self {
            subject: envelope["Subject"].as_str().unwrap_or("").to_string(),
            message: envelope["Message"].as_str().unwrap_or("").to_string(),
            gateway: attr("gateway"),
            kind: attr("kind"),
            severity: attr("severity"),
        }
    }
}

/// The notice kinds of `delivered`, in order.
pub fn kinds(delivered: &[Delivered]) -> Vec<&str> {
    delivered.iter().map(|d| d.kind.as_str()).collect()
}

impl Inbox {
    /// Creates the topic `name` and a queue subscribed to it.
    pub async fn create(sdk: &SdkConfig, name: &str) -> Self {
        let topic_arn = aws_sdk_sns::Client::new(sdk)
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("topic arn");
        Self::attach(sdk, &topic_arn, &format!("{name}-inbox"), None).await
    }

    /// A queue `queue` subscribed to `topic_arn`, with `filter_policy` (on message attributes) when given.
    pub async fn attach(sdk: &SdkConfig, topic_arn: &str, queue: &str, filter_policy: Option<&str>) -> Self {
        let sns = aws_sdk_sns::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let topic_arn = topic_arn.to_string();
        let queue_url = sqs
            .create_queue()
            .queue_name(queue)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue arn");
        let mut subscribe = sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn);
        if let Some(policy) = filter_policy {
            subscribe = subscribe.attributes("FilterPolicy", policy);
        }
        subscribe.send().await.expect("subscribe queue");
        Self {
            topic_arn,
            queue_url,
            sqs,
        }
    }

    /// Everything delivered since the last call (drains the queue).
    pub async fn drain(&self) -> Vec<Delivered> {
        self.drain_envelopes(0)
            .await
            .iter()
            .map(Delivered::from_envelope)
            .collect()
    }

    /// The SNS envelopes delivered since the last call (drains the queue); the first receive
    /// waits up to `wait_secs` for a message.
    pub async fn drain_envelopes(&self, wait_secs: i32) -> Vec<Value> {
        let mut out = Vec::new();
        let mut wait = wait_secs;
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait)
                .send()
                .await
                .expect("receive");
            wait = 0;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                out.push(serde_json::from_str(m.body().unwrap_or("{}")).expect("SNS envelope"));
                if let Some(handle) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete message");
                }
            }
        }
        out
    }

    /// Waits a little for SNS to SQS fan-out, then drains.
    pub async fn settle_and_drain(&self) -> Vec<Delivered> {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.drain().await
    }
}

/// One more service `name` of the gateway's task definition in the sample cluster (after
/// [`create_gateway_service`]): a second gateway of the fleet.
pub async fn create_fleet_service(sdk: &SdkConfig, name: &str) {
    aws_sdk_ecs::Client::new(sdk)
        .create_service()
        .cluster(CLUSTER)
        .service_name(name)
        .task_definition(FAMILY)
        .desired_count(1)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(0)
                .maximum_percent(100)
                .build(),
        )
        .send()
        .await
        .expect("create fleet service");
}

/// Creates the cluster, a task definition and the service of the sample events, desired 1,
/// deployment min 0% / max 100%. Returns the task definition ARN.
pub async fn create_gateway_service(sdk: &SdkConfig) -> String {
    create_service(sdk, None).await
}

/// As [`create_gateway_service`], with an awsvpc Fargate task definition (cpu 512, memory 1024)
/// and a Fargate service in `network`. Returns the task definition ARN.
pub async fn create_awsvpc_gateway_service(sdk: &SdkConfig, network: &NetworkConfiguration) -> String {
    create_service(sdk, Some(network)).await
}

async fn create_service(sdk: &SdkConfig, network: Option<&NetworkConfiguration>) -> String {
    let ecs = aws_sdk_ecs::Client::new(sdk);
    ecs.create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .expect("create cluster");
    let mut register = ecs
        .register_task_definition()
        .family(FAMILY)
        // moto answers RunTask with a 500 unless the container has its own memory.
        .container_definitions(
            ContainerDefinition::builder()
                .name("openclaw-gateway")
                .image("ghcr.io/openclaw/openclaw:latest")
                .memory(1024)
                .build(),
        );
    if network.is_some() {
        register = register
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("512")
            .memory("1024");
    }
    let task_definition = register
        .send()
        .await
        .expect("register task definition")
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .expect("task definition arn");
    let mut create = ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name(SERVICE)
        .task_definition(&task_definition)
        .desired_count(1)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(0)
                .maximum_percent(100)
                .build(),
        );
    if let Some(network) = network {
        create = create
            .launch_type(LaunchType::Fargate)
            .network_configuration(network.clone());
    }
    create.send().await.expect("create service");
    task_definition
}

/// moto starts no tasks for a service; a Fargate task run in the service's group (in `network`)
/// stands in for one. Returns its ARN.
pub async fn run_service_task(sdk: &SdkConfig, network: &NetworkConfiguration) -> String {
    aws_sdk_ecs::Client::new(sdk)
        .run_task()
        .cluster(CLUSTER)
        .task_definition(SERVICE)
        .launch_type(LaunchType::Fargate)
        .group(format!("service:{SERVICE}"))
        .network_configuration(network.clone())
        .send()
        .await
        .expect("run service task")
        .tasks
        .and_then(|t| t.into_iter().next())
        .and_then(|t| t.task_arn)
        .expect("service task arn")
}

/// Holds moto's tasks where they are (RUNNING once run) until they are stopped: moto otherwise
/// moves a task one status on each describe.
pub fn hold_tasks_running(moto: &Moto) {
    moto.control(
        "/moto-api/state-manager/set-transition",
        &json!({"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}),
    );
}

/// The gateway service as ECS describes it.
pub async fn service(sdk: &SdkConfig) -> aws_sdk_ecs::types::Service {
    aws_sdk_ecs::Client::new(sdk)
        .describe_services()
        .cluster(CLUSTER)
        .services(SERVICE)
        .send()
        .await
        .expect("describe services")
        .services
        .and_then(|s| s.into_iter().next())
        .expect("service exists")
}

/// The service's desired count as ECS reports it.
pub async fn desired_count(sdk: &SdkConfig) -> i32 {
    service(sdk).await.desired_count()
}

/// The id of the service's first (PRIMARY) deployment: a forced deployment changes it.
pub async fn deployment_id(sdk: &SdkConfig) -> String {
    service(sdk)
        .await
        .deployments()
        .first()
        .and_then(|d| d.id().map(str::to_string))
        .expect("a deployment")
}

/// The task `task` of the cluster as ECS describes it.
pub async fn task(sdk: &SdkConfig, task: &str) -> aws_sdk_ecs::types::Task {
    aws_sdk_ecs::Client::new(sdk)
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks(task)
        .send()
        .await
        .expect("describe task")
        .tasks
        .and_then(|t| t.into_iter().next())
        .unwrap_or_else(|| panic!("no task {task}"))
}

/// A secret in moto's Secrets Manager (JSON protocol, sent directly: the test crate has no Secrets
/// Manager client); returns its ARN.
pub fn create_secret(moto: &Moto, name: &str, value: &str) -> String {
    let body = json!({"Name": name, "SecretString": value}).to_string();
    let answer = moto.call(
        "secretsmanager",
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "secretsmanager.CreateSecret"),
        ],
        &body,
    );
    let parsed: Value = serde_json::from_slice(&answer.body).expect("CreateSecret JSON");
    parsed["ARN"].as_str().expect("ARN").to_string()
}

/// A sample event from `tests/fixtures/events/<name>.json`.
pub fn fixture(name: &str) -> Value {
    let path = crate::workspace_root()
        .join("tests/fixtures/events")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}
