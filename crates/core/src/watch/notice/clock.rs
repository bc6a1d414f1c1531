//! Times as an owner reads them: UTC to the minute, how long ago, and the owner's own time zone
//! when the policy key `owner_timezone` names one (an IANA name, checked when the settings load).
//!
//! The IANA database is bundled with `jiff` (the Lambda image has no zoneinfo to rely on), so a
//! zone renders the same everywhere, tests included.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// When a notice is rendered, and in which zone its owner lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock<'a> {
    /// Epoch seconds now: "how long ago" is counted from here.
    pub now: i64,
    /// IANA name of the owner's time zone (`Europe/Berlin`), if the policy gives one.
    pub zone: Option<&'a str>,
}

impl Clock<'_> {
    /// `Since 2026-11-20 08:00 UTC, 12 min ago (09:00 Europe/Berlin)`.
    pub fn line(&self, label: &str, at: i64) -> String {
        let ago = self.now.saturating_sub(at);
        let ago = if ago < 60 {
            "just now".to_string()
        } else {
            format!("{} ago", format_span(ago))
        };
        let local = self.local(at).map(|l| format!(" ({l})")).unwrap_or_default();
        format!("{label} {}, {ago}{local}", utc_minute(at))
    }

    /// `08:06 UTC (09:06 Europe/Berlin)`: a time to come or a time of day, without "ago".
    pub fn at(&self, at: i64) -> String {
        let local = self.local(at).map(|l| format!(" ({l})")).unwrap_or_default();
        format!("{}{local}", utc_minute(at))
    }

    /// The time in the owner's zone: `09:00 Europe/Berlin`, with the date when it differs from
    /// the UTC date. `None` without a zone (or for a name that is no zone: the settings refuse it).
    fn local(&self, at: i64) -> Option<String> {
        let name = self.zone?;
        let zone = TimeZone::get(name).ok()?;
        let ts = Timestamp::from_second(at).ok()?;
        let local = ts.to_zoned(zone);
        let utc = ts.to_zoned(TimeZone::UTC);
        let format = if local.date() == utc.date() {
            "%H:%M"
        } else {
            "%Y-%m-%d %H:%M"
        };
        Some(format!("{} {name}", local.strftime(format)))
    }
}

/// `2026-11-20 08:00 UTC`.
fn utc_minute(at: i64) -> String {
    match Timestamp::from_second(at) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => format!("{at} (epoch seconds)"),
    }
}

/// An owner's duration: seconds under a minute, then whole minutes (rounded down: "down for
/// 2 min" is never more than happened), then hours and minutes, then days and hours.
pub fn format_span(secs: i64) -> String {
    let secs = secs.max(0);
    let with_rest = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big} {big_unit}")
        } else {
            format!("{big} {big_unit} {small} {small_unit}")
        }
    };
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        3600..=86_399 => with_rest(secs / 3600, "h", secs % 3600 / 60, "min"),
        _ => with_rest(secs / 86_400, "d", secs % 86_400 / 3600, "h"),
    }
}

/// Whether `name` is an IANA time zone this build knows (the policy check).
pub fn is_known_zone(name: &str) -> bool {
    !name.trim().is_empty() && TimeZone::get(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-20 08:00:00 UTC.
    const T0: i64 = 1_795_161_600;

    #[test]
    fn spans_are_minutes_above_one_minute() {
        assert_eq!(format_span(45), "45 s");
        assert_eq!(format_span(60), "1 min");
        assert_eq!(format_span(151), "2 min");
        assert_eq!(format_span(3599), "59 min");
        assert_eq!(format_span(7500), "2 h 5 min");
        assert_eq!(format_span(3 * 86_400 + 7200), "3 d 2 h");
        assert_eq!(format_span(-5), "0 s");
    }

    #[test]
    fn lines_give_utc_how_long_ago_and_the_owner_zone() {
        let utc_only = Clock {
            now: T0 + 725,
            zone: None,
        };
        assert_eq!(utc_only.line("Since", T0), "Since 2026-11-20 08:00 UTC, 12 min ago");
        assert_eq!(utc_only.line("At", T0 + 700), "At 2026-11-20 08:11 UTC, just now");
        let berlin = Clock {
            now: T0 + 725,
            zone: Some("Europe/Berlin"),
        };
        assert_eq!(
            berlin.line("Since", T0),
            "Since 2026-11-20 08:00 UTC, 12 min ago (09:00 Europe/Berlin)"
        );
        let tokyo = Clock {
            now: T0,
            zone: Some("Asia/Tokyo"),
        };
        // 17:00 in Tokyo is the same day; 20:00 UTC is the next day there.
        assert_eq!(tokyo.at(T0), "2026-11-20 08:00 UTC (17:00 Asia/Tokyo)");
        assert_eq!(
            tokyo.at(T0 + 12 * 3600),
            "2026-11-20 20:00 UTC (2026-11-21 05:00 Asia/Tokyo)"
        );
    }

    #[test]
    fn zones_are_iana_names() {
        assert!(is_known_zone("Europe/Berlin") && is_known_zone("America/New_York") && is_known_zone("UTC"));
        assert!(!is_known_zone("Europe/Berln") && !is_known_zone("") && !is_known_zone("CEST+2"));
    }
}
