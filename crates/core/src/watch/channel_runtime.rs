//! Channel accounts as OpenClaw's own runtime reports them: the admin RPC's `channels.status`
//! (the `admin-http-rpc` plugin, OpenClaw 2026.9), which the reconciler reads each pass where it
//! can reach the gateway with its token, and `channels.start`, which restarts one account and
//! keeps its credentials. Plain values only: the parser lives in `clawkeeper-openclaw`
//! (`admin_rpc`), the rules in `plan/channel_recovery.rs`.
//!
//! What the real gateway reports (2026.9.6 with `@openclaw/whatsapp`, read on loopback): per
//! channel a list of account snapshots with `accountId`, `enabled`, `configured`, `linked`,
//! `running`, `restartPending`, `lifecycle` (`starting`, `ready`, `recovering`, `blocked`,
//! `stopped`), `healthState` (the plugin's word: `conflict`, `logged-out`, `reconnecting`,
//! `not-running`, ...), `terminalDisconnect` and `lastDisconnect` `{status, loggedOut}`. A 440
//! conflict leaves the WhatsApp account `blocked` with `healthState` `conflict` and
//! `terminalDisconnect: true`, and neither OpenClaw's reconnect loop nor its health monitor
//! restarts a blocked account; a logout (401) is `blocked` too, with `loggedOut: true`. An
//! account never linked is `stopped` with `linked: false`. A stop by hand (`channels.stop`)
//! looks like any other `stopped` account: OpenClaw keeps the fact to itself.

use serde::{Deserialize, Serialize};

/// An account's recorded lifecycle (`ChannelAccountSnapshot.lifecycle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Started, not yet connected.
    Starting,
    /// Connected.
    Ready,
    /// Reconnecting by itself (a restart is pending, a stale connection is being replaced).
    Recovering,
    /// Stopped on a terminal close (a conflict, a logout, a refused credential): nothing in
    /// OpenClaw restarts it.
    Blocked,
    /// Not running.
    Stopped,
}

impl Lifecycle {
    /// The stable name, as OpenClaw writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::Recovering => "recovering",
            Self::Blocked => "blocked",
            Self::Stopped => "stopped",
        }
    }

    /// OpenClaw's word for it; `None` for a word this version does not know.
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "starting" => Self::Starting,
            "ready" => Self::Ready,
            "recovering" => Self::Recovering,
            "blocked" => Self::Blocked,
            "stopped" => Self::Stopped,
            _ => return None,
        })
    }
}

/// One channel account as `channels.status` reported it: the fields the policy reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelRuntime {
    /// `whatsapp`, `telegram`, ...
    pub channel: String,
    /// OpenClaw account id (`default` for the default account).
    pub account: String,
    /// `None` for a channel that publishes no lifecycle.
    pub lifecycle: Option<Lifecycle>,
    /// `running`, when reported.
    pub running: Option<bool>,
    /// `enabled: false` is an account switched off in its config.
    pub enabled: Option<bool>,
    /// `configured: false` is an account without its credentials in the config.
    pub configured: Option<bool>,
    /// `linked: false` is a WhatsApp account without a session (never linked, or logged out).
    pub linked: Option<bool>,
    /// OpenClaw has a restart of it scheduled.
    pub restart_pending: bool,
    /// The last close was terminal: OpenClaw does not restart it by itself.
    pub terminal_disconnect: bool,
    /// The channel plugin's health word (`conflict`, `logged-out`, `reconnecting`, ...).
    pub health_state: Option<String>,
    /// `lastDisconnect.status`: the close status (440 conflict, 401 logged out, 408 timeout...).
    pub disconnect_status: Option<u16>,
    /// `lastDisconnect.loggedOut`.
    pub logged_out: bool,
}

/// Where an account stands for the watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Starting, connected, reconnecting by itself, or not meant to run (disabled, not
    /// configured, never linked).
    Fine,
    /// Blocked by a logout (401, `loggedOut`): only a relink brings it back.
    LoggedOut,
    /// Blocked by a 440 conflict: another client took the session over; the link is kept, a
    /// restart brings it back once the other client is gone.
    Conflict,
    /// Blocked for another reason (a refused bot token, a plugin OpenClaw does not trust):
    /// a restart would meet the same refusal.
    BlockedOther,
    /// Stopped while it is meant to run. `by_openclaw`: the stop was a terminal disconnect, so
    /// OpenClaw will not restart it; otherwise it may be a stop by hand.
    Stopped {
        /// `terminalDisconnect` was set.
        by_openclaw: bool,
    },
}

