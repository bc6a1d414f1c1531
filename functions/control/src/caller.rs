//! Who asked: the caller identity `control` records with every change, and how sure it is.
//!
//! Lambda does not pass the IAM principal of a direct (`Invoke`) call to the function. What such a
//! call carries: a Cognito identity (callers with Cognito credentials), and the client context the
//! caller chose to send (the `clawkeeper` CLI sends its STS caller ARN and local user there). Both
//! are what the caller says: [`Caller::Claimed`]. A call through the function URL (`AuthType:
//! AWS_IAM`) is signed, and AWS puts the principal it authenticated in the event's authorizer:
//! [`Caller::Verified`], built only by `url.rs` from that event.
//!
//! The log keeps one line per caller ([`Caller::render`]); a claimed caller always ends with
//! [`CLAIMED_SUFFIX`], after any clipping, so a claim never reads as a verified identity.

use std::fmt;

use lambda_runtime::Context;

/// Longest identity kept, in characters (before the claimed suffix).
const MAX_CHARS: usize = 200;
/// What follows every claimed caller in the log, notices and answers.
pub const CLAIMED_SUFFIX: &str = " (claimed, not verified)";

/// Who asked, and whether AWS vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The IAM principal AWS authenticated (a function URL call's `authorizer.iam.userArn`).
    Verified { arn: String },
    /// What the invocation says about its caller (client context, Cognito identity, or only the
    /// invocation itself), unchecked.
    Claimed { label: String },
}

impl Caller {
    /// A principal AWS authenticated, cleaned of control characters.
    pub fn verified(arn: &str) -> Self {
        Self::Verified { arn: clean(arn) }
    }

    /// What a direct invocation's context says about its caller.
    pub fn claimed(context: &Context) -> Self {
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
        let label = clean(&who);
        Self::Claimed {
            label: if label.trim().is_empty() {
                format!("request {}", context.request_id)
            } else {
                label
            },
        }
    }

    /// The verified principal's ARN; `None` for a claim.
    pub fn verified_arn(&self) -> Option<&str> {
        match self {
            Self::Verified { arn } => Some(arn),
            Self::Claimed { .. } => None,
        }
    }

    /// One line for the log: the ARN when verified, the label and [`CLAIMED_SUFFIX`] when claimed.
    pub fn render(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Verified { arn } => f.write_str(arn),
            Self::Claimed { label } => write!(f, "{label}{CLAIMED_SUFFIX}"),
        }
    }
}

/// Without control characters (a log line stays one line) and at most [`MAX_CHARS`].
fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(MAX_CHARS).collect()
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
    fn client_context_names_a_claimed_caller() {
        let mut c = context();
        c.client_context = Some(
            serde_json::from_value(serde_json::json!({
                "custom": {"caller": "arn:aws:iam::123456789012:user/alice", "user": "alice@laptop"}
            }))
            .expect("client context"),
        );
        let caller = Caller::claimed(&c);
        assert_eq!(
            caller.render(),
            "arn:aws:iam::123456789012:user/alice (alice@laptop) (claimed, not verified)"
        );
        assert_eq!(caller.verified_arn(), None);
    }

    #[test]
    fn cognito_identity_wins_and_the_invocation_is_the_fallback() {
        let mut c = context();
        assert_eq!(
            Caller::claimed(&c).render(),
            "invoke of arn:aws:lambda:us-east-1:123456789012:function:control (request req-1) (claimed, not verified)"
        );
        c.identity = Some(
            serde_json::from_value(serde_json::json!({"identityId": "us-east-1:abc", "identityPoolId": "p"}))
                .expect("identity"),
        );
        assert_eq!(
            Caller::claimed(&c).render(),
            "cognito:us-east-1:abc (claimed, not verified)"
        );
    }

    #[test]
    fn a_verified_caller_is_its_arn_and_a_long_claim_keeps_its_suffix() {
        let verified = Caller::verified("arn:aws:sts::123456789012:assumed-role/ops/alice\n");
        assert_eq!(verified.render(), "arn:aws:sts::123456789012:assumed-role/ops/alice");
        assert_eq!(
            verified.verified_arn(),
            Some("arn:aws:sts::123456789012:assumed-role/ops/alice")
        );
        let mut c = context();
        c.client_context =
            Some(serde_json::from_value(serde_json::json!({"custom": {"caller": "x".repeat(500)}})).expect("context"));
        let long = Caller::claimed(&c).render();
        assert!(long.ends_with(CLAIMED_SUFFIX), "{long}");
        assert_eq!(long.chars().count(), MAX_CHARS + CLAIMED_SUFFIX.len());
    }
}
