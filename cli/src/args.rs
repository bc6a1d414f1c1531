//! The command line, parsed by hand: a few subcommands with a few flags each do not need a parser
//! crate, and every mistake gets a message that says what to type instead.

use std::path::PathBuf;

/// Usage text, printed by `--help` and after usage errors.
pub const USAGE: &str = "\
clawkeeper: act on your OpenClaw gateway through the deployed clawkeeper control function.

Usage: clawkeeper [OPTIONS] <COMMAND> [ARGS]

Commands:
  status    [GATEWAY]                    ECS, watchdog phase, open incident, newest snapshots
  restart   [GATEWAY] [--force]          new deployment (service) or stop and run (standalone task);
                                         refused while paused unless --force
  pause     [GATEWAY]                    desired count 0; the watchdog leaves it alone until resume
  resume    [GATEWAY]                    desired count 1; forgets the crash-loop backoff
  silence   [GATEWAY] --minutes N [--reason TEXT]
                                         mute notices for N minutes (0 unmutes)
  history   [GATEWAY] [--days N]         incidents and owner actions of the last N days (default 7)
  snapshot  [GATEWAY]                    take a snapshot now
  snapshots [GATEWAY] [--limit N]        list snapshots, newest first
  restore   [GATEWAY] SNAPSHOT           restore a snapshot (a name from `snapshots`, or latest)
  explain   EVENT.json [--state STATE.json] [--gateway-config JSON] [--policy JSON] [--now EPOCH]
                                         replay an ECS event against the watchdog policy, offline
GATEWAY may be left out when the deployment watches one gateway.

Options:
  --function NAME   the control function (else $CLAWKEEPER_CONTROL_FUNCTION, else the stack output)
  --stack NAME      the CloudFormation stack whose output ControlFunctionName names it [default: clawkeeper]
  --json            print the answer as JSON, for scripts
  -h, --help        this text
  -V, --version     the version

AWS credentials, region and endpoint come from the usual places (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL...).

Exit codes: 0 done; 1 the action failed or was refused; 2 usage error; 3 AWS unreachable, no
credentials, or no control function found.";

/// Options every command shares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Global {
    pub function: Option<String>,
    pub stack: Option<String>,
    pub json: bool,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    /// A request to the control function: its JSON.
    Remote(serde_json::Value),
    Explain(Explain),
}

/// `explain`'s inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explain {
    pub event: PathBuf,
    pub state: Option<PathBuf>,
    pub gateway_config: Option<String>,
    pub policy: Option<String>,
    pub now: Option<i64>,
}

