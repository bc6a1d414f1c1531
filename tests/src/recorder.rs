//! Records every AWS request a function process makes, for the IAM coverage check
//! (`tests/iam/`, `make iam-coverage`).
//!
//! [`Recording::start`] puts a loopback pass-through proxy in front of each AWS endpoint a
//! [`crate::FunctionProcess`] is given (`AWS_ENDPOINT_URL`, and `AWS_ENDPOINT_URL_LAMBDA` on its
//! own) and appends one JSON line per request to a file of that process under `target/iam-calls/`.
//! The proxy changes nothing the function sees: each client connection gets its own upstream
//! connection and the bytes are copied as they arrive, both ways, while a parser reads a copy of
//! them to find where each request and answer starts and ends. It injects no faults; requests that
//! fail (an injected fault further up, a dropped connection) are recorded all the same, since the
//! call was attempted.
//!
//! The file's first line describes the process (`"kind":"process"`: function and binary names,
//! its clawkeeper environment); each further line is a call (`"kind":"call"`) or, when the HTTP
//! stream could not be parsed, an error (`"kind":"error"`), which fails the check.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The environment variables written to the process line: what the check needs to resolve the
/// template's resources to the names this test used.
const RECORDED_ENV: &[&str] = &[
    "AWS_REGION",
    "CLAWKEEPER_TABLE",
    "CLAWKEEPER_BUCKET",
    "CLAWKEEPER_TOPIC_ARN",
    "CLAWKEEPER_GATEWAYS",
    "CLAWKEEPER_SNAPSHOT_FUNCTION",
    "CLAWKEEPER_RESTORE_FUNCTION",
    "CLAWKEEPER_DEAD_LETTER_QUEUE_URL",
];

/// The request headers kept: what decides the IAM action and its condition keys.
fn kept_header(name: &str) -> bool {
    matches!(
        name,
        "x-amz-target" | "content-type" | "x-amz-copy-source" | "x-amz-invocation-type"
    ) || name.starts_with("x-amz-server-side-encryption")
}

/// Request bodies kept are capped; the check refuses to map a truncated body it needs.
const BODY_CAP: usize = 256 << 10;

/// A request head larger than this is not HTTP from an SDK: the parser gives up (and says so).
const HEAD_CAP: usize = 1 << 20;

/// Where the recordings go, or `None` when recording is off: `CLAWKEEPER_IAM_CALLS` names the
/// folder (`off` or empty turns recording off); without it, test executables (which cargo puts in
/// `target/<profile>/deps/`) record into `iam-calls/` of the target dir (`CARGO_TARGET_DIR`, else
/// the workspace's `target/`), and other programs (the demo, the benchmarks) record nothing, so
/// benchmark figures are not measured through a proxy.
pub fn calls_dir() -> Option<PathBuf> {
    match std::env::var("CLAWKEEPER_IAM_CALLS") {
        Ok(v) if v.is_empty() || v == "off" || v == "0" => return None,
        Ok(v) => return Some(PathBuf::from(v)),
        Err(_) => {}
    }
    let exe = std::env::current_exe().ok()?;
    if !exe.parent()?.ends_with("deps") {
        return None;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                crate::workspace_root().join(t)
            }
        })
        .unwrap_or_else(|| crate::workspace_root().join("target"));
    Some(target.join("iam-calls"))
}

/// The proxies of one function process and the file they write; dropped with the process.
pub struct Recording {
    proxies: Vec<Proxy>,
    overrides: Vec<(String, String)>,
}

