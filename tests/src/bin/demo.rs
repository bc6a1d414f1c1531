//! `make demo`: clawkeeper's main job, locally. Starts a private moto_server (the local AWS),
//! creates a gateway service, the state table and the owner's topic in it, runs the real function
//! binaries through the Lambda Runtime API emulator, and prints what they report and what the
//! owner receives: a crash, the "down" notice, a crash loop with backoff, and the recovery; a
//! WhatsApp logout turned into relink steps; a snapshot and a restore; and a WhatsApp channel
//! blocked by a second client, restarted over the gateway's admin RPC without the owner.

use std::time::Duration;

use clawkeeper_tests::aws_setup::{self, Inbox};
use clawkeeper_tests::consts::{BUCKET, CLUSTER, INBOX_TOPIC, LOG_GROUP, SERVICE, TABLE};
use clawkeeper_tests::events::{now, task_running, task_stopped};
use clawkeeper_tests::lambda_bridge::LambdaBridge;
use clawkeeper_tests::stub_gateway::{StubGateway, whatsapp, whatsapp_blocked_by_conflict, whatsapp_only};
use clawkeeper_tests::{FunctionProcess, Invocation, Moto, clawkeeper_env};
use serde_json::{Value, json};

/// Short waits so the whole story takes seconds; production defaults are minutes.
const POLICY: &str = r#"{"down_grace_secs":0,"min_notify_interval_secs":0,"backoff_initial_secs":2,
  "backoff_max_secs":4,"backoff_max_tries":3,"backoff_reset_secs":3}"#;

