//! Restoring a snapshot onto a stopped gateway (ARCHITECTURE.md section 6): refuse unless the
//! caller confirmed that no task runs and the state dir shows no live writer, download the
//! archive to local scratch space (streamed, bounded memory), check it against its sidecar,
//! verify and extract it into a fresh directory on the same file system as the state, then
//! swap by rename. The previous state is kept as `<name>.pre-restore-<stamp>`.
//!
//! Nothing in place changes before the swap: any failure until then removes the staging dir
//! and leaves the live state as it was. The swap itself is a short list of renames, journaled
//! before the first ([`journal`]); if one fails, the ones done are undone in reverse order, and
//! if the restore is killed between two, the next restore (or [`recover_gateway`]) finds the
//! journal first and rolls the swap forward or back.
//!
//! Before each long step a restore checks what is left of its deadline
//! ([`RestoreOptions::deadline`]) and does not start a step it could not finish; before the
//! download it checks that the scratch dir and the state volume have room
//! ([`crate::space`]), and it verifies the archive within bounds derived from its sidecar, its
//! size and that room ([`Limits::for_restore`]).
//!
//! Archives made by `openclaw backup create` restore too: their `state` asset (whatever its
//! source path on the old machine) becomes this gateway's state dir, and a `credentials`
//! asset of an auth-profile key dir (`.../.config/openclaw`) becomes `<state_root>/.config/openclaw`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clawkeeper_core::ports::ObjectStore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::Unresolved;
use crate::clock;
use crate::error::SnapshotError;
use crate::inventory::hex;
use crate::job::blocking;
use crate::layout::{Sidecar, normalize_absolute, sidecar_key};
use crate::space::{FreeSpace, Statvfs, check_scratch_room, check_state_room};
use crate::verify::Limits;

pub mod journal;
mod live_writer;
mod staging;

pub use journal::{
    Decision, JOURNAL_NAME, Recovery, RecoveryAction, Seen, SwapJournal, decide, recover_interrupted_swap,
    swap_journaled,
};
use journal::{describe_failure, undo};
pub use live_writer::*;
pub use staging::*;

/// Prefix of a staging dir under the state root.
pub const STAGING_PREFIX: &str = ".clawkeeper-restore-";
/// Infix of the dated name the replaced state is kept under.
pub const PREVIOUS_INFIX: &str = ".pre-restore-";
/// The gateway image's `node` user: owner of restored files when no current state says otherwise.
pub const DEFAULT_OWNER: (u32, u32) = (1000, 1000);
/// A staging dir older than Lambda's longest run belongs to a restore that died.
const STALE_STAGING: Duration = Duration::from_secs(15 * 60);

/// Left of the deadline for a restore to start at all, to download, and to verify and extract:
/// below it, even a small archive would likely not be downloaded, extracted and swapped in
/// before the kill, and starting would only leave a staging dir behind.
pub const DOWNLOAD_RESERVE: Duration = Duration::from_secs(30);
/// See [`DOWNLOAD_RESERVE`].
pub const EXTRACT_RESERVE: Duration = Duration::from_secs(30);
/// Left of the deadline for the swap (or a recovery) to start: a few renames and fsyncs take
/// milliseconds on EFS; 10 s covers a slow NFS round trip and the answer reaching `control`.
/// A swap killed anyway is recovered from its journal.
pub const SWAP_RESERVE: Duration = Duration::from_secs(10);

/// When the invocation is killed (Lambda's deadline, or a caller's shorter budget); `None`
/// for none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadline(pub Option<SystemTime>);

impl Deadline {
    /// Refuses to start `step` when less than `reserve` is left.
    pub fn check(self, step: &'static str, reserve: Duration) -> Result<(), SnapshotError> {
        let Some(at) = self.0 else {
            return Ok(());
        };
        let remaining = at.duration_since(SystemTime::now()).unwrap_or_default();
        if remaining < reserve {
            tracing::warn!(
                step,
                remaining_ms = remaining.as_millis() as u64,
                "too close to the deadline to start"
            );
            return Err(SnapshotError::DeadlineTooClose {
                step,
                remaining,
                reserve,
            });
        }
        Ok(())
    }
}

/// What a restore takes from its surroundings beside the request, with defaults (no deadline,
/// the real free-space figures), so that callers building a [`RestoreRequest`] field by field
/// need no change for it; `restore_snapshot` is `restore_snapshot_with` these defaults.
#[derive(Clone)]
pub struct RestoreOptions {
    /// When the invocation ends (`None`: no deadline). Each long step starts only with its
    /// reserve left ([`DOWNLOAD_RESERVE`], [`EXTRACT_RESERVE`], [`SWAP_RESERVE`]).
    pub deadline: Option<SystemTime>,
    /// Where free-space figures come from ([`Statvfs`]; tests pretend a disk is small).
    pub free_space: Arc<dyn FreeSpace>,
    /// Called once the swap's journal is written (0) and after each of its renames (k renames
    /// done), on the blocking thread of the swap: progress, and where tests stop a restore.
    pub on_swap_step: Option<SwapStep>,
}

