//! The environment contract of ARCHITECTURE.md section 7, parsed once at init.
//!
//! Every function reads the same variables into one typed [`Config`]. A missing or malformed
//! variable is a [`ConfigError`] that names the variable and says what is wrong, so a bad
//! deployment fails at init with a message an owner can act on instead of at the first event.
//!
//! Parsing goes through [`Config::from_lookup`], a pure function over a variable lookup, so each
//! error case is tested without touching the process environment.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;

use crate::gateway::{Gateway, GatewayTarget};
use crate::policy_settings::PolicySettings;
use crate::registry::Admission;
use crate::watch::notice::NoticeContext;

/// Names of the variables of the contract, in one place so messages and docs agree.
pub mod vars {
    pub const TABLE: &str = "CLAWKEEPER_TABLE";
    pub const TOPIC_ARN: &str = "CLAWKEEPER_TOPIC_ARN";
    pub const BUCKET: &str = "CLAWKEEPER_BUCKET";
    pub const GATEWAYS: &str = "CLAWKEEPER_GATEWAYS";
    pub const POLICY: &str = "CLAWKEEPER_POLICY";
    pub const SNAPSHOT_INTERVAL_SECS: &str = "CLAWKEEPER_SNAPSHOT_INTERVAL_SECS";
    pub const DEAD_LETTER_QUEUE_URL: &str = "CLAWKEEPER_DEAD_LETTER_QUEUE_URL";
    pub const ALARM_NAMES: &str = "CLAWKEEPER_ALARM_NAMES";
    pub const SNAPSHOT_FUNCTION: &str = "CLAWKEEPER_SNAPSHOT_FUNCTION";
    pub const RESTORE_FUNCTION: &str = "CLAWKEEPER_RESTORE_FUNCTION";
    pub const PROBE_TASK_IP: &str = "CLAWKEEPER_PROBE_TASK_IP";
    pub const POLL_MS: &str = "CLAWKEEPER_POLL_MS";
    pub const SNAPSHOT_STALE_UPLOAD_SECS: &str = "CLAWKEEPER_SNAPSHOT_STALE_UPLOAD_SECS";
    pub const SNAPSHOT_GZIP_LEVEL: &str = "CLAWKEEPER_SNAPSHOT_GZIP_LEVEL";
    pub const RESTORE_QUIET_SECS: &str = "CLAWKEEPER_RESTORE_QUIET_SECS";
    pub const RESTORE_SETTLE_SECS: &str = "CLAWKEEPER_RESTORE_SETTLE_SECS";
    pub const AWS_ATTEMPT_TIMEOUT_MS: &str = "CLAWKEEPER_AWS_ATTEMPT_TIMEOUT_MS";
    pub const STACK: &str = "CLAWKEEPER_STACK";
    pub const WATCHED_CLUSTERS: &str = "CLAWKEEPER_WATCHED_CLUSTERS";
    pub const TOKEN_SECRET_PREFIX: &str = "CLAWKEEPER_TOKEN_SECRET_PREFIX";
    /// Set by Lambda; read for the `--region` of the commands in notices.
    pub const REGION: &str = "AWS_REGION";
}

/// The snapshot archives' gzip level unless `CLAWKEEPER_SNAPSHOT_GZIP_LEVEL` says otherwise: the
/// fastest, as deflate at level 1 still takes most of a capture's CPU (docs/BENCHMARKS.md compares
/// the levels on one state).
pub const DEFAULT_GZIP_LEVEL: u32 = 1;

/// Timings with defaults that suit Lambda, overridable for tests and unusual volumes. Each is an
/// optional whole number; a value that is not one stops init with the variable named (a silent
/// fallback would hide a typo until the one restore where it matters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// `CLAWKEEPER_POLL_MS` (default 2000): how often `control` polls ECS while a restore waits.
    pub poll: Duration,
    /// `CLAWKEEPER_SNAPSHOT_STALE_UPLOAD_SECS` (default 900, Lambda's longest run): an incomplete
    /// upload older than this was left by a snapshot run that died, and is aborted.
    pub stale_upload_age: Duration,
    /// `CLAWKEEPER_RESTORE_QUIET_SECS` (default 60): how long the state must have been left
    /// unwritten before a restore may replace it.
    pub restore_quiet: Duration,
    /// `CLAWKEEPER_RESTORE_SETTLE_SECS` (default 5): the second look of the live-writer check.
    pub restore_settle: Duration,
    /// `CLAWKEEPER_AWS_ATTEMPT_TIMEOUT_MS` (default 10000, at least 100): one AWS call attempt, short
    /// enough that a stuck call fails inside the function's own timeout and Lambda can retry.
    pub aws_attempt: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(2000),
            stale_upload_age: Duration::from_secs(900),
            restore_quiet: Duration::from_secs(60),
            restore_settle: Duration::from_secs(5),
            aws_attempt: Duration::from_secs(10),
        }
    }
}

