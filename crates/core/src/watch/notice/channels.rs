//! What a channel problem means for that channel, and the steps that fix it, per channel: each
//! has its own credential (OpenClaw 2026.9.6 docs: `channels/whatsapp.md`, `channels/telegram/
//! troubleshooting.md`, `channels/discord/setup.md`, `channels/slack/setup.md`, `cli/channels.md`).
//!
//! - WhatsApp links a phone by QR code (`openclaw channels login`): only a relink fixes a lost link.
//! - Telegram, Discord and Slack use bot tokens: a 401 means the token was revoked or reset, and the
//!   fix is the new token from the provider, entered in OpenClaw's guided setup (`openclaw channels
//!   add --channel <name>`, interactive, so the token never lands in a command line or a shell
//!   history; OpenClaw restarts the channel when its config changes). Sending these owners the
//!   WhatsApp QR steps would be wrong and useless.
//! - A channel OpenClaw stopped retrying, or stopped after a 440 conflict (2026.9 keeps the
//!   link then), is started again with the `channels.start` admin RPC, which keeps its login; one held by OpenClaw's crash-loop breaker starts by itself once the
//!   gateway has run cleanly for the breaker's window (5 minutes), so waiting is the right step.
//!   A relink there would only destroy a good session.

use super::Step;
use super::commands::{Commands, TaskRef};
use crate::watch::health::ChannelEvent;

/// What a channel event means, in words for the line of what happened.
pub fn channel_problem(channel: &str, event: ChannelEvent) -> String {
    match (channel, event) {
        ("whatsapp", ChannelEvent::LoggedOut) => {
            "WhatsApp logged the gateway out (status 401): the link to the phone is gone".into()
        }
        ("discord", ChannelEvent::LoggedOut) => {
            "Discord rejected the bot token (status 401): it was reset or revoked".into()
        }
        ("slack", ChannelEvent::LoggedOut) => {
            "Slack rejected the app's token (status 401): it was revoked or the app reinstalled".into()
        }
        ("telegram", ChannelEvent::LoggedOut) => ChannelEvent::TelegramUnauthorized.describe().into(),
        (_, ChannelEvent::LoggedOut) => format!("{channel} rejected the gateway's login (status 401)"),
        _ => event.describe().into(),
    }
}

/// The verdict and steps for one channel account in trouble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSteps {
    /// Whether the owner must act.
    pub act: bool,
    /// The verdict's words.
    pub verdict: String,
    /// What to do (or how to look closer).
    pub steps: Vec<Step>,
}

