//! The watchdog policy (ARCHITECTURE.md section 4): a pure, deterministic function from the
//! stored state, one input and the current time to the new state and the actions to execute.
//!
//! Rules, in short:
//! - expected stops open no incident; a RUNNING task closes the open incident, announcing recovery
//!   only if the owner was told it was down;
//! - an unexpected stop opens (or extends) an incident and requests a snapshot; the "down" notice
//!   waits `down_grace_secs` (delivered by a later input, usually the reconciler's tick);
//! - `crash_loop_stops` fast stops within the window declare a crash loop: notify at once, pause,
//!   resume after a doubling backoff, escalate after the last try and stay paused;
//! - a start OpenClaw refused (exit 78) is no crash: no restart, no backoff count, one
//!   `start_refused` notice; a second in a row pauses the service until the owner resumes it
//!   (`start_refusals.rs`);
//! - standalone gateways (no service to restart them) are restarted with `RunTask`;
//! - at most one notice per `min_notify_interval_secs`: the rest are held and folded into the next;
//!   silence mutes (but records) notices; nothing is ever restarted while the owner has paused.
//!
//! Every emitted action has an idempotency key derived from (gateway, incident, step), and a key
//! is never planned twice, so replays and duplicated events cannot restart or notify twice.

use super::action::{Action, ActionKind};
use super::notice::{self, Notice};
use super::signal::{Signal, StopCause, StopEvidence, TaskInfo, TaskStop, short_task_id};
use super::state::{
    GatewayState, HeldNotice, Incident, LastTask, MAX_EVIDENCE, MAX_RECENT_KEYS, MAX_RECENT_STOPS, MAX_TIMELINE, Phase,
    RunningTask, StopRecord, TimelineEntry,
};
use super::time::format_utc;
use crate::gateway::{Gateway, GatewayTarget};
use crate::policy_settings::PolicySettings;

/// What the policy reacts to.
// One value per event, moved once: boxing the signal would buy nothing but indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A parsed ECS event for this gateway.
    Signal(Signal),
    /// The reconciler's periodic tick (also run right after a signal): delivers due "down" notices,
    /// resumes after a backoff, resets a backoff after healthy time, sends reminders and held notices.
    Tick,
    /// The owner paused the gateway (`clawkeeper pause`): stop it and never restart it.
    OwnerPause,
    /// The owner resumed it (`clawkeeper resume`): start it and forget the backoff.
    OwnerResume,
    /// The owner muted notices until then (epoch seconds); a time in the past unmutes.
    Silence {
        /// Epoch seconds.
        until: i64,
    },
    /// An owner's request through `control`, recorded with who asked ([`owner`]).
    Owner(owner::OwnerInput),
    /// The reconciler's view of ECS, probes and snapshots (also runs the time-driven rules).
    Observed(super::health::Observation),
    /// A channel line of the gateway's log (`log-alerts`).
    Channel(super::health::ChannelSignal),
    /// A line of the gateway's log that says why OpenClaw refused to start (`log-alerts`).
    StartRefusalLogged(super::start_refusal::StartRefusalLine),
}

/// The outcome of [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The state to store; its `pending` outbox already contains `actions`.
    pub state: GatewayState,
    /// New actions to execute, in order.
    pub actions: Vec<Action>,
}

/// Decides what to do about `input` at `now` (epoch seconds). Pure and deterministic.
pub fn plan(state: &GatewayState, input: &Input, now: i64, settings: &PolicySettings, gateway: &Gateway) -> Plan {
    // Task events are ordered by version per task: a duplicate or older one changes nothing at all.
    if let Input::Signal(Signal::TaskRunning(task) | Signal::TaskStopped(TaskStop { task, .. })) = input
        && let Some(version) = task.version
        && state.seen_version(&task.task_arn).is_some_and(|seen| seen >= version)
    {
        return Plan {
            state: state.clone(),
            actions: Vec::new(),
        };
    }
    let mut p = Planner {
        s: state.clone(),
        actions: Vec::new(),
        now,
        cfg: settings,
        gw: gateway,
    };
    p.refusals_end_with_a_healthy_run();
    match input {
        Input::Signal(signal) => p.signal(signal),
        Input::Tick => {}
        Input::OwnerPause => p.owner_pause(),
        Input::OwnerResume => p.owner_resume(),
        Input::Silence { until } => {
            p.s.silence_until = (*until > now).then_some(*until);
            p.note(format!("owner silenced notices until {}", format_utc(*until)));
        }
        Input::Owner(request) => p.owner(request),
        Input::Observed(observation) => p.observed(observation),
        Input::Channel(signal) => p.channel(signal),
        Input::StartRefusalLogged(line) => p.start_refusal_logged(line),
    }
    // Time-driven rules run after every input, so a due step never waits for the next tick.
    p.due();
    p.finish()
}

