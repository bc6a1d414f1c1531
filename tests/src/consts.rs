//! The names every test stack uses: the ones [`crate::clawkeeper_env`] gives the functions, the
//! gateway service of the sample events (`tests/fixtures/events`), and the policies the suites share.

/// The clawkeeper table (`CLAWKEEPER_TABLE`).
pub const TABLE: &str = "clawkeeper-test";
/// The topic the default `CLAWKEEPER_TOPIC_ARN` names (a stack with an inbox uses [`INBOX_TOPIC`]).
pub const TOPIC: &str = "clawkeeper-test";
/// `CLAWKEEPER_TOPIC_ARN` when no inbox replaces it.
pub const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:clawkeeper-test";
/// The owner's topic of a stack, with a queue subscribed ([`crate::aws_setup::Inbox`]).
pub const INBOX_TOPIC: &str = "clawkeeper-alerts";
/// The snapshot bucket (`CLAWKEEPER_BUCKET`).
pub const BUCKET: &str = "clawkeeper-test-snapshots";

/// The cluster and service names of the sample events.
pub const CLUSTER: &str = "openclaw";
pub const SERVICE: &str = "openclaw-gateway";
/// The gateway's task definition family (named after its service).
pub const FAMILY: &str = SERVICE;
/// The gateway's log group, as the template subscribes log-alerts to it.
pub const LOG_GROUP: &str = "/ecs/openclaw-gateway";
/// The one gateway of a stack.
pub const GATEWAY: &str = "home";

/// Every function binary.
pub const FUNCTIONS: &[&str] = &[
    "task-events",
    "reconciler",
    "log-alerts",
    "snapshot",
    "restore",
    "control",
];

/// A policy that tells the owner at once: no down grace, no minimum interval between notices.
pub const POLICY_NOTIFY_AT_ONCE: &str = r#"{"down_grace_secs":0,"min_notify_interval_secs":0}"#;

/// [`POLICY_NOTIFY_AT_ONCE`], a gateway hung after two failed probes (a stop on the second run),
/// and no scheduled snapshots due.
pub const POLICY_HUNG_AFTER_TWO: &str = r#"{"down_grace_secs":0,"startup_grace_secs":0,"min_notify_interval_secs":0,"hung_probe_failures":2,
  "snapshot_interval_secs":0}"#;
