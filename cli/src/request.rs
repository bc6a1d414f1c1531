//! What each remote subcommand sends to the control function: its request contract
//! (functions/control/src/request.rs). `action` always; `gateway` and each action's own fields
//! only when typed, so the control function's defaults (which gateway, how many days...) apply
//! and it alone owns them. The function rejects fields it does not know, so nothing else is sent.

use serde_json::{Map, Value};

use crate::args::{Action, Target};

/// The request JSON for `action`.
pub fn build(action: &Action) -> Value {
    let request = Request::new(action.name());
    let request = match action {
        Action::Status(target)
        | Action::Pause(target)
        | Action::Resume(target)
        | Action::Snapshot(target)
        | Action::Doctor(target) => request.gateway(target),
        // `force` only when true: the same request as a plain restart otherwise.
        Action::Restart(restart) => request
            .gateway(&restart.target)
            .field_if("force", restart.force.then_some(true)),
        Action::Silence(silence) => request
            .gateway(&silence.target)
            .field("minutes", silence.minutes)
            .field_if("reason", silence.reason.clone()),
        Action::History(history) => request.gateway(&history.target).field_if("days", history.days),
        Action::Snapshots(snapshots) => request.gateway(&snapshots.target).field_if("limit", snapshots.limit),
        Action::Restore(restore) => request
            .gateway(&restore.target)
            .field("snapshot", restore.snapshot.clone()),
    };
    Value::Object(request.0)
}

impl Action {
    /// The control function's name for the action; the same word as the subcommand (a test
    /// holds them together), except `doctor`, which asks for the `test` action.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status(_) => "status",
            Self::Restart(_) => "restart",
            Self::Pause(_) => "pause",
            Self::Resume(_) => "resume",
            Self::Silence(_) => "silence",
            Self::History(_) => "history",
            Self::Snapshot(_) => "snapshot",
            Self::Snapshots(_) => "snapshots",
            Self::Restore(_) => "restore",
            Self::Doctor(_) => "test",
        }
    }
}

/// A request being put together, one field at a time.
struct Request(Map<String, Value>);

impl Request {
    fn new(action: &str) -> Self {
        Self(Map::from_iter([("action".to_string(), Value::from(action))]))
    }

