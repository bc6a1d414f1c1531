//! Calling the deployed `control` function: finding it, saying who asks, calling it with the
//! caller's own credentials, and telling an AWS problem (exit 3) from a refused action (exit 1).
//!
//! Through its function URL, signed, when it has one (`function_url.rs`): AWS then verifies who
//! asks and the log records it as verified. Otherwise, or with `--direct`, a direct invoke whose
//! client context only claims who asks.

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_smithy_types::error::display::DisplayErrorContext;
use base64::Engine;
use serde_json::{Value, json};

use crate::args::Global;
use crate::{CliError, function_url};

/// The stack output that names the control function.
const STACK_OUTPUT: &str = "ControlFunctionName";
/// The stack output with its function URL (stacks from before it have none).
const STACK_URL_OUTPUT: &str = "ControlUrl";
/// Longest wait for `control` (Lambda's limit is 15 minutes; a restore can take a while).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(905);

/// Loads the SDK configuration the usual way (profile, region, `AWS_ENDPOINT_URL`...); `--region`
/// wins over the region found there.
pub async fn sdk(global: &Global) -> SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &global.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    loader
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(INVOKE_TIMEOUT)
                .operation_timeout(INVOKE_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

/// The control function, and its URL when the stack's outputs said.
#[derive(Debug, Clone)]
pub struct Control {
    /// Its name or ARN.
    pub function: String,
    /// The stack output `ControlUrl`, when the function was found through the stack.
    pub stack_url: Option<String>,
}

/// The control function: `--function`, `$CLAWKEEPER_CONTROL_FUNCTION`, or the stack output.
pub async fn locate(sdk: &SdkConfig, global: &Global) -> Result<Control, CliError> {
    let named = |function: String| Control {
        function,
        stack_url: None,
    };
    if let Some(name) = &global.function {
        return Ok(named(name.clone()));
    }
    if let Some(name) = std::env::var("CLAWKEEPER_CONTROL_FUNCTION")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return Ok(named(name.trim().to_string()));
    }
    // `--stack`, defaulted by the parser (args::DEFAULT_STACK).
    let stack = global.stack.as_str();
    let answer = aws_sdk_cloudformation::Client::new(sdk)
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            CliError::Aws(format!(
                "could not read stack {stack:?} to find the control function: {}. Pass --function NAME, set \
                 CLAWKEEPER_CONTROL_FUNCTION, or --stack NAME for another stack (and check AWS_REGION/AWS_PROFILE)",
                DisplayErrorContext(&e)
            ))
        })?;
    let output = |key: &str| {
        answer
            .stacks()
            .first()
            .and_then(|s| s.outputs().iter().find(|o| o.output_key() == Some(key)))
            .and_then(|o| o.output_value().map(str::to_string))
    };
    let function = output(STACK_OUTPUT).ok_or_else(|| {
        CliError::Aws(format!(
            "stack {stack:?} has no output {STACK_OUTPUT}: pass --function NAME or set CLAWKEEPER_CONTROL_FUNCTION"
        ))
    })?;
    Ok(Control {
        function,
        stack_url: output(STACK_URL_OUTPUT).filter(|u| !u.trim().is_empty()),
    })
}

/// Sends `request` to `control`: through its URL when it has one (unless `--direct`), else (with
/// a note on stderr, unless `--json`) by a direct invoke.
pub async fn call(
    sdk: &SdkConfig,
    control: &Control,
    global: &Global,
    request: &Value,
    progress: bool,
) -> Result<Value, CliError> {
    if !global.direct {
        let fallback = match function_url::find(sdk, control).await {
            Ok(url) => match function_url::post(sdk, &url, request, progress).await? {
                function_url::Posted::Answer(answer) => return Ok(answer),
                // AWS refused the signature or the grant before the function ran: nothing ran twice.
                function_url::Posted::Forbidden(why) => why,
            },
            Err(why) => why,
        };
        if !global.json {
            eprintln!(
                "clawkeeper: note: {fallback}; invoking {} directly instead, so the log records you as claimed, not \
                 verified (--direct skips this)",
                control.function
            );
        }
    }
    invoke(sdk, &control.function, request, progress).await
}

/// Who asks, sent as the invoke's client context (the control function records it). The STS
/// identity when it can be read, and the local user.
async fn client_context(sdk: &SdkConfig) -> String {
    let caller = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .ok()
        .and_then(|id| id.arn().map(str::to_string));
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_default();
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let local = match (user.is_empty(), host.is_empty()) {
        (true, _) => String::new(),
        (false, true) => user,
        (false, false) => format!("{user}@{host}"),
    };
    let mut custom = serde_json::Map::new();
    if let Some(caller) = caller {
        custom.insert("caller".into(), json!(caller));
    }
    if !local.is_empty() {
        custom.insert("user".into(), json!(local));
    }
    custom.insert(
        "tool".into(),
        json!(concat!("clawkeeper-cli/", env!("CARGO_PKG_VERSION"))),
    );
    let context = json!({ "custom": custom }).to_string();
    base64::engine::general_purpose::STANDARD.encode(context)
}

/// Invokes `control` with `request`; a function error is [`CliError::Action`].
async fn invoke(sdk: &SdkConfig, function: &str, request: &Value, progress: bool) -> Result<Value, CliError> {
    let client = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(sdk)
            // A changing action must not run twice because an answer was slow.
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build(),
    );
    let call = client
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .client_context(client_context(sdk).await)
        .payload(Blob::new(request.to_string()))
        .send();
    let out = if progress {
        with_progress(call).await
    } else {
        call.await
    }
    .map_err(|e| {
        let detail = DisplayErrorContext(&e).to_string();
        let hint = if detail.contains("ResourceNotFound") {
            format!("function {function:?} not found: check --function, CLAWKEEPER_CONTROL_FUNCTION or the region")
        } else if detail.contains("AccessDenied") || detail.contains("not authorized") {
            format!("not allowed to invoke {function:?}: your credentials need lambda:InvokeFunction on it")
        } else if detail.contains("credentials") {
            "no AWS credentials found: set AWS_PROFILE or run `aws configure`".to_string()
        } else {
            format!("could not reach the control function {function:?}")
        };
        CliError::Aws(format!("{hint} ({detail})"))
    })?;
    let body: Value = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(Value::Null);
    if out.function_error().is_some() {
        return Err(CliError::Action {
            error_type: body["errorType"].as_str().unwrap_or("Unhandled").to_string(),
            message: body["errorMessage"]
                .as_str()
                .unwrap_or("the control function failed")
                .to_string(),
        });
    }
    Ok(body)
}

/// Shows that a long action is still running, on stderr (stdout stays clean for `--json`).
pub async fn with_progress<F: std::future::Future>(call: F) -> F::Output {
    let started = Instant::now();
    eprintln!(
        "restoring: pause -> wait until no task runs -> restore -> resume -> watch health -> notify (this takes a few minutes)"
    );
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    tokio::pin!(call);
    loop {
        tokio::select! {
            out = &mut call => return out,
            _ = tick.tick() => eprintln!("  ... still working ({} s)", started.elapsed().as_secs()),
        }
    }
}
