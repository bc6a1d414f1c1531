//! Reading an archive safely: [`verify_archive`] checks that it is a complete, well-formed
//! OpenClaw backup whose every entry stays inside its root, and [`extract_archive`] verifies
//! first and then unpacks into a fresh directory only.
//!
//! The checks: one root directory and exactly one `<root>/manifest.json` (schema version 1)
//! naming that root; each asset's `archivePath` equal to `<root>/payload/posix<sourcePath>`
//! and present; at most one `state` asset; entry paths relative, without `.`/`..`, and unique;
//! only files, directories and links; symbolic links relative and resolving inside their
//! asset, nothing stored beneath a link, hard links pointing at files already in the archive;
//! sizes and the decompression ratio bounded (gzip bombs); SQLite files passing
//! `integrity_check` once extracted. Archives made by `openclaw backup create` pass the same
//! checks, so a gateway can be moved onto clawkeeper with its own backup.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use flate2::read::GzDecoder;
use tar::EntryType;

use crate::error::SnapshotError;
use crate::exclude;
use crate::inventory::{link_passes_through_a_link, link_stays_inside};
use crate::layout::{MANIFEST_SCHEMA_VERSION, Manifest, payload_path};
use crate::sqlite;

/// Bounds that stop a hostile archive from exhausting disk or memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total uncompressed bytes of all entries.
    pub max_total_bytes: u64,
    /// Bytes of any single entry.
    pub max_entry_bytes: u64,
    /// Number of entries.
    pub max_entries: u64,
    /// Uncompressed / compressed, checked once past `ratio_floor` bytes (OpenClaw uses 1100).
    pub max_ratio: u64,
    /// Uncompressed bytes below which the ratio is not checked.
    pub ratio_floor: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_total_bytes: 64 << 30,
            max_entry_bytes: 32 << 30,
            max_entries: 2_000_000,
            max_ratio: 1100,
            ratio_floor: 64 << 20,
        }
    }
}

/// What a verified archive holds.
#[derive(Debug, Clone)]
pub struct VerifiedArchive {
    /// Its manifest.
    pub manifest: Manifest,
    /// Entries (the manifest included).
    pub entries: u64,
    /// Regular files (the manifest included).
    pub files: u64,
    /// Uncompressed bytes of regular files.
    pub bytes: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Things a person should know (e.g. SQLite sidecars archived beside a database).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink(String),
    HardLink(String),
}

#[derive(Debug, Clone)]
struct Listed {
    path: String,
    kind: Kind,
    size: u64,
    mode: u32,
    mtime: u64,
}

/// 9999-12-31T23:59:59Z: the latest entry time kept on extraction.
const MAX_MTIME_SECS: u64 = 253_402_300_799;

fn bad(message: impl Into<String>) -> SnapshotError {
    SnapshotError::InvalidArchive(message.into())
}

/// Counts compressed bytes read, for the ratio check.
struct Counting<R> {
    inner: R,
    bytes: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.set(self.bytes.get() + n as u64);
        Ok(n)
    }
}

/// Normalizes an entry path: no leading `/`, no `\`, no NUL, no `.`/`..` segments, no trailing
/// `/`. Returns the cleaned path.
pub fn normalize_entry_path(raw: &[u8]) -> Result<String, SnapshotError> {
    let text = std::str::from_utf8(raw).map_err(|_| bad("an entry path is not UTF-8"))?;
    let trimmed = text.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(bad("an entry has an empty path"));
    }
    if trimmed.starts_with('/') {
        return Err(bad(format!("entry path is absolute: {text}")));
    }
    if trimmed.contains('\\') || trimmed.contains('\0') {
        return Err(bad(format!("entry path has a backslash or NUL: {text:?}")));
    }
    if trimmed.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(bad(format!("entry path has an empty, '.' or '..' segment: {text}")));
    }
    Ok(trimmed.to_string())
}

fn within(child: &str, parent: &str) -> bool {
    child == parent || (child.starts_with(parent) && child.as_bytes().get(parent.len()) == Some(&b'/'))
}

