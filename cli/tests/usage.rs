//! The built `clawkeeper` binary on what never reaches AWS: help, version, completions and usage
//! errors, with their exit codes and streams (stdout for what was asked, stderr for mistakes).
//! The end-to-end behaviour against a running control function is in tests/tests/cli.rs.

use std::process::{Command, Output};

fn clawkeeper(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clawkeeper"))
        .args(args)
        .env_clear()
        // An endpoint that answers nothing: a parse that wrongly went on to AWS would exit 3.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run clawkeeper")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_version_and_completions_print_to_stdout_and_exit_0() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["help", "restore"],
        &["restart", "--help"],
        &["--json", "status", "-h"],
        &["-V"],
        &["--version"],
        &["completions", "bash"],
        &["completions", "zsh"],
        &["completions", "fish"],
    ] {
        let out = clawkeeper(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        assert!(!out.stdout.is_empty(), "{args:?}: nothing on stdout");
        assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out.stderr));
    }
    let help = text(&clawkeeper(&["--help"]).stdout);
    assert!(help.contains("Exit codes:") && help.contains("AWS_PROFILE"), "{help}");
    let version = text(&clawkeeper(&["-V"]).stdout);
    assert_eq!(version, format!("clawkeeper {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_2_on_stderr_before_any_aws_call() {
    for (args, expected) in [
        (&[][..], "Usage: clawkeeper"),
        (&["reboot"], "unrecognized subcommand 'reboot'"),
        (&["--bogus", "status"], "unexpected argument '--bogus'"),
        (&["pause", "home", "--force"], "unexpected argument '--force'"),
        (&["silence", "home"], "--minutes"),
        (&["silence", "--minutes", "-1"], "0 or more"),
        (&["history", "--days", "0"], "1 or more"),
        (&["snapshots", "--limit", "x"], "1 or more"),
        (&["status", "home", "lab"], "unexpected argument 'lab'"),
        (&["restore"], "<SNAPSHOT>"),
        (&["explain"], "<EVENT.json>"),
        (&["completions", "tcsh"], "possible values: bash, zsh, fish"),
    ] {
        let out = clawkeeper(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert!(text(&out.stderr).contains(expected), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn with_json_a_usage_error_is_a_json_object() {
    let out = clawkeeper(&["--json", "silence", "home"]);
    assert_eq!(out.status.code(), Some(2));
    let error: serde_json::Value = serde_json::from_slice(&out.stderr).expect("JSON on stderr");
    assert_eq!(error["error"]["kind"], "usage", "{error}");
    assert_eq!(error["error"]["type"], "Usage", "{error}");
    let message = error["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("--minutes <N>") && !message.contains("Usage:"),
        "{error}"
    );
}

/// A stand-in for the control function's URL on loopback: answers each of `answers` to one POST
/// in turn, and hands back the bodies it was sent. (The CLI signs the POST with the fake keys of
/// [`through_url`]; nothing checks the signature here.)
struct StandIn {
    url: String,
    sent: std::thread::JoinHandle<Vec<String>>,
}

impl StandIn {
    fn start(answers: Vec<serde_json::Value>) -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        let sent = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for answer in answers {
                let (stream, _) = listener.accept().expect("a connection");
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).expect("a header line");
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().expect("a length");
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).expect("the body");
                bodies.push(String::from_utf8(body).expect("UTF-8 body"));
                let answer = answer.to_string();
                let mut stream = reader.into_inner();
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                )
                .expect("answer");
            }
            bodies
        });
        Self { url, sent }
    }

    fn sent(self) -> Vec<String> {
        self.sent.join().expect("the stand-in")
    }
}

/// Runs the CLI against `url` as its control URL, with fake credentials, `stdin` on its stdin.
fn through_url(url: &str, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_clawkeeper"))
        .args(["--function", "control"])
        .args(args)
        .env_clear()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("CLAWKEEPER_CONTROL_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run clawkeeper");
    let mut input = child.stdin.take().expect("stdin");
    // The CLI may not read it (or stop early): a closed pipe is not this test's failure.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().expect("clawkeeper's output")
}

fn registered_answer() -> serde_json::Value {
    serde_json::json!({
        "registered": {"id": "lab", "cluster": "openclaw", "service": "openclaw-lab",
                       "state_root": "/mnt/openclaw", "state_dir": ".openclaw"},
        "owner": {"email": "me@example.com", "gateways": ["lab"], "subscription": "pending confirmation"},
        "watched_from": "the next event or reconciler tick"
    })
}

