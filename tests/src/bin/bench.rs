//! `make bench`: cold start and footprint of every function beside its peers, measured in one run,
//! written to `docs/BENCHMARKS.md`.
//!
//! For each program: start it N times against the Runtime API emulator and time process start to
//! the first `/invocation/next` poll (its init), read its resident memory (`VmRSS`) after init and
//! after one event, and its file size. Peers: a minimal Rust Lambda (`floor-lambda`, the floor)
//! and a Python 3 / boto3 function with the same AWS client set-up. The functions run from
//! `CLAWKEEPER_BIN_DIR` (release builds, as deployed). No assertion on time anywhere: numbers only.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use clawkeeper_tests::aws_setup::{self, Inbox};
use clawkeeper_tests::bench_support::{cpu_ns, measured, minor_faults, status_kib};
use clawkeeper_tests::consts::{CLUSTER, FUNCTIONS, INBOX_TOPIC, POLICY_NOTIFY_AT_ONCE, SERVICE, TABLE};
use clawkeeper_tests::elf_sections;
use clawkeeper_tests::events;
use clawkeeper_tests::fault_proxy::FaultProxy;
use clawkeeper_tests::function::bin_path;
use clawkeeper_tests::{FunctionProcess, Invocation, Moto, clawkeeper_env, workspace_root};
use serde_json::{Value, json};

struct Program {
    name: String,
    kind: &'static str,
    command: fn(&str) -> Command,
    size: Option<u64>,
    /// The function as `sam build` packages it for deployment (arm64), when that build is there.
    deployed: Option<PathBuf>,
}

/// The bootstrap `sam build` made for function `name` (`task-events`: `TaskEventsFunction`) under
/// `CLAWKEEPER_DEPLOYED_DIR` (`make bench` points it at the `make sam-build` output).
fn deployed_bootstrap(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("CLAWKEEPER_DEPLOYED_DIR")?);
    let logical: String = name
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let path = dir.join(format!("{logical}Function")).join("bootstrap");
    path.is_file().then_some(path)
}

fn file_size(path: &std::path::Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

struct Figures {
    init_ms: Vec<f64>,
    /// CPU time of init (all threads), which machine load does not inflate as it does wall time.
    init_cpu_ms: Vec<f64>,
    /// Minor page faults by the first poll: the pages the loader and init touched first.
    init_faults: Vec<u64>,
    rss_init_kib: Vec<u64>,
    rss_event_kib: Vec<u64>,
    event_ms: Vec<f64>,
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let out = std::env::var("BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("docs/BENCHMARKS.md"));

    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    aws_setup::create_gateway_service(&sdk).await;
    aws_setup::create_table(&sdk, TABLE).await;
    let inbox = Inbox::create(&sdk, INBOX_TOPIC).await;
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(
        &json!([{"id": "home", "cluster": CLUSTER, "service": SERVICE}]),
    ));

    let mut programs: Vec<Program> = FUNCTIONS
        .iter()
        .map(|name| Program {
            name: name.to_string(),
            kind: "clawkeeper",
            command: |name| Command::new(bin_path(name)),
            size: file_size(&bin_path(name)),
            deployed: deployed_bootstrap(name),
        })
        .collect();
    programs.push(Program {
        name: "floor-lambda".into(),
        kind: "peer: minimal Rust Lambda",
        command: |name| Command::new(bin_path(name)),
        size: file_size(&bin_path("floor-lambda")),
        deployed: None,
    });
    programs.push(Program {
        name: "python-boto3".into(),
        kind: "peer: Python 3 + boto3 (4 clients)",
        command: |_| {
            let mut c = Command::new(clawkeeper_tests::moto::venv_dir().join("bin/python"));
            c.arg(workspace_root().join("bench/python_peer.py"));
            c
        },
        size: None,
        deployed: None,
    });

    let mut rows = Vec::new();
    for program in &programs {
        eprintln!("bench: {} x{runs}", program.name);
        let figures = measure(program, &env, runs);
        rows.push((program, figures));
    }
    let mut report = render(&rows, runs);
    report.push_str(&per_event_cost(&moto, &inbox).await);
    report.push_str(&per_run_cost(&moto, &inbox).await);
    if let Err(e) = std::fs::write(&out, &report) {
        eprintln!("bench: cannot write {}: {e}", out.display());
        std::process::exit(1);
    }
    println!("{report}");
    eprintln!("bench: wrote {}", out.display());
}

fn measure(program: &Program, env: &[(String, String)], runs: usize) -> Figures {
    let mut figures = Figures {
        init_ms: vec![],
        init_cpu_ms: vec![],
        init_faults: vec![],
        rss_init_kib: vec![],
        rss_event_kib: vec![],
        event_ms: vec![],
    };
    let event = json!({"action": "status"});
    for _ in 0..runs {
        let mut process = FunctionProcess::spawn_command(&program.name, (program.command)(&program.name), env);
        let mut waited = Duration::ZERO;
        while process.init_duration().is_none() && waited < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(1));
            waited += Duration::from_millis(1);
        }
        let Some(init) = process.init_duration() else {
            eprintln!("bench: {} never polled; logs:\n{}", program.name, process.logs());
            std::process::exit(1);
        };
        figures.init_ms.push(init.as_secs_f64() * 1000.0);
        figures
            .init_cpu_ms
            .extend(cpu_ns(process.pid()).map(|ns| ns as f64 / 1e6));
        figures.init_faults.extend(minor_faults(process.pid()));
        figures.rss_init_kib.extend(status_kib(process.pid(), "VmRSS:"));
        let started = std::time::Instant::now();
        match process.invoke(&event) {
            Invocation::Ok(_) | Invocation::Failed(_) => {}
            Invocation::Exited { status, .. } => {
                eprintln!("bench: {} exited ({status}); logs:\n{}", program.name, process.logs());
                std::process::exit(1);
            }
        }
        figures.event_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        figures.rss_event_kib.extend(status_kib(process.pid(), "VmRSS:"));
    }
    figures
}