/// Lists and checks every entry of a `.tar.gz` stream without writing anything.
pub fn verify_archive<R: Read>(reader: R, limits: Limits) -> Result<VerifiedArchive, SnapshotError> {
    let (verified, _) = scan(reader, limits)?;
    Ok(verified)
}

fn scan<R: Read>(reader: R, limits: Limits) -> Result<(VerifiedArchive, Vec<Listed>), SnapshotError> {
    let compressed = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let counting = Counting {
        inner: reader,
        bytes: compressed.clone(),
    };
    let mut archive = tar::Archive::new(GzDecoder::new(counting));
    let mut listed: Vec<Listed> = Vec::new();
    let mut manifest_raw: Option<Vec<u8>> = None;
    let mut root: Option<String> = None;
    let mut total: u64 = 0;
    let read_err = |e: io::Error| bad(format!("the archive cannot be read (not a complete .tar.gz?): {e}"));
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let header = entry.header();
        let entry_type = header.entry_type();
        if entry_type == EntryType::XGlobalHeader {
            continue;
        }
        let path = normalize_entry_path(&entry.path_bytes())?;
        let size = entry.size();
        let mode = header.mode().unwrap_or(0o600) & 0o777;
        // GNU base-256 times reach u64::MAX, which no `SystemTime` holds: clamp to year 9999.
        let mtime = header.mtime().unwrap_or(0).min(MAX_MTIME_SECS);
        if size > limits.max_entry_bytes {
            return Err(bad(format!("entry {path} is {size} bytes, over the limit")));
        }
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(bad("the archive expands beyond the size limit"));
        }
        if listed.len() as u64 >= limits.max_entries {
            return Err(bad("the archive has too many entries"));
        }
        let first = path.split('/').next().unwrap_or_default().to_string();
        match &root {
            None => root = Some(first),
            Some(r) if *r != first => {
                return Err(bad(format!("entry {path} is outside the archive root {r}")));
            }
            Some(_) => {}
        }
        let link = |entry: &tar::Entry<'_, _>| -> Result<String, SnapshotError> {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| bad(format!("link {path} has no target")))?;
            let target = std::str::from_utf8(&target).map_err(|_| bad(format!("link {path} target is not UTF-8")))?;
            if target.is_empty() || target.contains('\0') {
                return Err(bad(format!("link {path} has an empty target")));
            }
            Ok(target.to_string())
        };
        let kind = match entry_type {
            EntryType::Regular | EntryType::Continuous => Kind::File,
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink(link(&entry)?),
            EntryType::Link => Kind::HardLink(link(&entry)?),
            other => {
                return Err(bad(format!("entry {path} has an unsupported type {other:?}")));
            }
        };
        let is_manifest = path.matches('/').count() == 1 && path.ends_with("/manifest.json");
        if is_manifest && kind == Kind::File {
            if manifest_raw.is_some() {
                return Err(bad("the archive has more than one manifest.json"));
            }
            if size > 1 << 20 {
                return Err(bad("manifest.json is larger than 1 MiB"));
            }
            let mut raw = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            entry.read_to_end(&mut raw).map_err(read_err)?;
            manifest_raw = Some(raw);
        } else {
            // Drain the content to measure the real expansion (tar skips it anyway).
            io::copy(&mut entry, &mut io::sink()).map_err(read_err)?;
        }
        if total > limits.ratio_floor && total / compressed.get().max(1) > limits.max_ratio {
            return Err(bad("the archive's decompression ratio is too high (gzip bomb?)"));
        }
        listed.push(Listed {
            path,
            kind,
            size,
            mode,
            mtime,
        });
    }
    let root = root.ok_or_else(|| bad("the archive is empty"))?;
    let manifest_raw = manifest_raw.ok_or_else(|| bad(format!("the archive has no {root}/manifest.json")))?;
    let manifest: Manifest = serde_json::from_slice(&manifest_raw).map_err(|e| bad(format!("manifest.json: {e}")))?;
    let verified = check_listing(manifest, &root, &listed)?;
    Ok((verified, listed))
}

