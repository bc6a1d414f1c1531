//! The command line, declared once with clap's derive: every subcommand, flag and default lives
//! here, and `--help` (per subcommand) and the shell completions (`completions.rs`) are generated
//! from the same declaration, so they cannot drift from what is parsed.
//!
//! Doc comments on the variants and fields below are user-facing: clap turns them into the help
//! text. Notes for maintainers are plain `//` comments.
//!
//! This module only says what may be typed; what a remote subcommand sends to the control
//! function is built in `request.rs`.

mod gateways;
mod values;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::completions::Shell;

pub use gateways::{Add, FromJson, Gateways};

/// The binary's name, in usage lines and completion scripts (not the crate's name, which clap
/// would use otherwise).
pub const BIN: &str = "clawkeeper";

/// The stack whose output `ControlFunctionName` names the control function, as in the README's
/// `sam deploy`.
pub const DEFAULT_STACK: &str = "clawkeeper";

/// After the top-level help: what the command list cannot say.
const AFTER_HELP: &str = "\
GATEWAY may be left out when the deployment watches one gateway.

AWS credentials, region and endpoint come from the usual places (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL...).

Exit codes:
  0  done
  1  the action failed or was refused
  2  usage error
  3  AWS unreachable, no credentials, or no control function found";

// What was typed, as clap parses it. (A `///` here would become the help's about.)
#[derive(Debug, Parser)]
#[command(
    name = BIN,
    bin_name = BIN,
    version,
    about = "Act on your OpenClaw gateway through the deployed clawkeeper control function",
    after_help = AFTER_HELP,
    subcommand_required = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Sub,
}

// Options every command shares. `global = true`: they may be typed before or after the
// subcommand, as the hand-written parser allowed. Their own heading keeps them apart from a
// subcommand's options in its `--help`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The control function [default: $CLAWKEEPER_CONTROL_FUNCTION, else the stack's output]
    // The environment variable is read in `remote.rs` (trimmed, empty means unset), not by clap.
    #[arg(long, global = true, value_name = "NAME")]
    pub function: Option<String>,
    /// The stack whose output ControlFunctionName names the control function
    #[arg(long, global = true, value_name = "NAME", default_value = DEFAULT_STACK)]
    pub stack: String,
    /// The stack's AWS region [default: AWS_REGION, AWS_PROFILE's region...]
    // Notices write it on every command they suggest, so a command pastes right whatever the
    // owner's default region is.
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Print the answer as JSON, for scripts (errors too, on stderr)
    #[arg(long, global = true)]
    pub json: bool,
    /// Invoke the control function directly instead of through its URL (the log then records you as claimed, not verified)
    // Without it the CLI posts to the function URL, signed, when the function has one (remote.rs).
    #[arg(long, global = true)]
    pub direct: bool,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    // The actions of the control function, first in the help's command list.
    #[command(flatten)]
    Action(Action),
    /// Replay an ECS event against the watchdog policy, offline (no AWS call)
    #[command(after_help = "\
STATE.json may be bare, or wrapped as stored: {\"state\": {...}}.

Example: clawkeeper explain event.json --state state.json")]
    Explain(Explain),
    /// Print a shell completion script to stdout
    #[command(after_help = "\
Examples:
  clawkeeper completions bash > ~/.local/share/bash-completion/completions/clawkeeper
  clawkeeper completions zsh > ~/.zfunc/_clawkeeper    # with fpath+=~/.zfunc before compinit
  clawkeeper completions fish > ~/.config/fish/completions/clawkeeper.fish")]
    Completions(Completions),
}

// The subcommands that become a request to the control function (`request.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Action {
    /// Show ECS, the watchdog phase, the open incident and the newest snapshots
    Status(Target),
    /// Roll a new deployment (service) or stop and run the task (standalone)
    Restart(Restart),
    /// Set desired count 0; the watchdog leaves the gateway alone until resume
    Pause(Target),
    /// Set desired count 1 and forget the crash-loop backoff
    Resume(Target),
    /// Mute notices for N minutes (0 unmutes)
    #[command(after_help = "Example: clawkeeper silence home --minutes 60 --reason \"moving house\"")]
    Silence(Silence),
    /// List incidents and owner actions of the last N days
    History(History),
    /// Take a snapshot now
    Snapshot(Target),
    /// List snapshots, newest first
    Snapshots(Snapshots),
    /// Restore a snapshot: pause, wait, restore, resume, watch health, notify
    // `[GATEWAY] SNAPSHOT`: an optional positional before a required one, which clap allows only
    // when asked; one word is the snapshot, two are gateway and snapshot.
    #[command(
        allow_missing_positional = true,
        after_help = "Examples:\n  clawkeeper restore latest\n  clawkeeper restore home 20261125T221610Z-manual"
    )]
    Restore(Restore),
    /// Send a test notice and check the deployment: subscriptions, alarms, heartbeat, dead letters, snapshots, probes
    #[command(after_help = "\
