//! Owners' requests through `control`: pause, resume, silence, restart, and notes of changes made
//! outside the policy (a snapshot taken, a restore step), each recorded with who asked.
//!
//! Every request lands in the state's bounded [`GatewayState::owner_log`](super::GatewayState) and
//! in the open incident's timeline; with no incident open, the entry gets an id of its own from the
//! incident id sequence, and the engine writes it to the incident log as an `owner_action` record.
//! So `history` shows who paused, resumed or restored, whether or not something was wrong then.

use super::Planner;
use crate::gateway::GatewayTarget;
use crate::watch::action::ActionKind;
use crate::watch::notice::{Draft, NoticeKind, Severity, Status, Step, Verdict, When, with_task_lookup};
use crate::watch::state::{MAX_OWNER_LOG, OwnerLogEntry};
use crate::watch::time::format_utc;

/// Longest `by` and `detail` kept, in characters: the log is for people, the item has a size limit.
const MAX_TEXT: usize = 300;

/// One owner request, with who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerInput {
    /// Who asked, as `control` renders its caller: the ARN AWS verified (a function URL call), or
    /// what a direct invoke claims, ending with "(claimed, not verified)".
    pub by: String,
    /// What they asked for.
    pub action: OwnerAction,
}

/// What an owner can ask the watchdog for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerAction {
    /// Stop the gateway and never restart it until resumed.
    Pause,
    /// Start it again and forget the backoff.
    Resume,
    /// Mute notices until then (epoch seconds; the past unmutes); reminders resume afterwards.
    Silence {
        /// Epoch seconds.
        until: i64,
        /// Why, in the owner's words.
        reason: Option<String>,
    },
    /// Restart now: a new deployment of a service, stop and run again for a standalone task. A
    /// paused gateway (by the owner or the backoff) is started instead, forgetting the pause:
    /// `control` only asks for that with `force`.
    Restart,
    /// A change made outside the policy (a snapshot taken, a restore step), for the log only.
    Note {
        /// `snapshot`, `restore`...
        action: String,
        /// What happened, in words.
        what: String,
    },
    /// A restore finished: tell the owner, with the relink warning.
    RestoreDone {
        /// The restored snapshot (its archive key).
        snapshot: String,
        /// Where the restore function kept the state it replaced, when it says.
        previous_state: Option<String>,
    },
}

impl OwnerAction {
    /// The action's name in the log.
    pub fn name(&self) -> &str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Silence { .. } => "silence",
            Self::Restart => "restart",
            Self::Note { action, .. } => action,
            Self::RestoreDone { .. } => "restore",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Pause => "paused the gateway".into(),
            Self::Resume => "resumed the gateway".into(),
            Self::Silence { until, reason } => format!(
                "silenced notices until {}{}",
                format_utc(*until),
                reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
            ),
            Self::Restart => "restarted the gateway".into(),
            Self::Note { what, .. } => what.clone(),
            Self::RestoreDone { snapshot, .. } => format!("restored snapshot {snapshot}"),
        }
    }
}

