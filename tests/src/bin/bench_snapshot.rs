//! `bench_snapshot`: one snapshot of a realistic gateway state beside its peers and its floor, and
//! the restore of that snapshot beside its floor, in one run, printed to stdout as a markdown
//! section (`scripts/bench.sh` appends it to `docs/BENCHMARKS.md`).
//!
//! The main state (made once, cached in `target/clawkeeper-bench-state/`): a state dir a real
//! gateway wrote (from the interop tests' cache), plus 1,000 WhatsApp-style creds JSON files and
//! about 300 MB of SQLite in rollback-journal mode across three more databases. Programs that read
//! it and, where they upload, write to the same moto S3 endpoint:
//! - the release `snapshot` function through the Runtime API emulator (consistent SQLite
//!   copies, tar+gzip streamed into a multipart upload with S3's CRC-64/NVME and verified as it
//!   streams), pinned to one core as a Lambda of 1,769 MB has one vCPU, at the default gzip level
//!   and at the others of `LEVELS_COMPARED`;
//! - `openclaw backup create` (the real OpenClaw from npm) writing its archive to local disk;
//! - the `aws s3 sync` peer: boto3's S3 transfer manager (the library `aws s3 sync` is built on,
//!   same 8 MiB multipart threshold and 10 concurrent requests) uploading every file of the
//!   state dir, from a small Python script in the project venv (the AWS CLI is not installed);
//! - the compression floor: `tar | gzip -1` of the files the archivers keep, on one core, to
//!   `/dev/null` (no SQLite copy, no hashing, no upload, no verification).
//!
//! Then the release `restore` function puts that snapshot back into an empty home (one core too),
//! beside `tar -xzf` of the same archive on one core. The function logs a `snapshot profile` line
//! (where its time went); its `*_ms` and `*_bytes` fields are printed as they come.
//!
//! The large case (`BENCH_LARGE_GB`, default 5; 0 skips it, cached in
//! `target/clawkeeper-bench-large-<GB>gb/`): one agent database of 4/5 of that size (chat-message
//! text and float32 embeddings, 3:1 by bytes) plus the same creds, snapshotted while a live writer
//! commits a row every 20 ms, against Lambda's 900 s limit; its floor and its restore likewise
//! (`BENCH_LARGE_RESTORE=0` skips the restore).
//!
//! Wall time and peak resident memory of each: the functions' `VmHWM` from `/proc` after their
//! invocation (their whole life), the others' maximum RSS from `/usr/bin/time`. Numbers only: a
//! missed goal is said, never asserted.
//! Run with the functions built in release: `cargo build --release -p snapshot -p restore`.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clawkeeper_tests::consts::{BUCKET, CLUSTER, GATEWAY, SERVICE, TABLE};
use clawkeeper_tests::function::bin_path;
use clawkeeper_tests::{FunctionProcess, Invocation, Moto, clawkeeper_env, workspace_root};
use rusqlite::Connection;
use serde_json::{Value, json};

/// The core the measured programs run on; moto gets the other, so the upload's server does not
/// take the function's core.
const MEASURED_CPU: &str = "1";
const MOTO_CPU: &str = "0";
/// Lambda's longest invocation.
const LAMBDA_LIMIT: Duration = Duration::from_secs(900);
/// Top-level dirs of the state both archivers leave out (regenerable caches), so the floor
/// compresses what they keep.
const EXCLUDED_ROOTS: &[&str] = &["cache", "tmp"];
/// Where OpenClaw keeps an agent's database; the large case's one database is there.
const LARGE_DB: &str = "agents/main/agent/openclaw-agent.sqlite";
/// The live writer's pace and patience, as a gateway's own writes would be.
const WRITER_INTERVAL: Duration = Duration::from_millis(20);
const WRITER_BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// The goals the section checks (docs/BENCHMARKS.md): numbers only.
/// gzip levels measured beside the default on the main state.
const LEVELS_COMPARED: &[u32] = &[2, 6];
const GOAL_VS_SYNC: f64 = 0.5;
const GOAL_VS_FLOOR: f64 = 1.5;
const GOAL_PEAK_MB: f64 = 128.0;

/// One measured program.
struct Row {
    name: &'static str,
    what: &'static str,
    wall: Duration,
    peak_kib: Option<u64>,
    /// The bytes its throughput is of (the state read, or the files restored).
    basis: u64,
    output_bytes: Option<u64>,
    note: String,
}

/// A snapshot function run: its row, the archive it made and the profile it logged.
struct Snapshot {
    row: Row,
    key: String,
    profile: Option<Vec<(String, f64)>>,
}

/// What the live writer saw while the snapshot ran.
#[derive(Default)]
struct WriterReport {
    commits: u64,
    busy: u64,
    other_errors: u64,
    longest: Duration,
    first_error: Option<String>,
}

/// The large case's figures.
struct Large {
    files: u64,
    bytes: u64,
    db_bytes: u64,
    snapshot: Result<Snapshot, String>,
    writer: WriterReport,
    floor: Row,
    restore: Option<Vec<Result<Row, String>>>,
}

