//! Watchdog policy settings: the defaults of ARCHITECTURE.md section 4, overridable by
//! `CLAWKEEPER_POLICY` (a JSON object with any subset of these keys; tests use small values).

use serde::{Deserialize, Serialize};

use crate::watch::notice::{NoticeContext, is_known_zone};

/// Tunables of the watchdog policy. All durations are in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    /// Wait this long after an unexpected stop before telling the owner the gateway is down.
    pub down_grace_secs: u64,
    /// Unexpected stops within the window that make a crash loop.
    pub crash_loop_stops: u32,
    /// Window for counting crash-loop stops.
    pub crash_loop_window_secs: u64,
    /// A stop only counts towards a crash loop if the task ran less than this.
    pub crash_loop_max_runtime_secs: u64,
    /// First backoff pause.
    pub backoff_initial_secs: u64,
    /// Longest backoff pause (the doubling is capped here).
    pub backoff_max_secs: u64,
    /// Healthy time after which the backoff starts over.
    pub backoff_reset_secs: u64,
    /// Restarts under backoff before staying paused and escalating.
    pub backoff_max_tries: u32,
    /// A channel down longer than this is notified.
    pub channel_grace_secs: u64,
    /// A channel account clawkeeper restarted (`channels.start`) that is blocked or stopped again
    /// within this is not restarted again: the owner gets one `channel_restarted` notice instead
    /// (a restart that cannot hold would only fight the other client).
    pub channel_restart_window_secs: u64,
    /// Consecutive failed liveness probes while ECS says RUNNING that mean hung.
    pub hung_probe_failures: u32,
    /// A new task's failed liveness probes count toward hung only once `/startupz` said started,
    /// or, when `/startupz` cannot be read, once the task has run this long (OpenClaw's startup can
    /// take minutes). A task still starting after four times this is stuck, not slow.
    pub startup_grace_secs: u64,
    /// Reminders for an open incident, measured from its opening; the last repeats.
    pub reminder_secs: Vec<u64>,
    /// At most one notification per gateway within this interval; the rest are folded in.
    pub min_notify_interval_secs: u64,
    /// The snapshot schedule: the newest snapshot older than twice this is stale; 0 turns the check off.
    pub snapshot_interval_secs: u64,
    /// The owner's IANA time zone (`Europe/Berlin`): notices give their times in it beside UTC.
    pub owner_timezone: Option<String>,
    /// Not a policy key: where the commands in notices point (region, stack, functions), filled
    /// from the environment by [`crate::config::Config`]. Skipped by serde, so `CLAWKEEPER_POLICY`
    /// cannot set it (the key is unknown there, an error).
    #[serde(skip)]
    pub notices: NoticeContext,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            down_grace_secs: 90,
            crash_loop_stops: 3,
            crash_loop_window_secs: 15 * 60,
            crash_loop_max_runtime_secs: 10 * 60,
            backoff_initial_secs: 60,
            backoff_max_secs: 30 * 60,
            backoff_reset_secs: 10 * 60,
            backoff_max_tries: 8,
            channel_grace_secs: 3 * 60,
            channel_restart_window_secs: 30 * 60,
            hung_probe_failures: 3,
            startup_grace_secs: 300,
            reminder_secs: vec![3600, 6 * 3600, 24 * 3600, 48 * 3600],
            min_notify_interval_secs: 60,
            snapshot_interval_secs: 3600,
            owner_timezone: None,
            notices: NoticeContext::default(),
        }
    }
}

impl PolicySettings {
    /// Parses a `CLAWKEEPER_POLICY` value over the defaults and checks that the settings make
    /// sense together.
    pub fn from_json(json: &str) -> Result<Self, String> {
        Self::default().overlaid_with(json)
    }

