//! The gateway's home (`/home/node` on its volume) as tests make it, and the real OpenClaw.

use std::fs;
use std::path::{Path, PathBuf};

/// Writes a small OpenClaw home under `root`: `.openclaw/openclaw.json` and a WhatsApp
/// `creds.json`, enough for a real snapshot (and a restore of it).
pub fn write_small_state(root: &Path) {
    let state = root.join(".openclaw");
    fs::create_dir_all(state.join("credentials/whatsapp/default")).expect("state dir");
    fs::write(state.join("openclaw.json"), r#"{"gateway":{"port":18789}}"#).expect("config");
    fs::write(
        state.join("credentials/whatsapp/default/creds.json"),
        r#"{"me":{"id":"1"}}"#,
    )
    .expect("creds");
}

/// `len` bytes that gzip cannot shrink (xorshift from `seed`).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = seed | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// The `openclaw` launcher: `CLAWKEEPER_OPENCLAW`, else `.cache/openclaw/bin/openclaw`. Fails
/// (never skips) when it is missing: the interop tests are the proof that archives are real
/// OpenClaw backups and that probes read a real gateway.
pub fn openclaw() -> PathBuf {
    let path = std::env::var_os("CLAWKEEPER_OPENCLAW")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join(".cache/openclaw/bin/openclaw"));
    assert!(
        path.exists(),
        "OpenClaw not found at {}: run `scripts/install-openclaw.sh` (or `make test`), or set CLAWKEEPER_OPENCLAW",
        path.display()
    );
    path
}

/// Kills a process group (`pgid`, a process started with `process_group(0)`) with SIGKILL: a
/// gateway and its workers.
pub fn kill_group(pgid: u32) {
    signal_group(pgid, "KILL");
}

/// Sends `signal` (`STOP`, `TERM`...) to every process of the group `pgid`.
pub fn signal_group(pgid: u32, signal: &str) {
    // A negative pid names the process group.
    let _ = std::process::Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .status();
}

/// The WhatsApp channel plugin of the same release (`@openclaw/whatsapp`, which OpenClaw ships
/// outside its core package), installed beside OpenClaw by `scripts/install-openclaw.sh`: a test
/// gateway loads it from here (`plugins.load.paths`). Fails (never skips) when it is missing.
pub fn whatsapp_plugin() -> PathBuf {
    let launcher = openclaw();
    let dir = launcher
        .parent()
        .and_then(Path::parent)
        .map(|root| root.join("node_modules/@openclaw/whatsapp"))
        .unwrap_or_default();
    assert!(
        dir.join("package.json").exists(),
        "the WhatsApp plugin is not at {}: run `scripts/install-openclaw.sh` (or `make test`)",
        dir.display()
    );
    dir
}
