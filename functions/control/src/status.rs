//! The `status` action: what ECS says about each configured gateway.
//!
//! One gateway that ECS cannot describe does not hide the others: its entry carries the error.
//! Beside ECS, each entry has the watchdog's view (phase, pause, silence, backoff, the open
//! incident with its timeline, how the reconciler probes the gateway and what it last found,
//! recent owner actions: [`WatchdogView`], read from the typed state) and the newest snapshots; a
//! store or bucket failure is reported in its field too.

use clawkeeper_aws::FunctionError;
use clawkeeper_core::control::status::{EcsState, GatewayStatus, StatusReport, Watchdog, WatchdogView};
use clawkeeper_core::ports::{EcsRead, StateStore};
use clawkeeper_core::watch::state::GatewayState;
use clawkeeper_core::{Config, Gateway, GatewayTarget};
use serde_json::{Value, json};

use crate::app::App;
use crate::snapshots;

/// Builds ECS's part of the report for one gateway or all of them: `(gateway, ECS's answer)`.
pub async fn report<'a>(config: &'a Config, ecs: &impl EcsRead, only: Option<&str>) -> Vec<(&'a Gateway, EcsState)> {
    let mut gateways = Vec::new();
    for gateway in config.gateways.iter().filter(|g| only.is_none_or(|id| g.id == id)) {
        gateways.push((gateway, ecs_state(gateway, ecs).await));
    }
    gateways
}

async fn ecs_state(gateway: &Gateway, ecs: &impl EcsRead) -> EcsState {
    let answer = match &gateway.target {
        GatewayTarget::Service(name) => ecs
            .describe_service(&gateway.cluster, name)
            .await
            .map(|found| match found {
                Ok(service) => EcsState::Service(service),
                Err(missing) => EcsState::Missing { reason: missing.reason },
            }),
        GatewayTarget::Standalone { .. } => {
            ecs.tasks(&gateway.cluster, &gateway.tasks(), "RUNNING")
                .await
                .map(|tasks| {
                    let running = tasks
                        .iter()
                        .filter(|t| t.last_status.as_deref() == Some("RUNNING"))
                        .count();
                    EcsState::Standalone {
                        running,
                        pending: tasks.len() - running,
                        tasks,
                    }
                })
        }
    };
    answer.unwrap_or_else(|e| {
        tracing::warn!(gateway = %gateway.id, error = %e, "could not read ECS state");
        EcsState::Error {
            retryable: e.is_transient(),
            message: e.to_string(),
        }
    })
}

/// Snapshots shown by `status`.
const NEWEST_SNAPSHOTS: usize = 3;

impl App<'_> {
    /// `status`: ECS, the watchdog's view and the newest snapshots of one gateway or all.
    pub async fn status(&self, only: Option<&str>) -> Result<Value, FunctionError> {
        let mut gateways = Vec::new();
        for (gateway, ecs) in report(&self.config, &self.adapters.ecs, only).await {
            let snapshots = match snapshots::list(&self.adapters.objects, &gateway.id, NEWEST_SNAPSHOTS).await {
                Ok(list) => json!(list),
                Err(e) => json!({ "error": e.to_string() }),
            };
            gateways.push(GatewayStatus {
                id: gateway.id.clone(),
                cluster: gateway.cluster.clone(),
                target: gateway.target.clone(),
                ecs,
                watchdog: self.watchdog(&gateway.id).await,
                snapshots,
            });
        }
        serde_json::to_value(StatusReport { gateways })
            .map_err(|e| FunctionError::new("Internal", format!("status report: {e}")))
    }

    async fn watchdog(&self, id: &str) -> Watchdog {
        match self.adapters.store.load::<GatewayState>(id).await {
            Ok(None) => Watchdog::unseen(),
            Ok(Some(stored)) => {
                Watchdog::Seen(Box::new(WatchdogView::of(&stored.state, stored.rev, stored.updated_at)))
            }
            Err(e) => Watchdog::Unreadable { error: e.to_string() },
        }
    }
}

