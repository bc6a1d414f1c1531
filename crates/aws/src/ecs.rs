//! [`EcsRead`] and [`EcsControl`] over `aws-sdk-ecs`.

use std::collections::HashMap;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DesiredStatus, LaunchType, NetworkConfiguration, Service, Task,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use clawkeeper_core::aws_error::{AwsError, Retry};
use clawkeeper_core::ecs::{
    DESCRIBE_TASKS_MAX, DeploymentLimits, DeploymentView, Missing, RunSpec, ServiceView, TaskGroup, TaskView,
    service_name,
};
use clawkeeper_core::ports::{EcsControl, EcsRead};
use tracing::info;

use super::FromSdk;
use super::rfc3339;

/// The ECS adapter.
#[derive(Debug, Clone)]
pub struct EcsClient {
    client: Client,
}

impl EcsClient {
    /// Builds the client from the shared SDK configuration.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(sdk),
        }
    }

    /// One task as ECS describes it; `None` when ECS does not know it (any more): an unknown task
    /// is a `MISSING` failure in a successful answer, not an error.
    async fn describe_one_task(
        &self,
        cluster: &str,
        task_arn: &str,
    ) -> Result<Option<aws_sdk_ecs::types::Task>, AwsError> {
        let out = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .tasks(task_arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs", "DescribeTasks", e))?;
        Ok(out.tasks.unwrap_or_default().into_iter().next())
    }
}

impl EcsRead for EcsClient {
    async fn describe_service(&self, cluster: &str, service: &str) -> Result<Result<ServiceView, Missing>, AwsError> {
        // The batch of one: the same answer, a missing cluster or service included.
        let asked = service.to_string();
        let mut answers = self.describe_services(cluster, std::slice::from_ref(&asked)).await?;
        Ok(answers.remove(&asked).unwrap_or_else(|| {
            Err(Missing {
                reason: "MISSING".into(),
            })
        }))
    }

    async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<HashMap<String, Result<ServiceView, Missing>>, AwsError> {
        let out = match self
            .client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services.to_vec()))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk("ecs", "DescribeServices", e);
                if e.code.as_deref() == Some("ClusterNotFoundException") {
                    let missing = Missing {
                        reason: format!("cluster {cluster} not found"),
                    };
                    return Ok(services.iter().map(|s| (s.clone(), Err(missing.clone()))).collect());
                }
                return Err(e);
            }
        };
        let mut answers = HashMap::with_capacity(services.len());
        for asked in services {
            // ECS answers each service by its name and ARN, whichever was asked.
            let found = out
                .services()
                .iter()
                .find(|s| s.service_arn() == Some(asked.as_str()) || s.service_name() == Some(service_name(asked)));
            let answer = match found {
                Some(found) => Ok(service_view(found)),
                None => Err(Missing {
                    reason: out
                        .failures()
                        .iter()
                        .find(|f| f.arn().is_some_and(|arn| service_name(arn) == service_name(asked)))
                        .and_then(|f| f.reason())
                        .unwrap_or("MISSING")
                        .to_string(),
                }),
            };
            answers.insert(asked.clone(), answer);
        }
        Ok(answers)
    }

    async fn cluster_tasks(&self, cluster: &str, desired_status: &str) -> Result<Vec<TaskView>, AwsError> {
        let mut arns = Vec::new();
        let mut next = None;
        for _ in 0..MAX_TASK_PAGES {
            let page = self
                .client
                .list_tasks()
                .cluster(cluster)
                .desired_status(DesiredStatus::from(desired_status))
                .max_results(DESCRIBE_TASKS_MAX as i32)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ecs", "ListTasks", e))?;
            arns.extend(page.task_arns.unwrap_or_default());
            next = page.next_token;
            if next.is_none() {
                break;
            }
        }
        if next.is_some() {
            // Gateways judged from part of a listing could be taken for stopped: none is.
            return Err(AwsError {
                service: "ecs",
                operation: "ListTasks",
                code: None,
                retry: Retry::Permanent,
                message: format!(
                    "cluster {cluster} lists more than {} tasks; clawkeeper reads at most that many",
                    MAX_TASK_PAGES * DESCRIBE_TASKS_MAX
                ),
            });
        }
        let mut tasks = Vec::with_capacity(arns.len());
        for batch in arns.chunks(DESCRIBE_TASKS_MAX) {
            let out = self
                .client
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ecs", "DescribeTasks", e))?;
            // A task that stopped and expired between the listing and its description is a
            // failure in the answer: no longer running, nothing to report.
            tasks.extend(out.tasks().iter().map(task_view));
        }
        Ok(tasks)
    }

    async fn tasks(&self, cluster: &str, group: &TaskGroup, desired_status: &str) -> Result<Vec<TaskView>, AwsError> {
        let listing = self
            .client
            .list_tasks()
            .cluster(cluster)
            .desired_status(DesiredStatus::from(desired_status));
        let listing = match group {
            TaskGroup::Service(name) => listing.service_name(name),
            TaskGroup::Family(family) => listing.family(family),
        };
        let tasks = self.listed_tasks(cluster, listing).await?;
        Ok(tasks.iter().filter(|t| in_group(t, group)).map(task_view).collect())
    }

    async fn task(&self, cluster: &str, task_arn: &str) -> Result<Option<TaskView>, AwsError> {
        Ok(self.describe_one_task(cluster, task_arn).await?.as_ref().map(task_view))
    }
}

