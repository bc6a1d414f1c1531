//! Operator principals: who may pause, silence and restore a gateway, when the stack names them
//! (`OperatorPrincipalArns`, passed as `CLAWKEEPER_OPERATOR_PRINCIPALS`).
//!
//! Those are the actions that stop a gateway or hide that it is down. A claim (a client context)
//! costs nothing to make, so only a [`Caller::Verified`] principal (a signed call through the
//! function URL) can be an operator. Unset, every caller the function's IAM lets in may act, as
//! before.
//!
//! An entry matches a caller exactly, or it is an IAM role and the caller one of its sessions:
//! `arn:aws:sts::<account>:assumed-role/<name>/<session>` is a session of
//! `arn:aws:iam::<account>:role/<path/><name>` (the session ARN leaves the role's path out).

use clawkeeper_aws::FunctionError;

use crate::caller::Caller;

/// The environment variable listing the operators (comma-separated ARNs; empty = unset).
pub const OPERATOR_PRINCIPALS_VAR: &str = "CLAWKEEPER_OPERATOR_PRINCIPALS";

/// The actions limited to operators when operators are configured: the ones that stop the gateway
/// (pause; restore pauses first and replaces its state) or mute what would say it is down.
pub const OPERATOR_ACTIONS: &[&str] = &["pause", "silence", "restore", "register", "unregister"];

/// The configured operators; none configured means no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operators {
    principals: Vec<Principal>,
}

/// One listed principal, as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Principal {
    /// The ARN as listed.
    arn: String,
    /// For an IAM role: (partition, account, role name), to match its sessions.
    role: Option<(String, String, String)>,
}

impl Operators {
    /// Reads [`OPERATOR_PRINCIPALS_VAR`] from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::parse(&std::env::var(OPERATOR_PRINCIPALS_VAR).unwrap_or_default())
    }

    /// Comma-separated ARNs of IAM users, roles or other principals; blank = no limit.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut principals = Vec::new();
        for entry in text.split(',').map(str::trim) {
            if entry.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err(format!("{OPERATOR_PRINCIPALS_VAR}: an empty entry in {text:?}"));
            }
            principals.push(Principal::parse(entry)?);
        }
        Ok(Self { principals })
    }

    /// Whether any operator is configured (the limit applies).
    pub fn configured(&self) -> bool {
        !self.principals.is_empty()
    }

    /// Whether `caller` is a listed operator: verified, and matching an entry.
    pub fn is_operator(&self, caller: &Caller) -> bool {
        caller
            .verified_arn()
            .is_some_and(|arn| self.principals.iter().any(|p| p.matches(arn)))
    }

    /// Lets `caller` ask for `action`, or refuses with `NotAnOperator` saying who may and how.
    pub fn authorize(&self, action: &str, caller: &Caller) -> Result<(), FunctionError> {
        if !self.configured() || !OPERATOR_ACTIONS.contains(&action) || self.is_operator(caller) {
            return Ok(());
        }
        let listed = self
            .principals
            .iter()
            .map(|p| p.arn.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let why = match caller {
            Caller::Verified { arn } => format!("you are {arn}, which is not listed"),
            Caller::Claimed { label } => {
                format!("this call only claims to come from {label}: a direct invoke does not prove who sends it")
            }
        };
        Err(FunctionError::new(
            "NotAnOperator",
            format!(
                "{action} is limited to the operators of this stack ({OPERATOR_PRINCIPALS_VAR}: {listed}, or a \
                 session of a listed role); {why}. Call through the control function's URL (stack output \
                 ControlUrl, AWS_IAM auth; the clawkeeper CLI does when the stack has one) with the credentials \
                 of a listed principal, so that AWS verifies who you are. Nothing was changed"
            ),
        ))
    }
}

