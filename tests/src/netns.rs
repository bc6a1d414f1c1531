//! Network namespaces for reachability tests (needs root): two "hosts" that can or cannot reach
//! each other, made of namespaces, a veth pair and addresses of the test's own from the benchmark
//! range 198.18.0.0/15.
//!
//! A fresh namespace has only `lo` and no route anywhere: whatever runs in it (the reconciler,
//! the OpenClaw gateway) can reach only what the test connects it to. That makes "outside the VPC"
//! real and keeps every packet on loopback or inside namespaces the test made: a namespace never
//! gets a default route, and the machine's own network is never touched.
//!
//! - [`Netns::create`]: a namespace with a unique name, `lo` up and IPv6 off (no router
//!   solicitations or neighbour discovery on its links: every packet on them is the test's).
//! - [`veth`]: a cable between two namespaces; [`Netns::add_address`] gives one end an address
//!   (and with it the route to the other end), [`Netns::set_link`] pulls the plug.
//! - [`Netns::enter`]: runs a closure on a thread inside the namespace; sockets it opens stay in
//!   there (a listener for a test server, a connection to check from inside).
//! - [`Netns::bridge_loopback`]: makes one loopback port of the test (moto, the Runtime API) answer
//!   on the namespace's loopback too, so a function in the namespace reaches its AWS endpoint and
//!   nothing else.
//! - [`spawn_function`]: a real function binary running inside a namespace, driven as usual.
//! - Counters: [`Netns::link_stats`] (packets through one link) and [`Netns::tcp_stats`].
//!
//! Everything is torn down in `Drop`, also when a test panics: the processes left in the namespace
//! (the test started them) are killed by pid, then the namespace is deleted with its links.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::function::{FunctionProcess, bin_path};

/// Namespaces, subnets and ready files made by this process so far (names stay unique across the
/// tests of one binary; the pid keeps them apart from other test processes).
static NEXT: AtomicU32 = AtomicU32::new(0);

fn next_id() -> u32 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The `ip` tool (iproute2).
pub fn ip_tool() -> PathBuf {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("ip"))
}

/// Whether this process may make namespaces (root, with `ip` available).
pub fn available() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    root && Command::new(ip_tool())
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(program: impl AsRef<OsStr>, args: &[&str]) -> String {
    let program = program.as_ref().to_owned();
    let out = Command::new(&program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{} {args:?}: {e}", program.to_string_lossy()));
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.to_string_lossy(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A /30 of the benchmark range: `near` and `far` are its two host addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    /// The first address (for the side that connects).
    pub near: Ipv4Addr,
    /// The second address (for the side that is connected to).
    pub far: Ipv4Addr,
}

impl Subnet {
    /// A /30 no other subnet of this process uses, in 198.18.0.0/15 (varied by pid as well, so two
    /// test processes show different addresses in their logs; namespaces keep them apart anyway).
    pub fn next() -> Self {
        let index = (std::process::id() % 64) * 2048 + next_id() % 2048;
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + index * 4;
        Self {
            near: Ipv4Addr::from(base + 1),
            far: Ipv4Addr::from(base + 2),
        }
    }

    /// `near/30`, for `ip addr add`.
    pub fn near_cidr(&self) -> String {
        format!("{}/30", self.near)
    }

    /// `far/30`, for `ip addr add`.
    pub fn far_cidr(&self) -> String {
        format!("{}/30", self.far)
    }
}

/// Packets through one link, as its namespace counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
}

/// The namespace's TCP counters (`/proc/net/snmp`), loopback included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpStats {
    /// Connections accepted by a listener.
    pub passive_opens: u64,
    /// Segments received.
    pub in_segs: u64,
    /// Resets sent (a connection to a port nothing listens on is answered with one).
    pub out_rsts: u64,
}

