//! The commands a notice tells its owner to paste, complete: the real cluster, service, task,
//! log group and function, the stack's region on every AWS CLI line, and OpenClaw run inside the
//! task as the image's own user.
//!
//! Why the user matters: ECS Exec starts commands as root, but the OpenClaw image runs as `node`
//! (uid 1000) with its state in `/home/node/.openclaw` on the EFS volume. `openclaw channels
//! login` run as root would write root-owned credentials there (the gateway then cannot read
//! them) or, with root's `HOME`, into `/root/.openclaw`, which the gateway never reads. So every
//! OpenClaw command goes through `runuser -u node --` (util-linux, in the Debian-based image),
//! which also sets `HOME=/home/node`. ECS Exec splits `--command` with shell-like quoting and runs
//! it without a shell, so the inner command is quoted once for that split and once more for the
//! owner's shell.

use crate::gateway::{Gateway, GatewayTarget};

/// The container of the gateway task definition clawkeeper's template creates (ECS Exec target).
pub const GATEWAY_CONTAINER: &str = "openclaw-gateway";
/// The user the OpenClaw image runs as (uid 1000, home `/home/node`).
const GATEWAY_USER: &str = "node";
/// The `clawkeeper` CLI's default stack (`cli/src/args.rs`): `--stack` is written only for another.
pub const DEFAULT_STACK: &str = "clawkeeper";

/// What the notices need to know of the deployment beyond the gateway: read once at init from the
/// environment ([`crate::config::Config`]), never a policy key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoticeContext {
    /// `AWS_REGION`: the stack's region, written as `--region` on every AWS and clawkeeper command.
    pub region: Option<String>,
    /// `CLAWKEEPER_STACK`: the stack name, for the `clawkeeper` CLI's `--stack`.
    pub stack: Option<String>,
    /// `CLAWKEEPER_SNAPSHOT_FUNCTION`: the snapshot function (name or ARN), whose logs the
    /// snapshot notices point at; also whether snapshot requests are carried out at all.
    pub snapshot_function: Option<String>,
}

impl NoticeContext {
    /// The snapshot function's name (its ARN's last part), for `/aws/lambda/<name>`.
    pub fn snapshot_function_name(&self) -> Option<&str> {
        let f = self.snapshot_function.as_deref()?;
        match f.split_once(":function:") {
            Some((_, rest)) => rest.split(':').next(),
            None => Some(f),
        }
    }
}

/// Which task an ECS Exec command enters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskRef {
    /// A task id clawkeeper knows is running.
    Id(String),
    /// None known: a step before looks it up into `$TASK` ([`Commands::find_task`]).
    Lookup,
}

/// Where a one-off task runs ([`Commands::run_once`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunNetwork {
    /// The service's own configuration, looked up into `$NET` by a step before ([`Commands::find_network`]).
    Lookup,
    /// These subnets with the VPC's default security group, as clawkeeper restarts a standalone task.
    Subnets(Vec<String>),
}

/// Whether `arn` is a real ECS task ARN (not the id of a record about no task at all).
pub fn is_task_arn(arn: &str) -> bool {
    arn.starts_with("arn:") && arn.contains(":task/")
}

/// Command builders for one gateway of one deployment.
#[derive(Debug, Clone, Copy)]
pub struct Commands<'a> {
    gw: &'a Gateway,
    ctx: &'a NoticeContext,
}

impl<'a> Commands<'a> {
    /// Commands about `gw`.
    pub fn new(gw: &'a Gateway, ctx: &'a NoticeContext) -> Self {
        Self { gw, ctx }
    }

    fn region(&self) -> String {
        self.ctx
            .region
            .as_deref()
            .map(|r| format!(" --region {}", shell_word(r)))
            .unwrap_or_default()
    }

    fn cluster(&self) -> String {
        shell_word(&self.gw.cluster)
    }

    /// `clawkeeper <sub> <gateway><rest>`, with the stack and region it needs.
    pub fn clawkeeper(&self, sub: &str, rest: &str) -> String {
        let stack = match self.ctx.stack.as_deref() {
            Some(stack) if stack != DEFAULT_STACK => format!(" --stack {}", shell_word(stack)),
            _ => String::new(),
        };
        format!(
            "clawkeeper {sub} {}{rest}{stack}{}",
            shell_word(&self.gw.id),
            self.region()
        )
    }

