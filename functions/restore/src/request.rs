//! The restore function's event, parsed into one request.

use clawkeeper_aws::FunctionError;
use clawkeeper_core::{Config, Gateway};
use serde_json::Value;

/// What to restore.
#[derive(Debug)]
pub struct Request<'a> {
    pub gateway: &'a Gateway,
    pub snapshot: String,
    pub confirm_stopped: bool,
    pub by: String,
}

/// Parses `{"gateway":"<id>","snapshot":"<key|name|latest>","confirm_stopped":true,"by":"<who>"}`.
pub fn parse<'a>(event: &Value, config: &'a Config) -> Result<Request<'a>, FunctionError> {
    let invalid = |m: String| FunctionError::new("InvalidRequest", m);
    let object = event
        .as_object()
        .ok_or_else(|| invalid("the event must be a JSON object".into()))?;
    let id = object.get("gateway").and_then(Value::as_str).ok_or_else(|| {
        invalid(
            "expected {\"gateway\":\"<id>\",\"snapshot\":\"<key, name or latest>\",\"confirm_stopped\":true}".into(),
        )
    })?;
    let gateway = config
        .gateway(id)
        .ok_or_else(|| FunctionError::new("UnknownGateway", format!("gateway {id:?} is not configured")))?;
    let snapshot = match object.get("snapshot") {
        None | Some(Value::Null) => "latest".to_string(),
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(other) => {
            return Err(invalid(format!(
                "`snapshot` must be a key, a name or \"latest\", not {other}"
            )));
        }
    };
    let confirm_stopped = match object.get("confirm_stopped") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(invalid(format!("`confirm_stopped` must be true or false, not {other}"))),
    };
    let by = object
        .get("by")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    Ok(Request {
        gateway,
        snapshot,
        confirm_stopped,
        by,
    })
}
