//! Who asked: the caller identity `control` records with every change, from what the Lambda
//! invocation context carries.
//!
//! Lambda does not pass the IAM principal of a synchronous invoke to the function. What it does
//! pass: a Cognito identity (callers with Cognito credentials), and the client context the caller
//! chose to send (the `clawkeeper` CLI sends its STS caller ARN and local user there). Both are
//! what the caller says; the invoked function ARN and request id are always there and tie the
//! entry to CloudTrail's record of the `Invoke`, which does name the principal.

use lambda_runtime::Context;

/// Longest identity kept, in characters.
const MAX_CHARS: usize = 200;

/// The caller as one line for the log.
pub fn identify(context: &Context) -> String {
    let who = if let Some(identity) = &context.identity {
        format!("cognito:{}", identity.identity_id)
    } else if let Some(custom) = context.client_context.as_ref().map(|c| &c.custom)
        && let Some(caller) = custom.get("caller").or_else(|| custom.get("user"))
    {
        let mut who = caller.clone();
        if let Some(user) = custom.get("user").filter(|u| *u != caller) {
            who.push_str(&format!(" ({user})"));
        }
        who
    } else {
        format!(
            "invoke of {} (request {})",
            context.invoked_function_arn, context.request_id
        )
    };
    let clean: String = who.chars().filter(|c| !c.is_control()).take(MAX_CHARS).collect();
    if clean.trim().is_empty() {
        format!("request {}", context.request_id)
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        let mut context = Context::default();
        context.request_id = "req-1".into();
        context.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:control".into();
        context
    }

    #[test]
    fn client_context_names_the_caller() {
        let mut c = context();
        c.client_context = Some(
            serde_json::from_value(serde_json::json!({
                "custom": {"caller": "arn:aws:iam::123456789012:user/alice", "user": "alice@laptop"}
            }))
            .expect("client context"),
        );
        assert_eq!(identify(&c), "arn:aws:iam::123456789012:user/alice (alice@laptop)");
    }

    #[test]
    fn cognito_identity_wins_and_the_invocation_is_the_fallback() {
        let mut c = context();
        assert_eq!(
            identify(&c),
            "invoke of arn:aws:lambda:us-east-1:123456789012:function:control (request req-1)"
        );
        c.identity = Some(
            serde_json::from_value(serde_json::json!({"identityId": "us-east-1:abc", "identityPoolId": "p"}))
                .expect("identity"),
        );
        assert_eq!(identify(&c), "cognito:us-east-1:abc");
    }
}
