//! Every function's log lines: JSON when Lambda's `LoggingConfig` asks for it, at the level
//! Lambda's `ApplicationLogLevel` sets (else `RUST_LOG`, else INFO).
//!
//! The filter is a plain per-target level list (`info`, `clawkeeper_aws=debug,warn`), not
//! `tracing-subscriber`'s `EnvFilter`: its span and field-value matching is never used here, and
//! it links a regular-expression compiler (about a megabyte) into every function.

use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};

/// Lambda's advanced logging control: the application log level.
const LAMBDA_LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
/// The Rust convention: a level, or `target=level` pairs separated by commas.
const RUST_LOG: &str = "RUST_LOG";
/// Lambda's advanced logging control: `JSON` or `Text`.
const LAMBDA_LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";

/// Sets the process's `tracing` subscriber, writing to stdout (Lambda sends it to CloudWatch).
pub fn init_tracing() {
    let (filter, unreadable) = log_filter(
        std::env::var(LAMBDA_LOG_LEVEL).ok().as_deref(),
        std::env::var(RUST_LOG).ok().as_deref(),
    );
    let json = std::env::var(LAMBDA_LOG_FORMAT).is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_max_level(LevelFilter::TRACE);
    // The filter is a layer over the formatter: `with_max_level` only lets everything reach it.
    use tracing_subscriber::layer::SubscriberExt;
    let installed = if json {
        tracing::subscriber::set_global_default(builder.json().finish().with(filter))
    } else {
        tracing::subscriber::set_global_default(builder.finish().with(filter))
    };
    if installed.is_err() {
        // Only a second init in the same process gets here; the first subscriber keeps logging.
        return;
    }
    if let Some(problem) = unreadable {
        tracing::warn!(problem, "log level unreadable; logging at INFO");
    }
}

/// The filter for Lambda's level (`TRACE` to `FATAL`, any case) or else `RUST_LOG`, else INFO,
/// and what was unreadable when a variable set could not be read (the filter is then INFO).
pub fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> (Targets, Option<String>) {
    let info = Targets::new().with_default(LevelFilter::INFO);
    if let Some(level) = set(lambda_level) {
        // Lambda's scale ends at FATAL, which `tracing` has no level for: its errors are the nearest.
        let level = if level.eq_ignore_ascii_case("fatal") {
            "error"
        } else {
            level
        };
        return match LevelFilter::from_str(level) {
            Ok(level) => (Targets::new().with_default(level), None),
            Err(_) => (info, Some(format!("{LAMBDA_LOG_LEVEL}=`{level}` is not a log level"))),
        };
    }
    match set(rust_log).map(Targets::from_str) {
        None => (info, None),
        Some(Ok(targets)) => (targets, None),
        Some(Err(e)) => (info, Some(format!("{RUST_LOG}: {e}"))),
    }
}

/// A variable's value, blank counting as unset.
fn set(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(filter: &Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn lambdas_level_wins_over_rust_log() {
        let (filter, problem) = log_filter(Some("WARN"), Some("debug"));
        assert_eq!(problem, None);
        assert!(enabled(&filter, "control", Level::WARN));
        assert!(!enabled(&filter, "control", Level::INFO));
    }

    #[test]
    fn fatal_is_errors_only() {
        let (filter, problem) = log_filter(Some("fatal"), None);
        assert_eq!(problem, None);
        assert!(enabled(&filter, "snapshot", Level::ERROR));
        assert!(!enabled(&filter, "snapshot", Level::WARN));
    }

    #[test]
    fn rust_log_takes_per_target_levels() {
        let (filter, problem) = log_filter(None, Some("clawkeeper_aws=debug,warn"));
        assert_eq!(problem, None);
        assert!(enabled(&filter, "clawkeeper_aws::s3", Level::DEBUG));
        assert!(!enabled(&filter, "clawkeeper_core", Level::INFO));
        assert!(enabled(&filter, "clawkeeper_core", Level::WARN));
    }

    #[test]
    fn nothing_set_is_info() {
        for (lambda, rust) in [(None, None), (Some(""), Some("  "))] {
            let (filter, problem) = log_filter(lambda, rust);
            assert_eq!(problem, None);
            assert!(enabled(&filter, "reconciler", Level::INFO));
            assert!(!enabled(&filter, "reconciler", Level::DEBUG));
        }
    }

    #[test]
    fn an_unreadable_level_is_info_and_said() {
        let (filter, problem) = log_filter(Some("loud"), None);
        assert!(problem.is_some_and(|p| p.contains("AWS_LAMBDA_LOG_LEVEL") && p.contains("loud")));
        assert!(enabled(&filter, "control", Level::INFO));
        assert!(!enabled(&filter, "control", Level::DEBUG));

        let (filter, problem) = log_filter(None, Some("control=shout"));
        assert!(problem.is_some_and(|p| p.contains("RUST_LOG")));
        assert!(enabled(&filter, "control", Level::INFO));
    }
}
