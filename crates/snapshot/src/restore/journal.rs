//! The swap's journal: what makes a restore killed between two renames (a Lambda timeout, an
//! out-of-memory kill) recoverable instead of leaving no `.openclaw`, or a key dir that does not
//! belong to it.
//!
//! Before the first rename, the whole plan is written to `<root>/.clawkeeper-restore-journal.json`
//! (to a temp name, fsynced, renamed, the root dir fsynced): every rename in order, the snapshot
//! key and the stamp. Nothing else is written to it during the swap: a rename's completion shows
//! on disk (its `from` gone, its `to` there), and every point of the swap, "the first k renames
//! done", has its own picture of which journaled paths exist. Once all renames are done the
//! journal is removed. The next restore (or a recovery on its own) finds a leftover journal,
//! looks at the paths, and [`decide`]s: all renames done, roll forward (drop the journal);
//! some done, roll them back in reverse; a picture that fits no point of the swap (a path moved
//! by hand, both ends of a rename missing), touch nothing and say which paths do not fit.
//!
//! Paths in the journal are relative to the state root, so a recovery reads them right wherever
//! the volume is mounted, and only paths below the root can ever be renamed by one (the root is
//! writable by the gateway; a journal is not trusted further than that).

use std::collections::HashMap;
use std::fs;
use std::io::{self, ErrorKind, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Rename, STAGING_PREFIX};
use crate::clock;
use crate::error::SnapshotError;

/// The journal's file name, in the state root.
pub const JOURNAL_NAME: &str = ".clawkeeper-restore-journal.json";
/// Where it is written before it is renamed into place: a crash mid-write leaves only this.
pub const JOURNAL_TEMP_NAME: &str = ".clawkeeper-restore-journal.json.tmp";
/// The journal's format.
pub const JOURNAL_FORMAT: &str = "clawkeeper-restore-journal/1";

/// One journaled rename, relative to the state root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRename {
    /// From.
    pub from: String,
    /// To (absent before the rename).
    pub to: String,
}

/// The plan of one swap, written before its first rename.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapJournal {
    /// [`JOURNAL_FORMAT`].
    pub format: String,
    /// The archive being restored.
    pub snapshot_key: String,
    /// The restore's stamp (in `<name>.pre-restore-<stamp>` and the staging dir's name).
    pub stamp: String,
    /// RFC 3339, when the journal was written.
    pub written_at: String,
    /// The restore's staging dir, relative to the root: removed once the swap is resolved.
    pub staging: String,
    /// Every rename, in the order they are made.
    pub renames: Vec<JournalRename>,
}

impl SwapJournal {
    /// The journal of `renames` (absolute paths below `root`).
    pub fn new(
        root: &Path,
        snapshot_key: &str,
        stamp: &str,
        staging: &Path,
        renames: &[Rename],
    ) -> Result<Self, SnapshotError> {
        let relative = |path: &Path| -> Result<String, SnapshotError> {
            path.strip_prefix(root)
                .ok()
                .and_then(|p| p.to_str())
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    SnapshotError::Internal(format!(
                        "swap path {} is not a UTF-8 path below {}",
                        path.display(),
                        root.display()
                    ))
                })
        };
        let journal = SwapJournal {
            format: JOURNAL_FORMAT.into(),
            snapshot_key: snapshot_key.into(),
            stamp: stamp.into(),
            written_at: clock::rfc3339(clock::epoch_millis(std::time::SystemTime::now())),
            staging: relative(staging)?,
            renames: renames
                .iter()
                .map(|r| {
                    Ok(JournalRename {
                        from: relative(&r.from)?,
                        to: relative(&r.to)?,
                    })
                })
                .collect::<Result<_, SnapshotError>>()?,
        };
        journal.validate().map_err(SnapshotError::Internal)?;
        Ok(journal)
    }

    /// Its renames as absolute paths below `root`.
    pub fn renames_under(&self, root: &Path) -> Vec<Rename> {
        self.renames
            .iter()
            .map(|r| Rename {
                from: root.join(&r.from),
                to: root.join(&r.to),
            })
            .collect()
    }

    /// A journal recovery may act on: its format, paths relative and plain (no `..`, no `.`,
    /// not absolute), at least one rename, none onto itself, and every point of the swap
    /// telling apart from every other by what exists (else a recovery could not know where it
    /// stopped).
    pub fn validate(&self) -> Result<(), String> {
        if self.format != JOURNAL_FORMAT {
            return Err(format!("its format is {:?}, not {JOURNAL_FORMAT:?}", self.format));
        }
        if self.renames.is_empty() {
            return Err("it lists no renames".into());
        }
        let plain = |p: &str| !p.is_empty() && Path::new(p).components().all(|c| matches!(c, Component::Normal(_)));
        if !plain(&self.staging) || !self.staging.starts_with(STAGING_PREFIX) || self.staging.contains('/') {
            return Err(format!(
                "its staging dir {:?} is not a staging dir of the state root",
                self.staging
            ));
        }
        for rename in &self.renames {
            for path in [&rename.from, &rename.to] {
                if !plain(path) {
                    return Err(format!(
                        "it names {path:?}, which is not a plain path below the state root"
                    ));
                }
            }
            if rename.from == rename.to {
                return Err(format!("it renames {:?} onto itself", rename.from));
            }
        }
        let points: Vec<Vec<Seen>> = (0..=self.renames.len())
            .map(|k| expected_after(&self.renames, k))
            .collect();
        for (k, point) in points.iter().enumerate() {
            if points[..k].contains(point) {
                return Err("two points of its swap look the same on disk".into());
            }
        }
        Ok(())
    }
}