    /// The stopped task's details (ECS keeps them about an hour); `None` for a record that is no task.
    pub fn describe_task(&self, task_arn: &str) -> Option<String> {
        is_task_arn(task_arn).then(|| {
            format!(
                "aws ecs describe-tasks --cluster {} --tasks {}{}",
                self.cluster(),
                shell_word(super::super::signal::short_task_id(task_arn)),
                self.region()
            )
        })
    }

    /// The gateway's log lines of the last `since` (`30m`, `1h`), optionally only those with `filter`.
    pub fn logs(&self, since: &str, filter: Option<&str>) -> Option<String> {
        let group = self.gw.log_group.as_deref()?;
        let filter = filter
            .map(|f| format!(" --filter-pattern {}", shell_word(f)))
            .unwrap_or_default();
        Some(format!(
            "aws logs tail {} --since {since}{filter}{}",
            shell_word(group),
            self.region()
        ))
    }

    /// The service's newest events (why ECS does not start a task); `None` for a standalone task.
    pub fn service_events(&self) -> Option<String> {
        match &self.gw.target {
            GatewayTarget::Service(service) => Some(format!(
                "aws ecs describe-services --cluster {} --services {} --query 'services[0].events[:5].message'{}",
                self.cluster(),
                shell_word(service),
                self.region()
            )),
            GatewayTarget::Standalone { .. } => None,
        }
    }

    fn selection(&self) -> String {
        match &self.gw.target {
            GatewayTarget::Service(service) => format!("--service-name {}", shell_word(service)),
            GatewayTarget::Standalone { family } => format!("--family {}", shell_word(family)),
        }
    }

    /// The gateway's RUNNING tasks.
    pub fn list_running(&self) -> String {
        format!(
            "aws ecs list-tasks --cluster {} {} --desired-status RUNNING{}",
            self.cluster(),
            self.selection(),
            self.region()
        )
    }

    /// `TASK=$(...)`: the running task into `$TASK`, for [`TaskRef::Lookup`].
    pub fn find_task(&self) -> String {
        format!(
            "TASK=$(aws ecs list-tasks --cluster {} {} --desired-status RUNNING --query 'taskArns[0]' --output text{})",
            self.cluster(),
            self.selection(),
            self.region()
        )
    }

    /// `openclaw <args>` inside the running task, as the gateway's own user (ECS Exec).
    pub fn exec(&self, task: &TaskRef, openclaw_args: &[&str]) -> String {
        let task = match task {
            TaskRef::Id(id) => shell_word(id),
            TaskRef::Lookup => "\"$TASK\"".to_string(),
        };
        let inner: Vec<String> = ["runuser", "-u", GATEWAY_USER, "--", "openclaw"]
            .iter()
            .map(|w| (*w).to_string())
            .chain(openclaw_args.iter().map(|a| shell_word(a)))
            .collect();
        format!(
            "aws ecs execute-command --cluster {} --task {task} --container {GATEWAY_CONTAINER} --interactive \
             --command {}{}",
            self.cluster(),
            double_quoted(&inner.join(" ")),
            self.region()
        )
    }

    /// `NET=$(...)`: the service's network configuration into `$NET`, for a one-off task in the
    /// gateway's subnets and security groups ([`RunNetwork::Lookup`]); `None` for a standalone task.
    pub fn find_network(&self) -> Option<String> {
        match &self.gw.target {
            GatewayTarget::Service(service) => Some(format!(
                "NET=$(aws ecs describe-services --cluster {} --services {} --query \
                 'services[0].networkConfiguration' --output json{})",
                self.cluster(),
                shell_word(service),
                self.region()
            )),
            GatewayTarget::Standalone { .. } => None,
        }
    }

    /// A one-off Fargate task of `task_definition` that runs `command` in the gateway container
    /// instead of the gateway: the same image, state volume and environment, so what it does to the
    /// state is what the gateway would see (OpenClaw's "run the same image once with `openclaw doctor
    /// --fix` as the container command", docs/install/docker.md). The container runs as the image's
    /// user, as the gateway does.
    pub fn run_once(&self, task_definition: &str, network: &RunNetwork, command: &[&str]) -> String {
        let network = match network {
            RunNetwork::Lookup => "\"$NET\"".to_string(),
            RunNetwork::Subnets(subnets) => {
                shell_word(&format!("awsvpcConfiguration={{subnets=[{}]}}", subnets.join(",")))
            }
        };
        let overrides = serde_json::json!({
            "containerOverrides": [{"name": GATEWAY_CONTAINER, "command": command}]
        });
        format!(
            "aws ecs run-task --cluster {} --task-definition {} --launch-type FARGATE --network-configuration {network} \
             --overrides {}{}",
            self.cluster(),
            shell_word(task_definition),
            shell_word(&overrides.to_string()),
            self.region()
        )
    }

