//! The `control` request: JSON in, parsed strictly so a typo is an error naming it.

use clawkeeper_aws::FunctionError;
use clawkeeper_core::Config;

pub use clawkeeper_core::control::{
    ACTIONS, DEFAULT_HISTORY_DAYS, DEFAULT_SNAPSHOT_LIMIT, MAX_HISTORY_DAYS, MAX_SILENCE_MINUTES,
};
use serde_json::Value;

/// Default bounded waits of a restore, in seconds (the function's timeout must exceed their sum).
pub const DEFAULT_STOP_TIMEOUT_SECS: u64 = 180;
pub const DEFAULT_HEALTH_TIMEOUT_SECS: u64 = 180;

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// ECS state, watchdog state and newest snapshots of every configured gateway, or of one.
    Status { gateway: Option<String> },
    /// Restart now; refused while paused unless `force`.
    Restart { gateway: String, force: bool },
    /// Desired 0, recorded as the owner's wish.
    Pause { gateway: String },
    /// Desired 1, backoff cleared.
    Resume { gateway: String },
    /// Mute notices for `minutes` (0 unmutes).
    Silence {
        gateway: String,
        minutes: u32,
        reason: Option<String>,
    },
    /// Incident log of the last `days` days.
    History { gateway: Option<String>, days: u32 },
    /// Take a snapshot now.
    Snapshot { gateway: String },
    /// List snapshots, newest first.
    Snapshots { gateway: Option<String>, limit: usize },
    /// Restore a snapshot (name, key or `latest`).
    Restore {
        gateway: String,
        snapshot: String,
        stop_timeout_secs: u64,
        health_timeout_secs: u64,
    },
    /// Send a test notice and check the deployment: subscriptions, alarms, heartbeat, dead letters,
    /// and each gateway's (or one's) newest snapshot and probe.
    Test { gateway: Option<String> },
    /// Watch one more gateway (or replace a registration), told to `owner_email` too when given.
    Register {
        gateway: clawkeeper_core::Gateway,
        owner_email: Option<String>,
    },
    /// Stop watching a gateway (its snapshots and history are kept).
    Unregister { gateway: String },
    /// The registry: every watched gateway with where it comes from and its phase, and the owners.
    Gateways,
}

impl Request {
    /// The action's name.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Restart { .. } => "restart",
            Self::Pause { .. } => "pause",
            Self::Resume { .. } => "resume",
            Self::Silence { .. } => "silence",
            Self::History { .. } => "history",
            Self::Snapshot { .. } => "snapshot",
            Self::Snapshots { .. } => "snapshots",
            Self::Restore { .. } => "restore",
            Self::Test { .. } => "test",
            Self::Register { .. } => "register",
            Self::Unregister { .. } => "unregister",
            Self::Gateways => "gateways",
        }
    }
}

