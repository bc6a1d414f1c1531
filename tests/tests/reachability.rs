//! Reachability, for real: the watchdog never acts on what it cannot see.
//!
//! The real `reconciler` binary runs inside a network namespace standing for its Lambda network;
//! the gateway task's "ENI" is another namespace, joined to it by a veth pair with addresses from
//! the benchmark range (`clawkeeper_tests::netns`). moto runs the ECS service and its RUNNING
//! Fargate task; a proxy between the reconciler and moto (`clawkeeper_tests::task_ip_proxy`)
//! shows that task's private IP as the task namespace's address, so the reconciler probes the real
//! OpenClaw gateway (or a small server) in there, and never moto's random 10.x address. The
//! reconciler's namespace has no route but the veth (and none at all outside the VPC): all its
//! other traffic goes through loopback bridges to moto and the Runtime API emulator.
//!
//! - Outside the VPC (`CLAWKEEPER_PROBE_TASK_IP=false`, no route): a live gateway is never probed
//!   (no packet reaches its namespace), never stopped, and `status` says the probe is unavailable.
//! - In the VPC: the real gateway is probed live; behind a pulled cable it is unreachable
//!   (unknown), never stopped; plugged in again it is live.
//! - An HTML 200 is hung and stopped after `hung_probe_failures` runs, but only by a reconciler
//!   told it runs in the VPC: with the flag false, not even a route makes it probe.
//! - Nothing listening (refused) is unreachable: unknown, never a stop.
//!
//! Needs root (namespaces): set `CLAWKEEPER_NO_NETNS=1` to skip these tests where that is not so.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use clawkeeper_core::health::GATEWAY_PORT;
use clawkeeper_openclaw::probe::{Probed, Prober};
use clawkeeper_tests::aws_setup::{create_secret, kinds};
use clawkeeper_tests::consts::{CLUSTER, POLICY_HUNG_AFTER_TWO, SERVICE};
use clawkeeper_tests::home::{kill_group, openclaw};
use clawkeeper_tests::netns::{self, Netns, NetnsFunction, Subnet, spawn_function, veth};
use clawkeeper_tests::stub::{CONTROL_UI_HTML, Stub};
use clawkeeper_tests::task_ip_proxy::TaskIpProxy;
use clawkeeper_tests::{FunctionProcess, Stack, ok, set_env};
use serde_json::{Value, json};

/// Runs per scenario: more than `hung_probe_failures` (2: a stop would come on the second run).
const RUNS: usize = 4;
/// The task's "ENI" in its namespace, and the reconciler's end of the cable in its own.
const TASK_DEV: &str = "eth0";
const LAMBDA_DEV: &str = "vpc0";
const TOKEN: &str = "ck-reachability-token-5d1e0a";

/// `false` (with a note) when namespaces cannot be made here and the owner said so.
fn netns_or_skip() -> bool {
    if std::env::var_os("CLAWKEEPER_NO_NETNS").is_some() {
        eprintln!("CLAWKEEPER_NO_NETNS is set: reachability tests skipped");
        return false;
    }
    assert!(
        netns::available(),
        "reachability tests need root and iproute2 (network namespaces); set CLAWKEEPER_NO_NETNS=1 to skip them"
    );
    true
}

/// moto with a RUNNING awsvpc gateway task, the two namespaces and the cable between them.
struct World {
    stack: Stack,
    proxy: TaskIpProxy,
    /// Where the reconciler runs.
    lambda: Netns,
    /// The task's network: what the reconciler sees at the task's private IP.
    task_net: Netns,
    subnet: Subnet,
    gateway: Value,
}

impl World {
    /// `routed`: the reconciler's end of the cable has an address, hence a route to the task.
    async fn new(gateway: Value, routed: bool) -> Self {
        let stack = Stack::builder().with_running_task().start().await;
        let subnet = Subnet::next();
        let proxy = TaskIpProxy::start(&stack.moto.endpoint(), &subnet.far.to_string());
        let lambda = Netns::create("lambda");
        let task_net = Netns::create("task");
        veth(&lambda, LAMBDA_DEV, &task_net, TASK_DEV);
        task_net.add_address(TASK_DEV, &subnet.far_cidr());
        if routed {
            lambda.add_address(LAMBDA_DEV, &subnet.near_cidr());
        }
        Self {
            stack,
            proxy,
            lambda,
            task_net,
            subnet,
            gateway,
        }
    }

    /// The functions' environment for the world's gateway.
    fn env(&self) -> Vec<(String, String)> {
        self.stack
            .env_with(&[("CLAWKEEPER_GATEWAYS", &json!([self.gateway]).to_string())])
    }

