//! Channel recovery end to end: the real `reconciler` binary (through the Runtime API, with the
//! state table, the owner's topic and its gateway token in moto) reading `channels.status` over
//! the gateway's admin RPC through its `probe_url` on loopback, and restarting a channel account
//! with `channels.start`.
//!
//! - Against the real OpenClaw 2026.9.6 from npm with the `admin-http-rpc` plugin enabled and the
//!   WhatsApp plugin loaded: what it reports of a WhatsApp account never linked (stopped,
//!   `linked: false`), what `channels.start` answers for it (`skipped: unlinked`) and for a linked
//!   one (`handed-off`), and that the reconciler restarts neither the unlinked account nor one
//!   stopped by hand. A 440 conflict needs a real WhatsApp session taken over by another client,
//!   which no test here has.
//! - Against a stand-in gateway that reports the real shapes (`stub_gateway`): an account blocked by
//!   a conflict is started once and heals without a notice; blocked again within the window after
//!   that, it gets one `channel_restarted` notice and no second start.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use clawkeeper_core::health::GatewayToken;
use clawkeeper_core::watch::channel_runtime::{Lifecycle, Standing};
use clawkeeper_openclaw::admin_rpc::AdminRpc;
use clawkeeper_openclaw::probe::Prober;
use clawkeeper_tests::aws_setup::kinds;
use clawkeeper_tests::real_gateway::{Auth, RealGateway};
use clawkeeper_tests::stub_gateway::{StubGateway, whatsapp, whatsapp_blocked_by_conflict, whatsapp_only};
use clawkeeper_tests::{Stack, ok};
use serde_json::{Value, json};

const TOKEN: &str = "token-of-the-test-gateway-5b1e";

/// Notices at once, a restart window of 10 minutes, no snapshot checks.
const POLICY: &str = r#"{"down_grace_secs":0,"min_notify_interval_secs":0,"channel_restart_window_secs":600,
  "snapshot_interval_secs":0}"#;