struct Planner<'a> {
    s: GatewayState,
    actions: Vec<Action>,
    now: i64,
    cfg: &'a PolicySettings,
    gw: &'a Gateway,
}

impl Planner<'_> {
    fn signal(&mut self, signal: &Signal) {
        match signal {
            Signal::TaskRunning(task) => {
                self.record_version(task);
                self.task_running(task);
            }
            Signal::TaskStopped(stop) => {
                self.record_version(&stop.task);
                self.task_stopped(stop);
                self.hung_task_gone(&stop.task.task_arn);
            }
            Signal::ServiceSteady { .. } => self.note("ECS reports the service in steady state".into()),
            Signal::ServiceImpaired { event_name, at } => {
                let at = at.unwrap_or(self.now).min(self.now);
                let evidence = StopEvidence {
                    task_arn: format!("{event_name}@{at}"),
                    stop_code: Some(event_name.clone()),
                    stopped_reason: Some("ECS cannot start tasks for the service".into()),
                    containers: Vec::new(),
                    runtime_secs: None,
                    stopped_at: Some(at),
                };
                self.unexpected_stop(evidence, &StopCause::FailedToStart, None);
            }
            Signal::DeploymentStarted { deployment_id, reason } => {
                let id = deployment_id.clone().unwrap_or_else(|| format!("at-{}", self.now));
                self.note(format!(
                    "deployment {id} started{}",
                    reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                ));
                self.s.deployment = Some(id.clone());
                // Capture the state as it is before the new version touches it.
                let key = format!("{}/deploy/{id}/snapshot", self.gw.id);
                self.push(
                    key,
                    ActionKind::RequestSnapshot {
                        trigger: "deployment-started".into(),
                    },
                );
            }
            Signal::DeploymentCompleted { deployment_id } => {
                self.note(format!(
                    "deployment {} completed",
                    deployment_id.as_deref().unwrap_or("(unknown)")
                ));
                self.s.deployment = None;
            }
            Signal::DeploymentFailed { deployment_id, reason } => self.deployment_failed(deployment_id, reason),
        }
    }

    fn record_version(&mut self, task: &TaskInfo) {
        if let Some(v) = task.version {
            self.s.record_version(&task.task_arn, v, self.now);
        }
    }

    fn remember_task(&mut self, task: &TaskInfo) {
        let previous = self.s.last_task.take().unwrap_or_default();
        self.s.last_task = Some(LastTask {
            task_arn: task.task_arn.clone(),
            task_definition: task.task_definition.clone().or(previous.task_definition),
            network: task.network.clone().or(previous.network),
        });
    }

    fn task_running(&mut self, task: &TaskInfo) {
        self.remember_task(task);
        self.s.running = Some(RunningTask {
            task_arn: task.task_arn.clone(),
            task_definition: task.task_definition.clone(),
            started_at: task.started_at,
            seen_at: self.now,
            network: task.network.clone(),
        });
        self.note(format!("task {} is RUNNING", task.task_id()));
        if self.s.backoff.resume_at.is_some() && self.is_standalone() {
            // Someone started a task while we waited: a RunTask now would make two writers.
            self.s.backoff.resume_at = None;
            self.note("a task started while clawkeeper waited to restart: the restart is cancelled".into());
        }
        // Under crash-loop backoff the incident stays open until the task has run healthy for
        // `backoff_reset_secs`: otherwise a flapping gateway would alternate down and recovered.
        // The same after a refused start: every refused task reaches RUNNING before it exits 78.
        if self.s.incident.is_some() && !self.s.backoff.active && !self.held() && self.s.start_refusals.count == 0 {
            self.close_incident("the gateway is RUNNING again");
        }
    }

    fn task_stopped(&mut self, stop: &TaskStop) {
        self.remember_task(&stop.task);
        // One task per gateway: the stopped task was the running one, or the running record is
        // stale (a task that started no later than the stopped one must have stopped too). A
        // replacement that started later, seen first because of reordering, stays running.
        let stale = |r: &RunningTask| {
            r.task_arn == stop.task.task_arn
                || matches!((r.started_at, stop.task.started_at), (Some(a), Some(b)) if a <= b)
        };
        if self.s.running.as_ref().is_some_and(stale) {
            self.s.running = None;
        }
        if stop.cause.is_expected() {
            self.note(format!(
                "task {} stopped as expected: {}",
                stop.task.task_id(),
                stop.cause.label()
            ));
            return;
        }
        // It ran healthy before it stopped: earlier refused starts are no longer "in a row". A
        // refused task's own time RUNNING was spent starting (migrations can take minutes), not serving.
        if stop.cause != StopCause::StartRefused
            && stop
                .evidence
                .runtime_secs
                .is_some_and(|r| r >= as_i64(self.cfg.backoff_reset_secs))
        {
            self.forget_start_refusals("a task ran healthy before it stopped");
        }
        if stop.cause == StopCause::StartRefused {
            self.start_refused(stop);
            return;
        }
        self.unexpected_stop(stop.evidence.clone(), &stop.cause, Some(&stop.task.task_arn));
    }

    fn unexpected_stop(&mut self, evidence: StopEvidence, cause: &StopCause, task_arn: Option<&str>) {
        if self.held() {
            // The owner stopped it on purpose (or clawkeeper, after refused starts): whatever ECS
            // reports now opens no incident.
            self.note(format!("while paused: {}", cause.label()));
            return;
        }
        let arn = evidence.task_arn.clone();
        let already = self.s.recent_stops.iter().any(|r| r.task_arn == arn)
            || self
                .s
                .incident
                .as_ref()
                .is_some_and(|i| i.evidence.iter().any(|e| e.task_arn == arn));
        if already {
            // The same stop again (its version fell out of the bounded map): nothing new.
            return;
        }
        let at = evidence.stopped_at.unwrap_or(self.now).min(self.now);
        let runtime = evidence.runtime_secs.unwrap_or(0);
        let label = cause.label();
        self.open_incident(at, &label);
        if let Some(incident) = self.s.incident.as_mut() {
            incident.stops = incident.stops.saturating_add(1);
            incident.evidence.push(evidence.clone());
            if incident.evidence.len() > MAX_EVIDENCE {
                incident.evidence.remove(0);
            }
        }
        self.note(format!("task {} stopped unexpectedly: {label}", short_task_id(&arn)));
        if task_arn.is_some() {
            // The files are quiet now: the best moment for a consistent snapshot.
            let key = self.key(&format!("snapshot/{}", short_task_id(&arn)));
            let requested = self.push(
                key,
                ActionKind::RequestSnapshot {
                    trigger: "task-stopped".into(),
                },
            );
            if requested && let Some(incident) = self.s.incident.as_mut() {
                incident.snapshots_requested = incident.snapshots_requested.saturating_add(1);
            }
        }
        if self.s.backoff.active {
            // A crash loop is being handled: a stop of the task we restarted takes the next step.
            // A stop while we are paused (the scheduler's last task going away) takes none.
            if self.s.backoff.resume_at.is_none() && !self.s.backoff.escalated {
                self.backoff_step();
            }
            return;
        }
        self.s.recent_stops.push(StopRecord {
            at,
            runtime_secs: runtime,
            task_arn: arn.clone(),
            evidence,
        });
        self.prune_recent_stops();
        let fast = runtime < as_i64(self.cfg.crash_loop_max_runtime_secs);
        if fast && crash_loop_holds(&self.s.recent_stops, at, self.cfg) {
            self.declare_crash_loop();
        } else if self.is_standalone() {
            // No service restarts a standalone task: do what ECS would do for a service.
            let step = format!("restart/{}", short_task_id(task_arn.unwrap_or(&arn)));
            self.restart(&step, "restarted the standalone task (RunTask)");
        }
    }

    fn prune_recent_stops(&mut self) {
        // Stops come in nearly in order; twice the window leaves room for late deliveries.
        let horizon = self
            .now
            .saturating_sub(as_i64(self.cfg.crash_loop_window_secs).saturating_mul(2));
        self.s.recent_stops.retain(|r| r.at >= horizon);
        let excess = self.s.recent_stops.len().saturating_sub(MAX_RECENT_STOPS);
        self.s.recent_stops.drain(..excess);
    }

    fn declare_crash_loop(&mut self) {
        let stops = std::mem::take(&mut self.s.recent_stops);
        let first_at = stops.iter().map(|r| r.at).min().unwrap_or(self.now);
        let last_at = stops.iter().map(|r| r.at).max().unwrap_or(self.now);
        if let Some(incident) = self.s.incident.as_mut() {
            incident.crash_loop = true;
            incident.down_due_at = None;
            incident.cause = format!("crash loop ({} fast stops)", stops.len());
            // The stops before this incident opened (each closed by a RUNNING task, unannounced)
            // belong to the story: count them, start the incident at the first, keep their evidence.
            incident.down_since = incident.down_since.min(first_at);
            incident.stops = incident.stops.max(u32::try_from(stops.len()).unwrap_or(u32::MAX));
            let mut evidence: Vec<StopEvidence> = stops
                .iter()
                .map(|r| r.evidence.clone())
                .filter(|e| !incident.evidence.iter().any(|known| known.task_arn == e.task_arn))
                .collect();
            evidence.append(&mut incident.evidence);
            evidence.sort_by_key(|e| e.stopped_at.unwrap_or(i64::MAX));
            let excess = evidence.len().saturating_sub(MAX_EVIDENCE);
            evidence.drain(..excess);
            incident.evidence = evidence;
        }
        self.s.backoff = super::state::Backoff {
            active: true,
            ..Default::default()
        };
        self.note(format!(
            "crash loop declared after {} fast unexpected stops",
            stops.len()
        ));
        let plan_text = self.backoff_step();
        let evidence: Vec<StopEvidence> = stops.iter().map(|r| r.evidence.clone()).collect();
        let notice = self.crash_loop_text(&evidence, first_at, last_at, &plan_text);
        if let Some(incident) = self.s.incident.as_mut() {
            incident.crash_loop_notified = true;
        }
        let key = self.key("crash-loop");
        self.notify(key, notice);
    }

    /// Pauses and schedules the next resume, or escalates when out of tries. Returns what it did,
    /// in words for the notice.
    fn backoff_step(&mut self) -> String {
        if self.held() {
            return "The owner has paused the gateway: nothing restarted.".into();
        }
        let tries = self.s.backoff.tries;
        if tries >= self.cfg.backoff_max_tries {
            self.s.backoff.escalated = true;
            self.s.backoff.resume_at = None;
            self.pause(tries);
            self.note(format!("backoff used up after {tries} restarts: staying paused"));
            let notice = self.backoff_paused_text(tries);
            let key = self.key("backoff-paused");
            self.notify(key, notice);
            return "out of restarts: it stays paused until you resume it.".into();
        }
        let delay = backoff_delay(tries, self.cfg);
        let resume_at = self.now.saturating_add(delay);
        self.s.backoff.resume_at = Some(resume_at);
        self.pause(tries);
        self.note(format!(
            "backoff step {}: paused, restart at {}",
            tries + 1,
            format_utc(resume_at)
        ));
        format!(
            "{}; restart {} of {} at {} (in {}), the pause doubling up to {}.",
            self.pause_words(),
            tries + 1,
            self.cfg.backoff_max_tries,
            self.clock().at(resume_at),
            notice::format_span(delay),
            notice::format_span(as_i64(self.cfg.backoff_max_secs)),
        )
    }

    fn pause(&mut self, step: u32) {
        // A standalone task is already stopped and nothing restarts it: nothing to pause.
        if !self.is_standalone() {
            let key = self.key(&format!("backoff-{step}/pause"));
            self.push(key, ActionKind::SetDesiredCount { count: 0 });
        }
    }

    fn pause_words(&self) -> String {
        if self.is_standalone() {
            "did not restart the standalone task".into()
        } else {
            "paused the service (desired count 0)".into()
        }
    }

    /// Starts the gateway again: desired count 1 for a service, `RunTask` for a standalone task.
    fn restart(&mut self, step: &str, words: &str) -> bool {
        if self.held() {
            return false;
        }
        let kind = if self.is_standalone() {
            let Some(last) = self.s.last_task.clone() else {
                self.note("cannot restart: no task definition known for this standalone gateway".into());
                return false;
            };
            let Some(task_definition) = last.task_definition else {
                self.note("cannot restart: the last task's definition is unknown".into());
                return false;
            };
            ActionKind::RunTask {
                task_definition,
                subnets: last.network.and_then(|n| n.subnet_id).into_iter().collect(),
                security_groups: Vec::new(),
                assign_public_ip: false,
            }
        } else {
            ActionKind::SetDesiredCount { count: 1 }
        };
        let key = self.key(step);
        if self.push(key, kind) {
            self.note(words.to_owned());
        }
        true
    }

    fn deployment_failed(&mut self, deployment_id: &Option<String>, reason: &Option<String>) {
        let id = deployment_id.clone().unwrap_or_else(|| format!("at-{}", self.now));
        self.s.deployment = None;
        self.note(format!("deployment {id} failed"));
        let notice = self.deployment_failed_text(&id, reason.as_deref());
        let key = format!("{}/deploy/{id}/failed", self.gw.id);
        self.notify(key, notice);
    }

    fn owner_pause(&mut self) {
        self.s.owner_paused = true;
        self.s.backoff.resume_at = None;
        self.note("owner paused the gateway".into());
        if let Some(kind) = self.pause_action("paused by the owner with clawkeeper") {
            let key = format!("{}/owner/pause-{}", self.gw.id, self.owner_stamp());
            self.push(key, kind);
        }
    }

    /// What stops the gateway for a pause: desired count 0 for a service, `StopTask` of the running
    /// standalone task (`None`: a standalone gateway with nothing running is stopped already).
    fn pause_action(&self, reason: &str) -> Option<ActionKind> {
        match (&self.gw.target, &self.s.running) {
            (GatewayTarget::Service(_), _) => Some(ActionKind::SetDesiredCount { count: 0 }),
            (GatewayTarget::Standalone { .. }, Some(running)) => Some(ActionKind::StopTask {
                task_arn: running.task_arn.clone(),
                reason: reason.into(),
            }),
            (GatewayTarget::Standalone { .. }, None) => None,
        }
    }

    /// Paused by the owner, or by clawkeeper after refused starts: nothing is restarted.
    fn held(&self) -> bool {
        self.s.owner_paused || self.s.start_refusals.paused_at.is_some()
    }

    fn owner_resume(&mut self) {
        let was_paused = self.s.owner_paused || self.s.backoff.escalated || self.s.start_refusals.paused_at.is_some();
        self.s.owner_paused = false;
        self.s.backoff = Default::default();
        self.s.recent_stops.clear();
        // The owner fixed what made OpenClaw refuse (or wants to see it try): a refusal after this
        // is the first of a new run.
        self.forget_start_refusals("the owner resumed the gateway");
        self.note("owner resumed the gateway".into());
        if !was_paused && self.s.running.is_some() {
            return;
        }
        if self.is_standalone() && self.s.running.is_some() {
            return;
        }
        self.restart(
            &format!("owner/resume-{}", self.owner_stamp()),
            "started the gateway for the owner",
        );
    }

    /// Time-driven rules.
    fn due(&mut self) {
        let now = self.now;
        let b = &self.s.backoff;
        if b.active
            && !b.escalated
            && !self.held()
            && let Some(resume_at) = b.resume_at
            && resume_at <= now
        {
            let step = b.tries;
            self.s.backoff.resume_at = None;
            self.s.backoff.tries = step.saturating_add(1);
            if !self.restart(&format!("backoff-{step}/resume"), "restarted under backoff") {
                // A standalone gateway we cannot restart: the owner must act.
                self.s.backoff.escalated = true;
            }
        }
        let b = &self.s.backoff;
        if b.active
            && b.resume_at.is_none()
            && !b.escalated
            && self
                .s
                .running
                .as_ref()
                .is_some_and(|r| now.saturating_sub(r.seen_at) >= as_i64(self.cfg.backoff_reset_secs))
        {
            self.s.backoff = Default::default();
            self.note("healthy long enough: backoff reset".into());
            self.close_incident("the gateway has run healthy since the last restart");
        }
        self.start_refusals_due();
        self.channels_due();
        self.down_notice();
        self.reminder();
        self.deliver_held();
    }

    fn down_notice(&mut self) {
        let Some(incident) = &self.s.incident else { return };
        let due = incident.down_due_at.is_some_and(|t| t <= self.now);
        if !due || incident.down_notified || incident.crash_loop || self.s.running.is_some() {
            return;
        }
        let notice = self.down_notice_text();
        if let Some(incident) = self.s.incident.as_mut() {
            incident.down_notified = true;
        }
        let key = self.key("down");
        self.notify(key, notice);
    }

    fn reminder(&mut self) {
        let Some(incident) = &self.s.incident else { return };
        if !incident.owner_told() {
            return;
        }
        let sent = incident.reminders_sent;
        let Some(due) = reminder_due(incident.id, sent, &self.cfg.reminder_secs) else {
            return;
        };
        if due > self.now {
            return;
        }
        // Catch up without a burst: count every reminder already due, send one.
        let mut count = sent;
        while reminder_due(incident.id, count, &self.cfg.reminder_secs).is_some_and(|t| t <= self.now) {
            count = count.saturating_add(1);
            if count > sent.saturating_add(10_000) {
                break;
            }
        }
        let notice = self.reminder_text();
        let key = self.key(&format!("reminder-{sent}"));
        if let Some(incident) = self.s.incident.as_mut() {
            incident.reminders_sent = count;
        }
        self.notify(key, notice);
    }

    fn open_incident(&mut self, at: i64, cause: &str) {
        if self.s.incident.is_some() {
            return;
        }
        let id = self.now.max(self.s.last_incident_id.saturating_add(1));
        self.s.last_incident_id = id;
        self.s.incident = Some(Incident {
            id,
            cause: cause.to_owned(),
            down_since: at,
            down_due_at: Some(at.saturating_add(as_i64(self.cfg.down_grace_secs))),
            ..Default::default()
        });
    }

    fn close_incident(&mut self, why: &str) {
        let Some(incident) = &self.s.incident else { return };
        if incident.owner_told() {
            let notice = self.recovered_text(why);
            let key = self.key("recovered");
            self.notify(key, notice);
        }
        self.note(format!("incident closed: {why}"));
        self.s.incident = None;
    }

    /// Sends, holds (rate limit) or mutes (silence) a notice.
    fn notify(&mut self, key: String, notice: Notice) {
        if self.s.knows_key(&key) || self.s.held_notices.iter().any(|h| h.key == key) {
            return;
        }
        if self.muted() {
            self.note(format!("muted ({}): {}", notice.kind.as_str(), notice.subject));
            self.remember_key(key);
            return;
        }
        self.s.held_notices.push(HeldNotice {
            key,
            at: self.now,
            notice,
        });
        self.deliver_held();
    }

    fn muted(&self) -> bool {
        self.s.silence_until.is_some_and(|t| t > self.now)
    }

    fn rate_allows(&self) -> bool {
        match self.s.last_notice_at {
            // A clock that went backwards (now < last) also waits.
            Some(last) => self.now >= last && self.now - last >= as_i64(self.cfg.min_notify_interval_secs),
            None => true,
        }
    }

    fn deliver_held(&mut self) {
        if self.s.held_notices.is_empty() {
            return;
        }
        if self.muted() {
            for held in std::mem::take(&mut self.s.held_notices) {
                self.note(format!(
                    "muted ({}): {}",
                    held.notice.kind.as_str(),
                    held.notice.subject
                ));
                self.remember_key(held.key);
            }
            return;
        }
        if !self.rate_allows() {
            return;
        }
        let held = std::mem::take(&mut self.s.held_notices);
        let notices: Vec<Notice> = held.iter().map(|h| h.notice.clone()).collect();
        let (Some(folded), Some(last)) = (notice::fold(&notices), held.last()) else {
            return;
        };
        // The folded notice goes out under the newest key; the others are remembered as done.
        for h in &held[..held.len() - 1] {
            self.remember_key(h.key.clone());
        }
        self.note(format!("notified ({}): {}", folded.kind.as_str(), folded.subject));
        self.s.last_notice_at = Some(self.now);
        self.push(last.key.clone(), ActionKind::Notify(folded));
    }

    /// Plans an action unless its key was planned before. Returns whether it was planned.
    fn push(&mut self, key: String, kind: ActionKind) -> bool {
        if self.s.knows_key(&key) {
            return false;
        }
        let action = Action { key: key.clone(), kind };
        self.s.pending.push(action.clone());
        self.actions.push(action);
        self.remember_key(key);
        true
    }

    fn remember_key(&mut self, key: String) {
        self.s.recent_keys.push(key);
        let excess = self.s.recent_keys.len().saturating_sub(MAX_RECENT_KEYS);
        self.s.recent_keys.drain(..excess);
    }

    /// `<gateway>/<incident id>/<step>`; `-` for the incident when none is open.
    fn key(&self, step: &str) -> String {
        match &self.s.incident {
            Some(i) => format!("{}/{}/{step}", self.gw.id, i.id),
            None => format!("{}/-/{step}", self.gw.id),
        }
    }

    fn note(&mut self, what: String) {
        let Some(incident) = self.s.incident.as_mut() else {
            return;
        };
        incident.timeline.push(TimelineEntry { at: self.now, what });
        if incident.timeline.len() > MAX_TIMELINE {
            // Keep how it started and what happened last.
            incident.timeline.remove(10);
        }
    }

    fn is_standalone(&self) -> bool {
        matches!(self.gw.target, GatewayTarget::Standalone { .. })
    }

    fn finish(mut self) -> Plan {
        self.s.phase = derive_phase(&self.s);
        Plan {
            state: self.s,
            actions: self.actions,
        }
    }
}