Exit code 1 when a check fails; each failed check prints its fix.

Example: clawkeeper doctor")]
    Doctor(Target),
    /// Watch another gateway, stop watching one, or list them and their owners
    // No help of its own when typed bare: clap's "requires a subcommand" names add, remove and
    // list, and is a message `--json` can carry (`summary` turns a bare help into "no command").
    #[command(
        subcommand,
        subcommand_required = true,
        arg_required_else_help = false,
        after_help = "\
Examples:
  clawkeeper gateways add lab --cluster openclaw --service openclaw-lab --owner-email me@example.com
  clawkeeper gateways list
  clawkeeper gateways remove lab"
    )]
    Gateways(Gateways),
}

// The gateway an action is about.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Target {
    /// The gateway's id (may be left out when the deployment watches one gateway)
    pub gateway: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Restart {
    #[command(flatten)]
    pub target: Target,
    /// Restart even while the gateway is paused (it is refused otherwise)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Silence {
    #[command(flatten)]
    pub target: Target,
    /// How long to mute notices, in minutes (0 unmutes)
    // `allow_negative_numbers` on the numeric flags: `-1` reaches the value parser, which says
    // what the flag takes, instead of clap reading it as an unknown short option.
    #[arg(long, value_name = "N", value_parser = values::minutes, allow_negative_numbers = true)]
    pub minutes: u64,
    /// Why, recorded in the incident log
    // Free text may start with '-' (the old parser took any next word as the value).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct History {
    #[command(flatten)]
    pub target: Target,
    /// How many days back [default: 7]
    // No clap default: left out, the request omits `days` and the control function's default
    // applies (the same request as before, and one place that owns the number: the help's
    // "7" is `clawkeeper_core::control::DEFAULT_HISTORY_DAYS`, checked by a test).
    #[arg(long, value_name = "N", value_parser = values::positive, allow_negative_numbers = true)]
    pub days: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Snapshots {
    #[command(flatten)]
    pub target: Target,
    /// How many snapshots to list at most [default: 20]
    // As `--days`: omitted from the request unless typed ("20": `DEFAULT_SNAPSHOT_LIMIT`, checked).
    #[arg(long, value_name = "N", value_parser = values::positive, allow_negative_numbers = true)]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Restore {
    #[command(flatten)]
    pub target: Target,
    /// The snapshot: a name from `clawkeeper snapshots`, or latest
    pub snapshot: String,
}

// `explain`'s inputs, read by `explain.rs`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Explain {
    /// The ECS event (as EventBridge delivers it), a JSON file
    #[arg(value_name = "EVENT.json")]
    pub event: PathBuf,
    /// The watchdog state before the event, a JSON file [default: a gateway seen for the first time]
    #[arg(long, value_name = "STATE.json")]
    pub state: Option<PathBuf>,
    /// The gateways, as CLAWKEEPER_GATEWAYS: inline JSON or @FILE [default: the one the event names]
    #[arg(long, value_name = "JSON")]
    pub gateway_config: Option<String>,
    /// Policy overrides, as PolicyOverrides: inline JSON or @FILE [default: none]
    #[arg(long, value_name = "JSON")]
    pub policy: Option<String>,
    /// The time to decide at, epoch seconds [default: the event's time]
    #[arg(long, value_name = "EPOCH", value_parser = values::epoch, allow_negative_numbers = true)]
    pub now: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Completions {
    /// The shell to complete for
    pub shell: Shell,
}

/// What to do, once the command line is understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A request to the control function: its JSON.
    Remote(serde_json::Value),
    Explain(Explain),
    Completions(Shell),
    /// `gateways add --from-json`: a `register` request once the file is read (`gateways.rs`).
    RegisterFromJson(FromJson),
}

