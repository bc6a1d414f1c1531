//! Calls through the control function's URL (`FunctionUrlConfig`, `AuthType: AWS_IAM`): the event
//! Lambda builds from a signed HTTPS request (payload format 2.0), and the response shape it turns
//! back into HTTP.
//!
//! The request is the JSON body, POST only. The caller is the principal AWS authenticated
//! (`requestContext.authorizer.iam.userArn`), a [`Caller::Verified`]. Every answer is an HTTP
//! response: 200 with the action's JSON, or a 4xx/5xx whose body is `{errorType, errorMessage}`
//! as a direct invoke's error reads; a function error would reach the caller as a bare 502.

use base64::Engine;
use clawkeeper_aws::FunctionError;
use serde_json::{Value, json};

use crate::caller::Caller;

/// A request that arrived through the function URL.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlRequest {
    /// The control request (the JSON body).
    pub request: Value,
    /// Who signed it.
    pub caller: Caller,
}

/// Whether `event` is a function URL event rather than a control request: only those carry
/// `requestContext.http` (a control request with any field but its own is refused anyway).
pub fn is_url_event(event: &Value) -> bool {
    event
        .get("requestContext")
        .and_then(|c| c.get("http"))
        .is_some_and(Value::is_object)
}

/// The control request and its signer, or why the HTTP request is not one.
pub fn parse(event: &Value) -> Result<UrlRequest, FunctionError> {
    let method = event["requestContext"]["http"]["method"].as_str().unwrap_or("");
    if !method.eq_ignore_ascii_case("POST") {
        return Err(FunctionError::new(
            "MethodNotAllowed",
            format!("the control URL takes POST with a JSON request as the body, not {method:?}"),
        ));
    }
    let caller = match event["requestContext"]["authorizer"]["iam"]["userArn"].as_str() {
        Some(arn) if !arn.trim().is_empty() => Caller::verified(arn.trim()),
        // AuthType NONE would come without an authorizer: nobody vouches for such a caller.
        _ => Caller::Claimed {
            label: "an unauthenticated function URL request".into(),
        },
    };
    let body = match event.get("body") {
        Some(Value::String(body)) => body.clone(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(invalid("the URL event's body is not a string".into())),
    };
    let body = if event["isBase64Encoded"] == true {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|e| invalid(format!("the body is not valid base64: {e}")))?;
        String::from_utf8(bytes).map_err(|_| invalid("the body is not UTF-8 text".into()))?
    } else {
        body
    };
    if body.trim().is_empty() {
        return Err(invalid(
            "the body is empty: POST a JSON request like {\"action\":\"status\"}".into(),
        ));
    }
    let request =
        serde_json::from_str(&body).map_err(|e| invalid(format!("the body is not JSON ({e}): POST a JSON request")))?;
    Ok(UrlRequest { request, caller })
}

/// The function URL response for an action's outcome.
pub fn response(outcome: Result<Value, FunctionError>) -> Value {
    let (status, body) = match outcome {
        Ok(answer) => (200, answer),
        Err(e) => (
            status_of(e.error_type),
            json!({ "errorType": e.error_type, "errorMessage": e.message }),
        ),
    };
    json!({
        "statusCode": status,
        "headers": { "content-type": "application/json" },
        "body": body.to_string(),
        "isBase64Encoded": false,
    })
}

/// The HTTP status of a refusal or failure, by its error type.
fn status_of(error_type: &str) -> u16 {
    match error_type {
        "InvalidRequest" | "UnknownAction" | "UnknownGateway" => 400,
        "NotAnOperator" => 403,
        "UnknownSnapshot" => 404,
        "MethodNotAllowed" => 405,
        "Paused" | "NothingToRestart" => 409,
        "NotConfigured" | "NotImplemented" => 501,
        "Retryable" | "AwsTransient" | "StateUnavailable" => 503,
        _ => 500,
    }
}

fn invalid(message: String) -> FunctionError {
    FunctionError::new("InvalidRequest", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/ops/alice";

    /// A function URL event as Lambda sends it (payload format 2.0), trimmed to what matters.
    fn event(method: &str, body: Value, base64: bool) -> Value {
        json!({
            "version": "2.0",
            "rawPath": "/",
            "headers": {"content-type": "application/json"},
            "requestContext": {
                "accountId": "123456789012",
                "http": {"method": method, "path": "/", "sourceIp": "198.51.100.7"},
                "authorizer": {"iam": {"accessKey": "ASIAEXAMPLE", "accountId": "123456789012",
                                       "callerId": "AROAEXAMPLE:alice", "userArn": ROLE_SESSION}},
                "requestId": "r-1"
            },
            "body": body,
            "isBase64Encoded": base64
        })
    }

    #[test]
    fn a_signed_post_is_its_json_body_and_a_verified_caller() {
        let parsed = parse(&event("POST", json!(r#"{"action":"pause","gateway":"home"}"#), false)).expect("parsed");
        assert_eq!(parsed.request, json!({"action": "pause", "gateway": "home"}));
        assert_eq!(parsed.caller, Caller::verified(ROLE_SESSION));
        let encoded = base64::engine::general_purpose::STANDARD.encode(r#"{"action":"status"}"#);
        let parsed = parse(&event("POST", json!(encoded), true)).expect("base64 body");
        assert_eq!(parsed.request, json!({"action": "status"}));
    }

    #[test]
    fn url_events_are_told_from_control_requests() {
        assert!(is_url_event(&event("POST", json!("{}"), false)));
        assert!(!is_url_event(&json!({"action": "status"})));
        assert!(!is_url_event(&json!({"action": "status", "requestContext": "x"})));
        assert!(!is_url_event(&json!([1])));
    }

    #[test]
    fn other_methods_bad_bodies_and_no_authorizer_are_refused_or_claimed() {
        let e = parse(&event("GET", Value::Null, false)).expect_err("GET");
        assert_eq!(e.error_type, "MethodNotAllowed");
        for (body, base64, says) in [
            (Value::Null, false, "the body is empty"),
            (json!("{not json"), false, "the body is not JSON"),
            (json!("%%%"), true, "not valid base64"),
            (json!({"action": "status"}), false, "not a string"),
        ] {
            let e = parse(&event("POST", body, base64)).expect_err(says);
            assert_eq!(e.error_type, "InvalidRequest");
            assert!(e.message.contains(says), "{}", e.message);
        }
        let mut unsigned = event("POST", json!(r#"{"action":"status"}"#), false);
        unsigned["requestContext"]
            .as_object_mut()
            .expect("context")
            .remove("authorizer");
        assert_eq!(parse(&unsigned).expect("parsed").caller.verified_arn(), None);
    }

    #[test]
    fn answers_and_refusals_are_url_responses() {
        let ok = response(Ok(json!({"phase": "paused"})));
        assert_eq!(ok["statusCode"], 200);
        assert_eq!(ok["headers"]["content-type"], "application/json");
        let body: Value = serde_json::from_str(ok["body"].as_str().expect("body")).expect("JSON body");
        assert_eq!(body, json!({"phase": "paused"}));
        for (error_type, status) in [
            ("NotAnOperator", 403),
            ("UnknownGateway", 400),
            ("Paused", 409),
            ("AwsTransient", 503),
            ("Internal", 500),
        ] {
            let refused = response(Err(FunctionError::new(error_type, "why")));
            assert_eq!(refused["statusCode"], status, "{error_type}");
            let body: Value = serde_json::from_str(refused["body"].as_str().expect("body")).expect("JSON");
            assert_eq!(body, json!({"errorType": error_type, "errorMessage": "why"}));
        }
    }
}
