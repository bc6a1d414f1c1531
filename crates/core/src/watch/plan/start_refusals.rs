//! Refused starts (ARCHITECTURE.md section 4): the gateway container exited 78 because OpenClaw
//! will not take its state over ([`crate::watch::start_refusal`]).
//!
//! - A refusal is unexpected but no crash: it opens (or extends) an incident, restarts nothing
//!   (ECS's service scheduler starts the next task by itself; a standalone task stays stopped, since
//!   a new one would meet the same state) and counts toward no crash loop.
//! - One `start_refused` notice per run of refusals (once per incident, unless the owner resumed in
//!   between), critical, with the cause when the gateway's log gave it and the steps for each
//!   cause. With a log group it waits up to [`LOG_WAIT_SECS`] for the log line, which `log-alerts`
//!   may deliver after the stop event.
//! - [`REFUSALS_TO_PAUSE`] refusals in a row pause the service (desired count 0, the owner's pause
//!   action) and the state says why; nothing restarts it until `resume`, which forgets the count. A
//!   task running healthy for `backoff_reset_secs` ends the run (and the pause) too.

use super::{Planner, as_i64};
use crate::watch::notice::{
    Draft, Notice, NoticeKind, RunNetwork, Severity, Status, Step, Verdict, When, evidence_lines,
};
use crate::watch::signal::{StopCause, TaskStop, short_task_id};
use crate::watch::start_refusal::{REFUSALS_TO_PAUSE, StartRefusalCause, StartRefusalLine};
use crate::watch::state::{LoggedRefusal, MAX_EVIDENCE, StartRefusals};

/// How long the notice waits for the log line that gives the cause: CloudWatch Logs delivers a
/// subscription within seconds, ECS's STOPPED event comes a while after the exit.
pub const LOG_WAIT_SECS: i64 = 60;
/// Slack around a refused task's run for its log lines: log and ECS clocks, and the lines printed
/// as the process exits, after ECS noted the stop.
const LOG_SLACK_SECS: i64 = 60;
/// How far back a refusal line may lie when ECS gives no start time.
const LOG_LOOKBACK_SECS: i64 = 900;
/// Lines this close together come from one refusal: OpenClaw prints the migration headline and the
/// writer detail under it as separate log events.
const SAME_REFUSAL_SECS: i64 = 30;
/// OpenClaw's own repair for a migration it refused, run as a one-off task without prompts
/// (docs/cli/doctor/running.md: `--fix --non-interactive` applies the migrations that block startup).
const DOCTOR: &[&str] = &["openclaw", "doctor", "--fix", "--non-interactive"];

