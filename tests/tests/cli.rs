//! The `clawkeeper` CLI against a locally running `control` (the real binary through the Runtime
//! API, reached through the local Lambda bridge with `AWS_ENDPOINT_URL_LAMBDA`), ECS, DynamoDB and
//! STS in moto; and `clawkeeper explain` on the sample events, offline.

use std::process::{Command, Output};

use clawkeeper_tests::consts::POLICY_NOTIFY_AT_ONCE;
use clawkeeper_tests::function::bin_path;
use clawkeeper_tests::lambda_bridge::LambdaBridge;
use clawkeeper_tests::{Stack, workspace_root};
use serde_json::{Value, json};

struct Cli {
    env: Vec<(String, String)>,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Output {
        let bin = bin_path("clawkeeper");
        assert!(
            bin.exists(),
            "{} not found: cargo build --workspace --bins",
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

    /// Runs with `--json` and expects exit 0 and JSON on stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_drives_control_and_exit_codes_tell_what_happened() {
    let stack = Stack::builder()
        .without_inbox()
        .with_service()
        .with_bucket()
        .env("CLAWKEEPER_RESTORE_FUNCTION", "restore")
        .start()
        .await;
    let bridge = LambdaBridge::start();
    bridge.route_process("control", stack.spawn("control"));

    // The caller's environment: STS in moto, Lambda through the bridge, the function by env.
    let mut cli_env = stack.moto.aws_env();
    cli_env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), bridge.endpoint()));
    cli_env.push(("CLAWKEEPER_CONTROL_FUNCTION".into(), "control".into()));
    cli_env.push(("USER".into(), "tester".into()));
    cli_env.push(("HOSTNAME".into(), "box".into()));
    let cli = Cli { env: cli_env.clone() };

    let status = cli.json(&["status"]);
    assert_eq!(status["gateways"][0]["id"], "home", "{status:#}");
    assert_eq!(status["gateways"][0]["ecs"]["desired"], 1, "{status:#}");

    // pause: desired 0, and the log knows who (the STS identity and the local user).
    let paused = cli.json(&["pause"]);
    assert_eq!(paused["phase"], "paused", "{paused:#}");
    let by = paused["by"].as_str().unwrap_or("");
    assert!(by.contains("arn:aws:") && by.contains("(tester@box)"), "{paused:#}");
    assert_eq!(stack.desired_count().await, 0);

    // A refused action: exit 1 and a message that says what to do.
    let refused = cli.run(&["restart", "home"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("clawkeeper resume home"),
        "{}",
        text(&refused.stderr)
    );
    let refused = cli.run(&["--json", "restart", "home"]);
    let error: Value = serde_json::from_slice(&refused.stderr).expect("JSON error on stderr");
    assert_eq!(error["error"]["type"], "Paused", "{error}");

    // Human-readable by default.
    let resumed = cli.run(&["resume", "home"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    assert!(
        text(&resumed.stdout).contains("home: resume done"),
        "{}",
        text(&resumed.stdout)
    );
    assert_eq!(stack.desired_count().await, 1);
    let silenced = cli.run(&["silence", "--minutes", "30", "--reason", "moving house"]);
    assert!(
        text(&silenced.stdout).contains("notices muted until"),
        "{}",
        text(&silenced.stdout)
    );
    let table = cli.run(&["status"]);
    let table = text(&table.stdout);
    assert!(table.starts_with("GATEWAY") && table.contains("home"), "{table}");
    assert!(table.contains("ACTIVE desired 1"), "{table}");

    let history = cli.json(&["history", "home", "--days", "1"]);
    let actions: Vec<&str> = history["gateways"][0]["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(actions, ["pause", "resume", "silence"], "{history:#}");
    let table = text(&cli.run(&["history"]).stdout);
    assert!(
        table.contains("owner: pause") && table.contains("tester@box"),
        "{table}"
    );

    // Errors of the control function name what is wrong: exit 1.
    let unknown = cli.run(&["pause", "office"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        text(&unknown.stderr).contains("unknown gateway \"office\""),
        "{}",
        text(&unknown.stderr)
    );
    let restore = cli.run(&["restore", "home", "nope"]);
    assert_eq!(restore.status.code(), Some(1));
    assert!(
        text(&restore.stderr).contains("UnknownSnapshot"),
        "{}",
        text(&restore.stderr)
    );
    assert!(
        text(&restore.stderr).contains("has no snapshots"),
        "{}",
        text(&restore.stderr)
    );

    // Usage errors: exit 2, before any AWS call.
    let usage = cli.run(&["silence", "home"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(text(&usage.stderr).contains("--minutes"), "{}", text(&usage.stderr));

    // AWS problems: exit 3 (function missing; nothing listening).
    let missing = cli.run(&["--function", "not-there", "status"]);
    assert_eq!(missing.status.code(), Some(3), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("not found"), "{}", text(&missing.stderr));
    let mut offline = cli_env.clone();
    offline.push((
        "AWS_ENDPOINT_URL_LAMBDA".into(),
        format!("http://127.0.0.1:{}", clawkeeper_tests::moto::free_port()),
    ));
    let offline = Cli { env: offline }.run(&["status"]);
    assert_eq!(offline.status.code(), Some(3), "{}", text(&offline.stderr));
    assert!(
        text(&offline.stderr).contains("could not reach"),
        "{}",
        text(&offline.stderr)
    );
}

fn fixture_path(name: &str) -> String {
    workspace_root()
        .join("tests/fixtures/events")
        .join(format!("{name}.json"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn explain_replays_the_sample_events_offline() {
    // No AWS at all: an endpoint that answers nothing proves no call is made.
    let cli = Cli {
        env: vec![("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into())],
    };
    let policy = POLICY_NOTIFY_AT_ONCE;

    let crash = cli.json(&["explain", &fixture_path("task-stopped-crash"), "--policy", policy]);
    assert_eq!(crash["phase_before"], "unknown");
    assert_eq!(crash["phase_after"], "down", "{crash:#}");
    let actions: Vec<&str> = crash["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(actions, ["request_snapshot", "notify"], "{crash:#}");
    assert_eq!(crash["actions"][1]["kind"], "gateway_down");

    // The owner's own stop: no incident, no action.
    let user = cli.json(&["explain", &fixture_path("task-stopped-user")]);
    assert_eq!(user["actions"], json!([]), "{user:#}");
    assert_eq!(user["decision"], "record only: no action");

    // The same crash while the owner has paused: nothing restarted, nobody told.
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.json");
    std::fs::write(&state, r#"{"phase":"paused","owner_paused":true}"#).expect("state");
    let paused = cli.json(&[
        "explain",
        &fixture_path("task-stopped-crash"),
        "--state",
        &state.to_string_lossy(),
        "--policy",
        policy,
    ]);
    assert_eq!(paused["phase_after"], "paused", "{paused:#}");
    assert_eq!(paused["actions"], json!([]), "{paused:#}");

    // Running again after the crash: the incident closes and recovery is announced.
    let after = serde_json::to_string(&crash["state_after"]).expect("state");
    std::fs::write(&state, after).expect("state");
    let replacement = dir.path().join("running.json");
    let event = clawkeeper_tests::events::task_running("bbbb", 2, 1_795_169_990);
    std::fs::write(&replacement, event.to_string()).expect("event");
    let running = cli.json(&[
        "explain",
        &replacement.to_string_lossy(),
        "--state",
        &state.to_string_lossy(),
        "--policy",
        policy,
        "--now",
        "1795170000",
        "--gateway-config",
        r#"{"id":"home","cluster":"openclaw","service":"openclaw-gateway"}"#,
    ]);
    assert_eq!(running["phase_after"], "healthy", "{running:#}");
    assert!(running["actions"].to_string().contains("recovered"), "{running:#}");

    // Human-readable by default; a bad file is a usage error (2).
    let words = cli.run(&["explain", &fixture_path("task-stopped-oom"), "--policy", policy]);
    let words = text(&words.stdout);
    assert!(
        words.contains("Phase: unknown -> down") && words.contains("notify (gateway_down)"),
        "{words}"
    );
    let missing = cli.run(&["explain", "/nonexistent.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("cannot read the event file"),
        "{}",
        text(&missing.stderr)
    );

    // Service events work too; deployment events name the service in their resources.
    let failed = cli.json(&["explain", &fixture_path("deployment-failed")]);
    assert_eq!(failed["actions"][0]["kind"], "deployment_failed", "{failed:#}");
}
