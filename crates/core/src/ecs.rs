//! What clawkeeper reads from and asks of ECS, as plain domain types behind the
//! [`crate::ports::EcsRead`] and [`crate::ports::EcsControl`] ports.

use serde::{Deserialize, Serialize};

use crate::watch::ObservedTask;
use crate::watch::time::parse_rfc3339;

/// The most services one `DescribeServices` call describes.
pub const DESCRIBE_SERVICES_MAX: usize = 10;
/// The most tasks one `DescribeTasks` call describes (and one `ListTasks` page lists).
pub const DESCRIBE_TASKS_MAX: usize = 100;

/// An ECS service as `DescribeServices` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    #[serde(default)]
    pub name: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub task_definition: Option<String>,
    /// Minimum healthy and maximum percent: a single-writer gateway needs 0 and 100.
    pub deployment_configuration: Option<DeploymentLimits>,
    #[serde(default)]
    pub deployments: Vec<DeploymentView>,
}

/// Deployment limits of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentLimits {
    pub minimum_healthy_percent: Option<i32>,
    pub maximum_percent: Option<i32>,
}

/// One deployment of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    pub arn: String,
    pub last_status: Option<String>,
    pub desired_status: Option<String>,
    pub task_definition: Option<String>,
    pub group: Option<String>,
    /// RFC 3339.
    pub started_at: Option<String>,
    pub stopped_reason: Option<String>,
    /// ECS's stop code (`EssentialContainerExited`, `UserInitiated`, ...), once it stops.
    pub stop_code: Option<String>,
    /// RFC 3339.
    pub stopped_at: Option<String>,
    /// The task ENI's private IPv4 address (awsvpc), where the reconciler probes it.
    pub private_ip: Option<String>,
    /// The subnet of that ENI.
    pub subnet_id: Option<String>,
}

impl TaskView {
    /// The task as the watchdog policy sees it (times as epoch seconds).
    pub fn observed(&self) -> ObservedTask {
        let epoch = |t: &Option<String>| t.as_deref().and_then(parse_rfc3339);
        ObservedTask {
            task_arn: self.arn.clone(),
            task_definition: self.task_definition.clone(),
            started_at: epoch(&self.started_at),
            private_ip: self.private_ip.clone(),
            subnet_id: self.subnet_id.clone(),
            stop_code: self.stop_code.clone(),
            stopped_reason: self.stopped_reason.clone(),
            stopped_at: epoch(&self.stopped_at),
        }
    }

    /// ECS's last status, `UNKNOWN` when it gave none.
    pub fn status(&self) -> &str {
        self.last_status.as_deref().unwrap_or("UNKNOWN")
    }
}

/// Which tasks belong to a gateway: those of its service, or those of its task definition family
/// (a gateway run as a standalone task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskGroup {
    /// The tasks ECS placed in `service:<name>`.
    Service(String),
    /// Every task of the family, whatever its group: for a standalone gateway any of them writes
    /// the same state.
    Family(String),
}

impl TaskGroup {
    /// Whether `task` is one of this group's, read from the task alone (a cluster-wide listing
    /// holds every gateway's tasks and others'): a service's tasks carry the group
    /// `service:<name>`, a family's the family in their task definition.
    pub fn holds(&self, task: &TaskView) -> bool {
        match self {
            Self::Service(service) => {
                task.group.as_deref().and_then(|g| g.strip_prefix("service:")) == Some(service_name(service))
            }
            Self::Family(family) => task.task_definition.as_deref().map(family_of) == Some(family.as_str()),
        }
    }
}

/// The family of a task definition ARN or `family:revision`.
pub fn family_of(task_definition: &str) -> &str {
    let name = task_definition.rsplit('/').next().unwrap_or(task_definition);
    name.split(':').next().unwrap_or(name)
}

/// The service name of a service ARN or name (`arn:aws:ecs:...:service/<cluster>/<name>` or `<name>`).
pub fn service_name(service: &str) -> &str {
    service.rsplit('/').next().unwrap_or(service)
}

impl std::fmt::Display for TaskGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Service(name) => write!(f, "service {name}"),
            Self::Family(family) => write!(f, "task family {family}"),
        }
    }
}

/// What ECS may answer about a service that it does not describe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    /// ECS's failure reason, e.g. `MISSING`.
    pub reason: String,
}

/// What [`EcsControl::run_task`] starts: one Fargate task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn task(group: Option<&str>, task_definition: Option<&str>) -> TaskView {
        TaskView {
            arn: "arn:aws:ecs:us-east-1:123456789012:task/c/1".into(),
            last_status: Some("RUNNING".into()),
            desired_status: Some("RUNNING".into()),
            task_definition: task_definition.map(str::to_string),
            group: group.map(str::to_string),
            started_at: None,
            stopped_reason: None,
            stop_code: None,
            stopped_at: None,
            private_ip: None,
            subnet_id: None,
        }
    }

    #[test]
    fn a_cluster_listing_is_split_by_service_group_or_task_family() {
        let home = TaskGroup::Service("home".into());
        let by_arn = TaskGroup::Service("arn:aws:ecs:us-east-1:123456789012:service/c/home".into());
        let family = TaskGroup::Family("openclaw".into());
        let own = task(
            Some("service:home"),
            Some("arn:aws:ecs:us-east-1:123456789012:task-definition/openclaw:3"),
        );
        let other = task(Some("service:homework"), None);
        let ungrouped = task(None, Some("openclaw:7"));
        assert!(home.holds(&own) && by_arn.holds(&own));
        assert!(
            !home.holds(&other),
            "a prefix of another service's name is not the service"
        );
        assert!(!home.holds(&ungrouped), "a task without a group is no service's");
        assert!(family.holds(&own) && family.holds(&ungrouped));
        assert!(!family.holds(&task(None, Some("openclaw-staging:1"))));
        assert!(!family.holds(&task(None, None)));
    }
}