#[tokio::main]
async fn main() {
    let run = Instant::now();
    let home = bench_state();
    let state = home.join(".openclaw");
    let (files, bytes) = tree_size(&state);
    eprintln!("bench_snapshot: state {} files, {} MB", files, bytes >> 20);

    let moto = Moto::start();
    let moto_pinned = pin_moto(&moto);
    let sdk = moto.sdk_config().await;
    let s3 = clawkeeper_tests::s3::client(&sdk);
    if let Err(e) = s3.create_bucket().bucket(BUCKET).send().await {
        fail(&format!("create bucket: {e}"));
    }
    // The restore function takes its stop permit from the state table.
    clawkeeper_tests::aws_setup::create_table(&sdk, TABLE).await;

    let snapshot = snapshot_function(&moto, &home, None).unwrap_or_else(|e| fail(&e));
    let floor = compression_floor(&state);
    let rows = vec![
        snapshot.row,
        openclaw_backup(&home),
        transfer_peer(&moto, &state),
        floor,
    ];
    let restores = restore_rows(&moto, &sdk, &home, &snapshot.key).await;
    // The same state at other gzip levels: what the default level trades. After the restore: each
    // run's retention may remove the archive restored above.
    let levels: Vec<(u32, Result<Row, String>)> = LEVELS_COMPARED
        .iter()
        .map(|&level| (level, snapshot_function(&moto, &home, Some(level)).map(|s| s.row)))
        .collect();
    let main_secs = run.elapsed();
    eprintln!("bench_snapshot: main case done in {:.0} s", main_secs.as_secs_f64());

    let large = match large_gb() {
        0 => None,
        gb => Some(large_case(&moto, &sdk, gb, &state).await),
    };
    // Regenerable caches both archivers leave out (the sync peer uploads them too).
    let regenerable: u64 = EXCLUDED_ROOTS.iter().map(|d| tree_size(&state.join(d)).1).sum();
    let mut doc = render(&rows, files, bytes, regenerable, moto_pinned);
    doc.push_str(&render_levels(&rows[0], &levels));
    doc.push_str(&render_restore(&restores));
    doc.push_str(&render_profile("the main state", snapshot.profile.as_deref()));
    if let Some(large) = &large {
        doc.push_str(&render_large(large));
    }
    doc.push_str(&render_goals(&rows, snapshot.profile.as_deref(), large.as_ref()));
    print!("{doc}");
    eprintln!(
        "bench_snapshot: done in {:.0} s (main case {:.0} s)",
        run.elapsed().as_secs_f64(),
        main_secs.as_secs_f64()
    );
}

fn fail(message: &str) -> ! {
    eprintln!("bench_snapshot: {message}");
    std::process::exit(1);
}

/// `BENCH_LARGE_GB`: the large state's size in GB (0: no large case).
fn large_gb() -> u64 {
    match std::env::var("BENCH_LARGE_GB") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| fail(&format!("BENCH_LARGE_GB must be a whole number of GB, not {v:?}"))),
        Err(_) => 5,
    }
}

// ---------------------------------------------------------------------------------------------
// The states

/// The cached state: `<cache>/home/.openclaw`, made once.
fn bench_state() -> PathBuf {
    let cache = workspace_root().join("target/clawkeeper-bench-state");
    let home = cache.join("home");
    let done = cache.join(".complete");
    if done.exists() {
        return home;
    }
    eprintln!("bench_snapshot: generating the state once into {}", cache.display());
    let _ = fs::remove_dir_all(&cache);
    // A state dir a real gateway wrote (OpenClaw's backup checks its own databases' schema).
    let real = workspace_root().join("target/clawkeeper-openclaw-state/home/.openclaw");
    if !real.join("state/openclaw.sqlite").exists() {
        fail("no real gateway state: run `cargo test -p clawkeeper-tests --test snapshot_openclaw` once first");
    }
    mkdir(&home);
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&real)
        .arg(home.join(".openclaw"))
        .status();
    if !copied.is_ok_and(|s| s.success()) {
        fail("copying the real gateway state failed");
    }
    let state = home.join(".openclaw");
    let mut rng = 0x2545_F491_4F6C_DD1D_u64;
    write_creds(&state, &mut rng);
    // About 300 MB of SQLite: sessions and transcripts as text rows, like OpenClaw's.
    for (path, mb) in [
        ("state/openclaw.sqlite", 40),
        ("agents/main/agent/openclaw-agent.sqlite", 200),
        ("agents/work/agent/openclaw-agent.sqlite", 60),
    ] {
        make_db(&state.join(path), mb, &mut rng);
    }
    write(&done, "");
    home
}

/// 1,000 WhatsApp creds files (creds.json, its .bak, and key files of each Baileys kind) and
/// the gateway config.
fn write_creds(state: &Path, rng: &mut u64) {
    let account = state.join("credentials/whatsapp/default");
    mkdir(&account);
    let creds = json!({"registrationId": 4242, "me": {"id": "1555:1@s.whatsapp.net"}}).to_string();
    write(&account.join("creds.json"), &creds);
    write(&account.join("creds.json.bak"), &creds);
    for i in 0..998 {
        let name = match i % 4 {
            0 => format!("pre-key-{i}.json"),
            1 => format!("session-1555000{i:04}.0.json"),
            2 => format!("sender-key-group{i}--1555000{i:04}--0.json"),
            _ => format!("app-state-sync-key-AAAAA{i:05}.json"),
        };
        let key: String = (0..32).map(|_| format!("{:02x}", next(rng) as u8)).collect();
        let body = json!({"keyPair": {"private": key, "public": key}, "keyId": i}).to_string();
        write(&account.join(name), &body);
    }
    write(
        &state.join("openclaw.json"),
        &json!({"gateway": {"mode": "local"}}).to_string(),
    );
}

fn mkdir(dir: &Path) {
    fs::create_dir_all(dir).unwrap_or_else(|e| fail(&format!("mkdir {}: {e}", dir.display())));
}

fn write(path: &Path, body: &str) {
    fs::write(path, body).unwrap_or_else(|e| fail(&format!("write {}: {e}", path.display())));
}

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

const WORDS: &[&str] = &[
    "the",
    "gateway",
    "message",
    "whatsapp",
    "reply",
    "agent",
    "session",
    "tool",
    "call",
    "result",
    "user",
    "assistant",
    "please",
    "schedule",
    "meeting",
    "tomorrow",
    "file",
    "search",
    "weather",
    "thanks",
    "ok",
    "error",
    "retry",
    "link",
    "photo",
    "voice",
    "note",
    "summary",
    "calendar",
    "remind",
];

/// A chat message body of `words` words into `body` (cleared first).
fn message_body(body: &mut String, words: usize, rng: &mut u64) {
    body.clear();
    for i in 0..words {
        if i > 0 {
            body.push(' ');
        }
        body.push_str(WORDS[(next(rng) % WORDS.len() as u64) as usize]);
    }
}

