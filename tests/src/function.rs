//! A compiled clawkeeper function running as a real Lambda process against the emulator.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::recorder::Recording;
use crate::runtime_api::{FunctionFailure, RuntimeApi};

/// How an invocation ended.
#[derive(Debug)]
pub enum Invocation {
    /// The handler answered.
    Ok(Value),
    /// The handler reported an error.
    Failed(FunctionFailure),
    /// The process exited before answering (init failure or crash).
    Exited {
        status: ExitStatus,
        init_error: Option<FunctionFailure>,
    },
}

impl Invocation {
    /// The response, or a panic that shows what happened instead.
    pub fn expect_ok(self) -> Value {
        match self {
            Invocation::Ok(v) => v,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    /// The reported function error, or a panic that shows what happened instead.
    pub fn expect_failed(self) -> FunctionFailure {
        match self {
            Invocation::Failed(f) => f,
            other => panic!("expected a function error, got {other:?}"),
        }
    }
}

/// Invokes `function` with `event` and expects an answer; a panic shows what happened instead,
/// with the function's logs.
pub fn ok(function: &mut FunctionProcess, event: &Value) -> Value {
    match function.invoke(event) {
        Invocation::Ok(v) => v,
        other => panic!(
            "{event}: expected a response, got {other:?}\nlogs:\n{}",
            function.logs()
        ),
    }
}

/// The owner actions of a `control` `history` answer (its first gateway), each with who asked,
/// as the incident log recorded them.
pub fn owner_actions(history: &Value) -> Vec<(String, String)> {
    history["gateways"][0]["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["kind"] == "owner_action")
        .map(|r| {
            (
                r["action"].as_str().unwrap_or("").to_string(),
                r["by"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// A running function binary with its own Runtime API emulator and captured logs.
pub struct FunctionProcess {
    name: String,
    child: Child,
    api: RuntimeApi,
    logs: Arc<Mutex<String>>,
    started: Instant,
    /// The proxies recording its AWS calls for the IAM check; dropped after the process is killed.
    _recording: Option<Recording>,
}

impl FunctionProcess {
    /// Starts the binary `name` with the given extra environment (on top of the variables the
    /// Lambda runtime needs). The process environment is otherwise clean: no stray AWS profile.
    pub fn spawn(name: &str, env: &[(String, String)]) -> Self {
        let bin = bin_path(name);
        assert!(
            bin.exists(),
            "{} not found: build the functions first (`cargo build --workspace --bins`)",
            bin.display()
        );
        Self::spawn_command(name, Command::new(&bin), env)
    }

    /// Starts any Runtime API client (a benchmark peer, say) the same way as [`Self::spawn`].
    ///
    /// In tests its AWS endpoints are put behind recording proxies (`crate::recorder`): every
    /// request it makes is written to `target/iam-calls/` for the IAM coverage check.
    pub fn spawn_command(name: &str, mut command: Command, env: &[(String, String)]) -> Self {
        let api = RuntimeApi::start();
        let binary = std::path::Path::new(command.get_program())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let recording = Recording::start(name, &binary, env);
        let endpoints = recording.as_ref().map(Recording::env_overrides).unwrap_or_default();
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.addr())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test-stream")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(endpoints.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        let logs = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = Arc::clone(&logs);
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut logs = logs.lock().expect("log lock");
                    logs.push_str(&line);
                    logs.push('\n');
                }
            });
        }
        Self {
            name: name.to_string(),
            child,
            api,
            logs,
            started,
            _recording: recording,
        }
    }

    /// Invokes the function with `event` and waits up to 60 s for the outcome.
    pub fn invoke(&mut self, event: &Value) -> Invocation {
        self.invoke_within(event, Duration::from_secs(60))
    }

    /// Invokes the function with `event` and waits up to `timeout`.
    pub fn invoke_within(&mut self, event: &Value, timeout: Duration) -> Invocation {
        self.invoke_with_context(event, None, timeout)
    }

    /// Invokes the function with `event` and a client context (JSON, as Lambda hands it to the
    /// runtime) and waits up to `timeout`.
    pub fn invoke_with_context(
        &mut self,
        event: &Value,
        client_context: Option<String>,
        timeout: Duration,
    ) -> Invocation {
        let id = self.api.enqueue_with_context(event, client_context);
        self.wait_for(&id, timeout)
    }

    /// Invokes the function with `event` under request id `id` (Lambda's retry of a failed
    /// invocation keeps its request id), with a Lambda deadline `runs_for` from now, and waits up
    /// to `timeout`: the answer, or the process's exit when it died meanwhile.
    pub fn invoke_as(&mut self, id: &str, event: &Value, runs_for: Duration, timeout: Duration) -> Invocation {
        self.api.enqueue_as(id, event, None, runs_for);
        self.wait_for(id, timeout)
    }

    fn wait_for(&mut self, id: &str, timeout: Duration) -> Invocation {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(result) = self.api.wait_result(id, Duration::from_millis(50)) {
                return match result {
                    Ok(v) => Invocation::Ok(v),
                    Err(f) => Invocation::Failed(f),
                };
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Invocation::Exited {
                    status,
                    init_error: self.api.init_error(),
                };
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer within {timeout:?}; logs:\n{}",
                self.name,
                self.logs()
            );
        }
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("log lock").clone()
    }

    /// The process id, to read its resource use from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Time from spawn to the first Runtime API poll, once it happened.
    pub fn init_duration(&self) -> Option<Duration> {
        self.api.first_poll().map(|t| t.duration_since(self.started))
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the compiled function binaries are: `CLAWKEEPER_BIN_DIR`, else the profile dir this
/// program runs from (`target/<profile>/` for the demo, `target/<profile>/deps/` for tests).
pub fn bin_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("CLAWKEEPER_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("current exe");
            let dir = exe.parent().expect("exe dir");
            if dir.ends_with("deps") {
                dir.parent().expect("profile dir").to_path_buf()
            } else {
                dir.to_path_buf()
            }
        });
    dir.join(name)
}