impl Recording {
    /// Starts recording for a process named `function` (its `AWS_LAMBDA_FUNCTION_NAME`) running
    /// `binary`, which would get `env`. `None` when recording is off or `env` names no reachable
    /// endpoint (a test of an unreachable AWS keeps its closed port: a proxy would turn "connection
    /// refused" into a dropped connection).
    pub fn start(function: &str, binary: &str, env: &[(String, String)]) -> Option<Self> {
        let dir = calls_dir()?;
        let last = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let endpoints: Vec<(&str, String)> = [("default", "AWS_ENDPOINT_URL"), ("lambda", "AWS_ENDPOINT_URL_LAMBDA")]
            .into_iter()
            .filter_map(|(kind, var)| last(var).map(|url| (kind, url)))
            .filter(|(_, url)| reachable(url))
            .collect();
        if endpoints.is_empty() {
            return None;
        }
        let recorded_env: BTreeMap<&str, String> = RECORDED_ENV.iter().filter_map(|k| Some((*k, last(k)?))).collect();
        let header = json!({
            "kind": "process",
            "function": function,
            "binary": binary,
            "test": std::env::current_exe().ok().and_then(|e| e.file_name().map(|n| n.to_string_lossy().into_owned())),
            "env": recorded_env,
        });
        let file = Arc::new(CallLog::create(&dir, function, &header));
        let mut proxies = Vec::new();
        let mut overrides = Vec::new();
        for (kind, url) in endpoints {
            let var = if kind == "lambda" {
                "AWS_ENDPOINT_URL_LAMBDA"
            } else {
                "AWS_ENDPOINT_URL"
            };
            let proxy = Proxy::start(kind, &url, Arc::clone(&file));
            overrides.push((var.to_string(), format!("http://{}", proxy.addr)));
            proxies.push(proxy);
        }
        Some(Self { proxies, overrides })
    }

    /// The environment to give the process instead: each endpoint replaced by its proxy.
    pub fn env_overrides(&self) -> &[(String, String)] {
        &self.overrides
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        // The process is gone by now (FunctionProcess kills it first), so its connections end at
        // once; waiting for them lets the last calls (those left without an answer) reach the file
        // before the test program exits.
        let deadline = Instant::now() + Duration::from_secs(2);
        for proxy in &self.proxies {
            proxy.stop(deadline);
        }
    }
}

/// `http://host:port` with something listening there.
fn reachable(url: &str) -> bool {
    let Some(addr) = host_port(url) else { return false };
    TcpStream::connect(addr).is_ok()
}

fn host_port(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    Some(if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    })
}

/// One process's file of calls. Lines are written whole, under a lock, as soon as they are known.
struct CallLog {
    file: Mutex<File>,
    path: PathBuf,
}

impl CallLog {
    fn create(dir: &Path, function: &str, header: &Value) -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let safe: String = function
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!(
            "{safe}-{}-{}.jsonl",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        let log = Self {
            file: Mutex::new(file),
            path,
        };
        log.write(header);
        log
    }

    fn write(&self, line: &Value) {
        let mut text = line.to_string();
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(text.as_bytes()) {
            // A lost line would make the check pass on less than was called: say so loudly.
            eprintln!("iam-calls: cannot write {}: {e}", self.path.display());
        }
    }
}

/// Connections still being served, so `stop` can wait for their last lines.
#[derive(Default)]
struct Active {
    count: Mutex<usize>,
    done: Condvar,
}

struct Proxy {
    addr: String,
    stopping: Arc<AtomicBool>,
    active: Arc<Active>,
}