/// The steps for `channel` (account `account`) after `event`, with commands into `task`.
pub fn channel_steps(
    cmds: &Commands,
    task: &TaskRef,
    channel: &str,
    account: &str,
    event: ChannelEvent,
) -> ChannelSteps {
    let exec = |args: &[&str]| cmds.exec(task, args);
    let mut steps = Vec::new();
    let status = Step::run(
        "Check the channel:",
        exec(&["channels", "status", "--channel", channel, "--probe"]),
    );
    let guided = |provider_step: &str| {
        vec![
            Step::say(provider_step),
            Step::run(
                format!(
                    "Enter it in OpenClaw's guided setup (ECS Exec, needs the Session Manager plugin; pick account \
                     {account} when asked). The token stays out of shell history, and OpenClaw restarts the channel:"
                ),
                exec(&["channels", "add", "--channel", channel]),
            ),
        ]
    };
    let (act, verdict) = match (channel, event) {
        ("whatsapp", ChannelEvent::LoggedOut | ChannelEvent::AuthCleared | ChannelEvent::Conflict) => {
            if event == ChannelEvent::Conflict {
                steps.push(Step::say(
                    "Make sure nothing else uses this WhatsApp link: no second gateway or copy of its state \
                     (WhatsApp > Settings > Linked devices lists them).",
                ));
            }
            steps.push(Step::run(
                "Clear the dead link (ECS Exec, needs the Session Manager plugin):",
                exec(&["channels", "logout", "--channel", "whatsapp", "--account", account]),
            ));
            steps.push(Step::run(
                "Link again: this shows a QR code; scan it with the phone in WhatsApp > Settings > Linked devices \
                 > Link a device:",
                exec(&["channels", "login", "--channel", "whatsapp", "--account", account]),
            ));
            steps.push(status);
            (
                true,
                format!("relink WhatsApp (account {account}) with your phone; it will not reconnect by itself."),
            )
        }
        ("telegram", ChannelEvent::TelegramUnauthorized | ChannelEvent::LoggedOut) => {
            steps.extend(guided(
                "In Telegram, get the bot's current token from @BotFather (/mybots > your bot > API Token).",
            ));
            steps.push(status);
            (
                true,
                format!("give the gateway the current Telegram bot token (account {account})."),
            )
        }
        ("discord", ChannelEvent::LoggedOut | ChannelEvent::AuthCleared) => {
            steps.extend(guided(
                "In the Discord Developer Portal, open your application > Bot > Reset Token, and copy the token.",
            ));
            steps.push(status);
            (
                true,
                format!("give the gateway a new Discord bot token (account {account})."),
            )
        }
        ("slack", ChannelEvent::LoggedOut | ChannelEvent::AuthCleared) => {
            steps.extend(guided(
                "In your Slack app's settings (api.slack.com/apps), reinstall it (Install App) and copy the Bot User \
                 OAuth Token, and for Socket Mode an App-Level Token (Basic Information).",
            ));
            steps.push(status);
            (true, format!("give the gateway new Slack tokens (account {account})."))
        }
        (
            _,
            ChannelEvent::LoggedOut
            | ChannelEvent::AuthCleared
            | ChannelEvent::Conflict
            | ChannelEvent::TelegramUnauthorized,
        ) => {
            steps.push(Step::run(
                "Log the account in again (ECS Exec, needs the Session Manager plugin):",
                exec(&["channels", "login", "--channel", channel, "--account", account]),
            ));
            steps.push(status);
            (
                true,
                format!("log {channel} (account {account}) in again; it will not reconnect by itself."),
            )
        }
        (_, ChannelEvent::ConflictStopped) => {
            steps.push(Step::say(if channel == "whatsapp" {
                "Stop the other client that took the session: a second gateway or a copy of its state, or another \
                 WhatsApp Web session (WhatsApp > Settings > Linked devices lists them)."
            } else {
                "Stop the other client that took the session: a second gateway or a copy of its state."
            }));
            steps.push(start_step(
                cmds,
                task,
                channel,
                account,
                "Then start the channel again; it keeps its link (clawkeeper does this by itself when the reconciler \
                 can reach the gateway's admin RPC, OpenClaw's admin-http-rpc plugin):",
            ));
            steps.push(status);
            (
                true,
                format!(
                    "stop the other client or second gateway using {channel} (account {account}), then start the \
                     channel again; OpenClaw kept its link, so do not relink."
                ),
            )
        }
        (_, ChannelEvent::GaveUp | ChannelEvent::ReconnectExhausted) => {
            steps.push(start_step(
                cmds,
                task,
                channel,
                account,
                "Start it again; this keeps its login:",
            ));
            steps.push(status);
            if let Some(logs) = cmds.logs("1h", Some(channel)) {
                steps.push(Step::run("If it stops again, read why:", logs));
            }
            (
                true,
                format!("start {channel} (account {account}) again; OpenClaw stopped retrying it. Do not relink."),
            )
        }
        (_, ChannelEvent::BreakerSuppressed) => {
            steps.push(start_step(
                cmds,
                task,
                channel,
                account,
                "Only to start it before the breaker does (keeps its login):",
            ));
            (
                false,
                format!(
                    "OpenClaw's crash-loop breaker holds {channel} after repeated unclean restarts and starts it by \
                     itself once the gateway has run cleanly for 5 min. Do not relink: the login is intact."
                ),
            )
        }
        (_, ChannelEvent::TelegramConflict) => {
            if let Some(logs) = cmds.logs("1h", Some(channel)) {
                steps.push(Step::run("See the conflicts in the gateway's log:", logs));
            }
            (
                true,
                format!(
                    "stop the other program polling Telegram with this bot token (another gateway, a script), or \
                     switch account {account} to webhook mode."
                ),
            )
        }
        (_, ChannelEvent::Connected) => (false, format!("{channel} is connected.")),
    };
    ChannelSteps {
        act,
        verdict,
        steps: with_task_lookup(cmds, task, steps),
    }
}

/// `steps` with, when they enter a task clawkeeper does not know, the step that finds it first.
pub fn with_task_lookup(cmds: &Commands, task: &TaskRef, mut steps: Vec<Step>) -> Vec<Step> {
    let enters = steps.iter().flat_map(|s| &s.commands).any(|c| c.contains("\"$TASK\""));
    if *task == TaskRef::Lookup && enters {
        steps.insert(0, Step::run("Find the gateway's running task:", cmds.find_task()));
    }
    steps
}

/// `channels.start` for one account (the default account when `account` is `default`).
pub fn start_step(cmds: &Commands, task: &TaskRef, channel: &str, account: &str, text: &str) -> Step {
    let params = if account == "default" {
        serde_json::json!({ "channel": channel })
    } else {
        serde_json::json!({ "channel": channel, "accountId": account })
    };
    Step::run(
        text,
        cmds.exec(
            task,
            &["gateway", "call", "channels.start", "--params", &params.to_string()],
        ),
    )
}

/// The steps for a channel that is down without a known cause (OpenClaw still retrying).
pub fn retrying_steps(cmds: &Commands, channel: &str) -> Vec<Step> {
    cmds.logs("1h", Some(channel))
        .map(|logs| vec![Step::run("Its log lines of the last hour:", logs)])
        .unwrap_or_default()
}