/// What exists on disk of one journaled rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Its `from` exists.
    pub from: bool,
    /// Its `to` exists.
    pub to: bool,
}

/// What a recovery does with a leftover journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Every rename was done: the swap is complete, only the journal is left to drop.
    RollForward,
    /// The first renames were done, the rest not: these renames (relative to the root) undo
    /// them, in this order (the last done first). Empty when none was done.
    RollBack(Vec<Rename>),
    /// What is on disk fits no point of the swap: touch nothing; why, naming the paths.
    Inconsistent(String),
}

/// Which journaled paths exist once the first `k` renames are done. Before the swap a path
/// exists when the first rename that names it moves it away (a `to` never exists before its
/// rename, and a rename can bring back a path an earlier one moved away: the state dir).
fn expected_after(renames: &[JournalRename], k: usize) -> Vec<Seen> {
    let mut present: HashMap<&str, bool> = HashMap::new();
    for rename in renames {
        present.entry(rename.from.as_str()).or_insert(true);
        present.entry(rename.to.as_str()).or_insert(false);
    }
    for rename in &renames[..k] {
        present.insert(rename.from.as_str(), false);
        present.insert(rename.to.as_str(), true);
    }
    renames
        .iter()
        .map(|r| Seen {
            from: present[r.from.as_str()],
            to: present[r.to.as_str()],
        })
        .collect()
}

/// Decides what to do with `journal`, given what exists of each of its renames (`seen`, in
/// the journal's order). Pure.
pub fn decide(journal: &SwapJournal, seen: &[Seen]) -> Decision {
    let renames = &journal.renames;
    if seen.len() != renames.len() {
        return Decision::Inconsistent(format!("{} renames journaled, {} looked at", renames.len(), seen.len()));
    }
    let points: Vec<Vec<Seen>> = (0..=renames.len()).map(|k| expected_after(renames, k)).collect();
    let matching: Vec<usize> = (0..points.len()).filter(|k| points[*k] == seen).collect();
    match matching.as_slice() {
        [k] if *k == renames.len() => Decision::RollForward,
        [k] => Decision::RollBack(
            renames[..*k]
                .iter()
                .rev()
                .map(|r| Rename {
                    from: PathBuf::from(&r.to),
                    to: PathBuf::from(&r.from),
                })
                .collect(),
        ),
        [] => Decision::Inconsistent(explain(renames, seen, &points)),
        _ => Decision::Inconsistent("two points of the journaled swap look the same on disk".into()),
    }
}