    /// These settings with the keys of a `CLAWKEEPER_POLICY` value laid over them: a key the JSON
    /// does not name keeps its value here (the stack's snapshot interval, say), not the default.
    pub fn overlaid_with(&self, json: &str) -> Result<Self, String> {
        let not_settings = |e: String| {
            format!(
                "is not a JSON object of policy settings: {e} (known keys: {})",
                KNOWN_KEYS.join(", ")
            )
        };
        let overrides: serde_json::Value = serde_json::from_str(json).map_err(|e| not_settings(e.to_string()))?;
        let serde_json::Value::Object(overrides) = overrides else {
            return Err(not_settings("expected an object".into()));
        };
        // serde would also read a struct from an array of its fields in order: only an object is
        // laid over the settings, key by key.
        let mut merged = serde_json::to_value(self).map_err(|e| not_settings(e.to_string()))?;
        if let Some(fields) = merged.as_object_mut() {
            fields.extend(overrides);
        }
        let mut settings: Self = serde_json::from_value(merged).map_err(|e| not_settings(e.to_string()))?;
        // Not a policy key (serde skips it): the JSON round trip must not drop it.
        settings.notices = self.notices.clone();
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), String> {
        if self.crash_loop_stops < 2 {
            return Err("`crash_loop_stops` must be at least 2".into());
        }
        if self.backoff_initial_secs == 0 {
            return Err("`backoff_initial_secs` must be at least 1".into());
        }
        if self.backoff_initial_secs > self.backoff_max_secs {
            return Err(format!(
                "`backoff_initial_secs` ({}) is larger than `backoff_max_secs` ({})",
                self.backoff_initial_secs, self.backoff_max_secs
            ));
        }
        if self.hung_probe_failures == 0 {
            return Err("`hung_probe_failures` must be at least 1".into());
        }
        if self.reminder_secs.contains(&0) || !self.reminder_secs.is_sorted_by(|a, b| a < b) {
            return Err("`reminder_secs` must be positive and strictly increasing".into());
        }
        if let Some(zone) = &self.owner_timezone
            && !is_known_zone(zone)
        {
            return Err(format!(
                "`owner_timezone` {zone:?} is not an IANA time zone name (like \"Europe/Berlin\" or \"America/New_York\")"
            ));
        }
        Ok(())
    }
}

const KNOWN_KEYS: &[&str] = &[
    "down_grace_secs",
    "crash_loop_stops",
    "crash_loop_window_secs",
    "crash_loop_max_runtime_secs",
    "backoff_initial_secs",
    "backoff_max_secs",
    "backoff_reset_secs",
    "backoff_max_tries",
    "channel_grace_secs",
    "channel_restart_window_secs",
    "hung_probe_failures",
    "startup_grace_secs",
    "reminder_secs",
    "min_notify_interval_secs",
    "snapshot_interval_secs",
    "owner_timezone",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_match_the_struct() {
        let value = serde_json::to_value(PolicySettings::default()).expect("serializes");
        let mut keys: Vec<&str> = value.as_object().expect("object").keys().map(String::as_str).collect();
        let mut known = KNOWN_KEYS.to_vec();
        keys.sort_unstable();
        known.sort_unstable();
        assert_eq!(keys, known);
    }

    #[test]
    fn an_owner_timezone_is_an_iana_name() {
        let settings = PolicySettings::from_json(r#"{"owner_timezone":"Europe/Berlin"}"#).expect("valid");
        assert_eq!(settings.owner_timezone.as_deref(), Some("Europe/Berlin"));
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        for (json, expected) in [
            (r#"{"crash_loop_stops":1}"#, "crash_loop_stops"),
            (r#"{"backoff_initial_secs":120,"backoff_max_secs":60}"#, "larger than"),
            (r#"{"backoff_initial_secs":0}"#, "backoff_initial_secs"),
            (r#"{"hung_probe_failures":0}"#, "hung_probe_failures"),
            (r#"{"reminder_secs":[60,30]}"#, "strictly increasing"),
            (
                r#"{"owner_timezone":"Europe/Berln"}"#,
                "`owner_timezone` \"Europe/Berln\" is not an IANA",
            ),
            (r#"{"owner_timezone":""}"#, "`owner_timezone`"),
            (r#"{"notices":{}}"#, "unknown field `notices`"),
            (r#"{"down_grace_secs":-1}"#, "invalid value"),
            ("[90, 3]", "expected an object"),
        ] {
            let e = PolicySettings::from_json(json).expect_err(json);
            assert!(e.contains(expected), "{json}: {e}");
        }
    }
}
