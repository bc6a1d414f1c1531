//! Channel recovery (ARCHITECTURE.md section 4.1): what OpenClaw's own runtime reports of each
//! channel account (`channels.status` over its admin RPC, read by the reconciler), and the one
//! restart clawkeeper makes for an account OpenClaw will not restart by itself.
//!
//! - Blocked by a 440 conflict (2026.9 stops the channel and keeps its link), or stopped while it
//!   is meant to run (a terminal disconnect, or the log said OpenClaw gave up on it): ONE
//!   `channels.start` per episode, no notice. OpenClaw restarts neither (its health monitor skips
//!   blocked and terminally disconnected accounts), and the owner would otherwise have to do it
//!   through ECS Exec.
//! - The start failed (its answer is recorded by the engine), or the account is blocked or stopped
//!   again within `channel_restart_window_secs` of the restart: one `channel_restarted` notice, and
//!   no further start within the window (another start would only fight the other client).
//! - Logged out (401): `relink_needed`, as the same line in the log would; never a start.
//! - A `stopped` account with no sign that OpenClaw stopped it may be the owner's `channels.stop`
//!   (OpenClaw does not report manual stops): left alone.
//! - Ready again: the log's episode of that account is closed too (its "connected" line may not
//!   have reached `log-alerts`).
//! - The admin RPC unknown (not enabled, no token, gateway unreachable): nothing is decided; the
//!   accounts keep what the last answer said.

use super::Planner;
use super::as_i64;
use crate::watch::action::ActionKind;
use crate::watch::channel_runtime::{
    AccountRuntime, AdminRpc, ChannelRestart, ChannelRuntime, ChannelStart, ChannelsCheck, MAX_ACCOUNTS, Standing,
    Trouble,
};
use crate::watch::health::{ChannelEvent, ChannelSignal};

mod texts;

/// Why a `channel_restarted` notice goes out.
pub(super) enum NotHeld<'a> {
    /// `channels.start` did not start it (or could not be asked): why.
    StartFailed(&'a str),
    /// It was started, and is blocked or stopped again.
    Again,
}

