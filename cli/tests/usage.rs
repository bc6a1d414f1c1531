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
