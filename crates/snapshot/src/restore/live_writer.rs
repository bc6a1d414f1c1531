//! The live-writer check: a restore refuses while the state dir shows a writer (OpenClaw's
//! gateway lock with fresh writes, or files still changing between two looks).

use std::fs;
use std::io::{self, ErrorKind};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::error::SnapshotError;
use crate::inventory::hex;

// ---------------------------------------------------------------------------------------------
// The live-writer check.

/// What a look at the state dir found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateScan {
    /// OpenClaw's gateway lock files (`tmp/openclaw-<uid>/gateway*.lock`), relative paths. A
    /// clean shutdown removes them; one left behind means a running or killed gateway.
    pub locks: Vec<String>,
    /// Non-empty SQLite rollback journals or WALs (relative paths): a writer mid-transaction,
    /// or one that died in it.
    pub journals: Vec<String>,
    /// The most recently modified file (relative path) and its mtime.
    pub newest: Option<(String, SystemTime)>,
    /// Order-independent digest of every file's path, size and mtime: any write changes it.
    pub digest: String,
}

/// Scans the state dir (never following links). A missing dir scans as empty.
pub fn scan_state(state: &Path) -> io::Result<StateScan> {
    let mut scan = StateScan::default();
    let mut lines: Vec<String> = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = state.join(&rel);
        let read = match fs::read_dir(&dir) {
            Ok(read) => read,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for item in read {
            let item = item?;
            let rel = rel.join(item.file_name());
            let meta = match fs::symlink_metadata(state.join(&rel)) {
                Ok(meta) => meta,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                stack.push(rel);
                continue;
            }
            if !meta.is_file() {
                continue;
            }
            let name = item.file_name().to_string_lossy().into_owned();
            let text = rel.to_string_lossy().into_owned();
            let in_lock_dir = rel
                .iter()
                .nth(1)
                .is_some_and(|_| rel.iter().next().is_some_and(|p| p == "tmp"));
            if in_lock_dir && name.starts_with("gateway") && name.ends_with(".lock") {
                scan.locks.push(text.clone());
            }
            if crate::exclude::is_sqlite_sidecar(&name) && !name.ends_with("-shm") && meta.len() > 0 {
                scan.journals.push(text.clone());
            }
            let mtime = meta.modified()?;
            if scan.newest.as_ref().is_none_or(|(_, t)| mtime > *t) {
                scan.newest = Some((text.clone(), mtime));
            }
            lines.push(format!(
                "{text}\0{}\0{}\0{}",
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec()
            ));
        }
    }
    lines.sort();
    scan.locks.sort();
    scan.journals.sort();
    let mut hasher = Sha256::new();
    for line in &lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    scan.digest = hex(&hasher.finalize());
    Ok(scan)
}

/// The verdict on a scan: `Err` with the evidence when a live writer is likely, else the
/// warnings to report. `later` is a second scan after the settle time (only needed when the
/// first one saw recent writes). Pure.
pub fn judge_scans(first: &StateScan, later: Option<&StateScan>, now: SystemTime, quiet: Duration) -> Judgement {
    let age = |t: SystemTime| now.duration_since(t).unwrap_or_default();
    let recent = first.newest.as_ref().filter(|(_, t)| age(*t) < quiet);
    let mut warnings = Vec::new();
    if let Some((path, t)) = recent {
        let ago = age(*t).as_secs();
        if let Some(lock) = first.locks.first() {
            return Judgement::Live(format!(
                "OpenClaw's gateway lock {lock} is held and {path} was written {ago} s ago; stop the gateway \
                 (clawkeeper pause) and try again"
            ));
        }
        match later {
            None => return Judgement::NeedsSettle,
            Some(later) if later.digest != first.digest => {
                let changed = later.newest.as_ref().map_or("a file", |(p, _)| p.as_str());
                return Judgement::Live(format!(
                    "the state is still being written ({changed} changed while clawkeeper watched); stop the \
                     gateway and try again"
                ));
            }
            Some(_) => warnings.push(format!(
                "the state was last written {ago} s before the restore ({path}) and did not change while watched"
            )),
        }
    }
    for lock in &first.locks {
        warnings.push(format!(
            "{lock} was left by a gateway that did not shut down cleanly; it stays with the previous state"
        ));
    }
    for journal in &first.journals {
        warnings.push(format!(
            "{journal} is a leftover SQLite journal of an interrupted write; it stays with the previous state"
        ));
    }
    Judgement::Quiet(warnings)
}

/// What [`judge_scans`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// No live writer: go on, with these warnings.
    Quiet(Vec<String>),
    /// Recent writes without a lock: watch a while, then judge again.
    NeedsSettle,
    /// A live writer is likely: refuse, with this evidence.
    Live(String),
}

/// Scans, and when the state was written recently, watches it for `settle` before judging.
pub fn check_no_live_writer(state: &Path, quiet: Duration, settle: Duration) -> Result<Vec<String>, SnapshotError> {
    let scan = || scan_state(state).map_err(|e| SnapshotError::read(state, e));
    let first = scan()?;
    let mut verdict = judge_scans(&first, None, SystemTime::now(), quiet);
    if verdict == Judgement::NeedsSettle {
        std::thread::sleep(settle);
        let later = scan()?;
        verdict = judge_scans(&first, Some(&later), SystemTime::now(), quiet);
    }
    match verdict {
        Judgement::Quiet(warnings) => Ok(warnings),
        Judgement::Live(evidence) => Err(SnapshotError::LiveWriter(evidence)),
        Judgement::NeedsSettle => Err(SnapshotError::Internal("live-writer check did not settle".into())),
    }
}
