//! EventBridge `aws.ecs` events, as Lambda receives them, turned into domain [`Signal`]s for one
//! configured gateway.
//!
//! Parsing reads a `serde_json::Value` field by field instead of deserializing into structs: ECS adds
//! fields and stop codes over time, and an unknown field must never fail an event, while a missing
//! required field or a wrong type must fail it with a message that names the field (Lambda then
//! retries and the dead-letter queue keeps the event).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::signal::*;
use super::time::parse_rfc3339;
use crate::gateway::{Gateway, GatewayTarget};

/// An event that cannot be read: the field at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {event}: `{field}` {problem}")]
pub struct SignalError {
    /// Which event: detail type and EventBridge id when known.
    pub event: String,
    /// JSON path of the field at fault, e.g. `detail.containers[0].exitCode`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

/// What [`parse_ecs_event`] made of an event.
// One value per event, moved once: boxing the signal would buy nothing but indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Parsed {
    /// Nothing to do: not ECS, not a configured gateway, or an event type we do not act on.
    Ignored {
        /// Why, for a debug log line.
        reason: String,
    },
    /// A signal for one configured gateway.
    Signal {
        /// The gateway's configured id.
        gateway: String,
        /// What happened.
        signal: Signal,
        /// How to recognise a redelivery of the same event.
        dedupe: Dedupe,
    },
}

/// How a redelivered event is recognised (EventBridge delivers at least once, unordered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Dedupe {
    /// Task events: ordered by `detail.version` per task. The state keeps the last versions seen and
    /// [`super::plan`] ignores a duplicate or older one, so the caller needs no marker for these.
    TaskVersion {
        /// Task ARN.
        task_arn: String,
        /// `detail.version`.
        version: u64,
    },
    /// Service and deployment events (no version): the caller writes a `SEEN#<key>` marker with a
    /// TTL and skips the event when the marker already exists.
    Key(String),
}

const TASK_STATE_CHANGE: &str = "ECS Task State Change";
const SERVICE_ACTION: &str = "ECS Service Action";
const DEPLOYMENT_STATE_CHANGE: &str = "ECS Deployment State Change";

/// Parses one EventBridge event into a signal for one of `gateways`.
///
/// Events from other sources, for unconfigured clusters or services, and of kinds we do not act on
/// are [`Parsed::Ignored`]; a malformed `aws.ecs` event is an error naming the field at fault.
pub fn parse_ecs_event(event: &Value, gateways: &[Gateway]) -> Result<Parsed, SignalError> {
    let Some(obj) = event.as_object() else {
        return Err(SignalError {
            event: "event".into(),
            field: "(root)".into(),
            problem: format!("should be a JSON object, got {}", type_name(event)),
        });
    };
    let id = obj.get("id").and_then(Value::as_str).map(str::to_owned);
    let detail_type = obj.get("detail-type").and_then(Value::as_str).unwrap_or_default();
    let reader = Reader {
        event: match &id {
            Some(id) if !detail_type.is_empty() => format!("{detail_type} event {id}"),
            Some(id) => format!("event {id}"),
            None if !detail_type.is_empty() => format!("{detail_type} event"),
            None => "event".into(),
        },
    };
    let source = reader.opt_str(event, "source")?;
    if source != Some("aws.ecs") {
        return Ok(ignored(format!("not an aws.ecs event (source {source:?})")));
    }
    reader.opt_str(event, "detail-type")?;
    if !matches!(
        detail_type,
        TASK_STATE_CHANGE | SERVICE_ACTION | DEPLOYMENT_STATE_CHANGE
    ) {
        return Ok(ignored(format!("detail-type {detail_type:?} is not acted on")));
    }
    let detail = match obj.get("detail") {
        Some(d) if d.is_object() => d,
        Some(d) => return Err(reader.err("detail", format!("should be an object, got {}", type_name(d)))),
        None => return Err(reader.err("detail", "is missing")),
    };
    let event_time = reader.opt_str(event, "time")?.and_then(parse_rfc3339);
    if detail_type == TASK_STATE_CHANGE {
        parse_task(&reader, id.as_deref(), detail, event_time, gateways)
    } else {
        parse_service(&reader, id.as_deref(), event, detail, detail_type, event_time, gateways)
    }
}