/// Default mount point of a gateway's `/home/node` inside the VPC functions.
pub const DEFAULT_STATE_ROOT: &str = "/mnt/openclaw";
/// Default OpenClaw state dir, relative to the state root.
pub const DEFAULT_STATE_DIR: &str = ".openclaw";

/// A configuration variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it, and where possible how to fix it.
    pub problem: String,
}

impl ConfigError {
    /// `var` is at fault: `problem` says how.
    pub fn new(var: &'static str, problem: impl Into<String>) -> Self {
        Self {
            var,
            problem: problem.into(),
        }
    }
}

/// Everything a clawkeeper function reads from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// DynamoDB table holding gateway state, incidents and dedupe markers.
    pub table: String,
    /// SNS topic that owners subscribe to.
    pub topic_arn: String,
    /// S3 bucket for snapshots.
    pub bucket: String,
    /// The gateways this deployment watches, in configuration order: at init the seeds of
    /// `CLAWKEEPER_GATEWAYS`; a handler works on [`Config::with_gateways`] of the current fleet
    /// (seeds and registry, [`crate::registry`]).
    pub gateways: Vec<Gateway>,
    /// What a gateway registered at run time must satisfy (`CLAWKEEPER_WATCHED_CLUSTERS`,
    /// `CLAWKEEPER_TOKEN_SECRET_PREFIX`).
    pub admission: Admission,
    /// Watchdog policy: the defaults of ARCHITECTURE.md section 4, then the stack's
    /// `CLAWKEEPER_SNAPSHOT_INTERVAL_SECS`, then the owner's `CLAWKEEPER_POLICY` laid over both.
    pub policy: PolicySettings,
    /// Optional: the stack's dead-letter queue (`CLAWKEEPER_DEAD_LETTER_QUEUE_URL`), whose depth the
    /// `test` action reports.
    pub dead_letter_queue_url: Option<String>,
    /// The stack's alarms (`CLAWKEEPER_ALARM_NAMES`, comma-separated), whose actions the `test`
    /// action checks.
    pub alarm_names: Vec<String>,
    /// Optional: the snapshot function the watchdog and `control` invoke (`CLAWKEEPER_SNAPSHOT_FUNCTION`).
    pub snapshot_function: Option<String>,
    /// Optional: the restore function `control` invokes (`CLAWKEEPER_RESTORE_FUNCTION`).
    pub restore_function: Option<String>,
    /// `CLAWKEEPER_PROBE_TASK_IP` (default false): the reconciler runs in the gateways' VPC and may
    /// probe a task's private IP. Outside it a private IP is unreachable, and probing it anyway
    /// would only turn timeouts into "hung" verdicts about a gateway nobody can see.
    pub probe_task_ip: bool,
    /// Poll, quiet and stale-upload timings (see [`Timings`]).
    pub timings: Timings,
    /// `CLAWKEEPER_SNAPSHOT_GZIP_LEVEL` (1 to 9, default [`DEFAULT_GZIP_LEVEL`]): the snapshot
    /// archives' gzip level. Higher levels make smaller archives for several times the CPU.
    pub gzip_level: u32,
}

