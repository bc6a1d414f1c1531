//! The restore function's event, parsed into one request.

use clawkeeper_aws::FunctionError;
use clawkeeper_core::{Config, Gateway};
use serde_json::Value;

/// The word a stop permit carries instead of a snapshot key when it allows a recovery only.
pub const RECOVER: &str = "recover";

/// What to do.
#[derive(Debug)]
pub struct Request<'a> {
    pub gateway: &'a Gateway,
    /// The archive key `control` resolved and issued its stop permit for; `None` for a recovery.
    pub snapshot: Option<String>,
    /// Who asked, as `control` recorded it (for the log only: the permit is what is trusted).
    pub by: String,
    /// Epoch milliseconds by which the work must be done, from `control`'s own time budget.
    pub deadline_ms: Option<i64>,
}

impl Request<'_> {
    /// What the stop permit must name: the snapshot key, or [`RECOVER`].
    pub fn permit_word(&self) -> &str {
        self.snapshot.as_deref().unwrap_or(RECOVER)
    }
}

/// Parses `{"gateway":"<id>","snapshot":"<archive key>","by":"<who>","deadline_ms":<epoch ms>}`, or
/// `{"gateway":"<id>","recover":true,...}`: finish or undo a swap a killed restore left.
///
/// `confirm_stopped`, which older versions of `control` sent, is refused: whoever invokes the
/// function could set it. What it trusts now is the stop permit `control` writes.
pub fn parse<'a>(event: &Value, config: &'a Config) -> Result<Request<'a>, FunctionError> {
    let invalid = |m: String| FunctionError::new("InvalidRequest", m);
    let object = event
        .as_object()
        .ok_or_else(|| invalid("the event must be a JSON object".into()))?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !["gateway", "snapshot", "recover", "by", "deadline_ms"].contains(&k.as_str()))
    {
        return Err(invalid(format!(
            "unknown field `{unknown}`: expected gateway, snapshot or recover, by and deadline_ms (the stop \
             permit `control` writes replaces `confirm_stopped`: restore through `clawkeeper restore`)"
        )));
    }
    let id = object
        .get("gateway")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("expected {\"gateway\":\"<id>\",\"snapshot\":\"<archive key>\"}".into()))?;
    let gateway = config
        .gateway(id)
        .ok_or_else(|| FunctionError::new("UnknownGateway", format!("gateway {id:?} is not configured")))?;
    let recover = match object.get("recover") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(other) => return Err(invalid(format!("`recover` must be true or false, not {other}"))),
    };
    let snapshot = match (object.get("snapshot"), recover) {
        (None | Some(Value::Null), true) => None,
        (Some(_), true) => {
            return Err(invalid(
                "a recovery restores no snapshot: give `recover` or `snapshot`".into(),
            ));
        }
        (Some(Value::String(s)), false) if !s.trim().is_empty() => Some(s.trim().to_string()),
        (other, false) => {
            return Err(invalid(format!(
                "`snapshot` must be the archive key `control` issued the stop permit for, not {}",
                other.map_or("nothing".to_string(), Value::to_string)
            )));
        }
    };
    let deadline_ms = match object.get("deadline_ms") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .filter(|ms| *ms > 0)
                .ok_or_else(|| invalid(format!("`deadline_ms` must be epoch milliseconds, not {v}")))?,
        ),
    };
    let by = object
        .get("by")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    Ok(Request {
        gateway,
        snapshot,
        by,
        deadline_ms,
    })
}
