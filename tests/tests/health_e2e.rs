//! `reconciler` and `log-alerts` end to end: the real binaries through the Runtime API, with
//! DynamoDB, SNS (read through a subscribed SQS queue) and ECS in moto, and local HTTP servers
//! standing in for a gateway.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::DeploymentConfiguration;
use clawkeeper_core::watch::health::{ProbeOutcome, Startup};
use clawkeeper_tests::aws_setup::{self, Delivered, kinds};
use clawkeeper_tests::consts::{CLUSTER, LOG_GROUP, POLICY_HUNG_AFTER_TWO, SERVICE};
use clawkeeper_tests::events::awslogs;
use clawkeeper_tests::real_gateway::{Auth, RealGateway};
use clawkeeper_tests::stack::StackBuilder;
use clawkeeper_tests::stub::Stub;
use clawkeeper_tests::{Stack, ok};
use serde_json::{Value, json};

/// moto with the table and the inbox; the gateway `home` hung after two failed probes.
fn stack(gateway: Value) -> StackBuilder {
    Stack::builder().gateway(gateway).policy(POLICY_HUNG_AFTER_TWO)
}

#[tokio::test(flavor = "multi_thread")]
async fn reconciler_repairs_a_missed_stop_and_prints_the_heartbeat() {
    // Desired 1, nothing running or starting (moto starts no tasks for a service), no incident stored.
    let stack = stack(json!({"log_group": LOG_GROUP})).with_service().start().await;
    let mut reconciler = stack.spawn("reconciler");
    let started = Instant::now();
    let answer = ok(&mut reconciler, &json!({"source": "aws.scheduler"}));
    let first_run = started.elapsed();
    assert_eq!(answer["gateways"][0]["phase"], "down", "{answer}");
    assert_eq!(answer["gateways"][0]["incident_open"], true, "{answer}");
    // No probe_url and CLAWKEEPER_PROBE_TASK_IP unset: outside the VPC, nothing to probe.
    assert_eq!(answer["gateways"][0]["probe"]["mode"], "unavailable", "{answer}");
    let got = stack.inbox().settle_and_drain().await;
    assert_eq!(kinds(&got), ["gateway_down"], "{got:#?}");
    assert!(
        got[0].message.contains("no task running or starting"),
        "{}",
        got[0].message
    );

    let started = Instant::now();
    ok(&mut reconciler, &json!({}));
    let second_run = started.elapsed();
    assert!(stack.inbox().settle_and_drain().await.is_empty(), "once per incident");

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
    // The fleet's gauges carry no dimension (their cost does not grow with the fleet); the
    // gateway's own figures are in its log line.
    let gauges = heartbeat[1];
    assert_eq!(gauges["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]));
    assert!(
        metric_lines.iter().all(|m| m.get("Gateway").is_none()),
        "no per-gateway metric:\n{logs}"
    );
    assert_eq!(gauges["GatewaysWatched"], 1.0);
    assert_eq!(gauges["IncidentsOpen"], 1.0);
    assert_eq!(gauges["GatewaysDown"], 1.0, "ECS runs nothing");
    assert_eq!(gauges["GatewaysUp"], 0.0);
    assert!(
        logs.lines()
            .any(|l| l.contains("fleet gateway") && l.contains("gateway=home") && l.contains("incident_open=true")),
        "the gateway's log line:\n{logs}"
    );
    eprintln!("reconciler against moto: first run {first_run:?}, second run {second_run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_writer_violation_is_notified_once_across_runs() {
    let stack = stack(json!({})).with_service().start().await;
    aws_sdk_ecs::Client::new(&stack.sdk)
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
    let mut reconciler = stack.spawn("reconciler");
    ok(&mut reconciler, &json!({}));
    ok(&mut reconciler, &json!({}));
    let got = stack.inbox().settle_and_drain().await;
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

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_answering_html_is_hung_and_its_task_is_stopped() {
    // Every path answers an HTML 200, like the Control UI: that is not the probe contract.
    let html = Stub::html();
    let stack = stack(json!({"probe_url": html.url})).with_running_task().start().await;
    assert_eq!(stack.task_last_status().await, "RUNNING");
    let mut reconciler = stack.spawn("reconciler");

    let first = ok(&mut reconciler, &json!({}));
    assert_eq!(first["gateways"][0]["up"], false, "{first}");
    assert_eq!(first["gateways"][0]["phase"], "healthy", "ECS says RUNNING: {first}");
    assert_eq!(first["gateways"][0]["probe"]["mode"], "probe_url", "{first}");
    assert_eq!(
        first["gateways"][0]["probe"]["outcome"], "failed",
        "reached, but HTML: {first}"
    );
    assert!(stack.inbox().settle_and_drain().await.is_empty());
    assert_eq!(stack.task_last_status().await, "RUNNING", "one failure is not hung");

    let second = ok(&mut reconciler, &json!({}));
    let got = stack.inbox().settle_and_drain().await;
    assert_eq!(kinds(&got), ["hung_restarted"], "{got:#?}\n{second}");
    assert!(got[0].message.contains("HTML"), "{}", got[0].message);
    assert_eq!(stack.task_last_status().await, "STOPPED", "{second}");
    let executed = second["gateways"][0]["executed"].to_string();
    assert!(executed.contains("/hung/"), "{executed}");

    // The task is gone: no second stop, no second notice.
    ok(&mut reconciler, &json!({}));
    let got = stack.inbox().settle_and_drain().await;
    assert!(!kinds(&got).contains(&"hung_restarted"), "{got:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_start_is_not_a_hang_and_hung_detection_begins_once_startupz_says_started() {
    // OpenClaw answers 503 everywhere while its startup sidecars settle (`/startupz`: "starting").
    let gateway = Stub::serve(503, "application/json", Some(r#"{"status":"starting"}"#));
    let policy = r#"{"down_grace_secs":0,"startup_grace_secs":300,"min_notify_interval_secs":0,
      "hung_probe_failures":2,"snapshot_interval_secs":0}"#;
    let stack = Stack::builder()
        .gateway(json!({"probe_url": gateway.url}))
        .policy(policy)
        .with_running_task()
        .start()
        .await;
    let mut reconciler = stack.spawn("reconciler");
    // Far more failed /healthz probes than make a hang: none counts while it is starting.
    for tick in 0..4 {
        let answer = ok(&mut reconciler, &json!({}));
        let probe = &answer["gateways"][0]["probe"];
        assert_eq!(probe["outcome"], "failed", "tick {tick}: {answer}");
        assert_eq!(probe["startup"], "starting", "tick {tick}: {answer}");
        assert_eq!(
            probe["failures"], 0,
            "tick {tick}: a slow start is not a hang: {answer}"
        );
    }
    assert!(stack.inbox().settle_and_drain().await.is_empty());
    assert_eq!(stack.task_last_status().await, "RUNNING");

    // Started, and /healthz still breaks its contract: now it counts, and two make a hang, well
    // inside the task's first startup_grace_secs.
    gateway.answer_with(200, "application/json", Some(r#"{"status":"started"}"#));
    let first = ok(&mut reconciler, &json!({}));
    assert_eq!(first["gateways"][0]["probe"]["startup"], "started", "{first}");
    assert_eq!(first["gateways"][0]["probe"]["failures"], 1, "{first}");
    ok(&mut reconciler, &json!({}));
    let got = stack.inbox().settle_and_drain().await;
    assert_eq!(kinds(&got), ["hung_restarted"], "{got:#?}");
    assert_eq!(stack.task_last_status().await, "STOPPED");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_that_never_answers_does_not_stall_the_run() {
    let silent = Stub::serve(200, "application/json", None);
    let stack = stack(json!({"probe_url": silent.url})).with_service().start().await;
    let mut reconciler = stack.spawn("reconciler");
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
    let stack = stack(json!({"log_group": LOG_GROUP})).start().await;
    let mut alerts = stack.spawn("log-alerts");
    let payload = aws_setup::fixture("logs-whatsapp-logged-out");
    let answer = ok(&mut alerts, &payload);
    assert_eq!(answer["gateway"], "home", "{answer}");
    let got = stack.inbox().settle_and_drain().await;
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
    assert!(stack.inbox().settle_and_drain().await.is_empty(), "{again}");
    assert_eq!(again["signals"][0]["duplicate"], true, "{again}");

    // The log line itself never reaches the function's log; the classification and the id do.
    let logs = alerts.logs();
    assert!(!logs.contains("to relink"), "line content logged:\n{logs}");
    assert!(logs.contains("logged_out") && logs.contains("377600000000000000000000000000000000000000000000000000"));

    // A control message is acknowledged; garbage fails with a clear error.
    let control = awslogs(&json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs",
        "logGroup": "", "logStream": "", "subscriptionFilters": [], "logEvents": []}));
    assert_eq!(ok(&mut alerts, &control)["control"], true);
    let garbage = json!({"awslogs": {"data": "H4sIAAAAAAAAA2Jnb2FyYmFnZQ=="}});
    let failure = alerts.invoke(&garbage).expect_failed();
    assert_eq!(failure.error_type, "MalformedPayload");
    assert!(failure.error_message.contains("gzip"), "{failure:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_openclaw_gateway_is_probed_healthy_hung_when_frozen_and_recovered() {
    let home = tempfile::tempdir().expect("home");
    let port = clawkeeper_tests::moto::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let prober = clawkeeper_openclaw::probe::Prober::new(Duration::from_secs(2)).expect("prober");
    let mut gateway = RealGateway::start(home.path(), port, Auth::None);
    let boot = gateway.wait_live(&prober, &base).await;

    // Live: the JSON contract; readiness answered too.
    let probed = prober.probe(&base, None).await;
    let log = || std::fs::read_to_string(home.path().join("gateway.log")).unwrap_or_default();
    assert!(probed.is_live(), "{probed:?} after {boot:?}\n{}", log());
    assert!(probed.ready.is_some(), "/readyz answers JSON: {probed:?}");
    // The real /startupz contract: /healthz is live before startup is done ("starting", with
    // readiness failing on its startup sidecars), then "started".
    assert!(probed.startup.is_some(), "/startupz answers its contract: {probed:?}");
    let until = Instant::now() + Duration::from_secs(120);
    let mut startup = probed.startup;
    while startup != Some(Startup::Started) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(500)).await;
        startup = prober.probe(&base, None).await.startup;
    }
    assert_eq!(startup, Some(Startup::Started), "never started\n{}", log());
    // The Control UI answers an unknown path with an HTML 200: not live.
    let ui = prober.probe(&format!("{base}/no/such/prefix"), None).await;
    assert_eq!(ui.outcome, ProbeOutcome::Failed, "{ui:?}");
    assert!(ui.detail.as_deref().is_some_and(|d| d.contains("HTML")), "{ui:?}");
    let mut latencies = Vec::new();
    for _ in 0..5 {
        latencies.push(prober.probe(&base, None).await.elapsed);
    }

    // The reconciler against it: healthy gives no notice.
    // A startup grace far longer than the test: the frozen gateway is found hung only because its
    // /startupz said started while it was live.
    let stack = stack(json!({"probe_url": base}))
        .policy(
            r#"{"down_grace_secs":0,"startup_grace_secs":3600,"min_notify_interval_secs":0,"hung_probe_failures":2,
              "snapshot_interval_secs":0}"#,
        )
        .with_running_task()
        .start()
        .await;
    let mut reconciler = stack.spawn("reconciler");
    let healthy = ok(&mut reconciler, &json!({}));
    assert_eq!(healthy["gateways"][0]["probe"]["startup"], "started", "{healthy}");
    assert_eq!(healthy["gateways"][0]["up"], true, "{healthy}");
    assert_eq!(healthy["gateways"][0]["phase"], "healthy", "{healthy}");
    assert!(stack.inbox().settle_and_drain().await.is_empty());

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
        stack.inbox().settle_and_drain().await.is_empty(),
        "one failure is not hung"
    );
    let hung = ok(&mut reconciler, &json!({}));
    let got = stack.inbox().settle_and_drain().await;
    assert_eq!(kinds(&got), ["hung_restarted"], "{got:#?}\n{hung}");
    assert_eq!(stack.task_last_status().await, "STOPPED");

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
    aws_setup::run_service_task(&stack.sdk, stack.network()).await;
    let gateway = RealGateway::start(home.path(), port, Auth::None);
    let reboot = gateway.wait_live(&prober, &base).await;
    let recovered = ok(&mut reconciler, &json!({}));
    let got = stack.inbox().settle_and_drain().await;
    assert_eq!(kinds(&got), ["recovered"], "{got:#?}\n{recovered}");
    assert_eq!(recovered["gateways"][0]["phase"], "healthy", "{recovered}");
    eprintln!("real gateway: live after {boot:?} (restart {reboot:?}); probe latencies {latencies:?}");
}