    /// The reconciler's environment; its AWS endpoint is the task IP proxy.
    fn reconciler_env(&self, probe_task_ip: bool) -> Vec<(String, String)> {
        let mut env = self.env();
        set_env(&mut env, "AWS_ENDPOINT_URL", self.proxy.endpoint());
        set_env(&mut env, "CLAWKEEPER_POLICY", POLICY_HUNG_AFTER_TWO);
        set_env(&mut env, "CLAWKEEPER_PROBE_TASK_IP", probe_task_ip.to_string());
        env
    }

    fn reconciler(&self, probe_task_ip: bool) -> NetnsFunction {
        spawn_function(&self.lambda, "reconciler", &self.reconciler_env(probe_task_ip))
    }

    /// Where the task "is" for the reconciler.
    fn task_addr(&self) -> SocketAddr {
        SocketAddr::from((self.subnet.far, GATEWAY_PORT))
    }

    /// Packets that reached the task's namespace through its only link so far.
    fn arrived(&self) -> u64 {
        self.task_net.link_stats(TASK_DEV).rx_packets
    }

    /// What `control`'s `status` shows of the gateway's watchdog (outside the namespaces).
    fn status(&self) -> Value {
        let mut control = FunctionProcess::spawn("control", &self.env());
        let status = ok(&mut control, &json!({"action": "status"}));
        status["gateways"][0]["watchdog"].clone()
    }

    /// Asserts nothing was stopped, notified or opened, and the task still runs (the behaviour
    /// first, then the answers' words for it).
    async fn assert_left_alone(&self, answers: &[Value]) {
        assert_eq!(
            self.proxy.calls("StopTask"),
            0,
            "no StopTask ever reached ECS: {answers:#?}"
        );
        let got = self.stack.inbox().settle_and_drain().await;
        assert!(got.is_empty(), "no notice: {got:#?}");
        assert_eq!(self.stack.task_last_status().await, "RUNNING");
        for answer in answers {
            let g = &answer["gateways"][0];
            assert_eq!(g["phase"], "healthy", "{answer}");
            assert_eq!(g["incident_open"], false, "{answer}");
            assert_eq!(g["executed"], json!([]), "{answer}");
            assert_eq!(g["probe"]["failures"], 0, "{answer}");
        }
    }
}

/// Runs the reconciler `times` times; the answers, and how long the runs took.
fn run(reconciler: &mut NetnsFunction, times: usize) -> (Vec<Value>, Duration) {
    let started = Instant::now();
    let answers = (0..times).map(|_| ok(&mut reconciler.process, &json!({}))).collect();
    (answers, started.elapsed())
}

/// The real OpenClaw gateway (`openclaw gateway run` from npm) inside a namespace, bound to all
/// its addresses (`--bind lan`, which OpenClaw allows only with auth: a token). Killed, with its
/// process group, when dropped.
struct RealGateway {
    child: Child,
    home: tempfile::TempDir,
}

impl RealGateway {
    fn start(ns: &Netns) -> Self {
        let home = tempfile::tempdir().expect("home");
        let log = std::fs::File::create(home.path().join("gateway.log")).expect("log");
        let child = ns
            .command(openclaw())
            .args([
                "gateway",
                "run",
                "--allow-unconfigured",
                "--port",
                &GATEWAY_PORT.to_string(),
            ])
            .args(["--auth", "token", "--bind", "lan"])
            .env("HOME", home.path())
            .env("OPENCLAW_STATE_DIR", home.path().join(".openclaw"))
            .env("OPENCLAW_GATEWAY_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start the gateway");
        Self { child, home }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("gateway.log")).unwrap_or_default()
    }
}

impl Drop for RealGateway {
    fn drop(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.wait();
    }
}

/// One probe of `base` made from inside `ns` (the gateway's own host), with the real probe client.
fn probe_from(ns: &Netns, base: &str) -> Probed {
    ns.enter(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let prober = Prober::new(Duration::from_secs(2)).expect("prober");
            prober.probe(base, None).await
        })
    })
}