/// (median, p10, p90) of a sample.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.1), at(0.9))
}

/// The median of a program's init page faults.
fn median_faults(f: &Figures) -> f64 {
    spread(&f.init_faults.iter().map(|&n| n as f64).collect::<Vec<_>>()).0
}

fn render(rows: &[(&Program, Figures)], runs: usize) -> String {
    let mut doc = String::new();
    let _ = writeln!(doc, "# Benchmarks\n");
    let _ = writeln!(
        doc,
        "Generated by `make bench` (tests/src/bin/bench.rs). Never edited by hand: rerun to refresh.\n"
    );
    let _ = writeln!(
        doc,
        "- date: {}",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(
        doc,
        "- machine: {} ({} cores), {}",
        cpu_model(),
        command_output("nproc", &[]),
        command_output("uname", &["-srm"])
    );
    let _ = writeln!(doc, "- rustc: {}", command_output("rustc", &["--version"]));
    let _ = writeln!(
        doc,
        "- build: `cargo build --release` with the workspace release profile (opt-level z, zlib-rs at opt-level 3, \
         LTO, 1 codegen unit, stripped), for this machine's architecture"
    );
    let _ = writeln!(doc, "- runs: {runs} per program; figures are median (p10-p90)\n");
    let _ = writeln!(doc, "## Cold start and footprint\n");
    let _ = writeln!(
        doc,
        "Init = process start to the first Runtime API poll, against the in-repo Runtime API emulator on loopback; \
         init CPU = the process's CPU time (all threads, `/proc/<pid>/task/*/schedstat`) at that poll. \
         RSS from `/proc/<pid>/status`. First event = `{{\"action\":\"status\"}}` answered (control and the Python peer \
         make one ECS DescribeServices call to a local moto_server; the reconciler ignores the event and runs a full \
         pass; task-events ignores it and log-alerts, snapshot and restore refuse it, at once).\n"
    );
    let _ = writeln!(
        doc,
        "| program | kind | init ms | init CPU ms | init page faults | RSS after init MiB | RSS after 1 event MiB | first event ms | binary MB |"
    );
    let _ = writeln!(doc, "|---|---|---|---|---|---|---|---|---|");
    // The minimal Rust Lambda every function's init is set against.
    let floor_figures = rows.iter().find(|(p, _)| p.name == "floor-lambda").map(|(_, f)| f);
    let floor = floor_figures.map(|f| spread(&f.init_ms).0);
    let python = rows
        .iter()
        .find(|(p, _)| p.name == "python-boto3")
        .map(|(_, f)| spread(&f.init_ms).0);
    for (program, f) in rows {
        let (m, lo, hi) = spread(&f.init_ms);
        let cpu = spread(&f.init_cpu_ms).0;
        let rss = |v: &[u64]| spread(&v.iter().map(|&k| k as f64 / 1024.0).collect::<Vec<_>>()).0;
        let (em, elo, ehi) = spread(&f.event_ms);
        let size = program
            .size
            .map(|s| format!("{:.1}", s as f64 / 1e6))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            doc,
            "| `{}` | {} | {m:.1} ({lo:.1}-{hi:.1}) | {cpu:.1} | {:.0} | {:.1} | {:.1} | {em:.1} ({elo:.1}-{ehi:.1}) | {size} |",
            program.name,
            program.kind,
            median_faults(f),
            rss(&f.rss_init_kib),
            rss(&f.rss_event_kib),
        );
    }
    let _ = writeln!(
        doc,
        "\nWhat keeps it small: AWS SDK crates with default features off (`rt-tokio`, `default-https-client`, \
         `behavior-version-latest` only: one HTTP client, one TLS/crypto provider, no cmake), each function \
         linking only the SDK operations it calls, no credential chain (the region and the execution role's \
         credentials come from the variables Lambda sets: no profile parser, STS or instance-metadata client), \
         a per-target log filter instead of `EnvFilter` (no regular-expression engine), the release profile (opt-level z, LTO, 1 codegen unit, \
         stripped; only the deflate crate at opt-level 3), and nothing read at init that a first call can read \
         instead (the probes' CA certificates, the SDK's connections and credentials)."
    );
    let local: Vec<(&str, PathBuf)> = rows
        .iter()
        .filter(|(p, _)| p.size.is_some())
        .map(|(p, _)| (p.name.as_str(), bin_path(&p.name)))
        .collect();
    let _ = writeln!(doc, "\n### Where the bytes are\n");
    let _ = writeln!(
        doc,
        "Each binary's sections, from its ELF section table, in MB: code (`.text`), read-only data (`.rodata`, \
         `.data.rel.ro`: constants and vtables), relocations (`.rela.dyn`, patched by the loader so the binary \
         can load at a random address), unwind tables (`.eh_frame`, `.gcc_except_table`), the rest. First the \
         binaries measured above, built for this machine ({}):\n",
        command_output("uname", &["-m"])
    );
    doc.push_str(&section_table(&local));
    let deployed: Vec<(&str, PathBuf)> = rows
        .iter()
        .filter_map(|(p, _)| Some((p.name.as_str(), p.deployed.clone()?)))
        .collect();
    if deployed.is_empty() {
        let _ = writeln!(
            doc,
            "\nNo `sam build` output was found: the deployed binaries are not measured in this run."
        );
    } else {
        let _ = writeln!(
            doc,
            "\nThen the functions as deployed: the `bootstrap` of each function that `make sam-build` packages \
             (`sam build` with cargo-lambda and zig, release profile, for arm64, the template's default \
             `Architecture`):\n"
        );
        doc.push_str(&section_table(&deployed));
    }
    let floor_cpu = floor_figures.map(|f| spread(&f.init_cpu_ms).0);
    let _ = writeln!(doc, "\n## Against the goals\n");
    let mut over_size = Vec::new();
    let mut over_init = Vec::new();
    let mut deployed_over_size = Vec::new();
    for (program, f) in rows.iter().filter(|(p, _)| p.kind == "clawkeeper") {
        let init = spread(&f.init_ms).0;
        let vs_floor = floor.map(|fl| init / fl).unwrap_or(f64::NAN);
        let cpu_vs_floor = floor_cpu.map(|fl| spread(&f.init_cpu_ms).0 / fl).unwrap_or(f64::NAN);
        let vs_python = python.map(|py| py / init).unwrap_or(f64::NAN);
        let size_mb = program.size.map(|s| s as f64 / 1e6).unwrap_or(f64::NAN);
        if size_mb.is_nan() || size_mb >= 10.0 {
            over_size.push(format!("`{}` by {:.2} MB", program.name, size_mb - 10.0));
        }
        if vs_floor.is_nan() || vs_floor > 3.0 {
            over_init.push((program.name.as_str(), vs_floor, cpu_vs_floor, median_faults(f)));
        }
        let deployed_mb = program.deployed.as_deref().and_then(file_size).map(|s| s as f64 / 1e6);
        if deployed_mb.is_none_or(|mb| mb >= 10.0) {
            deployed_over_size.push(program.name.as_str());
        }
        let deployed = deployed_mb.map_or_else(
            || "arm64 as deployed not measured".to_string(),
            |mb| format!("{mb:.1} MB arm64 as deployed (goal < 10 MB: {})", verdict(mb < 10.0)),
        );
        let _ = writeln!(
            doc,
            "- `{}`: init {init:.1} ms (goal < 20 ms: {}), {vs_floor:.1}x the floor (goal <= 3x: {}; init CPU \
             {cpu_vs_floor:.1}x the floor's), {vs_python:.0}x faster than Python/boto3 (goal >= 10x: {}), \
             {size_mb:.1} MB here (goal < 10 MB: {}), {deployed}",
            program.name,
            verdict(init < 20.0),
            verdict(vs_floor <= 3.0),
            verdict(vs_python >= 10.0),
            verdict(size_mb < 10.0),
        );
    }
    let _ = writeln!(
        doc,
        "\nInit: a function's init reads and checks its configuration and the AWS settings Lambda gives it \
         (region, the credentials' variables, retries and timeouts) and builds its SDK clients, which open no connection \
         and resolve no credentials until the first call; the floor does none of it. Wall-clock init on a \
         machine whose cores are busy is inflated for every program alike, so the ratio of init CPU to the \
         floor's is given beside it."
    );
    if !over_init.is_empty() {
        let floor_faults = floor_figures.map_or(f64::NAN, median_faults);
        let missed: Vec<String> = over_init
            .iter()
            .map(|(name, wall, cpu, faults)| {
                format!(
                    "`{name}` by {:.1}x ({cpu:.1}x in CPU; {faults:.0} page faults against the floor's {floor_faults:.0})",
                    wall - 3.0
                )
            })
            .collect();
        let _ = writeln!(
            doc,
            "\nInit over 3x the floor: {}. A process's first touch of each page of its binary is a page fault, \
             and the loader writes every page the relocations patch (the `relocations` and `read-only data` \
             columns below): a binary several times the floor's size pays for that before its `main` runs.",
            missed.join("; ")
        );
    }
    if !over_size.is_empty() {
        let deployed = if deployed_over_size.is_empty() {
            "every function is under it as deployed for arm64".to_string()
        } else {
            format!("as deployed for arm64, {} over it too", named(&deployed_over_size))
        };
        let _ = writeln!(
            doc,
            "\nSize: over 10 MB as built for this machine: {}; {deployed}. Two parts of every binary (table above) are there by choice: the relocations \
             that let the loader place the binary at a random address (a position-independent executable, so \
             address-space randomisation covers it), and the unwind tables through which a panic in one handler \
             or one gateway's pass fails that invocation or that gateway, not the whole process. A non-PIE \
             build with `panic = \"abort\"` would drop both; clawkeeper keeps them. The TLS provider is \
             aws-lc-rs rather than the smaller ring for its post-quantum key exchange (X25519MLKEM768) with AWS \
             endpoints, the path the archives holding the WhatsApp credentials and the gateway tokens travel. \
             The rest is the SDK operations each function calls: control, which answers every owner command, \
             calls the most.",
            over_size.join(", ")
        );
    } else if !deployed_over_size.is_empty() {
        let _ = writeln!(
            doc,
            "\nSize: every function is under 10 MB as built for this machine; as deployed for arm64, {} \
             over it or not measured.",
            named(&deployed_over_size)
        );
    }
    doc
}

