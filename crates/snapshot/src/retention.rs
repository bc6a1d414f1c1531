//! Which snapshots to keep: one of each of the last N hours, days, ISO weeks and months
//! (48 / 14 / 8 / 12 by default), plus always the newest snapshot, the newest verified one and
//! the newest pre-deployment one. Within a period the kept one is the newest *preferred*
//! snapshot (quiescent, or taken for an event such as a task stop) when the period has one,
//! else the newest: a snapshot taken while the task was stopped is consistent as a whole,
//! where a scheduled live one minutes later is only consistent file by file. A pure
//! function: the caller deletes each dropped snapshot's archive and sidecar together.

use std::collections::HashSet;

use serde::Deserialize;

use crate::clock;

/// How many periods of each size keep a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Hours.
    pub hourly: usize,
    /// Days.
    pub daily: usize,
    /// ISO weeks (Monday to Sunday, UTC).
    pub weekly: usize,
    /// Calendar months.
    pub monthly: usize,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            hourly: 48,
            daily: 14,
            weekly: 8,
            monthly: 12,
        }
    }
}

/// A snapshot as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Archive key (identifies the snapshot).
    pub key: String,
    /// When it was taken.
    pub taken_at_millis: i64,
    /// Its trigger word.
    pub trigger: String,
    /// True when a verification run checked it.
    pub verified: bool,
    /// True when it was taken while the gateway was known to be stopped.
    pub quiescent: bool,
}

impl Candidate {
    /// Kept over a scheduled live snapshot of the same period: quiescent, or taken for an event.
    pub fn preferred(&self) -> bool {
        self.quiescent || self.trigger != "scheduled"
    }
}

/// Trigger words that mark a snapshot taken before a deployment (`deployment-started` is what
/// the watchdog sends when an ECS deployment starts).
pub fn is_pre_deployment(trigger: &str) -> bool {
    trigger.starts_with("pre-deploy") || trigger == "deployment" || trigger == "deployment-started"
}

/// Maps a time (milliseconds since the epoch) to its period number.
type Bucket = fn(i64) -> i64;

