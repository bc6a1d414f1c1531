//! Glue every function's `main` shares: logging, init failures, and error reporting to Lambda.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use clawkeeper_core::config::{Config, ConfigError};
use lambda_runtime::Diagnostic;

/// Reads the configuration and where the SDK reaches AWS ([`crate::SdkEnvironment`]), or logs
/// why it cannot, tells the Lambda Runtime API (so the invoker sees `Runtime.ConfigError` with the
/// variable named instead of a bare exit) and returns the error for `main` to exit with.
pub fn load_config(function: &str) -> Result<(Config, crate::SdkEnvironment), ConfigError> {
    Config::from_env()
        .and_then(|config| Ok((config, crate::SdkEnvironment::from_env()?)))
        .inspect_err(|e| {
            tracing::error!(function, variable = e.var, error = %e, "invalid configuration; fix the function's environment");
            report_init_error("Runtime.ConfigError", &e.to_string());
        })
}

/// A function's init: logging, then its configuration (an init error names a bad variable), then
/// every adapter built once from it. `main` hands both to its handler and runs.
pub fn start(function: &str) -> Result<(Config, crate::Adapters), ConfigError> {
    crate::logging::init_tracing();
    let (config, env) = load_config(function)?;
    let adapters = crate::Adapters::from_config(&config, &env);
    Ok((config, adapters))
}

/// What a function working on a gateway's state volume (snapshot, restore) keeps between
/// invocations: its configuration, its adapters, and local scratch space (Lambda's `/tmp`) for
/// private copies and downloads, never the gateway's volume.
pub struct VolumeApp {
    /// The function's configuration.
    pub config: Config,
    /// Its adapters (the snapshot bucket is the one it uses).
    pub adapters: crate::Adapters,
    /// Local scratch space.
    pub scratch: std::path::PathBuf,
}

impl VolumeApp {
    /// [`start`], with the process's temp dir as scratch space.
    pub fn start(function: &str) -> Result<Self, ConfigError> {
        let (config, adapters) = start(function)?;
        Ok(Self {
            config,
            adapters,
            scratch: std::env::temp_dir(),
        })
    }
}

/// The epoch second by which Lambda ends this invocation (its deadline, rounded up).
pub fn deadline_secs(context: &lambda_runtime::Context) -> i64 {
    i64::try_from(context.deadline.div_ceil(1000)).unwrap_or(i64::MAX)
}

/// How long until Lambda ends this invocation, to the millisecond (zero once past).
pub fn time_left(context: &lambda_runtime::Context) -> std::time::Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let left = u128::from(context.deadline).saturating_sub(now);
    std::time::Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX))
}

/// Now, inside this invocation: what the engine needs to take an outbox lease that ends with it.
pub fn moment(context: &lambda_runtime::Context) -> clawkeeper_core::engine::Moment {
    clawkeeper_core::engine::Moment::within(clawkeeper_core::watch::time::now_secs(), deadline_secs(context))
        .of_invocation(&context.request_id)
}

/// Posts an init error to the Runtime API (`/runtime/init/error`). Best effort: when no
/// Runtime API is reachable (run by hand), the log line and the exit code remain.
pub fn report_init_error(error_type: &str, message: &str) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: {error_type}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let sent = TcpStream::connect(&api).and_then(|mut stream| {
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(request.as_bytes())?;
        let mut answer = [0u8; 64];
        let _ = stream.read(&mut answer)?;
        Ok(())
    });
    if let Err(e) = sent {
        tracing::warn!(api, error = %e, "could not report the init error to the Runtime API");
    }
}

/// An error a handler returns to Lambda, with a stable `errorType` callers and alarms can match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    /// Stable, e.g. `UnknownAction`, `AwsTransient`, `NotImplemented`.
    pub error_type: &'static str,
    /// What went wrong, for a person.
    pub message: String,
}

impl FunctionError {
    /// Builds an error of the given type.
    pub fn new(error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
        }
    }

    /// The answer of a function whose feature is not built yet: a failure, never a fake
    /// success, so an event it receives stays in the retry and dead-letter path.
    pub fn not_implemented(function: &str, what: &str) -> Self {
        Self::new(
            "NotImplemented",
            format!("{function}: {what} is not built yet; the event was not processed"),
        )
    }
}

impl From<clawkeeper_core::fleet::FleetError> for FunctionError {
    /// An unreadable registry: `Retryable` when a later attempt may read it (the input is kept),
    /// else `RegistryUnreadable` (a missing table, a denied read: the message says which).
    fn from(e: clawkeeper_core::fleet::FleetError) -> Self {
        let error_type = if e.is_transient() {
            "Retryable"
        } else {
            "RegistryUnreadable"
        };
        Self::new(error_type, e.to_string())
    }
}

impl From<clawkeeper_core::aws_error::AwsError> for FunctionError {
    fn from(e: clawkeeper_core::aws_error::AwsError) -> Self {
        let error_type = if e.is_transient() {
            "AwsTransient"
        } else {
            "AwsRequestFailed"
        };
        Self::new(error_type, e.to_string())
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Self {
        Diagnostic {
            error_type: e.error_type.to_string(),
            error_message: e.message,
        }
    }
}
