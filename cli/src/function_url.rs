//! The control function's URL (`AuthType: AWS_IAM`): finding it, and posting a request to it
//! signed with SigV4 (service `lambda`) with the caller's own credentials, so that AWS tells the
//! function who asks instead of the CLI saying so.
//!
//! Why a client of our own: the SDK has no operation for a function URL; the signer and the HTTP
//! stack are the crates the SDK itself is built on.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_types::error::display::DisplayErrorContext;
use clawkeeper_aws::signed_post::{SignedPost, Target};
use serde_json::Value;

use crate::CliError;
use crate::remote::{Control, with_progress};

/// The URL to use instead of looking it up (a proxy, a test's stand-in); empty = unset.
const URL_VAR: &str = "CLAWKEEPER_CONTROL_URL";
/// SigV4's name for function URLs.
const SERVICE: &str = "lambda";
/// Longest wait for an answer: a restore takes minutes (Lambda's limit is 15).
const TIMEOUT: Duration = Duration::from_secs(905);

/// What the URL said.
#[derive(Debug)]
pub enum Posted {
    /// The function answered (200).
    Answer(Value),
    /// AWS refused the call before the function ran (403 without a function error), and why.
    Forbidden(String),
}

/// The control function's URL: `$CLAWKEEPER_CONTROL_URL`, the stack's `ControlUrl` output, or
/// `lambda:GetFunctionUrlConfig`. `Err` says why there is none, for the note of the fallback.
pub async fn find(sdk: &SdkConfig, control: &Control) -> Result<String, String> {
    if let Some(url) = std::env::var(URL_VAR).ok().filter(|v| !v.trim().is_empty()) {
        return Ok(url.trim().to_string());
    }
    if let Some(url) = &control.stack_url {
        return Ok(url.clone());
    }
    let function = &control.function;
    let client = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build(),
    );
    match client.get_function_url_config().function_name(function).send().await {
        Ok(config) => Ok(config.function_url().to_string()),
        Err(e) => {
            let detail = DisplayErrorContext(&e).to_string();
            Err(
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception())
                {
                    format!("{function:?} has no function URL (a stack from before ControlUrl?)")
                } else if detail.contains("AccessDenied") || detail.contains("not authorized") {
                    format!("could not look up the URL of {function:?} (lambda:GetFunctionUrlConfig denied)")
                } else {
                    format!("could not look up the URL of {function:?} ({detail})")
                },
            )
        }
    }
}

/// Posts `request` to `url`, signed. A function refusal or failure is [`CliError::Action`].
pub async fn post(sdk: &SdkConfig, url: &str, request: &Value, progress: bool) -> Result<Posted, CliError> {
    let unreachable = |what: String| CliError::Aws(format!("could not call the control URL {url}: {what}"));
    let body = request.to_string();
    let region = region_of(url)
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .ok_or_else(|| unreachable("no AWS region configured (set AWS_REGION or --region)".into()))?;
    let client = SignedPost::new(Duration::from_secs(5)).map_err(unreachable)?;
    let to = Target {
        url,
        service: SERVICE,
        region: &region,
    };
    let call = client.post(sdk, to, &[("content-type", "application/json")], body, TIMEOUT);
    let (status, bytes) = if progress {
        with_progress(call).await
    } else {
        call.await
    }
    .map_err(unreachable)?;
    read_answer(status, &bytes)
}

/// The answer of the URL: the function's, or why AWS refused.
fn read_answer(status: u16, bytes: &[u8]) -> Result<Posted, CliError> {
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    if status == 200 {
        return Ok(Posted::Answer(body));
    }
    // A refusal or failure of the function itself: its error, as a direct invoke would report it.
    if let Some(error_type) = body["errorType"].as_str() {
        return Err(CliError::Action {
            error_type: error_type.to_string(),
            message: body["errorMessage"]
                .as_str()
                .unwrap_or("the control function failed")
                .to_string(),
        });
    }
    let said = body["Message"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).chars().take(200).collect());
    if status == 403 {
        return Ok(Posted::Forbidden(format!(
            "the control URL refused your credentials (403 {said}: calling it takes lambda:InvokeFunctionUrl and \
             lambda:InvokeFunction on the control function)"
        )));
    }
    // The function may have run (a crash, a timeout): not retried another way.
    Err(CliError::Aws(format!("the control URL answered {status}: {said}")))
}

/// The region of a Lambda function URL (`https://<id>.lambda-url.<region>.on.aws/`), which its
/// signature must name.
fn region_of(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let (_, rest) = host.split_once(".lambda-url.")?;
    rest.strip_suffix(".on.aws").map(str::to_string)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_region_comes_from_a_function_url_host() {
        assert_eq!(
            region_of("https://abcdef123.lambda-url.eu-west-3.on.aws/").as_deref(),
            Some("eu-west-3")
        );
        assert_eq!(region_of("http://127.0.0.1:9001/"), None);
        assert_eq!(region_of("https://example.com/x.lambda-url.us-east-1.on.aws"), None);
    }

    #[test]
    fn answers_refusals_and_front_end_errors_are_told_apart() {
        let ok = read_answer(200, br#"{"phase":"paused"}"#).expect("answer");
        assert!(matches!(ok, Posted::Answer(v) if v == json!({"phase": "paused"})));
        let refused = read_answer(
            403,
            br#"{"errorType":"NotAnOperator","errorMessage":"pause is limited"}"#,
        );
        assert!(
            matches!(&refused, Err(CliError::Action { error_type, .. }) if error_type == "NotAnOperator"),
            "{refused:?}"
        );
        let forbidden = read_answer(403, br#"{"Message":"Forbidden"}"#).expect("a fallback reason");
        assert!(
            matches!(&forbidden, Posted::Forbidden(why) if why.contains("lambda:InvokeFunctionUrl")),
            "{forbidden:?}"
        );
        let crashed = read_answer(502, b"Internal Server Error");
        assert!(
            matches!(&crashed, Err(CliError::Aws(m)) if m.contains("502")),
            "{crashed:?}"
        );
    }
}
