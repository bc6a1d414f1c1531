//! A local stand-in for the Lambda Invoke API (`POST /2015-03-31/functions/<name>/invocations`):
//! SDK clients pointed at it with `AWS_ENDPOINT_URL_LAMBDA` (or `AWS_ENDPOINT_URL`) reach real
//! function binaries through their Runtime API emulator, or test stubs. The CLI's and `control`'s
//! own `aws-sdk-lambda` calls run unchanged against it.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::function::{FunctionProcess, Invocation};
use crate::http::{Answer, Message, serve_connection};
use crate::runtime_api::FunctionFailure;

/// What a routed function does with an event and the caller's client context (decoded JSON).
pub type Handler = dyn Fn(&Value, Option<String>) -> Result<Value, FunctionFailure> + Send + Sync;

/// The bridge, listening on a loopback port until dropped with the test.
pub struct LambdaBridge {
    addr: String,
    routes: Arc<Mutex<HashMap<String, Arc<Handler>>>>,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

impl LambdaBridge {
    /// Starts listening on a free loopback port, with no function routed yet.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Lambda bridge");
        let addr = listener.local_addr().expect("local addr").to_string();
        let routes: Arc<Mutex<HashMap<String, Arc<Handler>>>> = Arc::default();
        let calls: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let (r, c) = (Arc::clone(&routes), Arc::clone(&calls));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (routes, calls) = (Arc::clone(&r), Arc::clone(&c));
                thread::spawn(move || serve_connection(stream, |request| answer(request, &routes, &calls)));
            }
        });
        Self { addr, routes, calls }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Routes `name` to a handler.
    pub fn route(
        &self,
        name: &str,
        handler: impl Fn(&Value, Option<String>) -> Result<Value, FunctionFailure> + Send + Sync + 'static,
    ) {
        self.routes
            .lock()
            .expect("routes")
            .insert(name.to_string(), Arc::new(handler));
    }

    /// Routes `name` to a running function binary (one invocation at a time, as Lambda would run
    /// one per execution environment).
    pub fn route_process(&self, name: &str, process: FunctionProcess) {
        let process = Mutex::new(process);
        self.route(name, move |event, context| {
            let mut process = process.lock().expect("function process");
            match process.invoke_with_context(event, context, Duration::from_secs(300)) {
                Invocation::Ok(v) => Ok(v),
                Invocation::Failed(f) => Err(f),
                Invocation::Exited { status, init_error } => Err(init_error.unwrap_or(FunctionFailure {
                    error_type: "Runtime.ExitError".into(),
                    error_message: format!("the function exited: {status}\n{}", process.logs()),
                })),
            }
        });
    }

    /// Every invocation so far: (function, event), in order.
    pub fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().expect("calls").clone()
    }
}

fn answer(
    request: &Message,
    routes: &Mutex<HashMap<String, Arc<Handler>>>,
    calls: &Mutex<Vec<(String, Value)>>,
) -> Answer {
    let path = request.start.split_whitespace().nth(1).unwrap_or("");
    let path = path.split('?').next().unwrap_or("");
    let Some(name) = path
        .strip_prefix("/2015-03-31/functions/")
        .and_then(|rest| rest.strip_suffix("/invocations"))
    else {
        return not_found(&format!("no such API: {path}"));
    };
    let name = name.replace("%3A", ":").replace("%3a", ":");
    // An ARN names the function in its last part.
    let name = name.rsplit(':').next().unwrap_or(&name).to_string();
    let Some(handler) = routes.lock().expect("routes").get(&name).cloned() else {
        return not_found(&format!("Function not found: {name}"));
    };
    let event: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    calls.lock().expect("calls").push((name.clone(), event.clone()));
    let context = request.header("x-amz-client-context").and_then(|b64| {
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        String::from_utf8(bytes).ok()
    });
    let asynchronous = request
        .header("x-amz-invocation-type")
        .is_some_and(|t| t.eq_ignore_ascii_case("Event"));
    let outcome = handler(&event, context);
    if asynchronous {
        // Lambda queues an `Event` invoke and answers 202 at once, whatever the function does later.
        return ("202 Accepted", vec![], Vec::new());
    }
    match outcome {
        Ok(v) => ("200 OK", vec![], v.to_string().into_bytes()),
        Err(f) => (
            "200 OK",
            vec![("X-Amz-Function-Error", "Unhandled".to_string())],
            json!({"errorType": f.error_type, "errorMessage": f.error_message})
                .to_string()
                .into_bytes(),
        ),
    }
}

fn not_found(message: &str) -> Answer {
    (
        "404 Not Found",
        vec![("x-amzn-ErrorType", "ResourceNotFoundException".to_string())],
        json!({"Type": "User", "message": message}).to_string().into_bytes(),
    )
}