/// A usage mistake, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<(Global, Command), UsageError> {
    let mut global = Global::default();
    let mut positional: Vec<String> = Vec::new();
    let mut flags: Vec<(String, Option<String>)> = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, UsageError> {
            inline
                .clone()
                .or_else(|| iter.next().cloned())
                .ok_or_else(|| usage(format!("{name} needs a value: {name} {what}")))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok((global, Command::Help)),
            "-V" | "--version" => return Ok((global, Command::Version)),
            "--json" => global.json = true,
            "--force" => flags.push((name, None)),
            "--function" => global.function = Some(value("NAME")?),
            "--stack" => global.stack = Some(value("NAME")?),
            "--minutes" | "--days" | "--limit" | "--now" => flags.push((name.clone(), Some(value("N")?))),
            "--reason" | "--state" | "--gateway-config" | "--policy" => {
                flags.push((name.clone(), Some(value("VALUE")?)));
            }
            other if other.starts_with('-') && other.len() > 1 => {
                return Err(usage(format!("unknown option {other}; see clawkeeper --help")));
            }
            _ => positional.push(arg.clone()),
        }
    }
    let Some((command, rest)) = positional.split_first() else {
        return Err(usage("no command given; try: clawkeeper status"));
    };
    let allowed: &[&str] = match command.as_str() {
        "restart" => &["--force"],
        "silence" => &["--minutes", "--reason"],
        "history" => &["--days"],
        "snapshots" => &["--limit"],
        "explain" => &["--state", "--gateway-config", "--policy", "--now"],
        _ => &[],
    };
    if let Some((flag, _)) = flags.iter().find(|(f, _)| !allowed.contains(&f.as_str())) {
        return Err(usage(format!("{command} does not take {flag}; see clawkeeper --help")));
    }
    let flag = |name: &str| flags.iter().find(|(f, _)| f == name).and_then(|(_, v)| v.clone());
    let number = |name: &str| -> Result<Option<u64>, UsageError> {
        flag(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| usage(format!("{name} takes a whole number, not {v:?}")))
            })
            .transpose()
    };
    let gateway_only = |rest: &[String]| -> Result<Option<String>, UsageError> {
        match rest {
            [] => Ok(None),
            [g] => Ok(Some(g.clone())),
            [_, extra, ..] => Err(usage(format!(
                "{command} takes at most one gateway; unexpected {extra:?}"
            ))),
        }
    };
    let mut request = serde_json::json!({ "action": command });
    let put_gateway = |request: &mut serde_json::Value, g: Option<String>| {
        if let Some(g) = g {
            request["gateway"] = serde_json::json!(g);
        }
    };
    match command.as_str() {
        "status" | "pause" | "resume" | "snapshot" => put_gateway(&mut request, gateway_only(rest)?),
        "restart" => {
            put_gateway(&mut request, gateway_only(rest)?);
            if flags.iter().any(|(f, _)| f == "--force") {
                request["force"] = serde_json::json!(true);
            }
        }
        "silence" => {
            put_gateway(&mut request, gateway_only(rest)?);
            let minutes = number("--minutes")?.ok_or_else(|| {
                usage("silence needs --minutes N (0 unmutes), e.g. clawkeeper silence home --minutes 60")
            })?;
            request["minutes"] = serde_json::json!(minutes);
            if let Some(reason) = flag("--reason") {
                request["reason"] = serde_json::json!(reason);
            }
        }
        "history" => {
            put_gateway(&mut request, gateway_only(rest)?);
            if let Some(days) = number("--days")? {
                request["days"] = serde_json::json!(days);
            }
        }
        "snapshots" => {
            put_gateway(&mut request, gateway_only(rest)?);
            if let Some(limit) = number("--limit")? {
                request["limit"] = serde_json::json!(limit);
            }
        }
        "restore" => match rest {
            [snapshot] => request["snapshot"] = serde_json::json!(snapshot),
            [gateway, snapshot] => {
                request["gateway"] = serde_json::json!(gateway);
                request["snapshot"] = serde_json::json!(snapshot);
            }
            _ => {
                return Err(usage(
                    "restore takes [GATEWAY] SNAPSHOT, e.g. clawkeeper restore home latest (names: clawkeeper snapshots)",
                ));
            }
        },
        "explain" => {
            let [event] = rest else {
                return Err(usage(
                    "explain takes one event file: clawkeeper explain EVENT.json --state STATE.json",
                ));
            };
            let now = flag("--now")
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| usage(format!("--now takes epoch seconds, not {v:?}")))
                })
                .transpose()?;
            return Ok((
                global,
                Command::Explain(Explain {
                    event: PathBuf::from(event),
                    state: flag("--state").map(PathBuf::from),
                    gateway_config: flag("--gateway-config"),
                    policy: flag("--policy"),
                    now,
                }),
            ));
        }
        "help" => return Ok((global, Command::Help)),
        other => {
            return Err(usage(format!(
                "unknown command {other:?}; commands: status, restart, pause, resume, silence, history, snapshot, \
                 snapshots, restore, explain"
            )));
        }
    }
    Ok((global, Command::Remote(request)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn remote(line: &str) -> serde_json::Value {
        match parse(&args(line)) {
            Ok((_, Command::Remote(r))) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn commands_become_control_requests() {
        assert_eq!(remote("status"), json!({"action": "status"}));
        assert_eq!(
            remote("--json pause home"),
            json!({"action": "pause", "gateway": "home"})
        );
        assert_eq!(
            remote("restart home --force"),
            json!({"action": "restart", "gateway": "home", "force": true})
        );
        assert_eq!(
            remote("silence home --minutes=30 --reason moving"),
            json!({"action": "silence", "gateway": "home", "minutes": 30, "reason": "moving"})
        );
        assert_eq!(
            remote("restore latest"),
            json!({"action": "restore", "snapshot": "latest"})
        );
        assert_eq!(
            remote("restore home 20261125T221610Z-manual"),
            json!({"action": "restore", "gateway": "home", "snapshot": "20261125T221610Z-manual"})
        );
        let (global, _) = parse(&args("--function f --stack s --json status")).expect("parses");
        assert_eq!(
            global,
            Global {
                function: Some("f".into()),
                stack: Some("s".into()),
                json: true
            }
        );
    }

    #[test]
    fn mistakes_say_what_to_type() {
        for (line, expected) in [
            ("", "no command given"),
            ("reboot", "unknown command \"reboot\""),
            ("pause home --force", "pause does not take --force"),
            ("silence home", "silence needs --minutes"),
            ("history --days soon", "--days takes a whole number"),
            ("status home lab", "at most one gateway"),
            ("restore", "restore takes [GATEWAY] SNAPSHOT"),
            ("--bogus status", "unknown option --bogus"),
            ("status --function", "--function needs a value"),
        ] {
            let e = parse(&args(line)).expect_err(line);
            assert!(e.0.contains(expected), "{line}: {e}");
        }
    }
}
