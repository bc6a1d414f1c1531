//! `clawkeeper explain`: replays one ECS event against the watchdog policy, offline. The same
//! parser and the same pure `plan` the deployed functions run, so what it prints is what the
//! watchdog would decide for that state at that time, and why.

use std::path::Path;

use clawkeeper_core::policy_settings::PolicySettings;
use clawkeeper_core::watch::time::{format_utc, parse_rfc3339};
use clawkeeper_core::watch::{ActionKind, Dedupe, GatewayState, Input, Parsed, parse_ecs_event, plan};
use clawkeeper_core::{Config, Gateway};
use serde_json::{Value, json};

use crate::CliError;
use crate::args::Explain;

/// Runs the replay and returns its report.
pub fn explain(input: &Explain) -> Result<Value, CliError> {
    let event: Value = read_json(&input.event, "event")?;
    let state: GatewayState = match &input.state {
        Some(path) => serde_json::from_value(unwrap_stored(read_json(path, "state")?))
            .map_err(|e| CliError::Input(format!("{}: not a watchdog state: {e}", path.display())))?,
        None => GatewayState::default(),
    };
    let gateways = match &input.gateway_config {
        Some(json) => gateways(&inline_or_file(json)?)?,
        None => vec![gateway_from_event(&event)?],
    };
    let settings = match &input.policy {
        Some(json) => {
            PolicySettings::from_json(&inline_or_file(json)?).map_err(|e| CliError::Input(format!("--policy {e}")))?
        }
        None => PolicySettings::default(),
    };
    let now = input
        .now
        .or_else(|| event["time"].as_str().and_then(parse_rfc3339))
        .ok_or_else(|| CliError::Input("the event has no `time`: pass --now EPOCH".into()))?;
    let parsed =
        parse_ecs_event(&event, &gateways).map_err(|e| CliError::Input(format!("the event is malformed: {e}")))?;
    let (gateway_id, signal, dedupe) = match parsed {
        Parsed::Ignored { reason } => {
            return Ok(json!({
                "now": now, "now_utc": format_utc(now), "ignored": reason,
                "decision": "ignored: the watchdog would not act on this event",
            }));
        }
        Parsed::Signal {
            gateway,
            signal,
            dedupe,
        } => (gateway, signal, dedupe),
    };
    let gateway = gateways
        .iter()
        .find(|g| g.id == gateway_id)
        .ok_or_else(|| CliError::Input(format!("the event is for gateway {gateway_id}, not configured")))?;
    let before_timeline = state.incident.as_ref().map_or(0, |i| i.timeline.len());
    let same_incident = |s: &GatewayState| state.incident.as_ref().map(|i| i.id) == s.incident.as_ref().map(|i| i.id);
    let planned = plan(&state, &Input::Signal(signal.clone()), now, &settings, gateway);
    let timeline: Vec<Value> = match &planned.state.incident {
        Some(i) => i
            .timeline
            .iter()
            .skip(if same_incident(&planned.state) {
                before_timeline
            } else {
                0
            })
            .map(to)
            .collect(),
        None => Vec::new(),
    };
    let actions: Vec<Value> = planned
        .actions
        .iter()
        .map(|a| {
            let mut v = json!({ "key": a.key, "action": a.kind.name() });
            match &a.kind {
                ActionKind::Notify(n) => {
                    v["kind"] = json!(n.kind.as_str());
                    v["subject"] = json!(n.subject);
                    v["message"] = json!(n.message);
                }
                other => v["detail"] = to(other),
            }
            v
        })
        .collect();
    let unchanged = planned.state == state;
    Ok(json!({
        "gateway": gateway.id,
        "now": now,
        "now_utc": format_utc(now),
        "signal": to(&signal),
        "dedupe": dedupe_json(&dedupe),
        "phase_before": state.phase.as_str(),
        "phase_after": planned.state.phase.as_str(),
        "actions": actions,
        "why": timeline,
        "incident": to(&planned.state.incident),
        "unchanged": unchanged,
        "decision": if unchanged { "nothing: a duplicate or an older version of a task event" } else if actions.is_empty() { "record only: no action" } else { "act" },
        "state_after": to(&planned.state),
    }))
}

/// A value as JSON; `json!` would panic on a value serde cannot represent.
fn to<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// How a redelivery would be recognised (the key variant does not serialize as a tagged value).
fn dedupe_json(dedupe: &Dedupe) -> Value {
    match dedupe {
        Dedupe::Key(key) => json!({ "kind": "key", "key": key }),
        other => to(other),
    }
}

fn read_json(path: &Path, what: &str) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("cannot read the {what} file {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| CliError::Input(format!("{} is not JSON: {e}", path.display())))
}

/// A state may be given as stored by `status --json` or DynamoDB exports (`{"state": {...}}`) or bare.
fn unwrap_stored(value: Value) -> Value {
    match value.get("state") {
        Some(inner) if inner.is_object() => inner.clone(),
        _ => value,
    }
}

/// `--gateway-config` and `--policy` take JSON inline, or `@FILE`.
fn inline_or_file(text: &str) -> Result<String, CliError> {
    match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("cannot read {path}: {e}"))),
        None => Ok(text.to_string()),
    }
}

/// Gateways from a `CLAWKEEPER_GATEWAYS` array (or one object), checked by the same rules.
fn gateways(json: &str) -> Result<Vec<Gateway>, CliError> {
    let array = match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(one)) => Value::Array(vec![Value::Object(one)]).to_string(),
        _ => json.to_string(),
    };
    let config = Config::from_lookup(|name| match name {
        "CLAWKEEPER_TABLE" => Some("explain".into()),
        "CLAWKEEPER_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:000000000000:explain".into()),
        "CLAWKEEPER_BUCKET" => Some("explain".into()),
        "CLAWKEEPER_GATEWAYS" => Some(array.clone()),
        _ => None,
    })
    .map_err(|e| CliError::Input(format!("--gateway-config: {}", e.problem)))?;
    Ok(config.gateways)
}

/// Without `--gateway-config`: the gateway the event is about, named `gateway`.
fn gateway_from_event(event: &Value) -> Result<Gateway, CliError> {
    let detail = &event["detail"];
    // A service ARN is `arn:...:service/<cluster>/<service>`.
    let service_arn: Vec<&str> = event["resources"][0].as_str().unwrap_or("").split('/').collect();
    let from_service_arn = |i: usize| (service_arn.len() == 3).then(|| service_arn[i].to_string());
    let cluster = detail["clusterArn"]
        .as_str()
        .and_then(|arn| arn.rsplit('/').next())
        .map(str::to_string)
        .or_else(|| from_service_arn(1))
        .ok_or_else(|| CliError::Input("cannot tell the cluster from the event: pass --gateway-config".into()))?;
    let (key, name) = match detail["group"].as_str().and_then(|g| g.split_once(':')) {
        Some(("service", name)) => ("service", name.to_string()),
        Some(("family", name)) => ("task_family", name.to_string()),
        _ => match from_service_arn(2) {
            Some(service) => ("service", service),
            None => {
                return Err(CliError::Input(
                    "cannot tell the service from the event: pass --gateway-config".into(),
                ));
            }
        },
    };
    let config = json!([{ "id": "gateway", "cluster": cluster, key: name }]).to_string();
    gateways(&config)?
        .pop()
        .ok_or_else(|| CliError::Input("no gateway".into()))
}