/// A table of binaries' bytes by kind of section ([`elf_sections`]), with what each would weigh
/// without the relocations and unwind tables.
fn section_table(binaries: &[(&str, PathBuf)]) -> String {
    let mut doc = String::new();
    let _ = writeln!(
        doc,
        "| program | file | code | read-only data | relocations | unwind tables | rest | without relocations and unwind |"
    );
    let _ = writeln!(doc, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let mb = |b: u64| format!("{:.2}", b as f64 / 1e6);
    for (name, path) in binaries {
        let file = file_size(path).unwrap_or(0);
        match elf_sections::section_sizes(path) {
            Ok(s) => {
                let _ = writeln!(
                    doc,
                    "| `{name}` | {} | {} | {} | {} | {} | {} | {} |",
                    mb(file),
                    mb(s.code),
                    mb(s.read_only_data),
                    mb(s.relocations),
                    mb(s.unwind),
                    mb(s.other),
                    mb(file.saturating_sub(s.relocations + s.unwind)),
                );
            }
            Err(e) => {
                let _ = writeln!(doc, "| `{name}` | {} | {e} | | | | | |", mb(file));
            }
        }
    }
    doc
}

/// "`a` is", "`a` and `b` are", "`a`, `b` and `c` are".
fn named(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((only, [])) => format!("{only} is"),
        Some((last, rest)) => format!("{} and {last} are", rest.join(", ")),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The scripted fixture sequence through `task-events` and through the Python/boto3 peer making
/// the same AWS calls, with every AWS call counted by a (fault-free) proxy in front of moto.
async fn per_event_cost(moto: &Moto, inbox: &Inbox) -> String {
    let t = events::now();
    let sequence: Vec<(&str, Value)> = vec![
        (
            "crash",
            events::task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t - 1),
        ),
        ("replacement running", events::task_running("bbbb", 2, t)),
        (
            "duplicate of the crash",
            events::task_stopped("task-stopped-crash", "aaaa", 3, t - 60, t - 1),
        ),
        (
            "owner stop",
            events::task_stopped("task-stopped-user", "bbbb", 3, t, t + 1),
        ),
        (
            "crash 2",
            events::task_stopped("task-stopped-crash", "cccc", 3, t + 1, t + 2),
        ),
        (
            "crash 3: crash loop",
            events::task_stopped("task-stopped-oom", "dddd", 3, t + 2, t + 3),
        ),
        ("deployment failed", aws_setup::fixture("deployment-failed")),
        ("other service (ignored)", {
            let mut e = events::task_running("eeee", 2, t);
            e["detail"]["group"] = json!("service:other");
            e
        }),
    ];
    let mut doc = String::from("\n## Per-event cost: task-events\n\n");
    doc.push_str(
        "The scripted sequence below, each event once, through the release `task-events` and through the \
         Python/boto3 peer (`bench/python_peer.py`, which makes the same DynamoDB/SNS/ECS calls for an event), \
         in the same run. AWS calls are counted by a proxy in front of moto; CPU is the process's own time on \
         CPU for the event (`/proc/<pid>/schedstat`).\n\n",
    );
    doc.push_str("| event | task-events AWS calls | task-events CPU ms | Python/boto3 CPU ms |\n|---|---|---|---|\n");
    // A table of its own: the cold-start runs above already wrote state for the gateway.
    aws_setup::create_table(&moto.sdk_config().await, "clawkeeper-bench-events").await;
    let proxy = FaultProxy::start(&moto.endpoint());
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(
        &json!([{"id": "home", "cluster": CLUSTER, "service": SERVICE}]),
    ));
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
    env.push(("CLAWKEEPER_TOPIC_ARN".into(), inbox.topic_arn.clone()));
    env.push(("CLAWKEEPER_TABLE".into(), "clawkeeper-bench-events".into()));
    env.push(("CLAWKEEPER_POLICY".into(), POLICY_NOTIFY_AT_ONCE.into()));
    let mut rust = FunctionProcess::spawn("task-events", &env);
    let mut python_cmd = Command::new(clawkeeper_tests::moto::venv_dir().join("bin/python"));
    python_cmd.arg(workspace_root().join("bench/python_peer.py"));
    let peer_env = env.clone();
    let mut python = FunctionProcess::spawn_command("python-boto3", python_cmd, &peer_env);
    let (mut total_calls, mut total_rust, mut total_py) = (0usize, 0.0, 0.0);
    for (label, event) in &sequence {
        let before = proxy.forwarded().len();
        let cpu0 = cpu_ns(rust.pid()).unwrap_or(0);
        let answer = rust.invoke(event);
        if std::env::var_os("BENCH_DEBUG").is_some() {
            eprintln!("{label}: {answer:?}");
        }
        let rust_ms = cpu_ns(rust.pid()).unwrap_or(0).saturating_sub(cpu0) as f64 / 1e6;
        let calls: Vec<String> = proxy.forwarded()[before..].to_vec();
        let py0 = cpu_ns(python.pid()).unwrap_or(0);
        let _ = python.invoke(event);
        let py_ms = cpu_ns(python.pid()).unwrap_or(0).saturating_sub(py0) as f64 / 1e6;
        total_calls += calls.len();
        total_rust += rust_ms;
        total_py += py_ms;
        let _ = writeln!(
            doc,
            "| {label} | {} ({}) | {rust_ms:.2} | {py_ms:.2} |",
            calls.len(),
            if calls.is_empty() {
                "-".to_string()
            } else {
                calls.join(", ")
            },
        );
    }
    let _ = writeln!(
        doc,
        "| **total** | {total_calls} | {total_rust:.2} | {total_py:.2} |\n\n\
         Goal: at most one state write, one ECS call and one publish per event; the table shows where a crash \
         costs more (the outbox confirm is a second write, and snapshot requests go to Lambda)."
    );
    let _ = inbox.drain().await;
    doc
}