#[test]
fn gateways_add_from_json_sends_the_file_or_stdin_as_the_gateway_object() {
    let object = r#"{"id":"lab","cluster":"openclaw","service":"openclaw-lab","probe_url":"https://lab.example.com"}"#;
    let file = std::env::temp_dir().join(format!("clawkeeper-usage-{}-lab.json", std::process::id()));
    std::fs::write(&file, object).expect("write the gateway file");
    let file_arg = file.to_str().expect("UTF-8 temp path").to_string();

    let stand_in = StandIn::start(vec![registered_answer(), registered_answer(), registered_answer()]);
    let from_file = through_url(&stand_in.url, &["gateways", "add", "--from-json", &file_arg], b"");
    let from_stdin = through_url(
        &stand_in.url,
        &["gateways", "add", "--from-json", "-", "--owner-email", "me@example.com"],
        object.as_bytes(),
    );
    let with_flags = through_url(
        &stand_in.url,
        &[
            "--json",
            "gateways",
            "add",
            "lab",
            "--cluster",
            "openclaw",
            "--service",
            "openclaw-lab",
        ],
        b"",
    );
    let _ = std::fs::remove_file(&file);
    for out in [&from_file, &from_stdin, &with_flags] {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let sent: Vec<serde_json::Value> = stand_in
        .sent()
        .iter()
        .map(|body| serde_json::from_str(body).expect("a JSON request"))
        .collect();
    let gateway: serde_json::Value = serde_json::from_str(object).expect("JSON");
    assert_eq!(sent[0], serde_json::json!({"action": "register", "gateway": gateway}));
    assert_eq!(
        sent[1],
        serde_json::json!({"action": "register", "gateway": gateway, "owner_email": "me@example.com"})
    );
    assert_eq!(
        sent[2],
        serde_json::json!({"action": "register",
                           "gateway": {"id": "lab", "cluster": "openclaw", "service": "openclaw-lab"}})
    );
    // In words, and with --json the answer as it came.
    let words = text(&from_file.stdout);
    assert!(
        words.starts_with("Registered lab (cluster openclaw, service openclaw-lab): watched from the next event"),
        "{words}"
    );
    assert!(words.contains("email subscription: pending confirmation"), "{words}");
    let answer: serde_json::Value = serde_json::from_slice(&with_flags.stdout).expect("JSON on stdout");
    assert_eq!(answer, registered_answer());
}

#[test]
fn gateways_list_and_remove_go_to_the_control_function() {
    let listed = serde_json::json!({
        "gateways": [
            {"id": "home", "cluster": "openclaw", "service": "openclaw-gateway", "source": "seed",
             "owner_email": null, "registered_at": null, "registered_by": null, "phase": "healthy"},
            {"id": "lab", "cluster": "openclaw", "task_family": "openclaw-lab", "source": "registered",
             "owner_email": "me@example.com", "registered_at": 1_795_161_600, "registered_by": "me", "phase": "down"}
        ],
        "owners": [{"email": "me@example.com", "gateways": ["lab"], "subscription_arn": "arn:aws:sns:us-east-1:1:t:1"}]
    });
    let removed = serde_json::json!({"unregistered": "lab", "kept": "snapshots and history", "owner": null});
    let stand_in = StandIn::start(vec![listed, removed]);
    let list = through_url(&stand_in.url, &["gateways", "list"], b"");
    let remove = through_url(&stand_in.url, &["gateways", "remove", "lab"], b"");
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr));
    assert_eq!(remove.status.code(), Some(0), "{}", text(&remove.stderr));
    assert_eq!(
        stand_in.sent(),
        [r#"{"action":"gateways"}"#, r#"{"action":"unregister","gateway":"lab"}"#]
    );
    let list = text(&list.stdout);
    for expected in [
        "GATEWAY  SOURCE      PHASE    RUNS AS",
        "home     seed        healthy  service openclaw-gateway",
        "lab      registered  down     task family openclaw-lab",
        "Owners:",
        "me@example.com  lab       subscribed (1)",
    ] {
        assert!(list.contains(expected), "{expected:?} not in:\n{list}");
    }
    assert_eq!(
        text(&remove.stdout),
        "Unregistered lab: no longer watched; kept: snapshots and history.\n"
    );
}

#[test]
fn gateways_mistakes_exit_2_before_any_aws_call() {
    for (args, expected) in [
        (&["gateways"][..], "requires a subcommand"),
        (
            &[
                "gateways",
                "add",
                "lab",
                "--cluster",
                "c",
                "--service",
                "s",
                "--task-family",
                "f",
            ],
            "'--service <SERVICE>' cannot be used with '--task-family <FAMILY>'",
        ),
        (
            &["gateways", "add", "lab", "--cluster", "c"],
            "--service <SERVICE>|--task-family <FAMILY>",
        ),
        (
            &["gateways", "add", "lab", "--from-json", "lab.json"],
            "'[ID]' cannot be used with '--from-json <FILE>'",
        ),
        (
            &["gateways", "add", "--from-json", "lab.json", "--service", "s"],
            "cannot be used with",
        ),
        (&["gateways", "remove"], "<ID>"),
        // A file that is not there or not a gateway object: said before AWS is asked anything.
        (
            &["gateways", "add", "--from-json", "/nonexistent/lab.json"],
            "--from-json /nonexistent/lab.json: could not read it",
        ),
        (&["gateways", "add", "--from-json", "-"], "--from-json stdin: not JSON"),
    ] {
        let out = clawkeeper(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert!(text(&out.stderr).contains(expected), "{args:?}: {}", text(&out.stderr));
    }
    let out = clawkeeper(&["--json", "gateways", "add", "--from-json", "/nonexistent/lab.json"]);
    assert_eq!(out.status.code(), Some(2));
    let error: serde_json::Value = serde_json::from_slice(&out.stderr).expect("JSON on stderr");
    assert_eq!(error["error"]["kind"], "usage", "{error}");
    assert_eq!(error["error"]["type"], "Input", "{error}");
}

#[test]
fn gateways_has_help_and_completions() {
    for args in [
        &["gateways", "--help"][..],
        &["gateways", "add", "--help"],
        &["help", "gateways", "remove"],
        &["gateways", "list", "-h"],
    ] {
        let out = clawkeeper(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("clawkeeper gateways"),
            "{args:?}: {}",
            text(&out.stdout)
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let script = text(&clawkeeper(&["completions", shell]).stdout);
        for word in [
            "gateways",
            "add",
            "remove",
            "list",
            "task-family",
            "from-json",
            "owner-email",
        ] {
            assert!(script.contains(word), "{shell} script does not mention {word}");
        }
    }
}
