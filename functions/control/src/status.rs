//! The `status` action: what ECS says about each configured gateway.
//!
//! One gateway that ECS cannot describe does not hide the others: its entry carries the error.
//! Beside ECS, each entry has the watchdog's view (phase, pause, silence, backoff, the open
//! incident with its timeline, how the reconciler probes the gateway and what it last found,
//! channel fields when the state has them, recent owner actions) and the newest snapshots; a store
//! or bucket failure is reported in its field too.

use serde::Serialize;
use serde_json::{Value, json};

use clawkeeper_shared::ecs::{Ecs, ServiceView, TaskView};
use clawkeeper_shared::store::StateStore;
use clawkeeper_shared::watch::time::format_utc;
use clawkeeper_shared::{Config, FunctionError, Gateway, GatewayTarget};

use crate::app::App;
use crate::snapshots;

/// The answer to `{"action":"status"}`.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub gateways: Vec<GatewayStatus>,
}

/// One gateway's entry.
#[derive(Debug, Serialize)]
pub struct GatewayStatus {
    pub id: String,
    pub cluster: String,
    pub target: GatewayTarget,
    pub ecs: EcsState,
}

/// What ECS says, by kind of gateway.
#[derive(Debug, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EcsState {
    /// The service exists.
    Service(ServiceView),
    /// ECS does not know the service (deleted, wrong name or cluster).
    Missing { reason: String },
    /// A standalone gateway: its running and pending tasks.
    Standalone {
        running: usize,
        pending: usize,
        tasks: Vec<TaskView>,
    },
    /// ECS could not be asked; `retryable` says whether asking again may help.
    Error { message: String, retryable: bool },
}

/// Builds the report for one gateway or all of them.
pub async fn report(config: &Config, ecs: &impl Ecs, only: Option<&str>) -> StatusReport {
    let mut gateways = Vec::new();
    for gateway in config.gateways.iter().filter(|g| only.is_none_or(|id| g.id == id)) {
        gateways.push(GatewayStatus {
            id: gateway.id.clone(),
            cluster: gateway.cluster.clone(),
            target: gateway.target.clone(),
            ecs: ecs_state(gateway, ecs).await,
        });
    }
    StatusReport { gateways }
}