impl Planner<'_> {
    pub(super) fn owner(&mut self, input: &OwnerInput) {
        self.log_owner(input);
        match &input.action {
            OwnerAction::Pause => self.owner_pause(),
            OwnerAction::Resume => self.owner_resume(),
            OwnerAction::Silence { until, .. } => {
                self.s.silence_until = (*until > self.now).then_some(*until);
            }
            OwnerAction::Restart => self.owner_restart(),
            OwnerAction::Note { .. } => {}
            OwnerAction::RestoreDone {
                snapshot,
                previous_state,
            } => self.restore_done(snapshot, previous_state.as_deref(), &input.by),
        }
    }

    fn log_owner(&mut self, input: &OwnerInput) {
        let by = clip(&input.by);
        let detail = clip(&input.action.detail());
        let (incident, record) = match &self.s.incident {
            Some(open) => (Some(open.id), None),
            None => {
                // Same sequence as incident ids: an owner record never overwrites an incident's.
                let id = self.now.max(self.s.last_incident_id.saturating_add(1));
                self.s.last_incident_id = id;
                (None, Some(id))
            }
        };
        self.note(format!("{} asked by {by}: {detail}", input.action.name()));
        self.s.owner_log.push(OwnerLogEntry {
            at: self.now,
            action: input.action.name().to_owned(),
            by,
            detail,
            incident,
            record,
        });
        let excess = self.s.owner_log.len().saturating_sub(MAX_OWNER_LOG);
        self.s.owner_log.drain(..excess);
    }

    /// `<now>`, or `<now>.<n>` for the n-th owner request logged within the same second, for the
    /// keys of owner actions: pause, resume, pause within one second are three steps, not one.
    pub(super) fn owner_stamp(&self) -> String {
        let same = self.s.owner_log.iter().filter(|e| e.at == self.now).count();
        if same <= 1 {
            self.now.to_string()
        } else {
            format!("{}.{}", self.now, same - 1)
        }
    }

    fn owner_restart(&mut self) {
        let b = &self.s.backoff;
        if self.held() || b.escalated || b.resume_at.is_some() {
            // Paused (by the owner, the backoff, or after refused starts): starting it is the
            // restart; the pause and the backoff are forgotten.
            self.owner_resume();
            return;
        }
        let step = format!("owner/restart-{}", self.owner_stamp());
        match &self.gw.target {
            GatewayTarget::Service(_) => {
                // Desired 1 first: a service scaled to 0 outside clawkeeper would not restart otherwise.
                let key = format!("{}/{step}/desired", self.gw.id);
                self.push(key, ActionKind::SetDesiredCount { count: 1 });
                let key = format!("{}/{step}/deploy", self.gw.id);
                if self.push(key, ActionKind::ForceNewDeployment) {
                    self.note("forced a new deployment for the owner".into());
                }
            }
            GatewayTarget::Standalone { .. } => {
                if let Some(running) = self.s.running.clone() {
                    let key = format!("{}/{step}/stop", self.gw.id);
                    self.push(
                        key,
                        ActionKind::StopTask {
                            task_arn: running.task_arn,
                            reason: "restarted by the owner with clawkeeper".into(),
                        },
                    );
                }
                self.restart(&format!("{step}/run"), "started a new task for the owner (RunTask)");
            }
        }
    }

    fn restore_done(&mut self, snapshot: &str, previous_state: Option<&str>, by: &str) {
        let mut done = format!("restored {snapshot} (asked by {})", clip(by));
        if let Some(previous) = previous_state {
            done.push_str(&format!(", kept the state it replaced at {previous}"));
        }
        done.push_str(", resumed the gateway and saw it running.");
        let cmds = self.cmds();
        let task = self.running_task();
        // A restore takes WhatsApp's session keys back in time: the phone may refuse them, and
        // only the owner can tell (and relink) from the channel's status.
        let steps = vec![
            Step::run(
                "Check its channels (ECS Exec, needs the Session Manager plugin):",
                cmds.exec(&task, &["channels", "status", "--probe"]),
            ),
            Step {
                text: "Only if WhatsApp shows logged out: clear the link, then scan the new QR code with the \
                       phone (WhatsApp > Settings > Linked devices > Link a device):"
                    .into(),
                commands: vec![
                    cmds.exec(&task, &["channels", "logout", "--channel", "whatsapp"]),
                    cmds.exec(&task, &["channels", "login", "--channel", "whatsapp"]),
                ],
            },
        ];
        let mut draft = Draft::new(
            Status::ActionNeeded,
            "restored from a snapshot, check channels",
            Verdict::Act(
                "check that its channels reconnected: a restore takes WhatsApp's session keys back in time, and a \
                 logged-out WhatsApp needs relinking."
                    .into(),
            ),
            format!(
                "Gateway {} was restored from snapshot {snapshot} and runs again.",
                self.gw.id
            ),
        );
        draft.when = Some(When::At(self.now));
        draft.done = Some(done);
        draft.steps = with_task_lookup(&cmds, &task, steps);
        draft.link = Some(cmds.ecs_console());
        let notice = self.render(NoticeKind::RestoreDone, Severity::Warning, draft);
        let key = format!("{}/owner/restore-{}", self.gw.id, self.owner_stamp());
        self.notify(key, notice);
    }
}

