//! `clawkeeper`: the owner's command line. Acts on gateways through the deployed `control`
//! function with the caller's own AWS credentials, and replays events against the watchdog
//! policy offline (`explain`). Exit codes: 0 done, 1 the action failed or was refused, 2 usage,
//! 3 AWS unreachable / no credentials / no control function.

mod args;
mod completions;
mod explain;
mod function_url;
mod gateways;
mod remote;
mod render;
mod request;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use args::{Command, Global};

/// Why the CLI stops, and its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is wrong: clap's error, which keeps its own usage line and hint.
    #[error("{}", args::summary(.0))]
    Usage(clap::Error),
    /// An input file of `explain` is missing or malformed.
    #[error("{0}")]
    Input(String),
    /// The control function refused or failed the action.
    #[error("{message} [{error_type}]")]
    Action { error_type: String, message: String },
    /// AWS could not be reached, or the control function not found.
    #[error("{0}")]
    Aws(String),
    /// The action ran but did not succeed (a restore stopped at a step).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Action { .. } | Self::Failed(_) => 1,
            Self::Usage(_) | Self::Input(_) => 2,
            Self::Aws(_) => 3,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    // Looked for before parsing, so that a usage error is answered in JSON too.
    let json = argv.iter().any(|a| a == "--json");
    let result = match args::parse(argv) {
        Ok((global, command)) => run(&global, command).await,
        // `--help`, `help` and `--version` arrive as clap errors meant for stdout: print, exit 0.
        // A failed print (a closed pipe) has nobody left to tell.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => Err(CliError::Usage(e)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e, json);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Tells what went wrong on stderr: a JSON object with `--json`, else words.
fn report(e: &CliError, json: bool) {
    if json {
        let (kind, error_type) = match e {
            CliError::Action { error_type, .. } => ("action", error_type.as_str()),
            CliError::Usage(_) => ("usage", "Usage"),
            CliError::Input(_) => ("usage", "Input"),
            CliError::Aws(_) => ("aws", "Aws"),
            CliError::Failed(_) => ("action", "Failed"),
        };
        let message = match e {
            CliError::Action { message, .. } => message.clone(),
            other => other.to_string(),
        };
        eprintln!(
            "{}",
            serde_json::json!({ "error": { "kind": kind, "type": error_type, "message": message } })
        );
    } else if let CliError::Usage(usage) = e {
        // clap's layout: the mistake, the usage line of the subcommand, and where to read more.
        let _ = usage.print();
    } else {
        eprintln!("clawkeeper: {e}");
    }
}

async fn run(global: &Global, command: Command) -> Result<(), CliError> {
    // `gateways add --from-json`: the file read first (exit 2 when wrong), then a request as any.
    let command = match command {
        Command::RegisterFromJson(from) => {
            Command::Remote(gateways::register_from_json(&from, std::io::stdin().lock())?)
        }
        command => command,
    };
    match command {
        Command::Completions(shell) => std::io::stdout()
            .write_all(&completions::script(shell))
            .map_err(|e| CliError::Failed(format!("could not write the completion script: {e}")))?,
        Command::RegisterFromJson(_) => unreachable!("made a request above"),
        Command::Explain(input) => {
            let report = explain::explain(&input)?;
            if global.json {
                println!("{}", pretty(&report));
            } else {
                println!("{}", explain_words(&report));
            }
        }
        Command::Remote(request) => {
            let action = request["action"].as_str().unwrap_or("").to_string();
            let sdk = remote::sdk(global).await;
            let control = remote::locate(&sdk, global).await?;
            let answer = remote::call(&sdk, &control, global, &request, action == "restore").await?;
            if global.json {
                println!("{}", pretty(&answer));
            } else {
                println!("{}", render::answer(&action, &answer));
            }
            if action == "test" && answer["ok"] != true {
                return Err(CliError::Failed(
                    "a check failed; each FAIL line says how to fix it".into(),
                ));
            }
            if action == "restore" && answer["ok"] != true {
                return Err(CliError::Failed(format!(
                    "the restore stopped at step {}; the gateway is left paused",
                    answer["failed_step"].as_str().unwrap_or("?")
                )));
            }
        }
    }
    Ok(())
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn explain_words(r: &serde_json::Value) -> String {
    if let Some(reason) = r["ignored"].as_str() {
        return format!("The watchdog would ignore this event: {reason}");
    }
    let mut out = format!(
        "At {} the watchdog sees: {}\nPhase: {} -> {}\nDecision: {}",
        r["now_utc"].as_str().unwrap_or("?"),
        signal_words(&r["signal"]),
        r["phase_before"].as_str().unwrap_or("?"),
        r["phase_after"].as_str().unwrap_or("?"),
        r["decision"].as_str().unwrap_or("?"),
    );
    let actions = r["actions"].as_array().cloned().unwrap_or_default();
    if !actions.is_empty() {
        out.push_str("\nActions, in order:");
        for a in &actions {
            match a["subject"].as_str() {
                Some(subject) => out.push_str(&format!(
                    "\n  notify ({}): {subject}",
                    a["kind"].as_str().unwrap_or("?")
                )),
                None => out.push_str(&format!("\n  {} {}", a["action"].as_str().unwrap_or("?"), a["detail"])),
            }
        }
    }
    let why = r["why"].as_array().cloned().unwrap_or_default();
    if !why.is_empty() {
        out.push_str("\nWhy (incident timeline):");
        for e in &why {
            out.push_str(&format!("\n  {}", e["what"].as_str().unwrap_or("?")));
        }
    }
    for a in &actions {
        if let Some(message) = a["message"].as_str() {
            out.push_str(&format!("\n\nNotice {}:\n{message}", a["kind"].as_str().unwrap_or("?")));
        }
    }
    out
}

fn signal_words(signal: &serde_json::Value) -> String {
    let kind = signal["type"].as_str().unwrap_or("signal").replace('_', " ");
    let task = signal["task"]["task_arn"]
        .as_str()
        .and_then(|arn| arn.rsplit('/').next())
        .map(|id| format!(" of task {id}"))
        .unwrap_or_default();
    let cause = signal["cause"]["cause"]
        .as_str()
        .map(|c| format!(" ({})", c.replace('_', " ")))
        .unwrap_or_default();
    format!("{kind}{task}{cause}")
}