impl ChannelRuntime {
    /// Where this account stands, from this snapshot alone.
    pub fn standing(&self) -> Standing {
        let managed = self.enabled != Some(false) && self.configured != Some(false) && self.linked != Some(false);
        let health = self.health_state.as_deref().unwrap_or("");
        match self.lifecycle {
            Some(Lifecycle::Blocked)
                if self.logged_out || self.disconnect_status == Some(401) || health == "logged-out" =>
            {
                Standing::LoggedOut
            }
            Some(Lifecycle::Blocked) if self.disconnect_status == Some(440) || health == "conflict" => {
                Standing::Conflict
            }
            Some(Lifecycle::Blocked) => Standing::BlockedOther,
            Some(Lifecycle::Stopped) if managed && !self.restart_pending && self.running != Some(true) => {
                Standing::Stopped {
                    by_openclaw: self.terminal_disconnect,
                }
            }
            _ => Standing::Fine,
        }
    }
}

/// What the reconciler learnt of the channel runtimes in one pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ChannelsCheck {
    /// Not asked: nothing was probed in this pass (no way to reach the gateway).
    #[default]
    NotAsked,
    /// Asked, or meant to be, with no usable answer, and why in words: "admin RPC not enabled",
    /// no token, the gateway not live. Unknown, never a failure: nothing is decided on it.
    Unknown(String),
    /// `channels.status` answered: every account it reported.
    Read(Vec<ChannelRuntime>),
}

/// What `channels.start` did for one account, as the engine records it for the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ChannelStart {
    /// `started: true`: the account's runtime runs again (connectivity is not proven yet).
    Started {
        /// OpenClaw's `outcome`: `handed-off`, or `retry: task-owned` for one already running.
        outcome: String,
    },
    /// It was asked and did not start the account, or could not be asked: why, in words
    /// (`skipped: unlinked`, `the admin RPC is not enabled`, an RPC error).
    NotStarted {
        /// Why.
        why: String,
    },
    /// This function cannot reach the gateway's admin RPC (only the reconciler can): the action
    /// stays in the outbox for the reconciler's next pass. Never recorded.
    NotHere,
}

/// Whether and why the reconciler can read the admin RPC, as of its last pass that probed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "why")]
pub enum AdminRpc {
    /// Never asked (no pass probed the gateway yet).
    #[default]
    NotAsked,
    /// `channels.status` answered at the last pass.
    Read,
    /// No usable answer, and why.
    Unavailable(String),
}

/// Channel accounts tracked at most (a gateway has a handful).
pub const MAX_ACCOUNTS: usize = 16;

/// What the watchdog keeps of the channel runtimes (in [`super::health::Health`]): the admin
/// RPC's availability and each account's last lifecycle, trouble and restart.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelRuntimes {
    /// Whether the last pass could read `channels.status`.
    pub admin_rpc: AdminRpc,
    /// The accounts `channels.status` last reported (bounded by [`MAX_ACCOUNTS`]).
    pub accounts: Vec<AccountRuntime>,
}

impl ChannelRuntimes {
    /// The account `channel`/`account`, if tracked.
    pub fn get(&self, channel: &str, account: &str) -> Option<&AccountRuntime> {
        self.accounts
            .iter()
            .find(|a| a.channel == channel && a.account == account)
    }

    /// Records what `channels.start` answered for the action `key` (the engine, once it ran it).
    /// `false` when no account waits for that answer.
    pub fn record_start(&mut self, key: &str, answer: &ChannelStart) -> bool {
        if *answer == ChannelStart::NotHere {
            return false;
        }
        let restart = self
            .accounts
            .iter_mut()
            .filter_map(|a| a.restart.as_mut())
            .find(|r| r.key == key);
        match restart {
            Some(r) => {
                r.answer = Some(answer.clone());
                true
            }
            None => false,
        }
    }
}

/// One account's last known runtime, and clawkeeper's restart of it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountRuntime {
    /// `whatsapp`, `telegram`, ...
    pub channel: String,
    /// OpenClaw account id.
    pub account: String,
    /// The lifecycle `channels.status` last reported (`None`: the channel publishes none).
    pub lifecycle: Option<Lifecycle>,
    /// Since when it has reported that lifecycle (epoch seconds): moves only when it changes.
    pub since: i64,
    /// The trouble it is in now, if any: blocked by a conflict, or stopped while meant to run.
    pub trouble: Option<Trouble>,
    /// Since when (epoch seconds); also the episode's id in idempotency keys.
    pub trouble_since: Option<i64>,
    /// clawkeeper's last restart of it (kept for `channel_restart_window_secs` after the trouble
    /// ended, so a repeat is recognised).
    pub restart: Option<ChannelRestart>,
}

/// The troubles clawkeeper restarts an account for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trouble {
    /// Blocked by a 440 conflict (the link kept).
    Conflict,
    /// Stopped by OpenClaw while it is meant to run.
    Stopped,
}

