//! The texts of the gateway's own notices (down, crash loop, paused, recovered, reminder,
//! deployment failed), from the incident as the state holds it: counts and durations from the
//! incident's first signal, a snapshot claimed only when one was requested and can be taken, and
//! no internal id. Layout and rules: [`crate::watch::notice`].

use super::{Planner, as_i64};
use crate::watch::notice::{
    Clock, Commands, Draft, Notice, NoticeKind, Severity, Status, Step, TaskRef, Verdict, When, evidence_lines,
    format_span, is_task_arn, stop_summary,
};
use crate::watch::signal::{StopEvidence, short_task_id};

/// How long `clawkeeper silence` in a reminder mutes: a night.
const SILENCE_MINUTES: u64 = 8 * 60;

impl Planner<'_> {
    /// Command builders for this gateway and deployment.
    pub(super) fn cmds(&self) -> Commands<'_> {
        Commands::new(self.gw, &self.cfg.notices)
    }

    /// Now, in the owner's zone.
    pub(super) fn clock(&self) -> Clock<'_> {
        Clock {
            now: self.now,
            zone: self.cfg.owner_timezone.as_deref(),
        }
    }

    /// Renders a draft about this gateway.
    pub(super) fn render(&self, kind: NoticeKind, severity: Severity, draft: Draft) -> Notice {
        Notice::render(kind, severity, &self.gw.id, draft, &self.clock())
    }

    /// The running task for ECS Exec, when clawkeeper knows it.
    pub(super) fn running_task(&self) -> TaskRef {
        match &self.s.running {
            Some(r) => TaskRef::Id(short_task_id(&r.task_arn).to_owned()),
            None => TaskRef::Lookup,
        }
    }

    /// "requested a snapshot of the state": only when the incident asked for one and a snapshot
    /// function is configured to take it (without one, requests are logged and skipped).
    fn snapshot_words(&self) -> Option<&'static str> {
        let requested = self.s.incident.as_ref().is_some_and(|i| i.snapshots_requested > 0);
        (requested && self.cfg.notices.snapshot_function.is_some())
            .then_some("requested a snapshot of the state (the files are quiet now)")
    }

    fn last_evidence(&self) -> Option<StopEvidence> {
        self.s.incident.as_ref().and_then(|i| i.evidence.last().cloned())
    }

    fn stops_words(&self) -> String {
        let n = self.s.incident.as_ref().map_or(0, |i| i.stops);
        format!("{n} unexpected stop{}", if n == 1 { "" } else { "s" })
    }

    /// Why it stopped, its logs, where it stands: the steps of a gateway that stopped.
    fn stop_steps(&self, last: Option<&StopEvidence>, resume: bool) -> Vec<Step> {
        let cmds = self.cmds();
        let mut steps = Vec::new();
        if let Some(logs) = cmds.logs("1h", None) {
            steps.push(Step::run("Read why it stopped in its log:", logs));
        }
        if let Some(describe) = last.and_then(|e| cmds.describe_task(&e.task_arn)) {
            steps.push(Step::run(
                "The stopped task as ECS saw it (kept about an hour):",
                describe,
            ));
        }
        if resume {
            steps.push(Step::run("Once fixed, start it now:", cmds.clawkeeper("resume", "")));
        } else {
            steps.push(Step::run("Where it stands:", cmds.clawkeeper("status", "")));
        }
        steps
    }

    /// When the open incident's gateway went down and why; now and no cause without one.
    fn incident_since_and_cause(&self) -> (i64, String) {
        self.s
            .incident
            .as_ref()
            .map(|i| (i.down_since, i.cause.clone()))
            .unwrap_or((self.now, String::new()))
    }

    /// `gateway_down`, once the grace is over and nothing runs.
    pub(super) fn down_notice_text(&self) -> Notice {
        let cmds = self.cmds();
        let (since, cause) = self.incident_since_and_cause();
        let last = self.last_evidence();
        let span = format_span(self.now.saturating_sub(since));
        let no_task = last.as_ref().is_none_or(|e| !is_task_arn(&e.task_arn));
        let restartable =
            !self.is_standalone() || self.s.last_task.as_ref().is_some_and(|t| t.task_definition.is_some());
        let mut done: Vec<&str> = self.snapshot_words().into_iter().collect();
        let (headline, verdict, happened) = if no_task {
            done.push("opened an incident; it cannot make ECS start a task");
            (
                format!("not running for {span}, ECS starts no task"),
                Verdict::Act("ECS is not starting a new task; its service events say why.".into()),
                format!(
                    "Gateway {} is not running: {}.",
                    self.gw.id,
                    last.as_ref()
                        .and_then(|e| e.stopped_reason.clone())
                        .unwrap_or(cause.clone())
                ),
            )
        } else {
            let summary = last.as_ref().and_then(stop_summary).unwrap_or_else(|| cause.clone());
            let verdict = if self.is_standalone() && restartable {
                done.push("started a new task with the same task definition (RunTask)");
                Verdict::Wait(
                    "clawkeeper started a new task; you hear when it runs again, or if it keeps crashing.".into(),
                )
            } else if self.is_standalone() {
                Verdict::Act("start it again: clawkeeper does not know its task definition.".into())
            } else {
                done.push("watching ECS start a replacement (and for a crash loop)");
                Verdict::Wait(
                    "ECS is starting a replacement; you hear when it runs again, or if it keeps crashing.".into(),
                )
            };
            // With a grace under a minute, "not back after 0 s" would say nothing.
            let after = if self.now.saturating_sub(since) >= 60 {
                format!(" after {span}")
            } else {
                String::new()
            };
            let not_back = if after.is_empty() {
                String::new()
            } else {
                format!(", not back{after}")
            };
            (
                format!("stopped ({summary}){not_back}"),
                verdict,
                format!(
                    "Gateway {} stopped unexpectedly ({cause}) and is not running again{after}.",
                    self.gw.id
                ),
            )
        };
        let mut steps = Vec::new();
        if no_task && let Some(events) = cmds.service_events() {
            steps.push(Step::run("See why ECS starts no task:", events));
        }
        steps.extend(self.stop_steps(last.as_ref(), false));
        let mut draft = Draft::new(Status::Down, headline, verdict, happened);
        draft.when = Some(When::Since(since));
        draft.done = Some(done.join("; ") + ".");
        draft.steps = steps;
        draft.link = Some(cmds.ecs_console());
        draft.evidence = last.as_ref().map(evidence_lines).unwrap_or_default();
        self.render(NoticeKind::GatewayDown, Severity::Critical, draft)
    }

    /// `crash_loop`: `stops` are the fast stops that made it, oldest first; `plan` what the backoff does.
    pub(super) fn crash_loop_text(&self, stops: &[StopEvidence], first_at: i64, last_at: i64, plan: &str) -> Notice {
        let n = stops.len();
        let span = format_span(last_at.saturating_sub(first_at));
        let last = stops.last();
        let summary = last
            .and_then(stop_summary)
            .map(|s| format!(", the last with {s}"))
            .unwrap_or_default();
        let mut done = plan.trim_end_matches('.').to_string();
        if let Some(words) = self.snapshot_words() {
            done.push_str(&format!("; {words}"));
        }
        let mut draft = Draft::new(
            Status::Down,
            format!("crash loop, {n} stops in {span}"),
            Verdict::Act("find why it keeps crashing (its log below); clawkeeper retries with growing pauses.".into()),
            format!(
                "Gateway {} stopped {n} times in {span}, each time after less than {} of running{summary}.",
                self.gw.id,
                format_span(as_i64(self.cfg.crash_loop_max_runtime_secs)),
            ),
        );
        draft.when = Some(When::Since(first_at));
        draft.done = Some(done + ".");
        draft.steps = self.stop_steps(last, true);
        draft.link = Some(self.cmds().log_console());
        // One line per stop, then the last stop in full: the pattern, then the detail.
        let mut evidence: Vec<String> = stops
            .iter()
            .filter_map(|e| evidence_lines(e).into_iter().next())
            .collect();
        if let Some(last) = last {
            evidence.extend(evidence_lines(last).into_iter().skip(1));
        }
        draft.evidence = evidence;
        self.render(NoticeKind::CrashLoop, Severity::Critical, draft)
    }

    /// `backoff_paused`: out of restarts, it stays paused.
    pub(super) fn backoff_paused_text(&self, tries: u32) -> Notice {
        let since = self.s.incident.as_ref().map_or(self.now, |i| i.down_since);
        let last = self.last_evidence();
        let mut draft = Draft::new(
            Status::Paused,
            "kept crashing, restarts stopped",
            Verdict::Act("fix why it crashes, then start it: clawkeeper no longer restarts it.".into()),
            format!(
                "Gateway {} crashed again after {tries} restarts under backoff: {} in {}.",
                self.gw.id,
                self.stops_words(),
                format_span(self.now.saturating_sub(since))
            ),
        );
        draft.when = Some(When::Since(since));
        draft.done = Some(format!("{} and stopped restarting it.", self.pause_words()));
        draft.steps = self.stop_steps(last.as_ref(), true);
        draft.link = Some(self.cmds().log_console());
        draft.evidence = last.as_ref().map(evidence_lines).unwrap_or_default();
        self.render(NoticeKind::BackoffPaused, Severity::Critical, draft)
    }

    /// `recovered`: the incident the owner was told about is over.
    pub(super) fn recovered_text(&self, why: &str) -> Notice {
        let cmds = self.cmds();
        let (since, cause, crash_loop) = self
            .s
            .incident
            .as_ref()
            .map(|i| (i.down_since, i.cause.clone(), i.crash_loop))
            .unwrap_or((self.now, String::new(), false));
        let span = format_span(self.now.saturating_sub(since));
        let verdict = if crash_loop {
            // OpenClaw's crash-loop breaker (3 unclean boots in 5 min) holds channel autostart and
            // releases it after 5 clean minutes; the backoff reset waits longer than that. A relink
            // now would only destroy a good session.
            "it runs again. Channels held by OpenClaw's crash-loop breaker start by themselves; do not relink."
        } else if self.gw.log_group.is_some() {
            "it runs again; clawkeeper tells you if a channel does not reconnect by itself."
        } else {
            "it runs again."
        };
        let mut steps = vec![Step::run("Where it stands:", cmds.clawkeeper("status", ""))];
        if crash_loop {
            steps.push(Step::run(
                "See that its channels are connected (ECS Exec, needs the Session Manager plugin):",
                cmds.exec(&self.running_task(), &["channels", "status", "--probe"]),
            ));
            steps = crate::watch::notice::with_task_lookup(&cmds, &self.running_task(), steps);
        }
        let mut draft = Draft::new(
            Status::Up,
            format!("running again, was down {span}"),
            Verdict::Wait(verdict.into()),
            format!(
                "Gateway {} was down or unstable for {span}: {cause}, {}.",
                self.gw.id,
                self.stops_words()
            ),
        );
        draft.when = Some(When::Since(since));
        draft.done = Some(format!("closed the incident: {why}."));
        draft.steps = steps;
        draft.link = Some(cmds.ecs_console());
        self.render(NoticeKind::Recovered, Severity::Info, draft)
    }

    /// `reminder`: the incident is still open.
    pub(super) fn reminder_text(&self) -> Notice {
        let cmds = self.cmds();
        let (since, cause) = self.incident_since_and_cause();
        let span = format_span(self.now.saturating_sub(since));
        let b = &self.s.backoff;
        let (status, headline, verdict, resume) = if self.s.owner_paused {
            (
                Status::Paused,
                format!("still paused after {span}"),
                Verdict::Act("resume it when you are ready: clawkeeper does not restart a paused gateway.".into()),
                true,
            )
        } else if b.escalated {
            (
                Status::Paused,
                format!("still paused after {span}"),
                Verdict::Act("fix why it crashes, then resume it: clawkeeper stopped restarting it.".into()),
                true,
            )
        } else if self.s.start_refusals.paused_at.is_some() {
            (
                Status::Paused,
                format!("still paused after {span}"),
                Verdict::Act(
                    "fix why OpenClaw refuses to start, then resume it: clawkeeper paused it after it refused twice."
                        .into(),
                ),
                true,
            )
        } else if let Some(at) = b.resume_at {
            (
                Status::Down,
                format!("still crash-looping after {span}"),
                Verdict::Act(format!(
                    "find why it crashes; clawkeeper retries at {}.",
                    self.clock().at(at)
                )),
                true,
            )
        } else if let Some(running) = &self.s.running {
            (
                Status::Warning,
                format!("unstable for {span}"),
                Verdict::Wait(format!(
                    "it runs again since {}; the incident closes after {} of healthy running.",
                    self.clock().at(running.seen_at),
                    format_span(as_i64(self.cfg.backoff_reset_secs))
                )),
                false,
            )
        } else {
            (
                Status::Down,
                format!("still down after {span}"),
                Verdict::Act("find out why ECS does not bring it back.".into()),
                false,
            )
        };
        let last = self.last_evidence();
        let mut steps = self.stop_steps(last.as_ref(), resume);
        // An hour on, ECS has forgotten the stopped task: no describe-tasks that would find nothing.
        steps.retain(|s| !s.commands.iter().any(|c| c.contains(" describe-tasks ")));
        steps.push(Step::run(
            format!(
                "To mute all of its notices for {} (reminders included):",
                format_span(as_i64(SILENCE_MINUTES * 60))
            ),
            cmds.clawkeeper("silence", &format!(" --minutes {SILENCE_MINUTES}")),
        ));
        let mut draft = Draft::new(
            status,
            headline,
            verdict,
            format!("Gateway {}: {cause}, {} in {span}.", self.gw.id, self.stops_words()),
        );
        draft.when = Some(When::Since(since));
        draft.done = Some(self.status_words());
        draft.steps = steps;
        draft.link = Some(cmds.ecs_console());
        draft.evidence = last
            .as_ref()
            .and_then(|e| evidence_lines(e).into_iter().next())
            .into_iter()
            .collect();
        self.render(NoticeKind::Reminder, Severity::Warning, draft)
    }

    /// What clawkeeper is doing about the open incident, for a reminder.
    pub(super) fn status_words(&self) -> String {
        let b = &self.s.backoff;
        if self.s.owner_paused {
            "the owner paused it; it does not restart it.".into()
        } else if b.escalated {
            format!("out of restarts after {} tries: it stays paused.", b.tries)
        } else if self.s.start_refusals.paused_at.is_some() {
            "OpenClaw refused to start twice in a row: it stays paused until you resume it.".into()
        } else if let Some(at) = b.resume_at {
            format!("backing off: next restart at {}.", self.clock().at(at))
        } else {
            "watching: ECS restarts it, and clawkeeper backs off if it keeps crashing.".into()
        }
    }

    /// `deployment_failed`.
    pub(super) fn deployment_failed_text(&self, id: &str, reason: Option<&str>) -> Notice {
        let cmds = self.cmds();
        let mut draft = Draft::new(
            Status::Warning,
            "deployment failed, ECS rolls back",
            Verdict::Act(
                "fix the new version before deploying it again. ECS rolls back to the last working one when the \
                 deployment circuit breaker's rollback is on (the template's is)."
                    .into(),
            ),
            format!(
                "ECS deployment {id} of gateway {} failed{}.",
                self.gw.id,
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            ),
        );
        draft.when = Some(When::At(self.now));
        draft.done = Some("nothing: ECS handles the rollback; clawkeeper keeps watching the tasks.".into());
        let mut steps = Vec::new();
        if let Some(events) = cmds.service_events() {
            steps.push(Step::run("See what ECS says about it:", events));
        }
        if let Some(logs) = cmds.logs("1h", None) {
            steps.push(Step::run("Read why the new tasks stopped:", logs));
        }
        steps.push(Step::run("Where it stands:", cmds.clawkeeper("status", "")));
        draft.steps = steps;
        draft.link = Some(cmds.ecs_console());
        self.render(NoticeKind::DeploymentFailed, Severity::Warning, draft)
    }
}
