//! Shared by the snapshot and restore tests: the stack of the `snapshot` and `restore` functions,
//! the real OpenClaw, a state dir a real gateway wrote (made once and cached under `target/`), and
//! WhatsApp-style creds.

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clawkeeper_snapshot::capture::HashingWriter;
use clawkeeper_tests::home::{kill_group, openclaw};
use clawkeeper_tests::stack::StackBuilder;
use clawkeeper_tests::{Stack, workspace_root};
use rusqlite::Connection;

/// moto with the state table and the snapshot bucket, and the environment of the `snapshot` and `restore` functions:
/// one gateway `home` at [`Stack::state_root`] (not created), `TMPDIR` [`Stack::scratch`].
pub fn snapshot_stack() -> StackBuilder {
    Stack::bare().with_table().with_bucket().with_state_root()
}

/// The snapshot status the `snapshot` function recorded for `gateway` in the state table, read
/// through the adapter the reconciler reads it with.
pub async fn snapshot_status(
    stack: &Stack,
    gateway: &str,
) -> Option<clawkeeper_core::ports::SnapshotStatus<clawkeeper_snapshot::status::FailureRecord>> {
    use clawkeeper_core::ports::SnapshotStatusStore;
    clawkeeper_aws::dynamodb::DynamoStore::new(&stack.sdk, clawkeeper_tests::consts::TABLE)
        .snapshot_status(gateway)
        .await
        .expect("snapshot status readable")
}

/// The SHA-256 of `bytes`, lowercase hex, as clawkeeper's sidecars record it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut hashing = HashingWriter::new(std::io::sink());
    hashing.write_all(bytes).expect("hash");
    hashing.finish().2
}

/// Runs `openclaw <args>` with `HOME` (and the state dir) pointed at `home`; returns status
/// success, stdout and stderr.
pub fn run_openclaw(home: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(openclaw())
        .args(args)
        .env("HOME", home)
        .env("OPENCLAW_STATE_DIR", home.join(".openclaw"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run openclaw");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A home dir (`<dir>/.openclaw`) written by a real gateway run, made once and cached in
/// `target/clawkeeper-openclaw-state/home`.
pub fn real_gateway_home() -> PathBuf {
    let cache = workspace_root().join("target/clawkeeper-openclaw-state");
    let home = cache.join("home");
    if home.join(".openclaw/state/openclaw.sqlite").exists() {
        return home;
    }
    // One creator across concurrently running test binaries: mkdir is atomic.
    let lock = cache.join(".creating");
    fs::create_dir_all(&cache).expect("cache dir");
    let deadline = Instant::now() + Duration::from_secs(180);
    while fs::create_dir(&lock).is_err() {
        assert!(Instant::now() < deadline, "waited too long for {}", lock.display());
        std::thread::sleep(Duration::from_millis(500));
        if home.join(".openclaw/state/openclaw.sqlite").exists() {
            return home;
        }
    }
    let staging = cache.join("staging");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).expect("staging");
    run_gateway_once(&staging);
    let _ = fs::remove_dir_all(&home);
    fs::rename(&staging, &home).expect("publish the state");
    let _ = fs::remove_dir(&lock);
    home
}

fn run_gateway_once(home: &Path) {
    let mut gateway = RunningGateway::start_logging_to(home, home.with_extension("log"));
    let live = gateway.wait_live(Duration::from_secs(120));
    // Let it finish its first writes, then stop it the way ECS does (SIGTERM).
    std::thread::sleep(Duration::from_secs(5));
    let (port, log) = (gateway.port, gateway.log.clone());
    gateway.stop(Duration::from_secs(30));
    assert!(
        live.is_ok(),
        "the gateway never answered /healthz on port {port} ({live:?}); see {}",
        log.display()
    );
}

/// Copies a tree with `cp -a` (keeps modes, times and links).
pub fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().expect("cp");
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}

/// Writes a WhatsApp (Baileys) account dir: `creds.json`, `creds.json.bak` and `keys` key files
/// of each kind. Returns the account dir.
pub fn add_whatsapp_creds(state_dir: &Path, account: &str, keys: usize) -> PathBuf {
    let dir = state_dir.join("credentials/whatsapp").join(account);
    fs::create_dir_all(&dir).expect("creds dir");
    let creds = serde_json::json!({
        "noiseKey": {"private": {"type": "Buffer", "data": "c2VjcmV0LW5vaXNl"}, "public": {"type": "Buffer", "data": "cHVi"}},
        "signedIdentityKey": {"private": {"type": "Buffer", "data": "aWQ="}},
        "registrationId": 4242,
        "advSecretKey": "YWR2",
        "me": {"id": "15550001111:1@s.whatsapp.net"},
        "platform": "android"
    });
    fs::write(dir.join("creds.json"), serde_json::to_vec_pretty(&creds).expect("json")).expect("creds");
    fs::write(
        dir.join("creds.json.bak"),
        serde_json::to_vec_pretty(&creds).expect("json"),
    )
    .expect("bak");
    for i in 0..keys {
        let key = serde_json::json!({"keyPair": {"private": format!("priv-{i:06}"), "public": format!("pub-{i:06}")}, "keyId": i});
        let body = serde_json::to_vec(&key).expect("json");
        fs::write(dir.join(format!("pre-key-{i}.json")), &body).expect("pre-key");
        if i % 2 == 0 {
            fs::write(dir.join(format!("session-1555000{i:04}.0.json")), &body).expect("session");
        }
        if i % 10 == 0 {
            fs::write(dir.join(format!("sender-key-group{i}--1555000{i:04}--0.json")), &body).expect("sender");
            fs::write(dir.join(format!("app-state-sync-key-AAAAA{i:05}.json")), &body).expect("sync");
        }
    }
    dir
}

/// Creates a rollback-journal SQLite database with `rows` rows in table `items`.
pub fn make_database(path: &Path, rows: i64) {
    fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    let mut conn = Connection::open(path).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode=DELETE; CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, batch INTEGER, body TEXT);",
    )
    .expect("schema");
    let tx = conn.transaction().expect("tx");
    for i in 0..rows {
        tx.execute(
            "INSERT INTO items(batch, body) VALUES (?1, ?2)",
            rusqlite::params![i / 10, format!("row {i} {}", "x".repeat(200))],
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
}

/// Table name -> row count of every table of a database.
pub fn table_counts(path: &Path) -> Vec<(String, i64)> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("tables");
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    names
        .into_iter()
        .map(|name| {
            let count = conn
                .query_row(&format!("SELECT count(*) FROM \"{name}\""), [], |r| r.get(0))
                .expect("count");
            (name, count)
        })
        .collect()
}