/// Which paths do not fit: against the point of the swap that differs least from the disk.
fn explain(renames: &[JournalRename], seen: &[Seen], points: &[Vec<Seen>]) -> String {
    let differences = |point: &[Seen]| {
        point
            .iter()
            .zip(seen)
            .map(|(a, b)| usize::from(a.from != b.from) + usize::from(a.to != b.to))
            .sum::<usize>()
    };
    let Some((k, closest)) = points.iter().enumerate().min_by_key(|(_, point)| differences(point)) else {
        return "the journal describes no point of a swap".into();
    };
    let mut problems: Vec<String> = Vec::new();
    let mut say = |problem: String| {
        if !problems.contains(&problem) {
            problems.push(problem);
        }
    };
    for ((rename, got), want) in renames.iter().zip(seen).zip(closest) {
        if !got.from && !got.to {
            say(format!("neither {} nor {} exists", rename.from, rename.to));
            continue;
        }
        for (path, got, want) in [(&rename.from, got.from, want.from), (&rename.to, got.to, want.to)] {
            if got != want {
                say(format!(
                    "{path} {}",
                    if got { "exists and should not" } else { "is missing" }
                ));
            }
        }
    }
    format!(
        "what is on disk fits no point of the journaled swap (closest: {k} of {} renames done): {}",
        renames.len(),
        problems.join("; ")
    )
}

/// What a recovery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryAction {
    /// The swap had completed: its journal was dropped.
    RolledForward,
    /// The swap had not completed: the renames done were undone.
    RolledBack,
}

/// What [`recover_interrupted_swap`] did with a leftover journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    /// Rolled forward or back.
    pub action: RecoveryAction,
    /// The interrupted restore's archive.
    pub snapshot_key: String,
    /// Its stamp.
    pub stamp: String,
    /// When its journal was written.
    pub journal_written_at: String,
    /// The renames undone (`<from> -> <to>`), in order.
    pub undone: Vec<String>,
    /// Things a person should know (a staging dir that could not be removed).
    pub warnings: Vec<String>,
}

impl Recovery {
    /// One sentence for a report's warnings.
    pub fn summary(&self) -> String {
        match self.action {
            RecoveryAction::RolledForward => format!(
                "a restore of {} (stamp {}) was interrupted after its swap was complete: its state stays in place \
                 (the state it replaced is kept as `*.pre-restore-{}`); its journal was removed",
                self.snapshot_key, self.stamp, self.stamp
            ),
            RecoveryAction::RolledBack if self.undone.is_empty() => format!(
                "a restore of {} (stamp {}) was interrupted before its swap moved anything; its journal was removed",
                self.snapshot_key, self.stamp
            ),
            RecoveryAction::RolledBack => format!(
                "a restore of {} (stamp {}) was interrupted during its swap and was rolled back ({}): the state \
                 from before it is in place again",
                self.snapshot_key,
                self.stamp,
                self.undone.join("; ")
            ),
        }
    }
}