impl Trouble {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Conflict => "conflict",
            Self::Stopped => "stopped",
        }
    }
}

/// One `channels.start` clawkeeper asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelRestart {
    /// When it was planned (epoch seconds).
    pub at: i64,
    /// The trouble episode it was for ([`AccountRuntime::trouble_since`]).
    pub episode: i64,
    /// The action's idempotency key.
    pub key: String,
    /// What the account was in.
    pub trouble: Option<Trouble>,
    /// What `channels.start` answered, once the engine ran it.
    pub answer: Option<ChannelStart>,
    /// `channel_restarted` was sent about this restart (or held, or muted).
    pub notified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whatsapp(lifecycle: Lifecycle) -> ChannelRuntime {
        ChannelRuntime {
            channel: "whatsapp".into(),
            account: "default".into(),
            lifecycle: Some(lifecycle),
            enabled: Some(true),
            configured: Some(true),
            linked: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn a_conflict_a_logout_and_other_blocks_are_told_apart() {
        let conflict = ChannelRuntime {
            health_state: Some("conflict".into()),
            disconnect_status: Some(440),
            terminal_disconnect: true,
            ..whatsapp(Lifecycle::Blocked)
        };
        assert_eq!(conflict.standing(), Standing::Conflict);
        let logged_out = ChannelRuntime {
            health_state: Some("logged-out".into()),
            disconnect_status: Some(401),
            logged_out: true,
            ..whatsapp(Lifecycle::Blocked)
        };
        assert_eq!(logged_out.standing(), Standing::LoggedOut);
        // A logout wins over a 440 status (the loggedOut flag is OpenClaw's own verdict).
        assert_eq!(
            ChannelRuntime {
                logged_out: true,
                ..conflict.clone()
            }
            .standing(),
            Standing::LoggedOut
        );
        let refused_token = ChannelRuntime {
            health_state: Some("blocked".into()),
            ..whatsapp(Lifecycle::Blocked)
        };
        assert_eq!(refused_token.standing(), Standing::BlockedOther);
    }

    #[test]
    fn only_an_account_meant_to_run_counts_as_stopped() {
        assert_eq!(
            whatsapp(Lifecycle::Stopped).standing(),
            Standing::Stopped { by_openclaw: false }
        );
        let terminal = ChannelRuntime {
            terminal_disconnect: true,
            ..whatsapp(Lifecycle::Stopped)
        };
        assert_eq!(terminal.standing(), Standing::Stopped { by_openclaw: true });
        // Never linked (the real gateway's unlinked WhatsApp account), disabled, unconfigured,
        // or a restart already scheduled: not clawkeeper's to start.
        for fine in [
            ChannelRuntime {
                linked: Some(false),
                ..whatsapp(Lifecycle::Stopped)
            },
            ChannelRuntime {
                enabled: Some(false),
                ..whatsapp(Lifecycle::Stopped)
            },
            ChannelRuntime {
                configured: Some(false),
                ..whatsapp(Lifecycle::Stopped)
            },
            ChannelRuntime {
                restart_pending: true,
                ..whatsapp(Lifecycle::Stopped)
            },
            whatsapp(Lifecycle::Recovering),
            whatsapp(Lifecycle::Ready),
            ChannelRuntime {
                lifecycle: None,
                ..whatsapp(Lifecycle::Ready)
            },
        ] {
            assert_eq!(fine.standing(), Standing::Fine, "{fine:?}");
        }
    }

    #[test]
    fn lifecycle_words_are_openclaws() {
        for l in [
            Lifecycle::Starting,
            Lifecycle::Ready,
            Lifecycle::Recovering,
            Lifecycle::Blocked,
            Lifecycle::Stopped,
        ] {
            assert_eq!(Lifecycle::parse(l.as_str()), Some(l));
            assert_eq!(serde_json::to_value(l).expect("json"), l.as_str());
        }
        assert_eq!(Lifecycle::parse("paused"), None);
    }

    #[test]
    fn a_start_answer_is_recorded_on_the_restart_that_asked_for_it() {
        let mut runtimes = ChannelRuntimes {
            accounts: vec![AccountRuntime {
                channel: "whatsapp".into(),
                account: "default".into(),
                restart: Some(ChannelRestart {
                    key: "home/channel/whatsapp/default/5/start".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let started = ChannelStart::Started {
            outcome: "handed-off".into(),
        };
        assert!(!runtimes.record_start("home/other", &started));
        assert!(!runtimes.record_start("home/channel/whatsapp/default/5/start", &ChannelStart::NotHere));
        assert!(runtimes.record_start("home/channel/whatsapp/default/5/start", &started));
        let restart = runtimes.get("whatsapp", "default").and_then(|a| a.restart.clone());
        assert_eq!(restart.and_then(|r| r.answer), Some(started));
    }
}