async fn ecs_state(gateway: &Gateway, ecs: &impl Ecs) -> EcsState {
    let answer = match &gateway.target {
        GatewayTarget::Service(name) => ecs
            .describe_service(&gateway.cluster, name)
            .await
            .map(|found| match found {
                Ok(service) => EcsState::Service(service),
                Err(missing) => EcsState::Missing { reason: missing.reason },
            }),
        GatewayTarget::Standalone { family } => {
            ecs.family_tasks(&gateway.cluster, family, "RUNNING")
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

/// Fields of the stored state shown as they are, when present (probes and channels come with the
/// health work: shown once the state carries them, without a change here).
const STATE_FIELDS: &[&str] = &[
    "phase",
    "owner_paused",
    "silence_until",
    "backoff",
    "incident",
    "running",
    "deployment",
    "probe",
    "probes",
    "last_probe",
    "channels",
];
/// Owner actions and snapshots shown by `status`.
const RECENT: usize = 5;
const NEWEST_SNAPSHOTS: usize = 3;

impl App {
    /// `status`: ECS, the watchdog's view and the newest snapshots of one gateway or all.
    pub async fn status(&self, only: Option<&str>) -> Result<Value, FunctionError> {
        let ecs = report(&self.config, &self.adapters.ecs, only).await;
        let mut out =
            serde_json::to_value(ecs).map_err(|e| FunctionError::new("Internal", format!("status report: {e}")))?;
        if let Some(entries) = out["gateways"].as_array_mut() {
            for entry in entries {
                let Some(id) = entry["id"].as_str().map(str::to_string) else {
                    continue;
                };
                entry["watchdog"] = self.watchdog(&id).await;
                entry["snapshots"] = match snapshots::list(&self.adapters.objects, &id, NEWEST_SNAPSHOTS).await {
                    Ok(list) => json!(list),
                    Err(e) => json!({ "error": e.to_string() }),
                };
            }
        }
        Ok(out)
    }

    async fn watchdog(&self, id: &str) -> Value {
        match self.adapters.store.load::<Value>(id).await {
            Ok(None) => json!({ "phase": "unknown", "note": "the watchdog has not seen this gateway yet" }),
            Ok(Some(stored)) => {
                let mut view = serde_json::Map::new();
                for field in STATE_FIELDS {
                    if let Some(value) = stored.state.get(*field).filter(|v| !v.is_null()) {
                        view.insert((*field).to_string(), value.clone());
                    }
                }
                if let Some(probe) = probe_view(&stored.state) {
                    view.insert("probe".into(), probe);
                }
                if let Some(until) = stored.state["silence_until"].as_i64() {
                    view.insert("silenced_until_utc".into(), json!(format_utc(until)));
                }
                let log = stored.state["owner_log"].as_array().cloned().unwrap_or_default();
                let recent: Vec<Value> = log.iter().rev().take(RECENT).cloned().collect();
                view.insert("recent_owner_actions".into(), json!(recent));
                view.insert("rev".into(), json!(stored.rev));
                view.insert("updated_at".into(), json!(stored.updated_at));
                Value::Object(view)
            }
            Err(e) => json!({ "error": e.to_string() }),
        }
    }
}

/// How the reconciler probes the gateway, as it stored it: `mode` (`probe_url`, `task_ip`,
/// `unavailable`), `reason` when it probed nothing, the last outcome (`live`, `failed`,
/// `unreachable`) with its detail and since when, and the hung streak (`failures`). `None` until
/// the reconciler has seen the gateway.
fn probe_view(state: &Value) -> Option<Value> {
    let health = &state["health"];
    let mut probe = health["probe"].as_object()?.clone();
    probe.insert("failures".into(), json!(health["probe_failures"].as_u64().unwrap_or(0)));
    if let Some(since) = probe.get("since").and_then(Value::as_i64) {
        probe.insert("since_utc".into(), json!(format_utc(since)));
    }
    Some(Value::Object(probe))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clawkeeper_shared::AwsError;
    use clawkeeper_shared::aws_error::Retry;
    use clawkeeper_shared::ecs::Missing;
    use serde_json::json;

    use super::*;

    /// ECS as a map from service name to what it answers.
    struct FakeEcs {
        services: HashMap<&'static str, Result<Result<ServiceView, Missing>, AwsError>>,
        tasks: Vec<TaskView>,
    }

    impl Ecs for FakeEcs {
        async fn describe_service(&self, _: &str, service: &str) -> Result<Result<ServiceView, Missing>, AwsError> {
            self.services.get(service).cloned().unwrap_or(Ok(Err(Missing {
                reason: "MISSING".into(),
            })))
        }
        async fn family_tasks(&self, _: &str, _: &str, _: &str) -> Result<Vec<TaskView>, AwsError> {
            Ok(self.tasks.clone())
        }
    }

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
            task_definition: None,
            group: Some("family:f".into()),
            started_at: None,
            stopped_reason: None,
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
        let ecs = FakeEcs {
            services: HashMap::from([("gw", Ok(Ok(service("gw")))), ("busy", Err(throttled))]),
            tasks: vec![task("RUNNING"), task("PROVISIONING")],
        };
        let report = serde_json::to_value(report(&config, &ecs, None).await).expect("serializes");
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

    #[test]
    fn the_probe_view_shows_the_mode_the_last_outcome_and_the_streak() {
        let state = json!({"phase": "healthy", "health": {"probe_failures": 1, "probe": {
            "mode": "task_ip", "reason": null, "last_outcome": "failed",
            "last_detail": "connected, but no answer within 2000 ms", "since": 1_795_161_600}}});
        let view = probe_view(&state).expect("view");
        assert_eq!(view["mode"], "task_ip");
        assert_eq!(view["last_outcome"], "failed");
        assert_eq!(view["failures"], 1);
        assert_eq!(view["since_utc"], "2026-11-20 08:00:00 UTC");
        // A state from before probe modes, or one the reconciler never saw: nothing to show.
        assert_eq!(probe_view(&json!({"health": {"probe_failures": 0}})), None);
        assert_eq!(probe_view(&json!({})), None);
    }

    #[tokio::test]
    async fn one_gateway_only() {
        let config =
            config(r#"[{"id":"home","cluster":"c","service":"gw"},{"id":"lab","cluster":"c","task_family":"f"}]"#);
        let ecs = FakeEcs {
            services: HashMap::from([("gw", Ok(Ok(service("gw"))))]),
            tasks: vec![],
        };
        let report = report(&config, &ecs, Some("lab")).await;
        assert_eq!(report.gateways.len(), 1);
        assert_eq!(report.gateways[0].id, "lab");
    }
}
