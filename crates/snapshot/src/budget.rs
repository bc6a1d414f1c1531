//! Whether a capture fits in what is left of its invocation, and where its time went.
//!
//! Lambda stops an invocation at its deadline without a word. A state too large for one run must
//! instead fail early, with the figures that say why: before it starts when its size alone shows
//! it cannot fit (a database larger than the scratch disk, more bytes than the fastest capture
//! moves in the time left), and during the run as soon as the rate it is achieving projects a
//! finish past the deadline. The decisions are pure functions of [`Progress`] figures; the
//! capture feeds them from its writers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Bytes a second no capture exceeds on one vCPU (SQLite copy, gzip, hashing, upload):
/// about twice the fastest measured (docs/BENCHMARKS.md), so a refusal before the start is only
/// made when the state cannot fit whatever the run's luck.
pub const OPTIMISTIC_BYTES_PER_SEC: u64 = 200_000_000;

/// Kept after the capture for completing the upload, the sidecar and retention.
pub const FINISH_RESERVE: Duration = Duration::from_secs(45);

/// Before a projection is trusted: this much time into the measured phase...
const PROJECTION_MIN_ELAPSED: Duration = Duration::from_secs(20);
/// ...and this many bytes through it.
const PROJECTION_MIN_BYTES: u64 = 64 << 20;
/// A projected finish this far past the deadline fails the run; closer calls run on, and the
/// deadline guard stops them if they do not make it.
const PROJECTION_SLACK: f64 = 1.25;

/// The phases of a capture a profile reports, each the time spent in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Private SQLite copies (the byte copy and the integrity check).
    Sqlite,
    /// Inside the gzip encoder, its output's handling included.
    Encode,
    /// Handling the encoder's output: hashing and handing parts to the uploader.
    Sink,
    /// Waiting for the uploader to take a part (backpressure).
    UploadWait,
    /// The streamed verifier decoding and checking the archive.
    Verify,
}

const PHASES: [(Phase, &str); 5] = [
    (Phase::Sqlite, "sqlite_ms"),
    (Phase::Encode, "encode_ms"),
    (Phase::Sink, "sink_ms"),
    (Phase::UploadWait, "upload_wait_ms"),
    (Phase::Verify, "verify_ms"),
];

/// What a capture has done so far, shared by its writers, the uploader and the verifier.
#[derive(Debug, Default)]
pub struct Progress {
    nanos: [AtomicU64; 5],
    /// Uncompressed bytes handed to the archive (tar headers and payload).
    archived: AtomicU64,
    /// Bytes of live databases copied so far.
    sqlite_bytes: AtomicU64,
    /// Set once a deadline check failed: the write error it causes is that, not an I/O fault.
    overrun: AtomicBool,
}

impl Progress {
    /// Adds `spent` to `phase`.
    pub fn add(&self, phase: Phase, spent: Duration) {
        let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        self.nanos[phase as usize].fetch_add(nanos, Ordering::Relaxed);
    }

    /// Time spent in `phase` so far.
    pub fn spent(&self, phase: Phase) -> Duration {
        Duration::from_nanos(self.nanos[phase as usize].load(Ordering::Relaxed))
    }