/// See [`RestoreOptions::on_swap_step`].
pub type SwapStep = Arc<dyn Fn(usize) + Send + Sync>;

impl Default for RestoreOptions {
    fn default() -> Self {
        Self {
            deadline: None,
            free_space: Arc::new(Statvfs),
            on_swap_step: None,
        }
    }
}

impl std::fmt::Debug for RestoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreOptions")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

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
    /// Bounds of the archive reader; the restore tightens them with what it knows
    /// ([`Limits::for_restore`]), so `Limits::default()` is the usual value.
    pub limits: Limits,
}

/// One restored asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// What a restore did: the restore function's answer, read back by `control` as this same type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// Gateway id.
    pub gateway: String,
    /// Always `restored`.
    pub result: String,
    /// The archive's key.
    pub snapshot_key: String,
    /// `clawkeeper` when a sidecar describes it, `openclaw` for an archive without one.
    pub made_by: String,
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

/// Restores `request.snapshot` onto the gateway's state dir, with no deadline and the real
/// free-space figures ([`restore_snapshot_with`]).
pub async fn restore_snapshot<S: ObjectStore>(
    store: &S,
    request: RestoreRequest,
) -> Result<RestoreReport, SnapshotError> {
    restore_snapshot_with(store, request, RestoreOptions::default()).await
}

