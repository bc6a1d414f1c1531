//! UTC time formats of snapshots, without a calendar crate: the S3 key stamp
//! (`20261125T214721Z`), RFC 3339 with milliseconds, and OpenClaw's archive root
//! (`2026-11-25T21-47-21.795+00-00-openclaw-backup`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC instant broken into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// e.g. 2026.
    pub year: i64,
    /// 1-12.
    pub month: u32,
    /// 1-31.
    pub day: u32,
    /// 0-23.
    pub hour: u32,
    /// 0-59.
    pub minute: u32,
    /// 0-59.
    pub second: u32,
    /// 0-999.
    pub millis: u32,
}

/// Milliseconds since the Unix epoch (0 for times before it).
pub fn epoch_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The instant at `millis` since the epoch.
pub fn from_epoch_millis(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

/// Calendar fields of `millis` since the epoch (proleptic Gregorian, UTC).
pub fn civil(millis: i64) -> Civil {
    let days = millis.div_euclid(86_400_000);
    let rem = millis.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3_600_000) as u32,
        minute: (rem / 60_000 % 60) as u32,
        second: (rem / 1000 % 60) as u32,
        millis: (rem % 1000) as u32,
    }
}

/// Days since the epoch of a calendar date (inverse of [`civil`]'s date part).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYYMMDDTHHMMSSZ`, the stamp in snapshot keys (sorts in time order).
pub fn compact(millis: i64) -> String {
    let c = civil(millis);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Parses a [`compact`] stamp back to milliseconds since the epoch.
pub fn parse_compact(stamp: &str) -> Option<i64> {
    let b = stamp.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let s = stamp.get(range)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    Some(((days * 24 + i64::from(hour)) * 60 + i64::from(minute)) * 60_000 + i64::from(second) * 1000)
}

/// RFC 3339 in UTC with milliseconds: `2026-11-25T21:47:21.795Z` (OpenClaw's `createdAt`).
pub fn rfc3339(millis: i64) -> String {
    let c = civil(millis);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
    )
}

/// OpenClaw's archive root directory name for an archive created at `millis`, in UTC.
pub fn archive_root(millis: i64) -> String {
    let c = civil(millis);
    format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}.{:03}+00-00-openclaw-backup",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_examples() {
        // 2026-11-25T21:47:21.795Z
        let days = days_from_civil(2026, 11, 25);
        let millis = ((days * 24 + 21) * 60 + 47) * 60_000 + 21_795;
        assert_eq!(rfc3339(millis), "2026-11-25T21:47:21.795Z");
        assert_eq!(compact(millis), "20261125T214721Z");
        assert_eq!(archive_root(millis), "2026-11-25T21-47-21.795+00-00-openclaw-backup");
        assert_eq!(parse_compact("20261125T214721Z"), Some(millis - 795));
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn compact_round_trips_and_rejects_garbage() {
        for millis in [0_i64, 951_782_400_000, 1_709_164_800_000, 4_102_444_799_000] {
            assert_eq!(parse_compact(&compact(millis)), Some(millis), "{millis}");
        }
        for bad in [
            "",
            "20261125214721Z",
            "20261325T214721Z",
            "2026112xT214721Z",
            "20261125T246000Z",
        ] {
            assert_eq!(parse_compact(bad), None, "{bad}");
        }
    }
}
