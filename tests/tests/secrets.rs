//! Secrets never leave the state: the real `snapshot`, `restore`, `control` and `task-events`
//! binaries run against moto on a state dir holding marker secrets (a WhatsApp private key in
//! `creds.json`, a torn `creds.json` that must be taken from `.bak`, the auth-profile key, the
//! gateway token in `openclaw.json`), and the test fails if a marker shows in a function's logs,
//! in an answer, in an SNS notification or in a sidecar. The archive itself holds them, as it
//! must. Also: `Debug`/`Display` of the config, its errors and the token never print a token.

use std::fs;
use std::path::Path;

use clawkeeper_core::health::GatewayToken;
use clawkeeper_tests::config as config_with;
use clawkeeper_tests::consts::POLICY_NOTIFY_AT_ONCE;
use clawkeeper_tests::events::{now, task_stopped};
use clawkeeper_tests::s3::{get, keys};
use clawkeeper_tests::{FunctionProcess, Invocation, Stack};
use serde_json::{Value, json};

const WA_KEY: &str = "MARKER-WA-PRIVATE-KEY-7f3a9c";
const WA_TORN: &str = "MARKER-WA-TORN-CREDS-55d0e1";
const AUTH_KEY: &str = "MARKER-AUTH-PROFILE-KEY-91c2b4";
const TOKEN: &str = "MARKER-GATEWAY-TOKEN-4be1d7";
const MARKERS: &[&str] = &[WA_KEY, WA_TORN, AUTH_KEY, TOKEN];
const TOKEN_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:openclaw-gateway-token";

/// Fails naming the marker and where it leaked.
fn assert_clean(what: &str, text: &str) {
    for marker in MARKERS {
        assert!(
            !text.contains(marker),
            "secret marker {marker} leaked into {what}:\n{text}"
        );
    }
}

fn write_state(root: &Path) {
    let state = root.join(".openclaw");
    let account = state.join("credentials/whatsapp/default");
    fs::create_dir_all(&account).expect("creds dir");
    let creds = json!({"noiseKey": {"private": {"type": "Buffer", "data": WA_KEY}}, "me": {"id": "15550001111:1@s.whatsapp.net"}});
    fs::write(account.join("creds.json.bak"), creds.to_string()).expect("bak");
    fs::write(account.join("pre-key-1.json"), creds.to_string()).expect("pre-key");
    // Torn mid-write, as Baileys leaves it: not JSON; the snapshot takes the `.bak` and warns,
    // and the warning must name the file, never quote it.
    fs::write(
        account.join("creds.json"),
        format!("{{\"noiseKey\":{{\"private\":\"{WA_TORN}"),
    )
    .expect("torn creds");
    fs::write(
        state.join("openclaw.json"),
        json!({"gateway": {"port": 18789, "auth": {"mode": "token", "token": TOKEN}}}).to_string(),
    )
    .expect("config");
    fs::create_dir_all(root.join(".config/openclaw")).expect("key dir");
    fs::write(root.join(".config/openclaw/auth-profile.key"), AUTH_KEY).expect("key");
}

/// The sidecars under `home/` in the bucket: (key, text).
async fn sidecars(stack: &Stack) -> Vec<(String, String)> {
    let s3 = stack.s3();
    let mut out = Vec::new();
    for key in keys(&s3, "home/").await.into_iter().filter(|k| k.ends_with(".json")) {
        let body = get(&s3, &key).await;
        out.push((key, String::from_utf8_lossy(&body).into_owned()));
    }
    out
}