type Fields = serde_json::Map<String, Value>;

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
    let allow = |allowed: &[&str]| reject_unknown_fields(fields, allowed);
    match action {
        "status" => {
            allow(&["action", "gateway"])?;
            Ok(Request::Status {
                gateway: optional_gateway(fields, config)?,
            })
        }
        "restart" => {
            allow(&["action", "gateway", "force"])?;
            Ok(Request::Restart {
                gateway: required_gateway(fields, config)?,
                force: flag(fields, "force")?,
            })
        }
        "pause" => {
            allow(&["action", "gateway"])?;
            Ok(Request::Pause {
                gateway: required_gateway(fields, config)?,
            })
        }
        "resume" => {
            allow(&["action", "gateway"])?;
            Ok(Request::Resume {
                gateway: required_gateway(fields, config)?,
            })
        }
        "silence" => {
            allow(&["action", "gateway", "minutes", "reason"])?;
            let minutes = number(fields, "minutes", 0, u64::from(MAX_SILENCE_MINUTES))?
                .ok_or_else(|| invalid("`minutes` is missing: how long to mute notices (0 unmutes)".into()))?;
            Ok(Request::Silence {
                gateway: required_gateway(fields, config)?,
                minutes: u32::try_from(minutes).unwrap_or(MAX_SILENCE_MINUTES),
                reason: text(fields, "reason", 200)?,
            })
        }
        "history" => {
            allow(&["action", "gateway", "days"])?;
            let days =
                number(fields, "days", 1, u64::from(MAX_HISTORY_DAYS))?.unwrap_or(u64::from(DEFAULT_HISTORY_DAYS));
            Ok(Request::History {
                gateway: optional_gateway(fields, config)?,
                days: u32::try_from(days).unwrap_or(DEFAULT_HISTORY_DAYS),
            })
        }
        "snapshot" => {
            allow(&["action", "gateway"])?;
            Ok(Request::Snapshot {
                gateway: required_gateway(fields, config)?,
            })
        }
        "snapshots" => {
            allow(&["action", "gateway", "limit"])?;
            let limit = number(fields, "limit", 1, 1000)?.unwrap_or(DEFAULT_SNAPSHOT_LIMIT as u64);
            Ok(Request::Snapshots {
                gateway: optional_gateway(fields, config)?,
                limit: usize::try_from(limit).unwrap_or(DEFAULT_SNAPSHOT_LIMIT),
            })
        }
        "restore" => {
            allow(&[
                "action",
                "gateway",
                "snapshot",
                "stop_timeout_secs",
                "health_timeout_secs",
            ])?;
            let snapshot = text(fields, "snapshot", 300)?.ok_or_else(|| {
                invalid("`snapshot` is missing: a snapshot name or key from `snapshots`, or \"latest\"".into())
            })?;
            Ok(Request::Restore {
                gateway: required_gateway(fields, config)?,
                snapshot,
                stop_timeout_secs: number(fields, "stop_timeout_secs", 1, 840)?.unwrap_or(DEFAULT_STOP_TIMEOUT_SECS),
                health_timeout_secs: number(fields, "health_timeout_secs", 1, 840)?
                    .unwrap_or(DEFAULT_HEALTH_TIMEOUT_SECS),
            })
        }
        "test" => {
            allow(&["action", "gateway"])?;
            Ok(Request::Test {
                gateway: optional_gateway(fields, config)?,
            })
        }
        "register" => {
            allow(&["action", "gateway", "owner_email"])?;
            let object = fields.get("gateway").cloned().ok_or_else(|| {
                invalid("`gateway` is missing: the gateway object, as one CLAWKEEPER_GATEWAYS element".into())
            })?;
            let gateway = clawkeeper_core::config::parse_gateway_object(object)
                .map_err(|problem| invalid(format!("`gateway`: {problem}")))?;
            config
                .admission
                .check(&gateway, &config.gateways, &config.gateways)
                .map_err(|problem| invalid(format!("`gateway`: {problem}")))?;
            let owner_email = match fields.get("owner_email") {
                None | Some(Value::Null) => None,
                Some(Value::String(email)) => Some(clawkeeper_core::registry::normalize_email(email).map_err(invalid)?),
                Some(other) => {
                    return Err(invalid(format!(
                        "`owner_email` must be a string, got {}",
                        kind_of(other)
                    )));
                }
            };
            Ok(Request::Register { gateway, owner_email })
        }
        "unregister" => {
            allow(&["action", "gateway"])?;
            match fields.get("gateway") {
                Some(Value::String(_)) => Ok(Request::Unregister {
                    gateway: required_gateway(fields, config)?,
                }),
                _ => Err(invalid(
                    "`gateway` is missing: the id of the gateway to stop watching".into(),
                )),
            }
        }
        "gateways" => {
            allow(&["action"])?;
            Ok(Request::Gateways)
        }
        other => Err(FunctionError::new(
            "UnknownAction",
            format!("unknown action {other:?}; known actions: {}", ACTIONS.join(", ")),
        )),
    }
}