/// Parses the whole command line, the program name first (as `std::env::args_os` gives it).
///
/// `Err` is clap's error: a usage mistake, or `--help`/`--version`, which clap reports as errors
/// that go to stdout ([`clap::Error::use_stderr`] is false).
pub fn parse<I, T>(argv: I) -> Result<(Global, Command), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::try_parse_from(argv)?;
    let command = match cli.command {
        // The one request that needs a file read first: it is built in `gateways.rs`.
        Sub::Action(action) => match action.gateway_file() {
            Some(from) => Command::RegisterFromJson(from),
            None => Command::Remote(crate::request::build(&action)),
        },
        Sub::Explain(explain) => Command::Explain(explain),
        Sub::Completions(completions) => Command::Completions(completions.shell),
    };
    Ok((cli.global, command))
}

impl Action {
    /// `gateways add --from-json FILE`: where to read the gateway object from.
    fn gateway_file(&self) -> Option<FromJson> {
        match self {
            Self::Gateways(Gateways::Add(add)) => add.from_json.clone().map(|file| FromJson {
                file,
                owner_email: add.owner_email.clone(),
            }),
            _ => None,
        }
    }
}

/// A usage error as one paragraph, without clap's `error: ` prefix, usage line and hint: the
/// message of `--json`'s error object, where a script wants the words alone.
pub fn summary(error: &clap::Error) -> String {
    // Nothing typed at all: clap's answer is the whole help (on stderr, exit 2), which is right
    // for a person but no message for a script.
    if error.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return format!("no command given; try: {BIN} status (or {BIN} --help)");
    }
    // `render()` then `to_string()`: the text without terminal colours.
    let text = error.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    text.split("\n\n").next().unwrap_or(text).trim().to_string()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    fn parse_line(line: &str) -> Result<(Global, Command), clap::Error> {
        parse(std::iter::once(BIN).chain(line.split_whitespace()))
    }

    fn error(line: &str) -> clap::Error {
        match parse_line(line) {
            Ok(parsed) => panic!("{line:?} parsed: {parsed:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn every_command_the_notices_suggest_parses() {
        // docs/NOTICES.md is generated from the policy's real notices (clawkeeper-core's catalog
        // test keeps it current); its clawkeeper lines must be what this parser takes.
        let doc = include_str!("../../docs/NOTICES.md");
        let lines: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("    "))
            .filter(|l| l.starts_with("clawkeeper "))
            .collect();
        assert!(lines.len() >= 5, "the notices suggest clawkeeper commands: {lines:?}");
        for line in lines {
            assert!(!line.contains(['\'', '"', '$']), "no quoting to undo: {line}");
            let (global, command) = parse(line.split_whitespace()).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(matches!(command, Command::Remote(_)), "{line}");
            assert_eq!(global.region.as_deref(), Some("us-east-1"), "{line}");
            assert_eq!(global.stack, "home-claw", "{line}");
        }
    }

    #[test]
    fn the_declaration_is_consistent() {
        // clap's own checks (conflicting names, positional order...) run here, not at a user's
        // first `--help`.
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_before_or_after_the_subcommand() {
        for line in [
            "--function f --stack s --json --direct status",
            "status --function f --stack s --json --direct",
            "--json status --direct --function=f --stack=s",
        ] {
            let (global, _) = parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let expected = Global {
                function: Some("f".into()),
                stack: "s".into(),
                region: None,
                json: true,
                direct: true,
            };
            assert_eq!(global, expected, "{line}");
        }
        let (global, _) = parse_line("status").expect("parses");
        let expected = Global {
            function: None,
            stack: DEFAULT_STACK.into(),
            region: None,
            json: false,
            direct: false,
        };
        assert_eq!(global, expected);
    }

    #[test]
    fn explain_and_completions_stay_local() {
        let (_, command) =
            parse_line("explain e.json --state s.json --gateway-config {} --policy @p.json --now 1795170000")
                .expect("parses");
        let expected = Explain {
            event: "e.json".into(),
            state: Some("s.json".into()),
            gateway_config: Some("{}".into()),
            policy: Some("@p.json".into()),
            now: Some(1_795_170_000),
        };
        assert_eq!(command, Command::Explain(expected));
        let (_, command) = parse_line("explain e.json --now -5").expect("parses");
        let Command::Explain(explain) = command else {
            panic!("{command:?}");
        };
        assert_eq!((explain.state, explain.now), (None, Some(-5)));
        for (line, shell) in [
            ("completions bash", Shell::Bash),
            ("completions zsh", Shell::Zsh),
            ("completions fish", Shell::Fish),
        ] {
            assert_eq!(parse_line(line).expect(line).1, Command::Completions(shell));
        }
    }

    #[test]
    fn mistakes_are_usage_errors_that_say_what_is_wrong() {
        for (line, kind, expected) in [
            // Nothing at all: the help, on stderr.
            ("", ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand, "Commands:"),
            ("--json", ErrorKind::MissingSubcommand, "requires a subcommand"),
            ("reboot", ErrorKind::InvalidSubcommand, "'reboot'"),
            ("pause home --force", ErrorKind::UnknownArgument, "'--force'"),
            ("--force restart home", ErrorKind::UnknownArgument, "'--force'"),
            ("--bogus status", ErrorKind::UnknownArgument, "'--bogus'"),
            ("silence home", ErrorKind::MissingRequiredArgument, "--minutes <N>"),
            ("silence --minutes -1", ErrorKind::ValueValidation, "0 or more"),
            ("history --days -3", ErrorKind::ValueValidation, "1 or more"),
            ("silence --minutes soon", ErrorKind::ValueValidation, "0 or more"),
            ("history --days soon", ErrorKind::ValueValidation, "whole number"),
            ("history --days 0", ErrorKind::ValueValidation, "1 or more"),
            ("snapshots --limit 0", ErrorKind::ValueValidation, "1 or more"),
            ("explain e.json --now soon", ErrorKind::ValueValidation, "epoch seconds"),
            ("status home lab", ErrorKind::UnknownArgument, "'lab'"),
            ("restore", ErrorKind::MissingRequiredArgument, "<SNAPSHOT>"),
            ("restore home latest more", ErrorKind::UnknownArgument, "'more'"),
            ("explain", ErrorKind::MissingRequiredArgument, "<EVENT.json>"),
            ("status --function", ErrorKind::InvalidValue, "--function <NAME>"),
            ("completions tcsh", ErrorKind::InvalidValue, "bash"),
            ("gateways", ErrorKind::MissingSubcommand, "add, remove, list"),
            ("gateways drop lab", ErrorKind::InvalidSubcommand, "'drop'"),
            ("gateways remove", ErrorKind::MissingRequiredArgument, "<ID>"),
            ("gateways remove lab lab2", ErrorKind::UnknownArgument, "'lab2'"),
            ("gateways list lab", ErrorKind::UnknownArgument, "'lab'"),
            (
                "gateways add lab --cluster c --service s --task-family f",
                ErrorKind::ArgumentConflict,
                "'--service <SERVICE>' cannot be used with '--task-family <FAMILY>'",
            ),
            (
                "gateways add lab --cluster c",
                ErrorKind::MissingRequiredArgument,
                "<--service <SERVICE>|--task-family <FAMILY>|--from-json <FILE>>",
            ),
            (
                "gateways add lab --service s",
                ErrorKind::MissingRequiredArgument,
                "--cluster <CLUSTER>",
            ),
            (
                "gateways add --cluster c --service s",
                ErrorKind::MissingRequiredArgument,
                "<ID>",
            ),
            (
                "gateways add lab --from-json lab.json",
                ErrorKind::ArgumentConflict,
                "the argument '[ID]' cannot be used with '--from-json <FILE>'",
            ),
            (
                "gateways add --from-json lab.json --cluster c",
                ErrorKind::ArgumentConflict,
                "'--from-json <FILE>' cannot be used with '--cluster <CLUSTER>'",
            ),
            (
                "gateways add --from-json - --service s",
                ErrorKind::ArgumentConflict,
                "cannot be used with",
            ),
            (
                "gateways add --from-json - --state-dir d",
                ErrorKind::ArgumentConflict,
                "'--state-dir <PATH>'",
            ),
            (
                "gateways add --from-json",
                ErrorKind::InvalidValue,
                "--from-json <FILE>",
            ),
        ] {
            let e = error(line);
            assert_eq!(e.kind(), kind, "{line:?}: {e}");
            assert!(e.use_stderr(), "{line:?}");
            assert_eq!(e.exit_code(), 2, "{line:?}");
            assert!(e.to_string().contains(expected), "{line:?}: {e}");
        }
    }

    #[test]
    fn help_and_version_go_to_stdout_with_exit_0() {
        for line in [
            "--help",
            "-h",
            "help",
            "status --help",
            "help silence",
            "--version",
            "-V",
        ] {
            let e = error(line);
            assert!(!e.use_stderr(), "{line:?}");
            assert_eq!(e.exit_code(), 0, "{line:?}");
        }
        assert_eq!(
            error("-V").to_string(),
            format!("clawkeeper {}\n", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn the_top_level_help_keeps_the_notes() {
        let help = error("--help").to_string();
        for expected in [
            "Usage: clawkeeper [OPTIONS] <COMMAND>",
            "AWS credentials, region and endpoint",
            "Exit codes:",
            "3  AWS unreachable",
            "GATEWAY may be left out",
            "[default: clawkeeper]",
        ] {
            assert!(help.contains(expected), "{expected:?} not in:\n{help}");
        }
        for command in Cli::command().get_subcommands() {
            assert!(
                help.contains(command.get_name()),
                "{} not in:\n{help}",
                command.get_name()
            );
        }
    }

    #[test]
    fn every_subcommand_has_help_with_an_about_and_documented_arguments() {
        let mut cli = Cli::command();
        cli.build();
        for command in cli.get_subcommands().filter(|c| c.get_name() != "help") {
            let name = command.get_name();
            assert!(command.get_about().is_some(), "{name} has no about");
            for arg in command.get_arguments() {
                assert!(arg.get_help().is_some(), "{name} {} has no help", arg.get_id());
            }
            let help = error(&format!("{name} --help")).to_string();
            assert!(help.contains(&format!("Usage: clawkeeper {name}")), "{help}");
        }
    }

    #[test]
    fn gateways_and_each_of_its_subcommands_have_help_with_an_example() {
        let mut cli = Cli::command();
        cli.build();
        let gateways = cli.find_subcommand("gateways").expect("gateways");
        let mut names = vec!["gateways".to_string()];
        for command in gateways.get_subcommands().filter(|c| c.get_name() != "help") {
            assert!(
                command.get_about().is_some(),
                "gateways {} has no about",
                command.get_name()
            );
            for arg in command.get_arguments() {
                assert!(
                    arg.get_help().is_some(),
                    "gateways {} {} has no help",
                    command.get_name(),
                    arg.get_id()
                );
            }
            names.push(format!("gateways {}", command.get_name()));
        }
        assert_eq!(names, ["gateways", "gateways add", "gateways remove", "gateways list"]);
        for name in names {
            let help = error(&format!("{name} --help")).to_string();
            assert!(help.contains(&format!("Usage: clawkeeper {name}")), "{help}");
            assert!(
                help.contains(&format!("clawkeeper {name} ")),
                "{name}: no example in\n{help}"
            );
            // What the example shows parses.
            for example in help.lines().filter_map(|l| {
                l.trim()
                    .strip_prefix("Example: ")
                    .or_else(|| l.strip_prefix("  clawkeeper ").map(|_| l.trim()))
            }) {
                let example = example.trim();
                parse(example.split_whitespace()).unwrap_or_else(|e| panic!("{example}: {e}"));
            }
        }
        let add = error("gateways add --help").to_string();
        for expected in [
            "--from-json <FILE>",
            "--owner-email <EMAIL>",
            "(FILE - reads stdin)",
            "--task-family <FAMILY>",
        ] {
            assert!(add.contains(expected), "{expected:?} not in:\n{add}");
        }
    }

    #[test]
    fn the_json_summary_is_the_message_alone() {
        assert_eq!(summary(&error("--bogus status")), "unexpected argument '--bogus' found");
        let missing = summary(&error("silence home"));
        assert!(
            missing.starts_with("the following required arguments were not provided"),
            "{missing}"
        );
        assert!(
            missing.contains("--minutes <N>") && !missing.contains("Usage:"),
            "{missing}"
        );
        assert_eq!(
            summary(&error("")),
            "no command given; try: clawkeeper status (or clawkeeper --help)"
        );
    }
}