fn check_listing(manifest: Manifest, root: &str, listed: &[Listed]) -> Result<VerifiedArchive, SnapshotError> {
    if manifest.schema_version != MANIFEST_SCHEMA_VERSION {
        return Err(bad(format!(
            "manifest schemaVersion {} is not supported (expected {MANIFEST_SCHEMA_VERSION})",
            manifest.schema_version
        )));
    }
    if manifest.archive_root != root {
        return Err(bad(format!(
            "manifest archiveRoot {:?} does not match the archive's root directory {root:?}",
            manifest.archive_root
        )));
    }
    let states = manifest.assets.iter().filter(|a| a.kind == "state").count();
    if states > 1 {
        return Err(bad(format!(
            "manifest has {states} state assets; at most one is allowed"
        )));
    }
    let mut seen = HashSet::new();
    let mut files = HashSet::new();
    for item in listed {
        if !seen.insert(item.path.as_str()) {
            return Err(bad(format!("duplicate entry {}", item.path)));
        }
        if item.kind == Kind::File {
            files.insert(item.path.as_str());
        }
    }
    let payload_root = format!("{root}/payload");
    let mut asset_roots = Vec::new();
    for asset in &manifest.assets {
        let source = Path::new(&asset.source_path);
        let normalized = crate::layout::normalize_absolute(source);
        if normalized.as_deref() != Some(source) {
            return Err(bad(format!(
                "asset sourcePath {:?} must be absolute and normalized",
                asset.source_path
            )));
        }
        let expected = payload_path(root, source).to_string_lossy().into_owned();
        if asset.archive_path != expected {
            return Err(bad(format!(
                "asset archivePath {:?} must be {expected:?}",
                asset.archive_path
            )));
        }
        if !within(&asset.archive_path, &payload_root) {
            return Err(bad(format!("asset path {} is outside the payload", asset.archive_path)));
        }
        if !listed.iter().any(|e| within(&e.path, &asset.archive_path)) {
            return Err(bad(format!(
                "the manifest names {} ({}) but the archive has no payload for it",
                asset.archive_path, asset.kind
            )));
        }
        asset_roots.push(asset.archive_path.as_str());
    }
    let symlink_paths: HashSet<&str> = listed
        .iter()
        .filter(|e| matches!(e.kind, Kind::Symlink(_)))
        .map(|e| e.path.as_str())
        .collect();
    let hard_link_paths: HashSet<&str> = listed
        .iter()
        .filter(|e| matches!(e.kind, Kind::HardLink(_)))
        .map(|e| e.path.as_str())
        .collect();
    let mut warnings = Vec::new();
    let mut verified = VerifiedArchive {
        manifest: manifest.clone(),
        entries: listed.len() as u64,
        files: 0,
        bytes: 0,
        symlinks: symlink_paths.len() as u64,
        warnings: Vec::new(),
    };
    for item in listed {
        let mut parent = Path::new(&item.path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            if p.to_str().is_some_and(|p| symlink_paths.contains(p)) {
                return Err(bad(format!("entry {} is stored beneath a symbolic link", item.path)));
            }
            // Extraction could only fail on it, late and looking like a disk error.
            if p.to_str()
                .is_some_and(|p| files.contains(p) || hard_link_paths.contains(p))
            {
                return Err(bad(format!("entry {} is stored beneath a file", item.path)));
            }
            parent = p.parent();
        }
        let manifest_entry = item.path == format!("{root}/manifest.json");
        if !manifest_entry && !within(&item.path, &payload_root) {
            return Err(bad(format!("entry {} is outside the payload", item.path)));
        }
        match &item.kind {
            Kind::File => {
                verified.files += 1;
                verified.bytes += item.size;
            }
            Kind::Dir => {}
            Kind::Symlink(target) => {
                let asset = asset_roots
                    .iter()
                    .find(|a| within(&item.path, a))
                    .ok_or_else(|| bad(format!("symbolic link {} is outside the declared assets", item.path)))?;
                let rel = item
                    .path
                    .strip_prefix(*asset)
                    .unwrap_or_default()
                    .trim_start_matches('/');
                // A link standing for the whole asset would make the restored dir an alias of
                // another directory of the volume: an asset root must be a directory.
                if rel.is_empty() {
                    return Err(bad(format!(
                        "asset {} is a symbolic link; an asset must be a directory",
                        item.path
                    )));
                }
                if !link_stays_inside(Path::new(rel), Path::new(target)) {
                    return Err(bad(format!(
                        "symbolic link {} points outside its asset ({target})",
                        item.path
                    )));
                }
                let through = |p: &Path| {
                    p.to_str().is_some_and(|p| {
                        symlink_paths.contains(format!("{}/{p}", asset.trim_end_matches('/')).as_str())
                    })
                };
                if link_passes_through_a_link(Path::new(rel), Path::new(target), through) {
                    return Err(bad(format!(
                        "symbolic link {} resolves through another link of the archive ({target})",
                        item.path
                    )));
                }
            }
            Kind::HardLink(target) => {
                let target = normalize_entry_path(target.as_bytes())?;
                let resolved = if within(&target, root) {
                    target
                } else {
                    format!("{root}/{target}")
                };
                if !files.contains(resolved.as_str()) {
                    return Err(bad(format!(
                        "hard link {} points at {resolved}, which is not a file in the archive",
                        item.path
                    )));
                }
            }
        }
        if let Some(name) = item.path.rsplit('/').next()
            && let Some(db) = exclude::sqlite_sidecar_owner(name)
            && files.contains(format!("{}/{db}", item.path.rsplit_once('/').map_or("", |(d, _)| d)).as_str())
        {
            warnings.push(format!(
                "{} is a SQLite sidecar archived beside its database",
                item.path
            ));
        }
    }
    verified.warnings = warnings;
    Ok(verified)
}

