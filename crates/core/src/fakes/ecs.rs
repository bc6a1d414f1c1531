//! ECS as a few maps: the services and tasks it describes, and the changes it was asked for.

use std::collections::HashMap;
use std::sync::Mutex;

use super::lock;
use crate::aws_error::AwsError;
use crate::ecs::{DESCRIBE_SERVICES_MAX, Missing, RunSpec, ServiceView, TaskGroup, TaskView};
use crate::ports::{EcsControl, EcsRead};

/// A fake ECS. A service it was not given is `MISSING`; tasks belong to a group by their `group`
/// (`service:<name>`) or, for a family, by their task definition's family.
#[derive(Debug, Default)]
pub struct FakeEcs {
    services: Mutex<HashMap<String, Result<ServiceView, AwsError>>>,
    tasks: Mutex<Vec<TaskView>>,
    calls: Mutex<Vec<String>>,
    reads: Mutex<Vec<String>>,
    listing_error: Mutex<Option<AwsError>>,
}

impl FakeEcs {
    /// An ECS that describes nothing and records every change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Describes `service` as `view`, or fails with `error`.
    pub fn with_service(self, service: &str, answer: Result<ServiceView, AwsError>) -> Self {
        lock(&self.services).insert(service.to_string(), answer);
        self
    }

    /// Lists `task` (by its group and family) and describes it by ARN.
    pub fn with_task(self, task: TaskView) -> Self {
        lock(&self.tasks).push(task);
        self
    }

    /// The changes asked for, in order: `desired <service> <n>`, `deploy <service>`,
    /// `stop <task>`, `run <task definition>`.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }

    /// The batched reads made, in order: `describe-services <n>`, `cluster-tasks`.
    pub fn reads(&self) -> Vec<String> {
        lock(&self.reads).clone()
    }

    /// Fails every cluster listing with `error`.
    pub fn failing_listings(self, error: AwsError) -> Self {
        *lock(&self.listing_error) = Some(error);
        self
    }

    fn record(&self, call: String) {
        lock(&self.calls).push(call);
    }

    fn record_read(&self, read: String) {
        lock(&self.reads).push(read);
    }
}

impl EcsRead for FakeEcs {
    async fn describe_service(&self, _: &str, service: &str) -> Result<Result<ServiceView, Missing>, AwsError> {
        match lock(&self.services).get(service) {
            Some(Ok(view)) => Ok(Ok(view.clone())),
            Some(Err(e)) => Err(e.clone()),
            None => Ok(Err(Missing {
                reason: "MISSING".into(),
            })),
        }
    }

    async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<HashMap<String, Result<ServiceView, Missing>>, AwsError> {
        assert!(
            services.len() <= DESCRIBE_SERVICES_MAX,
            "ECS describes at most 10 services a call"
        );
        self.record_read(format!("describe-services {}", services.len()));
        let mut answers = HashMap::new();
        for service in services {
            answers.insert(service.clone(), self.describe_service(cluster, service).await?);
        }
        Ok(answers)
    }

    async fn cluster_tasks(&self, _: &str, desired_status: &str) -> Result<Vec<TaskView>, AwsError> {
        self.record_read("cluster-tasks".into());
        if let Some(e) = lock(&self.listing_error).clone() {
            return Err(e);
        }
        Ok(lock(&self.tasks)
            .iter()
            .filter(|t| t.desired_status.as_deref().is_none_or(|d| d == desired_status))
            .cloned()
            .collect())
    }

    async fn tasks(&self, _: &str, group: &TaskGroup, desired_status: &str) -> Result<Vec<TaskView>, AwsError> {
        Ok(lock(&self.tasks)
            .iter()
            .filter(|t| t.desired_status.as_deref().is_none_or(|d| d == desired_status))
            .filter(|t| group.holds(t))
            .cloned()
            .collect())
    }

    async fn task(&self, _: &str, task_arn: &str) -> Result<Option<TaskView>, AwsError> {
        Ok(lock(&self.tasks).iter().find(|t| t.arn == task_arn).cloned())
    }
}

impl EcsControl for FakeEcs {
    async fn set_desired_count(&self, _: &str, service: &str, count: i32) -> Result<(), AwsError> {
        self.record(format!("desired {service} {count}"));
        Ok(())
    }

    async fn force_new_deployment(&self, _: &str, service: &str) -> Result<(), AwsError> {
        self.record(format!("deploy {service}"));
        Ok(())
    }

    async fn stop_task(&self, _: &str, task_arn: &str, _: &str) -> Result<(), AwsError> {
        self.record(format!("stop {task_arn}"));
        Ok(())
    }

    async fn run_task(&self, _: &str, spec: &RunSpec) -> Result<String, AwsError> {
        self.record(format!("run {}", spec.task_definition));
        Ok("arn:aws:ecs:us-east-1:123456789012:task/c/new".into())
    }
}