/// A rollback-journal database of about `mb` MB of transcript-like text.
fn make_db(path: &Path, mb: u64, rng: &mut u64) {
    if let Some(parent) = path.parent() {
        mkdir(parent);
    }
    let result = (|| -> rusqlite::Result<()> {
        let mut conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=DELETE; CREATE TABLE transcripts(id INTEGER PRIMARY KEY, session TEXT, at INTEGER, body TEXT);",
        )?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare("INSERT INTO transcripts(session, at, body) VALUES (?1, ?2, ?3)")?;
            let mut body = String::new();
            for i in 0..mb * 1024 {
                message_body(&mut body, 160, rng);
                insert.execute(rusqlite::params![format!("s{}", i % 500), i as i64, body])?;
            }
        }
        tx.commit()
    })();
    if let Err(e) = result {
        fail(&format!("{}: {e}", path.display()));
    }
}

/// The large state, `<cache>/home/.openclaw`, made once: the main state's creds and config, and
/// one agent database of `gb` × 4/5 GiB.
fn large_state(gb: u64, main_state: &Path) -> PathBuf {
    let cache = workspace_root().join(format!("target/clawkeeper-bench-large-{gb}gb"));
    let home = cache.join("home");
    let done = cache.join(".complete");
    if done.exists() {
        return home;
    }
    eprintln!(
        "bench_snapshot: generating the {gb} GB state once into {}",
        cache.display()
    );
    let _ = fs::remove_dir_all(&cache);
    let state = home.join(".openclaw");
    mkdir(&state);
    let copied = Command::new("cp")
        .arg("-a")
        .arg(main_state.join("credentials"))
        .arg(main_state.join("openclaw.json"))
        .arg(&state)
        .status();
    if !copied.is_ok_and(|s| s.success()) {
        fail("copying the creds into the large state failed");
    }
    let started = Instant::now();
    make_agent_db(&state.join(LARGE_DB), gb * (4 << 30) / 5);
    eprintln!("bench_snapshot: generated in {:.0} s", started.elapsed().as_secs_f64());
    write(&done, "");
    home
}