/// Verifies the archive at `archive`, then extracts it into `target`, which must not exist or
/// be an empty directory. The layout is kept (`<root>/manifest.json`, `<root>/payload/...`).
/// Links are created after every file, so nothing is ever written through one. SQLite files
/// must pass `integrity_check` once extracted. On failure the target is emptied (or removed
/// when this call created it).
pub fn extract_archive(archive: &Path, target: &Path, limits: Limits) -> Result<VerifiedArchive, SnapshotError> {
    let open = || fs::File::open(archive).map_err(|e| SnapshotError::read(archive, e));
    let (verified, listed) = scan(io::BufReader::new(open()?), limits)?;
    let created = prepare_target(target)?;
    let result = unpack(open()?, target, &listed).and_then(|()| check_databases(target, &listed));
    if let Err(e) = result {
        let cleanup = if created {
            fs::remove_dir_all(target)
        } else {
            fs::read_dir(target).and_then(|mut items| {
                items.try_for_each(|item| {
                    let path = item?.path();
                    if fs::symlink_metadata(&path)?.is_dir() {
                        fs::remove_dir_all(path)
                    } else {
                        fs::remove_file(path)
                    }
                })
            })
        };
        if let Err(cleanup) = cleanup {
            tracing::warn!(target = %target.display(), error = %cleanup, "could not clean an incomplete extraction");
        }
        return Err(e);
    }
    Ok(verified)
}

fn prepare_target(target: &Path) -> Result<bool, SnapshotError> {
    match fs::symlink_metadata(target) {
        Ok(meta) if !meta.is_dir() => Err(SnapshotError::Refused(format!(
            "restore target {} exists and is not a directory",
            target.display()
        ))),
        Ok(_) => {
            let mut items = fs::read_dir(target).map_err(|e| SnapshotError::read(target, e))?;
            if items.next().is_some() {
                return Err(SnapshotError::Refused(format!(
                    "restore target {} is not empty; restores go into a fresh directory only",
                    target.display()
                )));
            }
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(target).map_err(SnapshotError::Write)?;
            fs::set_permissions(target, fs::Permissions::from_mode(0o700)).map_err(SnapshotError::Write)?;
            Ok(true)
        }
        Err(e) => Err(SnapshotError::read(target, e)),
    }
}