impl Config {
    /// Reads the contract from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the contract through `lookup`, which returns a variable's value if it is set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table = required(&lookup, vars::TABLE)?;
        check_table_name(&table)?;
        let topic_arn = required(&lookup, vars::TOPIC_ARN)?;
        check_topic_arn(&topic_arn)?;
        let bucket = required(&lookup, vars::BUCKET)?;
        check_bucket_name(&bucket)?;
        let gateways = parse_gateways(&required(&lookup, vars::GATEWAYS)?)?;
        // Layered, so that an override of one key keeps the stack's snapshot interval.
        let mut base = PolicySettings::default();
        if let Some(secs) = optional_count(&lookup, vars::SNAPSHOT_INTERVAL_SECS, "seconds")? {
            base.snapshot_interval_secs = secs;
        }
        let policy = match lookup(vars::POLICY).filter(|v| !v.trim().is_empty()) {
            Some(json) => base
                .overlaid_with(&json)
                .map_err(|problem| ConfigError::new(vars::POLICY, problem))?,
            None => base,
        };
        let dead_letter_queue_url = lookup(vars::DEAD_LETTER_QUEUE_URL)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let alarm_names = lookup(vars::ALARM_NAMES)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect();
        let snapshot_function = lookup(vars::SNAPSHOT_FUNCTION)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let restore_function = lookup(vars::RESTORE_FUNCTION)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let probe_task_ip = parse_probe_task_ip(lookup(vars::PROBE_TASK_IP))?;
        let admission = Admission {
            clusters: lookup(vars::WATCHED_CLUSTERS)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            token_secret_prefix: optional_name(
                &lookup,
                vars::TOKEN_SECRET_PREFIX,
                |v| v.starts_with("arn:") && v.contains(":secretsmanager:") && v.contains(":secret:"),
                "a Secrets Manager ARN prefix (arn:aws:secretsmanager:<region>:<account>:secret:<path>/)",
            )?,
        };
        let mut policy = policy;
        policy.notices = NoticeContext {
            region: optional_name(&lookup, vars::REGION, is_region, "an AWS region like us-east-1")?,
            stack: optional_name(
                &lookup,
                vars::STACK,
                is_stack_name,
                "a CloudFormation stack name (a letter, then up to 127 letters, digits or '-')",
            )?,
            snapshot_function: snapshot_function.clone(),
        };
        let defaults = Timings::default();
        let timings = Timings {
            poll: optional_count(&lookup, vars::POLL_MS, "milliseconds")?.map_or(defaults.poll, Duration::from_millis),
            stale_upload_age: optional_count(&lookup, vars::SNAPSHOT_STALE_UPLOAD_SECS, "seconds")?
                .map_or(defaults.stale_upload_age, Duration::from_secs),
            restore_quiet: optional_count(&lookup, vars::RESTORE_QUIET_SECS, "seconds")?
                .map_or(defaults.restore_quiet, Duration::from_secs),
            restore_settle: optional_count(&lookup, vars::RESTORE_SETTLE_SECS, "seconds")?
                .map_or(defaults.restore_settle, Duration::from_secs),
            aws_attempt: match optional_count(&lookup, vars::AWS_ATTEMPT_TIMEOUT_MS, "milliseconds")? {
                None => defaults.aws_attempt,
                Some(ms) if ms >= 100 => Duration::from_millis(ms),
                Some(ms) => {
                    return Err(ConfigError::new(
                        vars::AWS_ATTEMPT_TIMEOUT_MS,
                        format!("{ms} ms is too short for an AWS call; give at least 100"),
                    ));
                }
            },
        };
        let gzip_level = match optional_count(&lookup, vars::SNAPSHOT_GZIP_LEVEL, "gzip level")? {
            None => DEFAULT_GZIP_LEVEL,
            Some(level @ 1..=9) => level as u32,
            Some(level) => {
                return Err(ConfigError::new(
                    vars::SNAPSHOT_GZIP_LEVEL,
                    format!("{level} is not a gzip level; give 1 (fastest) to 9 (smallest)"),
                ));
            }
        };
        Ok(Self {
            table,
            topic_arn,
            bucket,
            gateways,
            admission,
            policy,
            dead_letter_queue_url,
            alarm_names,
            snapshot_function,
            restore_function,
            probe_task_ip,
            timings,
            gzip_level,
        })
    }

    /// The configured gateway with this id.
    pub fn gateway(&self, id: &str) -> Option<&Gateway> {
        self.gateways.iter().find(|g| g.id == id)
    }

    /// This configuration watching `gateways` (the current fleet) instead of the seeds.
    pub fn with_gateways(&self, gateways: Vec<Gateway>) -> Self {
        Self {
            gateways,
            ..self.clone()
        }
    }
}

fn required(lookup: &impl Fn(&str) -> Option<String>, var: &'static str) -> Result<String, ConfigError> {
    match lookup(var) {
        None => Err(ConfigError::new(var, "is not set")),
        Some(v) if v.trim().is_empty() => Err(ConfigError::new(var, "is set but empty")),
        Some(v) => Ok(v.trim().to_string()),
    }
}