impl Proxy {
    fn start(kind: &'static str, upstream: &str, log: Arc<CallLog>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the recording proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let upstream = host_port(upstream).expect("an http:// endpoint");
        let stopping = Arc::new(AtomicBool::new(false));
        let active = Arc::new(Active::default());
        let (stop, act) = (Arc::clone(&stopping), Arc::clone(&active));
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                *act.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                let (upstream, log, act) = (upstream.clone(), Arc::clone(&log), Arc::clone(&act));
                thread::spawn(move || {
                    serve(client, &upstream, kind, &log);
                    let mut n = act.count.lock().unwrap_or_else(|e| e.into_inner());
                    *n -= 1;
                    act.done.notify_all();
                });
            }
        });
        Self { addr, stopping, active }
    }

    fn stop(&self, deadline: Instant) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag and ends.
        let _ = TcpStream::connect(&self.addr);
        let mut n = self.active.count.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            n = self
                .active
                .done
                .wait_timeout(n, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A request seen on a connection, until its line is written.
struct Call {
    line: Value,
    method: String,
    /// The request was read to its end (its body recorded).
    complete: bool,
    status: Option<u16>,
    written: bool,
}

type CallRef = Arc<Mutex<Call>>;

/// What the two directions of one connection share: the requests waiting for an answer, in order.
struct Connection {
    waiting: Mutex<VecDeque<CallRef>>,
    arrived: Condvar,
    all: Mutex<Vec<CallRef>>,
    log: Arc<CallLog>,
}

impl Connection {
    fn finish(&self, call: &CallRef) {
        let mut c = call.lock().unwrap_or_else(|e| e.into_inner());
        if c.written || !c.complete || c.status.is_none() {
            return;
        }
        self.write(&mut c);
    }

    fn write(&self, c: &mut Call) {
        c.written = true;
        c.line["status"] = c.status.map_or(Value::Null, |s| json!(s));
        self.log.write(&c.line);
    }
}

fn serve(client: TcpStream, upstream: &str, endpoint: &'static str, log: &Arc<CallLog>) {
    let Ok(server) = TcpStream::connect(upstream) else {
        // Mirrors an upstream that went away: the client sees its connection closed.
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let conn = Arc::new(Connection {
        waiting: Mutex::new(VecDeque::new()),
        arrived: Condvar::new(),
        all: Mutex::new(Vec::new()),
        log: Arc::clone(log),
    });
    let (Ok(client_read), Ok(server_write), Ok(server_read), Ok(client_write)) = (
        client.try_clone(),
        server.try_clone(),
        server.try_clone(),
        client.try_clone(),
    ) else {
        return;
    };
    let requests = {
        let conn = Arc::clone(&conn);
        thread::spawn(move || {
            pump_requests(client_read, server_write, endpoint, &conn);
            // The client is done (or gone): nothing more can be answered to it.
            let _ = server.shutdown(Shutdown::Both);
        })
    };
    pump_answers(server_read, client_write, &conn);
    // The upstream closed: so does the client's connection, as it would talking to moto directly.
    let _ = client.shutdown(Shutdown::Both);
    let _ = requests.join();
    // Calls left without an answer (a dropped connection, a client that gave up) still count.
    for call in conn.all.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let mut c = call.lock().unwrap_or_else(|e| e.into_inner());
        if !c.written {
            conn.write(&mut c);
        }
    }
}

/// Reads from `inner` and writes the same bytes to `copy` before handing them to the parser, so
/// forwarding never waits for parsing.
struct Tee {
    inner: TcpStream,
    copy: TcpStream,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Parsing failed on input that is not HTTP as expected (as opposed to a connection that ended).
fn is_bad_input(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

fn pump_requests(from: TcpStream, to: TcpStream, endpoint: &str, conn: &Connection) {
    let mut reader = BufReader::new(Tee { inner: from, copy: to });
    loop {
        match next_request(&mut reader, endpoint, conn) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                if is_bad_input(&e) {
                    conn.log.write(
                        &json!({"kind": "error", "endpoint": endpoint, "message": format!("request stream: {e}")}),
                    );
                    // Still a pass-through: copy the rest unparsed.
                    let _ = io::copy(&mut reader, &mut io::sink());
                }
                return;
            }
        }
    }
}

/// Reads one request; `Ok(false)` at a clean end of the stream.
fn next_request(reader: &mut BufReader<Tee>, endpoint: &str, conn: &Connection) -> io::Result<bool> {
    let Some(head) = read_head(reader)? else {
        return Ok(false);
    };
    let mut parts = head.start.split_whitespace();
    let (method, target) = match (parts.next(), parts.next()) {
        (Some(m), Some(t)) => (m.to_string(), t.to_string()),
        _ => return Err(bad(format!("not a request line: {:?}", head.start))),
    };
    let service = head.header("authorization").and_then(credential_service);
    let headers: BTreeMap<&str, &str> = head
        .headers
        .iter()
        .filter(|(n, _)| kept_header(n))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let call = Arc::new(Mutex::new(Call {
        line: json!({
            "kind": "call",
            "endpoint": endpoint,
            "service": service,
            "method": method,
            "target": target,
            "headers": headers,
        }),
        method: method.clone(),
        complete: false,
        status: None,
        written: false,
    }));
    // Registered before the body is read: an answer may come early (an error before the upload ends).
    conn.all
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::clone(&call));
    conn.waiting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push_back(Arc::clone(&call));
    conn.arrived.notify_all();

    let keep = keep_body(service.as_deref(), &method, &target, head.header("content-type"));
    let body = read_body(reader, &head, false, keep)?;
    {
        let mut c = call.lock().unwrap_or_else(|e| e.into_inner());
        c.line["body_bytes"] = json!(body.total);
        if keep {
            c.line["body"] = json!(String::from_utf8_lossy(&body.kept));
            c.line["body_truncated"] = json!(body.total > body.kept.len() as u64);
        }
        c.complete = true;
    }
    conn.finish(&call);
    Ok(true)
}