/// Finds a journal left by a restore killed during its swap and resolves it: rolls forward or
/// back, removes the journal and that restore's staging dir. `None` when there is no journal.
/// Refuses ([`SnapshotError::InterruptedSwap`]), changing nothing, when the disk fits no point
/// of the journaled swap; a rename that fails during a roll-back keeps the journal, so the next
/// try continues from where this one stopped.
pub fn recover_interrupted_swap(root: &Path) -> Result<Option<Recovery>, SnapshotError> {
    let path = root.join(JOURNAL_NAME);
    let raw = match fs::read(&path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // A journal that never reached its name: its restore never renamed anything.
            let _ = fs::remove_file(root.join(JOURNAL_TEMP_NAME));
            return Ok(None);
        }
        Err(e) => return Err(SnapshotError::read(&path, e)),
    };
    let refuse = |why: String| {
        SnapshotError::InterruptedSwap(format!(
            "{} was left by a restore killed during its swap, and {why}. Look at the paths it lists (relative to \
             {}); put the state dir and `.config/openclaw` back as the gateway should find them (the dirs moved \
             aside end in `.pre-restore-<stamp>`), then delete the journal and restore again",
            path.display(),
            root.display(),
        ))
    };
    let journal: SwapJournal = serde_json::from_slice(&raw).map_err(|e| refuse(format!("it cannot be read ({e})")))?;
    journal
        .validate()
        .map_err(|why| refuse(format!("it cannot be trusted: {why}")))?;
    for rename in &journal.renames {
        for rel in [&rename.from, &rename.to] {
            if let Some(link) = linked_parent(root, Path::new(rel)) {
                return Err(refuse(format!(
                    "{} is a symbolic link: recovery renames nothing through links",
                    link.display()
                )));
            }
        }
    }
    let mut seen = Vec::with_capacity(journal.renames.len());
    for rename in &journal.renames {
        seen.push(Seen {
            from: exists(&root.join(&rename.from))?,
            to: exists(&root.join(&rename.to))?,
        });
    }
    let (action, undone) = match decide(&journal, &seen) {
        Decision::Inconsistent(why) => return Err(refuse(why)),
        Decision::RollForward => (RecoveryAction::RolledForward, Vec::new()),
        Decision::RollBack(undo) => {
            let undo: Vec<Rename> = undo
                .into_iter()
                .map(|r| Rename {
                    from: root.join(r.from),
                    to: root.join(r.to),
                })
                .collect();
            let mut undone = Vec::new();
            for rename in &undo {
                if let Err(e) = move_back(rename) {
                    return Err(SnapshotError::Swap(format!(
                        "rolling back an interrupted restore of {}: moving {} back to {} failed ({e}){}; {} is kept, \
                         so the next restore (or recovery) continues from here",
                        journal.snapshot_key,
                        rename.from.display(),
                        rename.to.display(),
                        if undone.is_empty() {
                            String::new()
                        } else {
                            format!(" after {}", undone.join("; "))
                        },
                        path.display()
                    )));
                }
                undone.push(format!("{} -> {}", rename.from.display(), rename.to.display()));
            }
            (RecoveryAction::RolledBack, undone)
        }
    };
    remove_journal(root)?;
    let mut warnings = Vec::new();
    let staging = root.join(&journal.staging);
    if let Err(e) = fs::remove_dir_all(&staging)
        && e.kind() != ErrorKind::NotFound
    {
        warnings.push(format!("{} could not be removed ({e}); delete it", staging.display()));
    }
    let recovery = Recovery {
        action,
        snapshot_key: journal.snapshot_key,
        stamp: journal.stamp,
        journal_written_at: journal.written_at,
        undone,
        warnings,
    };
    tracing::warn!(
        root = %root.display(),
        action = ?recovery.action,
        key = %recovery.snapshot_key,
        undone = recovery.undone.len(),
        "recovered a restore interrupted during its swap"
    );
    Ok(Some(recovery))
}

/// Runs the swap of `journal` under `root`: writes the journal (durably), makes each rename
/// (refusing to rename onto an existing path), then removes the journal. `progress(k)` is
/// called once the journal is written (`k` = 0) and after each rename (`k` renames done).
/// When a rename fails, the ones done are undone in reverse and the journal is removed; if an
/// undo fails too, the journal stays for the next restore's recovery. Returns warnings.
pub fn swap_journaled(
    root: &Path,
    journal: &SwapJournal,
    mut progress: impl FnMut(usize),
) -> Result<Vec<String>, SnapshotError> {
    let renames = journal.renames_under(root);
    write_journal(root, journal)?;
    progress(0);
    for (done, rename) in renames.iter().enumerate() {
        let result = if fs::symlink_metadata(&rename.to).is_ok() {
            Err(io::Error::new(ErrorKind::AlreadyExists, "the destination exists"))
        } else {
            fs::rename(&rename.from, &rename.to)
        };
        if let Err(e) = result {
            // Stop at the first undo that fails: the disk then still shows a point of the swap
            // (the first j renames done), which the journal's recovery can resume from.
            let (undone, all_back) = undo(&renames[..done], true);
            let kept = if all_back {
                remove_journal(root)
                    .err()
                    .map(|e| format!("; the journal could not be removed ({e})"))
            } else {
                Some(format!(
                    "; {} is kept: the next restore (or recovery) finishes the roll-back",
                    root.join(JOURNAL_NAME).display()
                ))
            };
            return Err(SnapshotError::Swap(format!(
                "{}{}",
                describe_failure(rename, &e, &undone),
                kept.unwrap_or_default()
            )));
        }
        // Each rename durable before the next: after a power loss too, the disk shows a prefix.
        sync_parents(rename);
        progress(done + 1);
    }
    let mut warnings = Vec::new();
    if let Err(e) = remove_journal(root) {
        // The swap is complete; the next restore's recovery rolls forward (drops it).
        warnings.push(format!(
            "the swap completed but {} could not be removed ({e}); the next restore removes it",
            root.join(JOURNAL_NAME).display()
        ));
    }
    Ok(warnings)
}