/// An optional whole number of `unit`; unset or empty is `None`.
fn optional_count(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    unit: &str,
) -> Result<Option<u64>, ConfigError> {
    let Some(value) = lookup(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    value
        .parse::<u64>()
        .map(Some)
        .map_err(|_| ConfigError::new(var, format!("{value:?} is not a whole number of {unit}")))
}

/// An optional name that `valid` accepts; unset or empty is `None`, anything else names the variable.
fn optional_name(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    valid: fn(&str) -> bool,
    what: &str,
) -> Result<Option<String>, ConfigError> {
    let Some(value) = lookup(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if valid(&value) {
        Ok(Some(value))
    } else {
        Err(ConfigError::new(var, format!("{value:?} is not {what}")))
    }
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`: lowercase words joined by '-', ending in a number.
fn is_region(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// CloudFormation: a letter, then up to 127 letters, digits or hyphens.
fn is_stack_name(value: &str) -> bool {
    value.len() <= 128
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `true` or `false` (any case); unset or empty is `false`, like the other optional variables.
fn parse_probe_task_ip(value: Option<String>) -> Result<bool, ConfigError> {
    let Some(value) = value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) else {
        return Ok(false);
    };
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::new(
            vars::PROBE_TASK_IP,
            format!(
                "{value:?} is neither \"true\" nor \"false\" (true only when the reconciler runs in the gateway's \
                 VPC: ProbeInVpc=true)"
            ),
        )),
    }
}

fn check_table_name(name: &str) -> Result<(), ConfigError> {
    // DynamoDB: 3 to 255 characters of [a-zA-Z0-9_.-].
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if (3..=255).contains(&name.len()) && ok_chars {
        Ok(())
    } else {
        Err(ConfigError::new(
            vars::TABLE,
            format!("{name:?} is not a DynamoDB table name (3-255 characters of letters, digits, '_', '.', '-')"),
        ))
    }
}

fn check_topic_arn(arn: &str) -> Result<(), ConfigError> {
    // arn:<partition>:sns:<region>:<account>:<topic>
    let parts: Vec<&str> = arn.split(':').collect();
    let well_formed = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && !parts[5].is_empty();
    if well_formed {
        Ok(())
    } else {
        Err(ConfigError::new(
            vars::TOPIC_ARN,
            format!("{arn:?} is not an SNS topic ARN (expected arn:aws:sns:<region>:<account>:<topic>)"),
        ))
    }
}

fn check_bucket_name(name: &str) -> Result<(), ConfigError> {
    // S3 general purpose bucket rules: 3-63 characters, lowercase letters, digits, '.', '-',
    // starting and ending with a letter or digit.
    let bytes = name.as_bytes();
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let ok = (3..=63).contains(&name.len())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge_ok(bytes[0])
        && edge_ok(bytes[bytes.len() - 1])
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            vars::BUCKET,
            format!(
                "{name:?} is not an S3 bucket name (3-63 lowercase letters, digits, '.', '-', starting and ending with a letter or digit)"
            ),
        ))
    }
}

/// One element of `CLAWKEEPER_GATEWAYS` as written by the owner or the template.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    id: String,
    cluster: String,
    service: Option<String>,
    task_family: Option<String>,
    probe_url: Option<String>,
    token_secret_arn: Option<String>,
    log_group: Option<String>,
    state_root: Option<String>,
    state_dir: Option<String>,
}

fn parse_gateways(json: &str) -> Result<Vec<Gateway>, ConfigError> {
    let err = |problem: String| ConfigError::new(vars::GATEWAYS, problem);
    let raw: Vec<serde_json::Value> =
        serde_json::from_str(json).map_err(|e| err(format!("is not a JSON array of gateway objects: {e}")))?;
    // An empty list is a stack whose gateways are all registered at run time (`control register`).
    let mut seen = HashSet::new();
    let mut gateways = Vec::with_capacity(raw.len());
    for (index, value) in raw.into_iter().enumerate() {
        let label = gateway_label(index, &value);
        let gateway = parse_gateway_object(value).map_err(|problem| err(format!("{label}: {problem}")))?;
        if !seen.insert(gateway.id.clone()) {
            return Err(err(format!(
                "{label}: id {:?} is used twice; ids must be unique",
                gateway.id
            )));
        }
        gateways.push(gateway);
    }
    Ok(gateways)
}

/// "gateway 2 (\"home\")": position (1-based) and id when there is one, for error messages.
/// One gateway object (an element of `CLAWKEEPER_GATEWAYS`, or a registration), validated as
/// strictly as the environment: unknown fields, a bad id, both or neither of `service` and
/// `task_family`, a malformed URL, ARN or path are each an error saying what to fix.
pub fn parse_gateway_object(value: serde_json::Value) -> Result<Gateway, String> {
    if !value.is_object() {
        return Err("a gateway must be a JSON object".into());
    }
    let raw: RawGateway = serde_json::from_value(value).map_err(|e| e.to_string())?;
    validate_gateway(raw)
}

fn gateway_label(index: usize, value: &serde_json::Value) -> String {
    match value.get("id").and_then(|v| v.as_str()) {
        Some(id) => format!("gateway {} ({id:?})", index + 1),
        None => format!("gateway {}", index + 1),
    }
}

fn validate_gateway(raw: RawGateway) -> Result<Gateway, String> {
    let id_ok = !raw.id.is_empty()
        && raw.id.len() <= 64
        && raw
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !id_ok {
        // The id becomes part of DynamoDB keys and S3 prefixes.
        return Err(format!(
            "`id` {:?} must be 1-64 characters of letters, digits, '-' or '_'",
            raw.id
        ));
    }
    let cluster = non_empty("cluster", raw.cluster)?;
    let target = match (raw.service, raw.task_family) {
        (Some(service), None) => GatewayTarget::Service(non_empty("service", service)?),
        (None, Some(family)) => GatewayTarget::Standalone {
            family: non_empty("task_family", family)?,
        },
        (Some(_), Some(_)) => {
            return Err("`service` and `task_family` are both set; set exactly one".into());
        }
        (None, None) => {
            return Err(
                "neither `service` nor `task_family` is set; set `service` for an ECS service or `task_family` for a standalone task"
                    .into(),
            );
        }
    };
    if let Some(url) = &raw.probe_url
        && (!(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10)
    {
        return Err(format!("`probe_url` {url:?} must be an http:// or https:// URL"));
    }
    if let Some(arn) = &raw.token_secret_arn
        && (!arn.starts_with("arn:") || !arn.contains(":secretsmanager:"))
    {
        // Not echoed: an owner who pasted the token itself here would see it in the init log.
        return Err(format!(
            "`token_secret_arn` must be a Secrets Manager secret ARN (arn:aws:secretsmanager:...), \
             not the token itself; the value given ({} characters) is not repeated here",
            arn.chars().count()
        ));
    }
    let state_root = raw.state_root.unwrap_or_else(|| DEFAULT_STATE_ROOT.to_string());
    if !state_root.starts_with('/') || state_root.split('/').any(|part| part == "..") {
        return Err(format!(
            "`state_root` {state_root:?} must be an absolute path without '..'"
        ));
    }
    let state_dir = raw.state_dir.unwrap_or_else(|| DEFAULT_STATE_DIR.to_string());
    if state_dir.is_empty() || state_dir.starts_with('/') || state_dir.split('/').any(|part| part == "..") {
        return Err(format!(
            "`state_dir` {state_dir:?} must be a relative path under `state_root`, without '..'"
        ));
    }
    Ok(Gateway {
        id: raw.id,
        cluster,
        target,
        probe_url: raw.probe_url,
        token_secret_arn: raw.token_secret_arn,
        log_group: raw.log_group,
        state_root,
        state_dir,
    })
}

fn non_empty(field: &str, value: String) -> Result<String, String> {
    if value.trim().is_empty() {
        Err(format!("`{field}` is empty"))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const GATEWAYS: &str = r#"[{"id":"home","cluster":"openclaw","service":"openclaw-gateway"}]"#;

    fn env(overrides: &[(&str, Option<&str>)]) -> Result<Config, ConfigError> {
        let mut vars: HashMap<&str, String> = HashMap::from([
            (vars::TABLE, "clawkeeper-state".to_string()),
            (
                vars::TOPIC_ARN,
                "arn:aws:sns:us-east-1:123456789012:clawkeeper".to_string(),
            ),
            (vars::BUCKET, "clawkeeper-snapshots".to_string()),
            (vars::GATEWAYS, GATEWAYS.to_string()),
        ]);
        for (name, value) in overrides {
            match value {
                Some(v) => vars.insert(name, v.to_string()),
                None => vars.remove(name),
            };
        }
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn error_for(overrides: &[(&str, Option<&str>)]) -> ConfigError {
        match env(overrides) {
            Ok(config) => panic!("expected a configuration error, got {config:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_complete_environment_parses_with_defaults() {
        let config = env(&[]).expect("valid config");
        assert_eq!(config.table, "clawkeeper-state");
        assert_eq!(config.gateways.len(), 1);
        let gw = &config.gateways[0];
        assert_eq!(gw.id, "home");
        assert_eq!(gw.target, GatewayTarget::Service("openclaw-gateway".into()));
        assert_eq!(gw.state_root, DEFAULT_STATE_ROOT);
        assert_eq!(gw.state_dir, DEFAULT_STATE_DIR);
        assert_eq!(config.policy, PolicySettings::default());
        assert!(!config.probe_task_ip, "a private IP is probed only when asked for");
    }

    #[test]
    fn probe_task_ip_is_true_or_false_and_anything_else_is_named() {
        for (value, expected) in [
            (None, false),
            (Some(""), false),
            (Some("false"), false),
            (Some("true"), true),
            (Some(" TRUE "), true),
        ] {
            assert_eq!(
                env(&[(vars::PROBE_TASK_IP, value)]).expect("valid").probe_task_ip,
                expected,
                "{value:?}"
            );
        }
        for value in ["yes", "1", "on", "true,false"] {
            let e = error_for(&[(vars::PROBE_TASK_IP, Some(value))]);
            assert_eq!(e.var, vars::PROBE_TASK_IP);
            assert!(
                e.to_string().starts_with("CLAWKEEPER_PROBE_TASK_IP: ") && e.problem.contains("ProbeInVpc=true"),
                "{e}"
            );
        }
    }

    #[test]
    fn an_empty_seed_list_is_a_stack_of_registered_gateways_only() {
        let config = env(&[(vars::GATEWAYS, Some("[]"))]).expect("valid");
        assert!(config.gateways.is_empty());
        let config = env(&[
            (vars::WATCHED_CLUSTERS, Some("openclaw, lab")),
            (
                vars::TOKEN_SECRET_PREFIX,
                Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:clawkeeper/ck/"),
            ),
        ])
        .expect("valid");
        assert_eq!(config.admission.clusters, ["openclaw", "lab"]);
        let e = error_for(&[(vars::TOKEN_SECRET_PREFIX, Some("clawkeeper/ck/"))]);
        assert_eq!(e.var, vars::TOKEN_SECRET_PREFIX);
    }

    #[test]
    fn each_missing_variable_is_named() {
        for var in [vars::TABLE, vars::TOPIC_ARN, vars::BUCKET, vars::GATEWAYS] {
            let e = error_for(&[(var, None)]);
            assert_eq!(e.var, var);
            assert_eq!(e.to_string(), format!("{var}: is not set"));
            let e = error_for(&[(var, Some("  "))]);
            assert_eq!(e.to_string(), format!("{var}: is set but empty"));
        }
    }

    #[test]
    fn malformed_names_and_arns_are_refused() {
        let e = error_for(&[(vars::TABLE, Some("a b"))]);
        assert_eq!(e.var, vars::TABLE);
        assert!(e.problem.contains("not a DynamoDB table name"), "{e}");
        let e = error_for(&[(vars::TOPIC_ARN, Some("clawkeeper-topic"))]);
        assert_eq!(e.var, vars::TOPIC_ARN);
        assert!(e.problem.contains("not an SNS topic ARN"), "{e}");
        let e = error_for(&[(vars::TOPIC_ARN, Some("arn:aws:sqs:us-east-1:123456789012:q"))]);
        assert_eq!(e.var, vars::TOPIC_ARN);
        let e = error_for(&[(vars::BUCKET, Some("My_Bucket"))]);
        assert_eq!(e.var, vars::BUCKET);
        assert!(e.problem.contains("not an S3 bucket name"), "{e}");
    }

    #[test]
    fn gateways_must_be_a_json_array_of_valid_gateways() {
        let cases: &[(&str, &str)] = &[
            ("{not json", "is not a JSON array"),
            (r#"{"id":"home"}"#, "is not a JSON array"),
            (r#"[{"cluster":"c","service":"s"}]"#, "gateway 1: missing field `id`"),
            (
                r#"[{"id":"home","service":"s"}]"#,
                "gateway 1 (\"home\"): missing field `cluster`",
            ),
            (
                r#"[{"id":"home","cluster":"c"}]"#,
                "neither `service` nor `task_family`",
            ),
            (
                r#"[{"id":"home","cluster":"c","service":"s","task_family":"f"}]"#,
                "both set",
            ),
            (
                r#"[{"id":"home","cluster":"c","service":"s","servce":"x"}]"#,
                "unknown field `servce`",
            ),
            (r#"[{"id":"ho me","cluster":"c","service":"s"}]"#, "`id` \"ho me\""),
            (r#"[{"id":"home","cluster":"","service":"s"}]"#, "`cluster` is empty"),
            (
                r#"[{"id":"home","cluster":"c","service":"s","probe_url":"ftp://x/healthz"}]"#,
                "`probe_url`",
            ),
            (
                r#"[{"id":"home","cluster":"c","service":"s","token_secret_arn":"token"}]"#,
                "`token_secret_arn`",
            ),
            (
                r#"[{"id":"home","cluster":"c","service":"s","state_root":"mnt"}]"#,
                "`state_root`",
            ),
            (
                r#"[{"id":"home","cluster":"c","service":"s","state_dir":"../etc"}]"#,
                "`state_dir`",
            ),
            (
                r#"[{"id":"a","cluster":"c","service":"s"},{"id":"a","cluster":"c","service":"t"}]"#,
                "gateway 2 (\"a\"): id \"a\" is used twice",
            ),
            (
                r#"[{"id":"home","cluster":"c","service":7}]"#,
                "gateway 1 (\"home\"): invalid type",
            ),
        ];
        for (json, expected) in cases {
            let e = error_for(&[(vars::GATEWAYS, Some(json))]);
            assert_eq!(e.var, vars::GATEWAYS, "{json}");
            assert!(
                e.to_string().contains(expected),
                "{json}: got {e}, expected it to contain {expected:?}"
            );
        }
    }

    #[test]
    fn the_notice_context_comes_from_the_region_stack_and_snapshot_function() {
        let config = env(&[]).expect("valid");
        assert_eq!(config.policy.notices, NoticeContext::default());
        let config = env(&[
            (vars::REGION, Some("eu-central-1")),
            (vars::STACK, Some(" home-claw ")),
            (vars::SNAPSHOT_FUNCTION, Some("home-claw-Snapshot")),
        ])
        .expect("valid");
        let expected = NoticeContext {
            region: Some("eu-central-1".into()),
            stack: Some("home-claw".into()),
            snapshot_function: Some("home-claw-Snapshot".into()),
        };
        assert_eq!(config.policy.notices, expected);
        for region in ["us-gov-west-1", "ap-southeast-2", "il-central-1"] {
            assert!(env(&[(vars::REGION, Some(region))]).is_ok(), "{region}");
        }
        for (var, bad) in [
            (vars::REGION, "US-EAST-1"),
            (vars::REGION, "us-east"),
            (vars::REGION, "us east 1"),
            (vars::STACK, "1claw"),
            (vars::STACK, "my_claw"),
        ] {
            let e = error_for(&[(var, Some(bad))]);
            assert_eq!(e.var, var, "{bad}");
            assert!(e.problem.contains(&format!("{bad:?} is not")), "{e}");
        }
    }

    #[test]
    fn standalone_gateways_and_optional_fields_parse() {
        let json = r#"[{"id":"lab","cluster":"c","task_family":"openclaw","probe_url":"http://127.0.0.1:18789",
            "token_secret_arn":"arn:aws:secretsmanager:us-east-1:123456789012:secret:gw","log_group":"/ecs/openclaw",
            "state_root":"/mnt/lab","state_dir":"state/.openclaw"}]"#;
        let config = env(&[(vars::GATEWAYS, Some(json))]).expect("valid");
        let gw = config.gateway("lab").expect("configured");
        assert_eq!(
            gw.target,
            GatewayTarget::Standalone {
                family: "openclaw".into()
            }
        );
        assert_eq!(gw.probe_url.as_deref(), Some("http://127.0.0.1:18789"));
        assert_eq!(gw.log_group.as_deref(), Some("/ecs/openclaw"));
        assert_eq!(gw.state_path(), std::path::PathBuf::from("/mnt/lab/state/.openclaw"));
        assert!(config.gateway("home").is_none());
    }

    #[test]
    fn policy_overrides_apply_and_errors_name_the_variable() {
        let config = env(&[(vars::POLICY, Some(r#"{"down_grace_secs":0,"crash_loop_stops":2}"#))]).expect("valid");
        assert_eq!(config.policy.down_grace_secs, 0);
        assert_eq!(config.policy.crash_loop_stops, 2);
        assert_eq!(
            config.policy.backoff_max_secs,
            PolicySettings::default().backoff_max_secs
        );

        let e = error_for(&[(vars::POLICY, Some(r#"{"down_grace":5}"#))]);
        assert_eq!(e.var, vars::POLICY);
        assert!(e.problem.contains("unknown field `down_grace`"), "{e}");
        let e = error_for(&[(vars::POLICY, Some("[1]"))]);
        assert_eq!(e.var, vars::POLICY);
    }

    #[test]
    fn the_stack_interval_stays_under_overrides_of_other_keys() {
        let interval = Some("900");
        let config = env(&[(vars::SNAPSHOT_INTERVAL_SECS, interval)]).expect("valid");
        assert_eq!(config.policy.snapshot_interval_secs, 900);
        let config = env(&[
            (vars::SNAPSHOT_INTERVAL_SECS, interval),
            (vars::POLICY, Some(r#"{"down_grace_secs":120}"#)),
        ])
        .expect("valid");
        assert_eq!(
            config.policy.snapshot_interval_secs, 900,
            "an override of another key keeps it"
        );
        assert_eq!(config.policy.down_grace_secs, 120);
        let config = env(&[
            (vars::SNAPSHOT_INTERVAL_SECS, Some("0")),
            (vars::POLICY, Some(r#"{"snapshot_interval_secs":7200}"#)),
        ])
        .expect("valid");
        assert_eq!(config.policy.snapshot_interval_secs, 7200, "an override naming it wins");
        let config = env(&[]).expect("valid");
        assert_eq!(
            config.policy.snapshot_interval_secs,
            PolicySettings::default().snapshot_interval_secs
        );
        let e = error_for(&[(vars::SNAPSHOT_INTERVAL_SECS, Some("1h"))]);
        assert_eq!(e.var, vars::SNAPSHOT_INTERVAL_SECS);
        // Bad JSON stops init with the variable named, whatever the interval.
        let e = error_for(&[
            (vars::SNAPSHOT_INTERVAL_SECS, interval),
            (vars::POLICY, Some("{down_grace_secs:1}")),
        ]);
        assert_eq!(e.var, vars::POLICY);
        assert!(e.problem.contains("not a JSON object"), "{e}");
    }

    #[test]
    fn timings_default_override_and_name_the_variable_when_malformed() {
        let config = env(&[]).expect("valid");
        assert_eq!(config.timings, Timings::default());
        let config = env(&[
            (vars::POLL_MS, Some("50")),
            (vars::SNAPSHOT_STALE_UPLOAD_SECS, Some(" 120 ")),
            (vars::RESTORE_QUIET_SECS, Some("0")),
            (vars::RESTORE_SETTLE_SECS, Some("")),
        ])
        .expect("valid");
        assert_eq!(config.timings.poll, Duration::from_millis(50));
        assert_eq!(config.timings.stale_upload_age, Duration::from_secs(120));
        assert_eq!(config.timings.restore_quiet, Duration::ZERO);
        assert_eq!(
            config.timings.restore_settle,
            Timings::default().restore_settle,
            "empty is unset"
        );
        assert_eq!(config.gzip_level, DEFAULT_GZIP_LEVEL);
        assert_eq!(
            env(&[(vars::SNAPSHOT_GZIP_LEVEL, Some("6"))])
                .expect("valid")
                .gzip_level,
            6
        );
        for bad in ["0", "10", "fast"] {
            let e = error_for(&[(vars::SNAPSHOT_GZIP_LEVEL, Some(bad))]);
            assert_eq!(e.var, vars::SNAPSHOT_GZIP_LEVEL, "{bad}");
        }
        let e = error_for(&[(vars::AWS_ATTEMPT_TIMEOUT_MS, Some("99"))]);
        assert_eq!(e.var, vars::AWS_ATTEMPT_TIMEOUT_MS);
        let config = env(&[(vars::AWS_ATTEMPT_TIMEOUT_MS, Some("1000"))]).expect("valid");
        assert_eq!(config.timings.aws_attempt, Duration::from_secs(1));
        for var in [
            vars::AWS_ATTEMPT_TIMEOUT_MS,
            vars::POLL_MS,
            vars::SNAPSHOT_STALE_UPLOAD_SECS,
            vars::RESTORE_QUIET_SECS,
            vars::RESTORE_SETTLE_SECS,
        ] {
            for bad in ["2s", "-1", "1.5"] {
                let e = error_for(&[(var, Some(bad))]);
                assert_eq!(e.var, var, "{bad}");
                assert!(e.problem.contains("whole number"), "{e}");
            }
        }
    }
}
