//! The texts of the health rules' notices (hung, channels, single writer, snapshots, a rejected
//! token), per channel where the channel decides the fix. Layout and rules: [`crate::watch::notice`].

use super::Planner;
use super::as_i64;
use super::health_rules::Hung;
use crate::gateway::GatewayTarget;
use crate::watch::health::{
    ChannelEpisode, ChannelEvent, ChannelSignal, EcsObservation, SnapshotCheck, SnapshotFailure,
};
use crate::watch::notice::{
    Draft, Notice, NoticeKind, Severity, Status, Step, TaskRef, Verdict, When, channel_problem, channel_steps,
    format_span, retrying_steps,
};
use crate::watch::signal::short_task_id;
use crate::watch::time::format_utc;

impl Planner<'_> {
    /// `hung_restarted`: the task is stopped and a replacement is on its way, so it is no longer
    /// critical (a `gateway_down` follows if the replacement does not run within the grace).
    pub(super) fn hung_text(&self, h: &Hung) -> Notice {
        let cmds = self.cmds();
        let span = format_span(self.now.saturating_sub(h.first_failed_at));
        let id = short_task_id(&h.task.task_arn);
        let restartable =
            !self.is_standalone() || self.s.last_task.as_ref().is_some_and(|t| t.task_definition.is_some());
        let (status, severity, verdict, replaced) = if restartable {
            (
                Status::Warning,
                Severity::Warning,
                Verdict::Wait(
                    "clawkeeper restarted it; you hear again if the new task does not come up, or hangs too.".into(),
                ),
                if self.is_standalone() {
                    "a new task starts once it is gone (RunTask)"
                } else {
                    "the ECS service starts a replacement"
                },
            )
        } else {
            (
                Status::Down,
                Severity::Critical,
                Verdict::Act("start it again: clawkeeper does not know its task definition.".into()),
                "nothing starts a new one",
            )
        };
        let window = format_span(as_i64(self.cfg.crash_loop_window_secs));
        let mut draft = Draft::new(
            status,
            format!("hung for {span}, restarted"),
            verdict,
            format!(
                "Gateway {} did not answer its liveness probe {} times in a row over {span} while ECS said the task \
                 was RUNNING ({}).",
                self.gw.id, h.failures, h.detail
            ),
        );
        draft.when = Some(When::Since(h.first_failed_at));
        draft.done = Some(format!(
            "stopped task {id} (StopTask) and {replaced}; hung restarts within {window}: {} of at most {}, then it \
             backs off.",
            h.restarts, h.budget
        ));
        let mut steps = Vec::new();
        if let Some(logs) = cmds.logs("30m", None) {
            steps.push(Step::run("Read what it did before it hung:", logs));
        }
        if let Some(describe) = cmds.describe_task(&h.task.task_arn) {
            steps.push(Step::run(
                "The stopped task as ECS saw it (kept about an hour):",
                describe,
            ));
        }
        steps.push(Step::run("Where it stands:", cmds.clawkeeper("status", "")));
        draft.steps = steps;
        draft.link = Some(cmds.log_console());
        let mut evidence = vec![format!(
            "liveness probe (GET /healthz): {} failures in a row, {} to {}: {}",
            h.failures,
            format_utc(h.first_failed_at),
            format_utc(self.now),
            h.detail
        )];
        if let Some(started) = h.task.started_at {
            evidence.push(format!(
                "task {id} started {}, ran {}",
                format_utc(started),
                format_span(self.now.saturating_sub(started))
            ));
        }
        draft.evidence = evidence;
        self.render(NoticeKind::HungRestarted, severity, draft)
    }

    /// `watchdog_error` for a gateway token `/readyz` rejected.
    pub(super) fn token_rejected_text(&self, version: &str) -> Notice {
        let cmds = self.cmds();
        let secret = self.gw.token_secret_arn.as_deref().unwrap_or("(the token secret)");
        let mut draft = Draft::new(
            Status::Warning,
            "gateway rejects the token in its secret",
            Verdict::Act(
                "restart the gateway so it reads its token secret again; until then clawkeeper sees no channel \
                 details."
                    .into(),
            ),
            format!(
                "Gateway {} answered 401 to the token in its Secrets Manager secret: the secret most likely changed \
                 after the task started, and a task reads it only when it starts.",
                self.gw.id
            ),
        );
        draft.when = Some(When::At(self.now));
        draft.done = Some(
            "stopped sending that token (OpenClaw locks a client out after 10 failures a minute); liveness and \
             readiness probes go on without it."
                .into(),
        );
        draft.steps = vec![
            Step::run(
                "Restart it; the new task reads the secret's current value:",
                cmds.clawkeeper("restart", ""),
            ),
            Step::say(
                "If it still rejects the token, the gateway's config sets its own (gateway.auth.token wins over \
                 OPENCLAW_GATEWAY_TOKEN): make the two match.",
            ),
        ];
        draft.link = Some(cmds.ecs_console());
        draft.evidence = vec![format!("secret {secret}, version {version}")];
        self.render(NoticeKind::WatchdogError, Severity::Warning, draft)
    }

    /// `recovered` for a channel the owner was told about.
    pub(super) fn channel_recovered_text(&self, episode: &ChannelEpisode) -> Notice {
        let (channel, account) = (&episode.channel, &episode.account);
        let span = format_span(self.now.saturating_sub(episode.since));
        let last = episode
            .last
            .map(|k| format!("; last problem: {}", channel_problem(channel, k)))
            .unwrap_or_default();
        let mut draft = Draft::new(
            Status::Up,
            format!("{channel} connected again after {span}"),
            Verdict::Wait(format!("{channel} (account {account}) is connected again.")),
            format!(
                "The {channel} channel of gateway {} was down for {span}{last}.",
                self.gw.id
            ),
        );
        draft.when = Some(When::Since(episode.since));
        draft.done = Some("closed the channel's episode.".into());
        draft.link = Some(self.cmds().log_console());
        self.render(NoticeKind::Recovered, Severity::Info, draft)
    }

    /// `channel_down`: down past its grace, with the step its last problem calls for.
    pub(super) fn channel_down_text(&self, episode: &ChannelEpisode) -> Notice {
        let cmds = self.cmds();
        let (channel, account) = (episode.channel.as_str(), episode.account.as_str());
        let span = format_span(self.now.saturating_sub(episode.since));
        let problem = episode
            .last
            .map(|k| channel_problem(channel, k))
            .unwrap_or_else(|| "/readyz reports it failing".into());
        let known = episode.last.filter(|k| {
            matches!(
                k,
                ChannelEvent::GaveUp
                    | ChannelEvent::ReconnectExhausted
                    | ChannelEvent::BreakerSuppressed
                    | ChannelEvent::TelegramConflict
                    | ChannelEvent::ConflictStopped
            )
        });
        let (act, verdict, mut steps) = match known {
            Some(kind) => {
                let c = channel_steps(&cmds, &self.running_task(), channel, account, kind);
                (c.act, c.verdict, c.steps)
            }
            None => (
                false,
                "OpenClaw keeps reconnecting it by itself; clawkeeper tells you when it is connected again.".into(),
                retrying_steps(&cmds, channel),
            ),
        };
        steps.push(Step::run("Where the gateway stands:", cmds.clawkeeper("status", "")));
        let (status, verdict) = if act {
            (Status::ActionNeeded, Verdict::Act(verdict))
        } else {
            (Status::Warning, Verdict::Wait(verdict))
        };
        let mut draft = Draft::new(
            status,
            format!("{channel} down for {span}"),
            verdict,
            format!(
                "The {channel} channel (account {account}) of gateway {} has been down for {span}: {problem}.",
                self.gw.id
            ),
        );
        draft.when = Some(When::Since(episode.since));
        draft.done = Some("nothing: the gateway itself runs.".into());
        draft.steps = steps;
        draft.link = Some(cmds.log_console());
        self.render(NoticeKind::ChannelDown, Severity::Warning, draft)
    }

    /// `relink_needed`: a channel that does not heal by itself, with that channel's own fix.
    pub(super) fn relink_text(
        &self,
        channel: &str,
        account: &str,
        since: i64,
        signal: &ChannelSignal,
        two_tasks: bool,
    ) -> Notice {
        let cmds = self.cmds();
        let two_writers = signal.kind == ChannelEvent::Conflict && two_tasks;
        // With two tasks running, the one clawkeeper knows may be the one to stop: the relink looks
        // the task up after the older one is gone.
        let task = if two_writers {
            TaskRef::Lookup
        } else {
            self.running_task()
        };
        let mut c = channel_steps(&cmds, &task, channel, account, signal.kind);
        if two_writers {
            // The cause is known: it replaces the general "make sure nothing else uses the link",
            // and comes first.
            c.steps.retain(|s| !s.commands.is_empty());
            c.steps.insert(
                0,
                Step::say(
                    "Two gateway tasks ran at once: stop the older one first (the single_writer_violation notice \
                     says how), so only one writes the state.",
                ),
            );
        }
        let headline = match (channel, signal.kind) {
            ("whatsapp", _) => "whatsapp needs relinking".to_string(),
            ("telegram" | "discord" | "slack", _) => format!("{channel} needs a new token"),
            _ => format!("{channel} needs a new login"),
        };
        let verdict = if c.act {
            Verdict::Act(c.verdict)
        } else {
            Verdict::Wait(c.verdict)
        };
        let mut draft = Draft::new(
            Status::ActionNeeded,
            headline,
            verdict,
            format!(
                "The {channel} channel (account {account}) of gateway {}: {}. It will not reconnect by itself.",
                self.gw.id,
                channel_problem(channel, signal.kind)
            ),
        );
        draft.when = Some(When::Since(since));
        draft.done = Some("nothing: this needs you.".into());
        draft.steps = c.steps;
        draft.link = Some(cmds.log_console());
        let mut evidence = vec![format!("log line of {channel} ({account}): {}", signal.kind.as_str())];
        if let Some(n) = signal.running_tasks {
            evidence.push(format!("ECS showed {n} RUNNING task(s) for the gateway"));
        }
        draft.evidence = evidence;
        self.render(NoticeKind::RelinkNeeded, Severity::Critical, draft)
    }

    /// `single_writer_violation`: two tasks on one state now, or deployment limits that allow it.
    pub(super) fn single_writer_text(
        &self,
        running: u32,
        limits_allow_two: bool,
        ecs: Option<&EcsObservation>,
    ) -> Notice {
        let cmds = self.cmds();
        let mut tasks: Vec<_> = ecs.map(|e| e.running.iter().collect()).unwrap_or_default();
        // Oldest first; a task without a start time counts as the oldest (it is the one to doubt).
        tasks.sort_by_key(|t| (t.started_at.unwrap_or(i64::MIN), t.task_arn.clone()));
        let mut steps = Vec::new();
        if running > 1 {
            match tasks.split_last() {
                Some((newest, older)) if !older.is_empty() => {
                    for t in older {
                        steps.push(Step::run(
                            format!(
                                "Stop the older task {} (started {}); {} keeps running:",
                                short_task_id(&t.task_arn),
                                t.started_at
                                    .map(format_utc)
                                    .unwrap_or_else(|| "at an unknown time".into()),
                                short_task_id(&newest.task_arn)
                            ),
                            cmds.stop_task(&t.task_arn, "clawkeeper single-writer"),
                        ));
                    }
                }
                _ => {
                    steps.push(Step::run("See which tasks run:", cmds.list_running()));
                    steps.push(Step::say(
                        "Stop all but the newest (the console shows when each started) with aws ecs stop-task.",
                    ));
                }
            }
        }
        if limits_allow_two && let Some(fix) = cmds.fix_limits() {
            steps.push(Step::run(
                "Keep deployments from starting a second task (minimum 0 %, maximum 100 %):",
                fix,
            ));
        }
        let (headline, verdict, happened) = if running > 1 {
            (
                format!("{running} gateway tasks share one state"),
                "stop the older task so only one gateway writes the state; two make WhatsApp drop the session \
                 (440) and OpenClaw delete its creds.",
                format!(
                    "{running} tasks of gateway {} run at once on the same state.",
                    self.gw.id
                ),
            )
        } else {
            (
                "deployments can start a second gateway".to_string(),
                "set the service's deployment limits so that a deployment never runs two gateways on the same \
                 state.",
                format!(
                    "The service of gateway {} starts a deployment's new task before the old one stops, and two \
                     gateways on one state make WhatsApp drop the session (440).",
                    self.gw.id
                ),
            )
        };
        let mut evidence: Vec<String> = tasks
            .iter()
            .map(|t| {
                format!(
                    "task {} started {}",
                    short_task_id(&t.task_arn),
                    t.started_at
                        .map(format_utc)
                        .unwrap_or_else(|| "at an unknown time".into())
                )
            })
            .collect();
        if let Some(l) = ecs.and_then(|e| e.limits).filter(|_| limits_allow_two) {
            let pct = |v: Option<i32>| v.map(|v| v.to_string()).unwrap_or_else(|| "?".into());
            evidence.push(format!(
                "deployment configuration: minimum healthy {} %, maximum {} %",
                pct(l.minimum_healthy_percent),
                pct(l.maximum_percent)
            ));
        }
        if matches!(self.gw.target, GatewayTarget::Standalone { .. }) && steps.is_empty() {
            steps.push(Step::run("See which tasks run:", cmds.list_running()));
        }
        let mut draft = Draft::new(Status::ActionNeeded, headline, Verdict::Act(verdict.into()), happened);
        draft.when = Some(When::At(self.now));
        draft.done = Some(if running > 1 {
            "nothing: it does not guess which task to stop.".into()
        } else {
            "nothing: it does not change the service's settings.".into()
        });
        draft.steps = steps;
        draft.link = Some(cmds.ecs_console());
        draft.evidence = evidence;
        self.render(NoticeKind::SingleWriterViolation, Severity::Critical, draft)
    }

    /// `snapshot_stale`: the newest snapshot is older than twice the schedule, or there is none.
    pub(super) fn snapshot_stale_text(&self, check: SnapshotCheck) -> Notice {
        let cmds = self.cmds();
        let interval = format_span(as_i64(self.cfg.snapshot_interval_secs));
        let (headline, verdict, happened, since) = match check {
            SnapshotCheck::NewestAt(at) => {
                let age = format_span(self.now.saturating_sub(at));
                (
                    format!("no snapshot for {age}"),
                    format!("find why snapshots stopped: a restore now would lose the last {age} of state."),
                    format!(
                        "The newest snapshot of gateway {} is from {}; one is due every {interval}.",
                        self.gw.id,
                        self.clock().at(at)
                    ),
                    at,
                )
            }
            _ => {
                let since = self.s.health.watching_since.unwrap_or(self.now);
                (
                    "no snapshot at all".to_string(),
                    "find why no snapshot is taken: without one there is nothing to restore.".to_string(),
                    format!(
                        "Gateway {} has no snapshot {} after clawkeeper started watching it; one is due every \
                         {interval}.",
                        self.gw.id,
                        format_span(self.now.saturating_sub(since))
                    ),
                    since,
                )
            }
        };
        let mut draft = Draft::new(Status::Warning, headline, Verdict::Act(verdict), happened);
        draft.when = Some(When::Since(since));
        draft.done = Some("nothing: the snapshot function runs on its own schedule.".into());
        draft.steps = self.snapshot_steps();
        draft.link = Some(cmds.snapshot_console().unwrap_or_else(|| cmds.ecs_console()));
        self.render(NoticeKind::SnapshotStale, Severity::Warning, draft)
    }

    /// `snapshot_failed`: a run of failed snapshot runs, once.
    pub(super) fn snapshot_failed_text(&self, f: &SnapshotFailure) -> Notice {
        let cmds = self.cmds();
        let runs = if f.consecutive_failures == 1 {
            "The last snapshot run".to_string()
        } else {
            format!("The last {} snapshot runs", f.consecutive_failures)
        };
        // A first AWS hiccup usually passes: the next run tries again, and if none succeeds the
        // freshness check says so (`snapshot_stale`), so waiting is honest then, and only then.
        let passing = f.consecutive_failures == 1 && f.error_type == "AwsTransient";
        let verdict = if passing {
            Verdict::Wait(format!(
                "a passing AWS error; the next scheduled run tries again, and you hear (snapshot_stale) if none \
                 succeeds for {}.",
                format_span(as_i64(self.cfg.snapshot_interval_secs.saturating_mul(2)))
            ))
        } else {
            Verdict::Act(format!(
                "snapshots fail ({}); find why in the snapshot function's log.",
                f.error_type
            ))
        };
        let mut draft = Draft::new(
            Status::Warning,
            format!("snapshot failed ({})", f.error_type),
            verdict,
            format!(
                "{runs} of gateway {} failed: {} (trigger {}).",
                self.gw.id, f.error_type, f.trigger
            ),
        );
        draft.when = Some(When::Since(f.first_failed_at));
        draft.done = Some("nothing yet: the next scheduled run tries again.".into());
        draft.steps = self.snapshot_steps();
        draft.link = Some(cmds.snapshot_console().unwrap_or_else(|| cmds.ecs_console()));
        draft.evidence = vec![format!(
            "last failure at {}: {}: {}",
            format_utc(f.failed_at),
            f.error_type,
            f.message
        )];
        self.render(NoticeKind::SnapshotFailed, Severity::Warning, draft)
    }

    fn snapshot_steps(&self) -> Vec<Step> {
        let cmds = self.cmds();
        let mut steps = Vec::new();
        if let Some(logs) = cmds.snapshot_logs("3h") {
            steps.push(Step::run("Read the snapshot function's errors:", logs));
        }
        steps.push(Step::run("Take one now:", cmds.clawkeeper("snapshot", "")));
        steps.push(Step::run(
            "List the snapshots there are:",
            cmds.clawkeeper("snapshots", ""),
        ));
        steps
    }
}