/// The service of a SigV4 `Authorization` header: `Credential=<key>/<date>/<region>/<service>/aws4_request`.
fn credential_service(authorization: &str) -> Option<String> {
    let credential = authorization.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    let parts: Vec<&str> = scope.split('/').collect();
    (parts.len() == 5 && parts[4] == "aws4_request").then(|| parts[3].to_string())
}

/// Bodies of JSON and query protocols are kept; S3's only for `DeleteObjects` (the keys deleted),
/// never an object's content.
fn keep_body(service: Option<&str>, method: &str, target: &str, content_type: Option<&str>) -> bool {
    if service == Some("s3") {
        let query = target.split_once('?').map_or("", |(_, q)| q);
        return method == "POST" && query.split('&').any(|kv| kv == "delete" || kv.starts_with("delete="));
    }
    content_type.is_some_and(|t| t.contains("json") || t.contains("x-www-form-urlencoded"))
}

fn pump_answers(from: TcpStream, to: TcpStream, conn: &Connection) {
    let mut reader = BufReader::new(Tee { inner: from, copy: to });
    loop {
        match next_answer(&mut reader, conn) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                if is_bad_input(&e) {
                    conn.log
                        .write(&json!({"kind": "error", "message": format!("answer stream: {e}")}));
                    let _ = io::copy(&mut reader, &mut io::sink());
                }
                return;
            }
        }
    }
}

/// Reads one answer and gives its status to the oldest request waiting; `Ok(false)` at the end.
fn next_answer(reader: &mut BufReader<Tee>, conn: &Connection) -> io::Result<bool> {
    let Some(head) = read_head(reader)? else {
        return Ok(false);
    };
    let status: u16 = head
        .start
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("not a status line: {:?}", head.start)))?;
    if (100..200).contains(&status) {
        if status == 101 {
            // A protocol switch: no more HTTP to read on this connection.
            let _ = io::copy(reader, &mut io::sink());
            return Ok(false);
        }
        // `100 Continue` and friends: the final answer follows.
        return Ok(true);
    }
    // The request's head was forwarded before the other direction parsed it: wait for it a little.
    let call = {
        let mut waiting = conn.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + Duration::from_secs(5);
        while waiting.is_empty() && Instant::now() < deadline {
            waiting = conn
                .arrived
                .wait_timeout(waiting, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        waiting.pop_front()
    };
    let head_request = call
        .as_ref()
        .is_some_and(|c| c.lock().unwrap_or_else(|e| e.into_inner()).method == "HEAD");
    if let Some(call) = &call {
        call.lock().unwrap_or_else(|e| e.into_inner()).status = Some(status);
        conn.finish(call);
    }
    let no_body = head_request || status == 204 || status == 304;
    if !no_body {
        let body = read_body(reader, &head, true, false)?;
        if body.to_eof {
            return Ok(false);
        }
    }
    Ok(true)
}

struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Reads a start line and headers; `Ok(None)` at a clean end before anything was read.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut read = 0usize;
    let mut line = Vec::new();
    // Blank lines before a message are allowed (RFC 9112 section 2.2).
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        read += line.len();
        if !trim_eol(&line).is_empty() {
            break;
        }
    }
    let start = String::from_utf8_lossy(trim_eol(&line)).into_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in headers",
            ));
        }
        read += line.len();
        if read > HEAD_CAP {
            return Err(bad(format!("a head over {HEAD_CAP} bytes after {start:?}")));
        }
        let text = trim_eol(&line);
        if text.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(text);
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| bad(format!("not a header line after {start:?}: {text:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Some(Head { start, headers }))
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

struct Body {
    /// Bytes of content (after de-chunking).
    total: u64,
    /// The first `BODY_CAP` of them, when asked to keep them.
    kept: Vec<u8>,
    /// The body ran to the end of the connection (an answer without a length).
    to_eof: bool,
}

/// Reads (and so forwards) a message body framed by `Content-Length` or chunked encoding; an
/// answer with neither runs to the end of the connection.
fn read_body(reader: &mut impl BufRead, head: &Head, answer: bool, keep: bool) -> io::Result<Body> {
    let mut body = Body {
        total: 0,
        kept: Vec::new(),
        to_eof: false,
    };
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().split(',').any(|t| t.trim() == "chunked"));
    if chunked {
        loop {
            let mut size_line = Vec::new();
            if reader.read_until(b'\n', &mut size_line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in a chunked body",
                ));
            }
            let text = String::from_utf8_lossy(trim_eol(&size_line));
            let size = u64::from_str_radix(text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|e| bad(format!("bad chunk size {text:?}: {e}")))?;
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    let mut trailer = Vec::new();
                    if reader.read_until(b'\n', &mut trailer)? == 0 || trim_eol(&trailer).is_empty() {
                        return Ok(body);
                    }
                }
            }
            copy_content(reader, size, keep, &mut body)?;
            let mut crlf = Vec::new();
            reader.read_until(b'\n', &mut crlf)?;
            if !trim_eol(&crlf).is_empty() {
                return Err(bad("a chunk not followed by CRLF"));
            }
        }
    }
    if let Some(length) = head.header("content-length") {
        let length: u64 = length
            .parse()
            .map_err(|e| bad(format!("bad content-length {length:?}: {e}")))?;
        copy_content(reader, length, keep, &mut body)?;
        return Ok(body);
    }
    if answer {
        body.to_eof = true;
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest)?;
        body.total = rest.len() as u64;
    }
    // A request without a length has no body.
    Ok(body)
}