/// A rollback-journal agent database of about `bytes`: chat messages (about 1 KB of text each)
/// and, for every four, a 384-dimension float32 embedding, so text and embeddings are 3:1 by
/// bytes. Made in large transactions with `synchronous=OFF`: minutes, not hours, for 4 GB.
fn make_agent_db(path: &Path, bytes: u64) {
    if let Some(parent) = path.parent() {
        mkdir(parent);
    }
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    let result = (|| -> rusqlite::Result<()> {
        let mut conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;
             CREATE TABLE messages(id INTEGER PRIMARY KEY, session TEXT, role TEXT, at INTEGER, body TEXT);
             CREATE TABLE embeddings(id INTEGER PRIMARY KEY, message_id INTEGER, model TEXT, vector BLOB);",
        )?;
        let (mut written, mut id, mut reported) = (0u64, 0i64, 0u64);
        let mut body = String::new();
        let mut vector = vec![0u8; 384 * 4];
        // SQLite's pages and records add about a quarter to the payload.
        while written * 5 / 4 < bytes {
            let tx = conn.transaction()?;
            {
                let mut message =
                    tx.prepare("INSERT INTO messages(id, session, role, at, body) VALUES (?1, ?2, ?3, ?4, ?5)")?;
                let mut embedding = tx.prepare(
                    "INSERT INTO embeddings(message_id, model, vector) VALUES (?1, 'text-embedding-3-small', ?2)",
                )?;
                for _ in 0..50_000 {
                    id += 1;
                    message_body(&mut body, 160, &mut rng);
                    let role = if id % 2 == 0 { "assistant" } else { "user" };
                    message.execute(rusqlite::params![id, format!("s{}", id % 2000), role, id, body])?;
                    written += body.len() as u64;
                    if id % 4 == 0 {
                        fill_embedding(&mut vector, &mut rng);
                        embedding.execute(rusqlite::params![id, vector])?;
                        written += vector.len() as u64;
                    }
                }
            }
            tx.commit()?;
            if written >> 30 > reported {
                reported = written >> 30;
                eprintln!("bench_snapshot: {reported} GiB written");
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        fail(&format!("{}: {e}", path.display()));
    }
}

/// Small floats around zero, as an embedding model's output: their low mantissa bits are noise,
/// so they compress about as badly as real embeddings.
fn fill_embedding(vector: &mut [u8], rng: &mut u64) {
    for value in vector.chunks_exact_mut(4) {
        let unit = (next(rng) >> 40) as f32 / (1u64 << 24) as f32;
        value.copy_from_slice(&((unit - 0.5) * 0.2).to_le_bytes());
    }
}

fn tree_size(root: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for item in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(meta) = fs::symlink_metadata(item.path()) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(item.path());
            } else if meta.is_file() {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

// ---------------------------------------------------------------------------------------------
// Processes: pinning, timing, memory

/// `program args...` under `taskset -c <cpu>`: taskset execs the program, so the pid stays its.
fn pinned(cpu: &str, program: &Path) -> Command {
    let mut command = Command::new("taskset");
    command.arg("-c").arg(cpu).arg(program);
    command
}

/// Moves moto (all its threads) to [`MOTO_CPU`], found by its port among the processes; false
/// when it was not found or taskset failed (the prose says so).
fn pin_moto(moto: &Moto) -> bool {
    let endpoint = moto.endpoint();
    let Some(port) = endpoint.rsplit(':').next() else {
        return false;
    };
    let Some(pid) = moto_pid(port) else {
        eprintln!("bench_snapshot: moto_server's pid not found: not pinned");
        return false;
    };
    // `-a` walks its threads; one that ends meanwhile fails the walk: try again.
    let pinned = (0..5).any(|_| {
        Command::new("taskset")
            .args(["-a", "-cp", MOTO_CPU, &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !pinned {
        eprintln!("bench_snapshot: taskset of moto_server ({pid}) failed: not pinned");
    }
    pinned
}

fn moto_pid(port: &str) -> Option<u32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_moto = args.iter().any(|a| a.ends_with(b"moto_server"));
        let on_port = args.windows(2).any(|w| w[0] == b"-p" && w[1] == port.as_bytes());
        (is_moto && on_port).then_some(pid)
    })
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A command's wall time (measured here), maximum RSS (from `/usr/bin/time`) and output.
struct Timed {
    wall: Duration,
    peak_kib: Option<u64>,
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `command` under `/usr/bin/time -f "%M"`.
fn timed(command: Command) -> Timed {
    let report = std::env::temp_dir().join(format!("bench-snapshot-time-{}", std::process::id()));
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(command.get_program());
    timed.args(command.get_args());
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let started = Instant::now();
    let output = timed.stdin(Stdio::null()).output();
    let wall = started.elapsed();
    let (ok, stdout, stderr) = match output {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => (false, String::new(), e.to_string()),
    };
    let peak_kib = fs::read_to_string(&report)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    let _ = fs::remove_file(&report);
    Timed {
        wall,
        peak_kib,
        ok,
        stdout,
        stderr,
    }
}

// ---------------------------------------------------------------------------------------------
// The snapshot side

/// The function environment for gateway `home` at `state_root`, scratch in `scratch`.
fn function_env(moto: &Moto, state_root: &Path, scratch: &Path) -> Vec<(String, String)> {
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(&json!([{
        "id": GATEWAY, "cluster": CLUSTER, "service": SERVICE,
        "state_root": state_root.to_string_lossy()
    }])));
    mkdir(scratch);
    env.push(("TMPDIR".into(), scratch.to_string_lossy().into_owned()));
    env
}

/// Starts the release function `name` on [`MEASURED_CPU`].
fn spawn_pinned(name: &str, env: &[(String, String)]) -> FunctionProcess {
    let bin = bin_path(name);
    if !bin.exists() {
        fail(&format!(
            "{} not found: `cargo build --release -p {name}` and set CLAWKEEPER_BIN_DIR",
            bin.display()
        ));
    }
    FunctionProcess::spawn_command(name, pinned(MEASURED_CPU, &bin), env)
}

/// Invokes `function` with `event` under Lambda's own limit as its deadline.
fn invoke_limited(function: &mut FunctionProcess, event: &Value) -> (Duration, Invocation) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let id = format!("bench-{nanos}");
    let started = Instant::now();
    let outcome = function.invoke_as(&id, event, LAMBDA_LIMIT, LAMBDA_LIMIT + Duration::from_secs(60));
    (started.elapsed(), outcome)
}

/// The snapshot function on the state at `home`: its row, archive key and profile, or what it
/// answered instead (with its logs' tail).
fn snapshot_function(moto: &Moto, home: &Path, gzip_level: Option<u32>) -> Result<Snapshot, String> {
    let scratch = home.parent().map_or_else(std::env::temp_dir, |p| p.join("scratch"));
    let mut env = function_env(moto, home, &scratch);
    if let Some(level) = gzip_level {
        env.push(("CLAWKEEPER_SNAPSHOT_GZIP_LEVEL".into(), level.to_string()));
    }
    // JSON lines at info: the `snapshot profile` line is among them.
    env.push(("RUST_LOG".into(), "info".into()));
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    let mut process = spawn_pinned("snapshot", &env);
    let (wall, outcome) = invoke_limited(
        &mut process,
        &json!({"gateway": GATEWAY, "trigger": "manual", "force": true}),
    );
    let peak_kib = status_kib(process.pid(), "VmHWM:");
    let logs = process.logs();
    let answer = match outcome {
        Invocation::Ok(answer) => answer,
        other => {
            return Err(format!(
                "snapshot failed after {:.0} s: {other:?}\n{}",
                wall.as_secs_f64(),
                tail(&logs)
            ));
        }
    };
    let r = &answer["results"][0];
    let key = r["archive_key"]
        .as_str()
        .ok_or_else(|| format!("the snapshot answered no archive key: {answer}"))?
        .to_string();
    let row = Row {
        name: "clawkeeper `snapshot` (release, 1 core)",
        what: "consistent SQLite copies + tar.gz streamed to S3 (multipart, CRC-64/NVME) + streamed verify",
        wall,
        peak_kib,
        basis: tree_size(&home.join(".openclaw")).1,
        output_bytes: r["archive_bytes"].as_u64(),
        note: format!("{} files, verified {}", r["file_count"], r["verified"]),
    };
    Ok(Snapshot {
        row,
        key,
        profile: profile(&logs),
    })
}

fn tail(logs: &str) -> String {
    let lines: Vec<&str> = logs.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The `*_ms` and `*_bytes` fields of the `snapshot profile` log line, as logged: a JSON line
/// (its fields under `fields`, as tracing's JSON formatter nests them, or at the top), else
/// tracing's text format of `key=value` pairs.
fn profile(logs: &str) -> Option<Vec<(String, f64)>> {
    let line = logs.lines().find(|l| l.contains("snapshot profile"))?;
    let wanted = |k: &str| k.ends_with("_ms") || k.ends_with("_bytes");
    let fields: Vec<(String, f64)> = match serde_json::from_str::<Value>(line) {
        Ok(json) => json
            .get("fields")
            .unwrap_or(&json)
            .as_object()?
            .iter()
            .filter(|(k, _)| wanted(k))
            .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
            .collect(),
        Err(_) => line
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .filter(|(k, _)| wanted(k))
            .filter_map(|(k, v)| Some((k.to_string(), v.trim_matches('"').parse().ok()?)))
            .collect(),
    };
    Some(fields)
}

fn openclaw_backup(home: &Path) -> Row {
    let openclaw = std::env::var_os("CLAWKEEPER_OPENCLAW")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".cache/openclaw/bin/openclaw"));
    let out = home
        .parent()
        .map_or_else(std::env::temp_dir, |p| p.join("openclaw-out"));
    let _ = fs::remove_dir_all(&out);
    mkdir(&out);
    let mut command = Command::new(&openclaw);
    command
        .args(["backup", "create", "--json", "--output"])
        .arg(&out)
        .env("HOME", home)
        .env("OPENCLAW_STATE_DIR", home.join(".openclaw"))
        .env("NO_COLOR", "1");
    let run = timed(command);
    if !run.ok {
        fail(&format!("openclaw backup create failed: {}{}", run.stdout, run.stderr));
    }
    let size = fs::read_dir(&out)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum::<u64>();
    // Its records of the run go into the state's database: reset them for the next run.
    let _ = fs::remove_dir_all(&out);
    Row {
        name: "`openclaw backup create`",
        what: "OpenClaw's own archive to local disk (no upload)",
        wall: run.wall,
        peak_kib: run.peak_kib,
        basis: tree_size(&home.join(".openclaw")).1,
        output_bytes: Some(size),
        note: "Node 24; writes a local file only".into(),
    }
}

const TRANSFER_PEER: &str = r#"
import os, sys, boto3
from boto3.s3.transfer import TransferConfig
from concurrent.futures import ThreadPoolExecutor
root, bucket, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3")
# What `aws s3 sync` uses: s3transfer, 8 MiB multipart threshold and chunks, 10 concurrent requests.
config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=10)
paths = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
def put(path):
    s3.upload_file(path, bucket, prefix + os.path.relpath(path, root), Config=config)
with ThreadPoolExecutor(max_workers=10) as pool:
    list(pool.map(put, paths))
print(len(paths))
"#;

fn transfer_peer(moto: &Moto, state: &Path) -> Row {
    let python = clawkeeper_tests::moto::venv_dir().join("bin/python");
    let mut command = Command::new(&python);
    command
        .arg("-c")
        .arg(TRANSFER_PEER)
        .arg(state)
        .arg(BUCKET)
        .arg("sync-peer/")
        .envs(moto.aws_env());
    let run = timed(command);
    if !run.ok {
        fail(&format!("the s3 sync peer failed: {}{}", run.stdout, run.stderr));
    }
    Row {
        name: "`aws s3 sync` peer (boto3 S3 transfer)",
        what: "every file uploaded as is (live SQLite copied raw: not consistent)",
        wall: run.wall,
        peak_kib: run.peak_kib,
        basis: tree_size(state).1,
        output_bytes: None,
        note: format!("{} files uploaded, 10 concurrent requests", run.stdout.trim()),
    }
}

/// `tar | gzip -1` of what the archivers keep, on one core, counted by `wc -c` (also on that
/// core): what compressing the state costs with nothing else done.
fn compression_floor(state: &Path) -> Row {
    let excludes: String = EXCLUDED_ROOTS.iter().map(|d| format!(" --exclude=./{d}")).collect();
    let script = format!("tar -cf - -C \"$1\"{excludes} . | gzip -1 | wc -c");
    let mut command = pinned(MEASURED_CPU, Path::new("sh"));
    command.arg("-c").arg(&script).arg("sh").arg(state);
    let run = timed(command);
    if !run.ok {
        fail(&format!("the compression floor failed: {}", run.stderr));
    }
    Row {
        name: "floor: `tar | gzip -1` (1 core)",
        what: "the same files compressed to nowhere: no SQLite copy, hashing, upload or verify",
        wall: run.wall,
        peak_kib: run.peak_kib,
        basis: tree_size(state).1,
        output_bytes: run.stdout.trim().parse().ok(),
        note: format!("`{script}`, leaving out {}", EXCLUDED_ROOTS.join("/, ") + "/"),
    }
}

// ---------------------------------------------------------------------------------------------
// The restore side

/// The restore function putting `key` back into an empty home, then `tar -xzf` of the same
/// archive on one core. A failed restore is a row of its own (`Err`), not the end of the run.
async fn restore_rows(moto: &Moto, sdk: &aws_config::SdkConfig, home: &Path, key: &str) -> Vec<Result<Row, String>> {
    let work = home.parent().map_or_else(std::env::temp_dir, Path::to_path_buf);
    let target = work.join("restore-home");
    let restored = restore_function(moto, sdk, &target, &work.join("scratch"), key).await;
    let _ = fs::remove_dir_all(&target);
    let archive = work.join("bench-archive.tar.gz");
    let floor = match download(sdk, key, &archive).await {
        Ok(()) => Ok(extract_floor(&archive, &work.join("extract-floor"))),
        Err(e) => Err(e),
    };
    let _ = fs::remove_file(&archive);
    vec![restored, floor]
}

async fn restore_function(
    moto: &Moto,
    sdk: &aws_config::SdkConfig,
    target: &Path,
    scratch: &Path,
    key: &str,
) -> Result<Row, String> {
    let _ = fs::remove_dir_all(target);
    mkdir(target);
    issue_stop_permit(sdk, key).await;
    let mut env = function_env(moto, target, scratch);
    env.push(("RUST_LOG".into(), "warn".into()));
    let mut process = spawn_pinned("restore", &env);
    let (wall, outcome) = invoke_limited(
        &mut process,
        &json!({"gateway": GATEWAY, "snapshot": key, "by": "bench"}),
    );
    let peak_kib = status_kib(process.pid(), "VmHWM:");
    let report = match outcome {
        Invocation::Ok(report) => report,
        other => {
            return Err(format!(
                "restore failed after {:.0} s: {other:?}\n{}",
                wall.as_secs_f64(),
                tail(&process.logs())
            ));
        }
    };
    Ok(Row {
        name: "clawkeeper `restore` (release, 1 core)",
        what: "download + sidecar check + verify + extract to staging + journaled swap",
        wall,
        peak_kib,
        basis: report["bytes"].as_u64().unwrap_or(0),
        output_bytes: report["bytes"].as_u64(),
        note: format!(
            "{} files restored, function's own figure {} ms",
            report["files"], report["duration_ms"]
        ),
    })
}

/// What `control` writes before it invokes the restore function: the permit naming `key`.
async fn issue_stop_permit(sdk: &aws_config::SdkConfig, key: &str) {
    use clawkeeper_core::ports::StopPermits;
    let permit = clawkeeper_core::permit::StopPermit::issue(
        GATEWAY,
        key,
        "bench: no task",
        "bench",
        "bench-invocation",
        clawkeeper_core::watch::time::now_secs(),
    );
    if let Err(e) = clawkeeper_aws::dynamodb::DynamoStore::new(sdk, TABLE)
        .issue(&permit)
        .await
    {
        fail(&format!("issue the stop permit: {e}"));
    }
}

/// Streams `key` from moto into `to`.
async fn download(sdk: &aws_config::SdkConfig, key: &str, to: &Path) -> Result<(), String> {
    // The floor wants the bytes, not moto's view of their checksum (it may not match a full-object
    // CRC-64 of a multipart upload): no response checksum validation here.
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(true)
        .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    let object = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("download {key}: {e}"))?;
    let mut file = fs::File::create(to).map_err(|e| format!("create {}: {e}", to.display()))?;
    let mut body = object.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("download {key}: {e}"))?;
        file.write_all(&chunk)
            .map_err(|e| format!("write {}: {e}", to.display()))?;
    }
    Ok(())
}

