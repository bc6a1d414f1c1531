//! Restoring a snapshot onto a stopped gateway (ARCHITECTURE.md section 6): refuse unless the
//! caller confirmed that no task runs and the state dir shows no live writer, download the
//! archive to local scratch space (streamed, bounded memory), check it against its sidecar,
//! verify and extract it into a fresh directory on the same file system as the state, then
//! swap by rename. The previous state is kept as `<name>.pre-restore-<stamp>`.
//!
//! Nothing in place changes before the swap: any failure until then removes the staging dir
//! and leaves the live state as it was. The swap itself is a short list of renames; if one
//! fails, the ones done are undone in reverse order.
//!
//! Archives made by `openclaw backup create` restore too: their `state` asset (whatever its
//! source path on the old machine) becomes this gateway's state dir, and a `credentials`
//! asset of an auth-profile key dir (`.../.config/openclaw`) becomes `<state_root>/.config/openclaw`.

use std::fs;
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::snapshot::clock;
use crate::snapshot::error::SnapshotError;
use crate::snapshot::inventory::hex;
use crate::snapshot::job::newest_snapshot;
use crate::snapshot::layout::{Manifest, Sidecar, normalize_absolute, payload_path, sidecar_key, snapshots_prefix};
use crate::snapshot::store::ObjectStore;
use crate::snapshot::verify::{Limits, extract_archive};

/// Prefix of a staging dir under the state root.
pub const STAGING_PREFIX: &str = ".clawkeeper-restore-";
/// Infix of the dated name the replaced state is kept under.
pub const PREVIOUS_INFIX: &str = ".pre-restore-";
/// The gateway image's `node` user: owner of restored files when no current state says otherwise.
pub const DEFAULT_OWNER: (u32, u32) = (1000, 1000);
/// A staging dir older than Lambda's longest run belongs to a restore that died.
const STALE_STAGING: Duration = Duration::from_secs(15 * 60);

/// What to restore where.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// Gateway id (the S3 prefix).
    pub gateway: String,
    /// The gateway's mounted `/home/node`.
    pub state_root: PathBuf,
    /// The state dir under it (`.openclaw`).
    pub state_dir: String,
    /// An archive key under `<gateway>/snapshots/`, a snapshot name (`<stamp>-<trigger>`), or
    /// `latest` (the newest snapshot with a sidecar).
    pub snapshot: String,
    /// The caller checked with ECS that no gateway task runs.
    pub confirm_stopped: bool,
    /// Writes newer than this make the live-writer check look closer.
    pub quiet_window: Duration,
    /// How long to watch recently written state for further writes.
    pub settle: Duration,
    /// Where the archive is downloaded (local disk, e.g. Lambda's `/tmp`).
    pub scratch_dir: PathBuf,
    /// Bounds of the archive reader.
    pub limits: Limits,
}

/// One restored asset.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredAsset {
    /// Manifest kind (`state`, `credentials`).
    pub kind: String,
    /// Its source path where the archive was made.
    pub archive_source: String,
    /// Where it now lives.
    pub restored_to: String,
    /// Where what it replaced is kept, if anything was there.
    pub previous: Option<String>,
    /// Regular files restored.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// Gateway id.
    pub gateway: String,
    /// Always `restored`.
    pub result: &'static str,
    /// The archive's key.
    pub snapshot_key: String,
    /// `clawkeeper` when a sidecar describes it, `openclaw` for an archive without one.
    pub made_by: &'static str,
    /// Compressed bytes downloaded.
    pub archive_bytes: u64,
    /// SHA-256 of those bytes.
    pub archive_sha256: String,
    /// True when the sidecar's size and hash were checked.
    pub sidecar_checked: bool,
    /// The manifest's `createdAt`.
    pub archive_created_at: String,
    /// Regular files restored (all assets).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Per asset.
    pub assets: Vec<RestoredAsset>,
    /// Where the replaced state dir is kept (what `control` shows to go back).
    pub previous_state: Option<String>,
    /// Things a person should know (stale lock, assets left out...). Paths only.
    pub warnings: Vec<String>,
    /// Wall time.
    pub duration_ms: u64,
}

