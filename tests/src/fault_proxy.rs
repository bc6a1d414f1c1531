//! A fault-injecting HTTP proxy between the aws-sdk clients and moto. Each rule matches an AWS
//! operation (`X-Amz-Target` of JSON protocols, `Action=` of query protocols, or `METHOD /path`
//! for S3) and injects a fault a given number of times: a throttling error, a 5xx answer, an
//! answer slower than the client's timeout, or a dropped connection. Everything else is forwarded.
//!
//! It also kills the calling process (SIGKILL) at its n-th request, before the request reaches
//! moto or after moto answered it (the answer never returns): the crash tests' fault, a Lambda
//! timeout or host failure at any instant of an invocation.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::http::{Message, read_head_answer, read_message};

/// What to do instead of forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 400 with the service's throttling error code.
    Throttle,
    /// This status code with a generic server error body.
    Status(u16),
    /// Wait this long, then forward (past the client timeout, the client gives up first).
    Delay(Duration),
    /// Read the request, then close the connection without an answer.
    Drop,
    /// Flip one bit in the middle of the request body, then forward it: bytes damaged between
    /// the client's buffer and the store, which only an end-to-end checksum notices.
    Corrupt,
}

#[derive(Debug, Clone)]
struct Rule {
    operation: String,
    fault: Fault,
    remaining: usize,
}

/// One injected fault, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub operation: String,
    pub fault: Fault,
}

/// Whether the request a process was killed at reached AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Killed before the request left: AWS never saw it.
    Lost,
    /// Killed after AWS carried the request out, before the answer came back.
    Delivered,
}

