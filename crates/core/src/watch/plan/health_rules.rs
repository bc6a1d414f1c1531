//! Health rules of the policy (ARCHITECTURE.md section 4): what the reconciler observes and what
//! the channel log lines say, folded into the state like any other input.
//!
//! - ECS repair: a RUNNING task the state does not know is taken as started (closing a stale
//!   incident); the task the state thinks runs, seen STOPPED, is taken as stopped; a service with
//!   nothing running or starting while desired >= 1 and no incident open opens one (the "down"
//!   notice then waits `down_grace_secs` like any other).
//! - Hung: liveness failing `hung_probe_failures` times in a row while ECS says RUNNING stops the
//!   task (the service replaces it), once the task is past its startup (`/startupz` said started,
//!   or `startup_grace_secs` passed when it cannot be read: a slow start is not a hang). Only a probe that reached the gateway and got a wrong answer
//!   (or none within the timeout) is a failure; an unreachable probe or no probe at all is unknown
//!   and leaves the streak as it is (see [`ProbeOutcome`]): clawkeeper never stops what it cannot
//!   see. Hung stops count as fast unexpected stops for the crash-loop rule, and at most
//!   `crash_loop_stops - 1` are made within `crash_loop_window_secs`: the next one declares a crash
//!   loop and the backoff takes over.
//! - Channels: a terminal signal (logged out, conflict, creds cleared, Telegram 401) sends
//!   `relink_needed` at once; any other problem sends `channel_down` once it lasts
//!   `channel_grace_secs`; `Connected` closes the episode, with `recovered` only if something was sent.
//!   A 2026.9 conflict stop (the link kept) is no relink: with the admin RPC readable it is
//!   restarted (`channel_recovery.rs`, which also reads `channels.status` each pass), without it
//!   `channel_down` says how to start it.
//! - Single writer and snapshot freshness notify once per episode.
//! - A token `/readyz` rejected is recorded (never sent again) and notified once.

use super::{Planner, as_i64, crash_loop_holds};
use crate::watch::health::{
    ChannelEpisode, ChannelEvent, ChannelSignal, EcsObservation, MAX_CHANNEL_EPISODES, Observation, ObservedTask,
    ProbeOutcome, ProbeReport, ProbeStatus, SnapshotCheck, Startup, snapshot_is_stale,
};
use crate::watch::signal::{StopEvidence, TaskInfo, TaskNetwork, TaskStop, classify_stop, short_task_id};
use crate::watch::state::{MAX_EVIDENCE, StopRecord};
use crate::watch::time::format_utc;