/// Restores `request.snapshot` onto the gateway's state dir. In order: the caller's word that
/// the gateway is stopped; the deadline; a swap a killed restore left half done, rolled forward
/// or back ([`recover_interrupted_swap`], said in the warnings); the live-writer check; room in
/// the scratch dir and on the state volume; download and check against the sidecar; verify and
/// extract within [`Limits::for_restore`]; the journaled swap.
pub async fn restore_snapshot_with<S: ObjectStore>(
    store: &S,
    request: RestoreRequest,
    options: RestoreOptions,
) -> Result<RestoreReport, SnapshotError> {
    let started = Instant::now();
    if !request.confirm_stopped {
        return Err(SnapshotError::NotConfirmedStopped);
    }
    let root = state_root(&request.state_root)?;
    let deadline = Deadline(options.deadline);
    deadline.check("restore", DOWNLOAD_RESERVE)?;
    // Before anything else: a previous restore killed in its swap may have left no state dir.
    let recover_root = root.clone();
    let recovered = blocking(move || recover_interrupted_swap(&recover_root)).await?;
    let mut warnings: Vec<String> = recovered
        .iter()
        .flat_map(|r| std::iter::once(r.summary()).chain(r.warnings.iter().cloned()))
        .collect();

    let state = root.join(&request.state_dir);
    let (quiet, settle) = (request.quiet_window, request.settle);
    let check_state = state.clone();
    warnings.extend(blocking(move || check_no_live_writer(&check_state, quiet, settle)).await?);

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
    // Room, before a byte is downloaded: the archive in the scratch dir, its files on the volume.
    let expected_bytes = match &sidecar {
        Some(sidecar) => sidecar.archive_bytes,
        None => store
            .list(&key)
            .await?
            .into_iter()
            .find(|o| o.key == key)
            .map(|o| o.size)
            .ok_or_else(|| SnapshotError::UnknownSnapshot(format!("{key} does not exist")))?,
    };
    let (space, scratch, state_root_path) = (options.free_space.clone(), request.scratch_dir.clone(), root.clone());
    let needed_on_volume = sidecar.as_ref().map_or(0, |s| s.payload_bytes);
    let free_on_volume = blocking(move || {
        check_scratch_room(&scratch, expected_bytes, space.as_ref())?;
        check_state_room(&state_root_path, needed_on_volume, space.as_ref())
    })
    .await?;

    deadline.check("download", DOWNLOAD_RESERVE)?;
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

    deadline.check("verification and extraction", EXTRACT_RESERVE)?;
    let stamp = clock::compact(clock::epoch_millis(SystemTime::now()));
    let staged = StagedRestore {
        archive: download.path().to_path_buf(),
        key: key.clone(),
        root: root.clone(),
        state: state.clone(),
        stamp,
        limits: request
            .limits
            .tightest(Limits::for_restore(sidecar.as_ref(), free_on_volume, archive_bytes)),
        quiet,
        settle,
        deadline,
        on_swap_step: options.on_swap_step.clone(),
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
        result: "restored".into(),
        snapshot_key: key,
        made_by: if sidecar.is_some() { "clawkeeper" } else { "openclaw" }.into(),
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

/// The state root, absolute, normalized and an existing directory.
fn state_root(raw: &Path) -> Result<PathBuf, SnapshotError> {
    let root = normalize_absolute(raw).ok_or_else(|| {
        SnapshotError::Refused(format!(
            "state root {} must be an absolute path without '..'",
            raw.display()
        ))
    })?;
    if !fs::symlink_metadata(&root).is_ok_and(|m| m.is_dir()) {
        return Err(SnapshotError::StateMissing { path: root });
    }
    Ok(root)
}

/// A recovery on its own (no snapshot restored): what the restore function runs for
/// `{"gateway":...,"recover":true}`.
#[derive(Debug, Clone)]
pub struct RecoverRequest {
    /// Gateway id.
    pub gateway: String,
    /// The gateway's mounted `/home/node`.
    pub state_root: PathBuf,
    /// The caller checked that no gateway task runs: a recovery moves the state dir too.
    pub confirm_stopped: bool,
    /// When the invocation ends (`None`: no deadline); it starts only with [`SWAP_RESERVE`] left.
    pub deadline: Option<SystemTime>,
}

/// What a recovery on its own did: the restore function's answer to a recovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryReport {
    /// Gateway id.
    pub gateway: String,
    /// `recovered` (a journal was resolved) or `nothing_to_recover`.
    pub result: String,
    /// What was done, when there was a journal.
    pub recovery: Option<Recovery>,
    /// Things a person should know (the recovery's summary, stale staging dirs removed).
    pub warnings: Vec<String>,
    /// Wall time.
    pub duration_ms: u64,
}

/// Resolves a swap a killed restore left half done ([`recover_interrupted_swap`]) and removes
/// staging dirs of restores that died, without restoring anything.
pub async fn recover_gateway(request: RecoverRequest) -> Result<RecoveryReport, SnapshotError> {
    let started = Instant::now();
    if !request.confirm_stopped {
        return Err(SnapshotError::NotConfirmedStopped);
    }
    let root = state_root(&request.state_root)?;
    Deadline(request.deadline).check("recovery", SWAP_RESERVE)?;
    let (recovery, stale) = blocking(move || {
        let recovery = recover_interrupted_swap(&root)?;
        Ok((recovery, remove_stale_staging(&root)))
    })
    .await?;
    let mut warnings: Vec<String> = recovery
        .iter()
        .flat_map(|r| std::iter::once(r.summary()).chain(r.warnings.iter().cloned()))
        .collect();
    warnings.extend(stale);
    Ok(RecoveryReport {
        gateway: request.gateway,
        result: if recovery.is_some() {
            "recovered"
        } else {
            "nothing_to_recover"
        }
        .into(),
        recovery,
        warnings,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// The archive key of `wanted` ([`crate::catalog::resolve`]'s rules: `latest`, a snapshot name,
/// or a key under the gateway's snapshots prefix; a snapshot exists only with its sidecar).
pub async fn resolve_key<S: ObjectStore>(store: &S, gateway: &str, wanted: &str) -> Result<String, SnapshotError> {
    let resolved = crate::catalog::resolve(store, gateway, wanted)
        .await
        .map_err(|e| match e {
            Unresolved::Refused { .. } => SnapshotError::Refused(e.to_string()),
            Unresolved::Unknown { ref newest, .. } if newest.is_empty() => {
                SnapshotError::UnknownSnapshot(format!("{e}: it has no snapshots"))
            }
            Unresolved::Unknown { .. } => SnapshotError::UnknownSnapshot(e.to_string()),
            Unresolved::Store(e) => SnapshotError::Store(e),
        })?;
    Ok(resolved.archive_key)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Manifest;

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
    fn a_swap_too_close_to_the_deadline_is_not_started_and_leaves_no_trace() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        let state = root.join(".openclaw");
        fs::create_dir_all(&state).expect("state");
        fs::write(state.join("openclaw.json"), b"live").expect("live");
        // An archive of this state, made by the capture code.
        let assets = crate::inventory::gateway_assets(&root, ".openclaw").expect("assets");
        let inventory = crate::inventory::take_inventory(&assets).expect("inventory");
        let options = crate::capture::CaptureOptions::new(1_764_107_241_000, tmp.path());
        let (_, bytes) = crate::capture::capture(&inventory, &options, Vec::new()).expect("capture");
        let archive = tmp.path().join("a.tar.gz");
        fs::write(&archive, bytes).expect("archive");
        fs::write(state.join("openclaw.json"), b"changed since").expect("changed");
        let staged = StagedRestore {
            archive,
            key: "home/snapshots/x.tar.gz".into(),
            root: root.clone(),
            state: state.clone(),
            stamp: "20261201T100000Z".into(),
            limits: Limits::default(),
            quiet: Duration::ZERO,
            settle: Duration::ZERO,
            // Five seconds left: the extraction may run, the swap (10 s reserve) may not.
            deadline: Deadline(Some(SystemTime::now() + Duration::from_secs(5))),
            on_swap_step: None,
        };
        let err = staged.run().expect_err("too late to swap");
        assert!(
            matches!(err, SnapshotError::DeadlineTooClose { step: "swap", .. }),
            "{err}"
        );
        assert_eq!(fs::read(state.join("openclaw.json")).expect("live"), b"changed since");
        let names: Vec<String> = fs::read_dir(&root)
            .expect("root")
            .flatten()
            .map(|i| i.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [".openclaw"], "no staging dir, no journal, nothing moved aside");
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
