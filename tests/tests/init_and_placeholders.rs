//! Every function binary: bad configuration stops it at init with the variable named (reported
//! through the Runtime API), and the functions not built yet refuse events instead of faking
//! success.

use clawkeeper_tests::consts::{CLUSTER, FUNCTIONS, SERVICE};
use clawkeeper_tests::{FunctionProcess, Invocation, clawkeeper_env, moto};
use serde_json::json;

/// Functions that refuse every event until their issue lands.
const NOT_BUILT_YET: &[&str] = &[];

fn base_env() -> Vec<(String, String)> {
    let mut env = clawkeeper_env(&json!([{"id": "home", "cluster": CLUSTER, "service": SERVICE}]));
    // No AWS is reached in these tests; a closed port makes sure of it.
    env.extend(moto::aws_env("http://127.0.0.1:9"));
    env
}

fn with(var: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut env: Vec<_> = base_env().into_iter().filter(|(k, _)| k != var).collect();
    if let Some(v) = value {
        env.push((var.to_string(), v.to_string()));
    }
    env
}

fn expect_init_error(function: &str, env: &[(String, String)], var: &str, fragment: &str) {
    let mut process = FunctionProcess::spawn(function, env);
    match process.invoke(&json!({})) {
        Invocation::Exited { status, init_error } => {
            assert!(!status.success(), "{function}: exit status {status}");
            let init_error =
                init_error.unwrap_or_else(|| panic!("{function}: no init error reported; logs:\n{}", process.logs()));
            assert_eq!(init_error.error_type, "Runtime.ConfigError");
            assert!(
                init_error.error_message.starts_with(&format!("{var}: "))
                    && init_error.error_message.contains(fragment),
                "{function}: {init_error:?}"
            );
            assert!(
                process.logs().contains(var),
                "{function}: the log names the variable:\n{}",
                process.logs()
            );
        }
        other => panic!("{function}: expected an init failure, got {other:?}"),
    }
}

#[test]
fn every_function_stops_at_init_on_missing_configuration() {
    for function in FUNCTIONS {
        expect_init_error(
            function,
            &with("CLAWKEEPER_GATEWAYS", None),
            "CLAWKEEPER_GATEWAYS",
            "is not set",
        );
    }
}

#[test]
fn malformed_variables_are_named() {
    let cases = [
        ("CLAWKEEPER_TABLE", "no spaces allowed", "not a DynamoDB table name"),
        ("CLAWKEEPER_TOPIC_ARN", "my-topic", "not an SNS topic ARN"),
        ("CLAWKEEPER_BUCKET", "Bad_Bucket", "not an S3 bucket name"),
        (
            "CLAWKEEPER_GATEWAYS",
            "[{\"id\":\"home\",\"cluster\":\"c\"}]",
            "neither `service` nor `task_family`",
        ),
        ("CLAWKEEPER_POLICY", "{\"down_grace\":1}", "unknown field `down_grace`"),
    ];
    for (var, value, fragment) in cases {
        expect_init_error("control", &with(var, Some(value)), var, fragment);
    }
}

/// Where the SDK reaches AWS is read once at init too: the region and the execution role's
/// credentials Lambda sets, and the overrides. Each function refuses a broken one by name.
#[test]
fn the_sdk_environment_is_checked_at_init() {
    for function in FUNCTIONS {
        expect_init_error(function, &with("AWS_REGION", None), "AWS_REGION", "is not set");
    }
    let cases = [
        ("AWS_ACCESS_KEY_ID", None, "execution role"),
        ("AWS_SECRET_ACCESS_KEY", Some(""), "execution role"),
        (
            "AWS_ENDPOINT_URL",
            Some("127.0.0.1:9"),
            "not an http:// or https:// URL",
        ),
        ("AWS_MAX_ATTEMPTS", Some("0"), "at least 1"),
        ("AWS_USE_FIPS_ENDPOINT", Some("yes"), "neither `true` nor `false`"),
    ];
    for (var, value, fragment) in cases {
        expect_init_error("task-events", &with(var, value), var, fragment);
    }
}

#[test]
fn functions_not_built_yet_refuse_events() {
    for function in NOT_BUILT_YET {
        let mut process = FunctionProcess::spawn(function, &base_env());
        let failure = process.invoke(&json!({"source": "aws.ecs"})).expect_failed();
        assert_eq!(failure.error_type, "NotImplemented", "{function}");
        assert!(failure.error_message.starts_with(function), "{function}: {failure:?}");
        // The process survives and refuses the next event too.
        let again = process.invoke(&json!({})).expect_failed();
        assert_eq!(again.error_type, "NotImplemented");
    }
}