impl Planner<'_> {
    pub(super) fn observed(&mut self, obs: &Observation) {
        if self.s.health.watching_since.is_none() {
            self.s.health.watching_since = Some(self.now);
        }
        if let Some(ecs) = &obs.ecs {
            self.reconcile_ecs(ecs);
        }
        if let Some(probe) = &obs.probe {
            self.probe(probe, obs.ecs.as_ref());
        }
        self.channel_runtimes(&obs.channels);
        self.snapshot_freshness(obs.snapshot);
        if let Some(failure) = &obs.snapshot_failure
            && self.s.health.snapshot_failure_key.as_deref() != Some(failure.key.as_str())
        {
            self.s.health.snapshot_failure_key = Some(failure.key.clone());
            let notice = self.snapshot_failed_text(failure);
            self.notify(failure.key.clone(), notice);
        }
    }

    fn reconcile_ecs(&mut self, ecs: &EcsObservation) {
        let count = u32::try_from(ecs.running.len()).unwrap_or(u32::MAX);
        self.s.health.running_tasks_seen = count;
        let limits_allow_two = ecs.limits.is_some_and(|l| {
            l.minimum_healthy_percent.is_some_and(|m| m > 0) || l.maximum_percent.is_some_and(|m| m > 100)
        });
        self.single_writer(count, limits_allow_two, ecs);

        let known = self.s.running.as_ref().map(|r| r.task_arn.clone());
        let state_task_runs = known
            .as_deref()
            .is_some_and(|arn| ecs.running.iter().any(|t| t.task_arn == arn));
        if let Some(arn) = &known
            && !state_task_runs
            && let Some(stopped) = ecs.stopped.iter().find(|t| &t.task_arn == arn)
        {
            // The stop event was missed (or is late): take it from ECS, with its evidence.
            self.note(format!(
                "reconciler: task {} is STOPPED in ECS (its event was missed)",
                short_task_id(arn)
            ));
            let stop = missed_stop(stopped, self.now);
            self.task_stopped(&stop);
            self.hung_task_gone(arn);
        }
        if !state_task_runs && let Some(task) = newest(&ecs.running) {
            self.note(format!(
                "reconciler: task {} is RUNNING in ECS (its event was missed)",
                short_task_id(&task.task_arn)
            ));
            self.task_running(&task_info(task));
        }
        if let Some(arn) = self.s.health.restart_after_stop.clone()
            && !ecs.running.iter().any(|t| t.task_arn == arn)
        {
            self.hung_task_gone(&arn);
        }

        let desired = ecs.desired.unwrap_or(0);
        let nothing_runs = ecs.running.is_empty() && ecs.pending == 0 && self.s.running.is_none();
        let backing_off = self.s.backoff.resume_at.is_some() || self.s.backoff.escalated;
        if desired >= 1 && nothing_runs && self.s.incident.is_none() && !self.held() && !backing_off {
            self.open_incident(
                self.now,
                "not running (found by the reconciler: no task running or starting)",
            );
            let evidence = StopEvidence {
                task_arn: format!("reconciler@{}", self.now),
                stop_code: None,
                stopped_reason: Some(format!(
                    "ECS shows no task running or starting while the desired count is {desired}"
                )),
                containers: Vec::new(),
                runtime_secs: None,
                stopped_at: Some(self.now),
            };
            self.add_evidence(evidence);
            self.note("reconciler: nothing runs although the service wants a task".into());
        }
    }

    fn add_evidence(&mut self, evidence: StopEvidence) {
        if let Some(incident) = self.s.incident.as_mut() {
            incident.evidence.push(evidence);
            if incident.evidence.len() > MAX_EVIDENCE {
                incident.evidence.remove(0);
            }
        }
    }

    /// A task stopped as hung is gone: a standalone gateway gets its replacement now.
    pub(super) fn hung_task_gone(&mut self, task_arn: &str) {
        if self.s.health.restart_after_stop.as_deref() != Some(task_arn) {
            return;
        }
        self.s.health.restart_after_stop = None;
        if self.s.backoff.active {
            // The backoff decides when to start again.
            return;
        }
        let step = format!("hung/{}/restart", short_task_id(task_arn));
        self.restart(&step, "started a new standalone task after stopping the hung one");
    }

    fn probe(&mut self, probe: &ProbeReport, ecs: Option<&EcsObservation>) {
        if let Some(version) = &probe.token_rejected
            && self.s.health.rejected_token_version.as_ref() != Some(version)
        {
            self.s.health.rejected_token_version = Some(version.clone());
            self.token_rejected(version);
        }
        self.probe_channels(probe);
        self.probe_status(probe);

        // Only a single task ECS says RUNNING can be hung; two are a single-writer problem.
        let task = ecs.and_then(|e| match e.running.as_slice() {
            [one] => Some(one),
            _ => None,
        });
        match (probe.outcome, task) {
            (Some(ProbeOutcome::Live), _) | (Some(ProbeOutcome::Failed), None) => {
                self.s.health.probe_failures = 0;
                self.s.health.probe_failing_since = None;
                self.s.health.probe_task = task.map(|t| t.task_arn.clone());
                if let Some(task) = task
                    && probe.startup == Some(Startup::Started)
                {
                    self.s.health.started_task = Some(task.task_arn.clone());
                }
            }
            // Unknown: nothing probed, or the gateway was never reached. A watchdog must not act on
            // what it cannot see, and an unknown is no evidence of health either: the streak stays
            // exactly as it was (not reset, not counted), and nothing is ever stopped for it.
            (Some(ProbeOutcome::Unreachable) | None, _) => {}
            (Some(ProbeOutcome::Failed), Some(task)) => {
                // A new task starts a new streak.
                if self.s.health.probe_task.as_deref() != Some(task.task_arn.as_str()) {
                    self.s.health.probe_task = Some(task.task_arn.clone());
                    self.s.health.probe_failures = 0;
                }
                // A gateway that is still starting may not serve yet: a slow start is not a hang.
                if !self.startup_done(task, probe.startup) {
                    return;
                }
                if self.s.health.probe_failures == 0 {
                    self.s.health.probe_failing_since = Some(self.now);
                }
                self.s.health.probe_failures = self.s.health.probe_failures.saturating_add(1);
                if self.s.health.probe_failures >= self.cfg.hung_probe_failures {
                    let failures = self.s.health.probe_failures;
                    let first_failed_at = self.s.health.probe_failing_since.take().unwrap_or(self.now);
                    self.s.health.probe_failures = 0;
                    let detail = probe.detail.clone().unwrap_or_else(|| "no valid answer".into());
                    self.hung(task, failures, first_failed_at, &detail);
                }
            }
        }
    }

    /// Whether `task` is past its startup, so a failed liveness probe counts toward hung.
    ///
    /// `/startupz` is OpenClaw's own word: `started` counts (and is remembered for the task, since
    /// a hung gateway stops answering `/startupz` too); `starting` and `draining` never count,
    /// unless the task has been starting for four times `startup_grace_secs` (stuck, not slow).
    /// Without a word (an older gateway, or no answer before it ever said started) the task's
    /// first `startup_grace_secs` do not count.
    fn startup_done(&mut self, task: &ObservedTask, startup: Option<Startup>) -> bool {
        let ran = task.started_at.map(|s| self.now.saturating_sub(s));
        let grace = as_i64(self.cfg.startup_grace_secs);
        match startup {
            Some(Startup::Started) => {
                self.s.health.started_task = Some(task.task_arn.clone());
                true
            }
            Some(Startup::Starting) => ran.is_some_and(|r| r >= grace.saturating_mul(4)),
            Some(Startup::Draining) => false,
            None => {
                self.s.health.started_task.as_deref() == Some(task.task_arn.as_str()) || ran.is_none_or(|r| r >= grace)
            }
        }
    }

    /// Keeps the probe mode and the last outcome for `status`. A new mode starts afresh (the last
    /// outcome of another way of probing says nothing about this one); `since` moves only when the
    /// outcome changes, so a steady gateway writes no new state.
    fn probe_status(&mut self, probe: &ProbeReport) {
        let mut status = match self.s.health.probe.take() {
            Some(status) if status.mode == probe.mode => status,
            _ => ProbeStatus {
                mode: probe.mode,
                ..ProbeStatus::default()
            },
        };
        match probe.outcome {
            None => status.reason = probe.detail.clone(),
            Some(outcome) => {
                status.reason = None;
                if status.last_outcome != Some(outcome) {
                    status.since = Some(self.now);
                    status.last_outcome = Some(outcome);
                }
                status.last_detail = probe.detail.clone();
                status.startup = probe.startup;
                status.ready = probe.ready;
                status.failing = probe.failing.clone();
            }
        }
        self.s.health.probe = Some(status);
    }

    fn hung(&mut self, task: &ObservedTask, failures: u32, first_failed_at: i64, detail: &str) {
        let arn = task.task_arn.clone();
        let id = short_task_id(&arn).to_owned();
        if self.held() {
            self.note(format!("task {id} looks hung, but the gateway is paused"));
            return;
        }
        if self.s.backoff.resume_at.is_some() || self.s.backoff.escalated {
            return;
        }
        let runtime = task.started_at.map(|s| self.now.saturating_sub(s));
        // No ECS stop code: ECS shows `UserInitiated` with clawkeeper's reason once it stops the task.
        let evidence = StopEvidence {
            task_arn: arn.clone(),
            stop_code: None,
            stopped_reason: Some(format!(
                "stopped by clawkeeper: the liveness probe failed {failures} times in a row since {}: {detail}",
                format_utc(first_failed_at)
            )),
            containers: Vec::new(),
            runtime_secs: runtime,
            stopped_at: Some(self.now),
        };
        let opened = self.s.incident.is_none();
        // Down since the first failed probe; the "down" notice still waits its grace from now, while
        // the replacement starts.
        self.open_incident(
            first_failed_at,
            "hung: the liveness probe kept failing while ECS said RUNNING",
        );
        if opened && let Some(incident) = self.s.incident.as_mut() {
            incident.down_due_at = Some(self.now.saturating_add(as_i64(self.cfg.down_grace_secs)));
        }
        if let Some(incident) = self.s.incident.as_mut() {
            incident.stops = incident.stops.saturating_add(1);
        }
        self.add_evidence(evidence.clone());
        self.note(format!(
            "task {id} is hung: {failures} failed liveness probes ({detail})"
        ));
        let stop = ActionStop {
            task_arn: arn.clone(),
            reason: format!("clawkeeper: liveness probe failed {failures} times in a row (hung)"),
        };
        if self.is_standalone() {
            // Nothing else stops a standalone task: stop it in any case, then restart or back off.
            self.push_stop(&id, &stop);
        }
        if self.s.backoff.active {
            // Under a crash-loop backoff, a hung restarted task is the next step (pause, wait).
            self.backoff_step();
            return;
        }
        let window = as_i64(self.cfg.crash_loop_window_secs);
        let now = self.now;
        self.s.health.hung_stops.retain(|t| now.saturating_sub(*t) <= window);
        self.s.recent_stops.push(StopRecord {
            at: now,
            runtime_secs: runtime.unwrap_or(0),
            task_arn: arn.clone(),
            evidence: evidence.clone(),
        });
        self.prune_recent_stops();
        let fast = runtime.unwrap_or(0) < as_i64(self.cfg.crash_loop_max_runtime_secs);
        let budget = (self.cfg.crash_loop_stops as usize).saturating_sub(1);
        if (fast && crash_loop_holds(&self.s.recent_stops, now, self.cfg)) || self.s.health.hung_stops.len() >= budget {
            // Out of restart budget: the crash-loop backoff pauses the service (which stops the task).
            if self.is_standalone() {
                self.s.health.restart_after_stop = None;
            }
            self.declare_crash_loop();
            return;
        }
        self.s.health.hung_stops.push(now);
        if self.is_standalone() {
            self.s.health.restart_after_stop = Some(arn.clone());
        } else {
            self.push_stop(&id, &stop);
        }
        let hung = Hung {
            task,
            failures,
            first_failed_at,
            detail,
            restarts: self.s.health.hung_stops.len(),
            budget,
        };
        let notice = self.hung_text(&hung);
        if let Some(incident) = self.s.incident.as_mut() {
            incident.hung_notified = true;
        }
        let key = self.key(&format!("hung/{id}"));
        self.notify(key, notice);
    }

    fn push_stop(&mut self, id: &str, stop: &ActionStop) {
        let key = self.key(&format!("hung/{id}/stop"));
        self.push(
            key,
            crate::watch::action::ActionKind::StopTask {
                task_arn: stop.task_arn.clone(),
                reason: stop.reason.clone(),
            },
        );
    }

    fn token_rejected(&mut self, version: &str) {
        let notice = self.token_rejected_text(version);
        let key = format!("{}/token-rejected/{version}", self.gw.id);
        self.notify(key, notice);
    }

    /// `/readyz` failing entries for channels open episodes; a ready answer closes those it opened.
    fn probe_channels(&mut self, probe: &ProbeReport) {
        let failing: Vec<(String, String)> = probe.failing.iter().filter_map(|f| failing_channel(f)).collect();
        for (channel, account) in &failing {
            if self.episode_index(channel, account).is_none() {
                self.open_episode(channel, account, self.now, true);
            }
        }
        if probe.ready == Some(true) || (probe.ready == Some(false) && !failing.is_empty()) {
            let healed: Vec<(String, String)> = self
                .s
                .health
                .channels
                .iter()
                .filter(|e| e.from_probe && !failing.contains(&(e.channel.clone(), e.account.clone())))
                .map(|e| (e.channel.clone(), e.account.clone()))
                .collect();
            for (channel, account) in healed {
                self.close_episode(&channel, &account, "/readyz no longer lists it as failing");
            }
        }
    }

    pub(super) fn channel(&mut self, signal: &ChannelSignal) {
        let account = signal.account.clone().unwrap_or_else(|| "default".into());
        let channel = signal.channel.to_ascii_lowercase();
        if signal.kind == ChannelEvent::Connected {
            self.close_episode(&channel, &account, "it is connected again");
            return;
        }
        let at = signal.at.min(self.now);
        let index = match self.episode_index(&channel, &account) {
            Some(i) => i,
            None => self.open_episode(&channel, &account, at, false),
        };
        let Some(episode) = self.s.health.channels.get_mut(index) else {
            return;
        };
        episode.from_probe = false;
        episode.last = Some(signal.kind);
        if signal.kind.is_terminal() {
            episode.terminal = true;
        }
        let relink_due = episode.terminal && !episode.relink_notified;
        let since = episode.since;
        self.note(format!("channel {channel} ({account}): {}", signal.kind.describe()));
        let two_tasks = signal.running_tasks.unwrap_or(0) > 1 || self.s.health.running_tasks_seen > 1;
        let conflict = matches!(
            signal.kind,
            ChannelEvent::Conflict | ChannelEvent::ConflictStopped | ChannelEvent::TelegramConflict
        );
        if conflict && two_tasks {
            let running = signal.running_tasks.unwrap_or(self.s.health.running_tasks_seen);
            self.single_writer_notice(running, false, None);
        }
        if relink_due {
            self.relink_notice(&channel, &account, since, signal, two_tasks);
        }
    }

    fn episode_index(&self, channel: &str, account: &str) -> Option<usize> {
        self.s
            .health
            .channels
            .iter()
            .position(|e| e.channel == channel && e.account == account)
    }

    fn open_episode(&mut self, channel: &str, account: &str, since: i64, from_probe: bool) -> usize {
        let channels = &mut self.s.health.channels;
        if channels.len() >= MAX_CHANNEL_EPISODES {
            // Forget the oldest: a gateway has a handful of accounts, this only bounds the item.
            channels.remove(0);
        }
        channels.push(ChannelEpisode {
            channel: channel.to_owned(),
            account: account.to_owned(),
            since,
            from_probe,
            ..Default::default()
        });
        channels.len() - 1
    }

    pub(super) fn close_episode(&mut self, channel: &str, account: &str, why: &str) {
        let Some(index) = self.episode_index(channel, account) else {
            return;
        };
        let episode = self.s.health.channels.remove(index);
        self.note(format!("channel {channel} ({account}) closed: {why}"));
        if !(episode.down_notified || episode.relink_notified) {
            return;
        }
        let notice = self.channel_recovered_text(&episode);
        let key = format!("{}/channel/{channel}/{account}/{}/recovered", self.gw.id, episode.since);
        self.notify(key, notice);
    }

    /// Channels down past their grace get one `channel_down` each.
    pub(super) fn channels_due(&mut self) {
        let grace = as_i64(self.cfg.channel_grace_secs);
        // A conflict stop is clawkeeper's to restart while it reads the admin RPC
        // (`channel_recovery.rs`): the owner hears only if that restart does not hold.
        let restarts_it = self.admin_rpc_read();
        let due: Vec<usize> = self
            .s
            .health
            .channels
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.down_notified && !e.terminal && self.now.saturating_sub(e.since) >= grace)
            .filter(|(_, e)| !(restarts_it && e.last == Some(ChannelEvent::ConflictStopped)))
            .map(|(i, _)| i)
            .collect();
        for index in due {
            let Some(episode) = self.s.health.channels.get_mut(index) else {
                continue;
            };
            episode.down_notified = true;
            let episode = episode.clone();
            let notice = self.channel_down_text(&episode);
            let key = format!(
                "{}/channel/{}/{}/{}/down",
                self.gw.id, episode.channel, episode.account, episode.since
            );
            self.notify(key, notice);
        }
    }

    fn relink_notice(&mut self, channel: &str, account: &str, since: i64, signal: &ChannelSignal, two_tasks: bool) {
        if let Some(i) = self.episode_index(channel, account)
            && let Some(e) = self.s.health.channels.get_mut(i)
        {
            e.relink_notified = true;
        }
        let notice = self.relink_text(channel, account, since, signal, two_tasks);
        let key = format!("{}/channel/{channel}/{account}/{since}/relink", self.gw.id);
        self.notify(key, notice);
    }

    fn single_writer(&mut self, running: u32, limits_allow_two: bool, ecs: &EcsObservation) {
        if running > 1 || limits_allow_two {
            self.single_writer_notice(running, limits_allow_two, Some(ecs));
        } else if self.s.health.single_writer_since.take().is_some() {
            self.note("single writer again: one task, deployment min 0 % / max 100 %".into());
        }
    }

    fn single_writer_notice(&mut self, running: u32, limits_allow_two: bool, ecs: Option<&EcsObservation>) {
        if self.s.health.single_writer_since.is_some() {
            return;
        }
        let since = self.now;
        self.s.health.single_writer_since = Some(since);
        let notice = self.single_writer_text(running, limits_allow_two, ecs);
        let key = format!("{}/single-writer/{since}", self.gw.id);
        self.notify(key, notice);
    }

    fn snapshot_freshness(&mut self, check: SnapshotCheck) {
        if check == SnapshotCheck::NotChecked {
            return;
        }
        let interval = self.cfg.snapshot_interval_secs;
        let stale = snapshot_is_stale(check, self.s.health.watching_since, self.now, interval);
        match (stale, self.s.health.snapshot_stale_since) {
            (true, None) => {
                let since = self.now;
                self.s.health.snapshot_stale_since = Some(since);
                let notice = self.snapshot_stale_text(check);
                let key = format!("{}/snapshot-stale/{since}", self.gw.id);
                self.notify(key, notice);
            }
            (false, Some(_)) => {
                self.s.health.snapshot_stale_since = None;
                self.note("snapshots are fresh again".into());
            }
            _ => {}
        }
    }
}