    /// Counts `bytes` handed to the archive.
    pub fn archived(&self, bytes: u64) {
        self.archived.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts a database of `bytes` copied.
    pub fn sqlite_copied(&self, bytes: u64) {
        self.sqlite_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Marks the run as stopped by its deadline.
    pub fn mark_overrun(&self) {
        self.overrun.store(true, Ordering::Relaxed);
    }

    /// True once a deadline check stopped the run.
    pub fn overrun(&self) -> bool {
        self.overrun.load(Ordering::Relaxed)
    }

    /// The profile as `(name, milliseconds)` pairs, for the `snapshot profile` log line.
    pub fn millis(&self) -> Vec<(&'static str, u64)> {
        PHASES
            .iter()
            .map(|&(phase, name)| (name, u64::try_from(self.spent(phase).as_millis()).unwrap_or(u64::MAX)))
            .collect()
    }

    /// The figures [`over_budget`] decides on, at `elapsed` into the capture.
    pub fn figures(&self, elapsed: Duration, total_bytes: u64, sqlite_total: u64) -> Figures {
        Figures {
            elapsed,
            sqlite_time: self.spent(Phase::Sqlite),
            sqlite_done: self.sqlite_bytes.load(Ordering::Relaxed),
            sqlite_total,
            archived: self.archived.load(Ordering::Relaxed),
            total_bytes,
        }
    }
}

/// A capture's progress at one moment, for [`over_budget`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Since the capture started.
    pub elapsed: Duration,
    /// Of it, copying databases.
    pub sqlite_time: Duration,
    /// Database bytes copied.
    pub sqlite_done: u64,
    /// Database bytes in the inventory.
    pub sqlite_total: u64,
    /// Bytes handed to the archive.
    pub archived: u64,
    /// Bytes the archive will hold, from the inventory.
    pub total_bytes: u64,
}

/// How long the rest of the capture will take at the rates achieved so far, when enough has been
/// seen to say: the databases still to copy at the copy rate, the bytes still to archive at the
/// archive rate. `None` while the figures are too few to project from.
pub fn projected_remaining(f: &Figures) -> Option<Duration> {
    let archive_time = f.elapsed.saturating_sub(f.sqlite_time);
    if archive_time < PROJECTION_MIN_ELAPSED || f.archived < PROJECTION_MIN_BYTES {
        return None;
    }
    let archive_rate = f.archived as f64 / archive_time.as_secs_f64();
    let mut remaining = f.total_bytes.saturating_sub(f.archived) as f64 / archive_rate;
    let sqlite_left = f.sqlite_total.saturating_sub(f.sqlite_done);
    if sqlite_left > 0 {
        // No database copied yet: assume copying is as fast as archiving (it is faster: no gzip).
        let copy_rate = if f.sqlite_done > 0 && !f.sqlite_time.is_zero() {
            f.sqlite_done as f64 / f.sqlite_time.as_secs_f64()
        } else {
            archive_rate
        };
        remaining += sqlite_left as f64 / copy_rate;
    }
    Some(Duration::from_secs_f64(remaining.min(1e9)))
}

/// Why a capture should stop now rather than run into the deadline: the deadline guard itself
/// (`left` is under the finish reserve), or a projection past it by more than the slack. `None`
/// while it may still make it. Pure: `left` is the time until the capture's own deadline.
pub fn over_budget(f: &Figures, left: Duration) -> Option<String> {
    if left.is_zero() {
        return Some(format!(
            "{} of {} bytes were archived in {} s when the run reached its deadline (the invocation's, less {} s to \
             finish the upload)",
            f.archived,
            f.total_bytes,
            f.elapsed.as_secs(),
            FINISH_RESERVE.as_secs()
        ));
    }
    let remaining = projected_remaining(f)?;
    if remaining.as_secs_f64() > left.as_secs_f64() * PROJECTION_SLACK {
        return Some(format!(
            "after {} s, {} of {} bytes are archived; at this rate the rest needs about {} s but {} s are left",
            f.elapsed.as_secs(),
            f.archived,
            f.total_bytes,
            remaining.as_secs(),
            left.as_secs()
        ));
    }
    None
}

/// Refusal before any work, from sizes alone: the largest database must fit in the scratch space
/// (its private copy is made there), and the state must be archivable in `left` even at
/// [`OPTIMISTIC_BYTES_PER_SEC`]. Pure.
pub fn refuse_before_start(
    total_bytes: u64,
    largest_db: u64,
    scratch_free: Option<u64>,
    left: Duration,
) -> Option<String> {
    if let Some(free) = scratch_free
        && largest_db > free
    {
        return Some(format!(
            "its largest SQLite database is {largest_db} bytes, and its private copy needs that much of the function's \
             scratch disk, which has {free} bytes free: raise the stack's ScratchStorageMiB (up to 10240)"
        ));
    }
    let fastest = Duration::from_secs_f64(total_bytes as f64 / OPTIMISTIC_BYTES_PER_SEC as f64);
    if fastest > left {
        return Some(format!(
            "{total_bytes} bytes would take at least {} s at the fastest a capture runs, and the invocation has {} s \
             left before it must finish the upload",
            fastest.as_secs(),
            left.as_secs()
        ));
    }
    None
}

/// The capture's own deadline: the invocation's, less [`FINISH_RESERVE`].
pub fn capture_deadline(invocation_deadline: Instant) -> Instant {
    invocation_deadline
        .checked_sub(FINISH_RESERVE)
        .unwrap_or(invocation_deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    fn figures(
        elapsed: u64,
        sqlite_time: u64,
        sqlite_done: u64,
        sqlite_total: u64,
        archived: u64,
        total: u64,
    ) -> Figures {
        Figures {
            elapsed: Duration::from_secs(elapsed),
            sqlite_time: Duration::from_secs(sqlite_time),
            sqlite_done,
            sqlite_total,
            archived,
            total_bytes: total,
        }
    }

    #[test]
    fn no_projection_from_too_little() {
        assert_eq!(projected_remaining(&figures(10, 0, 0, 0, 500 * MB, 5_000 * MB)), None);
        assert_eq!(projected_remaining(&figures(60, 0, 0, 0, 10 * MB, 5_000 * MB)), None);
        // A long database copy is not archive time.
        assert_eq!(
            projected_remaining(&figures(60, 50, 4_000 * MB, 4_000 * MB, 500 * MB, 5_000 * MB)),
            None
        );
    }

    #[test]
    fn projection_splits_copying_from_archiving() {
        // 30 s archiving 300 MB (10 MB/s), 40 s copying 2,000 MB (50 MB/s); 2,000 MB of databases
        // and 4,700 MB of archive bytes to go.
        let f = figures(70, 40, 2_000 * MB, 4_000 * MB, 300 * MB, 5_000 * MB);
        let remaining = projected_remaining(&f).map(|d| d.as_secs());
        assert_eq!(remaining, Some(470 + 40));
    }

    #[test]
    fn slow_runs_stop_early_and_close_calls_run_on() {
        let f = figures(70, 40, 2_000 * MB, 4_000 * MB, 300 * MB, 5_000 * MB);
        // 510 s needed: 300 s left is past the slack, 450 s is a close call.
        let stop = over_budget(&f, Duration::from_secs(300));
        assert!(
            stop.as_deref()
                .is_some_and(|m| m.contains("about 510 s") && m.contains("300 s are left")),
            "{stop:?}"
        );
        assert_eq!(over_budget(&f, Duration::from_secs(450)), None);
        // The deadline guard needs no projection.
        let early = figures(5, 0, 0, 0, MB, 5_000 * MB);
        assert!(over_budget(&early, Duration::ZERO).is_some_and(|m| m.contains("reached its deadline")));
        assert_eq!(over_budget(&early, Duration::from_secs(1)), None);
    }

    #[test]
    fn refusals_before_the_start() {
        let left = Duration::from_secs(855);
        assert_eq!(
            refuse_before_start(5_000 * MB, 4_000 * MB, Some(10_000 * MB), left),
            None
        );
        let scratch = refuse_before_start(5_000 * MB, 4_000 * MB, Some(2_000 * MB), left);
        assert!(scratch.is_some_and(|m| m.contains("ScratchStorageMiB")));
        // 200 GB cannot move in 855 s at 200 MB/s; an unknown scratch size is not a refusal.
        let huge = refuse_before_start(200_000 * MB, 0, None, left);
        assert!(huge.is_some_and(|m| m.contains("at least 1000 s")));
        assert_eq!(refuse_before_start(100_000 * MB, 0, None, left), None);
    }

    #[test]
    fn phases_add_up_and_report_in_millis() {
        let p = Progress::default();
        p.add(Phase::Encode, Duration::from_millis(1500));
        p.add(Phase::Encode, Duration::from_millis(500));
        p.add(Phase::Verify, Duration::from_millis(7));
        let millis = p.millis();
        assert!(millis.contains(&("encode_ms", 2000)));
        assert!(millis.contains(&("verify_ms", 7)));
        assert!(millis.contains(&("sqlite_ms", 0)));
        assert!(!p.overrun());
        p.mark_overrun();
        assert!(p.overrun());
    }
}
