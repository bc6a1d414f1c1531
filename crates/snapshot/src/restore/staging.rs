//! Staging and the swap: the verified archive is extracted beside the live state, owned like it,
//! then swapped in by a short list of renames, journaled first ([`super::journal`]) so that a
//! restore killed half way is rolled forward or back by the next one, and undone in reverse
//! at once if one of them fails.

use std::fs;
use std::io::{self, ErrorKind};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::*;
use crate::error::SnapshotError;
use crate::layout::{Manifest, payload_path};
use crate::verify::{Limits, extract_archive};

// ---------------------------------------------------------------------------------------------
// Staging and the swap.

/// Where one asset of the archive goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetTarget {
    /// Manifest kind.
    pub kind: String,
    /// Its source path in the manifest.
    pub source: String,
    /// The live path it replaces.
    pub target: PathBuf,
}

/// Maps the manifest's assets onto this gateway: the one `state` asset onto `state`, a
/// `credentials` asset of an auth-profile key dir onto `<root>/.config/openclaw`; others are
/// left out with a warning. Pure.
pub fn map_assets(
    manifest: &Manifest,
    root: &Path,
    state: &Path,
) -> Result<(Vec<AssetTarget>, Vec<String>), SnapshotError> {
    let mut targets = Vec::new();
    let mut warnings = Vec::new();
    for asset in &manifest.assets {
        let target = match asset.kind.as_str() {
            "state" => Some(state.to_path_buf()),
            "credentials" if Path::new(&asset.source_path).ends_with(".config/openclaw") => {
                Some(root.join(".config").join("openclaw"))
            }
            _ => None,
        };
        match target {
            Some(target) => targets.push(AssetTarget {
                kind: asset.kind.clone(),
                source: asset.source_path.clone(),
                target,
            }),
            None => warnings.push(format!(
                "asset {} ({}) is not part of a gateway's state on EFS and was not restored",
                asset.source_path, asset.kind
            )),
        }
    }
    if !targets.iter().any(|t| t.kind == "state") {
        return Err(SnapshotError::InvalidArchive(
            "the manifest has no `state` asset: nothing to restore as the gateway's state dir".into(),
        ));
    }
    // The state asset first: it is the one that matters if the swap stops half way.
    targets.sort_by_key(|t| t.kind != "state");
    Ok((targets, warnings))
}

/// One rename of the swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    /// From.
    pub from: PathBuf,
    /// To (must not exist).
    pub to: PathBuf,
}

/// Runs `renames` in order, without a journal; if one fails, undoes the ones done in reverse
/// order and says what happened. Refuses to rename onto an existing path (`rename(2)` would
/// replace an empty dir). A restore uses [`swap_journaled`], which also survives being killed.
pub fn swap(renames: &[Rename]) -> Result<(), SnapshotError> {
    for (done, rename) in renames.iter().enumerate() {
        let result = if fs::symlink_metadata(&rename.to).is_ok() {
            Err(io::Error::new(ErrorKind::AlreadyExists, "the destination exists"))
        } else {
            fs::rename(&rename.from, &rename.to)
        };
        if let Err(e) = result {
            let (undone, _) = undo(&renames[..done], false);
            return Err(SnapshotError::Swap(describe_failure(rename, &e, &undone)));
        }
    }
    Ok(())
}

/// The file-system half of a restore, run on a blocking thread.
pub(super) struct StagedRestore {
    pub(super) archive: PathBuf,
    /// The archive's key (for the journal).
    pub(super) key: String,
    pub(super) root: PathBuf,
    pub(super) state: PathBuf,
    pub(super) stamp: String,
    pub(super) limits: Limits,
    pub(super) quiet: Duration,
    pub(super) settle: Duration,
    pub(super) deadline: Deadline,
    pub(super) on_swap_step: Option<SwapStep>,
}

impl StagedRestore {
    pub(super) fn run(self) -> Result<(Vec<RestoredAsset>, Manifest, Vec<String>), SnapshotError> {
        let mut warnings = remove_stale_staging(&self.root);
        let staging = self.root.join(format!("{STAGING_PREFIX}{}", self.stamp));
        if fs::symlink_metadata(&staging).is_ok() {
            return Err(SnapshotError::Refused(format!(
                "{} exists: another restore is running; try again in a minute",
                staging.display()
            )));
        }
        // extract_archive removes the staging dir it created when it fails.
        let verified = extract_archive(&self.archive, &staging, self.limits)?;
        let result = self.stage_and_swap(&staging, &verified.manifest, &mut warnings);
        // After a swap it holds only the manifest and emptied dirs; after a failure, the extraction.
        if let Err(e) = fs::remove_dir_all(&staging) {
            tracing::warn!(staging = %staging.display(), error = %e, "could not remove the staging dir");
            warnings.push(format!("{} could not be removed ({e}); delete it", staging.display()));
        }
        let assets = result?;
        Ok((assets, verified.manifest, warnings))
    }