fn parse_task(
    r: &Reader,
    id: Option<&str>,
    detail: &Value,
    event_time: Option<i64>,
    gateways: &[Gateway],
) -> Result<Parsed, SignalError> {
    let task_arn = r.req_str(detail, "detail.taskArn")?;
    let last_status = r.req_str(detail, "detail.lastStatus")?;
    let desired_status = r.opt_str(detail, "detail.desiredStatus")?;
    let group = r.opt_str(detail, "detail.group")?;
    // Older events may lack clusterArn; the task ARN `...:task/<cluster>/<id>` names it too.
    let cluster = match r.opt_str(detail, "detail.clusterArn")? {
        Some(c) => Some(cluster_name(c).to_owned()),
        None => cluster_from_resource_arn(task_arn, "task/"),
    };
    let version = r.opt_u64(detail, "detail.version")?;
    let Some(group) = group else {
        return Ok(ignored(format!(
            "task {task_arn} has no group, so it belongs to no gateway"
        )));
    };
    let Some(gateway) = gateways
        .iter()
        .find(|g| g.task_group() == group && cluster.as_deref().is_some_and(|c| c == cluster_name(&g.cluster)))
    else {
        return Ok(ignored(format!(
            "task group {group} on cluster {} {NO_GATEWAY}",
            cluster.as_deref().unwrap_or("(unknown)")
        )));
    };

    let dedupe = match (version, id) {
        (Some(version), _) => Dedupe::TaskVersion {
            task_arn: task_arn.to_owned(),
            version,
        },
        // Without a version (never seen from ECS, but tolerated) the event id is the only handle.
        (None, Some(id)) => Dedupe::Key(format!("{id}#{last_status}")),
        (None, None) => {
            return Err(r.err(
                "detail.version",
                "and `id` are both missing: the event cannot be deduplicated",
            ));
        }
    };
    let task = TaskInfo {
        task_arn: task_arn.to_owned(),
        version,
        task_definition: r.opt_str(detail, "detail.taskDefinitionArn")?.map(str::to_owned),
        group: Some(group.to_owned()),
        started_at: r.opt_time(detail, "detail.startedAt")?,
        network: task_network(r, detail)?,
        event_time,
    };
    let signal = match last_status {
        // RUNNING with desired STOPPED is a task on its way out: its STOPPED event follows.
        "RUNNING" if desired_status != Some("STOPPED") => Signal::TaskRunning(task),
        "STOPPED" => {
            let containers = containers(r, detail)?;
            let stop_code = r.opt_str(detail, "detail.stopCode")?.map(str::to_owned);
            let stopped_reason = r.opt_str(detail, "detail.stoppedReason")?.map(str::to_owned);
            let stopped_at = r.opt_time(detail, "detail.stoppedAt")?.or(event_time);
            let runtime_secs = match (task.started_at, stopped_at) {
                (Some(start), Some(stop)) => Some((stop - start).max(0)),
                _ => None,
            };
            let cause = classify_stop(stop_code.as_deref(), stopped_reason.as_deref(), &containers);
            Signal::TaskStopped(TaskStop {
                evidence: StopEvidence {
                    task_arn: task_arn.to_owned(),
                    stop_code,
                    stopped_reason,
                    containers,
                    runtime_secs,
                    stopped_at,
                },
                task,
                cause,
            })
        }
        other => {
            return Ok(ignored(format!(
                "task status {other} (desired {}) is not acted on",
                desired_status.unwrap_or("unknown")
            )));
        }
    };
    Ok(Parsed::Signal {
        gateway: gateway.id.clone(),
        signal,
        dedupe,
    })
}