    /// Stops one task (the older of two writers).
    pub fn stop_task(&self, task_arn: &str, reason: &str) -> String {
        format!(
            "aws ecs stop-task --cluster {} --task {} --reason {}{}",
            self.cluster(),
            shell_word(super::super::signal::short_task_id(task_arn)),
            shell_word(reason),
            self.region()
        )
    }

    /// Deployment limits that never run two tasks at once; `None` for a standalone task.
    pub fn fix_limits(&self) -> Option<String> {
        match &self.gw.target {
            GatewayTarget::Service(service) => Some(format!(
                "aws ecs update-service --cluster {} --service {} --deployment-configuration \
                 minimumHealthyPercent=0,maximumPercent=100{}",
                self.cluster(),
                shell_word(service),
                self.region()
            )),
            GatewayTarget::Standalone { .. } => None,
        }
    }

    /// The snapshot function's log lines of the last `since`; `None` when none is configured.
    pub fn snapshot_logs(&self, since: &str) -> Option<String> {
        let name = self.ctx.snapshot_function_name()?;
        Some(format!(
            "aws logs tail {} --since {since}{}",
            shell_word(&format!("/aws/lambda/{name}")),
            self.region()
        ))
    }

    /// The ECS console page of the service (or of the cluster's tasks, for a standalone task).
    pub fn ecs_console(&self) -> String {
        let cluster = self.gw.cluster.rsplit('/').next().unwrap_or(&self.gw.cluster);
        let page = match &self.gw.target {
            GatewayTarget::Service(service) => format!("services/{}/health", url_part(service)),
            GatewayTarget::Standalone { .. } => "tasks".to_string(),
        };
        self.console(&format!("ecs/v2/clusters/{}/{page}", url_part(cluster)), "")
    }

    /// The CloudWatch console page of the gateway's log group, or the ECS page without one.
    pub fn log_console(&self) -> String {
        match self.gw.log_group.as_deref() {
            Some(group) => self.log_group_console(group),
            None => self.ecs_console(),
        }
    }

    /// The CloudWatch console page of the snapshot function's log group, if one is configured.
    pub fn snapshot_console(&self) -> Option<String> {
        let name = self.ctx.snapshot_function_name()?;
        Some(self.log_group_console(&format!("/aws/lambda/{name}")))
    }

    fn log_group_console(&self, group: &str) -> String {
        // The console's fragment encodes the name twice, with `$` for the second `%`.
        let encoded = url_part(group).replace('%', "$25");
        self.console("cloudwatch/home", &format!("#logsV2:log-groups/log-group/{encoded}"))
    }

    fn console(&self, path: &str, fragment: &str) -> String {
        match self.ctx.region.as_deref() {
            Some(region) => {
                let host = if region.starts_with("cn-") {
                    "console.amazonaws.cn".to_string()
                } else if region.starts_with("us-gov-") {
                    "console.amazonaws-us-gov.com".to_string()
                } else {
                    format!("{region}.console.aws.amazon.com")
                };
                format!("https://{host}/{path}?region={region}{fragment}")
            }
            None => format!("https://console.aws.amazon.com/{path}{fragment}"),
        }
    }
}

