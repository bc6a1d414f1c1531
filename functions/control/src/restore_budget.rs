//! How a restore run spends its one invocation: `control` has at most 15 minutes, and a run that
//! Lambda ends midway leaves the gateway paused with nobody told. So the waits are fitted to the
//! invocation's deadline before anything changes, and the restore function is given a deadline
//! that ends before `control` stops waiting for it.

use std::time::Duration;

/// Kept at the end of the invocation for resume, pausing again, the notice and the answer.
pub const TAIL_SECS: i64 = 30;
/// The least the restore function is given: download, verify, extract and swap of a small state.
pub const MIN_RESTORE_SECS: i64 = 120;
/// The restore function must be done this long before `control` gives up waiting for it, so a
/// restore that would finish late refuses to swap instead of swapping unseen.
pub const RETURN_MARGIN_SECS: i64 = 15;

/// The waits the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    pub stop_timeout_secs: u64,
    pub health_timeout_secs: u64,
}

/// Checks before the run pauses anything that the asked waits and the least restore time fit.
pub fn fits(asked: Asked, now: i64, deadline: i64) -> Result<(), String> {
    let have = deadline - now - TAIL_SECS;
    let need = secs(asked.stop_timeout_secs) + MIN_RESTORE_SECS + secs(asked.health_timeout_secs);
    if need > have {
        return Err(format!(
            "this invocation has {} s left; the run needs up to {} s to see the gateway stop, at least {MIN_RESTORE_SECS} \
             s for the restore, up to {} s to watch its health and {TAIL_SECS} s to finish: lower stop_timeout_secs or \
             health_timeout_secs (nothing was changed)",
            deadline - now,
            asked.stop_timeout_secs,
            asked.health_timeout_secs
        ));
    }
    Ok(())
}

/// What the restore step may take, once the gateway was seen stopped at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreTime {
    /// How long `control` waits for the restore function's answer.
    pub invoke_timeout: Duration,
    /// Epoch milliseconds by which the restore function must have swapped, or refuse to.
    pub deadline_ms: i64,
}

/// Fits the restore step between `now` and what the health watch and the tail need.
pub fn restore_time(asked: Asked, now: i64, deadline: i64) -> Result<RestoreTime, String> {
    let wait = deadline - now - secs(asked.health_timeout_secs) - TAIL_SECS;
    if wait < MIN_RESTORE_SECS {
        return Err(format!(
            "only {wait} s are left for the restore after the gateway stopped (at least {MIN_RESTORE_SECS} s are \
             needed): run it again with a lower stop_timeout_secs or health_timeout_secs"
        ));
    }
    Ok(RestoreTime {
        invoke_timeout: Duration::from_secs(u64::try_from(wait).unwrap_or(0)),
        deadline_ms: (now + wait - RETURN_MARGIN_SECS) * 1000,
    })
}

fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: Asked = Asked {
        stop_timeout_secs: 180,
        health_timeout_secs: 180,
    };

    #[test]
    fn the_default_waits_fit_a_full_invocation_and_the_longest_do_not() {
        assert_eq!(fits(DEFAULTS, 0, 900), Ok(()));
        let longest = Asked {
            stop_timeout_secs: 840,
            health_timeout_secs: 840,
        };
        let refused = fits(longest, 0, 900).expect_err("840 + 120 + 840 + 30 s cannot fit 900 s");
        assert!(refused.contains("lower stop_timeout_secs"), "{refused}");
        // What fits exactly is allowed; a second more is not.
        let edge = Asked {
            stop_timeout_secs: 900 - 30 - 120 - 180,
            health_timeout_secs: 180,
        };
        assert_eq!(fits(edge, 0, 900), Ok(()));
        assert!(fits(edge, 1, 900).is_err());
    }

    #[test]
    fn the_restore_gets_what_the_health_watch_and_the_tail_leave_and_ends_before_control_stops_waiting() {
        let t = restore_time(DEFAULTS, 100, 900).expect("fits");
        assert_eq!(t.invoke_timeout, Duration::from_secs(900 - 100 - 180 - 30));
        assert_eq!(t.deadline_ms, (100 + 590 - RETURN_MARGIN_SECS) * 1000);
        // Every step together stays inside the invocation.
        let waited = i64::try_from(t.invoke_timeout.as_secs()).expect("secs");
        assert_eq!(
            100 + waited + 180 + TAIL_SECS,
            900,
            "the steps use the invocation up, not beyond"
        );
    }

    #[test]
    fn a_stop_that_took_too_long_leaves_no_restore_time() {
        assert!(restore_time(DEFAULTS, 900 - 180 - 30 - 119, 900).is_err());
        assert!(restore_time(DEFAULTS, 900 - 180 - 30 - 120, 900).is_ok());
    }
}