struct ActionStop {
    task_arn: String,
    reason: String,
}

/// What the `hung_restarted` notice tells.
pub(super) struct Hung<'a> {
    pub task: &'a ObservedTask,
    pub failures: u32,
    pub first_failed_at: i64,
    pub detail: &'a str,
    /// Hung restarts within the crash-loop window, this one included.
    pub restarts: usize,
    /// At most this many before the crash-loop backoff takes over.
    pub budget: usize,
}

/// `channel:whatsapp:work`, `whatsapp:work`, `whatsapp` -> (`whatsapp`, `work`|`default`); other
/// readiness entries (agent databases, plugins) are not channels.
fn failing_channel(entry: &str) -> Option<(String, String)> {
    let entry = entry.trim();
    let rest = entry
        .strip_prefix("channel:")
        .or_else(|| entry.strip_prefix("channels:"))
        .unwrap_or(entry);
    let mut parts = rest.splitn(2, [':', '/']);
    let channel = parts.next()?.trim().to_ascii_lowercase();
    if !crate::watch::health::CHANNELS.contains(&channel.as_str()) && !entry.starts_with("channel") {
        return None;
    }
    let account = parts
        .next()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .unwrap_or("default");
    Some((channel, account.to_owned()))
}

fn newest(tasks: &[ObservedTask]) -> Option<&ObservedTask> {
    tasks.iter().max_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then_with(|| a.task_arn.cmp(&b.task_arn))
    })
}

fn task_info(task: &ObservedTask) -> TaskInfo {
    TaskInfo {
        task_arn: task.task_arn.clone(),
        version: None,
        task_definition: task.task_definition.clone(),
        group: None,
        started_at: task.started_at,
        network: (task.subnet_id.is_some() || task.private_ip.is_some()).then(|| TaskNetwork {
            subnet_id: task.subnet_id.clone(),
            private_ip: task.private_ip.clone(),
        }),
        event_time: None,
    }
}

fn missed_stop(task: &ObservedTask, now: i64) -> TaskStop {
    let cause = classify_stop(task.stop_code.as_deref(), task.stopped_reason.as_deref(), &[]);
    TaskStop {
        task: task_info(task),
        evidence: StopEvidence {
            task_arn: task.task_arn.clone(),
            stop_code: task.stop_code.clone(),
            stopped_reason: task.stopped_reason.clone(),
            containers: Vec::new(),
            runtime_secs: match (task.started_at, task.stopped_at) {
                (Some(s), Some(e)) => Some(e.saturating_sub(s).max(0)),
                _ => None,
            },
            stopped_at: Some(task.stopped_at.unwrap_or(now).min(now)),
        },
        cause,
    }
}

#[cfg(test)]
mod tests;