fn copy_content(reader: &mut impl BufRead, size: u64, keep: bool, body: &mut Body) -> io::Result<()> {
    let room = if keep {
        (BODY_CAP - body.kept.len().min(BODY_CAP)) as u64
    } else {
        0
    };
    let kept = size.min(room);
    let mut limited = reader.by_ref().take(size);
    (&mut limited).take(kept).read_to_end(&mut body.kept)?;
    io::copy(&mut limited, &mut io::sink())?;
    if limited.limit() > 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed in a body",
        ));
    }
    body.total += size;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_comes_from_the_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(credential_service(auth).as_deref(), Some("dynamodb"));
        assert_eq!(credential_service("Basic xyz"), None);
    }

    #[test]
    fn only_protocol_bodies_are_kept() {
        assert!(keep_body(
            Some("dynamodb"),
            "POST",
            "/",
            Some("application/x-amz-json-1.0")
        ));
        assert!(keep_body(
            Some("sns"),
            "POST",
            "/",
            Some("application/x-www-form-urlencoded")
        ));
        assert!(keep_body(Some("s3"), "POST", "/b?delete", Some("application/xml")));
        assert!(!keep_body(
            Some("s3"),
            "PUT",
            "/b/k.json?x-id=PutObject",
            Some("application/json")
        ));
    }

    #[test]
    fn chunked_and_sized_bodies_are_read_to_their_end() {
        let head = |h: &[(&str, &str)]| Head {
            start: "POST / HTTP/1.1".into(),
            headers: h.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        };
        let mut input = io::Cursor::new(b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\nT: 1\r\n\r\nNEXT".to_vec());
        let body = read_body(&mut input, &head(&[("transfer-encoding", "chunked")]), false, true).expect("chunked");
        assert_eq!((body.total, body.kept.as_slice()), (9, &b"Wikipedia"[..]));
        let mut rest = String::new();
        input.read_to_string(&mut rest).expect("rest");
        assert_eq!(rest, "NEXT");

        let mut input = io::Cursor::new(b"hello world".to_vec());
        let body = read_body(&mut input, &head(&[("content-length", "5")]), false, false).expect("sized");
        assert_eq!((body.total, body.kept.len()), (5, 0));
    }
}