/// The keys of the snapshots to delete, in `candidates` order.
pub fn to_delete(candidates: &[Candidate], policy: &RetentionPolicy) -> Vec<String> {
    let mut order: Vec<&Candidate> = candidates.iter().collect();
    // Newest first; the key breaks ties so the result does not depend on input order.
    order.sort_by(|a, b| {
        b.taken_at_millis
            .cmp(&a.taken_at_millis)
            .then_with(|| b.key.cmp(&a.key))
    });
    let mut keep: HashSet<&str> = HashSet::new();
    if let Some(newest) = order.first() {
        keep.insert(&newest.key);
    }
    if let Some(c) = order.iter().find(|c| c.verified) {
        keep.insert(&c.key);
    }
    if let Some(c) = order.iter().find(|c| is_pre_deployment(&c.trigger)) {
        keep.insert(&c.key);
    }
    let buckets: [(usize, Bucket); 4] = [
        (policy.hourly, |t| t.div_euclid(3_600_000)),
        (policy.daily, |t| t.div_euclid(86_400_000)),
        // 1970-01-01 was a Thursday: shift by 3 days so weeks start on Monday.
        (policy.weekly, |t| (t.div_euclid(86_400_000) + 3).div_euclid(7)),
        (policy.monthly, |t| {
            let c = clock::civil(t);
            c.year * 12 + i64::from(c.month)
        }),
    ];
    for (count, bucket) in buckets {
        // The newest `count` periods that have a snapshot, each with its chosen one: the newest
        // preferred snapshot of the period, else its newest.
        let mut chosen: Vec<(i64, &Candidate)> = Vec::new();
        for c in &order {
            let period = bucket(c.taken_at_millis);
            let full = chosen.len() >= count;
            match chosen.iter_mut().find(|(p, _)| *p == period) {
                Some((_, best)) if c.preferred() && !best.preferred() => *best = c,
                Some(_) => {}
                None if !full => chosen.push((period, c)),
                // `order` is newest first, so once `count` periods are full no newer one comes;
                // older snapshots of the chosen periods are still looked at for preference.
                None => {}
            }
        }
        for (_, c) in chosen {
            keep.insert(&c.key);
        }
    }
    candidates
        .iter()
        .filter(|c| !keep.contains(c.key.as_str()))
        .map(|c| c.key.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const HOUR: i64 = 3_600_000;

    fn candidate(i: usize, at: i64, trigger: &str, verified: bool) -> Candidate {
        Candidate {
            key: format!("gw/snapshots/{i:06}"),
            taken_at_millis: at,
            trigger: trigger.into(),
            verified,
            quiescent: trigger == "task-stopped",
        }
    }

    #[test]
    fn hourly_snapshots_for_a_year_keep_the_documented_set() {
        let start = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        let all: Vec<Candidate> = (0..24 * 365)
            .map(|h| candidate(h, start + h as i64 * HOUR, "scheduled", false))
            .collect();
        let deleted = to_delete(&all, &RetentionPolicy::default());
        let kept = all.len() - deleted.len();
        // 48 hourly; daily/weekly/monthly pick the newest of each period, which overlap the
        // newer sets: 48 + 12 more days + 6 more weeks + 10 more months (11 distinct months
        // back from December, the newest of which is already kept) = at most 76.
        assert!(kept <= 48 + 14 + 8 + 12, "{kept}");
        assert!(kept >= 48 + 12, "{kept}");
        let newest = &all[all.len() - 1].key;
        assert!(!deleted.contains(newest));
    }

    #[test]
    fn newest_verified_and_pre_deployment_survive() {
        let policy = RetentionPolicy {
            hourly: 1,
            daily: 0,
            weekly: 0,
            monthly: 0,
        };
        let all = vec![
            candidate(0, 0, "pre-deployment", false),
            candidate(1, HOUR, "scheduled", true),
            candidate(2, 2 * HOUR, "scheduled", false),
            candidate(3, 3 * HOUR, "scheduled", false),
        ];
        let deleted = to_delete(&all, &policy);
        assert_eq!(deleted, vec![all[2].key.clone()]);
    }

    proptest! {
        #[test]
        fn the_newest_is_always_kept_and_nothing_unknown_is_deleted(
            times in prop::collection::vec(0i64..(400 * 24 * HOUR), 1..200),
            hourly in 0usize..50, daily in 0usize..15,
        ) {
            let all: Vec<Candidate> = times.iter().enumerate().map(|(i, t)| candidate(i, *t, "scheduled", false)).collect();
            let policy = RetentionPolicy { hourly, daily, weekly: 8, monthly: 12 };
            let deleted = to_delete(&all, &policy);
            let newest = all.iter().max_by(|a, b| a.taken_at_millis.cmp(&b.taken_at_millis).then_with(|| a.key.cmp(&b.key))).map(|c| c.key.clone());
            prop_assert!(newest.is_some_and(|n| !deleted.contains(&n)));
            prop_assert!(deleted.iter().all(|k| all.iter().any(|c| &c.key == k)));
            // Idempotent: applying it to what is kept deletes nothing more.
            let kept: Vec<Candidate> = all.iter().filter(|c| !deleted.contains(&c.key)).cloned().collect();
            let again = to_delete(&kept, &policy);
            prop_assert!(again.is_empty(), "{again:?}");
        }
    }

    #[test]
    fn an_event_snapshot_wins_its_hour_over_a_later_scheduled_one() {
        let policy = RetentionPolicy {
            hourly: 2,
            daily: 0,
            weekly: 0,
            monthly: 0,
        };
        // Hour 0: task-stopped (quiescent) at :50, scheduled at :55. Hour 1: scheduled only.
        let all = vec![
            candidate(0, 50 * 60_000, "task-stopped", false),
            candidate(1, 55 * 60_000, "scheduled", false),
            candidate(2, HOUR + 60_000, "scheduled", false),
        ];
        assert_eq!(to_delete(&all, &policy), vec![all[1].key.clone()]);
        assert!(is_pre_deployment("deployment-started"));
    }

    fn arb_candidates() -> impl Strategy<Value = Vec<Candidate>> {
        let trigger = prop::sample::select(vec![
            "scheduled",
            "scheduled",
            "task-stopped",
            "manual",
            "deployment-started",
        ]);
        prop::collection::vec((0i64..(60 * 24 * HOUR), trigger, any::<bool>(), any::<bool>()), 1..150).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (at, trigger, verified, quiescent))| Candidate {
                    key: format!("gw/snapshots/{i:06}"),
                    taken_at_millis: at,
                    trigger: trigger.into(),
                    verified,
                    quiescent: quiescent && trigger != "scheduled",
                })
                .collect()
        })
    }

    fn newest(all: &[Candidate], pick: impl Fn(&Candidate) -> bool) -> Option<&Candidate> {
        all.iter().filter(|c| pick(c)).max_by(|a, b| {
            a.taken_at_millis
                .cmp(&b.taken_at_millis)
                .then_with(|| a.key.cmp(&b.key))
        })
    }

    proptest! {
        #[test]
        fn the_always_kept_ones_survive_and_retention_is_stable(
            all in arb_candidates(),
            hourly in 0usize..50, daily in 0usize..15, weekly in 0usize..9, monthly in 0usize..13,
        ) {
            let policy = RetentionPolicy { hourly, daily, weekly, monthly };
            let deleted = to_delete(&all, &policy);
            let gone = |c: Option<&Candidate>| c.is_some_and(|c| deleted.contains(&c.key));
            prop_assert!(!gone(newest(&all, |_| true)), "the newest");
            prop_assert!(!gone(newest(&all, |c| c.verified)), "the newest verified");
            prop_assert!(!gone(newest(&all, |c| is_pre_deployment(&c.trigger))), "the newest pre-deployment");
            prop_assert!(deleted.iter().all(|k| all.iter().any(|c| &c.key == k)));
            let kept: Vec<Candidate> = all.iter().filter(|c| !deleted.contains(&c.key)).cloned().collect();
            prop_assert!(kept.len() <= hourly + daily + weekly + monthly + 3, "{} kept", kept.len());
            // Idempotent: what is kept is kept again.
            prop_assert!(to_delete(&kept, &policy).is_empty());
        }

        #[test]
        fn within_a_kept_hour_a_preferred_snapshot_beats_a_scheduled_live_one(all in arb_candidates()) {
            let policy = RetentionPolicy { hourly: 10_000, daily: 0, weekly: 0, monthly: 0 };
            let deleted = to_delete(&all, &policy);
            for hour in all.iter().map(|c| c.taken_at_millis.div_euclid(HOUR)) {
                let in_hour: Vec<&Candidate> = all.iter().filter(|c| c.taken_at_millis.div_euclid(HOUR) == hour).collect();
                let kept: Vec<&&Candidate> = in_hour.iter().filter(|c| !deleted.contains(&c.key)).collect();
                prop_assert!(!kept.is_empty(), "every hour keeps one");
                if in_hour.iter().any(|c| c.preferred()) {
                    prop_assert!(kept.iter().any(|c| c.preferred()), "hour {hour} kept only scheduled live snapshots");
                }
            }
        }
    }
}