    fn stage_and_swap(
        &self,
        staging: &Path,
        manifest: &Manifest,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<RestoredAsset>, SnapshotError> {
        let (targets, skipped) = map_assets(manifest, &self.root, &self.state)?;
        warnings.extend(skipped);
        let owner = current_owner(&self.state).or_else(|| current_owner(&self.root).filter(|o| o.0 != 0));
        let owner = owner.unwrap_or(DEFAULT_OWNER);
        let mut assets = Vec::new();
        let mut renames = Vec::new();
        // Parents of targets that do not exist yet (`.config`): made only once the swap starts.
        let mut parents = Vec::new();
        for target in &targets {
            let staged = staging.join(payload_path(&manifest.archive_root, Path::new(&target.source)));
            if !fs::symlink_metadata(&staged).is_ok_and(|m| m.is_dir()) {
                return Err(SnapshotError::InvalidArchive(format!(
                    "asset {} ({}) is not a directory in the archive",
                    target.source, target.kind
                )));
            }
            let (files, bytes) = count_files(&staged).map_err(|e| SnapshotError::read(&staged, e))?;
            if let Some(warning) = set_owner(&staged, owner)
                && !warnings.contains(&warning)
            {
                warnings.push(warning);
            }
            let name = target
                .target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let previous = target
                .target
                .with_file_name(format!("{name}{PREVIOUS_INFIX}{}", self.stamp));
            let exists = fs::symlink_metadata(&target.target).is_ok();
            if exists {
                renames.push(Rename {
                    from: target.target.clone(),
                    to: previous.clone(),
                });
            } else if let Some(parent) = target.target.parent() {
                parents.push(parent.to_path_buf());
            }
            renames.push(Rename {
                from: staged,
                to: target.target.clone(),
            });
            assets.push(RestoredAsset {
                kind: target.kind.clone(),
                archive_source: target.source.clone(),
                restored_to: target.target.to_string_lossy().into_owned(),
                previous: exists.then(|| previous.to_string_lossy().into_owned()),
                files,
                bytes,
            });
        }
        // The extraction may have taken minutes: look once more right before touching the state.
        let late = check_no_live_writer(&self.state, self.quiet, self.settle)?;
        for warning in late {
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
        // Started this late, the swap could be killed half way: leave the state as it is.
        self.deadline.check("swap", SWAP_RESERVE)?;
        for parent in &parents {
            fs::create_dir_all(parent).map_err(SnapshotError::Write)?;
        }
        let journal = SwapJournal::new(&self.root, &self.key, &self.stamp, staging, &renames)?;
        let step = self.on_swap_step.clone();
        warnings.extend(swap_journaled(&self.root, &journal, |k| {
            tracing::debug!(renames_done = k, "swap step");
            if let Some(step) = &step {
                step(k);
            }
        })?);
        Ok(assets)
    }
}

/// Staging dirs left by restores that died (older than any live run): removed, with a warning.
pub(super) fn remove_stale_staging(root: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    let Ok(items) = fs::read_dir(root) else {
        return warnings;
    };
    for item in items.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        // The journal shares the prefix; it is a file, and recovery's to resolve, never removed here.
        if !name.starts_with(STAGING_PREFIX) || name.starts_with(JOURNAL_NAME) {
            continue;
        }
        let old = item
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > STALE_STAGING);
        if old && item.file_type().is_ok_and(|t| t.is_dir()) && fs::remove_dir_all(item.path()).is_ok() {
            warnings.push(format!("removed {name}, left by a restore that was interrupted"));
        }
    }
    warnings
}

pub(super) fn current_owner(path: &Path) -> Option<(u32, u32)> {
    fs::symlink_metadata(path).ok().map(|m| (m.uid(), m.gid()))
}

/// Regular files and their bytes under `dir` (links not followed).
pub(super) fn count_files(dir: &Path) -> io::Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for item in fs::read_dir(&dir)? {
            let item = item?;
            let meta = fs::symlink_metadata(item.path())?;
            if meta.is_dir() {
                stack.push(item.path());
            } else if meta.is_file() {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    Ok((files, bytes))
}

/// Gives the staged tree to `owner` where it is not already theirs. On EFS the access point
/// enforces the owner and a non-root function may not chown: then a warning, not a failure.
pub(super) fn set_owner(dir: &Path, (uid, gid): (u32, u32)) -> Option<String> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path).ok()?;
        if meta.is_dir()
            && let Ok(items) = fs::read_dir(&path)
        {
            stack.extend(items.flatten().map(|i| i.path()));
        }
        if meta.uid() == uid && meta.gid() == gid {
            continue;
        }
        if let Err(e) = std::os::unix::fs::lchown(&path, Some(uid), Some(gid)) {
            return Some(format!(
                "restored files could not be given to uid {uid} gid {gid} ({e}); on EFS the access point sets the owner"
            ));
        }
    }
    None
}
