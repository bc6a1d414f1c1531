//! The `control` request: JSON in, parsed strictly so a typo is an error naming it.

use serde_json::Value;

use clawkeeper_shared::{Config, FunctionError};

/// Actions `control` knows today.
pub const ACTIONS: &[&str] = &["status"];

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// ECS state of every configured gateway, or of one.
    Status { gateway: Option<String> },
}

/// Parses a request and checks that a named gateway is configured.
pub fn parse(event: &Value, config: &Config) -> Result<Request, FunctionError> {
    let fields = event.as_object().ok_or_else(|| {
        invalid(format!(
            "the request must be a JSON object like {{\"action\":\"status\"}}, got {}",
            kind_of(event)
        ))
    })?;
    let action = match fields.get("action") {
        Some(Value::String(a)) => a.as_str(),
        Some(other) => return Err(invalid(format!("`action` must be a string, got {}", kind_of(other)))),
        None => {
            return Err(invalid(format!(
                "`action` is missing; known actions: {}",
                ACTIONS.join(", ")
            )));
        }
    };
    match action {
        "status" => {
            reject_unknown_fields(fields, &["action", "gateway"])?;
            let gateway = optional_gateway(fields, config)?;
            Ok(Request::Status { gateway })
        }
        other => Err(FunctionError::new(
            "UnknownAction",
            format!("unknown action {other:?}; known actions: {}", ACTIONS.join(", ")),
        )),
    }
}

fn optional_gateway(fields: &serde_json::Map<String, Value>, config: &Config) -> Result<Option<String>, FunctionError> {
    match fields.get("gateway") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => {
            if config.gateway(id).is_some() {
                Ok(Some(id.clone()))
            } else {
                let known: Vec<&str> = config.gateways.iter().map(|g| g.id.as_str()).collect();
                Err(FunctionError::new(
                    "UnknownGateway",
                    format!("unknown gateway {id:?}; configured gateways: {}", known.join(", ")),
                ))
            }
        }
        Some(other) => Err(invalid(format!("`gateway` must be a string, got {}", kind_of(other)))),
    }
}

fn reject_unknown_fields(fields: &serde_json::Map<String, Value>, allowed: &[&str]) -> Result<(), FunctionError> {
    match fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(invalid(format!(
            "unknown field {unknown:?} for this action; allowed: {}",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

fn invalid(message: String) -> FunctionError {
    FunctionError::new("InvalidRequest", message)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn config() -> Config {
        Config::from_lookup(|name| {
            Some(
                match name {
                    "CLAWKEEPER_TABLE" => "t-table",
                    "CLAWKEEPER_TOPIC_ARN" => "arn:aws:sns:us-east-1:123456789012:t",
                    "CLAWKEEPER_BUCKET" => "t-bucket",
                    "CLAWKEEPER_GATEWAYS" => {
                        r#"[{"id":"home","cluster":"c","service":"s"},{"id":"lab","cluster":"c","task_family":"f"}]"#
                    }
                    _ => return None,
                }
                .to_string(),
            )
        })
        .expect("test config")
    }

    #[test]
    fn status_with_and_without_gateway() {
        let config = config();
        assert_eq!(
            parse(&json!({"action":"status"}), &config),
            Ok(Request::Status { gateway: None })
        );
        assert_eq!(
            parse(&json!({"action":"status","gateway":"lab"}), &config),
            Ok(Request::Status {
                gateway: Some("lab".into())
            })
        );
    }

    #[test]
    fn bad_requests_name_what_is_wrong() {
        let config = config();
        let cases = [
            (
                json!({"action":"reboot"}),
                "UnknownAction",
                "unknown action \"reboot\"; known actions: status",
            ),
            (
                json!({"action":"status","gateway":"office"}),
                "UnknownGateway",
                "unknown gateway \"office\"; configured gateways: home, lab",
            ),
            (json!({"gateway":"home"}), "InvalidRequest", "`action` is missing"),
            (
                json!({"action":7}),
                "InvalidRequest",
                "`action` must be a string, got a number",
            ),
            (json!("status"), "InvalidRequest", "must be a JSON object"),
            (
                json!({"action":"status","gatway":"home"}),
                "InvalidRequest",
                "unknown field \"gatway\"",
            ),
            (
                json!({"action":"status","gateway":["home"]}),
                "InvalidRequest",
                "`gateway` must be a string",
            ),
        ];
        for (event, error_type, message) in cases {
            let e = parse(&event, &config).expect_err("must fail");
            assert_eq!(e.error_type, error_type, "{event}");
            assert!(e.message.contains(message), "{event}: {}", e.message);
        }
    }
}
