//! What clawkeeper reads from and asks of ECS, as plain domain types behind the [`Ecs`] trait.
//!
//! The SDK adapter lives in [`crate::aws::ecs`]; tests of pure logic use in-memory fakes.

use std::future::Future;

use serde::Serialize;

use crate::aws_error::AwsError;

/// An ECS service as `DescribeServices` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceView {
    pub name: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub task_definition: Option<String>,
    /// Minimum healthy and maximum percent: a single-writer gateway needs 0 and 100.
    pub deployment_configuration: Option<DeploymentLimits>,
    pub deployments: Vec<DeploymentView>,
}

/// Deployment limits of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeploymentLimits {
    pub minimum_healthy_percent: Option<i32>,
    pub maximum_percent: Option<i32>,
}

/// One deployment of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentView {
    pub id: String,
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`, when ECS reports it.
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed_tasks: i32,
    pub task_definition: Option<String>,
    /// RFC 3339.
    pub created_at: Option<String>,
    /// RFC 3339.
    pub updated_at: Option<String>,
}

/// One task as `DescribeTasks` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskView {
    pub arn: String,
    pub last_status: Option<String>,
    pub desired_status: Option<String>,
    pub task_definition: Option<String>,
    pub group: Option<String>,
    /// RFC 3339.
    pub started_at: Option<String>,
    pub stopped_reason: Option<String>,
}

/// What ECS may answer about a service that it does not describe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// ECS's failure reason, e.g. `MISSING`.
    pub reason: String,
}

/// The ECS operations clawkeeper uses. Cluster arguments accept a name or an ARN.
pub trait Ecs {
    /// Describes one service; `Ok(Err(_))` when ECS answers that it does not know it.
    fn describe_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<Result<ServiceView, Missing>, AwsError>> + Send;

    /// Tasks of a task definition family with the given desired status (`RUNNING` or `STOPPED`).
    fn family_tasks(
        &self,
        cluster: &str,
        family: &str,
        desired_status: &str,
    ) -> impl Future<Output = Result<Vec<TaskView>, AwsError>> + Send;
}

/// What [`EcsControl::run_task`] starts: one Fargate task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSpec {
    /// Family, `family:revision` or full ARN.
    pub task_definition: String,
    /// Subnets of the awsvpc network configuration; none means the task definition's network mode
    /// needs no configuration.
    pub subnets: Vec<String>,
    /// Security groups of the awsvpc network configuration.
    pub security_groups: Vec<String>,
    /// Whether the task gets a public IP (needed in a public subnet without NAT to pull images).
    pub assign_public_ip: bool,
    /// Idempotency token (up to 64 ASCII letters, digits, `-` and `_`): the same token within a few
    /// hours starts no second task. Use the action's idempotency key.
    pub client_token: Option<String>,
}

/// The ECS operations that change things, separate from the read-only [`Ecs`] so a function that only
/// reads cannot act. Cluster arguments accept a name or an ARN.
pub trait EcsControl {
    /// Sets the service's desired count (0 pauses the gateway, 1 resumes it).
    fn set_desired_count(
        &self,
        cluster: &str,
        service: &str,
        count: i32,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Starts a new deployment of the service with its current task definition (a restart).
    fn force_new_deployment(&self, cluster: &str, service: &str) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Stops one task; `reason` (cut to ECS's 255 characters) shows in the task's stopped reason.
    fn stop_task(
        &self,
        cluster: &str,
        task_arn: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Starts one standalone Fargate task and returns its ARN.
    fn run_task(&self, cluster: &str, spec: &RunSpec) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// Describes one task; `None` when ECS does not know it (any more: stopped tasks expire after
    /// about an hour).
    fn describe_task(
        &self,
        cluster: &str,
        task_arn: &str,
    ) -> impl Future<Output = Result<Option<TaskView>, AwsError>> + Send;

    /// Tasks of a service with the given desired status (`RUNNING` or `STOPPED`), at most 100.
    fn list_tasks_of_service(
        &self,
        cluster: &str,
        service: &str,
        desired_status: &str,
    ) -> impl Future<Output = Result<Vec<TaskView>, AwsError>> + Send;
}