/// `text` as one shell word: as is when it holds only characters no shell treats specially,
/// single-quoted otherwise.
pub fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | '=' | '@' | ',' | '+'));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `text` in double quotes for the owner's shell (`"`, `\`, `$` and backquotes escaped).
fn double_quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Percent-encodes all but unreserved characters, for a URL path segment.
fn url_part(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::plan::fixtures;

    fn ctx() -> NoticeContext {
        NoticeContext {
            region: Some("eu-central-1".into()),
            stack: Some("my-claw".into()),
            snapshot_function: Some(
                "arn:aws:lambda:eu-central-1:123456789012:function:my-claw-Snapshot-1A:live".into(),
            ),
        }
    }

    #[test]
    fn aws_commands_carry_the_real_names_and_the_region() {
        let gw = fixtures::service_gateway();
        let ctx = ctx();
        let c = Commands::new(&gw, &ctx);
        assert_eq!(
            c.clawkeeper("silence", " --minutes 60"),
            "clawkeeper silence home --minutes 60 --stack my-claw --region eu-central-1"
        );
        assert_eq!(
            c.describe_task(&fixtures::arn("0f1e")).as_deref(),
            Some("aws ecs describe-tasks --cluster openclaw --tasks 0f1e --region eu-central-1")
        );
        assert_eq!(c.describe_task("reconciler@1795161600"), None, "no task, no command");
        assert_eq!(
            c.snapshot_logs("3h").as_deref(),
            Some("aws logs tail /aws/lambda/my-claw-Snapshot-1A --since 3h --region eu-central-1")
        );
        assert_eq!(
            c.log_console(),
            "https://eu-central-1.console.aws.amazon.com/cloudwatch/home?region=eu-central-1#logsV2:log-groups/log-group/$252Fecs$252Fopenclaw-gateway"
        );
        assert_eq!(
            c.ecs_console(),
            "https://eu-central-1.console.aws.amazon.com/ecs/v2/clusters/openclaw/services/openclaw-gateway/health?region=eu-central-1"
        );
        let default_stack = NoticeContext {
            stack: Some(DEFAULT_STACK.into()),
            region: None,
            snapshot_function: None,
        };
        assert_eq!(
            Commands::new(&gw, &default_stack).clawkeeper("status", ""),
            "clawkeeper status home"
        );
    }

    #[test]
    fn openclaw_runs_as_the_gateway_user_with_quotes_that_survive_two_splits() {
        let gw = fixtures::service_gateway();
        let ctx = ctx();
        let c = Commands::new(&gw, &ctx);
        let line = c.exec(
            &TaskRef::Id("0f1e".into()),
            &[
                "gateway",
                "call",
                "channels.start",
                "--params",
                r#"{"channel":"whatsapp"}"#,
            ],
        );
        assert_eq!(
            line,
            r#"aws ecs execute-command --cluster openclaw --task 0f1e --container openclaw-gateway --interactive --command "runuser -u node -- openclaw gateway call channels.start --params '{\"channel\":\"whatsapp\"}'" --region eu-central-1"#
        );
        // The owner's shell, then ECS Exec's own split, give the JSON back intact.
        let outer = shlex::split(&line).expect("the owner's shell splits it");
        let command = &outer[outer.iter().position(|w| w == "--command").expect("--command") + 1];
        let inner = shlex::split(command).expect("ECS Exec splits it");
        assert_eq!(inner[..5], ["runuser", "-u", "node", "--", "openclaw"]);
        assert_eq!(inner.last().map(String::as_str), Some(r#"{"channel":"whatsapp"}"#));
        assert!(
            c.exec(&TaskRef::Lookup, &["channels", "status"])
                .contains("--task \"$TASK\" ")
        );
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn a_one_off_task_runs_the_command_in_the_gateway_container_as_pasted() {
        let ctx = ctx();
        let service = fixtures::service_gateway();
        let c = Commands::new(&service, &ctx);
        let doctor = ["openclaw", "doctor", "--fix", "--non-interactive"];
        let td = "arn:aws:ecs:eu-central-1:123456789012:task-definition/openclaw-gateway:7";
        assert_eq!(
            c.find_network().as_deref(),
            Some(
                "NET=$(aws ecs describe-services --cluster openclaw --services openclaw-gateway --query \
                 'services[0].networkConfiguration' --output json --region eu-central-1)"
            )
        );
        let line = c.run_once(td, &RunNetwork::Lookup, &doctor);
        let words = shlex::split(&line).expect("the owner's shell splits it");
        let at = |flag: &str| words[words.iter().position(|w| w == flag).expect(flag) + 1].clone();
        assert_eq!(at("--network-configuration"), "$NET");
        assert_eq!(at("--task-definition"), td);
        let overrides: serde_json::Value = serde_json::from_str(&at("--overrides")).expect("JSON intact");
        assert_eq!(overrides["containerOverrides"][0]["name"], GATEWAY_CONTAINER);
        assert_eq!(overrides["containerOverrides"][0]["command"], serde_json::json!(doctor));

        // A standalone task: no service to look the network up in; the last task's subnet.
        let solo = fixtures::standalone_gateway();
        let c = Commands::new(&solo, &ctx);
        assert_eq!(c.find_network(), None);
        let line = c.run_once(td, &RunNetwork::Subnets(vec!["subnet-0a1b2c3d".into()]), &doctor);
        assert!(
            line.contains(" --network-configuration 'awsvpcConfiguration={subnets=[subnet-0a1b2c3d]}' "),
            "{line}"
        );
    }
}