impl Principal {
    fn parse(arn: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("{OPERATOR_PRINCIPALS_VAR}: {arn:?} {why}");
        // arn:<partition>:<service>::<account>:<resource>
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts[..] else {
            return Err(bad("is not an ARN (arn:aws:iam::<account>:role/<name>)"));
        };
        if prefix != "arn" || !partition.starts_with("aws") || !matches!(service, "iam" | "sts") || !region.is_empty() {
            return Err(bad(
                "is not an IAM or STS principal ARN (arn:aws:iam::<account>:user/... or :role/...)",
            ));
        }
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad("has no 12-digit account"));
        }
        if resource.is_empty() || resource.contains('*') {
            return Err(bad("names no principal (wildcards are not taken)"));
        }
        let role = match (service, resource.strip_prefix("role/")) {
            ("iam", Some(path_and_name)) => match path_and_name.rsplit('/').next() {
                Some(name) if !name.is_empty() => Some((partition.to_string(), account.to_string(), name.to_string())),
                _ => return Err(bad("names no role")),
            },
            _ => None,
        };
        Ok(Self {
            arn: arn.to_string(),
            role,
        })
    }

    /// `arn` is this principal, or a session of this role.
    fn matches(&self, arn: &str) -> bool {
        if arn == self.arn {
            return true;
        }
        let Some((partition, account, name)) = &self.role else {
            return false;
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let ["arn", p, "sts", "", a, resource] = parts[..] else {
            return false;
        };
        let Some(session) = resource.strip_prefix("assumed-role/") else {
            return false;
        };
        matches!(session.split_once('/'), Some((role, s)) if role == name && !s.is_empty())
            && p == partition
            && a == account
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS_ROLE: &str = "arn:aws:iam::123456789012:role/ops/clawkeeper-operators";
    const ALICE: &str = "arn:aws:iam::123456789012:user/alice";

    fn operators() -> Operators {
        Operators::parse(&format!("{ALICE}, {OPS_ROLE}")).expect("valid list")
    }

    fn verified(arn: &str) -> Caller {
        Caller::verified(arn)
    }

    #[test]
    fn a_listed_user_matches_exactly() {
        let ops = operators();
        assert!(ops.is_operator(&verified(ALICE)));
        assert!(!ops.is_operator(&verified("arn:aws:iam::123456789012:user/alicia")));
        assert!(!ops.is_operator(&verified("arn:aws:iam::123456789012:user/alice/x")));
    }

    #[test]
    fn a_session_of_a_listed_role_matches_whatever_the_role_path() {
        let ops = operators();
        assert!(ops.is_operator(&verified(
            "arn:aws:sts::123456789012:assumed-role/clawkeeper-operators/alice@laptop"
        )));
        assert!(ops.is_operator(&verified(OPS_ROLE)), "the role itself, exactly");
        assert!(!ops.is_operator(&verified(
            "arn:aws:sts::123456789012:assumed-role/clawkeeper-operators/"
        )));
        assert!(!ops.is_operator(&verified("arn:aws:sts::123456789012:assumed-role/other-role/alice")));
        // The path of a listed role is not part of its session ARN, so it never has to match.
        let plain = Operators::parse("arn:aws:iam::123456789012:role/clawkeeper-operators").expect("valid");
        assert!(plain.is_operator(&verified(
            "arn:aws:sts::123456789012:assumed-role/clawkeeper-operators/bob"
        )));
    }

    #[test]
    fn another_account_or_partition_never_matches() {
        let ops = operators();
        assert!(!ops.is_operator(&verified(
            "arn:aws:sts::210987654321:assumed-role/clawkeeper-operators/alice"
        )));
        assert!(!ops.is_operator(&verified("arn:aws:iam::210987654321:user/alice")));
        assert!(!ops.is_operator(&verified(
            "arn:aws-cn:sts::123456789012:assumed-role/clawkeeper-operators/alice"
        )));
    }

    #[test]
    fn a_claimed_caller_is_never_an_operator() {
        let ops = operators();
        let claimed = Caller::Claimed { label: ALICE.into() };
        assert!(!ops.is_operator(&claimed));
        let e = ops.authorize("pause", &claimed).expect_err("refused");
        assert_eq!(e.error_type, "NotAnOperator");
        assert!(e.message.contains("only claims to come from"), "{}", e.message);
        assert!(
            e.message.contains("ControlUrl") && e.message.contains(OPS_ROLE),
            "{}",
            e.message
        );
    }

    #[test]
    fn only_the_listed_actions_are_limited_and_only_when_configured() {
        let ops = operators();
        let stranger = verified("arn:aws:iam::123456789012:user/mallory");
        for action in OPERATOR_ACTIONS {
            let e = ops.authorize(action, &stranger).expect_err("refused");
            assert!(
                e.message
                    .contains("you are arn:aws:iam::123456789012:user/mallory, which is not listed")
            );
        }
        for action in [
            "status",
            "history",
            "snapshots",
            "resume",
            "restart",
            "snapshot",
            "test",
        ] {
            assert_eq!(ops.authorize(action, &stranger), Ok(()), "{action}");
        }
        let unset = Operators::parse("  ").expect("blank");
        assert!(!unset.configured());
        assert_eq!(unset.authorize("pause", &Caller::Claimed { label: "x".into() }), Ok(()));
    }

    #[test]
    fn a_bad_list_is_refused_naming_the_entry() {
        for bad in [
            "alice",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::1234:user/alice",
            "arn:aws:iam::123456789012:role/*",
            &format!("{ALICE},,{OPS_ROLE}"),
            "arn:aws:iam::123456789012:role/",
        ] {
            let e = Operators::parse(bad).expect_err(bad);
            assert!(e.starts_with(OPERATOR_PRINCIPALS_VAR), "{e}");
        }
        assert_eq!(operators().principals.len(), 2);
    }
}