/// A network namespace owned by the test; deleted, with what runs in it, when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// A new namespace `ck-<tag>-<pid>-<n>` with `lo` up and IPv6 off.
    pub fn create(tag: &str) -> Self {
        let name = format!("ck-{tag}-{}-{}", std::process::id(), next_id());
        run(ip_tool(), &["netns", "add", &name]);
        let ns = Self { name };
        // Before any link exists, so links made later inherit `default`.
        let sysctl = ["/usr/sbin/sysctl", "/sbin/sysctl"]
            .iter()
            .find(|p| std::path::Path::new(p).exists())
            .copied()
            .unwrap_or("sysctl");
        run(
            ip_tool(),
            &[
                "netns",
                "exec",
                &ns.name,
                sysctl,
                "-q",
                "-w",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        );
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name (`ip netns list`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <name> <args>`, failing the test with ip's message.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run(ip_tool(), &all)
    }

    /// Gives `dev` an address (`198.18.0.1/30`): with it comes the route to the rest of the /30.
    pub fn add_address(&self, dev: &str, cidr: &str) {
        self.ip(&["addr", "add", cidr, "dev", dev]);
    }

    /// Sets `dev` up or down.
    pub fn set_link(&self, dev: &str, up: bool) {
        self.ip(&["link", "set", "dev", dev, if up { "up" } else { "down" }]);
    }

    /// The MAC address of `dev`.
    pub fn mac(&self, dev: &str) -> String {
        let text = self.ip(&["-j", "link", "show", "dev", dev]);
        let links: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("ip -j link: {e}: {text}"));
        links[0]["address"]
            .as_str()
            .unwrap_or_else(|| panic!("no MAC for {dev}: {text}"))
            .to_string()
    }

    /// Pins `ip` to `mac` on `dev` (no ARP any more): frames for it are sent even into a dead
    /// link, so connecting times out instead of failing with "no route to host".
    pub fn pin_neighbour(&self, dev: &str, ip: Ipv4Addr, mac: &str) {
        self.ip(&[
            "neigh",
            "replace",
            &ip.to_string(),
            "lladdr",
            mac,
            "dev",
            dev,
            "nud",
            "permanent",
        ]);
    }

    /// `program` to run inside the namespace (`ip netns exec <name> <program>`); add arguments and
    /// environment as usual.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(ip_tool());
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Runs `f` on a thread that joined the namespace; sockets `f` opens live in the namespace.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        thread::scope(|scope| {
            let joined = scope.spawn(move || {
                let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                // SAFETY: a valid namespace fd, CLONE_NEWNET; it changes this thread's network
                // namespace only, and the thread ends with the scope.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {path}: {}", io::Error::last_os_error());
                f()
            });
            joined.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// A TCP listener on `addr` inside the namespace.
    pub fn listen(&self, addr: SocketAddr) -> TcpListener {
        self.enter(|| TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("bind {addr} in {}: {e}", self.name))
    }

    /// Packets through `dev` so far.
    pub fn link_stats(&self, dev: &str) -> LinkStats {
        let text = self.ip(&["-j", "-s", "link", "show", "dev", dev]);
        let links: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("ip -j -s link: {e}: {text}"));
        let stats = &links[0]["stats64"];
        LinkStats {
            rx_packets: stats["rx"]["packets"].as_u64().unwrap_or(0),
            tx_packets: stats["tx"]["packets"].as_u64().unwrap_or(0),
        }
    }

    /// The namespace's TCP counters so far.
    pub fn tcp_stats(&self) -> TcpStats {
        // `/proc/net` is the namespace of the thread that opens it.
        let text = self
            .enter(|| std::fs::read_to_string("/proc/thread-self/net/snmp"))
            .unwrap_or_else(|e| panic!("snmp of {}: {e}", self.name));
        let rows: Vec<Vec<&str>> = text
            .lines()
            .filter(|l| l.starts_with("Tcp:"))
            .map(|l| l.split_whitespace().collect())
            .collect();
        let value = |name: &str| -> u64 {
            let [names, values] = rows.as_slice() else { return 0 };
            names
                .iter()
                .position(|n| *n == name)
                .and_then(|i| values.get(i))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        TcpStats {
            passive_opens: value("PassiveOpens"),
            in_segs: value("InSegs"),
            out_rsts: value("OutRsts"),
        }
    }

    /// Makes the test's loopback service on `port` answer on `127.0.0.1:<port>` inside the
    /// namespace as well: each connection is accepted in here and forwarded to the test's own
    /// loopback. Stops accepting when the bridge drops.
    pub fn bridge_loopback(&self, port: u16) -> Bridge {
        let listener = self.listen(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("nonblocking bridge listener: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((inside, _)) => {
                        let _ = inside.set_nonblocking(false);
                        // This thread never joined the namespace: the upstream connection is the
                        // test's own loopback.
                        if let Ok(outside) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
                            splice(inside, outside);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(10)),
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Bridge { stop }
    }

    /// Pids of the processes in the namespace.
    pub fn pids(&self) -> Vec<u32> {
        Command::new(ip_tool())
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Only processes this test started are in here (by construction of the namespace).
        for pid in self.pids() {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: kill(2) with a pid read from the namespace just now.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.pids().is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        // Deleting the namespace deletes its links (and a veth's other end with them).
        let _ = Command::new(ip_tool()).args(["netns", "delete", &self.name]).status();
    }
}

/// Copies both ways between two connections until either side closes.
fn splice(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    thread::spawn(move || pipe(a, b2));
    thread::spawn(move || pipe(b, a2));
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A loopback bridge into a namespace; stops accepting when dropped.
#[derive(Debug)]
pub struct Bridge {
    stop: Arc<AtomicBool>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A veth pair: `a_dev` in `a`, `b_dev` in `b`, both up, no addresses yet (so no route either way).
pub fn veth(a: &Netns, a_dev: &str, b: &Netns, b_dev: &str) {
    // Created directly in the two namespaces: the test's own namespace never sees the pair.
    run(
        ip_tool(),
        &[
            "link", "add", a_dev, "netns", &a.name, "type", "veth", "peer", "name", b_dev, "netns", &b.name,
        ],
    );
    a.set_link(a_dev, true);
    b.set_link(b_dev, true);
}

/// A function binary running inside `ns`, with loopback bridges to its Runtime API emulator and to
/// its AWS endpoints (which must be `http://127.0.0.1:<port>` URLs).
pub struct NetnsFunction {
    /// The process, driven like any other (`invoke`, `logs`). Dropped first: killed before its
    /// bridges close.
    pub process: FunctionProcess,
    _bridges: Vec<Bridge>,
    /// The wrapper's link and the ready file.
    _dir: tempfile::TempDir,
}

/// What the wrapper runs: wait (bounded) until the bridges are in place, then become the function
/// inside the namespace. The ports to bridge are only known once the process is spawned: the
/// Runtime API emulator starts with it, and the IAM recorder (`crate::recorder`) may put its own
/// proxy in front of the AWS endpoint.
const WRAPPER: &str = r#"i=0
while [ ! -e "$CK_NETNS_READY" ]; do
  i=$((i+1))
  if [ "$i" -gt 400 ]; then echo "netns bridges not ready after 20 s" >&2; exit 97; fi
  sleep 0.05
done
exec "$CK_NETNS_IP" netns exec "$CK_NETNS" "$CK_NETNS_BIN""#;

/// Starts function `name` inside `ns` with `env`, as [`FunctionProcess::spawn`] would outside.
pub fn spawn_function(ns: &Netns, name: &str, env: &[(String, String)]) -> NetnsFunction {
    let bin = bin_path(name);
    assert!(
        bin.exists(),
        "{} not found: build the functions first (`cargo build --workspace --bins`)",
        bin.display()
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    // The wrapper shell is linked under the function's name: the IAM recorder names a process by
    // its program's file name, and these are the function's calls.
    let shell = dir.path().join(name);
    std::os::unix::fs::symlink("/bin/sh", &shell).unwrap_or_else(|e| panic!("link {}: {e}", shell.display()));
    let ready = dir.path().join("bridges-ready");
    let mut env = env.to_vec();
    env.extend([
        ("CK_NETNS_READY".to_string(), ready.to_string_lossy().into_owned()),
        ("CK_NETNS_IP".to_string(), ip_tool().to_string_lossy().into_owned()),
        ("CK_NETNS".to_string(), ns.name().to_string()),
        ("CK_NETNS_BIN".to_string(), bin.to_string_lossy().into_owned()),
    ]);
    let mut wrapper = Command::new(&shell);
    wrapper.args(["-c", WRAPPER]);
    let process = FunctionProcess::spawn_command(name, wrapper, &env);
    let bridges = loopback_ports(process.pid())
        .into_iter()
        .map(|port| ns.bridge_loopback(port))
        .collect();
    File::create(&ready).unwrap_or_else(|e| panic!("ready file {}: {e}", ready.display()));
    NetnsFunction {
        process,
        _bridges: bridges,
        _dir: dir,
    }
}

/// The loopback ports the process was given: its Runtime API (`AWS_LAMBDA_RUNTIME_API`) and AWS
/// endpoints (`AWS_ENDPOINT_URL*`), read from its environment as it was started.
///
/// `spawn` can return while the child is still inside execve (the vfork parent is let go once the
/// old memory is released, before the new stack holds the environment): until then the environment
/// reads empty, so it is read again for a little while.
fn loopback_ports(pid: u32) -> Vec<u16> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ports = environ_ports(pid);
        if !ports.is_empty() {
            return ports;
        }
        assert!(Instant::now() < deadline, "no Runtime API in the environment of {pid}");
        thread::sleep(Duration::from_millis(5));
    }
}

fn environ_ports(pid: u32) -> Vec<u16> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_else(|e| panic!("environ of {pid}: {e}"));
    let mut ports = Vec::new();
    for kv in environ.split(|b| *b == 0).filter_map(|kv| std::str::from_utf8(kv).ok()) {
        let Some((name, value)) = kv.split_once('=') else {
            continue;
        };
        if name != "AWS_LAMBDA_RUNTIME_API" && !name.starts_with("AWS_ENDPOINT_URL") {
            continue;
        }
        let port = value
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .strip_prefix("127.0.0.1:")
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("{name}={value}: only 127.0.0.1 endpoints can be bridged into a namespace"));
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    ports
}