impl EcsClient {
    /// Runs a `ListTasks` request (one page: a single-writer gateway has one task, two during a bad
    /// deployment) and describes what it found.
    async fn listed_tasks(
        &self,
        cluster: &str,
        listing: aws_sdk_ecs::operation::list_tasks::builders::ListTasksFluentBuilder,
    ) -> Result<Vec<Task>, AwsError> {
        let arns = listing
            .max_results(100)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs", "ListTasks", e))?
            .task_arns
            .unwrap_or_default();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs", "DescribeTasks", e))?;
        Ok(out.tasks.unwrap_or_default())
    }
}

/// A cluster listing reads at most this many pages of [`DESCRIBE_TASKS_MAX`] tasks.
const MAX_TASK_PAGES: usize = 100;

/// ECS keeps at most this many characters of a stop reason.
const MAX_STOP_REASON_CHARS: usize = 255;

/// Tasks clawkeeper starts are marked with this `startedBy`, so the owner can tell them apart.
const STARTED_BY: &str = "clawkeeper";

impl EcsControl for EcsClient {
    async fn set_desired_count(&self, cluster: &str, service: &str, count: i32) -> Result<(), AwsError> {
        self.client
            .update_service()
            .cluster(cluster)
            .service(service)
            .desired_count(count)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs", "UpdateService", e))?;
        info!(cluster = %cluster, service = %service, desired = count, "desired count set");
        Ok(())
    }