fn answer(process: &mut FunctionProcess, event: &Value) -> String {
    match process.invoke(event) {
        Invocation::Ok(v) => v.to_string(),
        Invocation::Failed(f) => panic!("{event} failed: {f:?}\nlogs:\n{}", process.logs()),
        other => panic!("{event}: {other:?}\nlogs:\n{}", process.logs()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_marker_secret_reaches_logs_answers_notifications_or_sidecars() {
    let stack = Stack::builder()
        .gateway(json!({"token_secret_arn": TOKEN_ARN}))
        .policy(POLICY_NOTIFY_AT_ONCE)
        .with_service()
        .with_bucket()
        .with_state_root()
        .env("RUST_LOG", "debug")
        .env("CLAWKEEPER_RESTORE_QUIET_SECS", "0")
        .env("CLAWKEEPER_RESTORE_SETTLE_SECS", "0")
        .start()
        .await;
    let root = stack.state_root();
    write_state(&root);

    // Snapshot: the archive holds the secrets; the answer, the sidecar and the logs do not.
    let mut snapshot = stack.spawn("snapshot");
    let created = answer(&mut snapshot, &json!({"gateway": "home", "trigger": "manual"}));
    assert!(created.contains("\"created\""), "{created}");
    assert!(
        created.contains("creds.json"),
        "the torn creds are flagged by name: {created}"
    );
    assert_clean("the snapshot answer", &created);
    let sidecars = sidecars(&stack).await;
    assert!(!sidecars.is_empty());
    for (key, body) in &sidecars {
        assert_clean(key, body);
    }

    // Restore of that snapshot over changed state: answer and logs clean too.
    fs::write(root.join(".openclaw/openclaw.json"), b"{}").expect("change");
    let mut restore = stack.spawn("restore");
    stack.issue_stop_permit("home", "latest").await;
    let restored = answer(
        &mut restore,
        &json!({"gateway": "home", "snapshot": "latest", "by": "test"}),
    );
    assert_clean("the restore answer", &restored);
    let config = fs::read_to_string(root.join(".openclaw/openclaw.json")).expect("restored config");
    assert!(config.contains(TOKEN), "the restore brought the state back");

    // control lists the snapshots (read from the sidecars) and the status.
    let mut control = stack.spawn("control");
    for request in [json!({"action": "snapshots"}), json!({"action": "status"})] {
        let said = answer(&mut control, &request);
        assert_clean(&format!("the answer to {request}"), &said);
    }

    // task-events: a crash and its notices, with the token secret configured.
    let mut events = stack.spawn("task-events");
    let t = now();
    answer(&mut events, &task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t));
    answer(&mut events, &task_stopped("task-stopped-oom", "aaaa", 4, t - 60, t));
    let delivered = stack.inbox().settle_and_drain().await;
    assert!(!delivered.is_empty(), "a notice was sent");
    for d in &delivered {
        assert_clean("a notification", &format!("{}\n{}", d.subject, d.message));
    }

    for (name, process) in [
        ("snapshot", &snapshot),
        ("restore", &restore),
        ("control", &control),
        ("task-events", &events),
    ] {
        let logs = process.logs();
        assert!(!logs.is_empty(), "{name} logged nothing: the check would prove nothing");
        assert_clean(&format!("the {name} logs"), &logs);
    }
}

#[test]
fn debug_and_display_never_print_a_token() {
    let token = GatewayToken::new(TOKEN, "v1");
    assert_clean("GatewayToken's Debug", &format!("{token:?} {token:#?}"));

    // Configured properly, the config holds the secret's ARN, never its value.
    let config = config_with(&format!(
        r#"[{{"id":"home","cluster":"c","service":"s","token_secret_arn":"{TOKEN_ARN}"}}]"#
    ))
    .expect("config");
    assert_clean("Config's Debug", &format!("{config:?}"));

    // An owner who pastes the token itself where the ARN goes gets an error naming the
    // variable and the field, and the token stays out of it (it is logged at init).
    for gateways in [
        format!(r#"[{{"id":"home","cluster":"c","service":"s","token_secret_arn":"{TOKEN}"}}]"#),
        format!(r#"[{{"id":"home","cluster":"c","service":"s","token":"{TOKEN}"}}]"#),
        format!(r#"[{{"id":"home","cluster":"c","service":"s","token_secret_arn":["{TOKEN}"]}}]"#),
    ] {
        let e = config_with(&gateways).expect_err("refused");
        assert_eq!(e.var, "CLAWKEEPER_GATEWAYS");
        assert_clean("a config error", &format!("{e} {e:?}"));
    }
}