/// Restores `request.snapshot` onto the gateway's state dir.
pub async fn restore_snapshot<S: ObjectStore>(
    store: &S,
    request: RestoreRequest,
) -> Result<RestoreReport, SnapshotError> {
    let started = Instant::now();
    if !request.confirm_stopped {
        return Err(SnapshotError::NotConfirmedStopped);
    }
    let root = normalize_absolute(&request.state_root).ok_or_else(|| {
        SnapshotError::Refused(format!(
            "state root {} must be an absolute path without '..'",
            request.state_root.display()
        ))
    })?;
    if !fs::symlink_metadata(&root).is_ok_and(|m| m.is_dir()) {
        return Err(SnapshotError::StateMissing { path: root });
    }
    let state = root.join(&request.state_dir);
    let (quiet, settle) = (request.quiet_window, request.settle);
    let check_state = state.clone();
    let mut warnings = blocking(move || check_no_live_writer(&check_state, quiet, settle)).await?;

    let key = resolve_key(store, &request.gateway, &request.snapshot).await?;
    let sidecar = match store.get_bytes(&sidecar_key(&key)).await? {
        Some(body) => match serde_json::from_slice::<Sidecar>(&body) {
            Ok(sidecar) => Some(sidecar),
            Err(_) => {
                warnings.push("the snapshot's sidecar is unreadable; the archive was checked on its own".into());
                None
            }
        },
        None => None,
    };
    let download = tempfile::Builder::new()
        .prefix("clawkeeper-restore-")
        .suffix(".tar.gz")
        .tempfile_in(&request.scratch_dir)
        .map_err(SnapshotError::Write)?;
    if !store.download(&key, download.path()).await? {
        return Err(SnapshotError::UnknownSnapshot(format!("{key} does not exist")));
    }
    let path = download.path().to_path_buf();
    let (archive_bytes, archive_sha256) = blocking(move || hash_file(&path)).await?;
    if let Some(sidecar) = &sidecar
        && (sidecar.archive_bytes != archive_bytes || sidecar.sha256 != archive_sha256)
    {
        return Err(SnapshotError::InvalidArchive(format!(
            "{key} does not match its sidecar ({archive_bytes} bytes downloaded, {} recorded): hash mismatch",
            sidecar.archive_bytes
        )));
    }
    if sidecar.is_none() {
        warnings.push(format!(
            "{key} has no clawkeeper sidecar (an `openclaw backup create` archive?): checked by its manifest only"
        ));
    }

    let stamp = clock::compact(clock::epoch_millis(SystemTime::now()));
    let staged = StagedRestore {
        archive: download.path().to_path_buf(),
        root: root.clone(),
        state: state.clone(),
        stamp,
        limits: request.limits,
        quiet,
        settle,
    };
    let (assets, manifest, more) = blocking(move || staged.run()).await?;
    warnings.extend(more);
    drop(download);

    let files = assets.iter().map(|a| a.files).sum();
    let bytes = assets.iter().map(|a| a.bytes).sum();
    let previous_state = assets
        .iter()
        .find(|a| a.kind == "state")
        .and_then(|a| a.previous.clone());
    let report = RestoreReport {
        gateway: request.gateway.clone(),
        result: "restored",
        snapshot_key: key,
        made_by: if sidecar.is_some() { "clawkeeper" } else { "openclaw" },
        archive_bytes,
        archive_sha256,
        sidecar_checked: sidecar.is_some(),
        archive_created_at: manifest.created_at,
        files,
        bytes,
        assets,
        previous_state,
        warnings,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    tracing::info!(
        gateway = %report.gateway,
        key = %report.snapshot_key,
        files = report.files,
        bytes = report.bytes,
        previous = report.previous_state.as_deref().unwrap_or("none"),
        warnings = report.warnings.len(),
        "snapshot restored"
    );
    Ok(report)
}

/// The archive key of `wanted`: `latest`, a name `<stamp>-<trigger>`, or a key under the
/// gateway's snapshots prefix ending in `.tar.gz` (nothing else: the restore reads only there).
pub async fn resolve_key<S: ObjectStore>(store: &S, gateway: &str, wanted: &str) -> Result<String, SnapshotError> {
    let prefix = snapshots_prefix(gateway);
    if wanted == "latest" {
        return match newest_snapshot(store, gateway).await? {
            Some((key, _)) => Ok(key),
            None => Err(SnapshotError::UnknownSnapshot(format!(
                "gateway {gateway} has no snapshots (none under {prefix})"
            ))),
        };
    }
    let key = if wanted.contains('/') {
        wanted.to_string()
    } else {
        format!("{prefix}{}.tar.gz", wanted.strip_suffix(".tar.gz").unwrap_or(wanted))
    };
    let name = key.strip_prefix(&prefix).unwrap_or_default();
    if name.is_empty() || !key.ends_with(".tar.gz") || name.split('/').any(|s| s.is_empty() || s == "..") {
        return Err(SnapshotError::Refused(format!(
            "snapshot {wanted:?} must be `latest`, a snapshot name, or an archive key under {prefix} ending in .tar.gz"
        )));
    }
    Ok(key)
}

fn hash_file(path: &Path) -> Result<(u64, String), SnapshotError> {
    let mut file = fs::File::open(path).map_err(|e| SnapshotError::read(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| SnapshotError::read(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex(&hasher.finalize())))
}

async fn blocking<T, F>(f: F) -> Result<T, SnapshotError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, SnapshotError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SnapshotError::Internal(format!("restore worker: {e}")))?
}

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
            if crate::snapshot::exclude::is_sqlite_sidecar(&name) && !name.ends_with("-shm") && meta.len() > 0 {
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

/// Runs `renames` in order; if one fails, undoes the ones done in reverse order and says what
/// happened. Refuses to rename onto an existing path (`rename(2)` would replace an empty dir).
pub fn swap(renames: &[Rename]) -> Result<(), SnapshotError> {
    let mut done: Vec<&Rename> = Vec::new();
    for rename in renames {
        let result = if fs::symlink_metadata(&rename.to).is_ok() {
            Err(io::Error::new(ErrorKind::AlreadyExists, "the destination exists"))
        } else {
            fs::rename(&rename.from, &rename.to)
        };
        if let Err(e) = result {
            let mut undone = Vec::new();
            for back in done.iter().rev() {
                match fs::rename(&back.to, &back.from) {
                    Ok(()) => undone.push(format!("{} is back", back.from.display())),
                    Err(undo) => undone.push(format!(
                        "could NOT move {} back to {} ({undo}): do it by hand",
                        back.to.display(),
                        back.from.display()
                    )),
                }
            }
            return Err(SnapshotError::Swap(format!(
                "renaming {} to {}: {e}; {}",
                rename.from.display(),
                rename.to.display(),
                if undone.is_empty() {
                    "nothing had moved yet".to_string()
                } else {
                    format!("rolled back: {}", undone.join("; "))
                }
            )));
        }
        done.push(rename);
    }
    Ok(())
}

/// The file-system half of a restore, run on a blocking thread.
struct StagedRestore {
    archive: PathBuf,
    root: PathBuf,
    state: PathBuf,
    stamp: String,
    limits: Limits,
    quiet: Duration,
    settle: Duration,
}

impl StagedRestore {
    fn run(self) -> Result<(Vec<RestoredAsset>, Manifest, Vec<String>), SnapshotError> {
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
                fs::create_dir_all(parent).map_err(SnapshotError::Write)?;
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
        swap(&renames)?;
        Ok(assets)
    }
}

/// Staging dirs left by restores that died (older than any live run): removed, with a warning.
fn remove_stale_staging(root: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    let Ok(items) = fs::read_dir(root) else {
        return warnings;
    };
    for item in items.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        if !name.starts_with(STAGING_PREFIX) {
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

fn current_owner(path: &Path) -> Option<(u32, u32)> {
    fs::symlink_metadata(path).ok().map(|m| (m.uid(), m.gid()))
}

/// Regular files and their bytes under `dir` (links not followed).
fn count_files(dir: &Path) -> io::Result<(u64, u64)> {
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
fn set_owner(dir: &Path, (uid, gid): (u32, u32)) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(locks: &[&str], newest_ago: Option<u64>, digest: &str, now: SystemTime) -> StateScan {
        StateScan {
            locks: locks.iter().map(|s| s.to_string()).collect(),
            journals: Vec::new(),
            newest: newest_ago.map(|s| ("state/openclaw.sqlite".to_string(), now - Duration::from_secs(s))),
            digest: digest.into(),
        }
    }

    #[test]
    fn the_live_writer_verdicts() {
        let now = SystemTime::now();
        let quiet = Duration::from_secs(60);
        let lock = "tmp/openclaw-1000/gateway.state.lock";
        // A lock and a fresh write: a running gateway.
        let live = judge_scans(&scan(&[lock], Some(5), "a", now), None, now, quiet);
        assert!(matches!(&live, Judgement::Live(e) if e.contains(lock)), "{live:?}");
        // A lock but nothing written for long: a gateway that was killed; go on, say so.
        let stale = judge_scans(&scan(&[lock], Some(600), "a", now), None, now, quiet);
        assert!(matches!(&stale, Judgement::Quiet(w) if w.len() == 1 && w[0].contains("did not shut down cleanly")));
        // A fresh write without a lock: watch, then judge by whether anything changed.
        let first = scan(&[], Some(2), "a", now);
        assert_eq!(judge_scans(&first, None, now, quiet), Judgement::NeedsSettle);
        let changed = scan(&[], Some(0), "b", now);
        assert!(matches!(
            judge_scans(&first, Some(&changed), now, quiet),
            Judgement::Live(_)
        ));
        let same = scan(&[], Some(2), "a", now);
        assert!(matches!(judge_scans(&first, Some(&same), now, quiet), Judgement::Quiet(w) if w.len() == 1));
        // Nothing recent, no lock: quiet.
        assert_eq!(
            judge_scans(&scan(&[], Some(3600), "a", now), None, now, quiet),
            Judgement::Quiet(vec![])
        );
        assert_eq!(
            judge_scans(&scan(&[], None, "a", now), None, now, quiet),
            Judgement::Quiet(vec![])
        );
    }

    #[test]
    fn a_failed_second_rename_rolls_the_first_back() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let live = tmp.path().join(".openclaw");
        fs::create_dir_all(&live).expect("live");
        fs::write(live.join("openclaw.json"), b"live").expect("file");
        let previous = tmp.path().join(".openclaw.pre-restore-x");
        let renames = [
            Rename {
                from: live.clone(),
                to: previous.clone(),
            },
            Rename {
                from: tmp.path().join("staged-that-vanished"),
                to: live.clone(),
            },
        ];
        let err = swap(&renames).expect_err("second rename fails");
        assert_eq!(err.error_type(), "RestoreSwapFailed");
        assert!(err.to_string().contains("rolled back"), "{err}");
        assert_eq!(fs::read(live.join("openclaw.json")).expect("back"), b"live");
        assert!(!previous.exists());
        // Never onto an existing path.
        fs::create_dir_all(&previous).expect("exists");
        let err = swap(&renames[..1]).expect_err("destination exists");
        assert!(err.to_string().contains("nothing had moved"), "{err}");
        assert!(live.join("openclaw.json").exists());
    }

    #[test]
    fn assets_map_onto_this_gateway() {
        let manifest: Manifest = serde_json::from_value(serde_json::json!({
            "schemaVersion": 1, "createdAt": "x", "archiveRoot": "r",
            "assets": [
                {"kind": "workspace", "sourcePath": "/home/alice/work", "archivePath": "r/payload/posix/home/alice/work"},
                {"kind": "credentials", "sourcePath": "/home/alice/.config/openclaw", "archivePath": "r/payload/posix/home/alice/.config/openclaw"},
                {"kind": "state", "sourcePath": "/home/alice/.openclaw", "archivePath": "r/payload/posix/home/alice/.openclaw"}
            ]
        }))
        .expect("manifest");
        let root = Path::new("/mnt/openclaw");
        let (targets, warnings) = map_assets(&manifest, root, &root.join(".openclaw")).expect("mapped");
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].target, root.join(".openclaw"));
        assert_eq!(targets[1].target, root.join(".config/openclaw"));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("/home/alice/work"));
        let mut no_state = manifest.clone();
        no_state.assets.retain(|a| a.kind != "state");
        assert!(map_assets(&no_state, root, &root.join(".openclaw")).is_err());
    }

    #[test]
    fn a_scan_finds_locks_journals_and_every_change() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let state = tmp.path();
        fs::create_dir_all(state.join("tmp/openclaw-0")).expect("lock dir");
        fs::write(state.join("tmp/openclaw-0/gateway.state.lock"), b"{}").expect("lock");
        fs::write(state.join("tmp/openclaw-0/gateway.state.lock.sqlite"), b"").expect("coordinator");
        fs::create_dir_all(state.join("state")).expect("state");
        fs::write(state.join("state/openclaw.sqlite-journal"), b"journal").expect("journal");
        let first = scan_state(state).expect("scan");
        assert_eq!(first.locks, ["tmp/openclaw-0/gateway.state.lock"]);
        assert_eq!(first.journals, ["state/openclaw.sqlite-journal"]);
        fs::write(state.join("state/openclaw.sqlite-journal"), b"journal2").expect("write");
        assert_ne!(scan_state(state).expect("scan").digest, first.digest);
        assert_eq!(scan_state(&state.join("missing")).expect("empty").newest, None);
    }
}