/// Calls, CPU and wall time per reconciler run (1 and 10 gateways) and per snapshot (first run and
/// the unchanged case), behind the counting proxy.
async fn per_run_cost(moto: &Moto, inbox: &Inbox) -> String {
    let sdk = moto.sdk_config().await;
    aws_setup::create_table(&sdk, "clawkeeper-bench-runs").await;
    let s3 = clawkeeper_tests::s3::client(&sdk);
    let _ = s3.create_bucket().bucket("clawkeeper-bench").send().await;
    let proxy = FaultProxy::start(&moto.endpoint());
    let mut doc = String::from("\n## Per run: reconciler and snapshot\n\n");
    doc.push_str(
        "Release binaries behind the counting proxy, against moto; CPU is the function process's own time.\n\n",
    );
    doc.push_str("| run | AWS calls | CPU ms | wall ms |\n|---|---|---|---|\n");
    let base_env = |gateways: Value| {
        let mut env = moto.aws_env();
        env.extend(clawkeeper_env(&gateways));
        env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
        env.push(("CLAWKEEPER_TOPIC_ARN".into(), inbox.topic_arn.clone()));
        env.push(("CLAWKEEPER_TABLE".into(), "clawkeeper-bench-runs".into()));
        env.push(("CLAWKEEPER_BUCKET".into(), "clawkeeper-bench".into()));
        env
    };
    for count in [1usize, 10] {
        let gateways: Vec<Value> = (0..count)
            .map(|i| json!({"id": format!("gw{i}"), "cluster": CLUSTER, "service": SERVICE}))
            .collect();
        let mut reconciler = FunctionProcess::spawn("reconciler", &base_env(Value::Array(gateways)));
        let _ = measured(&mut reconciler, &proxy, &json!({})); // first run writes the states
        let (calls, cpu, wall) = measured(&mut reconciler, &proxy, &json!({}));
        let _ = writeln!(
            doc,
            "| reconciler, {count} gateway(s), steady run | {} ({:.1} per gateway) | {cpu:.2} | {wall:.0} |",
            calls.len(),
            calls.len() as f64 / count as f64
        );
    }
    let dir = std::env::temp_dir().join(format!("clawkeeper-bench-state-{}", std::process::id()));
    let state = dir.join("home/.openclaw");
    let _ = std::fs::create_dir_all(state.join("credentials/whatsapp/default"));
    let _ = std::fs::create_dir_all(dir.join("scratch"));
    for i in 0..200 {
        let _ = std::fs::write(
            state.join(format!("credentials/whatsapp/default/pre-key-{i}.json")),
            format!("{{\"keyId\":{i},\"private\":\"{}\"}}", "k".repeat(64)),
        );
    }
    let _ = std::fs::write(
        state.join("credentials/whatsapp/default/creds.json"),
        b"{\"me\":{\"id\":\"1\"}}",
    );
    let _ = std::fs::write(state.join("openclaw.json"), b"{\"gateway\":{\"mode\":\"local\"}}");
    let mut env = base_env(json!([{"id": "home", "cluster": CLUSTER, "service": SERVICE,
        "state_root": dir.join("home").to_string_lossy()}]));
    env.push(("TMPDIR".into(), dir.join("scratch").to_string_lossy().into_owned()));
    let mut snapshot = FunctionProcess::spawn("snapshot", &env);
    for label in ["snapshot, 202 files, first run", "snapshot, unchanged state"] {
        let (calls, cpu, wall) = measured(&mut snapshot, &proxy, &json!({"gateway": "home", "trigger": "bench"}));
        let mut kinds: Vec<String> = calls
            .iter()
            .map(|c| c.split_whitespace().next().unwrap_or("").to_string())
            .collect();
        kinds.dedup();
        let _ = writeln!(
            doc,
            "| {label} | {} ({}) | {cpu:.2} | {wall:.0} |",
            calls.len(),
            kinds.join(", ")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    doc
}
