//! A Lambda Runtime API emulator: the real function binary polls it exactly as it polls
//! Lambda (`/2018-06-01/runtime/invocation/next`, `.../response`, `.../error`, `init/error`),
//! and a test invokes through it with a JSON event.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::http::{Answer, Message, serve_connection};

const PREFIX: &str = "/2018-06-01/runtime";

/// An error a function reported through the Runtime API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFailure {
    pub error_type: String,
    pub error_message: String,
}

impl FunctionFailure {
    fn from_body(body: &[u8]) -> Self {
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        Self {
            error_type: parsed["errorType"].as_str().unwrap_or("<none>").to_string(),
            error_message: parsed["errorMessage"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
        }
    }
}

/// One queued invocation.
struct Queued {
    id: String,
    event: Vec<u8>,
    client_context: Option<String>,
    /// How long the invocation may run (Lambda's deadline, from when it is handed out).
    runs_for: Duration,
}

/// How long an invocation runs unless a test says otherwise.
const DEFAULT_RUNS_FOR: Duration = Duration::from_secs(300);

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    results: HashMap<String, Result<Value, FunctionFailure>>,
    init_error: Option<FunctionFailure>,
    first_poll: Option<Instant>,
    polls: u64,
}

/// Request ids unique in the whole test run, as Lambda's are: a new invocation in another
/// process never shares one with an earlier invocation (only Lambda's retry of it does).
pub fn next_request_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("req-{}-{n:04}", std::process::id())
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// The emulator, listening on a loopback port until dropped with the test.
pub struct RuntimeApi {
    addr: String,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    /// Starts listening on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Runtime API emulator");
        let addr = listener.local_addr().expect("local addr").to_string();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let accept_shared = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&accept_shared);
                thread::spawn(move || serve_connection(stream, |request| route(request, &shared)));
            }
        });
        Self { addr, shared }
    }

    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// When the function first asked for an event (the end of its init).
    pub fn first_poll(&self) -> Option<Instant> {
        self.lock().first_poll
    }

    /// An init error the function reported, if any.
    pub fn init_error(&self) -> Option<FunctionFailure> {
        self.lock().init_error.clone()
    }

    /// Queues an event and returns its request id.
    pub fn enqueue(&self, event: &Value) -> String {
        self.enqueue_with_context(event, None)
    }

    /// Queues an event with a client context (the JSON Lambda hands the runtime in
    /// `Lambda-Runtime-Client-Context`) and returns its request id.
    pub fn enqueue_with_context(&self, event: &Value, client_context: Option<String>) -> String {
        let id = next_request_id();
        self.enqueue_as(&id, event, client_context, DEFAULT_RUNS_FOR);
        id
    }

    /// Queues an event under request id `id` (Lambda's retry of an invocation keeps its id) with a
    /// deadline `runs_for` after it is handed out.
    pub fn enqueue_as(&self, id: &str, event: &Value, client_context: Option<String>, runs_for: Duration) {
        let mut state = self.lock();
        state.queue.push_back(Queued {
            id: id.to_string(),
            event: serde_json::to_vec(event).expect("event serializes"),
            client_context,
            runs_for,
        });
        self.shared.changed.notify_all();
    }

    /// Waits up to `timeout` for the outcome of a request; `None` on timeout.
    pub fn wait_result(&self, id: &str, timeout: Duration) -> Option<Result<Value, FunctionFailure>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let Some(result) = state.results.remove(id) {
                return Some(result);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            state = self
                .shared
                .changed
                .wait_timeout(state, left.min(Duration::from_millis(100)))
                .expect("lock")
                .0;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().expect("emulator lock")
    }
}

fn route(request: &Message, shared: &Shared) -> Answer {
    let mut parts = request.start.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("").strip_prefix(PREFIX).unwrap_or("");
    let accepted: Answer = ("202 Accepted", vec![], b"{\"status\":\"OK\"}".to_vec());
    match (method, path) {
        ("GET", "/invocation/next") => next_invocation(shared),
        ("POST", "/init/error") => {
            let mut state = shared.state.lock().expect("lock");
            state.init_error = Some(FunctionFailure::from_body(&request.body));
            shared.changed.notify_all();
            accepted
        }
        ("POST", p) if p.starts_with("/invocation/") => {
            let rest = &p["/invocation/".len()..];
            let (id, kind) = rest.rsplit_once('/').unwrap_or((rest, ""));
            let outcome = match kind {
                "response" => Ok(serde_json::from_slice(&request.body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&request.body).into_owned()))),
                "error" => Err(FunctionFailure::from_body(&request.body)),
                _ => return ("404 Not Found", vec![], b"{}".to_vec()),
            };
            let mut state = shared.state.lock().expect("lock");
            state.results.insert(id.to_string(), outcome);
            shared.changed.notify_all();
            accepted
        }
        _ => ("404 Not Found", vec![], b"{}".to_vec()),
    }
}

fn next_invocation(shared: &Shared) -> Answer {
    let mut state = shared.state.lock().expect("lock");
    state.polls += 1;
    state.first_poll.get_or_insert_with(Instant::now);
    loop {
        if let Some(Queued {
            id,
            event: body,
            client_context,
            runs_for,
        }) = state.queue.pop_front()
        {
            let deadline_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
                + runs_for.as_millis();
            let mut headers = vec![
                ("Lambda-Runtime-Aws-Request-Id", id),
                ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:clawkeeper-test".to_string(),
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0".to_string(),
                ),
            ];
            if let Some(context) = client_context {
                headers.push(("Lambda-Runtime-Client-Context", context));
            }
            return ("200 OK", headers, body);
        }
        state = shared.changed.wait(state).expect("lock");
    }
}