impl Planner<'_> {
    /// Folds one pass's view of the channel runtimes into the state.
    pub(super) fn channel_runtimes(&mut self, check: &ChannelsCheck) {
        match check {
            ChannelsCheck::NotAsked => {}
            ChannelsCheck::Unknown(why) => {
                // Written only when it changes: a steady gateway writes no new state.
                let unavailable = AdminRpc::Unavailable(why.clone());
                if self.s.health.channel_runtime.admin_rpc != unavailable {
                    self.s.health.channel_runtime.admin_rpc = unavailable;
                }
            }
            ChannelsCheck::Read(accounts) => {
                self.s.health.channel_runtime.admin_rpc = AdminRpc::Read;
                self.forget_unreported(accounts);
                for account in accounts.iter().take(MAX_ACCOUNTS) {
                    self.account_runtime(account);
                }
            }
        }
    }

    /// Accounts `channels.status` no longer reports are forgotten, unless a restart of theirs is
    /// still inside its window (a repeat must still be recognised when it comes back).
    fn forget_unreported(&mut self, reported: &[ChannelRuntime]) {
        let (now, window) = (self.now, as_i64(self.cfg.channel_restart_window_secs));
        self.s.health.channel_runtime.accounts.retain(|a| {
            reported
                .iter()
                .any(|r| r.channel == a.channel && r.account == a.account)
                || a.restart.as_ref().is_some_and(|r| now.saturating_sub(r.at) <= window)
        });
    }

    fn account_index(&mut self, runtime: &ChannelRuntime) -> usize {
        let accounts = &mut self.s.health.channel_runtime.accounts;
        if let Some(i) = accounts
            .iter()
            .position(|a| a.channel == runtime.channel && a.account == runtime.account)
        {
            return i;
        }
        if accounts.len() >= MAX_ACCOUNTS {
            // Forget the oldest: this only bounds the item.
            accounts.remove(0);
        }
        accounts.push(AccountRuntime {
            channel: runtime.channel.clone(),
            account: runtime.account.clone(),
            lifecycle: runtime.lifecycle,
            since: self.now,
            ..Default::default()
        });
        accounts.len() - 1
    }

    fn account_runtime(&mut self, runtime: &ChannelRuntime) {
        let index = self.account_index(runtime);
        let now = self.now;
        let Some(entry) = self.s.health.channel_runtime.accounts.get_mut(index) else {
            return;
        };
        if entry.lifecycle != runtime.lifecycle {
            entry.lifecycle = runtime.lifecycle;
            entry.since = now;
        }
        let trouble = match runtime.standing() {
            Standing::Conflict => Some(Trouble::Conflict),
            Standing::Stopped { by_openclaw } => (by_openclaw
                || self.log_says_openclaw_stopped(&runtime.channel, &runtime.account))
            .then_some(Trouble::Stopped),
            Standing::LoggedOut => {
                self.trouble_over(index, runtime);
                self.logged_out(runtime);
                return;
            }
            Standing::Fine | Standing::BlockedOther => None,
        };
        match trouble {
            Some(trouble) => self.stuck(index, runtime, trouble),
            None => self.trouble_over(index, runtime),
        }
    }

    /// Whether the gateway's log said OpenClaw itself stopped this account (and nothing said it
    /// connected since): a stop that is not the owner's `channels.stop`.
    fn log_says_openclaw_stopped(&self, channel: &str, account: &str) -> bool {
        self.s.health.channels.iter().any(|e| {
            e.channel == channel
                && e.account == account
                && matches!(
                    e.last,
                    Some(ChannelEvent::ConflictStopped | ChannelEvent::GaveUp | ChannelEvent::ReconnectExhausted)
                )
        })
    }

    /// A logout the runtime reports: the relink path, once per episode, as its log line would.
    fn logged_out(&mut self, runtime: &ChannelRuntime) {
        let told =
            self.s.health.channels.iter().any(|e| {
                e.channel == runtime.channel && e.account == runtime.account && e.terminal && e.relink_notified
            });
        if told {
            return;
        }
        self.channel(&ChannelSignal {
            channel: runtime.channel.clone(),
            account: Some(runtime.account.clone()),
            kind: ChannelEvent::LoggedOut,
            at: self.now,
            running_tasks: None,
        });
    }

    /// The account is fine (or not clawkeeper's to restart): its trouble episode, if any, ends;
    /// a restart past its window is forgotten; ready closes the log's episode of it too.
    fn trouble_over(&mut self, index: usize, runtime: &ChannelRuntime) {
        let (now, window) = (self.now, as_i64(self.cfg.channel_restart_window_secs));
        let Some(entry) = self.s.health.channel_runtime.accounts.get_mut(index) else {
            return;
        };
        let ended = entry.trouble.take();
        entry.trouble_since = None;
        let healed_by_restart = ended.is_some() && entry.restart.as_ref().is_some_and(|r| r.answer.is_some());
        if entry
            .restart
            .as_ref()
            .is_some_and(|r| now.saturating_sub(r.at) > window)
        {
            entry.restart = None;
        }
        let ready = runtime.lifecycle == Some(crate::watch::channel_runtime::Lifecycle::Ready);
        if let Some(trouble) = ended {
            self.note(format!(
                "channel {} ({}): no longer {}{}",
                runtime.channel,
                runtime.account,
                trouble.as_str(),
                if healed_by_restart {
                    " after clawkeeper's restart"
                } else {
                    ""
                }
            ));
        }
        let log_episode_open = self
            .s
            .health
            .channels
            .iter()
            .any(|e| e.channel == runtime.channel && e.account == runtime.account && !e.from_probe);
        if ready && log_episode_open {
            self.close_episode(&runtime.channel, &runtime.account, "channels.status reports it ready");
        }
    }

    /// The account is blocked by a conflict or stopped: start it once per episode; tell the owner
    /// once when that did not hold.
    fn stuck(&mut self, index: usize, runtime: &ChannelRuntime, trouble: Trouble) {
        let (now, window) = (self.now, as_i64(self.cfg.channel_restart_window_secs));
        let Some(entry) = self.s.health.channel_runtime.accounts.get_mut(index) else {
            return;
        };
        if entry.trouble.is_none() {
            entry.trouble = Some(trouble);
            // A new episode never shares its id with the last restart's, even within one second:
            // the id tells "this episode's start" from "an earlier one's".
            let after_last = entry.restart.as_ref().map_or(now, |r| r.episode.saturating_add(1));
            entry.trouble_since = Some(now.max(after_last));
        }
        let since = entry.trouble_since.unwrap_or(now);
        let decision = match &entry.restart {
            // This episode's start: wait for its answer; tell the owner if it failed, or if the
            // account is still (again) in trouble at a pass after it started.
            Some(r) if r.episode == since => match &r.answer {
                _ if r.notified => Decision::Nothing,
                None | Some(ChannelStart::NotHere) => Decision::Nothing,
                Some(ChannelStart::NotStarted { why }) => Decision::Tell(Some(why.clone())),
                Some(ChannelStart::Started { .. }) if now > r.at => Decision::Tell(None),
                Some(ChannelStart::Started { .. }) => Decision::Nothing,
            },
            // An earlier episode's start, within the window: it did not hold.
            Some(r) if now.saturating_sub(r.at) <= window => {
                if r.notified {
                    Decision::Nothing
                } else {
                    Decision::Tell(None)
                }
            }
            _ => Decision::Start,
        };
        match decision {
            Decision::Nothing => {}
            Decision::Start => self.start_channel(index, runtime, trouble, since),
            Decision::Tell(failed) => {
                let Some(entry) = self.s.health.channel_runtime.accounts.get_mut(index) else {
                    return;
                };
                let Some(restart) = entry.restart.as_mut() else {
                    return;
                };
                restart.notified = true;
                let restart = restart.clone();
                let entry = entry.clone();
                let why = match failed.as_deref() {
                    Some(why) => NotHeld::StartFailed(why),
                    None => NotHeld::Again,
                };
                let notice = self.channel_restarted_text(&entry, &restart, runtime, trouble, &why);
                let key = format!("{}/restarted", restart.key.trim_end_matches("/start"));
                self.notify(key, notice);
            }
        }
    }

    fn start_channel(&mut self, index: usize, runtime: &ChannelRuntime, trouble: Trouble, since: i64) {
        let key = format!(
            "{}/channel/{}/{}/{since}/start",
            self.gw.id, runtime.channel, runtime.account
        );
        let planned = self.push(
            key.clone(),
            ActionKind::StartChannel {
                channel: runtime.channel.clone(),
                account: runtime.account.clone(),
            },
        );
        if !planned {
            return;
        }
        if let Some(entry) = self.s.health.channel_runtime.accounts.get_mut(index) {
            entry.restart = Some(ChannelRestart {
                at: self.now,
                episode: since,
                key,
                trouble: Some(trouble),
                answer: None,
                notified: false,
            });
        }
        self.note(format!(
            "channel {} ({}) is {}: clawkeeper restarts it (channels.start)",
            runtime.channel,
            runtime.account,
            match trouble {
                Trouble::Conflict => "blocked by a conflict",
                Trouble::Stopped => "stopped",
            }
        ));
    }

    /// Whether the reconciler read the admin RPC at its last pass: the channel runtime rules own
    /// the accounts then (a conflict stop in the log is left to them, not notified as down).
    pub(super) fn admin_rpc_read(&self) -> bool {
        self.s.health.channel_runtime.admin_rpc == AdminRpc::Read
    }
}

enum Decision {
    Nothing,
    Start,
    /// Send `channel_restarted`; `Some(why)` when the start itself failed.
    Tell(Option<String>),
}

#[cfg(test)]
mod tests;