/// Undoes `done` in reverse: what was said about each, and whether all went back. With
/// `stop_at_failure`, the renames before a failed undo are left as they are (and said so).
pub(super) fn undo(done: &[Rename], stop_at_failure: bool) -> (Vec<String>, bool) {
    let mut said = Vec::new();
    let mut all_back = true;
    for (left, back) in done.iter().enumerate().rev() {
        match fs::rename(&back.to, &back.from) {
            Ok(()) => {
                sync_parents(back);
                said.push(format!("{} is back", back.from.display()));
            }
            Err(undo) => {
                all_back = false;
                said.push(format!(
                    "could NOT move {} back to {} ({undo}): do it by hand",
                    back.to.display(),
                    back.from.display()
                ));
                if stop_at_failure {
                    if left > 0 {
                        said.push(format!("{left} earlier rename(s) left as they are"));
                    }
                    break;
                }
            }
        }
    }
    (said, all_back)
}

/// The message of a failed rename and what was undone.
pub(super) fn describe_failure(rename: &Rename, e: &io::Error, undone: &[String]) -> String {
    format!(
        "renaming {} to {}: {e}; {}",
        rename.from.display(),
        rename.to.display(),
        if undone.is_empty() {
            "nothing had moved yet".to_string()
        } else {
            format!("rolled back: {}", undone.join("; "))
        }
    )
}

fn exists(path: &Path) -> Result<bool, SnapshotError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(SnapshotError::read(path, e)),
    }
}

/// The first directory between `root` and `rel` (exclusive) that is a symbolic link.
fn linked_parent(root: &Path, rel: &Path) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        path.push(part);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Some(path);
        }
    }
    None
}

/// One undo rename of a recovery, never onto an existing path; its parent is made again if a
/// person removed it (it is below the root, checked).
fn move_back(rename: &Rename) -> io::Result<()> {
    if fs::symlink_metadata(&rename.to).is_ok() {
        return Err(io::Error::new(ErrorKind::AlreadyExists, "the destination exists"));
    }
    if let Some(parent) = rename.to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::rename(&rename.from, &rename.to)?;
    sync_parents(rename);
    Ok(())
}

/// Writes the journal to its temp name, fsyncs it, renames it into place and fsyncs the root:
/// it is on disk, whole, before the first rename. Refuses when one is there already (another
/// restore is in its swap; its own recovery ran first, so this one would be new).
fn write_journal(root: &Path, journal: &SwapJournal) -> Result<(), SnapshotError> {
    let path = root.join(JOURNAL_NAME);
    if fs::symlink_metadata(&path).is_ok() {
        return Err(SnapshotError::Refused(format!(
            "{} exists: another restore is swapping its state in right now; try again in a minute",
            path.display()
        )));
    }
    let body = serde_json::to_vec_pretty(journal).map_err(|source| SnapshotError::Json {
        what: "restore journal",
        source,
    })?;
    let temp = root.join(JOURNAL_TEMP_NAME);
    let mut file = fs::File::create(&temp).map_err(SnapshotError::Write)?;
    file.write_all(&body)
        .and_then(|()| file.sync_all())
        .map_err(SnapshotError::Write)?;
    drop(file);
    fs::rename(&temp, &path).map_err(SnapshotError::Write)?;
    sync_dir(root).map_err(SnapshotError::Write)
}

fn remove_journal(root: &Path) -> Result<(), SnapshotError> {
    let path = root.join(JOURNAL_NAME);
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(SnapshotError::Write(e)),
    }
    sync_dir(root).map_err(SnapshotError::Write)
}

/// fsync of a directory (a rename or unlink in it durable). File systems that cannot sync a
/// directory say `EINVAL`: nothing more can be done there.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match fs::File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if e.kind() == ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
}

