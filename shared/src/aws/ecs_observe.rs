//! [`TaskObserver`] over `aws-sdk-ecs`: the reconciler's task reads, with what [`crate::ecs::TaskView`]
//! leaves out (the ENI's private IP, the stop code and time).

use aws_sdk_ecs::types::{DesiredStatus, Task};

use super::ecs::EcsClient;
use crate::aws_error::AwsError;
use crate::health::TaskObserver;
use crate::watch::ObservedTask;
use crate::watch::time::parse_rfc3339;

impl TaskObserver for EcsClient {
    async fn tasks_of_group(
        &self,
        cluster: &str,
        group: &str,
        desired_status: &str,
    ) -> Result<Vec<(String, ObservedTask)>, AwsError> {
        let mut request = self
            .sdk_client()
            .list_tasks()
            .cluster(cluster)
            .desired_status(DesiredStatus::from(desired_status));
        request = match group.split_once(':') {
            Some(("service", name)) => request.service_name(name),
            Some(("family", name)) => request.family(name),
            _ => request,
        };
        let tasks = self.listed_tasks(cluster, request).await?;
        // The group filter again: moto ignores `serviceName`, and a family also has standalone tasks.
        Ok(tasks
            .iter()
            .filter(|t| t.group().is_none_or(|g| g == group))
            .map(|t| (t.last_status().unwrap_or("UNKNOWN").to_string(), observed(t)))
            .collect())
    }

    async fn task(&self, cluster: &str, task_arn: &str) -> Result<Option<(String, ObservedTask)>, AwsError> {
        Ok(self
            .describe_one_task(cluster, task_arn)
            .await?
            .map(|t| (t.last_status().unwrap_or("UNKNOWN").to_string(), observed(&t))))
    }
}

fn epoch(time: Option<&aws_smithy_types::DateTime>) -> Option<i64> {
    super::rfc3339(time).and_then(|t| parse_rfc3339(&t))
}

fn observed(t: &Task) -> ObservedTask {
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
    ObservedTask {
        task_arn: t.task_arn().unwrap_or_default().to_string(),
        task_definition: t.task_definition_arn().map(str::to_string),
        started_at: epoch(t.started_at()),
        private_ip,
        subnet_id,
        stop_code: t.stop_code().map(|c| c.as_str().to_string()),
        stopped_reason: t.stopped_reason().map(str::to_string),
        stopped_at: epoch(t.stopped_at()),
    }
}
