//! `control`'s caller identity end to end: the real binary through the Runtime API, ECS, DynamoDB
//! and SNS in moto. A function URL event (what Lambda builds from a signed call) is answered as an
//! HTTP response and its signer recorded as verified; a direct invoke's client context is recorded
//! as a claim; with operators configured, only a verified listed principal may pause, silence and
//! restore. And the `clawkeeper` CLI signs its call to a loopback stand-in of the function URL that
//! checks the SigV4 signature and forwards the request as the URL event with the signer's ARN.

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clawkeeper_tests::function::bin_path;
use clawkeeper_tests::function_url::{FunctionUrlFrontEnd, Signer, url_event};
use clawkeeper_tests::lambda_bridge::LambdaBridge;
use clawkeeper_tests::runtime_api::FunctionFailure;
use clawkeeper_tests::{FunctionProcess, Invocation, Stack, owner_actions};
use serde_json::{Value, json};

const OPERATORS_ROLE: &str = "arn:aws:iam::123456789012:role/ops/clawkeeper-operators";
const OPERATOR_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/clawkeeper-operators/alice";
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const MALLORY: &str = "arn:aws:iam::123456789012:user/mallory";
const CLAIMED: &str = " (claimed, not verified)";

/// The gateway service and the owner's inbox, with `operators` listed when given.
async fn stack(operators: Option<&str>) -> Stack {
    let mut builder = Stack::builder().with_service();
    if let Some(list) = operators {
        builder = builder.env("CLAWKEEPER_OPERATOR_PRINCIPALS", list);
    }
    builder.start().await
}

/// Calls `control` through the function URL as `signer` (`None`: an unsigned URL event) and
/// returns the HTTP status and the parsed body.
fn through_url(control: &mut FunctionProcess, request: &Value, signer: Option<&str>) -> (u64, Value) {
    let event = url_event("POST", &request.to_string(), signer);
    let response = match control.invoke(&event) {
        Invocation::Ok(v) => v,
        other => panic!(
            "{request}: the URL call was not answered: {other:?}\nlogs:\n{}",
            control.logs()
        ),
    };
    assert_eq!(response["headers"]["content-type"], "application/json", "{response}");
    let body = serde_json::from_str(response["body"].as_str().expect("a string body")).expect("a JSON body");
    (response["statusCode"].as_u64().expect("a status code"), body)
}

/// A direct invoke whose client context claims `caller`.
fn direct(control: &mut FunctionProcess, request: &Value, caller: &str) -> Invocation {
    let context = json!({"custom": {"caller": caller, "user": "alice@laptop"}}).to_string();
    control.invoke_with_context(request, Some(context), Duration::from_secs(120))
}