impl Delivery {
    /// `lost` or `delivered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lost => "lost",
            Self::Delivered => "delivered",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Kill {
    /// 1-based index among every request the proxy saw.
    call: usize,
    delivery: Delivery,
    pid: u32,
}

#[derive(Default)]
struct Shared {
    rules: Vec<Rule>,
    injected: Vec<Injected>,
    forwarded: Vec<String>,
    /// Every request seen, in order (forwarded, faulted or killed at).
    seen: Vec<String>,
    kill: Option<Kill>,
    killed: Option<String>,
}

/// The proxy; stops accepting when dropped with the test.
pub struct FaultProxy {
    addr: String,
    shared: Arc<Mutex<Shared>>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let upstream = upstream.trim_start_matches("http://").to_string();
        let accept = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (shared, upstream) = (Arc::clone(&accept), upstream.clone());
                thread::spawn(move || serve(stream, &upstream, &shared));
            }
        });
        Self { addr, shared }
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Injects `fault` the next `times` times `operation` is called (e.g. `TransactWriteItems`,
    /// `Publish`, `UpdateService`).
    pub fn inject(&self, operation: &str, fault: Fault, times: usize) {
        self.lock().rules.push(Rule {
            operation: operation.to_string(),
            fault,
            remaining: times,
        });
    }

    /// Removes the remaining rules: AWS is healthy again.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Faults injected so far.
    pub fn injected(&self) -> Vec<Injected> {
        self.lock().injected.clone()
    }

    /// Operations forwarded to moto so far.
    pub fn forwarded(&self) -> Vec<String> {
        self.lock().forwarded.clone()
    }

    /// Every request seen so far, in order (what a kill point's index counts).
    pub fn seen(&self) -> Vec<String> {
        self.lock().seen.clone()
    }

    /// Kills process `pid` with SIGKILL at the `call`-th request from now on (1-based, counted over
    /// every request the proxy sees), before forwarding it or after moto answered it.
    pub fn kill_at(&self, call: usize, delivery: Delivery, pid: u32) {
        let mut shared = self.lock();
        let call = shared.seen.len() + call;
        shared.kill = Some(Kill { call, delivery, pid });
        shared.killed = None;
    }

    /// The operation the process was killed at, once it was.
    pub fn killed(&self) -> Option<String> {
        self.lock().killed.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The AWS operation a request calls.
pub(crate) fn operation(request: &Message) -> String {
    if let Some(target) = request.header("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    let body = String::from_utf8_lossy(&request.body);
    if let Some(action) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return action.to_string();
    }
    let mut parts = request.start.split_whitespace();
    format!("{} {}", parts.next().unwrap_or(""), parts.next().unwrap_or(""))
}

fn serve(stream: TcpStream, upstream: &str, shared: &Mutex<Shared>) {
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_message(&mut reader) {
        let op = operation(&request);
        let kill = {
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            s.seen.push(op.clone());
            let n = s.seen.len();
            let kill = s.kill.filter(|k| k.call == n);
            if kill.is_some() {
                s.kill = None;
                s.killed = Some(op.clone());
                if kill.is_some_and(|k| k.delivery == Delivery::Delivered) {
                    s.forwarded.push(op.clone());
                }
            }
            kill
        };
        if let Some(kill) = kill {
            if kill.delivery == Delivery::Delivered {
                let _ = forward(&request, upstream);
            }
            sigkill(kill.pid);
            return;
        }
        let fault = {
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            let fault = s
                .rules
                .iter_mut()
                .find(|r| r.remaining > 0 && op.contains(&r.operation))
                .map(|r| {
                    r.remaining -= 1;
                    r.fault
                });
            match fault {
                Some(fault) => s.injected.push(Injected {
                    operation: op.clone(),
                    fault,
                }),
                None => s.forwarded.push(op.clone()),
            }
            fault
        };
        let answer = match fault {
            Some(Fault::Drop) => return,
            Some(Fault::Throttle) => throttle(&request),
            Some(Fault::Status(code)) => error_answer(code, "InternalFailure", "injected server error", &request),
            Some(Fault::Delay(d)) => {
                thread::sleep(d);
                forward(&request, upstream)
            }
            Some(Fault::Corrupt) => forward(&corrupted(request), upstream),
            None => forward(&request, upstream),
        };
        let Some(answer) = answer else { return };
        if writer.write_all(&answer).is_err() {
            return;
        }
    }
}

/// `request` with the middle bit of its body flipped (an empty body is left as it is).
fn corrupted(mut request: Message) -> Message {
    let middle = request.body.len() / 2;
    if let Some(byte) = request.body.get_mut(middle) {
        *byte ^= 0x10;
    }
    request
}

fn sigkill(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return };
    // SAFETY: kill(2) with the pid of a process the test started and still holds (not reaped).
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

fn forward(request: &Message, upstream: &str) -> Option<Vec<u8>> {
    fetch(request, upstream).map(|response| encode(&response))
}

/// Sends `request` to `upstream` on a fresh connection and reads the answer.
pub(crate) fn fetch(request: &Message, upstream: &str) -> Option<Message> {
    let stream = TcpStream::connect(upstream).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let mut up = stream.try_clone().ok()?;
    let mut head = format!("{}\r\n", request.start);
    for (name, value) in &request.headers {
        if matches!(name.as_str(), "connection" | "content-length" | "transfer-encoding") {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        request.body.len()
    ));
    up.write_all(head.as_bytes()).ok()?;
    up.write_all(&request.body).ok()?;
    let mut answer = BufReader::new(stream);
    if request.start.starts_with("HEAD ") {
        read_head_answer(&mut answer).ok()?
    } else {
        read_message(&mut answer).ok()?
    }
}

pub(crate) fn encode(response: &Message) -> Vec<u8> {
    let mut out = format!("{}\r\n", response.start);
    for (name, value) in &response.headers {
        if matches!(name.as_str(), "connection" | "content-length" | "transfer-encoding") {
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    // A bodiless answer keeps the length it states: a `HEAD` answer's is the object's.
    let length = match response.header("content-length") {
        Some(stated) if response.body.is_empty() => stated.to_string(),
        _ => response.body.len().to_string(),
    };
    out.push_str(&format!("content-length: {length}\r\n\r\n"));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response.body);
    bytes
}

fn throttle(request: &Message) -> Option<Vec<u8>> {
    if is_rest_xml(request) {
        // S3 throttles with 503 SlowDown.
        return error_answer(503, "SlowDown", "Please reduce your request rate (injected)", request);
    }
    error_answer(400, "ThrottlingException", "Rate exceeded (injected)", request)
}

/// S3's REST-XML protocol: neither a JSON target header nor a query `Action=` body.
fn is_rest_xml(request: &Message) -> bool {
    request.header("x-amz-target").is_none() && !String::from_utf8_lossy(&request.body).contains("Action=")
}

/// An error in the request's protocol: JSON for `X-Amz-Target` services, XML otherwise.
fn error_answer(status: u16, code: &str, message: &str, request: &Message) -> Option<Vec<u8>> {
    let (content_type, body) = if request.header("x-amz-target").is_some() {
        (
            "application/x-amz-json-1.1",
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        )
    } else if is_rest_xml(request) {
        (
            "application/xml",
            format!("<Error><Code>{code}</Code><Message>{message}</Message><RequestId>injected</RequestId></Error>"),
        )
    } else {
        let code = if code == "ThrottlingException" {
            "Throttling"
        } else {
            code
        };
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>injected</RequestId></ErrorResponse>"
            ),
        )
    };
    let reason = if status == 400 { "Bad Request" } else { "Error" };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\nx-amzn-requestid: injected\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    Some(out)
}