fn sync_parents(rename: &Rename) {
    for dir in [rename.from.parent(), rename.to.parent()].into_iter().flatten() {
        if let Err(e) = sync_dir(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "could not fsync a directory of the swap");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(renames: &[(&str, &str)]) -> SwapJournal {
        SwapJournal {
            format: JOURNAL_FORMAT.into(),
            snapshot_key: "home/snapshots/20261125T214721Z-manual.tar.gz".into(),
            stamp: "20261201T100000Z".into(),
            written_at: "2026-12-01T10:00:00.000Z".into(),
            staging: format!("{STAGING_PREFIX}20261201T100000Z"),
            renames: renames
                .iter()
                .map(|(from, to)| JournalRename {
                    from: (*from).into(),
                    to: (*to).into(),
                })
                .collect(),
        }
    }

    const STAGED: &str = ".clawkeeper-restore-20261201T100000Z/r/payload/posix/home/node";

    /// The plans a restore makes: state only or state and key dir, each replacing an existing
    /// dir or not.
    fn plans() -> Vec<SwapJournal> {
        let state_staged = format!("{STAGED}/.openclaw");
        let keys_staged = format!("{STAGED}/.config/openclaw");
        let state_old = (".openclaw", ".openclaw.pre-restore-20261201T100000Z");
        let state_new = (state_staged.as_str(), ".openclaw");
        let keys_old = (".config/openclaw", ".config/openclaw.pre-restore-20261201T100000Z");
        let keys_new = (keys_staged.as_str(), ".config/openclaw");
        vec![
            journal(&[state_old, state_new, keys_old, keys_new]),
            journal(&[state_old, state_new, keys_new]),
            journal(&[state_new, keys_old, keys_new]),
            journal(&[state_new, keys_new]),
            journal(&[state_old, state_new]),
            journal(&[state_new]),
        ]
    }

    #[test]
    fn every_point_of_every_plan_is_rolled_forward_or_back_to_its_start() {
        for plan in plans() {
            plan.validate().expect("a valid plan");
            let n = plan.renames.len();
            for k in 0..=n {
                let seen = expected_after(&plan.renames, k);
                match decide(&plan, &seen) {
                    Decision::RollForward => assert_eq!(k, n, "{plan:?}"),
                    Decision::RollBack(undo) => {
                        assert!(k < n, "{plan:?}");
                        // Exactly the first k renames, reversed, last first.
                        let want: Vec<Rename> = plan.renames[..k]
                            .iter()
                            .rev()
                            .map(|r| Rename {
                                from: r.to.clone().into(),
                                to: r.from.clone().into(),
                            })
                            .collect();
                        assert_eq!(undo, want, "k={k} {plan:?}");
                        // Applying the undo brings the picture back to the start.
                        let mut present: HashMap<String, bool> = HashMap::new();
                        for (r, s) in plan.renames.iter().zip(&seen) {
                            present.insert(r.from.clone(), s.from);
                            present.insert(r.to.clone(), s.to);
                        }
                        for u in &undo {
                            let (from, to) = (u.from.to_string_lossy(), u.to.to_string_lossy());
                            assert!(present[from.as_ref()] && !present[to.as_ref()], "undo {u:?} at k={k}");
                            present.insert(from.into_owned(), false);
                            present.insert(to.into_owned(), true);
                        }
                        let start: Vec<Seen> = plan
                            .renames
                            .iter()
                            .map(|r| Seen {
                                from: present[&r.from],
                                to: present[&r.to],
                            })
                            .collect();
                        assert_eq!(start, expected_after(&plan.renames, 0));
                    }
                    Decision::Inconsistent(why) => panic!("k={k} of {plan:?}: {why}"),
                }
            }
        }
    }

    #[test]
    fn every_other_picture_is_inconsistent_and_names_paths() {
        // All 2^(2n) pictures of each plan: the n + 1 points of the swap resolve, nothing else.
        for plan in plans() {
            let n = plan.renames.len();
            let points: Vec<Vec<Seen>> = (0..=n).map(|k| expected_after(&plan.renames, k)).collect();
            for bits in 0u32..(1 << (2 * n)) {
                let seen: Vec<Seen> = (0..n)
                    .map(|i| Seen {
                        from: bits & (1 << (2 * i)) != 0,
                        to: bits & (1 << (2 * i + 1)) != 0,
                    })
                    .collect();
                // Pictures where one path shows two ways (it is in two renames) cannot happen.
                let mut told: HashMap<&str, bool> = HashMap::new();
                let coherent = plan.renames.iter().zip(&seen).all(|(r, s)| {
                    *told.entry(&r.from).or_insert(s.from) == s.from && *told.entry(&r.to).or_insert(s.to) == s.to
                });
                let decision = decide(&plan, &seen);
                if points.contains(&seen) {
                    assert!(!matches!(decision, Decision::Inconsistent(_)), "{seen:?}");
                } else if coherent {
                    match decision {
                        Decision::Inconsistent(why) => {
                            assert!(why.contains("fits no point"), "{why}");
                            assert!(why.contains(".openclaw") || why.contains(".config/openclaw"), "{why}");
                        }
                        other => panic!("{seen:?} of {plan:?} decided {other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn both_ends_missing_is_named() {
        let plan = &plans()[0];
        let mut seen = expected_after(&plan.renames, 1);
        // The state dir was moved away by the first rename and the staged one vanished.
        seen[1] = Seen { from: false, to: false };
        seen[0].from = false;
        match decide(plan, &seen) {
            Decision::Inconsistent(why) => {
                assert!(
                    why.contains(&format!("neither {STAGED}/.openclaw nor .openclaw exists")),
                    "{why}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_rename_rolls_back_at_once_and_drops_the_journal() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        fs::create_dir_all(root.join(".openclaw")).expect("live");
        fs::write(root.join(".openclaw/openclaw.json"), b"live").expect("file");
        fs::create_dir_all(root.join(format!("{STAGING_PREFIX}s"))).expect("staging");
        let renames = [
            Rename {
                from: root.join(".openclaw"),
                to: root.join(".openclaw.pre-restore-s"),
            },
            Rename {
                from: root.join(format!("{STAGING_PREFIX}s/vanished")),
                to: root.join(".openclaw"),
            },
        ];
        let journal =
            SwapJournal::new(root, "k", "s", &root.join(format!("{STAGING_PREFIX}s")), &renames).expect("journal");
        let mut steps = Vec::new();
        let err = swap_journaled(root, &journal, |k| steps.push(k)).expect_err("second rename fails");
        assert_eq!(err.error_type(), "RestoreSwapFailed");
        assert!(err.to_string().contains("rolled back"), "{err}");
        assert_eq!(steps, [0, 1]);
        assert_eq!(fs::read(root.join(".openclaw/openclaw.json")).expect("back"), b"live");
        assert!(!root.join(JOURNAL_NAME).exists(), "nothing left to recover");
        assert!(recover_interrupted_swap(root).expect("none").is_none());
        // A journal already there (another restore in its swap): refused before any rename.
        fs::write(root.join(JOURNAL_NAME), b"{}").expect("other journal");
        let err = swap_journaled(root, &journal, |_| {}).expect_err("refused");
        assert!(err.to_string().contains("another restore"), "{err}");
        assert!(root.join(".openclaw/openclaw.json").exists());
    }

    #[test]
    fn journals_that_could_rename_outside_the_root_are_refused() {
        for bad in [
            journal(&[("../etc", ".openclaw")]),
            journal(&[("/etc", ".openclaw")]),
            journal(&[(".openclaw", "./x")]),
            journal(&[(".openclaw", ".openclaw")]),
            journal(&[]),
            // A -> B then B -> A: start and end look the same.
            journal(&[("a", "b"), ("b", "a")]),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        for staging in ["home", ".clawkeeper-restore-s/../..", ".clawkeeper-restore-s/sub"] {
            let mut other_staging = journal(&[(".openclaw", "x")]);
            other_staging.staging = staging.into();
            assert!(other_staging.validate().is_err(), "{staging}");
        }
        let mut format = journal(&[(".openclaw", "x")]);
        format.format = "v0".into();
        assert!(format.validate().is_err());
    }

    #[test]
    fn a_journal_round_trips_and_relative_paths_come_from_the_root() {
        let root = Path::new("/mnt/openclaw");
        let journal = SwapJournal::new(
            root,
            "k",
            "s",
            &root.join(format!("{STAGING_PREFIX}s")),
            &[Rename {
                from: root.join(".openclaw"),
                to: root.join(".openclaw.pre-restore-s"),
            }],
        )
        .expect("journal");
        assert_eq!(journal.renames[0].from, ".openclaw");
        let text = serde_json::to_string(&journal).expect("json");
        let back: SwapJournal = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, journal);
        assert_eq!(
            back.renames_under(Path::new("/elsewhere"))[0].from,
            Path::new("/elsewhere/.openclaw")
        );
        assert!(
            SwapJournal::new(
                root,
                "k",
                "s",
                &root.join(format!("{STAGING_PREFIX}s")),
                &[Rename {
                    from: "/tmp/a".into(),
                    to: root.join("b"),
                }]
            )
            .is_err()
        );
    }
}
