//! `bench_snapshot`: one snapshot of a realistic gateway state beside its peers, in one run,
//! printed to stdout as a markdown section (the lead puts it into `docs/BENCHMARKS.md`).
//!
//! The state (made once, cached in `target/clawkeeper-bench-state/`): a state dir a real gateway
//! wrote (from the interop tests' cache), plus 1,000 WhatsApp-style creds JSON files and about
//! 300 MB of SQLite in rollback-journal mode across three more databases. Three programs read the same state and, where they upload, write to the
//! same moto S3 endpoint:
//! - the release `snapshot` function through the Runtime API emulator (consistent SQLite
//!   capture, tar+gzip streamed into a multipart upload, read back and verified);
//! - `openclaw backup create` (the real OpenClaw from npm) writing its archive to local disk;
//! - the `aws s3 sync` peer: boto3's S3 transfer manager (the library `aws s3 sync` is built on,
//!   same 8 MiB multipart threshold and 10 concurrent requests) uploading every file of the
//!   state dir, from a small Python script in the project venv (the AWS CLI is not installed).
//!
//! Wall time and peak resident memory of each: the function's `VmHWM` from `/proc` after its
//! invocation (its whole life), the peers' maximum RSS from `/usr/bin/time`. Numbers only.
//! Run with the functions built in release: `cargo build --release --workspace --bins`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clawkeeper_tests::consts::{BUCKET, CLUSTER, SERVICE};
use clawkeeper_tests::{FunctionProcess, Invocation, Moto, clawkeeper_env, workspace_root};
use rusqlite::Connection;
use serde_json::json;

/// One measured program.
struct Row {
    name: &'static str,
    what: &'static str,
    wall: Duration,
    peak_kib: Option<u64>,
    output_bytes: Option<u64>,
    note: String,
}

#[tokio::main]
async fn main() {
    let home = bench_state();
    let state = home.join(".openclaw");
    let (files, bytes) = tree_size(&state);
    eprintln!("bench_snapshot: state {} files, {} MB", files, bytes >> 20);

    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let s3 = clawkeeper_tests::s3::client(&sdk);
    if let Err(e) = s3.create_bucket().bucket(BUCKET).send().await {
        fail(&format!("create bucket: {e}"));
    }

    let rows = vec![
        snapshot_function(&moto, &home),
        openclaw_backup(&home),
        transfer_peer(&moto, &state),
    ];
    // Regenerable caches both archivers leave out (the sync peer uploads them too).
    let (_, cache) = tree_size(&state.join("cache"));
    let (_, tmp) = tree_size(&state.join("tmp"));
    print!("{}", render(&rows, files, bytes, cache + tmp));
}

fn fail(message: &str) -> ! {
    eprintln!("bench_snapshot: {message}");
    std::process::exit(1);
}

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
    let _ = fs::create_dir_all(&home);
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&real)
        .arg(home.join(".openclaw"))
        .status();
    if !copied.is_ok_and(|s| s.success()) {
        fail("copying the real gateway state failed");
    }
    let state = home.join(".openclaw");
    let account = state.join("credentials/whatsapp/default");
    fs::create_dir_all(&account).unwrap_or_else(|e| fail(&format!("mkdir: {e}")));
    let mut rng = 0x2545_F491_4F6C_DD1D_u64;
    // 1,000 creds files: creds.json, its .bak, and key files of each Baileys kind.
    let write = |path: PathBuf, body: String| fs::write(&path, body).unwrap_or_else(|e| fail(&format!("write: {e}")));
    write(
        account.join("creds.json"),
        json!({"registrationId": 4242, "me": {"id": "1555:1@s.whatsapp.net"}}).to_string(),
    );
    write(
        account.join("creds.json.bak"),
        json!({"registrationId": 4242, "me": {"id": "1555:1@s.whatsapp.net"}}).to_string(),
    );
    for i in 0..998 {
        let name = match i % 4 {
            0 => format!("pre-key-{i}.json"),
            1 => format!("session-1555000{i:04}.0.json"),
            2 => format!("sender-key-group{i}--1555000{i:04}--0.json"),
            _ => format!("app-state-sync-key-AAAAA{i:05}.json"),
        };
        let key: String = (0..32).map(|_| format!("{:02x}", next(&mut rng) as u8)).collect();
        write(
            account.join(name),
            json!({"keyPair": {"private": key, "public": key}, "keyId": i}).to_string(),
        );
    }
    write(
        state.join("openclaw.json"),
        json!({"gateway": {"mode": "local"}}).to_string(),
    );
    // About 300 MB of SQLite: sessions and transcripts as text rows, like OpenClaw's.
    for (path, mb) in [
        ("state/openclaw.sqlite", 40),
        ("agents/main/agent/openclaw-agent.sqlite", 200),
        ("agents/work/agent/openclaw-agent.sqlite", 60),
    ] {
        make_db(&state.join(path), mb, &mut rng);
    }
    fs::write(&done, b"").unwrap_or_else(|e| fail(&format!("marker: {e}")));
    home
}

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// A rollback-journal database of about `mb` MB of transcript-like text.
fn make_db(path: &Path, mb: u64, rng: &mut u64) {
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
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| fail(&format!("mkdir: {e}")));
    }
    let result = (|| -> rusqlite::Result<()> {
        let mut conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=DELETE; CREATE TABLE transcripts(id INTEGER PRIMARY KEY, session TEXT, at INTEGER, body TEXT);",
        )?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare("INSERT INTO transcripts(session, at, body) VALUES (?1, ?2, ?3)")?;
            let rows = mb * 1024;
            for i in 0..rows {
                let body: Vec<&str> = (0..160)
                    .map(|_| WORDS[(next(rng) % WORDS.len() as u64) as usize])
                    .collect();
                insert.execute(rusqlite::params![format!("s{}", i % 500), i as i64, body.join(" ")])?;
            }
        }
        tx.commit()
    })();
    if let Err(e) = result {
        fail(&format!("{}: {e}", path.display()));
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

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn snapshot_function(moto: &Moto, home: &Path) -> Row {
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(&json!([{
        "id": "home", "cluster": CLUSTER, "service": SERVICE,
        "state_root": home.to_string_lossy()
    }])));
    let scratch = home.parent().map_or_else(std::env::temp_dir, |p| p.join("scratch"));
    let _ = fs::create_dir_all(&scratch);
    env.push(("TMPDIR".into(), scratch.to_string_lossy().into_owned()));
    env.push(("RUST_LOG".into(), "warn".into()));
    let mut process = FunctionProcess::spawn("snapshot", &env);
    let started = Instant::now();
    let outcome = process.invoke_within(
        &json!({"gateway": "home", "trigger": "manual", "force": true}),
        Duration::from_secs(900),
    );
    let wall = started.elapsed();
    let peak_kib = status_kib(process.pid(), "VmHWM:");
    let (output_bytes, note) = match outcome {
        Invocation::Ok(answer) => {
            let r = &answer["results"][0];
            (
                r["archive_bytes"].as_u64(),
                format!("{} files, verified {}", r["file_count"], r["verified"]),
            )
        }
        other => fail(&format!("snapshot failed: {other:?}\n{}", process.logs())),
    };
    Row {
        name: "clawkeeper `snapshot` (release)",
        what: "consistent SQLite capture + tar.gz streamed to S3 (multipart) + read-back verify",
        wall,
        peak_kib,
        output_bytes,
        note,
    }
}