fn parse_service(
    r: &Reader,
    id: Option<&str>,
    event: &Value,
    detail: &Value,
    detail_type: &str,
    event_time: Option<i64>,
    gateways: &[Gateway],
) -> Result<Parsed, SignalError> {
    let event_name = r.req_str(detail, "detail.eventName")?;
    let service_arn = match event.get("resources") {
        Some(Value::Array(items)) => match items.first() {
            Some(Value::String(arn)) => arn.as_str(),
            Some(other) => return Err(r.err("resources[0]", format!("should be a string, got {}", type_name(other)))),
            None => return Err(r.err("resources", "is empty: the service ARN is needed")),
        },
        Some(other) => return Err(r.err("resources", format!("should be an array, got {}", type_name(other)))),
        None => return Err(r.err("resources", "is missing: the service ARN is needed")),
    };
    let Some((_, path)) = service_arn.split_once(":service/") else {
        return Err(r.err("resources[0]", format!("{service_arn:?} is not an ECS service ARN")));
    };
    // New-format ARNs are `service/<cluster>/<name>`; old ones `service/<name>`.
    let service = path.rsplit('/').next().unwrap_or(path);
    let cluster = match r.opt_str(detail, "detail.clusterArn")? {
        Some(c) => Some(cluster_name(c).to_owned()),
        None => path.split_once('/').map(|(c, _)| c.to_owned()),
    };
    let Some(gateway) = gateways.iter().find(|g| {
        matches!(&g.target, GatewayTarget::Service(name) if name == service)
            && cluster.as_deref().is_some_and(|c| c == cluster_name(&g.cluster))
    }) else {
        return Ok(ignored(format!(
            "service {service} on cluster {} {NO_GATEWAY}",
            cluster.as_deref().unwrap_or("(unknown)")
        )));
    };
    let Some(id) = id else {
        return Err(r.err("id", "is missing: service and deployment events are deduplicated on it"));
    };
    let at = r
        .opt_time(detail, "detail.createdAt")?
        .or(r.opt_time(detail, "detail.updatedAt")?)
        .or(event_time);
    let deployment_id =
        || -> Result<Option<String>, SignalError> { Ok(r.opt_str(detail, "detail.deploymentId")?.map(str::to_owned)) };
    let reason =
        || -> Result<Option<String>, SignalError> { Ok(r.opt_str(detail, "detail.reason")?.map(str::to_owned)) };
    let signal = match (detail_type, event_name) {
        (SERVICE_ACTION, "SERVICE_STEADY_STATE") => Signal::ServiceSteady { at },
        (
            SERVICE_ACTION,
            "SERVICE_TASK_START_IMPAIRED" | "SERVICE_TASK_PLACEMENT_FAILURE" | "SERVICE_TASK_CONFIGURATION_FAILURE",
        ) => Signal::ServiceImpaired {
            event_name: event_name.to_owned(),
            at,
        },
        (DEPLOYMENT_STATE_CHANGE, "SERVICE_DEPLOYMENT_IN_PROGRESS") => Signal::DeploymentStarted {
            deployment_id: deployment_id()?,
            reason: reason()?,
        },
        (DEPLOYMENT_STATE_CHANGE, "SERVICE_DEPLOYMENT_COMPLETED") => Signal::DeploymentCompleted {
            deployment_id: deployment_id()?,
        },
        (DEPLOYMENT_STATE_CHANGE, "SERVICE_DEPLOYMENT_FAILED") => Signal::DeploymentFailed {
            deployment_id: deployment_id()?,
            reason: reason()?,
        },
        _ => return Ok(ignored(format!("{detail_type} {event_name} is not acted on"))),
    };
    Ok(Parsed::Signal {
        gateway: gateway.id.clone(),
        signal,
        dedupe: Dedupe::Key(format!("{id}#{event_name}")),
    })
}

fn containers(r: &Reader, detail: &Value) -> Result<Vec<ContainerExit>, SignalError> {
    let mut out = Vec::new();
    for (i, c) in r.opt_array(detail, "detail.containers")?.iter().enumerate() {
        let path = |f: &str| format!("detail.containers[{i}].{f}");
        if !c.is_object() {
            return Err(r.err(
                &format!("detail.containers[{i}]"),
                format!("should be an object, got {}", type_name(c)),
            ));
        }
        out.push(ContainerExit {
            name: r.opt_str_at(c, "name", &path("name"))?.unwrap_or_default().to_owned(),
            exit_code: match c.get("exitCode") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_i64()
                        .ok_or_else(|| r.err(&path("exitCode"), format!("should be an integer, got {v}")))?,
                ),
            },
            reason: r.opt_str_at(c, "reason", &path("reason"))?.map(str::to_owned),
        });
    }
    Ok(out)
}

