//! The admin RPC's answers as the real gateway gives them. `fixtures/` holds bodies captured from
//! OpenClaw 2026.9.6 with `@openclaw/whatsapp` 2026.9.6 on loopback (`gateway run --auth token`,
//! `plugins.entries["admin-http-rpc"].enabled`): a WhatsApp account never linked, one linked (a
//! creds file) and reconnecting with no route to WhatsApp, the same after `channels.stop`, and
//! each `channels.start` answer. Two are derived, not captured (a real 440 or 401 needs a real
//! WhatsApp link): `*-derived.json` set what the plugin's `monitor-state` writes for them
//! (`noteClose` with `healthState` `conflict` / `logged-out`, then `markStopped`).

use std::time::Duration;

use super::*;
use clawkeeper_core::watch::channel_runtime::Standing;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/src/admin_rpc/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn answer(status: u16, body: Vec<u8>) -> Answer {
    Answer {
        status: StatusCode::from_u16(status).expect("status"),
        html: false,
        body: Bytes::from(body),
    }
}

fn status_of(name: &str) -> Vec<ChannelRuntime> {
    let payload = read_answer("channels.status", &answer(200, fixture(name))).expect("payload");
    parse_channels_status(&payload)
}

#[test]
fn the_real_status_of_an_account_never_linked_is_stopped_and_unlinked_and_fine() {
    let accounts = status_of("status-unlinked");
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    let a = &accounts[0];
    assert_eq!((a.channel.as_str(), a.account.as_str()), ("whatsapp", "default"));
    assert_eq!(a.lifecycle, Some(Lifecycle::Stopped));
    assert_eq!(
        (a.linked, a.configured, a.enabled, a.running),
        (Some(false), Some(true), Some(true), Some(false))
    );
    assert_eq!(a.health_state.as_deref(), Some("stopped"));
    assert_eq!(a.standing(), Standing::Fine, "never linked: nothing to restart");
}

#[test]
fn the_real_status_of_a_reconnecting_account_and_of_one_stopped_by_hand() {
    let a = &status_of("status-recovering")[0];
    assert_eq!(a.lifecycle, Some(Lifecycle::Recovering));
    assert_eq!(a.health_state.as_deref(), Some("reconnecting"));
    assert_eq!(
        (a.disconnect_status, a.logged_out, a.running),
        (Some(408), false, Some(true))
    );
    assert_eq!(a.standing(), Standing::Fine, "OpenClaw reconnects it by itself");
    // channels.stop: stopped, no terminal disconnect, nothing that says it was by hand.
    let a = &status_of("status-stopped-by-hand")[0];
    assert_eq!(
        (a.lifecycle, a.running, a.terminal_disconnect),
        (Some(Lifecycle::Stopped), Some(false), false)
    );
    assert_eq!(a.health_state.as_deref(), Some("not-running"));
    assert_eq!(a.standing(), Standing::Stopped { by_openclaw: false });
}

#[test]
fn a_conflict_and_a_logout_as_the_plugin_records_them() {
    let a = &status_of("status-conflict-derived")[0];
    assert_eq!(
        (a.lifecycle, a.disconnect_status, a.terminal_disconnect),
        (Some(Lifecycle::Blocked), Some(440), true)
    );
    assert_eq!(a.standing(), Standing::Conflict);
    let a = &status_of("status-logged-out-derived")[0];
    assert_eq!((a.disconnect_status, a.logged_out), (Some(401), true));
    assert_eq!(a.standing(), Standing::LoggedOut);
}

#[test]
fn the_real_start_answers() {
    let start = |name: &str, status: u16| {
        read_answer("channels.start", &answer(status, fixture(name))).map(|p| parse_start(&p).expect("start"))
    };
    let handed = start("start-handed-off", 200).expect("ok");
    assert_eq!((handed.started, handed.words().as_str()), (true, "handed-off"));
    assert_eq!(
        (handed.channel.as_str(), handed.account.as_str()),
        ("whatsapp", "default")
    );
    let owned = start("start-task-owned", 200).expect("ok");
    assert_eq!((owned.started, owned.words().as_str()), (true, "retry: task-owned"));
    let unlinked = start("start-unlinked", 200).expect("ok");
    assert_eq!(
        (unlinked.started, unlinked.words().as_str()),
        (false, "skipped: unlinked")
    );
    let unknown = start("start-unknown-channel", 400).expect_err("refused");
    assert_eq!(
        unknown.to_string(),
        "channels.start refused: INVALID_REQUEST: invalid channels.start channel"
    );
    let unauthorized = read_answer("channels.status", &answer(401, fixture("unauthorized"))).expect_err("401");
    assert_eq!(unauthorized, RpcMiss::Unauthorized);
}