/// Runs `command` under `/usr/bin/time -f "%e %M"`: wall time (measured here) and max RSS.
fn timed(command: Command) -> (Duration, Option<u64>, bool, String) {
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
    let (ok, text) = match output {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    };
    let peak = fs::read_to_string(&report)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    let _ = fs::remove_file(&report);
    (wall, peak, ok, text)
}

fn openclaw_backup(home: &Path) -> Row {
    let openclaw = std::env::var_os("CLAWKEEPER_OPENCLAW")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".cache/openclaw/bin/openclaw"));
    let out = home
        .parent()
        .map_or_else(std::env::temp_dir, |p| p.join("openclaw-out"));
    let _ = fs::remove_dir_all(&out);
    let _ = fs::create_dir_all(&out);
    let mut command = Command::new(&openclaw);
    command
        .args(["backup", "create", "--json", "--output"])
        .arg(&out)
        .env("HOME", home)
        .env("OPENCLAW_STATE_DIR", home.join(".openclaw"))
        .env("NO_COLOR", "1");
    let (wall, peak_kib, ok, text) = timed(command);
    if !ok {
        fail(&format!("openclaw backup create failed: {text}"));
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
        wall,
        peak_kib,
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
    let (wall, peak_kib, ok, text) = timed(command);
    if !ok {
        fail(&format!("the s3 sync peer failed: {text}"));
    }
    Row {
        name: "`aws s3 sync` peer (boto3 S3 transfer)",
        what: "every file uploaded as is (live SQLite copied raw: not consistent)",
        wall,
        peak_kib,
        output_bytes: None,
        note: format!("{} files uploaded, 10 concurrent requests", text.trim()),
    }
}

fn render(rows: &[Row], files: u64, bytes: u64, regenerable: u64) -> String {
    let mut doc = String::new();
    let mb = |b: u64| b as f64 / 1_048_576.0;
    let _ = writeln!(doc, "## Snapshot throughput and memory\n");
    let _ = writeln!(
        doc,
        "One run of `CLAWKEEPER_BIN_DIR=target/release cargo run -p clawkeeper-tests --bin bench_snapshot` \
         (release `snapshot` binary) on {} ({} cores): a state of {files} files, {:.0} MB (a real gateway's \
         state dir, 1,000 creds JSON files, about 300 MB in three more rollback-journal SQLite databases; \
         {:.0} MB of it regenerable caches both archivers leave out), against moto S3 on loopback.\n",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mb(bytes),
        mb(regenerable)
    );
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
            mb(bytes) / secs.max(0.001),
            row.peak_kib
                .map_or("n/a".into(), |k| format!("{:.1} MB", k as f64 / 1024.0)),
            row.output_bytes.map_or("-".into(), |b| format!("{:.0} MB", mb(b))),
        );
    }
    let _ = writeln!(doc);
    for row in rows {
        let _ = writeln!(doc, "- {}: {}", row.name, row.note);
    }
    let _ = writeln!(
        doc,
        "\nThroughput is state bytes over wall time. Peak RSS: `VmHWM` of the function process over its life \
         (runtime, SDK, capture, upload, verification); `/usr/bin/time` maximum RSS for the peers."
    );
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