/// `tar -xzf` of `archive` into a fresh `dest` on one core (gzip runs there too).
fn extract_floor(archive: &Path, dest: &Path) -> Row {
    let _ = fs::remove_dir_all(dest);
    mkdir(dest);
    let mut command = pinned(MEASURED_CPU, Path::new("tar"));
    command.arg("-xzf").arg(archive).arg("-C").arg(dest);
    let run = timed(command);
    if !run.ok {
        fail(&format!("the extraction floor failed: {}", run.stderr));
    }
    let (files, bytes) = tree_size(dest);
    let _ = fs::remove_dir_all(dest);
    Row {
        name: "floor: `tar -xzf` (1 core)",
        what: "the same archive extracted: no download, checks, staging or swap",
        wall: run.wall,
        peak_kib: run.peak_kib,
        basis: bytes,
        output_bytes: Some(bytes),
        note: format!("{files} files extracted"),
    }
}

// ---------------------------------------------------------------------------------------------
// The large case

async fn large_case(moto: &Moto, sdk: &aws_config::SdkConfig, gb: u64, main_state: &Path) -> Large {
    let started = Instant::now();
    let home = large_state(gb, main_state);
    let state = home.join(".openclaw");
    let (files, bytes) = tree_size(&state);
    let db_bytes = fs::metadata(state.join(LARGE_DB)).map_or(0, |m| m.len());
    eprintln!("bench_snapshot: large state {} files, {} MB", files, bytes >> 20);

    let writer = LiveWriter::start(&state.join(LARGE_DB));
    let snapshot = snapshot_function(moto, &home, None);
    let writer = writer.stop();
    if let Err(e) = &snapshot {
        eprintln!("bench_snapshot: large {e}");
    }
    let floor = compression_floor(&state);
    let restore_wanted = std::env::var("BENCH_LARGE_RESTORE").map_or(true, |v| v != "0");
    let restore = match &snapshot {
        Ok(s) if restore_wanted => Some(restore_rows(moto, sdk, &home, &s.key).await),
        _ => None,
    };
    eprintln!(
        "bench_snapshot: large case done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Large {
        files,
        bytes,
        db_bytes,
        snapshot,
        writer,
        floor,
        restore,
    }
}