#[test]
fn a_disabled_plugin_is_not_enabled_and_other_answers_are_not_the_rpc() {
    // The real gateway with the plugin off: the route is not registered.
    let off = read_answer("channels.status", &answer(404, b"Not Found".to_vec())).expect_err("404");
    assert_eq!(off, RpcMiss::NotEnabled);
    assert!(off.to_string().starts_with("admin RPC not enabled"), "{off}");
    // The Control UI's HTML, or JSON that is not the RPC's.
    let html = Answer {
        html: true,
        ..answer(200, b"<!doctype html>".to_vec())
    };
    assert!(matches!(
        read_answer("channels.status", &html),
        Err(RpcMiss::NotTheRpc(_))
    ));
    assert!(matches!(
        read_answer("channels.status", &answer(200, br#"{"ready":true}"#.to_vec())),
        Err(RpcMiss::NotTheRpc(_))
    ));
}

#[test]
fn hostile_status_payloads_are_bounded_and_skipped_where_unusable() {
    let many: Vec<Value> = (0..200)
        .map(|i| json!({"accountId": format!("a{i}"), "lifecycle": "ready"}))
        .collect();
    let payload = json!({"channelAccounts": {
        "whatsapp": many,
        "bad channel": [{"accountId": "x"}],
        "telegram": [{"accountId": ""}, {"accountId": "has space"}, {"noId": true}, "not an object",
                     {"accountId": "ok", "lifecycle": "paused", "lastDisconnect": {"status": 99999}}],
    }});
    let accounts = parse_channels_status(payload.as_object().expect("object"));
    assert_eq!(accounts.len(), MAX_ACCOUNTS);
    let payload = json!({"channelAccounts": {"telegram": [{"accountId": "ok", "lifecycle": "paused",
        "lastDisconnect": {"status": 99999}}]}});
    let accounts = parse_channels_status(payload.as_object().expect("object"));
    assert_eq!(accounts.len(), 1);
    assert_eq!((accounts[0].lifecycle, accounts[0].disconnect_status), (None, None));
    assert!(parse_channels_status(json!({"channelAccounts": []}).as_object().expect("object")).is_empty());
}

/// A gateway on loopback that answers every request with `status` and `body`, and hands back what
/// it was sent.
fn recording_gateway(status: u16, body: &'static str) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten().take(4) {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Head and body: read until the peer pauses.
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen);
                if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                    break;
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&seen).into_owned());
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, rx)
}

#[tokio::test]
async fn a_start_posts_the_method_with_the_token_and_reads_the_answer() {
    let rpc = AdminRpc::new(Prober::new(Duration::from_secs(2)).expect("prober"));
    let token = GatewayToken::new("s3cr3t-token-value", "v1");
    let (base, sent) = recording_gateway(
        200,
        r#"{"id":"x","ok":true,"payload":{"channel":"whatsapp","accountId":"work","started":true,"outcome":{"status":"handed-off"}}}"#,
    );
    let outcome = rpc
        .start_channel(&base, &token, "whatsapp", "work")
        .await
        .expect("answered");
    assert!(outcome.started && outcome.account == "work", "{outcome:?}");
    let request = sent.recv_timeout(Duration::from_secs(2)).expect("sent");
    assert!(request.starts_with("POST /api/v1/admin/rpc HTTP/1.1"), "{request}");
    assert!(request.contains("Bearer s3cr3t-token-value"), "{request}");
    let body = request.split("\r\n\r\n").nth(1).unwrap_or_default();
    let sent_body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {request}"));
    assert_eq!(
        sent_body,
        json!({"method": "channels.start", "params": {"channel": "whatsapp", "accountId": "work"}})
    );
    // The default account goes as no account: OpenClaw picks the channel's default.
    let (base, sent) = recording_gateway(404, "Not Found");
    let miss = rpc
        .start_channel(&base, &token, "whatsapp", "default")
        .await
        .expect_err("404");
    assert_eq!(miss, RpcMiss::NotEnabled);
    let request = sent.recv_timeout(Duration::from_secs(2)).expect("sent");
    let body = request.split("\r\n\r\n").nth(1).unwrap_or_default();
    let sent_body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {request}"));
    assert_eq!(
        sent_body,
        json!({"method": "channels.start", "params": {"channel": "whatsapp"}})
    );
}

#[tokio::test]
async fn the_token_never_goes_over_plain_http_to_a_name_and_a_dead_port_is_no_answer() {
    let rpc = AdminRpc::new(Prober::new(Duration::from_millis(500)).expect("prober"));
    let token = GatewayToken::new("s3cr3t-token-value", "v1");
    let miss = rpc
        .channels_status("http://localhost:18789", &token)
        .await
        .expect_err("withheld");
    assert_eq!(miss, RpcMiss::TokenWithheld);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let miss = rpc
        .channels_status(&format!("http://127.0.0.1:{port}"), &token)
        .await
        .expect_err("refused");
    assert!(
        matches!(&miss, RpcMiss::NoAnswer(why) if why.starts_with("could not reach the gateway")),
        "{miss}"
    );
}