#[tokio::main]
async fn main() {
    println!("== clawkeeper demo ==");
    let moto = Moto::start();
    println!("local AWS (moto_server) at {}", moto.endpoint());
    let sdk = moto.sdk_config().await;
    aws_setup::create_gateway_service(&sdk).await;
    aws_setup::create_table(&sdk, TABLE).await;
    let inbox = Inbox::create(&sdk, INBOX_TOPIC).await;
    println!("created ECS service openclaw/openclaw-gateway (desired 1), the state table and the owner's topic");

    // A small gateway home (what the EFS access point holds): config, WhatsApp creds, a database.
    let home = tempfile::tempdir().unwrap_or_else(|e| fail(&format!("temp dir: {e}")));
    let state_root = home.path().join("home");
    write_sample_state(&state_root);
    let s3 = clawkeeper_tests::s3::client(&sdk);
    if let Err(e) = s3.create_bucket().bucket(BUCKET).send().await {
        fail(&format!("create bucket: {e}"));
    }

    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(
        &json!([{"id": "home", "cluster": CLUSTER, "service": SERVICE, "log_group": LOG_GROUP,
            "state_root": state_root.to_string_lossy()}]),
    ));
    env.push(("CLAWKEEPER_TOPIC_ARN".into(), inbox.topic_arn.clone()));
    env.push(("CLAWKEEPER_POLICY".into(), POLICY.into()));
    env.push(("TMPDIR".into(), home.path().to_string_lossy().into_owned()));
    // `control` invokes the snapshot and restore functions through the Lambda API: a local bridge
    // routes those invokes to the real binaries.
    let bridge = LambdaBridge::start();
    bridge.route_process("snapshot", FunctionProcess::spawn("snapshot", &env));
    bridge.route_process("restore", FunctionProcess::spawn("restore", &env));
    env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), bridge.endpoint()));
    env.push(("CLAWKEEPER_SNAPSHOT_FUNCTION".into(), "snapshot".into()));
    env.push(("CLAWKEEPER_RESTORE_FUNCTION".into(), "restore".into()));
    env.push(("CLAWKEEPER_POLL_MS".into(), "200".into()));
    let mut control = FunctionProcess::spawn("control", &env);
    let mut events = FunctionProcess::spawn("task-events", &env);
    let mut reconciler = FunctionProcess::spawn("reconciler", &env);
    let mut log_alerts = FunctionProcess::spawn("log-alerts", &env);

    section("1. what ECS says (control status)");
    let status = invoke(&mut control, &json!({"action": "status"}));
    let service = &status["gateways"][0]["ecs"];
    println!(
        "gateway home: service {} desired {} running {} pending {}, task definition {}",
        service["status"], service["desired"], service["running"], service["pending"], service["task_definition"]
    );

    let t = now();
    section("2. the gateway crashes (EssentialContainerExited, exit 1)");
    report(
        &mut events,
        &task_stopped("task-stopped-crash", "aaaa", 3, t - 300, t - 1),
    );
    owner_receives(&inbox).await;

    section("3. ECS starts a replacement: it runs");
    report(&mut events, &task_running("bbbb", 2, t));
    owner_receives(&inbox).await;

    section("4. it crashes twice more within minutes: a crash loop");
    report(&mut events, &task_stopped("task-stopped-crash", "bbbb", 3, t, t + 20));
    report(
        &mut events,
        &task_stopped("task-stopped-oom", "cccc", 3, t + 20, t + 40),
    );
    owner_receives(&inbox).await;
    println!("service desired count now: {}", aws_setup::desired_count(&sdk).await);

    section("5. the backoff passes: the reconciler's tick resumes the service");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    report(&mut reconciler, &json!({"source": "aws.scheduler"}));
    println!("service desired count now: {}", aws_setup::desired_count(&sdk).await);

    section("6. the new task runs and stays up past the reset time: recovered");
    report(&mut events, &task_running("dddd", 2, now()));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    report(&mut reconciler, &json!({"source": "aws.scheduler"}));
    owner_receives(&inbox).await;

    section("7. WhatsApp logs the session out: the log subscription turns it into relink steps");
    report(&mut log_alerts, &aws_setup::fixture("logs-whatsapp-logged-out"));
    owner_receives(&inbox).await;

    section("8. a snapshot now (clawkeeper snapshot home)");
    let taken = invoke(&mut control, &json!({"action": "snapshot", "gateway": "home"}));
    let summary = &taken["snapshot"];
    match summary["result"].as_str() {
        Some("created") => println!(
            "  created {} ({} bytes, verified {})",
            summary["archive_key"], summary["archive_bytes"], summary["verified"]
        ),
        Some("unchanged") => println!(
            "  unchanged: the snapshot the crash triggered ({}) still matches the state, so nothing new is stored",
            summary["current_key"]
        ),
        _ => println!("  {summary}"),
    }
    let listed = invoke(&mut control, &json!({"action": "snapshots", "gateway": "home"}));
    println!("  clawkeeper snapshots home: {}", listed);

    section("9. a bad edit breaks the config; restore the latest snapshot (clawkeeper restore home latest)");
    let config = state_root.join(".openclaw/openclaw.json");
    let good = std::fs::read(&config).unwrap_or_default();
    let _ = std::fs::write(&config, b"{ broken");
    let report = invoke(
        &mut control,
        &json!({"action": "restore", "gateway": "home", "snapshot": "latest", "stop_timeout_secs": 20, "health_timeout_secs": 60}),
    );
    for step in report["steps"].as_array().into_iter().flatten() {
        println!(
            "  step {:<13} ok={} {}",
            step["step"].as_str().unwrap_or(""),
            step["ok"],
            step["detail"].as_str().unwrap_or("")
        );
    }
    println!(
        "  config restored byte for byte: {}; previous state kept at {}",
        std::fs::read(&config).unwrap_or_default() == good,
        report["previous_state"]
    );
    owner_receives(&inbox).await;

    section("10. control answers errors that name the problem");
    invoke(&mut control, &json!({"action": "status", "gateway": "nope"}));

    channel_healed(&moto, &env, &inbox).await;

    println!("\ndemo finished: every function above ran as a real Lambda process against local AWS");
}

/// A second WhatsApp client takes the session of gateway `lab` (status 440): OpenClaw 2026.9 stops
/// the channel and keeps its link. The reconciler reads `channels.status` over the gateway's
/// admin RPC (a stand-in gateway with the real answers, reached through its `probe_url` with the
/// token from Secrets Manager), restarts the account once with `channels.start`, and the channel
/// is back without the owner hearing of it.
async fn channel_healed(moto: &Moto, env: &[(String, String)], inbox: &Inbox) {
    section("11. a second WhatsApp client takes the session (440): OpenClaw stops the channel, keeps its link");
    let gateway = StubGateway::start();
    gateway.report(whatsapp_only(whatsapp_blocked_by_conflict()));
    gateway.after_start(whatsapp_only(whatsapp("ready")));
    let token = "demo-gateway-token";
    let arn = aws_setup::create_secret(moto, "lab-gateway-token", token);
    let mut env = env.to_vec();
    clawkeeper_tests::set_env(
        &mut env,
        "CLAWKEEPER_GATEWAYS",
        json!([{"id": "lab", "cluster": CLUSTER, "task_family": "openclaw-lab", "probe_url": gateway.url,
            "token_secret_arn": arn}])
        .to_string(),
    );
    let mut reconciler = FunctionProcess::spawn("reconciler", &env);
    println!(
        "gateway lab at {} (its admin-http-rpc plugin enabled): channels.status says whatsapp/default is blocked \
         (healthState conflict, last disconnect 440)",
        gateway.url
    );
    println!("the reconciler's pass reads it and restarts the account (channels.start):");
    channel_pass(&mut reconciler);
    println!(
        "  channels.start the gateway received: {}",
        Value::from(gateway.starts())
    );
    println!("the next pass: the account is ready again");
    channel_pass(&mut reconciler);
    owner_receives(inbox).await;
    let mut control = FunctionProcess::spawn("control", &env);
    let status = invoke(&mut control, &json!({"action": "status", "gateway": "lab"}));
    for account in status["gateways"][0]["watchdog"]["channels"]["accounts"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "  control status: {}/{} {} since {}, restarted by clawkeeper at {}",
            account["channel"].as_str().unwrap_or("-"),
            account["account"].as_str().unwrap_or("-"),
            account["lifecycle"].as_str().unwrap_or("-"),
            account["since_utc"].as_str().unwrap_or("-"),
            account["restarted_at_utc"].as_str().unwrap_or("-")
        );
    }
}

