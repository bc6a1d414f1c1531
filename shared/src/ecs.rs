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