/// Every regular file under `root` (relative paths, sorted).
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("meta");
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// A real OpenClaw gateway running on `home` (its `.openclaw`), in its own process group.
/// Dropping it kills the whole group, whatever the test did before: never a stray gateway.
pub struct RunningGateway {
    child: std::process::Child,
    pgid: u32,
    /// Its loopback port.
    pub port: u16,
    /// Where its output goes.
    pub log: PathBuf,
}

impl RunningGateway {
    /// Starts `openclaw gateway run` on `home` (HOME and OPENCLAW_STATE_DIR under it).
    pub fn start(home: &Path) -> Self {
        Self::start_logging_to(home, home.with_extension("gateway.log"))
    }

    /// As [`RunningGateway::start`], its output going to `log`.
    pub fn start_logging_to(home: &Path, log: PathBuf) -> Self {
        use std::os::unix::process::CommandExt;
        let port = clawkeeper_tests::moto::free_port();
        let out = fs::File::create(&log).expect("log");
        let child = Command::new(openclaw())
            .args([
                "gateway",
                "run",
                "--allow-unconfigured",
                "--port",
                &port.to_string(),
                "--auth",
                "none",
                "--bind",
                "loopback",
            ])
            .env("HOME", home)
            .env("OPENCLAW_STATE_DIR", home.join(".openclaw"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("start the gateway");
        let pgid = child.id();
        Self { child, pgid, port, log }
    }

    /// Waits until `/healthz` answers `{"ok":true...}`; the body seen last otherwise.
    pub fn wait_live(&mut self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the gateway exited ({status}); see {}", self.log.display()));
            }
            if let Ok(answer) = clawkeeper_tests::http::request(
                &format!("127.0.0.1:{}", self.port),
                "GET",
                "/healthz",
                b"",
                Duration::from_secs(2),
            ) {
                last = String::from_utf8_lossy(&answer.body).into_owned();
                if serde_json::from_str::<serde_json::Value>(&last).is_ok_and(|v| v["ok"] == true) {
                    return Ok(last);
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Err(format!("last /healthz answer: {last}; see {}", self.log.display()))
    }

    /// Stops it the way ECS does: SIGTERM to the gateway, up to `grace` for it to exit, then
    /// SIGKILL to whatever is left of its process group (on drop).
    pub fn stop(mut self, grace: Duration) {
        let _ = Command::new("kill")
            .args(["-s", "TERM", &self.pgid.to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        // The gateway and its workers.
        kill_group(self.pgid);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
