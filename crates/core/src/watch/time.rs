//! Epoch seconds from and to the RFC 3339 timestamps ECS events carry, without a date crate:
//! the core only needs UTC parsing, a readable UTC rendering and short durations; and the wall
//! clock in epoch seconds ([`now_secs`]), for the engine's callers and the state store alike.

/// Epoch seconds on the wall clock now (0 before 1970, which no Lambda host runs at).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Parses an RFC 3339 timestamp (`2026-11-20T08:00:40.211Z`, `...+02:00`) to epoch seconds,
/// dropping fractions. `None` when the text is not such a timestamp.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let s = text.get(from..to)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || !matches!(ob[0], b'+' | b'-') || ob[3] != b':' {
                return None;
            }
            let hh: i64 = rest.get(1..3)?.parse().ok()?;
            let mm: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if ob[0] == b'-' { -1 } else { 1 };
            sign * (hh * 3600 + mm * 60)
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// `2026-11-20 08:03:12 UTC`: what an owner reads in a notice.
pub fn format_utc(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A short human duration: `45 s`, `3 min 12 s`, `2 h 5 min`, `3 d 4 h`.
pub fn format_duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..=59 => format!("{secs} s"),
        // The smaller unit only when it says something: "15 min", not "15 min 0 s".
        60..=3599 => with_rest(secs / 60, "min", secs % 60, "s"),
        3600..=86_399 => with_rest(secs / 3600, "h", secs % 3600 / 60, "min"),
        _ => with_rest(secs / 86_400, "d", secs % 86_400 / 3600, "h"),
    }
}

fn with_rest(big: i64, big_unit: &str, small: i64, small_unit: &str) -> String {
    if small == 0 {
        format!("{big} {big_unit}")
    } else {
        format!("{big} {big_unit} {small} {small_unit}")
    }
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian, exact for any i64 range we see).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ecs_timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-20T08:00:40.211Z"), Some(1_795_161_640));
        assert_eq!(parse_rfc3339("2026-11-20T10:00:40+02:00"), Some(1_795_161_640));
        for bad in [
            "",
            "2026-11-20",
            "2026-13-20T08:00:40Z",
            "2026-11-20T08:00:40",
            "2026-11-20T08:00:40.Z",
            "x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_utc(1_795_161_640), "2026-11-20 08:00:40 UTC");
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        for t in [0_i64, 951_782_400, 1_795_161_640, 4_102_444_799] {
            let text = format_utc(t).replace(" UTC", "Z").replace(' ', "T");
            assert_eq!(parse_rfc3339(&text), Some(t));
        }
        assert_eq!(format_duration(45), "45 s");
        assert_eq!(format_duration(192), "3 min 12 s");
        assert_eq!(format_duration(7500), "2 h 5 min");
        assert_eq!(format_duration(-5), "0 s");
        assert_eq!(format_duration(900), "15 min");
        assert_eq!(format_duration(3 * 86_400), "3 d");
    }
}
