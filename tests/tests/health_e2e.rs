//! `reconciler` and `log-alerts` end to end: the real binaries through the Runtime API, with
//! DynamoDB, SNS (read through a subscribed SQS queue) and ECS in moto, and local HTTP servers
//! standing in for a gateway.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{DeploymentConfiguration, NetworkConfiguration};
use clawkeeper_shared::watch::health::ProbeOutcome;
use clawkeeper_tests::aws_setup::{self, CLUSTER, Delivered, Inbox, SERVICE};
use clawkeeper_tests::ec2::Network;
use clawkeeper_tests::{FunctionProcess, Invocation, Moto, clawkeeper_env};
use serde_json::{Value, json};

const TABLE: &str = "clawkeeper-test";

struct Stack {
    moto: Moto,
    inbox: Inbox,
    env: Vec<(String, String)>,
}

async fn stack(gateway: Value, policy: &str) -> Stack {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    aws_setup::create_table(&sdk, TABLE).await;
    let inbox = Inbox::create(&sdk, "clawkeeper-alerts").await;
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(&json!([gateway])));
    env.push(("CLAWKEEPER_TOPIC_ARN".into(), inbox.topic_arn.clone()));
    env.push(("CLAWKEEPER_POLICY".into(), policy.into()));
    Stack { moto, inbox, env }
}

const POLICY: &str = r#"{"down_grace_secs":0,"min_notify_interval_secs":0,"hung_probe_failures":2,
  "snapshot_interval_secs":0}"#;

fn kinds(delivered: &[Delivered]) -> Vec<&str> {
    delivered.iter().map(|d| d.kind.as_str()).collect()
}

fn ok(function: &mut FunctionProcess, event: &Value) -> Value {
    match function.invoke(event) {
        Invocation::Ok(v) => v,
        other => panic!("invocation failed: {other:?}\nlogs:\n{}", function.logs()),
    }
}

/// An HTTP server that answers every request with the given status, content type and body (or
/// never answers when `body` is `None`). Returns its base URL.
fn serve(status: u16, content_type: &'static str, body: Option<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || answer(stream, status, content_type, body));
        }
    });
    format!("http://{addr}")
}

fn answer(stream: TcpStream, status: u16, content_type: &str, body: Option<&str>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        line.clear();
    }
    let Some(body) = body else {
        // Hold the connection open, answering nothing.
        thread::sleep(Duration::from_secs(30));
        return;
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reconciler_repairs_a_missed_stop_and_prints_the_heartbeat() {
    let stack = stack(
        json!({"id": "home", "cluster": CLUSTER, "service": SERVICE, "log_group": "/ecs/openclaw-gateway"}),
        POLICY,
    )
    .await;
    let sdk = stack.moto.sdk_config().await;
    // Desired 1, nothing running or starting (moto starts no tasks for a service), no incident stored.
    aws_setup::create_gateway_service(&sdk).await;
    let mut reconciler = FunctionProcess::spawn("reconciler", &stack.env);
    let started = Instant::now();
    let answer = ok(&mut reconciler, &json!({"source": "aws.scheduler"}));
    let first_run = started.elapsed();
    assert_eq!(answer["gateways"][0]["phase"], "down", "{answer}");
    assert_eq!(answer["gateways"][0]["incident_open"], true, "{answer}");
    // No probe_url and CLAWKEEPER_PROBE_TASK_IP unset: outside the VPC, nothing to probe.
    assert_eq!(answer["gateways"][0]["probe"]["mode"], "unavailable", "{answer}");
    let got = stack.inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["gateway_down"], "{got:#?}");
    assert!(
        got[0].message.contains("no task running or starting"),
        "{}",
        got[0].message
    );

    let started = Instant::now();
    ok(&mut reconciler, &json!({}));
    let second_run = started.elapsed();
    assert!(stack.inbox.settle_and_drain().await.is_empty(), "once per incident");

    let logs = reconciler.logs();
    let metric_lines: Vec<Value> = logs
        .lines()
        .filter(|l| l.contains("\"_aws\""))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("EMF line is JSON ({e}): {l}")))
        .collect();
    let heartbeat: Vec<&Value> = metric_lines
        .iter()
        .filter(|m| m["ReconcilerHeartbeat"] == 1.0)
        .collect();
    assert_eq!(heartbeat.len(), 2, "one heartbeat per run:\n{logs}");
    assert_eq!(heartbeat[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Clawkeeper");
    assert_eq!(
        heartbeat[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
        "ReconcilerHeartbeat"
    );
    let gauges = metric_lines
        .iter()
        .find(|m| m["Gateway"] == "home")
        .unwrap_or_else(|| panic!("per-gateway gauges:\n{logs}"));
    assert_eq!(
        gauges["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Gateway"]])
    );
    assert_eq!(gauges["IncidentOpen"], 1.0);
    assert_eq!(gauges["GatewayUp"], 0.0, "ECS runs nothing");
    eprintln!("reconciler against moto: first run {first_run:?}, second run {second_run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_writer_violation_is_notified_once_across_runs() {
    let stack = stack(json!({"id": "home", "cluster": CLUSTER, "service": SERVICE}), POLICY).await;
    let sdk = stack.moto.sdk_config().await;
    aws_setup::create_gateway_service(&sdk).await;
    aws_sdk_ecs::Client::new(&sdk)
        .update_service()
        .cluster(CLUSTER)
        .service(SERVICE)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(100)
                .maximum_percent(200)
                .build(),
        )
        .send()
        .await
        .expect("ECS defaults: min 100 % / max 200 %");
    let mut reconciler = FunctionProcess::spawn("reconciler", &stack.env);
    ok(&mut reconciler, &json!({}));
    ok(&mut reconciler, &json!({}));
    let got = stack.inbox.settle_and_drain().await;
    let violations: Vec<&Delivered> = got.iter().filter(|d| d.kind == "single_writer_violation").collect();
    assert_eq!(violations.len(), 1, "{got:#?}");
    assert_eq!(violations[0].severity, "critical");
    assert!(
        violations[0]
            .message
            .contains("--deployment-configuration minimumHealthyPercent=0,maximumPercent=100"),
        "{}",
        violations[0].message
    );
}