    fn field(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_string(), value.into());
        self
    }

    fn field_if<T: Into<Value>>(self, key: &str, value: Option<T>) -> Self {
        match value {
            Some(value) => self.field(key, value),
            None => self,
        }
    }

    fn gateway(self, target: &Target) -> Self {
        self.field_if("gateway", target.gateway.clone())
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::args::{BIN, Cli, Command, parse};

    /// What the hand-written parser this one replaced sent for each command line: recorded by
    /// running it on these lines, and byte for byte what must still be sent.
    const SENT_BEFORE: &[(&[&str], &str)] = &[
        (&["status"], r#"{"action":"status"}"#),
        (&["status", "home"], r#"{"action":"status","gateway":"home"}"#),
        (&["pause"], r#"{"action":"pause"}"#),
        (&["pause", "home"], r#"{"action":"pause","gateway":"home"}"#),
        (&["resume"], r#"{"action":"resume"}"#),
        (&["resume", "home"], r#"{"action":"resume","gateway":"home"}"#),
        (&["snapshot"], r#"{"action":"snapshot"}"#),
        (&["snapshot", "home"], r#"{"action":"snapshot","gateway":"home"}"#),
        (&["restart"], r#"{"action":"restart"}"#),
        (&["restart", "home"], r#"{"action":"restart","gateway":"home"}"#),
        (&["restart", "--force"], r#"{"action":"restart","force":true}"#),
        (
            &["restart", "home", "--force"],
            r#"{"action":"restart","force":true,"gateway":"home"}"#,
        ),
        (
            &["restart", "--force", "home"],
            r#"{"action":"restart","force":true,"gateway":"home"}"#,
        ),
        (&["silence", "--minutes", "0"], r#"{"action":"silence","minutes":0}"#),
        (
            &["silence", "home", "--minutes=30", "--reason", "moving"],
            r#"{"action":"silence","gateway":"home","minutes":30,"reason":"moving"}"#,
        ),
        (
            &["silence", "home", "--minutes", "60", "--reason", "moving house"],
            r#"{"action":"silence","gateway":"home","minutes":60,"reason":"moving house"}"#,
        ),
        (
            &["silence", "--reason", "x", "--minutes", "5"],
            r#"{"action":"silence","minutes":5,"reason":"x"}"#,
        ),
        (
            &["silence", "--minutes", "5", "--reason", "--force"],
            r#"{"action":"silence","minutes":5,"reason":"--force"}"#,
        ),
        (&["history"], r#"{"action":"history"}"#),
        (
            &["history", "home", "--days", "1"],
            r#"{"action":"history","days":1,"gateway":"home"}"#,
        ),
        (&["history", "--days=30"], r#"{"action":"history","days":30}"#),
        (&["snapshots"], r#"{"action":"snapshots"}"#),
        (
            &["snapshots", "home", "--limit", "5"],
            r#"{"action":"snapshots","gateway":"home","limit":5}"#,
        ),
        (&["snapshots", "--limit", "1"], r#"{"action":"snapshots","limit":1}"#),
        (&["restore", "latest"], r#"{"action":"restore","snapshot":"latest"}"#),
        (&["doctor"], r#"{"action":"test"}"#),
        (&["doctor", "home"], r#"{"action":"test","gateway":"home"}"#),
        (
            &["restore", "home", "20261125T221610Z-manual"],
            r#"{"action":"restore","gateway":"home","snapshot":"20261125T221610Z-manual"}"#,
        ),
        // Global options change nothing in the request.
        (&["--json", "pause", "home"], r#"{"action":"pause","gateway":"home"}"#),
        (
            &["status", "--json", "--function", "f", "--stack", "s"],
            r#"{"action":"status"}"#,
        ),
        (
            &["--function=f", "restart", "home"],
            r#"{"action":"restart","gateway":"home"}"#,
        ),
    ];

    fn sent(line: &[&str]) -> String {
        match parse(std::iter::once(&BIN).chain(line)) {
            Ok((_, Command::Remote(request))) => request.to_string(),
            other => panic!("{line:?}: {other:?}"),
        }
    }

    #[test]
    fn every_subcommand_sends_the_same_json_as_before() {
        for (line, before) in SENT_BEFORE {
            assert_eq!(sent(line), *before, "{line:?}");
        }
        // Every remote subcommand is covered above.
        for command in Cli::command().get_subcommands() {
            let name = command.get_name();
            if !["explain", "completions", "help"].contains(&name) {
                assert!(
                    SENT_BEFORE.iter().any(|(line, _)| line.contains(&name)),
                    "{name} has no request test"
                );
            }
        }
    }

    #[test]
    fn the_action_is_the_subcommand_word() {
        for command in Cli::command().get_subcommands() {
            let name = command.get_name();
            let line: Vec<&str> = match name {
                "explain" | "completions" | "help" => continue,
                "silence" => vec![name, "--minutes", "1"],
                "restore" => vec![name, "latest"],
                _ => vec![name],
            };
            let request: serde_json::Value = serde_json::from_str(&sent(&line)).expect("JSON");
            // `doctor` is the one subcommand named for what it does for a person, not the action.
            let action = if name == "doctor" { "test" } else { name };
            assert_eq!(request["action"], action);
            assert!(
                clawkeeper_core::control::ACTIONS.contains(&action),
                "{name} is not an action the control function knows"
            );
        }
    }

    #[test]
    fn the_defaults_the_help_names_are_the_control_functions() {
        use clawkeeper_core::control::{DEFAULT_HISTORY_DAYS, DEFAULT_SNAPSHOT_LIMIT};
        let help = |sub: &str| {
            let mut command = Cli::command();
            command
                .find_subcommand_mut(sub)
                .expect("subcommand")
                .render_long_help()
                .to_string()
        };
        assert!(help("history").contains(&format!("[default: {DEFAULT_HISTORY_DAYS}]")));
        assert!(help("snapshots").contains(&format!("[default: {DEFAULT_SNAPSHOT_LIMIT}]")));
    }
}