fn derive_phase(s: &GatewayState) -> Phase {
    if s.owner_paused || s.backoff.escalated || s.start_refusals.paused_at.is_some() {
        Phase::Paused
    } else if s.backoff.resume_at.is_some() {
        Phase::Backoff
    } else if s.running.is_some() {
        if s.incident.is_some() || s.backoff.active {
            Phase::Degraded
        } else {
            Phase::Healthy
        }
    } else if s.incident.as_ref().is_some_and(|i| i.crash_loop) {
        Phase::CrashLoop
    } else if s.incident.is_some() {
        Phase::Down
    } else {
        Phase::Unknown
    }
}

/// The crash-loop rule: some window of `crash_loop_window_secs` containing the stop at `at` holds at
/// least `crash_loop_stops` stops that each ran less than `crash_loop_max_runtime_secs`.
pub fn crash_loop_holds(stops: &[StopRecord], at: i64, cfg: &PolicySettings) -> bool {
    let max_runtime = as_i64(cfg.crash_loop_max_runtime_secs);
    let mut times: Vec<i64> = stops
        .iter()
        .filter(|r| r.runtime_secs < max_runtime)
        .map(|r| r.at)
        .collect();
    times.sort_unstable();
    let n = (cfg.crash_loop_stops as usize).max(1);
    let window = as_i64(cfg.crash_loop_window_secs);
    times
        .windows(n)
        .any(|w| w[0] <= at && at <= w[n - 1] && w[n - 1] - w[0] <= window)
}

/// Pause before restart `tries + 1`: `backoff_initial_secs * 2^tries`, capped at `backoff_max_secs`.
pub fn backoff_delay(tries: u32, cfg: &PolicySettings) -> i64 {
    let factor = 1_u64.checked_shl(tries).unwrap_or(u64::MAX);
    as_i64(
        cfg.backoff_initial_secs
            .saturating_mul(factor)
            .min(cfg.backoff_max_secs),
    )
}

/// When reminder number `n` (0-based) of an incident opened at `opened` is due: the configured
/// offsets, then the last offset again every day.
pub fn reminder_due(opened: i64, n: u32, offsets: &[u64]) -> Option<i64> {
    let last = *offsets.last()?;
    let n = n as usize;
    let offset = match offsets.get(n) {
        Some(o) => as_i64(*o),
        None => as_i64(last).saturating_add(86_400_i64.saturating_mul((n - offsets.len() + 1) as i64)),
    };
    Some(opened.saturating_add(offset))
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub mod owner;

mod channel_recovery;
mod health_notices;
mod health_rules;
mod notices;
mod start_refusals;

#[cfg(test)]
mod catalog;
#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