/// A thread committing one small row every [`WRITER_INTERVAL`], each its own transaction, as a
/// gateway writes its transcript while a snapshot runs.
struct LiveWriter {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<WriterReport>,
}

impl LiveWriter {
    fn start(db: &Path) -> Self {
        let conn = Connection::open(db)
            .and_then(|c| c.busy_timeout(WRITER_BUSY_TIMEOUT).map(|()| c))
            .unwrap_or_else(|e| fail(&format!("open {} for the live writer: {e}", db.display())));
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let handle = thread::spawn(move || write_until(&conn, &stopping));
        Self { stop, handle }
    }

    fn stop(self) -> WriterReport {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .join()
            .unwrap_or_else(|_| fail("the live writer thread panicked"))
    }
}

fn write_until(conn: &Connection, stop: &AtomicBool) -> WriterReport {
    let mut report = WriterReport::default();
    let mut rng = 0x5851_F42D_4C95_7F2D_u64;
    let mut body = String::new();
    while !stop.load(Ordering::SeqCst) {
        message_body(&mut body, 40, &mut rng);
        let started = Instant::now();
        let result = conn.execute(
            "INSERT INTO messages(session, role, at, body) VALUES ('live', 'user', strftime('%s','now'), ?1)",
            [&body],
        );
        report.longest = report.longest.max(started.elapsed());
        match result {
            Ok(_) => report.commits += 1,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                report.busy += 1;
            }
            Err(e) => {
                report.other_errors += 1;
                report.first_error.get_or_insert_with(|| e.to_string());
            }
        }
        thread::sleep(WRITER_INTERVAL);
    }
    report
}

// ---------------------------------------------------------------------------------------------
// The section

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn peak_mb(row: &Row) -> Option<f64> {
    row.peak_kib.map(|k| k as f64 / 1024.0)
}

fn table(doc: &mut String, rows: &[&Row]) {
    let _ = writeln!(doc, "| program | does | wall time | throughput | peak RSS | output |");
    let _ = writeln!(doc, "|---|---|---:|---:|---:|---:|");
    for row in rows {
        let secs = row.wall.as_secs_f64();
        let _ = writeln!(
            doc,
            "| {} | {} | {:.1} s | {:.0} MB/s | {} | {} |",
            row.name,
            row.what,
            secs,
            mb(row.basis) / secs.max(0.001),
            peak_mb(row).map_or("n/a".into(), |m| format!("{m:.1} MB")),
            row.output_bytes.map_or("-".into(), |b| format!("{:.0} MB", mb(b))),
        );
    }
    let _ = writeln!(doc);
    for row in rows {
        let _ = writeln!(doc, "- {}: {}", row.name, row.note);
    }
}