    async fn force_new_deployment(&self, cluster: &str, service: &str) -> Result<(), AwsError> {
        self.client
            .update_service()
            .cluster(cluster)
            .service(service)
            .force_new_deployment(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs", "UpdateService", e))?;
        info!(cluster = %cluster, service = %service, "new deployment forced");
        Ok(())
    }

    async fn stop_task(&self, cluster: &str, task_arn: &str, reason: &str) -> Result<(), AwsError> {
        let reason: String = reason.chars().take(MAX_STOP_REASON_CHARS).collect();
        self.client
            .stop_task()
            .cluster(cluster)
            .task(task_arn)
            .reason(reason)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs", "StopTask", e))?;
        info!(cluster = %cluster, task = %task_arn, "task stop requested");
        Ok(())
    }

    async fn run_task(&self, cluster: &str, spec: &RunSpec) -> Result<String, AwsError> {
        let mut request = self
            .client
            .run_task()
            .cluster(cluster)
            .task_definition(&spec.task_definition)
            .launch_type(LaunchType::Fargate)
            .count(1)
            .started_by(STARTED_BY);
        if !spec.subnets.is_empty() {
            let vpc = AwsVpcConfiguration::builder()
                .set_subnets(Some(spec.subnets.clone()))
                .set_security_groups(Some(spec.security_groups.clone()))
                .assign_public_ip(if spec.assign_public_ip {
                    AssignPublicIp::Enabled
                } else {
                    AssignPublicIp::Disabled
                })
                .build()
                .map_err(|e| AwsError {
                    service: "ecs",
                    operation: "RunTask",
                    code: None,
                    retry: Retry::Permanent,
                    message: DisplayErrorContext(&e).to_string(),
                })?;
            request = request.network_configuration(NetworkConfiguration::builder().awsvpc_configuration(vpc).build());
        }
        if let Some(token) = &spec.client_token {
            request = request.client_token(token);
        }
        let out = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs", "RunTask", e))?;
        if let Some(arn) = out.tasks().first().and_then(|t| t.task_arn()) {
            info!(cluster = %cluster, task = %arn, task_definition = %spec.task_definition, "task started");
            return Ok(arn.to_string());
        }
        // ECS answers 200 with `failures` when it could not place the task; on Fargate that is
        // mostly capacity, which passes.
        let failure = out.failures().first();
        let reason = failure
            .and_then(|f| f.reason())
            .unwrap_or("no task and no failure reported");
        Err(AwsError {
            service: "ecs",
            operation: "RunTask",
            code: failure.and_then(|f| f.reason()).map(str::to_string),
            retry: Retry::Transient,
            message: format!(
                "no task started for {}: {reason}{}",
                spec.task_definition,
                failure
                    .and_then(|f| f.detail())
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
        })
    }
}

/// ECS puts a service's tasks in the group `service:<name>`. Checking it again keeps a standalone
/// task out of a service's answer even where the `serviceName` filter is not applied (moto ignores
/// it). A family's tasks are all of its tasks, whatever their group.
fn in_group(task: &Task, group: &TaskGroup) -> bool {
    match group {
        TaskGroup::Service(service) => {
            let name = service.rsplit('/').next().unwrap_or(service);
            task.group().is_none_or(|g| g.strip_prefix("service:") == Some(name))
        }
        TaskGroup::Family(_) => true,
    }
}

fn service_view(s: &Service) -> ServiceView {
    ServiceView {
        name: s.service_name().unwrap_or_default().to_string(),
        status: s.status().unwrap_or("UNKNOWN").to_string(),
        desired: s.desired_count(),
        running: s.running_count(),
        pending: s.pending_count(),
        task_definition: s.task_definition().map(str::to_string),
        deployment_configuration: s.deployment_configuration().map(|c| DeploymentLimits {
            minimum_healthy_percent: c.minimum_healthy_percent(),
            maximum_percent: c.maximum_percent(),
        }),
        deployments: s
            .deployments()
            .iter()
            .map(|d| DeploymentView {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or("UNKNOWN").to_string(),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_string),
                desired: d.desired_count(),
                running: d.running_count(),
                pending: d.pending_count(),
                failed_tasks: d.failed_tasks(),
                task_definition: d.task_definition().map(str::to_string),
                created_at: rfc3339(d.created_at()),
                updated_at: rfc3339(d.updated_at()),
            })
            .collect(),
    }
}

fn task_view(t: &Task) -> TaskView {
    let mut private_ip = None;
    let mut subnet_id = None;
    for attachment in t.attachments() {
        if attachment.r#type() != Some("ElasticNetworkInterface") {
            continue;
        }
        for detail in attachment.details() {
            match detail.name() {
                Some("privateIPv4Address") => private_ip = detail.value().map(str::to_string),
                Some("subnetId") => subnet_id = detail.value().map(str::to_string),
                _ => {}
            }
        }
    }
    TaskView {
        arn: t.task_arn().unwrap_or_default().to_string(),
        last_status: t.last_status().map(str::to_string),
        desired_status: t.desired_status().map(str::to_string),
        task_definition: t.task_definition_arn().map(str::to_string),
        group: t.group().map(str::to_string),
        started_at: rfc3339(t.started_at()),
        stopped_reason: t.stopped_reason().map(str::to_string),
        stop_code: t.stop_code().map(|c| c.as_str().to_string()),
        stopped_at: rfc3339(t.stopped_at()),
        private_ip,
        subnet_id,
    }
}
