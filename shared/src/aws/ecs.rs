//! [`Ecs`] over `aws-sdk-ecs`.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{DesiredStatus, Service, Task};

use super::rfc3339;
use crate::aws_error::AwsError;
use crate::ecs::{DeploymentLimits, DeploymentView, Ecs, Missing, ServiceView, TaskView};

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
}

impl Ecs for EcsClient {
    async fn describe_service(&self, cluster: &str, service: &str) -> Result<Result<ServiceView, Missing>, AwsError> {
        let out = match self
            .client
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk("ecs", "DescribeServices", e);
                if e.code.as_deref() == Some("ClusterNotFoundException") {
                    return Ok(Err(Missing {
                        reason: format!("cluster {cluster} not found"),
                    }));
                }
                return Err(e);
            }
        };
        if let Some(found) = out.services().first() {
            return Ok(Ok(service_view(found)));
        }
        let reason = out
            .failures()
            .first()
            .and_then(|f| f.reason())
            .unwrap_or("MISSING")
            .to_string();
        Ok(Err(Missing { reason }))
    }

    async fn family_tasks(&self, cluster: &str, family: &str, desired_status: &str) -> Result<Vec<TaskView>, AwsError> {
        let arns = self
            .client
            .list_tasks()
            .cluster(cluster)
            .family(family)
            .desired_status(DesiredStatus::from(desired_status))
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
        Ok(out.tasks().iter().map(task_view).collect())
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
    TaskView {
        arn: t.task_arn().unwrap_or_default().to_string(),
        last_status: t.last_status().map(str::to_string),
        desired_status: t.desired_status().map(str::to_string),
        task_definition: t.task_definition_arn().map(str::to_string),
        group: t.group().map(str::to_string),
        started_at: rfc3339(t.started_at()),
        stopped_reason: t.stopped_reason().map(str::to_string),
    }
}
