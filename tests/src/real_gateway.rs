//! A real OpenClaw gateway (`openclaw gateway run` from npm) on a loopback port, in its own
//! process group so stopping it stops its workers too; killed when dropped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::home::{kill_group, openclaw, signal_group, whatsapp_plugin};

/// How the gateway is started.
pub enum Auth<'a> {
    /// `--auth none`: the probes' details need no token.
    None,
    /// `--auth token --token <token>`, with the admin RPC plugin (`admin-http-rpc`) enabled and
    /// the WhatsApp plugin loaded with one account configured (not linked: no creds).
    TokenWithAdminRpc(&'a str),
}

pub struct RealGateway {
    child: std::process::Child,
    log: PathBuf,
}

impl RealGateway {
    /// Starts the gateway with its state in `home/.openclaw`, logging to `home/gateway.log`.
    pub fn start(home: &Path, port: u16, auth: Auth<'_>) -> Self {
        use std::os::unix::process::CommandExt;
        let state = home.join(".openclaw");
        let log_path = home.join("gateway.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log");
        let mut command = std::process::Command::new(openclaw());
        command.args([
            "gateway",
            "run",
            "--allow-unconfigured",
            "--port",
            &port.to_string(),
            "--bind",
            "loopback",
        ]);
        match auth {
            Auth::None => {
                command.args(["--auth", "none"]);
            }
            Auth::TokenWithAdminRpc(token) => {
                std::fs::create_dir_all(&state).expect("state dir");
                std::fs::write(state.join("openclaw.json"), admin_rpc_config(port).to_string()).expect("config");
                command.args(["--auth", "token", "--token", token]);
            }
        }
        let child = command
            .env("HOME", home)
            .env("OPENCLAW_STATE_DIR", &state)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start the gateway");
        Self { child, log: log_path }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Hung for real: every process of the gateway stopped (SIGSTOP). The kernel still completes
    /// TCP handshakes on its listening socket, so a probe connects and then gets no answer.
    pub fn freeze(&self) {
        signal_group(self.child.id(), "STOP");
    }

    pub fn kill(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.wait();
    }

    /// Probes until the gateway is live three times in a row (its first boot can restart once,
    /// when `/healthz` briefly answers 503 while draining); returns how long that took.
    pub async fn wait_live(&self, prober: &clawkeeper_openclaw::probe::Prober, base: &str) -> Duration {
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
        panic!("the real gateway never answered /healthz at {base}:\n{}", self.log());
    }
}

impl Drop for RealGateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The gateway's `openclaw.json` for the admin RPC: the bundled `admin-http-rpc` plugin enabled
/// (`docs/plugins/admin-http-rpc.md`: `plugins.entries["admin-http-rpc"].enabled`), the WhatsApp
/// plugin loaded from its install and one WhatsApp account configured.
fn admin_rpc_config(port: u16) -> Value {
    json!({
        "gateway": {"port": port},
        "plugins": {
            "load": {"paths": [whatsapp_plugin().to_string_lossy()]},
            "entries": {"admin-http-rpc": {"enabled": true}, "whatsapp": {"enabled": true}},
        },
        "channels": {"whatsapp": {"dmPolicy": "pairing", "allowFrom": ["+15551234567"]}},
    })
}
