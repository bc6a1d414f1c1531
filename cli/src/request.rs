//! What each remote subcommand sends to the control function: its request contract
//! (functions/control/src/request.rs). `action` always; `gateway` and each action's own fields
//! only when typed, so the control function's defaults (which gateway, how many days...) apply
//! and it alone owns them. The function rejects fields it does not know, so nothing else is sent.

use serde_json::{Map, Value};

use crate::args::{Action, Add, Gateways, Target};

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
        Action::Gateways(Gateways::Add(add)) => return register(gateway_object(add), add.owner_email.clone()),
        Action::Gateways(Gateways::Remove(remove)) => request.field("gateway", remove.id.clone()),
        Action::Gateways(Gateways::List) => request,
    };
    Value::Object(request.0)
}

/// The `register` request for one gateway object (as one element of `CLAWKEEPER_GATEWAYS`),
/// from the flags or from `--from-json`; `owner_email` only when typed.
pub fn register(gateway: Map<String, Value>, owner_email: Option<String>) -> Value {
    let request = Request::new("register")
        .field("gateway", Value::Object(gateway))
        .field_if("owner_email", owner_email);
    Value::Object(request.0)
}

/// The gateway object of `gateways add`'s flags: the keys of `CLAWKEEPER_GATEWAYS`, each only
/// when typed (the control function validates it and fills in its defaults). Empty for
/// `--from-json`, which `args::parse` sends through `gateways.rs` instead.
fn gateway_object(add: &Add) -> Map<String, Value> {
    let fields = [
        ("id", &add.id),
        ("cluster", &add.cluster),
        ("service", &add.service),
        ("task_family", &add.task_family),
        ("probe_url", &add.probe_url),
        ("token_secret_arn", &add.token_secret_arn),
        ("log_group", &add.log_group),
        ("state_root", &add.state_root),
        ("state_dir", &add.state_dir),
    ];
    fields
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_string(), Value::from(value.clone()?))))
        .collect()
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
            // `gateways add|remove|list`: the control function's words for them.
            Self::Gateways(Gateways::Add(_)) => "register",
            Self::Gateways(Gateways::Remove(_)) => "unregister",
            Self::Gateways(Gateways::List) => "gateways",
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

    use crate::args::{BIN, Cli, Command, FromJson, parse};

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

    /// What `gateways add|remove|list` send (the control function's `register`, `unregister` and
    /// `gateways`): the gateway object holds only the flags typed, under their
    /// CLAWKEEPER_GATEWAYS keys; `owner_email` beside it.
    const SENT_GATEWAYS: &[(&[&str], &str)] = &[
        (
            &[
                "gateways",
                "add",
                "lab",
                "--cluster",
                "openclaw",
                "--service",
                "openclaw-lab",
            ],
            r#"{"action":"register","gateway":{"cluster":"openclaw","id":"lab","service":"openclaw-lab"}}"#,
        ),
        (
            &[
                "gateways",
                "add",
                "--task-family=batch-gw",
                "batch",
                "--cluster",
                "arn:aws:ecs:us-east-1:1:cluster/c",
            ],
            r#"{"action":"register","gateway":{"cluster":"arn:aws:ecs:us-east-1:1:cluster/c","id":"batch","task_family":"batch-gw"}}"#,
        ),
        (
            &[
                "gateways",
                "add",
                "lab",
                "--cluster",
                "openclaw",
                "--service",
                "openclaw-lab",
                "--probe-url",
                "https://lab.example.com",
                "--token-secret-arn",
                "arn:aws:secretsmanager:us-east-1:1:secret:t",
                "--log-group",
                "/ecs/lab",
                "--state-root",
                "/mnt/lab",
                "--state-dir",
                "state",
                "--owner-email",
                "me@example.com",
            ],
            concat!(
                r#"{"action":"register","gateway":{"cluster":"openclaw","id":"lab","log_group":"/ecs/lab","#,
                r#""probe_url":"https://lab.example.com","service":"openclaw-lab","state_dir":"state","state_root":"/mnt/lab","#,
                r#""token_secret_arn":"arn:aws:secretsmanager:us-east-1:1:secret:t"},"owner_email":"me@example.com"}"#,
            ),
        ),
        (
            &["gateways", "remove", "lab"],
            r#"{"action":"unregister","gateway":"lab"}"#,
        ),
        (&["gateways", "list"], r#"{"action":"gateways"}"#),
        (&["--json", "gateways", "list", "--direct"], r#"{"action":"gateways"}"#),
    ];

    fn sent(line: &[&str]) -> String {
        match parse(std::iter::once(&BIN).chain(line)) {
            Ok((_, Command::Remote(request))) => request.to_string(),
            other => panic!("{line:?}: {other:?}"),
        }
    }

    #[test]
    fn every_subcommand_sends_the_same_json_as_before() {
        for (line, before) in SENT_BEFORE.iter().chain(SENT_GATEWAYS) {
            assert_eq!(sent(line), *before, "{line:?}");
        }
        // Every remote subcommand is covered above, and each of `gateways`'.
        let covered = |word: &str| {
            SENT_BEFORE
                .iter()
                .chain(SENT_GATEWAYS)
                .any(|(line, _)| line.contains(&word))
        };
        for command in Cli::command().get_subcommands() {
            let name = command.get_name();
            if !["explain", "completions", "help"].contains(&name) {
                assert!(covered(name), "{name} has no request test");
            }
        }
        let mut cli = Cli::command();
        let gateways = cli.find_subcommand_mut("gateways").expect("gateways");
        for command in gateways.get_subcommands().filter(|c| c.get_name() != "help") {
            assert!(
                covered(command.get_name()),
                "gateways {} has no request test",
                command.get_name()
            );
        }
    }

    #[test]
    fn the_action_is_the_subcommand_word() {
        for command in Cli::command().get_subcommands() {
            let name = command.get_name();
            let line: Vec<&str> = match name {
                // `gateways`' subcommands ask for actions of other words: the next test.
                "explain" | "completions" | "help" | "gateways" => continue,
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
    fn gateways_add_remove_and_list_ask_for_register_unregister_and_gateways() {
        for (line, action) in [
            (
                &["gateways", "add", "lab", "--cluster", "c", "--service", "s"][..],
                "register",
            ),
            (&["gateways", "remove", "lab"], "unregister"),
            (&["gateways", "list"], "gateways"),
        ] {
            let request: serde_json::Value = serde_json::from_str(&sent(line)).expect("JSON");
            assert_eq!(request["action"], action, "{line:?}");
            assert!(
                clawkeeper_core::control::ACTIONS.contains(&action),
                "{action} is not an action the control function knows"
            );
        }
    }

    #[test]
    fn add_from_json_reads_the_file_before_anything_is_sent() {
        for (line, file, owner_email) in [
            (&["gateways", "add", "--from-json", "lab.json"][..], "lab.json", None),
            (
                &["gateways", "add", "--from-json", "-", "--owner-email", "me@example.com"],
                "-",
                Some("me@example.com"),
            ),
            (
                &["gateways", "add", "--owner-email=me@example.com", "--from-json=-"],
                "-",
                Some("me@example.com"),
            ),
        ] {
            let parsed = parse(std::iter::once(&BIN).chain(line)).map(|(_, command)| command);
            let expected = Command::RegisterFromJson(FromJson {
                file: file.into(),
                owner_email: owner_email.map(str::to_string),
            });
            assert_eq!(parsed.ok(), Some(expected), "{line:?}");
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
        use clawkeeper_core::config::{DEFAULT_STATE_DIR, DEFAULT_STATE_ROOT};
        let mut command = Cli::command();
        let add = command
            .find_subcommand_mut("gateways")
            .and_then(|g| g.find_subcommand_mut("add"))
            .expect("gateways add")
            .render_long_help()
            .to_string();
        assert!(add.contains(&format!("[default: {DEFAULT_STATE_ROOT}]")), "{add}");
        assert!(add.contains(&format!("[default: {DEFAULT_STATE_DIR}]")), "{add}");
    }
}