fn unpack(file: fs::File, target: &Path, listed: &[Listed]) -> Result<(), SnapshotError> {
    let mut archive = tar::Archive::new(GzDecoder::new(io::BufReader::new(file)));
    let mut index = 0usize;
    let mut links: Vec<(PathBuf, String)> = Vec::new();
    let mut dirs: Vec<(PathBuf, u32, u64)> = Vec::new();
    let mut extracted: HashMap<&str, PathBuf> = HashMap::new();
    let read_err = |e: io::Error| bad(format!("the archive changed or cannot be read during extraction: {e}"));
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        if entry.header().entry_type() == EntryType::XGlobalHeader {
            continue;
        }
        let path = normalize_entry_path(&entry.path_bytes())?;
        // The second pass must see exactly what the first one verified.
        let expected = listed
            .get(index)
            .filter(|l| l.path == path && l.size == entry.size())
            .ok_or_else(|| bad("the archive changed between verification and extraction"))?;
        index += 1;
        let dest = target.join(&expected.path);
        match &expected.kind {
            Kind::Dir => {
                fs::create_dir_all(&dest).map_err(SnapshotError::Write)?;
                dirs.push((dest, expected.mode, expected.mtime));
            }
            Kind::File => {
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(SnapshotError::Write)?;
                }
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&dest)
                    .map_err(SnapshotError::Write)?;
                let copied = io::copy(&mut (&mut entry).take(expected.size), &mut out).map_err(read_err)?;
                if copied != expected.size {
                    return Err(bad(format!("entry {} is truncated", expected.path)));
                }
                out.set_permissions(fs::Permissions::from_mode(expected.mode))
                    .map_err(SnapshotError::Write)?;
                out.set_modified(UNIX_EPOCH + Duration::from_secs(expected.mtime))
                    .map_err(SnapshotError::Write)?;
                extracted.insert(expected.path.as_str(), dest);
            }
            Kind::HardLink(raw_target) => {
                let root = expected.path.split('/').next().unwrap_or_default();
                let target_path = normalize_entry_path(raw_target.as_bytes())?;
                let resolved = if within(&target_path, root) {
                    target_path
                } else {
                    format!("{root}/{target_path}")
                };
                let source = extracted
                    .get(resolved.as_str())
                    .ok_or_else(|| bad(format!("hard link {} has no extracted target", expected.path)))?;
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(SnapshotError::Write)?;
                }
                fs::hard_link(source, &dest).map_err(SnapshotError::Write)?;
            }
            Kind::Symlink(link_target) => links.push((dest, link_target.clone())),
        }
    }
    if index != listed.len() {
        return Err(bad("the archive changed between verification and extraction"));
    }
    for (dest, link_target) in links {
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(SnapshotError::Write)?;
        }
        std::os::unix::fs::symlink(&link_target, &dest).map_err(SnapshotError::Write)?;
    }
    // Directory modes last (deepest first): a read-only directory would refuse its children.
    for (dest, mode, mtime) in dirs.into_iter().rev() {
        fs::set_permissions(&dest, fs::Permissions::from_mode(mode | 0o700)).map_err(SnapshotError::Write)?;
        if let Ok(dir) = fs::File::open(&dest) {
            let _ = dir.set_modified(UNIX_EPOCH + Duration::from_secs(mtime));
        }
    }
    Ok(())
}

fn check_databases(target: &Path, listed: &[Listed]) -> Result<(), SnapshotError> {
    for item in listed.iter().filter(|l| l.kind == Kind::File) {
        let name = item.path.rsplit('/').next().unwrap_or_default();
        if !exclude::is_sqlite_name(name) {
            continue;
        }
        let path = target.join(&item.path);
        if crate::inventory::sqlite_header(&path)
            .map_err(|e| SnapshotError::read(&path, e))?
            .is_none()
        {
            continue;
        }
        sqlite::check_integrity(&path).map_err(|problem| {
            bad(format!(
                "SQLite database {} fails integrity_check: {problem}",
                item.path
            ))
        })?;
    }
    Ok(())
}