fn render(rows: &[Row], files: u64, bytes: u64, regenerable: u64, moto_pinned: bool) -> String {
    let mut doc = String::new();
    let _ = writeln!(doc, "## Snapshot throughput and memory\n");
    let _ = writeln!(
        doc,
        "One run of `CLAWKEEPER_BIN_DIR=target/release cargo run -p clawkeeper-tests --bin bench_snapshot` \
         (release `snapshot` and `restore` binaries) on {} ({} cores): a state of {files} files, {:.0} MB (a real \
         gateway's state dir, 1,000 creds JSON files, about 300 MB in three more rollback-journal SQLite databases; \
         {:.0} MB of it regenerable caches both archivers leave out), against moto S3 on loopback. The clawkeeper \
         functions and both floors run pinned to one core (`taskset -c {MEASURED_CPU}`), as a 1,769 MB Lambda has \
         one vCPU; {}. The OpenClaw and boto3 peers run unpinned.\n",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mb(bytes),
        mb(regenerable),
        if moto_pinned {
            format!("moto_server runs on the other core (`taskset -c {MOTO_CPU}`)")
        } else {
            "moto_server could not be pinned and shares both cores".to_string()
        }
    );
    table(&mut doc, &rows.iter().collect::<Vec<_>>());
    let _ = writeln!(
        doc,
        "\nThroughput is state bytes over wall time (restored bytes for a restore). Peak RSS: `VmHWM` of the \
         function process over its life (runtime, SDK, capture, upload, verification); `/usr/bin/time` maximum \
         RSS for the others (for a pipeline, its largest process)."
    );
    doc
}

/// The default level's run beside the same state at [`LEVELS_COMPARED`].
fn render_levels(default: &Row, levels: &[(u32, Result<Row, String>)]) -> String {
    let mut doc = String::new();
    let _ = writeln!(
        doc,
        "\n### gzip levels\n\nThe same snapshot at other levels (`CLAWKEEPER_SNAPSHOT_GZIP_LEVEL`; the default is {}).\n",
        clawkeeper_core::config::DEFAULT_GZIP_LEVEL
    );
    let _ = writeln!(
        doc,
        "| level | wall time | archive | time vs default | size vs default |"
    );
    let _ = writeln!(doc, "|---:|---:|---:|---:|---:|");
    let size = |row: &Row| row.output_bytes.unwrap_or(0) as f64;
    let mut line = |level: String, row: &Row| {
        let _ = writeln!(
            doc,
            "| {level} | {:.1} s | {:.1} MB | {:.2}x | {:.2}x |",
            row.wall.as_secs_f64(),
            mb(row.output_bytes.unwrap_or(0)),
            row.wall.as_secs_f64() / default.wall.as_secs_f64().max(0.001),
            size(row) / size(default).max(1.0),
        );
    };
    line(
        format!("{} (default)", clawkeeper_core::config::DEFAULT_GZIP_LEVEL),
        default,
    );
    let mut failed = Vec::new();
    for (level, row) in levels {
        match row {
            Ok(row) => line(level.to_string(), row),
            Err(e) => failed.push(format!(
                "- level {level}: not measured: {}",
                e.lines().next().unwrap_or("")
            )),
        }
    }
    for f in failed {
        let _ = writeln!(doc, "{f}");
    }
    doc
}

fn render_restore(rows: &[Result<Row, String>]) -> String {
    let mut doc = String::new();
    let _ = writeln!(
        doc,
        "\n### Restore of that snapshot\n\nThe release `restore` function (stop permit issued in the state \
         table as `control` does) puts the snapshot just made back into an empty home, beside `tar -xzf` of the \
         same archive, both on one core.\n"
    );
    push_rows(&mut doc, &rows.iter().map(Result::as_ref).collect::<Vec<_>>());
    doc
}

/// The rows that ran as a table, the ones that failed as a line each.
fn push_rows(doc: &mut String, rows: &[Result<&Row, &String>]) {
    let ok: Vec<&Row> = rows.iter().filter_map(|r| r.ok()).collect();
    if !ok.is_empty() {
        table(doc, &ok);
    }
    for failed in rows.iter().filter_map(|r| r.err()) {
        let first = failed.lines().next().unwrap_or_default();
        let _ = writeln!(doc, "- not measured: {first}");
    }
}

fn render_profile(case: &str, profile: Option<&[(String, f64)]>) -> String {
    let mut doc = format!("\n### Where the snapshot's time went: {case}\n\n");
    let Some(fields) = profile else {
        doc.push_str("no profile line logged\n");
        return doc;
    };
    let _ = writeln!(
        doc,
        "The `snapshot profile` line the function logged, its `*_ms` and `*_bytes` fields as logged.\n"
    );
    let _ = writeln!(doc, "| field | value |");
    let _ = writeln!(doc, "|---|---:|");
    for (name, value) in fields {
        let shown = if name.ends_with("_ms") {
            format!("{:.1} s", value / 1000.0)
        } else {
            format!("{:.1} MB", value / 1_048_576.0)
        };
        let _ = writeln!(doc, "| `{name}` | {shown} |");
    }
    doc
}

fn render_large(large: &Large) -> String {
    let mut doc = String::new();
    let _ = writeln!(
        doc,
        "\n### A large state: {:.1} GB, one {:.1} GB agent database under a live writer\n",
        mb(large.bytes) / 1024.0,
        mb(large.db_bytes) / 1024.0
    );
    let _ = writeln!(
        doc,
        "{} files, {:.0} MB: one rollback-journal agent database (`{LARGE_DB}`: chat-message text rows and \
         float32 embedding blobs, 3:1 by bytes) and the main state's creds. While the snapshot runs, a live \
         writer commits one small row every {} ms (`busy_timeout` {} ms), each its own transaction.\n",
        large.files,
        mb(large.bytes),
        WRITER_INTERVAL.as_millis(),
        WRITER_BUSY_TIMEOUT.as_millis()
    );
    push_rows(&mut doc, &[large.snapshot.as_ref().map(|s| &s.row), Ok(&large.floor)]);
    if let Ok(snapshot) = &large.snapshot {
        let wall = snapshot.row.wall.as_secs_f64();
        let limit = LAMBDA_LIMIT.as_secs_f64();
        let _ = writeln!(
            doc,
            "\nAgainst Lambda's {limit:.0} s limit: {wall:.0} s is {:.0}% of it, a margin of {:.0} s.",
            100.0 * wall / limit,
            limit - wall
        );
    }
    let w = &large.writer;
    let _ = writeln!(
        doc,
        "\nThe live writer during the snapshot: {} commits, {} busy failures (`SQLITE_BUSY` after {} ms), {} \
         other errors{}, longest commit wait {:.0} ms.",
        w.commits,
        w.busy,
        WRITER_BUSY_TIMEOUT.as_millis(),
        w.other_errors,
        w.first_error
            .as_ref()
            .map_or(String::new(), |e| format!(" (first: {e})")),
        w.longest.as_secs_f64() * 1000.0
    );
    match &large.restore {
        Some(rows) => {
            let _ = writeln!(doc, "\nIts restore, beside `tar -xzf` of the same archive:\n");
            push_rows(&mut doc, &rows.iter().map(Result::as_ref).collect::<Vec<_>>());
        }
        None => {
            let _ = writeln!(doc, "\nIts restore: not measured in this run.");
        }
    }
    let profile = large.snapshot.as_ref().ok().and_then(|s| s.profile.as_deref());
    doc.push_str(&render_profile("the large state", profile));
    doc
}