fn known_gateways(config: &Config) -> String {
    config
        .gateways
        .iter()
        .map(|g| g.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn optional_gateway(fields: &Fields, config: &Config) -> Result<Option<String>, FunctionError> {
    match fields.get("gateway") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => {
            if config.gateway(id).is_some() {
                Ok(Some(id.clone()))
            } else {
                Err(FunctionError::new(
                    "UnknownGateway",
                    format!(
                        "unknown gateway {id:?}; configured gateways: {}",
                        known_gateways(config)
                    ),
                ))
            }
        }
        Some(other) => Err(invalid(format!("`gateway` must be a string, got {}", kind_of(other)))),
    }
}

/// A changing action needs its gateway named, unless only one is configured.
fn required_gateway(fields: &Fields, config: &Config) -> Result<String, FunctionError> {
    match optional_gateway(fields, config)? {
        Some(id) => Ok(id),
        None => match config.gateways.as_slice() {
            [only] => Ok(only.id.clone()),
            _ => Err(invalid(format!(
                "`gateway` is missing: this action changes one gateway; configured gateways: {}",
                known_gateways(config)
            ))),
        },
    }
}

fn flag(fields: &Fields, name: &str) -> Result<bool, FunctionError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(invalid(format!(
            "`{name}` must be true or false, got {}",
            kind_of(other)
        ))),
    }
}

fn number(fields: &Fields, name: &str, min: u64, max: u64) -> Result<Option<u64>, FunctionError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(invalid(format!(
                "`{name}` must be a whole number from {min} to {max}, got {n}"
            ))),
        },
        Some(other) => Err(invalid(format!("`{name}` must be a number, got {}", kind_of(other)))),
    }
}

fn text(fields: &Fields, name: &str, max_chars: usize) -> Result<Option<String>, FunctionError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(invalid(format!("`{name}` is empty"))),
        Some(Value::String(s)) if s.chars().count() > max_chars => {
            Err(invalid(format!("`{name}` is longer than {max_chars} characters")))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(invalid(format!("`{name}` must be a string, got {}", kind_of(other)))),
    }
}

fn reject_unknown_fields(fields: &Fields, allowed: &[&str]) -> Result<(), FunctionError> {
    // Every unknown field named, so a request with several typos is fixed in one go.
    let unknown: Vec<String> = fields
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("unknown field {k:?}"))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(invalid(format!(
        "{} for this action; allowed: {}",
        unknown.join(", "),
        allowed.join(", ")
    )))
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
                "unknown action \"reboot\"; known actions: status, restart, pause",
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

    #[test]
    fn each_action_takes_its_own_fields() {
        let config = config();
        assert_eq!(
            parse(&json!({"action":"restart","gateway":"home","force":true}), &config),
            Ok(Request::Restart {
                gateway: "home".into(),
                force: true
            })
        );
        assert_eq!(
            parse(
                &json!({"action":"silence","gateway":"home","minutes":60,"reason":"moving"}),
                &config
            ),
            Ok(Request::Silence {
                gateway: "home".into(),
                minutes: 60,
                reason: Some("moving".into())
            })
        );
        assert_eq!(
            parse(&json!({"action":"test"}), &config),
            Ok(Request::Test { gateway: None })
        );
        assert_eq!(
            parse(&json!({"action":"history"}), &config),
            Ok(Request::History {
                gateway: None,
                days: DEFAULT_HISTORY_DAYS
            })
        );
        assert_eq!(
            parse(
                &json!({"action":"restore","gateway":"lab","snapshot":"latest"}),
                &config
            ),
            Ok(Request::Restore {
                gateway: "lab".into(),
                snapshot: "latest".into(),
                stop_timeout_secs: DEFAULT_STOP_TIMEOUT_SECS,
                health_timeout_secs: DEFAULT_HEALTH_TIMEOUT_SECS
            })
        );
        let cases = [
            (json!({"action":"pause"}), "`gateway` is missing"),
            (
                json!({"action":"pause","gateway":"home","force":true}),
                "unknown field \"force\"",
            ),
            (json!({"action":"silence","gateway":"home"}), "`minutes` is missing"),
            (
                json!({"action":"silence","gateway":"home","minutes":-5}),
                "`minutes` must be a whole number",
            ),
            (
                json!({"action":"silence","gateway":"home","minutes":60,"reason":7}),
                "`reason` must be a string",
            ),
            (
                json!({"action":"restart","gateway":"home","force":"yes"}),
                "`force` must be true or false",
            ),
            (json!({"action":"history","days":365}), "from 1 to 90"),
            (json!({"action":"restore","gateway":"home"}), "`snapshot` is missing"),
        ];
        for (event, message) in cases {
            let e = parse(&event, &config).expect_err("must fail");
            assert_eq!(e.error_type, "InvalidRequest", "{event}");
            assert!(e.message.contains(message), "{event}: {}", e.message);
        }
    }
}

