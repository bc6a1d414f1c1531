//! The text of `channel_restarted`: what clawkeeper's one restart of a channel account did, and
//! what the owner does now. Layout and rules: [`crate::watch::notice`].

use super::NotHeld;
use crate::watch::channel_runtime::{AccountRuntime, ChannelRestart, ChannelRuntime, ChannelStart, Trouble};
use crate::watch::notice::{Draft, Notice, NoticeKind, Severity, Status, Step, Verdict, When, format_span, start_step};
use crate::watch::plan::{Planner, as_i64};

impl Planner<'_> {
    /// `channel_restarted`: the restart failed, or did not hold.
    pub(in crate::watch::plan) fn channel_restarted_text(
        &self,
        entry: &AccountRuntime,
        restart: &ChannelRestart,
        runtime: &ChannelRuntime,
        trouble: Trouble,
        why: &NotHeld<'_>,
    ) -> Notice {
        let cmds = self.cmds();
        let task = self.running_task();
        let (channel, account) = (runtime.channel.as_str(), runtime.account.as_str());
        let window = format_span(as_i64(self.cfg.channel_restart_window_secs));
        let at = self.clock().at(restart.at);
        let state = match trouble {
            Trouble::Conflict => "blocked: another client took over its session (status 440)",
            Trouble::Stopped => "stopped by OpenClaw, which does not restart it by itself",
        };
        let (headline, happened) = match why {
            NotHeld::StartFailed(answer) => (
                format!("{channel} restart failed"),
                format!(
                    "The {channel} channel (account {account}) of gateway {} is {state}. clawkeeper asked OpenClaw \
                     to start it again (channels.start) at {at}; it answered: {answer}.",
                    self.gw.id
                ),
            ),
            NotHeld::Again => (
                format!("{channel} {} again after a restart", trouble_word(trouble)),
                format!(
                    "The {channel} channel (account {account}) of gateway {} is {state}, again: clawkeeper restarted \
                     it (channels.start) at {at}, and it did not hold.",
                    self.gw.id
                ),
            ),
        };
        let verdict = match trouble {
            Trouble::Conflict => format!(
                "stop the other client or second gateway using {channel} (account {account}), then start the channel \
                 again; OpenClaw kept its link, so do not relink."
            ),
            Trouble::Stopped => format!(
                "find why {channel} (account {account}) stops, then start it again; its login is intact, so do not \
                 relink."
            ),
        };
        let mut steps = Vec::new();
        if trouble == Trouble::Conflict {
            steps.push(Step::say(if channel == "whatsapp" {
                "Stop the other client that takes the session: a second gateway or a copy of its state, or another \
                 WhatsApp Web session (WhatsApp > Settings > Linked devices lists them)."
            } else {
                "Stop the other client that takes the session: a second gateway or a copy of its state."
            }));
        }
        if let Some(logs) = cmds.logs("1h", Some(channel)) {
            steps.push(Step::run("Read what the channel logged:", logs));
        }
        steps.push(start_step(
            &cmds,
            &task,
            channel,
            account,
            "Then start it again (ECS Exec, needs the Session Manager plugin); this keeps its link:",
        ));
        steps.push(Step::run(
            "Check the channel:",
            cmds.exec(&task, &["channels", "status", "--channel", channel, "--probe"]),
        ));
        let mut draft = Draft::new(Status::ActionNeeded, headline, Verdict::Act(verdict), happened);
        draft.when = Some(When::Since(entry.trouble_since.unwrap_or(restart.at)));
        draft.done = Some(format!(
            "restarted it once (channels.start over the gateway's admin RPC); it does not try again within {window}."
        ));
        draft.steps = crate::watch::notice::with_task_lookup(&cmds, &task, steps);
        draft.link = Some(cmds.log_console());
        let mut evidence = vec![runtime_line(runtime)];
        if let Some(answer) = &restart.answer {
            evidence.push(format!("channels.start answered: {}", answer_words(answer)));
        }
        draft.evidence = evidence;
        self.render(NoticeKind::ChannelRestarted, Severity::Warning, draft)
    }
}

fn trouble_word(trouble: Trouble) -> &'static str {
    match trouble {
        Trouble::Conflict => "blocked",
        Trouble::Stopped => "stopped",
    }
}

/// What `channels.status` said of the account, from its status fields only (never its error text).
fn runtime_line(r: &ChannelRuntime) -> String {
    let mut line = format!(
        "channels.status: {} ({}) lifecycle {}",
        r.channel,
        r.account,
        r.lifecycle.map_or("none", |l| l.as_str())
    );
    if let Some(health) = &r.health_state {
        line.push_str(&format!(", health {health}"));
    }
    if let Some(status) = r.disconnect_status {
        line.push_str(&format!(", last disconnect status {status}"));
    }
    if r.terminal_disconnect {
        line.push_str(", terminal disconnect");
    }
    line
}

fn answer_words(answer: &ChannelStart) -> String {
    match answer {
        ChannelStart::Started { outcome } => format!("started ({outcome})"),
        ChannelStart::NotStarted { why } => format!("not started ({why})"),
        ChannelStart::NotHere => "not asked".into(),
    }
}