/// Probes from inside the task's namespace until the gateway is live three times in a row (its
/// first boot can restart once); returns how long that took.
fn wait_live(world: &World, gateway: &RealGateway) -> Duration {
    let base = format!("http://{}", world.task_addr());
    let started = Instant::now();
    let mut streak = 0;
    while started.elapsed() < Duration::from_secs(150) {
        if probe_from(&world.task_net, &base).is_live() {
            streak += 1;
            if streak == 3 {
                return started.elapsed();
            }
        } else {
            streak = 0;
        }
        thread::sleep(Duration::from_millis(500));
    }
    panic!("the real gateway never answered /healthz at {base}:\n{}", gateway.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn outside_the_vpc_a_live_gateway_it_cannot_see_is_never_probed_nor_stopped() {
    if !netns_or_skip() {
        return;
    }
    let world = World::new(json!({"id": "home", "cluster": CLUSTER, "service": SERVICE}), false).await;
    let gateway = RealGateway::start(&world.task_net);
    let boot = wait_live(&world, &gateway);
    // Really unreachable: the reconciler's namespace has no route to the task at all.
    let attempt = world
        .lambda
        .enter(|| TcpStream::connect_timeout(&world.task_addr(), Duration::from_secs(1)));
    assert_eq!(
        attempt.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::NetworkUnreachable),
        "no route from the reconciler's namespace"
    );
    let before = world.arrived();

    let mut reconciler = world.reconciler(false);
    let (answers, took) = run(&mut reconciler, RUNS);
    assert_eq!(world.arrived(), before, "nothing reached the task's namespace");
    world.assert_left_alone(&answers).await;
    for answer in &answers {
        let g = &answer["gateways"][0];
        assert_eq!(g["probe"]["mode"], "unavailable", "{answer}");
        assert_eq!(g["probe"]["outcome"], Value::Null, "{answer}");
        let why = g["probe"]["detail"].as_str().unwrap_or_default();
        assert!(
            why.contains("outside the VPC") && why.contains("ProbeInVpc=true"),
            "{answer}"
        );
        assert_eq!(g["probe_ms"], Value::Null, "no probe was made: {answer}");
        assert_eq!(g["up"], true, "ECS's word, the probe having none: {answer}");
    }

    let status = world.status();
    assert_eq!(status["probe"]["mode"], "unavailable", "{status}");
    assert!(
        status["probe"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ProbeInVpc=true")),
        "{status}"
    );
    assert!(probe_from(&world.task_net, &format!("http://{}", world.task_addr())).is_live());
    eprintln!(
        "outside the VPC: gateway live after {boot:?}; {RUNS} reconciler runs in {took:?}, {} packets reached it",
        world.arrived() - before
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_the_vpc_the_real_gateway_is_live_and_behind_a_pulled_cable_unknown_never_stopped() {
    if !netns_or_skip() {
        return;
    }
    let mut world = World::new(Value::Null, true).await;
    // The token the gateway requires (a LAN bind needs auth), in Secrets Manager for the reconciler.
    let arn = create_secret(&world.stack.moto, "openclaw-gateway-token", TOKEN);
    world.gateway = json!({"id": "home", "cluster": CLUSTER, "service": SERVICE, "token_secret_arn": arn});
    let gateway = RealGateway::start(&world.task_net);
    let boot = wait_live(&world, &gateway);
    let before = world.arrived();

    let mut reconciler = world.reconciler(true);
    let (live, _) = run(&mut reconciler, 1);
    let g = &live[0]["gateways"][0];
    assert_eq!(g["probe"]["mode"], "task_ip", "{}", live[0]);
    assert_eq!(g["probe"]["outcome"], "live", "{}\n{}", live[0], gateway.log());
    assert_eq!(g["up"], true, "{}", live[0]);
    assert!(g["ready"].is_boolean(), "/readyz answered the token: {}", live[0]);
    assert!(world.arrived() > before, "the probe reached the task's namespace");
    let far = world.subnet.far.to_string();
    assert!(
        world
            .proxy
            .rewritten()
            .iter()
            .any(|(moto_ip, shown)| *shown == far && moto_ip.starts_with("10.")),
        "the reconciler saw the task at {far}, not at moto's address: {:?}",
        world.proxy.rewritten()
    );

    // The cable pulled on the task's side. First the address stops resolving (ARP gets no answer:
    // "no route to host", or a timeout while the old neighbour entry lasts); then, with the
    // neighbour pinned, every SYN goes into the dead link and the connect times out. Unknown either
    // way, run after run: each half alone is as many runs as would make a hung stop.
    world.task_net.set_link(TASK_DEV, false);
    let (unresolved, _) = run(&mut reconciler, RUNS / 2);
    let mac = world.task_net.mac(TASK_DEV);
    world.lambda.pin_neighbour(LAMBDA_DEV, world.subnet.far, &mac);
    let (timed_out, took) = run(&mut reconciler, RUNS / 2);
    let answers: Vec<Value> = unresolved.iter().chain(&timed_out).cloned().collect();
    world.assert_left_alone(&answers).await;
    for answer in &answers {
        let g = &answer["gateways"][0];
        assert_eq!(g["probe"]["outcome"], "unreachable", "{answer}");
        let why = g["probe"]["detail"].as_str().unwrap_or_default();
        assert!(why.starts_with("could not reach the gateway"), "{answer}");
    }
    for answer in &timed_out {
        let ms = answer["gateways"][0]["probe_ms"].as_u64().unwrap_or(0);
        assert!((1900..3000).contains(&ms), "a connect timeout: {answer}");
    }

    world.task_net.set_link(TASK_DEV, true);
    let (again, _) = run(&mut reconciler, 1);
    assert_eq!(again[0]["gateways"][0]["probe"]["outcome"], "live", "{}", again[0]);
    world.assert_left_alone(&again).await;
    let status = world.status();
    assert_eq!(status["probe"]["mode"], "task_ip", "{status}");
    assert_eq!(status["probe"]["last_outcome"], "live", "{status}");
    let logs = reconciler.process.logs();
    assert!(!logs.contains(TOKEN), "the token never shows in the logs:\n{logs}");
    eprintln!(
        "in the VPC: gateway live after {boot:?}; {} runs timing out to a pulled cable took {took:?}",
        RUNS / 2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_html_200_is_hung_and_stopped_but_only_by_a_reconciler_in_the_vpc() {
    if !netns_or_skip() {
        return;
    }
    // The route is there in both halves: only the flag says whether the reconciler runs in the VPC.
    let world = World::new(json!({"id": "home", "cluster": CLUSTER, "service": SERVICE}), true).await;
    // A server in the task's namespace answering every request with an HTML 200 (the Control UI's
    // answer to a path it does not know).
    let html = Stub::serve_on(
        world.task_net.listen(world.task_addr()),
        200,
        "text/html",
        Some(CONTROL_UI_HTML),
    );

    let mut outside = world.reconciler(false);
    let (answers, _) = run(&mut outside, RUNS);
    assert_eq!(html.accepted(), 0, "CLAWKEEPER_PROBE_TASK_IP=false: never probed");
    world.assert_left_alone(&answers).await;
    for answer in &answers {
        assert_eq!(answer["gateways"][0]["probe"]["mode"], "unavailable", "{answer}");
    }
    drop(outside);

    let mut inside = world.reconciler(true);
    let (first, _) = run(&mut inside, 1);
    let g = &first[0]["gateways"][0];
    assert_eq!(g["probe"]["mode"], "task_ip", "{}", first[0]);
    assert_eq!(g["probe"]["outcome"], "failed", "{}", first[0]);
    assert!(
        g["probe"]["detail"].as_str().is_some_and(|d| d.contains("HTML")),
        "{}",
        first[0]
    );
    assert_eq!(g["probe"]["failures"], 1, "{}", first[0]);
    assert_eq!(g["up"], false, "{}", first[0]);
    assert_eq!(
        world.stack.task_last_status().await,
        "RUNNING",
        "one failure is not hung"
    );
    assert!(world.stack.inbox().settle_and_drain().await.is_empty());

    let (second, _) = run(&mut inside, 1);
    let got = world.stack.inbox().settle_and_drain().await;
    assert_eq!(kinds(&got), ["hung_restarted"], "{got:#?}\n{}", second[0]);
    assert!(got[0].message.contains("HTML"), "{}", got[0].message);
    assert_eq!(world.proxy.calls("StopTask"), 1);
    assert_eq!(world.stack.task_last_status().await, "STOPPED", "{}", second[0]);
    assert!(html.accepted() >= 2, "both runs reached the server");
    let status = world.status();
    assert_eq!(status["probe"]["last_outcome"], "failed", "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn in_the_vpc_nothing_listening_is_unreachable_never_a_stop() {
    if !netns_or_skip() {
        return;
    }
    let world = World::new(json!({"id": "home", "cluster": CLUSTER, "service": SERVICE}), true).await;
    let before = world.task_net.tcp_stats();
    let mut reconciler = world.reconciler(true);
    let (answers, took) = run(&mut reconciler, RUNS);
    world.assert_left_alone(&answers).await;
    for answer in &answers {
        let g = &answer["gateways"][0];
        assert_eq!(g["probe"]["mode"], "task_ip", "{answer}");
        assert_eq!(g["probe"]["outcome"], "unreachable", "{answer}");
        let why = g["probe"]["detail"].as_str().unwrap_or_default();
        assert!(why.contains("refused"), "{answer}");
        assert_eq!(g["up"], true, "ECS's word, the probe having none: {answer}");
    }
    // The task's namespace was reached and said no: one reset per probe.
    let after = world.task_net.tcp_stats();
    assert!(
        after.out_rsts - before.out_rsts >= RUNS as u64,
        "{before:?} -> {after:?}"
    );
    let status = world.status();
    assert_eq!(status["probe"]["last_outcome"], "unreachable", "{status}");
    eprintln!("nothing listening: {RUNS} runs in {took:?}");
}
