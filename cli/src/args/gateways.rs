//! `clawkeeper gateways add|remove|list`: which gateways the control function watches, the
//! configured ones (`CLAWKEEPER_GATEWAYS`) and those registered through it. What each sends is
//! built in `request.rs`; the file of `add --from-json` is read in `gateways.rs`.
//!
//! As in `args.rs`, the `///` comments are the help text; notes for maintainers are `//`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};

/// `gateways add`'s two forms.
const ADD_USAGE: &str = "\
clawkeeper gateways add <ID> --cluster <CLUSTER> <--service <SERVICE>|--task-family <FAMILY>> [OPTIONS]
       clawkeeper gateways add --from-json <FILE> [--owner-email <EMAIL>]";

/// After `gateways add`'s help.
const ADD_AFTER_HELP: &str = "\
Only the flags given are sent; the control function checks the gateway and fills in the rest.
--from-json FILE gives the whole gateway object instead, as one element of CLAWKEEPER_GATEWAYS
(FILE - reads stdin); then no ID and no other flag but --owner-email.

Examples:
  clawkeeper gateways add lab --cluster openclaw --service openclaw-lab --owner-email me@example.com
  clawkeeper gateways add batch --cluster openclaw --task-family openclaw-batch --log-group /ecs/openclaw-batch
  clawkeeper gateways add --from-json lab.json";

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Gateways {
    /// Watch another gateway: register it with the control function
    // The action `register`. The usage spelled out: clap's own would merge the two forms into
    // one line that seems to want an ID beside --from-json.
    #[command(override_usage = ADD_USAGE, after_help = ADD_AFTER_HELP)]
    // Boxed: its ten options would make every `Action` as big.
    Add(Box<Add>),
    /// Stop watching a registered gateway; its snapshots and history are kept
    // The action `unregister`.
    #[command(after_help = "Example: clawkeeper gateways remove lab")]
    Remove(Remove),
    /// List the watched gateways, configured and registered, and their owners
    // The action `gateways`.
    #[command(after_help = "Examples:\n  clawkeeper gateways list\n  clawkeeper gateways list --json")]
    List,
}

// Exactly one of --service, --task-family and --from-json: clap says so when none or two are typed.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(group(
    ArgGroup::new("runs")
        .args(["service", "task_family", "from_json"])
        .required(true)
        .multiple(false)
))]
pub struct Add {
    /// The gateway's id: 1-64 of letters, digits, - or _ (none with --from-json)
    #[arg(value_name = "ID", required_unless_present = "from_json")]
    pub id: Option<String>,
    /// The ECS cluster the gateway runs in, its name or ARN
    #[arg(long, value_name = "CLUSTER", required_unless_present = "from_json")]
    pub cluster: Option<String>,
    /// The gateway's ECS service
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// The task definition family of a standalone gateway task (restarted with RunTask)
    #[arg(long, value_name = "FAMILY")]
    pub task_family: Option<String>,
    /// The http:// or https:// base URL the reconciler probes the gateway at
    #[arg(long, value_name = "URL")]
    pub probe_url: Option<String>,
    /// Secrets Manager ARN of the gateway token, for /readyz details (the ARN, never the token)
    #[arg(long, value_name = "ARN")]
    pub token_secret_arn: Option<String>,
    /// The CloudWatch Logs group of the gateway's container, whose lines log-alerts reads
    #[arg(long, value_name = "GROUP")]
    pub log_group: Option<String>,
    /// Where the gateway's /home/node is mounted in the VPC functions, absolute [default: /mnt/openclaw]
    // As `--days`: no clap default, nothing sent unless typed ("/mnt/openclaw" is
    // `clawkeeper_core::config::DEFAULT_STATE_ROOT`, checked by a test; the same for --state-dir).
    #[arg(long, value_name = "PATH")]
    pub state_root: Option<String>,
    /// The OpenClaw state dir, relative to the state root [default: .openclaw]
    #[arg(long, value_name = "PATH")]
    pub state_dir: Option<String>,
    /// The whole gateway object from a JSON file (- for stdin), instead of ID and the flags
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = [
            "id", "cluster", "service", "task_family", "probe_url", "token_secret_arn", "log_group",
            "state_root", "state_dir",
        ]
    )]
    pub from_json: Option<PathBuf>,
    /// The owner's email, subscribed to the notices of the owner's gateways (SNS mails a confirmation link first)
    #[arg(long, value_name = "EMAIL")]
    pub owner_email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Remove {
    /// The registered gateway's id
    #[arg(value_name = "ID")]
    pub id: String,
}

/// `gateways add --from-json`: where the gateway object is, read before the request is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromJson {
    /// The file, or `-` for stdin.
    pub file: PathBuf,
    pub owner_email: Option<String>,
}