fn clip(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= MAX_TEXT {
        clean
    } else {
        clean.chars().take(MAX_TEXT).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::Gateway;
    use crate::policy_settings::PolicySettings;
    use crate::watch::plan::fixtures;
    use crate::watch::state::{Backoff, GatewayState, RunningTask};
    use crate::watch::{Input, plan};

    fn gateway(target: GatewayTarget) -> Gateway {
        fixtures::gateway("home", "c", target)
    }

    fn owner(action: OwnerAction) -> Input {
        Input::Owner(OwnerInput {
            by: "arn:aws:iam::123456789012:user/alice".into(),
            action,
        })
    }

    fn kinds(p: &crate::watch::plan::Plan) -> Vec<&'static str> {
        p.actions.iter().map(|a| a.kind.name()).collect()
    }

    #[test]
    fn pause_is_logged_with_who_asked_and_gets_its_own_record_id() {
        let gw = gateway(GatewayTarget::Service("s".into()));
        let settings = PolicySettings::default();
        let p = plan(
            &GatewayState::default(),
            &owner(OwnerAction::Pause),
            1000,
            &settings,
            &gw,
        );
        assert_eq!(kinds(&p), ["set_desired_count"]);
        assert!(p.state.owner_paused);
        let entry = p.state.owner_log.last().expect("logged");
        assert_eq!(entry.action, "pause");
        assert!(entry.by.ends_with("user/alice"));
        assert_eq!((entry.incident, entry.record), (None, Some(1000)));
        // A second request in the same second gets the next id: records never collide.
        let again = plan(&p.state, &owner(OwnerAction::Resume), 1000, &settings, &gw);
        assert_eq!(again.state.owner_log.last().and_then(|e| e.record), Some(1001));
        assert_eq!(kinds(&again), ["set_desired_count"]);
        assert!(!again.state.owner_paused);
        let third = plan(&again.state, &owner(OwnerAction::Pause), 1000, &settings, &gw);
        assert_eq!(
            kinds(&third),
            ["set_desired_count"],
            "a second pause in the same second still acts"
        );
    }

    #[test]
    fn restart_of_a_service_forces_a_deployment_and_of_a_paused_one_resumes() {
        let gw = gateway(GatewayTarget::Service("s".into()));
        let settings = PolicySettings::default();
        let p = plan(
            &GatewayState::default(),
            &owner(OwnerAction::Restart),
            10,
            &settings,
            &gw,
        );
        assert_eq!(kinds(&p), ["set_desired_count", "force_new_deployment"]);
        let paused = GatewayState {
            backoff: Backoff {
                active: true,
                tries: 2,
                resume_at: Some(500),
                escalated: false,
            },
            ..Default::default()
        };
        let p = plan(&paused, &owner(OwnerAction::Restart), 20, &settings, &gw);
        assert_eq!(kinds(&p), ["set_desired_count"]);
        assert_eq!(p.state.backoff, Backoff::default());
    }

    #[test]
    fn restart_of_a_standalone_task_stops_and_runs_it() {
        let gw = gateway(GatewayTarget::Standalone { family: "f".into() });
        let settings = PolicySettings::default();
        let state = GatewayState {
            running: Some(RunningTask {
                task_arn: "arn:task/1".into(),
                ..Default::default()
            }),
            last_task: Some(crate::watch::state::LastTask {
                task_arn: "arn:task/1".into(),
                task_definition: Some("arn:td/f:1".into()),
                network: None,
            }),
            ..Default::default()
        };
        let p = plan(&state, &owner(OwnerAction::Restart), 10, &settings, &gw);
        assert_eq!(kinds(&p), ["stop_task", "run_task"]);
    }

    #[test]
    fn silence_mutes_and_restore_done_notifies_with_the_relink_warning() {
        let gw = gateway(GatewayTarget::Service("s".into()));
        let settings = PolicySettings::default();
        let p = plan(
            &GatewayState::default(),
            &owner(OwnerAction::Silence {
                until: 4600,
                reason: Some("moving house".into()),
            }),
            1000,
            &settings,
            &gw,
        );
        assert_eq!(p.state.silence_until, Some(4600));
        assert!(p.state.owner_log[0].detail.contains("moving house"));
        let done = owner(OwnerAction::RestoreDone {
            snapshot: "home/snapshots/x.tar.gz".into(),
            previous_state: Some("/mnt/openclaw/.openclaw.before-restore".into()),
        });
        let muted = plan(&p.state, &done, 1001, &settings, &gw);
        assert!(muted.actions.is_empty(), "muted while silenced");
        let p = plan(&GatewayState::default(), &done, 1001, &settings, &gw);
        let Some(ActionKind::Notify(notice)) = p.actions.first().map(|a| &a.kind) else {
            panic!("expected a notice: {:?}", p.actions);
        };
        assert_eq!(notice.kind, NoticeKind::RestoreDone);
        assert!(notice.message.contains("relink"), "{}", notice.message);
    }
}