fn history(control: &mut FunctionProcess) -> Value {
    control
        .invoke(&json!({"action": "history", "gateway": "home", "days": 1}))
        .expect_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_url_call_is_answered_as_http_and_its_signer_recorded_as_verified() {
    let stack = stack(None).await;
    let mut control = stack.spawn("control");

    let (status, paused) = through_url(
        &mut control,
        &json!({"action": "pause", "gateway": "home"}),
        Some(OPERATOR_SESSION),
    );
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["phase"], "paused", "{paused}");
    assert_eq!(paused["by"], OPERATOR_SESSION, "the ARN alone, not marked as a claim");
    assert_eq!(stack.desired_count().await, 0);
    assert_eq!(
        owner_actions(&history(&mut control)),
        [("pause".to_string(), OPERATOR_SESSION.to_string())]
    );

    // A notice names the verified caller too (the test notice says who asked for it).
    let (status, report) = through_url(&mut control, &json!({"action": "test"}), Some(OPERATOR_SESSION));
    assert_eq!(status, 200, "{report}");
    let delivered = stack.inbox().settle_and_drain().await;
    let notice = delivered.iter().find(|d| d.kind == "test").expect("the test notice");
    assert!(
        notice.message.contains(&format!("asked for by {OPERATOR_SESSION}.")),
        "{}",
        notice.message
    );

    // Refusals are HTTP errors with the error's type and message.
    let (status, refused) = through_url(
        &mut control,
        &json!({"action": "pause", "gateway": "office"}),
        Some(ALICE),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errorType"], "UnknownGateway", "{refused}");
    assert!(
        refused["errorMessage"].as_str().unwrap_or("").contains("\"office\""),
        "{refused}"
    );
    let get = url_event("GET", "", Some(ALICE));
    let response = control.invoke(&get).expect_ok();
    assert_eq!(response["statusCode"], 405, "{response}");
    let (status, refused) = through_url(&mut control, &json!("status"), Some(ALICE));
    assert_eq!(
        (status, refused["errorType"].as_str()),
        (400, Some("InvalidRequest")),
        "{refused}"
    );

    // The direct request shape still works beside it, for automation.
    let status = control.invoke(&json!({"action": "status"})).expect_ok();
    assert_eq!(status["gateways"][0]["watchdog"]["owner_paused"], true, "{status:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_direct_invoke_and_an_unsigned_url_event_are_recorded_as_claimed() {
    let stack = stack(None).await;
    let mut control = stack.spawn("control");

    let paused = direct(&mut control, &json!({"action": "pause", "gateway": "home"}), ALICE).expect_ok();
    let claimed = format!("{ALICE} (alice@laptop){CLAIMED}");
    assert_eq!(paused["by"], claimed.as_str(), "{paused}");
    assert_eq!(
        stack.desired_count().await,
        0,
        "no operators configured: anyone may, as before"
    );

    let (status, resumed) = through_url(&mut control, &json!({"action": "resume", "gateway": "home"}), None);
    assert_eq!(status, 200, "{resumed}");
    let unsigned = resumed["by"].as_str().unwrap_or("");
    assert!(unsigned.ends_with(CLAIMED), "{resumed}");

    assert_eq!(
        owner_actions(&history(&mut control)),
        [
            ("pause".to_string(), claimed),
            ("resume".to_string(), unsigned.to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_operators_only_a_verified_listed_principal_may_pause_silence_and_restore() {
    let stack = stack(Some(&format!("{OPERATORS_ROLE}, {ALICE}"))).await;
    let mut control = stack.spawn("control");
    let pause = json!({"action": "pause", "gateway": "home"});

    // A verified caller who is not listed: 403, nothing changed.
    let (status, refused) = through_url(&mut control, &pause, Some(MALLORY));
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["errorType"], "NotAnOperator", "{refused}");
    let message = refused["errorMessage"].as_str().unwrap_or("");
    assert!(
        message.contains(OPERATORS_ROLE) && message.contains("ControlUrl"),
        "{message}"
    );
    assert!(message.contains(&format!("you are {MALLORY}")), "{message}");
    assert_eq!(stack.desired_count().await, 1, "not paused");

    // A direct invoke that claims to be a listed operator: refused, told to call through the URL.
    for request in [
        pause.clone(),
        json!({"action": "silence", "gateway": "home", "minutes": 60}),
        json!({"action": "restore", "gateway": "home", "snapshot": "latest"}),
    ] {
        let refused: FunctionFailure = direct(&mut control, &request, ALICE).expect_failed();
        assert_eq!(refused.error_type, "NotAnOperator", "{request}: {refused:?}");
        assert!(refused.error_message.contains("only claims"), "{refused:?}");
    }
    assert_eq!(stack.desired_count().await, 1, "not paused");
    // The other actions stay open to anyone the function's IAM lets in.
    let status = direct(&mut control, &json!({"action": "status"}), ALICE).expect_ok();
    assert_eq!(status["gateways"][0]["ecs"]["desired"], 1, "{status:#}");
    assert_eq!(
        owner_actions(&history(&mut control)),
        [],
        "nothing was recorded as done"
    );

    // A session of the listed role, verified: paused, and recorded as that session.
    let (status, paused) = through_url(&mut control, &pause, Some(OPERATOR_SESSION));
    assert_eq!(status, 200, "{paused}");
    assert_eq!(stack.desired_count().await, 0);
    let (status, silenced) = through_url(
        &mut control,
        &json!({"action": "silence", "gateway": "home", "minutes": 0}),
        Some(ALICE),
    );
    assert_eq!(status, 200, "a listed user: {silenced}");
    assert_eq!(
        owner_actions(&history(&mut control)),
        [
            ("pause".to_string(), OPERATOR_SESSION.to_string()),
            ("silence".to_string(), ALICE.to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_operator_list_stops_the_init_naming_the_variable() {
    let stack = stack(Some("arn:aws:iam::123456789012:role/*")).await;
    let mut control = stack.spawn("control");
    match control.invoke(&json!({"action": "status"})) {
        Invocation::Exited {
            init_error: Some(e), ..
        } => {
            assert_eq!(e.error_type, "Runtime.ConfigError", "{e:?}");
            assert!(e.error_message.contains("CLAWKEEPER_OPERATOR_PRINCIPALS"), "{e:?}");
        }
        other => panic!("expected an init failure, got {other:?}\n{}", control.logs()),
    }
}

// ---------------------------------------------------------------- the CLI through the URL

struct Cli {
    env: Vec<(String, String)>,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Output {
        let bin = bin_path("clawkeeper");
        assert!(
            bin.exists(),
            "{} not found: cargo build -p clawkeeper-cli",
            bin.display()
        );
        Command::new(bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run clawkeeper")
    }

    fn with(&self, name: &str, value: &str) -> Self {
        let mut env = self.env.clone();
        clawkeeper_tests::set_env(&mut env, name, value);
        Self { env }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_signs_its_call_to_the_url_and_falls_back_to_a_claimed_invoke() {
    let stack = stack(Some(OPERATORS_ROLE)).await;
    let control = Arc::new(Mutex::new(stack.spawn("control")));
    // The stand-in knows the test's credentials as a session of the operators' role.
    let front_end = FunctionUrlFrontEnd::start(
        vec![Signer {
            access_key: "testing".into(),
            secret: "testing".into(),
            arn: OPERATOR_SESSION.into(),
        }],
        Arc::clone(&control),
    );
    // Direct invokes (the fallback, --direct) reach the same process through the Lambda bridge.
    let bridge = LambdaBridge::start();
    let direct_control = Arc::clone(&control);
    bridge.route("control", move |event, context| {
        let mut process = direct_control.lock().expect("control process");
        match process.invoke_with_context(event, context, Duration::from_secs(120)) {
            Invocation::Ok(v) => Ok(v),
            Invocation::Failed(f) => Err(f),
            other => Err(FunctionFailure {
                error_type: "Runtime.ExitError".into(),
                error_message: format!("{other:?}"),
            }),
        }
    });
    let mut env = stack.moto.aws_env();
    env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), bridge.endpoint()));
    env.push(("CLAWKEEPER_CONTROL_FUNCTION".into(), "control".into()));
    env.push(("USER".into(), "tester".into()));
    let no_url = Cli { env };
    let cli = no_url.with("CLAWKEEPER_CONTROL_URL", &front_end.url());

    // Signed through the URL: the stand-in checked the signature, the log has the verified session.
    let paused = cli.run(&["--json", "pause"]);
    assert_eq!(paused.status.code(), Some(0), "{}", text(&paused.stderr));
    let answer: Value = serde_json::from_slice(&paused.stdout).expect("JSON answer");
    assert_eq!(answer["by"], OPERATOR_SESSION, "{answer:#}");
    assert_eq!(stack.desired_count().await, 0);
    assert_eq!(front_end.forwarded().len(), 1);
    assert!(bridge.calls().is_empty(), "nothing was invoked directly");
    // A refusal of the function through the URL: exit 1 with its type.
    let refused = cli.run(&["pause", "office"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("unknown gateway \"office\""),
        "{}",
        text(&refused.stderr)
    );

    // A signature the front end rejects (wrong secret): AWS would answer 403 before the function
    // runs, so the CLI says so and invokes directly, a call that only claims who asks.
    let forged = cli.with("AWS_SECRET_ACCESS_KEY", "not-the-secret").run(&["resume"]);
    let stderr = text(&forged.stderr);
    assert_eq!(forged.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("note: the control URL refused your credentials (403"),
        "{stderr}"
    );
    assert!(stderr.contains("claimed, not verified"), "{stderr}");
    assert_eq!(
        front_end.forwarded().len(),
        2,
        "the bad gateway was forwarded, the forged resume not"
    );
    assert_eq!(bridge.calls().len(), 1, "the fallback invoke");
    // resume is not limited to operators: the claimed invoke ran, recorded as a claim.
    assert_eq!(stack.desired_count().await, 1, "{stderr}");
    let history = cli.run(&["--json", "--direct", "history", "--days", "1"]);
    let records: Value = serde_json::from_slice(&history.stdout).expect("JSON history");
    let by: Vec<(String, String)> = owner_actions(&records);
    assert_eq!(by.len(), 2, "{records:#}");
    assert_eq!(by[0], ("pause".to_string(), OPERATOR_SESSION.to_string()));
    assert!(by[1].0 == "resume" && by[1].1.ends_with(CLAIMED), "{by:?}");

    // --direct: no URL, no note; a limited action is refused for a claimed caller.
    let direct = cli.run(&["--direct", "pause"]);
    let stderr = text(&direct.stderr);
    assert_eq!(direct.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("[NotAnOperator]") && !stderr.contains("note:"),
        "{stderr}"
    );
    assert_eq!(stack.desired_count().await, 1, "not paused");

    // No URL anywhere (the bridge has no function URL config): the note says why, then a direct invoke.
    let status = no_url.run(&["status"]);
    let stderr = text(&status.stderr);
    assert_eq!(status.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("\"control\" has no function URL"), "{stderr}");
    assert_eq!(front_end.forwarded().len(), 2);
}
