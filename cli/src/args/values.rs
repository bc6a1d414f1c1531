//! Value parsers for the numeric flags. clap's stock integer parser would answer "invalid digit
//! found in string"; these say what the flag takes.
//!
//! Upper bounds (how many days of history, how long a silence) are the control function's to
//! enforce: it names them when it refuses, and keeping them in one place stops them drifting.

/// `--minutes`: 0 or more (0 unmutes).
pub fn minutes(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| "expected a whole number of minutes, 0 or more (0 unmutes)".to_string())
}

/// `--days`, `--limit`: 1 or more (0 would ask for nothing, and the control function refuses it).
pub fn positive(text: &str) -> Result<u64, String> {
    text.parse()
        .ok()
        .filter(|n: &u64| *n > 0)
        .ok_or_else(|| "expected a whole number, 1 or more".to_string())
}

/// `--now`: epoch seconds.
pub fn epoch(text: &str) -> Result<i64, String> {
    text.parse()
        .map_err(|_| "expected epoch seconds, a whole number (e.g. 1795170000)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_whole_and_in_range() {
        assert_eq!(minutes("0"), Ok(0));
        assert_eq!(minutes("60"), Ok(60));
        assert!(minutes("-1").is_err() && minutes("1.5").is_err() && minutes("").is_err());
        assert_eq!(positive("1"), Ok(1));
        assert!(positive("0").is_err() && positive("-3").is_err() && positive("x").is_err());
        assert_eq!(epoch("1795170000"), Ok(1_795_170_000));
        assert_eq!(epoch("-5"), Ok(-5));
        assert!(epoch("soon").is_err());
    }
}
