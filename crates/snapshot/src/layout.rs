//! Names and documents of a snapshot: OpenClaw's manifest and payload paths inside the archive,
//! the S3 keys of archive and sidecar, and the sidecar summary itself.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The manifest schema OpenClaw 2026.9.x reads and writes.
pub const MANIFEST_SCHEMA_VERSION: u32 = 1;
/// The sidecar format written by this version of clawkeeper.
pub const SIDECAR_FORMAT: &str = "clawkeeper-snapshot/1";

/// One asset of the manifest: a source tree and where its payload is in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestAsset {
    /// `state`, `credentials`, `config`, `workspace` or `agent`.
    pub kind: String,
    /// Absolute, normalized path on the source machine.
    pub source_path: String,
    /// `<root>/payload/posix<sourcePath>`.
    pub archive_path: String,
}

/// A path the capture left out on purpose, as OpenClaw lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestSkip {
    /// What it is (`managed state`, `entry`...).
    pub kind: String,
    /// Absolute path on the source machine.
    pub source_path: String,
    /// Why (`regenerable`, `volatile`...).
    pub reason: String,
}

/// Paths block of the manifest; OpenClaw reads `stateDir` (absolute and normalized).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestPaths {
    /// The state dir, when the archive has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
}

/// `manifest.json` at the archive root, schema version 1. Unknown fields written by OpenClaw
/// are ignored when reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 1.
    pub schema_version: u32,
    /// RFC 3339.
    pub created_at: String,
    /// The single top-level directory of the archive.
    pub archive_root: String,
    /// Who wrote the archive (OpenClaw writes its own version here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<String>,
    /// `linux` for archives written by clawkeeper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Resolved source paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<ManifestPaths>,
    /// The source trees in the archive.
    pub assets: Vec<ManifestAsset>,
    /// What was left out on purpose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<ManifestSkip>,
}

/// Normalizes an absolute path lexically: no `.`, no repeated or trailing `/`. `None` when the
/// path is relative or contains `..` (config already refuses those).
pub fn normalize_absolute(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    let mut saw_root = false;
    for component in path.components() {
        match component {
            Component::RootDir => saw_root = true,
            Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    saw_root.then_some(out)
}

/// `<root>/payload/posix<source>`: where an absolute source path lives in the archive.
pub fn payload_path(archive_root: &str, source: &Path) -> PathBuf {
    let relative = source.strip_prefix("/").unwrap_or(source);
    Path::new(archive_root).join("payload").join("posix").join(relative)
}

/// S3 key of the snapshot archive: `<gateway>/snapshots/<stamp>-<trigger>.tar.gz`.
pub fn archive_key(gateway: &str, stamp: &str, trigger: &str) -> String {
    format!("{}{stamp}-{trigger}.tar.gz", snapshots_prefix(gateway))
}

/// The sidecar key of an archive key: the same name with `.json` instead of `.tar.gz`.
pub fn sidecar_key(archive_key: &str) -> String {
    format!("{}.json", archive_key.strip_suffix(".tar.gz").unwrap_or(archive_key))
}

/// The archive key of a sidecar key.
pub fn archive_key_of_sidecar(sidecar_key: &str) -> Option<String> {
    sidecar_key.strip_suffix(".json").map(|base| format!("{base}.tar.gz"))
}

/// `<gateway>/snapshots/`.
pub fn snapshots_prefix(gateway: &str) -> String {
    format!("{gateway}/snapshots/")
}

/// A snapshot's name parsed from its key: `<stamp>-<trigger>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotName {
    /// Milliseconds since the epoch of the stamp.
    pub taken_at_millis: i64,
    /// The trigger word.
    pub trigger: String,
}

/// Parses `<gateway>/snapshots/<stamp>-<trigger>.<ext>` (either extension).
pub fn parse_snapshot_key(key: &str) -> Option<SnapshotName> {
    let name = key.rsplit('/').next()?;
    let base = name.strip_suffix(".tar.gz").or_else(|| name.strip_suffix(".json"))?;
    let (stamp, trigger) = (base.get(..16)?, base.get(16..)?);
    let trigger = trigger.strip_prefix('-')?;
    if !valid_trigger(trigger) {
        return None;
    }
    Some(SnapshotName {
        taken_at_millis: crate::clock::parse_compact(stamp)?,
        trigger: trigger.to_string(),
    })
}

/// A trigger word: 1-32 lowercase letters, digits or '-', as it becomes part of a key.
pub fn valid_trigger(trigger: &str) -> bool {
    (1..=32).contains(&trigger.len())
        && trigger
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// One SQLite database as captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqliteSummary {
    /// Path relative to the state root (`.openclaw/state/openclaw.sqlite`).
    pub path: String,
    /// The live file's header change counter when the inventory was taken.
    pub change_counter: u32,
    /// Bytes of the copy in the archive.
    pub bytes: u64,
    /// SHA-256 (hex) of the copy in the archive.
    pub sha256: String,
    /// True when a hot journal was rolled back on a private copy first.
    #[serde(default)]
    pub hot_journal_rolled_back: bool,
    /// How long the copy held the gateway's writers off, in milliseconds: zero when the database
    /// was copied without a lock (no commit landed meanwhile).
    #[serde(default)]
    pub writers_held_ms: u64,
}

/// How the snapshot was made consistent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consistency {
    /// `page-copy+integrity_check`.
    pub sqlite: String,
    /// `stability-check` (size and mtime unchanged across the read, retried).
    pub files: String,
    /// True when the gateway was known to be stopped during the capture.
    pub quiescent: bool,
}