impl Planner<'_> {
    /// A task whose gateway container exited 78.
    pub(super) fn start_refused(&mut self, stop: &TaskStop) {
        let arn = stop.task.task_arn.clone();
        let id = short_task_id(&arn).to_owned();
        if self.held() {
            // ECS's last task going away after the pause, or the owner's pause: nothing to count.
            self.note(format!(
                "task {id} refused to start (exit 78) while the gateway is paused"
            ));
            return;
        }
        let seen = self.s.start_refusals.last_task.as_deref() == Some(arn.as_str())
            || self
                .s
                .incident
                .as_ref()
                .is_some_and(|i| i.evidence.iter().any(|e| e.task_arn == arn));
        if seen {
            // The same stop again (its version fell out of the bounded map): nothing new.
            return;
        }
        let at = stop.evidence.stopped_at.unwrap_or(self.now).min(self.now);
        self.open_incident(at, &StopCause::StartRefused.label());
        if let Some(incident) = self.s.incident.as_mut() {
            incident.stops = incident.stops.saturating_add(1);
            incident.evidence.push(stop.evidence.clone());
            if incident.evidence.len() > MAX_EVIDENCE {
                incident.evidence.remove(0);
            }
            // The start_refused notice says it is down; a gateway_down after it would only repeat it.
            incident.down_due_at = None;
        }
        let refusals = &mut self.s.start_refusals;
        refusals.count = refusals.count.saturating_add(1);
        if refusals.count == 1 {
            refusals.first_task = Some(arn.clone());
        }
        refusals.last_task = Some(arn);
        refusals.last_started_at = stop.task.started_at;
        refusals.last_stopped_at = Some(at);
        let count = refusals.count;
        let cause = self.refusal_cause();
        // No snapshot request, unlike a crash: OpenClaw refuses before it writes (a startup that
        // will refuse stays side-effect-free), and with another writer the files are not quiet.
        self.note(format!(
            "task {id} refused to start (exit 78){}: nothing restarted, no crash counted",
            cause
                .map(|c| format!(", its log says {}", c.describe()))
                .unwrap_or_default()
        ));
        // A standalone task stays stopped: clawkeeper would be the one to restart it, and a new task
        // meets the same state. That is a pause already; record it as one.
        if count >= REFUSALS_TO_PAUSE || self.is_standalone() {
            self.pause_for_refusals(&id, count, cause);
        }
        if count == 1
            && let Some(incident) = self.s.incident.as_mut()
        {
            let waits = self.gw.log_group.is_some() && cause.is_none();
            incident.start_refused_due_at = Some(if waits {
                self.now.saturating_add(LOG_WAIT_SECS)
            } else {
                self.now
            });
        }
    }

    fn pause_for_refusals(&mut self, task_id: &str, count: u32, cause: Option<StartRefusalCause>) {
        let why = format!(
            "OpenClaw refused to start {} in a row (exit 78){}",
            times(count),
            cause.map(|c| format!(": {}", c.describe())).unwrap_or_default()
        );
        self.s.start_refusals.paused_at = Some(self.now);
        self.s.start_refusals.paused_why = Some(why.clone());
        // A backoff restart due later would start it again: the pause replaces it.
        self.s.backoff.resume_at = None;
        if let Some(kind) = self.pause_action("paused by clawkeeper: OpenClaw refused to start") {
            let key = self.key(&format!("start-refused/{task_id}/pause"));
            self.push(key, kind);
        }
        self.note(format!("paused the gateway: {why}"));
    }

    /// A refusal line of the gateway's log: kept, so the stop it belongs to (planned before or
    /// after) knows its cause.
    pub(super) fn start_refusal_logged(&mut self, line: &StartRefusalLine) {
        let replace = match self.s.start_refusals.logged {
            None => true,
            // One refusal prints a migration headline over the writer detail: the writer is the cause.
            Some(known) if (line.at - known.at).abs() <= SAME_REFUSAL_SECS => {
                line.cause == StartRefusalCause::AnotherWriter || known.cause == line.cause
            }
            // A line delivered late never replaces a newer refusal's.
            Some(known) => line.at > known.at,
        };
        if replace {
            self.s.start_refusals.logged = Some(LoggedRefusal {
                cause: line.cause,
                at: line.at,
            });
        }
        self.note(format!(
            "the gateway's log says OpenClaw refuses to start: {}",
            line.cause.describe()
        ));
    }

    /// Why the last refused task refused, when a log line of its run said so.
    pub(super) fn refusal_cause(&self) -> Option<StartRefusalCause> {
        let r = &self.s.start_refusals;
        let logged = r.logged?;
        let stopped = r.last_stopped_at?;
        let from = r
            .last_started_at
            .unwrap_or(stopped.saturating_sub(LOG_LOOKBACK_SECS))
            .saturating_sub(LOG_SLACK_SECS);
        (from <= logged.at && logged.at <= stopped.saturating_add(LOG_SLACK_SECS)).then_some(logged.cause)
    }

    /// The run of refusals is over (the owner resumed, or a task ran healthy): the next refusal is
    /// a first again. What the log said is kept: it is matched by time.
    pub(super) fn forget_start_refusals(&mut self, why: &str) {
        let r = &self.s.start_refusals;
        if r.count == 0 && r.paused_at.is_none() {
            return;
        }
        self.s.start_refusals = StartRefusals {
            logged: r.logged,
            ..StartRefusals::default()
        };
        if let Some(incident) = self.s.incident.as_mut() {
            incident.start_refused_due_at = None;
        }
        self.note(format!("refused starts forgotten: {why}"));
    }

    /// A task that has run healthy (as of now) ends a run of refusals and the pause it made. Run
    /// before an input too: a stop of that task, or an impaired service, then meets a gateway no
    /// longer held for refusals, as it would have a tick earlier.
    pub(super) fn refusals_end_with_a_healthy_run(&mut self) {
        let r = &self.s.start_refusals;
        let healthy = self
            .s
            .running
            .as_ref()
            .is_some_and(|run| self.now.saturating_sub(run.seen_at) >= as_i64(self.cfg.backoff_reset_secs));
        if (r.count > 0 || r.paused_at.is_some()) && healthy {
            self.forget_start_refusals("a task has run healthy since");
            if !self.s.backoff.active {
                self.close_incident("the gateway has run healthy since it last refused to start");
            }
        }
    }

    /// Time-driven: a healthy run ends the refusals; a waiting notice goes out once its cause is
    /// known, the wait is over, or the gateway is paused.
    pub(super) fn start_refusals_due(&mut self) {
        self.refusals_end_with_a_healthy_run();
        let Some(due) = self.s.incident.as_ref().and_then(|i| i.start_refused_due_at) else {
            return;
        };
        let ready = due <= self.now || self.refusal_cause().is_some() || self.s.start_refusals.paused_at.is_some();
        if !ready {
            return;
        }
        let notice = self.start_refused_text();
        let first = self.s.start_refusals.first_task.clone().unwrap_or_default();
        let key = self.key(&format!("start-refused/{}", short_task_id(&first)));
        if let Some(incident) = self.s.incident.as_mut() {
            incident.start_refused_due_at = None;
            incident.start_refused_notified = true;
        }
        self.notify(key, notice);
    }

    /// `start_refused`: what happened, the cause if the log gave it, what to do about each cause.
    pub(super) fn start_refused_text(&self) -> Notice {
        let cmds = self.cmds();
        let cause = self.refusal_cause();
        let r = &self.s.start_refusals;
        let paused = r.paused_at.is_some();
        let since = self.s.incident.as_ref().map_or(self.now, |i| i.down_since);
        let last = self.s.incident.as_ref().and_then(|i| i.evidence.last().cloned());
        let standalone = self.is_standalone();

        let what = match cause {
            Some(StartRefusalCause::AnotherWriter) => ": another writer owns its state",
            Some(StartRefusalCause::UnsafeMigration) => ": unsafe state migration",
            None => "",
        };
        let (status, headline) = if paused && !standalone {
            (
                Status::Paused,
                format!("refused to start {}, paused{what}", times(r.count)),
            )
        } else {
            (Status::Down, format!("refused to start (exit 78){what}"))
        };
        let verdict = Verdict::Act(match cause {
            Some(StartRefusalCause::AnotherWriter) => {
                "stop the other writer of its state: OpenClaw does not start while another one owns it.".into()
            }
            Some(StartRefusalCause::UnsafeMigration) => {
                "run OpenClaw's doctor on its state: OpenClaw does not start until its state migration can run safely."
                    .into()
            }
            None => "find in its log why OpenClaw refused to start (another writer of its state, or a state migration \
                     that cannot run safely) and fix that."
                .into(),
        });
        let why = match (cause, &self.gw.log_group) {
            (Some(c), _) => format!(" because {} (its log says so)", c.describe()),
            (None, Some(_)) => {
                "; the cause is not known from the logs (no refusal line of it reached clawkeeper)".into()
            }
            (None, None) => "; the cause is not known from the logs (clawkeeper reads no log of it)".into(),
        };
        let again = if r.count > 1 {
            format!(", {} in a row", times(r.count))
        } else {
            String::new()
        };
        let happened = format!(
            "Gateway {} exited with code 78 at startup{again}: OpenClaw refused to start{why}. This is no crash: a \
             restart meets the same state and refuses again.",
            self.gw.id
        );
        let done = if standalone {
            "did not start a new task (it would refuse the same way); it stays stopped until you resume it.".to_string()
        } else if paused {
            format!(
                "{} after {} refused starts in a row; nothing restarts it until you resume it.",
                self.pause_words(),
                r.count
            )
        } else {
            "restarted nothing and counted no crash: ECS starts a new task by itself, and if that one refuses too, \
             clawkeeper pauses the service (desired count 0) until you resume it."
                .to_string()
        };

        let unknown = cause.is_none();
        // OpenClaw exits 78 for an invalid configuration too (run.ts, config-guard.ts): its lines
        // say so, and neither remedy below applies then.
        let also = if unknown {
            " (an invalid configuration makes it exit 78 too; those lines say so)"
        } else {
            ""
        };
        let mut steps = Vec::new();
        match cmds.logs("30m", None) {
            Some(logs) => steps.push(Step::run(
                format!("Read why it refused: the lines just before it exited{also}."),
                logs,
            )),
            None => steps.push(Step::say(format!(
                "Read why it refused in its container log (ECS console: the service's stopped tasks, Logs): the lines \
                 just before it exited{also}."
            ))),
        }
        if cause != Some(StartRefusalCause::UnsafeMigration) {
            steps.extend(self.writer_steps(unknown));
        }
        if cause != Some(StartRefusalCause::AnotherWriter) {
            steps.extend(self.migration_steps(unknown, paused || standalone));
        }
        steps.push(Step::run(
            "Once fixed, start it (this also forgets the refused starts):",
            cmds.clawkeeper("resume", ""),
        ));

        let mut draft = Draft::new(status, headline, verdict, happened);
        draft.when = Some(When::Since(since));
        draft.done = Some(done);
        draft.steps = steps;
        draft.link = Some(cmds.log_console());
        draft.evidence = last.as_ref().map(evidence_lines).unwrap_or_default();
        self.render(NoticeKind::StartRefused, Severity::Critical, draft)
    }

    /// Another writer: find it, stop it, and keep ECS from starting two.
    fn writer_steps(&self, unknown: bool) -> Vec<Step> {
        let cmds = self.cmds();
        let lead = if unknown {
            "If it says another gateway already owns this state directory: another task on the same file system \
             writes it. See which run, stop all but one"
        } else {
            "Another task on the same file system writes its state: see which run, stop all but one"
        };
        let mut commands = vec![cmds.list_running()];
        let text = match cmds.fix_limits() {
            Some(limits) => {
                commands.push(limits);
                format!("{lead}, and make deployments stop the old task before they start the new one:")
            }
            None => format!("{lead} (a gateway on the same state elsewhere counts too):"),
        };
        vec![
            Step { text, commands },
            Step::say(
                "If it says the state is externally supervised, a supervisor claimed it (openclaw database ownership \
                 claim): only gateways run with OPENCLAW_SUPERVISOR_MODE=external by that supervisor may write it.",
            ),
        ]
    }

    /// An unsafe migration: OpenClaw's doctor, once, on the same state with the same image, with
    /// nothing else running; or the newer build that wrote the state.
    fn migration_steps(&self, unknown: bool, stopped: bool) -> Vec<Step> {
        let cmds = self.cmds();
        let lead = if unknown {
            "If it says startup migrations did not complete (or it requires a migration):"
        } else {
            "Its state needs OpenClaw's doctor:"
        };
        let mut commands = Vec::new();
        if !stopped {
            commands.push(cmds.clawkeeper("pause", ""));
        }
        let first = if stopped { "run" } else { "pause it, then run" };
        let task_definition = self.s.last_task.as_ref().and_then(|t| t.task_definition.clone());
        let network = match (cmds.find_network(), &self.s.last_task) {
            (Some(lookup), _) => {
                commands.push(lookup);
                Some(RunNetwork::Lookup)
            }
            (None, Some(last)) => last
                .network
                .as_ref()
                .and_then(|n| n.subnet_id.clone())
                .map(|subnet| RunNetwork::Subnets(vec![subnet])),
            (None, None) => None,
        };
        let text = match (task_definition, network) {
            (Some(td), Some(network)) => {
                commands.push(cmds.run_once(&td, &network, DOCTOR));
                format!(
                    "{lead} {first} OpenClaw's doctor once on the same state with the same image, as a one-off \
                     task (its output goes to the same log):"
                )
            }
            _ => {
                commands.retain(|c| !c.starts_with("NET="));
                format!(
                    "{lead} {first} `{}` once as a one-off task of the gateway's task definition (ECS console: Run \
                     task, container override), on the same state:",
                    DOCTOR.join(" ")
                )
            }
        };
        vec![
            Step { text, commands },
            Step::run(
                "If it says a newer OpenClaw build wrote the state, deploy that build's image again instead, or \
                 restore a snapshot from before the update:",
                cmds.clawkeeper("snapshots", ""),
            ),
        ]
    }
}

/// `once`, `twice`, `3 times`.
fn times(n: u32) -> String {
    match n {
        1 => "once".into(),
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}

#[cfg(test)]
mod tests;