#[cfg(test)]
mod tests {
    use clawkeeper_core::AwsError;
    use clawkeeper_core::aws_error::Retry;
    use clawkeeper_core::ecs::{ServiceView, TaskView};
    use clawkeeper_core::fakes::FakeEcs;
    use serde_json::json;

    use super::*;

    fn service(name: &str) -> ServiceView {
        ServiceView {
            name: name.into(),
            status: "ACTIVE".into(),
            desired: 1,
            running: 1,
            pending: 0,
            task_definition: Some("arn:aws:ecs:us-east-1:123456789012:task-definition/openclaw:3".into()),
            deployment_configuration: None,
            deployments: vec![],
        }
    }

    fn task(status: &str) -> TaskView {
        TaskView {
            arn: format!("arn:task/{status}"),
            last_status: Some(status.into()),
            desired_status: Some("RUNNING".into()),
            task_definition: Some("arn:aws:ecs:us-east-1:123456789012:task-definition/f:1".into()),
            group: Some("family:f".into()),
            started_at: None,
            stopped_reason: None,
            stop_code: None,
            stopped_at: None,
            private_ip: None,
            subnet_id: None,
        }
    }

    fn config(gateways: &str) -> Config {
        Config::from_lookup(|name| {
            Some(match name {
                "CLAWKEEPER_TABLE" => "t-table".to_string(),
                "CLAWKEEPER_TOPIC_ARN" => "arn:aws:sns:us-east-1:123456789012:t".to_string(),
                "CLAWKEEPER_BUCKET" => "t-bucket".to_string(),
                "CLAWKEEPER_GATEWAYS" => gateways.to_string(),
                _ => return None,
            })
        })
        .expect("test config")
    }

    #[tokio::test]
    async fn each_gateway_gets_its_own_state_and_errors_stay_local() {
        let config = config(
            r#"[{"id":"home","cluster":"c","service":"gw"},{"id":"gone","cluster":"c","service":"old"},
                {"id":"flaky","cluster":"c","service":"busy"},{"id":"lab","cluster":"c","task_family":"f"}]"#,
        );
        let throttled = AwsError {
            service: "ecs",
            operation: "DescribeServices",
            code: Some("ThrottlingException".into()),
            retry: Retry::Transient,
            message: "rate exceeded".into(),
        };
        let ecs = FakeEcs::new()
            .with_service("gw", Ok(service("gw")))
            .with_service("busy", Err(throttled))
            .with_task(task("RUNNING"))
            .with_task(task("PROVISIONING"));
        let entries: Vec<Value> = report(&config, &ecs, None)
            .await
            .into_iter()
            .map(|(g, ecs)| json!({"id": g.id, "target": g.target, "ecs": ecs}))
            .collect();
        let report = json!({ "gateways": entries });
        let gateways = report["gateways"].as_array().expect("array");
        assert_eq!(gateways.len(), 4);
        assert_eq!(gateways[0]["ecs"]["state"], "service");
        assert_eq!(gateways[0]["ecs"]["desired"], 1);
        assert_eq!(gateways[0]["target"], json!({"kind":"service","name":"gw"}));
        assert_eq!(gateways[1]["ecs"], json!({"state":"missing","reason":"MISSING"}));
        assert_eq!(gateways[2]["ecs"]["state"], "error");
        assert_eq!(gateways[2]["ecs"]["retryable"], true);
        assert_eq!(gateways[3]["ecs"]["state"], "standalone");
        assert_eq!(gateways[3]["ecs"]["running"], 1);
        assert_eq!(gateways[3]["ecs"]["pending"], 1);
    }

    #[tokio::test]
    async fn one_gateway_only() {
        let config =
            config(r#"[{"id":"home","cluster":"c","service":"gw"},{"id":"lab","cluster":"c","task_family":"f"}]"#);
        let ecs = FakeEcs::new().with_service("gw", Ok(service("gw")));
        let report = report(&config, &ecs, Some("lab")).await;
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].0.id, "lab");
    }
}
