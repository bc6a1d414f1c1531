//! The snapshot function's events, parsed into one request.

use clawkeeper_shared::snapshot::layout::valid_trigger;
use clawkeeper_shared::{Config, FunctionError, Gateway};
use serde_json::Value;

/// What to snapshot.
#[derive(Debug)]
pub struct Request<'a> {
    pub gateways: Vec<&'a Gateway>,
    pub trigger: String,
    pub quiescent: bool,
    pub source_task: Option<String>,
    pub force: bool,
}

/// Parses a scheduled event (all gateways) or a direct `{"gateway","trigger"}` invocation.
pub fn parse<'a>(event: &Value, config: &'a Config) -> Result<Request<'a>, FunctionError> {
    let object = event
        .as_object()
        .ok_or_else(|| FunctionError::new("InvalidRequest", "the event must be a JSON object"))?;
    let scheduled = object.get("source").and_then(Value::as_str) == Some("aws.events")
        || object.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
    if scheduled {
        return Ok(Request {
            gateways: config.gateways.iter().collect(),
            trigger: "scheduled".into(),
            quiescent: false,
            source_task: None,
            force: false,
        });
    }
    let id = object.get("gateway").and_then(Value::as_str).ok_or_else(|| {
        FunctionError::new(
            "InvalidRequest",
            "expected an EventBridge scheduled event or {\"gateway\":\"<id>\",\"trigger\":\"<word>\"}",
        )
    })?;
    let gateway = config
        .gateway(id)
        .ok_or_else(|| FunctionError::new("UnknownGateway", format!("gateway {id:?} is not configured")))?;
    let trigger = object.get("trigger").and_then(Value::as_str).unwrap_or("manual");
    if !valid_trigger(trigger) {
        return Err(FunctionError::new(
            "InvalidRequest",
            format!("trigger {trigger:?} must be 1-32 lowercase letters, digits or '-'"),
        ));
    }
    let flag = |name: &str| -> Result<bool, FunctionError> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(FunctionError::new(
                "InvalidRequest",
                format!("`{name}` must be true or false, not {other}"),
            )),
        }
    };
    Ok(Request {
        gateways: vec![gateway],
        trigger: trigger.to_string(),
        quiescent: flag("quiescent")?,
        source_task: object.get("source_task").and_then(Value::as_str).map(str::to_string),
        force: flag("force")?,
    })
}