/// Subnet and private IP from the ENI attachment, else from the containers' network interfaces.
fn task_network(r: &Reader, detail: &Value) -> Result<Option<TaskNetwork>, SignalError> {
    let mut subnet_id = None;
    let mut private_ip = None;
    for (i, attachment) in r.opt_array(detail, "detail.attachments")?.iter().enumerate() {
        if attachment.get("type").and_then(Value::as_str) != Some("eni") {
            continue;
        }
        let Some(details) = attachment.get("details").and_then(Value::as_array) else {
            continue;
        };
        for d in details {
            let name = d.get("name").and_then(Value::as_str);
            let value = r.opt_str_at(d, "value", &format!("detail.attachments[{i}].details[].value"))?;
            match name {
                Some("subnetId") => subnet_id = value.map(str::to_owned),
                Some("privateIPv4Address") => private_ip = value.map(str::to_owned),
                _ => {}
            }
        }
    }
    if private_ip.is_none() {
        private_ip = detail
            .get("containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("networkInterfaces").and_then(Value::as_array))
            .flatten()
            .find_map(|n| n.get("privateIpv4Address").and_then(Value::as_str))
            .map(str::to_owned);
    }
    Ok((subnet_id.is_some() || private_ip.is_some()).then_some(TaskNetwork { subnet_id, private_ip }))
}

/// `arn:aws:ecs:r:a:cluster/openclaw` and `openclaw` both give `openclaw`.
fn cluster_name(cluster: &str) -> &str {
    match cluster.split_once(":cluster/") {
        Some((_, name)) => name,
        None => cluster,
    }
}

/// The cluster segment of `arn:...:<kind>/<cluster>/<id>` (absent in old-format ARNs).
fn cluster_from_resource_arn(arn: &str, kind: &str) -> Option<String> {
    let (_, path) = arn.split_once(&format!(":{kind}"))?;
    let (cluster, _) = path.split_once('/')?;
    Some(cluster.to_owned())
}

/// How an ignored event's reason ends when no watched gateway is its: the caller may read the
/// registry again before it lets the event go (a gateway registered a moment ago).
pub const NO_GATEWAY: &str = "matches no configured gateway";

fn ignored(reason: String) -> Parsed {
    Parsed::Ignored { reason }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Typed field access that names the field in its errors. `null` counts as absent.
struct Reader {
    event: String,
}

impl Reader {
    fn err(&self, field: &str, problem: impl Into<String>) -> SignalError {
        SignalError {
            event: self.event.clone(),
            field: field.to_owned(),
            problem: problem.into(),
        }
    }

    /// `path` is `detail.x` or a top-level key: the value's key is its last segment.
    fn opt_str<'v>(&self, v: &'v Value, path: &str) -> Result<Option<&'v str>, SignalError> {
        self.opt_str_at(v, last_segment(path), path)
    }

    fn opt_str_at<'v>(&self, v: &'v Value, key: &str, path: &str) -> Result<Option<&'v str>, SignalError> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(self.err(path, format!("should be a string, got {}", type_name(other)))),
        }
    }

    fn req_str<'v>(&self, v: &'v Value, path: &str) -> Result<&'v str, SignalError> {
        match self.opt_str(v, path)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(self.err(path, "is empty")),
            None => Err(self.err(path, "is missing")),
        }
    }

    fn opt_u64(&self, v: &Value, path: &str) -> Result<Option<u64>, SignalError> {
        match v.get(last_segment(path)) {
            None | Some(Value::Null) => Ok(None),
            Some(n) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.err(path, format!("should be a non-negative integer, got {n}"))),
        }
    }

    /// A timestamp must be a string; one we cannot read is dropped rather than failing the event,
    /// since it only feeds evidence (runtime) and a new ECS format must not blind the watchdog.
    fn opt_time(&self, v: &Value, path: &str) -> Result<Option<i64>, SignalError> {
        Ok(self.opt_str(v, path)?.and_then(parse_rfc3339))
    }

    fn opt_array<'v>(&self, v: &'v Value, path: &str) -> Result<&'v [Value], SignalError> {
        match v.get(last_segment(path)) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.err(path, format!("should be an array, got {}", type_name(other)))),
        }
    }
}