/// The sidecar summary `<archive>.json`, written after the archive is complete: a snapshot
/// exists only when its sidecar does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// [`SIDECAR_FORMAT`].
    pub format: String,
    /// Gateway id.
    pub gateway: String,
    /// Key of the archive this describes.
    pub archive_key: String,
    /// Root directory inside the archive.
    pub archive_root: String,
    /// Why it was taken (`scheduled`, `task-stopped`, `pre-deployment`, `manual`...).
    pub trigger: String,
    /// RFC 3339.
    pub taken_at: String,
    /// Compressed archive size.
    pub archive_bytes: u64,
    /// SHA-256 (hex) of the archive bytes.
    pub sha256: String,
    /// Regular files in the archive (databases included, the manifest not).
    pub file_count: u64,
    /// Uncompressed bytes of those files.
    pub payload_bytes: u64,
    /// Tar entries of the archive: the manifest, files, directories and links (extension headers
    /// not counted). Bounds what a restore accepts; absent from sidecars written before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_count: Option<u64>,
    /// How consistency was obtained.
    pub consistency: Consistency,
    /// The task whose state this is, when known.
    #[serde(default)]
    pub source_task: Option<String>,
    /// Things a person should know (a cred taken from `.bak`, a link left out...). Never content.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Per database.
    #[serde(default)]
    pub sqlite: Vec<SqliteSummary>,
    /// Fingerprint of the inventory (paths, sizes, mtimes, SQLite change counters).
    pub state_fingerprint: String,
    /// Manifest assets (kind and source path).
    #[serde(default)]
    pub assets: Vec<ManifestAsset>,
    /// Wall time of the capture and upload.
    #[serde(default)]
    pub duration_ms: u64,
    /// Set by a later verification run.
    #[serde(default)]
    pub verified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_paths_follow_openclaw() {
        assert_eq!(
            payload_path("r-openclaw-backup", Path::new("/tmp/ocgw/home/.openclaw")),
            PathBuf::from("r-openclaw-backup/payload/posix/tmp/ocgw/home/.openclaw")
        );
        assert_eq!(
            normalize_absolute(Path::new("/mnt//openclaw/./.openclaw/")),
            Some(PathBuf::from("/mnt/openclaw/.openclaw"))
        );
        assert_eq!(normalize_absolute(Path::new("mnt/x")), None);
        assert_eq!(normalize_absolute(Path::new("/mnt/../x")), None);
    }

    #[test]
    fn keys_round_trip() {
        let key = archive_key("home", "20261125T214721Z", "scheduled");
        assert_eq!(key, "home/snapshots/20261125T214721Z-scheduled.tar.gz");
        let sidecar = sidecar_key(&key);
        assert_eq!(sidecar, "home/snapshots/20261125T214721Z-scheduled.json");
        assert_eq!(archive_key_of_sidecar(&sidecar).as_deref(), Some(key.as_str()));
        let name = parse_snapshot_key(&sidecar).expect("parses");
        assert_eq!(name.trigger, "scheduled");
        assert_eq!(parse_snapshot_key("home/last-check.json"), None);
        assert_eq!(parse_snapshot_key("home/snapshots/20261125T214721Z-Bad.json"), None);
        assert!(valid_trigger("pre-deployment"));
        assert!(!valid_trigger("a/b"));
        assert!(!valid_trigger(""));
    }
}
