//! A stand-in OpenClaw gateway that knows its paths: live `/healthz`, ready `/readyz`, started
//! `/startupz`, and the admin RPC (`POST /api/v1/admin/rpc`, OpenClaw's `admin-http-rpc`
//! plugin) answering `channels.status` with the accounts a test sets, and `channels.start` with
//! `handed-off`, recording each start and switching to the accounts the test said a start leads
//! to. The account snapshots have the real gateway's shape (OpenClaw 2026.9.6 with
//! `@openclaw/whatsapp`, `crates/openclaw/src/admin_rpc/fixtures/`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

/// What the stand-in answers and what it was asked.
#[derive(Default)]
struct Script {
    /// `channelAccounts` of `channels.status`.
    accounts: Value,
    /// `channelAccounts` once `channels.start` was called (`None`: unchanged).
    after_start: Option<Value>,
    /// `params` of every `channels.start`.
    starts: Vec<Value>,
    /// Every `Authorization` header sent to the admin RPC.
    authorizations: Vec<String>,
    /// The `admin-http-rpc` plugin is off: its route answers the real gateway's `404 Not Found`.
    admin_rpc_off: bool,
}

/// A running stand-in; it serves until the test process ends.
pub struct StubGateway {
    /// `http://127.0.0.1:<port>`, for a gateway's `probe_url`.
    pub url: String,
    script: Arc<Mutex<Script>>,
}

impl StubGateway {
    /// On a free loopback port, reporting no channel accounts yet.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let script = Arc::new(Mutex::new(Script {
            accounts: json!({}),
            ..Script::default()
        }));
        let shared = Arc::clone(&script);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let script = Arc::clone(&shared);
                thread::spawn(move || serve(stream, &script));
            }
        });
        Self { url, script }
    }

    /// From now on `channels.status` reports these accounts (`{"whatsapp": [<snapshot>]}`).
    pub fn report(&self, channel_accounts: Value) {
        let mut script = self.script.lock().expect("script");
        script.accounts = channel_accounts;
        script.after_start = None;
    }

    /// The next `channels.start` makes `channels.status` report these accounts.
    pub fn after_start(&self, channel_accounts: Value) {
        self.script.lock().expect("script").after_start = Some(channel_accounts);
    }

    /// From now on the admin RPC's route is not registered (the plugin disabled).
    pub fn disable_admin_rpc(&self) {
        self.script.lock().expect("script").admin_rpc_off = true;
    }

    /// The `params` of every `channels.start` so far.
    pub fn starts(&self) -> Vec<Value> {
        self.script.lock().expect("script").starts.clone()
    }

    /// The `Authorization` headers the admin RPC was sent.
    pub fn authorizations(&self) -> Vec<String> {
        self.script.lock().expect("script").authorizations.clone()
    }
}

/// The default WhatsApp account, linked, in `lifecycle`, as `channels.status` shows it.
pub fn whatsapp(lifecycle: &str) -> Value {
    let running = matches!(lifecycle, "starting" | "ready" | "recovering");
    json!({"accountId": "default", "enabled": true, "configured": true, "linked": true,
        "running": running, "connected": lifecycle == "ready", "restartPending": false,
        "reconnectAttempts": 0, "lifecycle": lifecycle,
        "healthState": if lifecycle == "ready" { "healthy" } else { lifecycle },
        "lastStartAt": 1_796_183_802_035_i64, "lastStopAt": null, "lastDisconnect": null,
        "dmPolicy": "pairing", "allowFrom": ["+15551234567"], "lastError": null})
}

/// What a 440 leaves in 2026.9: blocked, `conflict`, a terminal disconnect, the link kept.
pub fn whatsapp_blocked_by_conflict() -> Value {
    let mut account = whatsapp("blocked");
    if let Some(a) = account.as_object_mut() {
        a.insert("healthState".into(), json!("conflict"));
        a.insert("terminalDisconnect".into(), json!(true));
        a.insert(
            "lastDisconnect".into(),
            json!({"at": 1_796_183_808_848_i64, "status": 440, "error": "Stream Errored (conflict)", "loggedOut": false}),
        );
        a.insert("lastError".into(), json!("Stream Errored (conflict)"));
    }
    account
}

/// `{"whatsapp": [account]}`.
pub fn whatsapp_only(account: Value) -> Value {
    json!({ "whatsapp": [account] })
}

fn serve(stream: TcpStream, script: &Mutex<Script>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(clone) = stream.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    let mut authorization = None;
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("authorization:") {
            authorization = Some(line.trim_end().to_string());
        }
        line.clear();
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let mut stream = stream;
    if path == "/api/v1/admin/rpc" && script.lock().expect("script").admin_rpc_off {
        let _ = write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found"
        );
        return;
    }
    let (status, answer) = match path {
        "/healthz" => (200, json!({"ok": true, "status": "live"})),
        "/readyz" => (200, json!({"ready": true, "failing": []})),
        "/startupz" => (200, json!({"status": "started"})),
        "/api/v1/admin/rpc" => rpc(&body, authorization, script),
        _ => (404, json!({"error": "not found"})),
    };
    let text = answer.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn rpc(body: &[u8], authorization: Option<String>, script: &Mutex<Script>) -> (u16, Value) {
    let mut script = script.lock().expect("script");
    let Some(authorization) = authorization else {
        return (
            401,
            json!({"error": {"message": "Unauthorized", "type": "unauthorized"}}),
        );
    };
    script.authorizations.push(authorization);
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match request["method"].as_str() {
        Some("channels.status") => (
            200,
            json!({"id": "stub", "ok": true, "payload": {"ts": 0, "channelOrder": ["whatsapp"],
                "channelLabels": {"whatsapp": "WhatsApp"}, "channels": {},
                "channelAccounts": script.accounts.clone(), "channelDefaultAccountId": {"whatsapp": "default"}}}),
        ),
        Some("channels.start") => {
            let params = request["params"].clone();
            script.starts.push(params.clone());
            if let Some(next) = script.after_start.take() {
                script.accounts = next;
            }
            (
                200,
                json!({"id": "stub", "ok": true, "payload": {"channel": params["channel"],
                    "accountId": params["accountId"].as_str().unwrap_or("default"),
                    "started": true, "outcome": {"status": "handed-off"}}}),
            )
        }
        _ => (
            400,
            json!({"id": "stub", "ok": false, "error": {"code": "INVALID_REQUEST", "message": "unknown method"}}),
        ),
    }
}