/// An awsvpc Fargate gateway service and one RUNNING task in its group; returns the task ARN and
/// the network a replacement task runs in.
async fn gateway_with_a_running_task(moto: &Moto) -> (String, NetworkConfiguration) {
    let network = Network::create(moto).configuration();
    // Tasks start RUNNING and stay there until stopped (moto otherwise moves one status per describe).
    moto.control(
        "/moto-api/state-manager/set-transition",
        &json!({"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}),
    );
    let sdk = moto.sdk_config().await;
    aws_setup::create_awsvpc_gateway_service(&sdk, &network).await;
    (aws_setup::run_service_task(&sdk, &network).await, network)
}

async fn last_status(moto: &Moto, task: &str) -> String {
    aws_sdk_ecs::Client::new(&moto.sdk_config().await)
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks(task)
        .send()
        .await
        .expect("describe")
        .tasks()
        .first()
        .and_then(|t| t.last_status())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_answering_html_is_hung_and_its_task_is_stopped() {
    // Every path answers an HTML 200, like the Control UI: that is not the probe contract.
    let html = serve(200, "text/html", Some("<!doctype html><title>OpenClaw</title>"));
    let stack = stack(
        json!({"id": "home", "cluster": CLUSTER, "service": SERVICE, "probe_url": html}),
        POLICY,
    )
    .await;
    let (task, _) = gateway_with_a_running_task(&stack.moto).await;
    assert_eq!(last_status(&stack.moto, &task).await, "RUNNING");
    let mut reconciler = FunctionProcess::spawn("reconciler", &stack.env);

    let first = ok(&mut reconciler, &json!({}));
    assert_eq!(first["gateways"][0]["up"], false, "{first}");
    assert_eq!(first["gateways"][0]["phase"], "healthy", "ECS says RUNNING: {first}");
    assert_eq!(first["gateways"][0]["probe"]["mode"], "probe_url", "{first}");
    assert_eq!(
        first["gateways"][0]["probe"]["outcome"], "failed",
        "reached, but HTML: {first}"
    );
    assert!(stack.inbox.settle_and_drain().await.is_empty());
    assert_eq!(
        last_status(&stack.moto, &task).await,
        "RUNNING",
        "one failure is not hung"
    );

    let second = ok(&mut reconciler, &json!({}));
    let got = stack.inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["hung_restarted"], "{got:#?}\n{second}");
    assert!(got[0].message.contains("HTML"), "{}", got[0].message);
    assert_eq!(last_status(&stack.moto, &task).await, "STOPPED", "{second}");
    let executed = second["gateways"][0]["executed"].to_string();
    assert!(executed.contains("/hung/"), "{executed}");

    // The task is gone: no second stop, no second notice.
    ok(&mut reconciler, &json!({}));
    let got = stack.inbox.settle_and_drain().await;
    assert!(!kinds(&got).contains(&"hung_restarted"), "{got:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_that_never_answers_does_not_stall_the_run() {
    let silent = serve(200, "application/json", None);
    let stack = stack(
        json!({"id": "home", "cluster": CLUSTER, "service": SERVICE, "probe_url": silent}),
        POLICY,
    )
    .await;
    aws_setup::create_gateway_service(&stack.moto.sdk_config().await).await;
    let mut reconciler = FunctionProcess::spawn("reconciler", &stack.env);
    let started = Instant::now();
    let answer = ok(&mut reconciler, &json!({}));
    let took = started.elapsed();
    assert_eq!(answer["gateways"][0]["up"], false, "{answer}");
    assert_eq!(
        answer["gateways"][0]["probe"]["detail"], "connected, but no answer within 2000 ms",
        "accepted, then silent: reached but wrong, {answer}"
    );
    let probe_ms = answer["gateways"][0]["probe_ms"].as_u64().unwrap_or(u64::MAX);
    assert!(
        (1900..3000).contains(&probe_ms),
        "bounded by the 2 s timeout: {probe_ms} ms"
    );
    assert!(took < Duration::from_secs(6), "{took:?}");
    eprintln!("silent gateway: probe {probe_ms} ms, whole run {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn log_alerts_turns_a_logout_into_one_relink_notice() {
    let stack = stack(
        json!({"id": "home", "cluster": CLUSTER, "service": SERVICE, "log_group": "/ecs/openclaw-gateway"}),
        POLICY,
    )
    .await;
    let mut alerts = FunctionProcess::spawn("log-alerts", &stack.env);
    let payload = aws_setup::fixture("logs-whatsapp-logged-out");
    let answer = ok(&mut alerts, &payload);
    assert_eq!(answer["gateway"], "home", "{answer}");
    let got = stack.inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["relink_needed"], "{got:#?}");
    let relink = &got[0];
    assert_eq!(relink.severity, "critical");
    assert!(
        relink.subject.len() < 100 && !relink.subject.contains('\n'),
        "{}",
        relink.subject
    );
    for needle in [
        "aws ecs execute-command",
        "openclaw channels login --channel whatsapp",
        "--service-name openclaw-gateway",
    ] {
        assert!(relink.message.contains(needle), "{needle}:\n{}", relink.message);
    }

    // The same delivery again (Lambda retry, duplicate): nothing new.
    let again = ok(&mut alerts, &payload);
    assert!(stack.inbox.settle_and_drain().await.is_empty(), "{again}");
    assert_eq!(again["signals"][0]["duplicate"], true, "{again}");

    // The log line itself never reaches the function's log; the classification and the id do.
    let logs = alerts.logs();
    assert!(!logs.contains("to relink"), "line content logged:\n{logs}");
    assert!(logs.contains("logged_out") && logs.contains("377600000000000000000000000000000000000000000000000000"));

    // A control message is acknowledged; garbage fails with a clear error.
    let control = json!({"awslogs": {"data": gzip_b64(&json!({"messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs", "logGroup": "", "logStream": "", "subscriptionFilters": [], "logEvents": []}))}});
    assert_eq!(ok(&mut alerts, &control)["control"], true);
    let garbage = json!({"awslogs": {"data": "H4sIAAAAAAAAA2Jnb2FyYmFnZQ=="}});
    let failure = alerts.invoke(&garbage).expect_failed();
    assert_eq!(failure.error_type, "MalformedPayload");
    assert!(failure.error_message.contains("gzip"), "{failure:?}");
}

/// gzip + base64, as CloudWatch Logs delivers subscription data (the `gzip` and `base64` tools).
fn gzip_b64(value: &Value) -> String {
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .args(["-c", "gzip -c | base64 -w0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip | base64");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(value.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("gzip output");
    String::from_utf8(out.stdout).expect("base64 text")
}

/// A real OpenClaw gateway (`openclaw gateway run` from npm) on a loopback port, in its own process
/// group so stopping it stops its workers too. Killed when dropped.
struct RealGateway {
    child: std::process::Child,
}

impl RealGateway {
    fn start(home: &std::path::Path, port: u16) -> Self {
        use std::os::unix::process::CommandExt;
        let openclaw = std::env::var_os("CLAWKEEPER_OPENCLAW")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| clawkeeper_tests::workspace_root().join(".cache/openclaw/bin/openclaw"));
        assert!(
            openclaw.exists(),
            "OpenClaw not found at {}: run scripts/install-openclaw.sh (or set CLAWKEEPER_OPENCLAW)",
            openclaw.display()
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("gateway.log"))
            .expect("log");
        let child = std::process::Command::new(openclaw)
            .args(["gateway", "run", "--allow-unconfigured", "--port", &port.to_string()])
            .args(["--auth", "none", "--bind", "loopback"])
            .env("HOME", home)
            .env("OPENCLAW_STATE_DIR", home.join(".openclaw"))
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start the gateway");
        Self { child }
    }

    fn signal(&self, signal: &str) {
        let group = format!("-{}", self.child.id());
        let _ = std::process::Command::new("kill")
            .args(["-s", signal, "--", &group])
            .status();
    }

    /// Hung for real: every process of the gateway stopped (SIGSTOP). The kernel still completes
    /// TCP handshakes on its listening socket, so a probe connects and then gets no answer.
    fn freeze(&self) {
        self.signal("STOP");
    }

    fn kill(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }
}

impl Drop for RealGateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Probes until the gateway is live three times in a row (its first boot can restart once, when
/// `/healthz` briefly answers 503 while draining); returns how long that took.
async fn wait_live(prober: &clawkeeper_shared::health::probe::Prober, base: &str, home: &std::path::Path) -> Duration {
    let started = Instant::now();
    let mut streak = 0;
    while started.elapsed() < Duration::from_secs(150) {
        if prober.probe(base, None).await.is_live() {
            streak += 1;
            if streak == 3 {
                return started.elapsed();
            }
        } else {
            streak = 0;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let log = std::fs::read_to_string(home.join("gateway.log")).unwrap_or_default();
    panic!("the real gateway never answered /healthz at {base}:\n{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_openclaw_gateway_is_probed_healthy_hung_when_frozen_and_recovered() {
    let home = tempfile::tempdir().expect("home");
    let port = clawkeeper_tests::moto::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let prober = clawkeeper_shared::health::probe::Prober::new(Duration::from_secs(2)).expect("prober");
    let mut gateway = RealGateway::start(home.path(), port);
    let boot = wait_live(&prober, &base, home.path()).await;

    // Live: the JSON contract; readiness answered too.
    let probed = prober.probe(&base, None).await;
    let log = || std::fs::read_to_string(home.path().join("gateway.log")).unwrap_or_default();
    assert!(probed.is_live(), "{probed:?} after {boot:?}\n{}", log());
    assert!(probed.ready.is_some(), "/readyz answers JSON: {probed:?}");
    // The Control UI answers an unknown path with an HTML 200: not live.
    let ui = prober.probe(&format!("{base}/no/such/prefix"), None).await;
    assert_eq!(ui.outcome, ProbeOutcome::Failed, "{ui:?}");
    assert!(ui.detail.as_deref().is_some_and(|d| d.contains("HTML")), "{ui:?}");
    let mut latencies = Vec::new();
    for _ in 0..5 {
        latencies.push(prober.probe(&base, None).await.elapsed);
    }

    // The reconciler against it: healthy gives no notice.
    let stack = stack(
        json!({"id": "home", "cluster": CLUSTER, "service": SERVICE, "probe_url": base}),
        POLICY,
    )
    .await;
    let (task, network) = gateway_with_a_running_task(&stack.moto).await;
    let mut reconciler = FunctionProcess::spawn("reconciler", &stack.env);
    let healthy = ok(&mut reconciler, &json!({}));
    assert_eq!(healthy["gateways"][0]["up"], true, "{healthy}");
    assert_eq!(healthy["gateways"][0]["phase"], "healthy", "{healthy}");
    assert!(stack.inbox.settle_and_drain().await.is_empty());

    // Frozen (ECS still says RUNNING): it accepts connections and answers nothing. After
    // hung_probe_failures (2) checks, the task is stopped.
    gateway.freeze();
    let first = ok(&mut reconciler, &json!({}));
    assert_eq!(first["gateways"][0]["probe"]["outcome"], "failed", "{first}");
    assert!(
        first["gateways"][0]["probe"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no answer within 2000 ms")),
        "{first}"
    );
    assert!(
        stack.inbox.settle_and_drain().await.is_empty(),
        "one failure is not hung"
    );
    let hung = ok(&mut reconciler, &json!({}));
    let got = stack.inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["hung_restarted"], "{got:#?}\n{hung}");
    assert_eq!(last_status(&stack.moto, &task).await, "STOPPED");

    // Gone for good: nothing listens, the connection is refused. That is unreachable (unknown),
    // never a failure: ECS's own checks own a dead process.
    gateway.kill();
    let refused = prober.probe(&base, None).await;
    assert_eq!(refused.outcome, ProbeOutcome::Unreachable, "{refused:?}");
    assert!(
        refused.detail.as_deref().is_some_and(|d| d.contains("refused")),
        "{refused:?}"
    );

    // The service's replacement runs the gateway again: recovered.
    aws_setup::run_service_task(&stack.moto.sdk_config().await, &network).await;
    let _gateway = RealGateway::start(home.path(), port);
    let reboot = wait_live(&prober, &base, home.path()).await;
    let recovered = ok(&mut reconciler, &json!({}));
    let got = stack.inbox.settle_and_drain().await;
    assert_eq!(kinds(&got), ["recovered"], "{got:#?}\n{recovered}");
    assert_eq!(recovered["gateways"][0]["phase"], "healthy", "{recovered}");
    eprintln!("real gateway: live after {boot:?} (restart {reboot:?}); probe latencies {latencies:?}");
}