fn last_segment(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::watch::plan::fixtures::gateway;

    /// Where the sample events live; one place, so vendoring them elsewhere is one change.
    fn fixture_dir() -> std::path::PathBuf {
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/events"))
    }

    fn fixture(name: &str) -> Value {
        let path = fixture_dir().join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).expect("fixture is JSON")
    }

    fn gateways() -> Vec<Gateway> {
        vec![
            gateway("other", "elsewhere", GatewayTarget::Service("openclaw-gateway".into())),
            gateway("home", "openclaw", GatewayTarget::Service("openclaw-gateway".into())),
        ]
    }

    fn parse(event: &Value) -> Parsed {
        parse_ecs_event(event, &gateways()).expect("parses")
    }

    fn stop_of(event: &Value) -> TaskStop {
        match parse(event) {
            Parsed::Signal {
                gateway,
                signal: Signal::TaskStopped(stop),
                ..
            } => {
                assert_eq!(gateway, "home");
                stop
            }
            other => panic!("expected a stop, got {other:?}"),
        }
    }

    const TASK: &str = "arn:aws:ecs:us-east-1:123456789012:task/openclaw/8d2c0f3e9a6b4c1d8e7f6a5b4c3d2e1f";

    #[test]
    fn every_fixture_parses_or_is_ignored_without_error() {
        let mut seen = 0;
        for entry in std::fs::read_dir(fixture_dir()).expect("fixture dir") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable");
            let event: Value = serde_json::from_str(&text).expect("json");
            let parsed = parse_ecs_event(&event, &gateways());
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            match parsed {
                Ok(Parsed::Signal { gateway, .. }) => {
                    assert!(!name.starts_with("logs-"), "{name}");
                    assert_eq!(gateway, "home", "{name}");
                }
                Ok(Parsed::Ignored { reason }) => assert!(name.starts_with("logs-"), "{name}: {reason}"),
                Err(e) => panic!("{name}: {e}"),
            }
            seen += 1;
        }
        assert!(seen >= 13, "only {seen} fixtures");
    }

    #[test]
    fn running_task_carries_definition_network_and_version() {
        let Parsed::Signal { signal, dedupe, .. } = parse(&fixture("task-running.json")) else {
            panic!("signal expected");
        };
        assert_eq!(
            dedupe,
            Dedupe::TaskVersion {
                task_arn: TASK.into(),
                version: 4
            }
        );
        let Signal::TaskRunning(task) = signal else {
            panic!("running expected, got {signal:?}");
        };
        assert_eq!(
            task.task_definition.as_deref(),
            Some("arn:aws:ecs:us-east-1:123456789012:task-definition/openclaw-gateway:7")
        );
        assert_eq!(
            task.network,
            Some(TaskNetwork {
                subnet_id: Some("subnet-0a1b2c3d".into()),
                private_ip: Some("10.0.1.23".into())
            })
        );
        assert_eq!(task.started_at, parse_rfc3339("2026-11-20T08:00:40Z"));
        assert_eq!(task.task_id(), "8d2c0f3e9a6b4c1d8e7f6a5b4c3d2e1f");
    }

    #[test]
    fn stops_are_classified_from_the_fixtures() {
        let crash = stop_of(&fixture("task-stopped-crash.json"));
        assert_eq!(crash.cause, StopCause::Crashed);
        assert_eq!(crash.evidence.runtime_secs, Some(151));
        assert_eq!(crash.evidence.stop_code.as_deref(), Some("EssentialContainerExited"));
        assert_eq!(crash.evidence.containers[0].exit_code, Some(1));
        assert_eq!(crash.evidence.containers[0].name, "openclaw-gateway");

        let oom = stop_of(&fixture("task-stopped-oom.json"));
        assert_eq!(oom.cause, StopCause::OutOfMemory);
        assert!(
            oom.evidence.containers[0]
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains("OutOfMemory")
        );

        let failed = stop_of(&fixture("task-stopped-failed-to-start.json"));
        assert_eq!(failed.cause, StopCause::FailedToStart);
        assert_eq!(failed.evidence.runtime_secs, None, "never started");

        let deployment = stop_of(&fixture("task-stopped-deployment.json"));
        assert_eq!(deployment.cause, StopCause::Replaced);
        assert!(deployment.cause.is_expected());

        let maintenance = stop_of(&fixture("task-stopped-maintenance.json"));
        assert_eq!(maintenance.cause, StopCause::Maintenance);
        assert!(!maintenance.cause.is_expected());

        let user = stop_of(&fixture("task-stopped-user.json"));
        assert_eq!(user.cause, StopCause::UserInitiated);
        assert!(user.cause.is_expected());

        let refused = stop_of(&fixture("task-stopped-start-refused.json"));
        assert_eq!(refused.cause, StopCause::StartRefused);
        assert!(!refused.cause.is_expected());
        assert_eq!(refused.evidence.containers[0].exit_code, Some(78));
        assert_eq!(refused.evidence.runtime_secs, Some(24));
    }

    #[test]
    fn exit_78_of_the_gateway_container_is_a_refused_start() {
        let exit = |name: &str, code: i64| ContainerExit {
            name: name.into(),
            exit_code: Some(code),
            reason: None,
        };
        let essential = Some("EssentialContainerExited");
        // The sidecar ECS killed after the gateway exited shows 137: still a refusal, not memory.
        assert_eq!(
            classify_stop(
                essential,
                None,
                &[exit("openclaw-gateway", 78), exit("log-router", 137)]
            ),
            StopCause::StartRefused
        );
        // A task of another layout: any container's 78.
        assert_eq!(
            classify_stop(essential, None, &[exit("openclaw", 78)]),
            StopCause::StartRefused
        );
        assert_eq!(
            classify_stop(None, None, &[exit("openclaw", 78)]),
            StopCause::StartRefused
        );
        // The gateway container decides when the task has it.
        assert_eq!(
            classify_stop(essential, None, &[exit("openclaw-gateway", 1), exit("sidecar", 78)]),
            StopCause::Crashed
        );
        // 78 means nothing to a stop someone asked for, or one ECS's scheduler made.
        assert_eq!(
            classify_stop(Some("UserInitiated"), None, &[exit("openclaw-gateway", 78)]),
            StopCause::UserInitiated
        );
        assert_eq!(
            classify_stop(Some("TaskFailedToStart"), None, &[exit("openclaw-gateway", 78)]),
            StopCause::FailedToStart
        );
    }

    #[test]
    fn service_and_deployment_events() {
        let cases = [
            ("service-steady-state.json", "SERVICE_STEADY_STATE"),
            ("service-task-start-impaired.json", "SERVICE_TASK_START_IMPAIRED"),
            ("deployment-in-progress.json", "SERVICE_DEPLOYMENT_IN_PROGRESS"),
            ("deployment-failed.json", "SERVICE_DEPLOYMENT_FAILED"),
        ];
        for (name, event_name) in cases {
            let event = fixture(name);
            let Parsed::Signal { signal, dedupe, .. } = parse(&event) else {
                panic!("{name}: signal expected");
            };
            let id = event["id"].as_str().unwrap_or_default();
            assert_eq!(dedupe, Dedupe::Key(format!("{id}#{event_name}")));
            match (name, signal) {
                ("service-steady-state.json", Signal::ServiceSteady { at }) => assert!(at.is_some()),
                ("service-task-start-impaired.json", Signal::ServiceImpaired { event_name, .. }) => {
                    assert_eq!(event_name, "SERVICE_TASK_START_IMPAIRED")
                }
                ("deployment-in-progress.json", Signal::DeploymentStarted { deployment_id, .. }) => {
                    assert_eq!(deployment_id.as_deref(), Some("ecs-svc/3817563411738393612"))
                }
                ("deployment-failed.json", Signal::DeploymentFailed { reason, .. }) => {
                    assert!(reason.unwrap_or_default().contains("circuit breaker"))
                }
                (name, signal) => panic!("{name}: unexpected {signal:?}"),
            }
        }
    }

    #[test]
    fn unknown_stop_code_is_unexpected_and_kept_verbatim() {
        let mut event = fixture("task-stopped-crash.json");
        event["detail"]["stopCode"] = json!("InfrastructureHealth");
        let stop = stop_of(&event);
        assert_eq!(stop.cause, StopCause::Unknown("InfrastructureHealth".into()));
        assert!(!stop.cause.is_expected());
        assert_eq!(stop.evidence.stop_code.as_deref(), Some("InfrastructureHealth"));
    }

    #[test]
    fn unknown_fields_are_tolerated() {
        let mut event = fixture("task-stopped-crash.json");
        event["detail"]["brandNewField"] = json!({"nested": [1, 2]});
        event["detail"]["containers"][0]["gpuIds"] = json!(["x"]);
        event["newTopLevel"] = json!(true);
        event["detail"]["attachments"][0]["details"][0]["extra"] = json!(1);
        assert_eq!(stop_of(&event).cause, StopCause::Crashed);
    }

    #[test]
    fn missing_optional_fields_are_tolerated() {
        let mut event = fixture("task-stopped-crash.json");
        let detail = event["detail"].as_object_mut().expect("object");
        for key in [
            "attachments",
            "containers",
            "startedAt",
            "stoppedAt",
            "stoppedReason",
            "clusterArn",
            "taskDefinitionArn",
            "desiredStatus",
        ] {
            detail.remove(key);
        }
        let stop = stop_of(&event);
        // Without containers or reason, EssentialContainerExited is still a crash.
        assert_eq!(stop.cause, StopCause::Crashed);
        assert_eq!(stop.evidence.runtime_secs, None);
        assert_eq!(stop.task.network, None);
        // stoppedAt falls back to the event time.
        assert_eq!(stop.evidence.stopped_at, parse_rfc3339("2026-11-20T08:03:12Z"));

        let mut event = fixture("task-stopped-crash.json");
        event["detail"].as_object_mut().expect("object").remove("stopCode");
        assert_eq!(
            stop_of(&event).cause,
            StopCause::Crashed,
            "exit code 1 without stop code"
        );
        event["detail"].as_object_mut().expect("object").remove("containers");
        assert_eq!(stop_of(&event).cause, StopCause::Unknown(String::new()));
    }

    #[test]
    fn exit_code_zero_while_desired_running_is_a_crash() {
        let mut event = fixture("task-stopped-crash.json");
        event["detail"]["containers"][0]["exitCode"] = json!(0);
        let stop = stop_of(&event);
        assert_eq!(stop.cause, StopCause::Crashed);
        assert!(!stop.cause.is_expected());
    }

    #[test]
    fn scheduler_reasons_are_told_apart() {
        let health = "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:...)";
        assert_eq!(
            classify_stop(Some("ServiceSchedulerInitiated"), Some(health), &[]),
            StopCause::Unhealthy
        );
        assert_eq!(
            classify_stop(Some("ServiceSchedulerInitiated"), Some("Task is being retired"), &[]),
            StopCause::Maintenance
        );
        assert_eq!(
            classify_stop(Some("ServiceSchedulerInitiated"), Some("Something new"), &[]),
            StopCause::Scheduler("Something new".into())
        );
        assert_eq!(
            classify_stop(Some("SpotInterruption"), None, &[]),
            StopCause::SpotInterruption
        );
        assert_eq!(
            classify_stop(Some("TerminationNotice"), None, &[]),
            StopCause::TerminationNotice
        );
        // A user stop that ends in SIGKILL (137 after the stop timeout) is still the user's.
        let killed = [ContainerExit {
            name: "x".into(),
            exit_code: Some(137),
            reason: None,
        }];
        assert_eq!(
            classify_stop(Some("UserInitiated"), None, &killed),
            StopCause::UserInitiated
        );
    }

    #[test]
    fn other_services_clusters_and_sources_are_ignored() {
        let mut event = fixture("task-stopped-crash.json");
        event["detail"]["group"] = json!("service:another");
        assert!(matches!(parse(&event), Parsed::Ignored { reason } if reason.contains("service:another")));

        let mut event = fixture("task-stopped-crash.json");
        event["detail"]["clusterArn"] = json!("arn:aws:ecs:us-east-1:123456789012:cluster/prod");
        assert!(matches!(parse(&event), Parsed::Ignored { .. }));

        let mut event = fixture("service-task-start-impaired.json");
        event["resources"] = json!(["arn:aws:ecs:us-east-1:123456789012:service/openclaw/another"]);
        assert!(matches!(parse(&event), Parsed::Ignored { reason } if reason.contains("another")));

        let mut event = fixture("task-running.json");
        event["source"] = json!("aws.ec2");
        assert!(matches!(parse(&event), Parsed::Ignored { .. }));

        let mut event = fixture("task-running.json");
        event["detail-type"] = json!("ECS Container Instance State Change");
        assert!(matches!(parse(&event), Parsed::Ignored { .. }));

        let mut event = fixture("task-running.json");
        event["detail"]["lastStatus"] = json!("PENDING");
        assert!(matches!(parse(&event), Parsed::Ignored { reason } if reason.contains("PENDING")));

        let mut event = fixture("service-steady-state.json");
        event["detail"]["eventName"] = json!("SERVICE_DISCOVERY_INSTANCE_UNHEALTHY");
        assert!(matches!(parse(&event), Parsed::Ignored { .. }));
    }

    #[test]
    fn gateway_cluster_may_be_an_arn_and_standalone_matches_family() {
        let gws = vec![
            gateway(
                "arn",
                "arn:aws:ecs:us-east-1:123456789012:cluster/openclaw",
                GatewayTarget::Service("openclaw-gateway".into()),
            ),
            gateway(
                "solo",
                "openclaw",
                GatewayTarget::Standalone {
                    family: "openclaw-solo".into(),
                },
            ),
        ];
        let parsed = parse_ecs_event(&fixture("deployment-failed.json"), &gws).expect("parses");
        assert!(matches!(parsed, Parsed::Signal { gateway, .. } if gateway == "arn"));

        let mut event = fixture("task-running.json");
        event["detail"]["group"] = json!("family:openclaw-solo");
        let parsed = parse_ecs_event(&event, &gws).expect("parses");
        assert!(matches!(parsed, Parsed::Signal { gateway, .. } if gateway == "solo"));
    }

    #[test]
    fn malformed_events_are_errors_naming_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([1, 2]), "(root)"),
            (json!("text"), "(root)"),
            (
                json!({"source": "aws.ecs", "detail-type": "ECS Task State Change", "id": "x"}),
                "detail",
            ),
            (
                json!({"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": 3}),
                "detail",
            ),
            (json!({"source": 5}), "source"),
            (
                json!({"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {"lastStatus": "STOPPED"}}),
                "detail.taskArn",
            ),
            (
                json!({"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {"taskArn": TASK}}),
                "detail.lastStatus",
            ),
            (
                json!({"source": "aws.ecs", "detail-type": "ECS Service Action", "id": "1", "detail": {"eventName": "X"}}),
                "resources",
            ),
        ];
        for (event, field) in cases {
            let e = parse_ecs_event(&event, &gateways()).expect_err(&event.to_string());
            assert_eq!(e.field, field, "{e}");
            assert!(e.to_string().contains(field), "{e}");
        }
        let mut event = fixture("task-stopped-crash.json");
        event["detail"]["version"] = json!("seven");
        let e = parse_ecs_event(&event, &gateways()).expect_err("bad version");
        assert_eq!(e.field, "detail.version");
        assert!(e.to_string().contains("6a3d1f0e-0b1c-4a5e-9f6d-000000000002"), "{e}");

        let mut event = fixture("task-stopped-crash.json");
        event["detail"]["containers"][0]["exitCode"] = json!("1");
        let e = parse_ecs_event(&event, &gateways()).expect_err("bad exit code");
        assert_eq!(e.field, "detail.containers[0].exitCode");

        let mut event = fixture("task-stopped-crash.json");
        event["detail"]["containers"] = json!({});
        let e = parse_ecs_event(&event, &gateways()).expect_err("bad containers");
        assert_eq!(e.field, "detail.containers");
    }

    #[test]
    fn missing_version_falls_back_to_the_event_id() {
        let mut event = fixture("task-running.json");
        event["detail"].as_object_mut().expect("object").remove("version");
        let Parsed::Signal { dedupe, .. } = parse(&event) else {
            panic!("signal expected");
        };
        assert_eq!(
            dedupe,
            Dedupe::Key("6a3d1f0e-0b1c-4a5e-9f6d-000000000001#RUNNING".into())
        );
    }

    #[test]
    fn signals_round_trip_through_json() {
        let Parsed::Signal { signal, .. } = parse(&fixture("task-stopped-oom.json")) else {
            panic!("signal expected");
        };
        let text = serde_json::to_string(&signal).expect("serializes");
        let back: Signal = serde_json::from_str(&text).expect("deserializes");
        assert_eq!(back, signal);
    }
}