/// One admin RPC call as a person would make it (`curl -H 'Authorization: Bearer ...'`), for the
/// methods clawkeeper itself never calls (`channels.stop`).
fn rpc(base: &str, method: &str, params: Value) -> (u16, Value) {
    let addr = base.trim_start_matches("http://");
    let body = json!({"method": method, "params": params}).to_string();
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(
        stream,
        "POST /api/v1/admin/rpc HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = answer
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str(b.trim()).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

/// Waits until `channels.status` answers (the plugin's route is registered as the gateway
/// starts its plugins, a moment after `/healthz` is live).
async fn wait_admin_rpc(rpc: &AdminRpc, base: &str, token: &GatewayToken, gateway: &RealGateway) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(90) {
        if let Ok(accounts) = rpc.channels_status(base, token).await
            && !accounts.is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the admin RPC never reported the WhatsApp account:\n{}", gateway.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_gateway_reports_its_channels_and_a_start_over_the_admin_rpc() {
    let home = tempfile::tempdir().expect("home");
    let port = clawkeeper_tests::moto::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let gateway = RealGateway::start(home.path(), port, Auth::TokenWithAdminRpc(TOKEN));
    let prober = Prober::new(Duration::from_secs(2)).expect("prober");
    let boot = gateway.wait_live(&prober, &base).await;
    let admin = AdminRpc::new(Prober::new(Duration::from_secs(5)).expect("prober"));
    let token = GatewayToken::new(TOKEN, "v1");
    wait_admin_rpc(&admin, &base, &token, &gateway).await;

    // Never linked: stopped, linked false, nothing for clawkeeper to restart.
    let accounts = admin.channels_status(&base, &token).await.expect("channels.status");
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    let wa = &accounts[0];
    assert_eq!((wa.channel.as_str(), wa.account.as_str()), ("whatsapp", "default"));
    assert_eq!(
        (wa.lifecycle, wa.linked),
        (Some(Lifecycle::Stopped), Some(false)),
        "{wa:?}"
    );
    assert_eq!(wa.standing(), Standing::Fine);
    let unlinked = admin
        .start_channel(&base, &token, "whatsapp", "default")
        .await
        .expect("channels.start");
    assert_eq!(
        (unlinked.started, unlinked.words().as_str()),
        (false, "skipped: unlinked")
    );
    // A wrong token is refused, and a channel the gateway does not have is an RPC error.
    let wrong = admin
        .channels_status(&base, &GatewayToken::new("not-the-token", "v0"))
        .await
        .expect_err("401");
    assert_eq!(wrong.to_string(), "the gateway refused the token (HTTP 401)");
    let unknown = admin
        .start_channel(&base, &token, "nosuch", "default")
        .await
        .expect_err("no such channel");
    assert!(unknown.to_string().contains("INVALID_REQUEST"), "{unknown}");

    // The reconciler reads it through the probe_url with the token from Secrets Manager, and
    // neither restarts it nor tells the owner anything.
    let stack = Stack::builder()
        .gateway(json!({"probe_url": base}))
        .with_gateway_token(TOKEN)
        .policy(POLICY)
        .with_running_task()
        .start()
        .await;
    let mut reconciler = stack.spawn("reconciler");
    let pass = ok(&mut reconciler, &json!({}));
    let g = &pass["gateways"][0];
    assert_eq!(g["probe"]["outcome"], "live", "{pass}\n{}", reconciler.logs());
    assert_eq!(
        g["channels"]["read"],
        json!([{"channel": "whatsapp", "account": "default", "lifecycle": "stopped"}]),
        "{pass}\n{}",
        reconciler.logs()
    );
    assert_eq!(g["executed"], json!([]), "{pass}");
    assert!(!reconciler.logs().contains(TOKEN), "the token is never logged");

    // Linked (a creds file: OpenClaw counts any parseable one), then started: handed off to the
    // WhatsApp runtime, which tries to connect (and, with no way to WhatsApp here, reconnects).
    let creds = home.path().join(".openclaw/credentials/whatsapp/default");
    std::fs::create_dir_all(&creds).expect("creds dir");
    std::fs::write(
        creds.join("creds.json"),
        r#"{"me":{"id":"15551234567:1@s.whatsapp.net"}}"#,
    )
    .expect("creds");
    let started = admin
        .start_channel(&base, &token, "whatsapp", "default")
        .await
        .expect("channels.start");
    assert_eq!(
        (started.started, started.words().as_str()),
        (true, "handed-off"),
        "{started:?}"
    );
    let again = admin
        .start_channel(&base, &token, "whatsapp", "default")
        .await
        .expect("channels.start");
    assert!(again.started, "running already: {again:?}");
    let accounts = admin.channels_status(&base, &token).await.expect("channels.status");
    assert_eq!(accounts[0].linked, Some(true), "{accounts:?}");

    // Stopped by hand (channels.stop keeps the creds): OpenClaw does not say it was by hand, and
    // nothing says OpenClaw stopped it, so the reconciler leaves it stopped.
    let (status, stopped) = rpc(
        &base,
        "channels.stop",
        json!({"channel": "whatsapp", "accountId": "default"}),
    );
    assert_eq!(
        (status, stopped["payload"]["stopped"].clone()),
        (200, json!(true)),
        "{stopped}"
    );
    let pass = ok(&mut reconciler, &json!({}));
    let g = &pass["gateways"][0];
    assert_eq!(g["channels"]["read"][0]["lifecycle"], "stopped", "{pass}");
    assert_eq!(g["executed"], json!([]), "a stop by hand is not restarted: {pass}");
    assert!(stack.inbox().settle_and_drain().await.is_empty());

    // control status shows the account's lifecycle and /readyz's word.
    let mut control = stack.spawn("control");
    let status = ok(&mut control, &json!({"action": "status"}));
    let watchdog = &status["gateways"][0]["watchdog"];
    assert_eq!(watchdog["channels"]["admin_rpc"]["state"], "read", "{status}");
    assert_eq!(watchdog["channels"]["accounts"][0]["lifecycle"], "stopped", "{status}");
    assert!(watchdog["probe"]["ready"].is_boolean(), "{status}");
    eprintln!("real gateway with the admin RPC: live after {boot:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_blocked_by_a_conflict_is_restarted_once_and_a_repeat_is_told_once() {
    let gateway = StubGateway::start();
    gateway.report(whatsapp_only(whatsapp_blocked_by_conflict()));
    gateway.after_start(whatsapp_only(whatsapp("starting")));
    let stack = Stack::builder()
        .gateway(json!({"probe_url": gateway.url}))
        .with_gateway_token(TOKEN)
        .policy(POLICY)
        .with_running_task()
        .start()
        .await;
    let mut reconciler = stack.spawn("reconciler");

    // Blocked: one channels.start, at once, in the same pass.
    let first = ok(&mut reconciler, &json!({}));
    let executed = first["gateways"][0]["executed"].to_string();
    assert!(
        executed.contains("/channel/whatsapp/default/"),
        "{first}\n{}",
        reconciler.logs()
    );
    assert_eq!(gateway.starts(), [json!({"channel": "whatsapp"})], "{first}");
    assert!(
        gateway
            .authorizations()
            .iter()
            .all(|h| h.ends_with(&format!("Bearer {TOKEN}"))),
        "{:?}",
        gateway.authorizations()
    );
    // Starting, then ready: healed, and the owner hears nothing.
    let second = ok(&mut reconciler, &json!({}));
    assert_eq!(
        second["gateways"][0]["channels"]["read"][0]["lifecycle"], "starting",
        "{second}"
    );
    gateway.report(whatsapp_only(whatsapp("ready")));
    ok(&mut reconciler, &json!({}));
    assert!(
        stack.inbox().settle_and_drain().await.is_empty(),
        "healed without the owner"
    );
    assert_eq!(gateway.starts().len(), 1);

    // The other client takes the session again, inside the window: one notice, no second start.
    gateway.report(whatsapp_only(whatsapp_blocked_by_conflict()));
    ok(&mut reconciler, &json!({}));
    ok(&mut reconciler, &json!({}));
    let got = stack.inbox().settle_and_drain().await;
    assert_eq!(kinds(&got), ["channel_restarted"], "{got:#?}");
    let notice = &got[0];
    assert_eq!(notice.severity, "warning");
    assert!(
        notice.subject.contains("whatsapp blocked again after a restart"),
        "{}",
        notice.subject
    );
    for needle in [
        "stop the other client or second gateway",
        "channels.start",
        "do not relink",
    ] {
        assert!(notice.message.contains(needle), "{needle}:\n{}", notice.message);
    }
    assert_eq!(gateway.starts().len(), 1, "no second start within the window");
    ok(&mut reconciler, &json!({}));
    assert!(stack.inbox().settle_and_drain().await.is_empty(), "told once");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_admin_rpc_the_reconciler_says_why_and_decides_nothing() {
    // The admin-http-rpc plugin off: its route answers 404, as the real gateway's does.
    let gateway = StubGateway::start();
    gateway.report(whatsapp_only(whatsapp_blocked_by_conflict()));
    gateway.disable_admin_rpc();
    let stack = Stack::builder()
        .gateway(json!({"probe_url": gateway.url}))
        .with_gateway_token(TOKEN)
        .policy(POLICY)
        .with_running_task()
        .start()
        .await;
    let mut reconciler = stack.spawn("reconciler");
    for _ in 0..2 {
        let pass = ok(&mut reconciler, &json!({}));
        let g = &pass["gateways"][0];
        assert!(
            g["channels"]["unknown"]
                .as_str()
                .is_some_and(|w| w.starts_with("admin RPC not enabled")),
            "{pass}"
        );
        assert_eq!(g["executed"], json!([]), "{pass}");
        assert_eq!(g["problems"], json!([]), "unknown, never a failure: {pass}");
    }
    assert!(gateway.starts().is_empty());
    assert!(stack.inbox().settle_and_drain().await.is_empty());
    // control status says why the channels are unknown.
    let mut control = stack.spawn("control");
    let status = ok(&mut control, &json!({"action": "status"}));
    let why = &status["gateways"][0]["watchdog"]["channels"]["admin_rpc"];
    assert_eq!(why["state"], "unavailable", "{status}");
    assert!(
        why["why"]
            .as_str()
            .is_some_and(|w| w.contains("openclaw plugins enable admin-http-rpc")),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_stop_in_the_log_is_no_relink_and_still_counts_the_tasks() {
    let stack = Stack::builder()
        .gateway(json!({"log_group": clawkeeper_tests::consts::LOG_GROUP}))
        .policy(POLICY)
        .with_running_task()
        .start()
        .await;
    let mut alerts = stack.spawn("log-alerts");
    // The line OpenClaw 2026.9.6 prints on a 440 (crates/openclaw/tests/fixtures/lines/).
    let line = "2026-11-20T08:00:00.000+00:00 [whatsapp] Web connection closed (status 440: session conflict). \
                Resolve conflicting WhatsApp Web sessions, then restart the channel. To force a fresh QR, run \
                `openclaw channels logout --channel whatsapp` before `openclaw channels login --channel whatsapp`. \
                Stopping web monitoring.";
    let answer = ok(&mut alerts, &clawkeeper_tests::events::log_lines(&[line]));
    assert_eq!(answer["signals"][0]["kind"], "conflict_stopped", "{answer}");
    assert!(
        stack.inbox().settle_and_drain().await.is_empty(),
        "no relink for a conflict that kept the link"
    );
    let logs = alerts.logs();
    assert!(
        logs.contains("running_tasks"),
        "the ECS check for a second task ran:\n{logs}"
    );
}