/// Hostile requests: arbitrary JSON never panics the parser, and every refusal names what is
/// wrong (the unknown action or field, or the field whose value is bad).
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::*;

    /// Cases per property: `PROPTEST_CASES` when set, else 2000 (about a second).
    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000)
    }

    const FIELDS: &[&str] = &[
        "action",
        "gateway",
        "owner_email",
        "force",
        "minutes",
        "reason",
        "days",
        "limit",
        "snapshot",
        "stop_timeout_secs",
        "health_timeout_secs",
    ];

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(FIELDS).prop_map(str::to_string),
            1 => ".{0,10}",
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            prop::sample::select(ACTIONS).prop_map(Value::from),
            prop::sample::select(&["home", "lab", "office", "", " ", "latest"][..]).prop_map(Value::from),
            ".{0,20}".prop_map(Value::String),
            Just(Value::String("x".repeat(400))),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..4).prop_map(object),
            ]
        })
    }

    fn object(kv: Vec<(String, Value)>) -> Value {
        Value::Object(kv.into_iter().collect::<Map<String, Value>>())
    }

    fn request() -> impl Strategy<Value = Value> {
        prop_oneof![
            1 => value(),
            4 => prop::collection::vec((key(), value()), 0..6).prop_map(object),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_requests_never_panic_and_refusals_name_the_culprit(event in request()) {
            let config = tests::config();
            match parse(&event, &config) {
                Ok(request) => {
                    // Accepted: an object whose action is the request's, and only known fields.
                    prop_assert_eq!(event.get("action").and_then(Value::as_str), Some(request.action()));
                    let fields = event.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
                    prop_assert!(fields.iter().all(|f| FIELDS.contains(&f.as_str())), "{:?}", fields);
                }
                Err(e) => {
                    prop_assert!(
                        matches!(e.error_type, "InvalidRequest" | "UnknownAction" | "UnknownGateway"),
                        "{}", e.error_type
                    );
                    prop_assert!(!e.message.is_empty());
                    if e.error_type == "UnknownAction" {
                        let action = event["action"].as_str().unwrap_or_default();
                        prop_assert!(e.message.contains(&format!("{action:?}")), "{}", e.message);
                    }
                    if e.error_type == "UnknownGateway" {
                        let gateway = event["gateway"].as_str().unwrap_or_default();
                        prop_assert!(e.message.contains(&format!("{gateway:?}")), "{}", e.message);
                    }
                    if e.message.starts_with("unknown field") {
                        let named = event
                            .as_object()
                            .into_iter()
                            .flat_map(|o| o.keys())
                            .any(|k| e.message.contains(&format!("{k:?}")));
                        prop_assert!(named, "{}", e.message);
                    }
                }
            }
        }

        #[test]
        fn an_unknown_field_beside_a_known_action_is_named(
            action in prop::sample::select(ACTIONS),
            field in "[a-z_]{1,12}".prop_filter("unknown", |f| !FIELDS.contains(&f.as_str())),
        ) {
            let mut event = json!({"action": action, "gateway": "home"});
            event[field.as_str()] = json!(1);
            let e = parse(&event, &tests::config()).expect_err("unknown field");
            prop_assert_eq!(e.error_type, "InvalidRequest");
            prop_assert!(e.message.contains(&format!("unknown field {field:?}")), "{}", e.message);
        }

        #[test]
        fn an_unknown_action_is_named(action in ".{0,30}".prop_filter("unknown", |a| !ACTIONS.contains(&a.as_str()))) {
            let e = parse(&json!({"action": action}), &tests::config()).expect_err("unknown action");
            prop_assert_eq!(e.error_type, "UnknownAction");
            prop_assert!(e.message.contains(&format!("{action:?}")), "{}", e.message);
        }
    }
}