/// `actual` against an upper bound `goal`: "met", or by how much it was missed.
fn verdict(actual: f64, goal: f64, unit: &str) -> String {
    if actual <= goal {
        "met".into()
    } else {
        format!("MISSED by {:.2}{unit}", actual - goal)
    }
}

/// Why a snapshot over the sync peer's goal is over it, from its own profile: the verifier's share
/// of the one core (`verify_ms`, its work without its waits) and the ratio the rest would make.
fn why_over_the_peer(profile: Option<&[(String, f64)]>, snapshot_secs: f64, peer_secs: f64) -> Option<String> {
    let verify_secs = profile?.iter().find(|(name, _)| name == "verify_ms")?.1 / 1000.0;
    let rest = (snapshot_secs - verify_secs).max(0.0);
    Some(format!(
        "Why: {verify_secs:.1} s of the snapshot's {snapshot_secs:.1} s on its one core is the verifier inflating and \
         parsing every byte produced, as it is produced (`verify_ms`), which proves the archive opens as a \
         complete OpenClaw backup before the snapshot is reported good; the rest, {rest:.1} s, is {:.2}x the peer. \
         clawkeeper keeps the check: a snapshot that would not restore must fail while the state it copies is still \
         there, not on the day it is needed. The peer copies the live databases as they are and checks nothing.",
        rest / peer_secs.max(0.001)
    ))
}

fn render_goals(rows: &[Row], profile: Option<&[(String, f64)]>, large: Option<&Large>) -> String {
    let mut doc = String::from("\n### Against the goals\n\n");
    let (snapshot, peer, floor) = (&rows[0], &rows[2], &rows[3]);
    let secs = |r: &Row| r.wall.as_secs_f64().max(0.001);
    let vs_peer = secs(snapshot) / secs(peer);
    let vs_floor = secs(snapshot) / secs(floor);
    let _ = writeln!(
        doc,
        "- snapshot time vs the boto3 sync peer: {vs_peer:.2}x (goal <= {GOAL_VS_SYNC}x: {})",
        verdict(vs_peer, GOAL_VS_SYNC, "x")
    );
    if vs_peer > GOAL_VS_SYNC
        && let Some(why) = why_over_the_peer(profile, secs(snapshot), secs(peer))
    {
        let _ = writeln!(doc, "  {why}");
    }
    let _ = writeln!(
        doc,
        "- snapshot time vs the `tar | gzip -1` floor: {vs_floor:.2}x (goal <= {GOAL_VS_FLOOR}x: {})",
        verdict(vs_floor, GOAL_VS_FLOOR, "x")
    );
    let peak = |r: &Row| peak_mb(r).unwrap_or(f64::NAN);
    let _ = writeln!(
        doc,
        "- snapshot peak RSS: {:.1} MB (goal < {GOAL_PEAK_MB:.0} MB: {})",
        peak(snapshot),
        verdict(peak(snapshot), GOAL_PEAK_MB, " MB")
    );
    if let Some(large) = large {
        match &large.snapshot {
            Ok(s) => {
                let (wall, limit) = (s.row.wall.as_secs_f64(), LAMBDA_LIMIT.as_secs_f64());
                let large_floor = s.row.wall.as_secs_f64() / large.floor.wall.as_secs_f64().max(0.001);
                let _ = writeln!(
                    doc,
                    "- large state: {wall:.0} s, margin {:.0} s to Lambda's {limit:.0} s ({:.2} of the limit; \
                     goal: inside it: {}); {large_floor:.2}x its floor (goal <= {GOAL_VS_FLOOR}x: {}); peak RSS \
                     {:.1} MB (goal < {GOAL_PEAK_MB:.0} MB: {})",
                    limit - wall,
                    wall / limit,
                    verdict(wall, limit, " s"),
                    verdict(large_floor, GOAL_VS_FLOOR, "x"),
                    peak(&s.row),
                    verdict(peak(&s.row), GOAL_PEAK_MB, " MB")
                );
            }
            Err(e) => {
                let _ = writeln!(
                    doc,
                    "- large state: no snapshot ({}): MISSED",
                    e.lines().next().unwrap_or_default()
                );
            }
        }
    }
    doc
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_miss_against_the_peer_is_explained_from_the_verifiers_share() {
        let profile = vec![("compress_ms".to_string(), 3500.0), ("verify_ms".to_string(), 2500.0)];
        let why = why_over_the_peer(Some(&profile), 6.8, 12.6).expect("a profile with verify_ms");
        assert!(why.contains("2.5 s of the snapshot's 6.8 s"), "{why}");
        assert!(why.contains("the rest, 4.3 s, is 0.34x the peer"), "{why}");
        let without = vec![("compress_ms".to_string(), 3500.0)];
        assert_eq!(why_over_the_peer(Some(&without), 6.8, 12.6), None);
        assert_eq!(why_over_the_peer(None, 6.8, 12.6), None);
    }
}
