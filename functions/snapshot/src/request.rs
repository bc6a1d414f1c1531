//! The snapshot function's events, parsed into one request.

use clawkeeper_aws::FunctionError;
use clawkeeper_core::{Config, Gateway};
use clawkeeper_snapshot::layout::valid_trigger;
use serde_json::Value;

/// What to snapshot.
#[derive(Debug)]
pub struct Request<'a> {
    pub gateways: Vec<&'a Gateway>,
    pub trigger: String,
    pub quiescent: bool,
    pub source_task: Option<String>,
    pub force: bool,
    /// Read the stored archive back in full as well (the streamed checks always run).
    pub read_back: bool,
}

/// Parses a scheduled event (all gateways) or a direct `{"gateway","trigger"}` invocation.
pub fn parse<'a>(event: &Value, config: &'a Config) -> Result<Request<'a>, FunctionError> {
    let object = event
        .as_object()
        .ok_or_else(|| FunctionError::new("InvalidRequest", "the event must be a JSON object"))?;
    // EventBridge rules send `aws.events`; the template's Scheduler schedule sends `aws.scheduler`.
    let source = object.get("source").and_then(Value::as_str);
    let scheduled = matches!(source, Some("aws.events" | "aws.scheduler"))
        || object.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
    if scheduled {
        return Ok(Request {
            gateways: config.gateways.iter().collect(),
            trigger: "scheduled".into(),
            quiescent: false,
            source_task: None,
            force: false,
            read_back: false,
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
        read_back: flag("read_back")?,
    })
}

#[cfg(test)]
mod tests {
    use clawkeeper_core::Config;
    use serde_json::json;

    use super::*;

    fn config() -> Config {
        Config::from_lookup(|name| {
            Some(
                match name {
                    "CLAWKEEPER_TABLE" => "state-table",
                    "CLAWKEEPER_TOPIC_ARN" => "arn:aws:sns:us-east-1:123456789012:t",
                    "CLAWKEEPER_BUCKET" => "snapshot-bucket",
                    "CLAWKEEPER_GATEWAYS" => {
                        r#"[{"id":"a","cluster":"c","service":"s"},{"id":"b","cluster":"c","service":"t"}]"#
                    }
                    _ => return None,
                }
                .to_string(),
            )
        })
        .expect("config")
    }

    /// The `Input` the template gives the snapshot schedule, read from the template itself.
    fn template_schedule_input() -> Value {
        let template = include_str!("../../../template.yaml");
        let line = template
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("Input: '") && l.contains("aws.scheduler"))
            .expect("the snapshot schedule's Input in template.yaml");
        let json = line.trim_start_matches("Input: '").trim_end_matches('\'');
        serde_json::from_str(json).expect("the Input is JSON")
    }

    #[test]
    fn the_template_schedule_and_eventbridge_rules_snapshot_every_gateway() {
        let config = config();
        for event in [
            template_schedule_input(),
            json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
        ] {
            let request = parse(&event, &config).expect("a scheduled event");
            assert_eq!(request.trigger, "scheduled", "{event}");
            assert_eq!(request.gateways.len(), 2, "{event}");
        }
    }

    #[test]
    fn read_back_is_asked_for_by_a_boolean() {
        let config = config();
        let asked = parse(&json!({"gateway": "a", "read_back": true}), &config).expect("request");
        assert!(asked.read_back);
        assert!(!parse(&json!({"gateway": "a"}), &config).expect("request").read_back);
        let Err(e) = parse(&json!({"gateway": "a", "read_back": "yes"}), &config) else {
            panic!("a string is not a flag")
        };
        assert_eq!(e.error_type, "InvalidRequest");
    }

    #[test]
    fn an_empty_event_is_refused_not_guessed() {
        let Err(e) = parse(&json!({}), &config()) else {
            panic!("an empty event must be refused")
        };
        assert_eq!(e.error_type, "InvalidRequest");
    }
}