/// One reconciler pass over `lab`: what it read of the channels and what it did.
fn channel_pass(reconciler: &mut FunctionProcess) {
    let answer = invoke(reconciler, &json!({"source": "aws.scheduler"}));
    let g = &answer["gateways"][0];
    println!("  -> channels {} executed {}", g["channels"], g["executed"]);
}

/// Writes a small but real-shaped OpenClaw home: state dir with config, WhatsApp creds and a SQLite
/// database, and the auth-profile key dir beside it.
fn write_sample_state(root: &std::path::Path) {
    let state = root.join(".openclaw");
    let creds = state.join("credentials/whatsapp/default");
    let made = std::fs::create_dir_all(&creds)
        .and_then(|()| std::fs::create_dir_all(state.join("state")))
        .and_then(|()| std::fs::create_dir_all(root.join(".config/openclaw")))
        .and_then(|()| {
            std::fs::write(
                state.join("openclaw.json"),
                br#"{"gateway":{"mode":"local","port":18789}}"#,
            )
        })
        .and_then(|()| std::fs::write(creds.join("creds.json"), br#"{"me":{"id":"demo"},"noiseKey":"demo"}"#))
        .and_then(|()| {
            std::fs::write(
                creds.join("creds.json.bak"),
                br#"{"me":{"id":"demo"},"noiseKey":"demo"}"#,
            )
        })
        .and_then(|()| std::fs::write(root.join(".config/openclaw/auth-profiles.key"), b"demo-key"));
    if let Err(e) = made {
        fail(&format!("sample state: {e}"));
    }
    for i in 0..50 {
        let _ = std::fs::write(creds.join(format!("pre-key-{i}.json")), format!(r#"{{"keyId":{i}}}"#));
    }
    let db = rusqlite::Connection::open(state.join("state/openclaw.sqlite")).and_then(|db| {
        db.execute_batch("CREATE TABLE sessions(id INTEGER PRIMARY KEY, body TEXT);")?;
        for i in 0..500 {
            db.execute("INSERT INTO sessions(body) VALUES (?1)", [format!("message {i}")])?;
        }
        Ok(())
    });
    if let Err(e) = db {
        fail(&format!("sample database: {e}"));
    }
}

fn fail(what: &str) -> ! {
    eprintln!("demo: {what}");
    std::process::exit(1)
}

fn section(title: &str) {
    println!("\n--- {title}");
}

fn invoke(function: &mut FunctionProcess, event: &Value) -> Value {
    match function.invoke(event) {
        Invocation::Ok(answer) => answer,
        Invocation::Failed(f) => {
            println!("error {}: {}", f.error_type, f.error_message);
            Value::Null
        }
        Invocation::Exited { status, init_error } => {
            eprintln!(
                "function exited ({status}); init error: {init_error:?}\n{}",
                function.logs()
            );
            std::process::exit(1)
        }
    }
}

fn report(function: &mut FunctionProcess, event: &Value) {
    let answer = invoke(function, event);
    if !answer.is_null() {
        println!("  -> {answer}");
    }
}

async fn owner_receives(inbox: &Inbox) {
    let delivered = inbox.settle_and_drain().await;
    if delivered.is_empty() {
        println!("owner receives: nothing");
    }
    for d in delivered {
        println!("owner receives [{} / {}] {}", d.kind, d.severity, d.subject);
        for line in d.message.lines().take(6) {
            println!("    | {line}");
        }
    }
}
