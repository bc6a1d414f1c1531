//! Reading an archive safely: [`verify_archive`] checks that it is a complete, well-formed
//! OpenClaw backup whose every entry stays inside its root, and [`extract_archive`] verifies
//! first and then unpacks into a fresh directory only.
//!
//! The checks: one root directory and exactly one `<root>/manifest.json` (schema version 1)
//! naming that root; each asset's `archivePath` equal to `<root>/payload/posix<sourcePath>`
//! and present; at most one `state` asset; entry paths relative, without `.`/`..`, and unique;
//! only files, directories and links; symbolic links relative and resolving inside their
//! asset, nothing stored beneath a link, hard links pointing at files already in the archive;
//! total and entry sizes, entry counts, path, name and link lengths and extension headers
//! bounded (gzip bombs, memory); SQLite files passing
//! `integrity_check` once extracted. Archives made by `openclaw backup create` pass the same
//! checks, so a gateway can be moved onto clawkeeper with its own backup.

use std::collections::HashSet;
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
use crate::layout::{MANIFEST_SCHEMA_VERSION, Manifest, Sidecar, payload_path};
use crate::sqlite;

/// Bounds that stop a hostile archive from exhausting disk or memory. Every bound is checked
/// while the archive is listed, from its headers, before anything is written: an archive over
/// one is refused with the state volume untouched.
///
/// [`Limits::default`] is for callers that know nothing about an archive;
/// [`Limits::for_restore`] derives tighter bounds from what a restore knows (the sidecar, the
/// archive's size, the free space of the state volume). Per-entry bounds on names and extension
/// headers are constants ([`MAX_PATH_BYTES`], [`MAX_NAME_BYTES`], [`MAX_LINK_BYTES`],
/// [`MAX_PAX_BYTES`], [`MAX_LISTING_BYTES`]): they follow from Linux and from memory, not from
/// the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total uncompressed bytes of all entries (as their headers declare them, checked before
    /// each entry's data is read).
    pub max_total_bytes: u64,
    /// Bytes of any single entry.
    pub max_entry_bytes: u64,
    /// Number of entries (files, directories and links; extension headers not counted).
    pub max_entries: u64,
    /// Uncompressed / compressed bytes read so far, checked after each entry once past
    /// `ratio_floor` bytes. Off (`u64::MAX`) unless a caller sets it: one deflate stream cannot
    /// expand more than about 1032:1 ([`DEFLATE_MAX_RATIO`]), so a bound above that can never
    /// trip, and one below it can refuse a good backup holding a file of zeros. What stops a
    /// gzip bomb is `max_total_bytes`, which [`Limits::for_restore`] derives from the sidecar,
    /// or from 1032 times the archive's size, and from the free space.
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
            max_ratio: u64::MAX,
            ratio_floor: 64 << 20,
        }
    }
}

/// Deflate's ceiling: a stream of 258-byte matches codes each in about two bits, so no deflate
/// (hence gzip) stream expands more than 1032:1. The decompressed tar, headers and padding
/// included, is at least the sum of its entries' sizes.
pub const DEFLATE_MAX_RATIO: u64 = 1032;
/// The largest `manifest.json` accepted.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// Longest entry path, in bytes (Linux's `PATH_MAX`): a longer one could not be created anyway.
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest component of an entry path, in bytes (Linux's `NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;
/// Longest link target, in bytes (`symlink(2)` refuses longer ones).
pub const MAX_LINK_BYTES: usize = 4096;
/// Largest PAX extended header. The tar crate reads one whole into memory for the entry it
/// describes, as it does GNU long names, whatever size the header declares; here they are read
/// by this module, after this check. A path and a link target of the maximum length with the
/// usual records fit in 9 KiB; 1 MiB leaves room for extended attributes and ACLs (ignored).
pub const MAX_PAX_BYTES: u64 = 1 << 20;
/// All entry paths and link targets together: they are held in memory for the checks across
/// entries (duplicates, links, what lies beneath what). At the 1,000,000 entries a restore
/// without a sidecar allows, 256 bytes each; real paths are about half that.
pub const MAX_LISTING_BYTES: u64 = 256 << 20;
/// Entries a restore accepts without a sidecar, and at most with one: about 300 MB of listing
/// in the restore function's 512 MB. OpenClaw states have thousands to tens of thousands.
pub const MAX_RESTORE_ENTRIES: u64 = 1_000_000;
/// Room beyond a sidecar's exact figures (a few entries, 64 KiB): the sidecar and the archive
/// come from one capture, so anything more than rounding means they do not belong together.
const SIDECAR_ENTRY_SLACK: u64 = 16;
const SIDECAR_BYTE_SLACK: u64 = 64 << 10;
/// For sidecars written before they counted entries: directories and links beside the files.
/// In an OpenClaw state each directory holds files, so there are fewer directories than files;
/// 10,000 more covers empty directories and links.
const OLD_SIDECAR_EXTRA_ENTRIES: u64 = 10_000;

impl Limits {
    /// The bounds of a restore, from what it knows before it reads the archive:
    ///
    /// - total bytes: with a sidecar, its `payload_bytes` plus the manifest (and 64 KiB); without
    ///   one, [`DEFLATE_MAX_RATIO`] times `archive_bytes` (no lower "practical" ratio: a good
    ///   backup of a file of zeros reaches ~1000:1, and a restore must not refuse a good backup);
    ///   always at most what the state volume can take ([`crate::space::usable_state_bytes`] of
    ///   `free_bytes_on_state_volume`);
    /// - one entry: the same;
    /// - entries: with a sidecar, its entry count (or, from older sidecars, twice the file count
    ///   and 10,000 for directories and links), without one [`MAX_RESTORE_ENTRIES`], and never
    ///   more than that.
    pub fn for_restore(sidecar: Option<&Sidecar>, free_bytes_on_state_volume: u64, archive_bytes: u64) -> Limits {
        let volume = crate::space::usable_state_bytes(free_bytes_on_state_volume);
        let (total, entries) = match sidecar {
            Some(sidecar) => (
                sidecar
                    .payload_bytes
                    .saturating_add(MAX_MANIFEST_BYTES)
                    .saturating_add(SIDECAR_BYTE_SLACK),
                match sidecar.entry_count {
                    Some(n) => n.saturating_add(SIDECAR_ENTRY_SLACK),
                    // + 1: the manifest, which file_count leaves out.
                    None => sidecar
                        .file_count
                        .saturating_mul(2)
                        .saturating_add(1 + OLD_SIDECAR_EXTRA_ENTRIES),
                },
            ),
            None => (archive_bytes.saturating_mul(DEFLATE_MAX_RATIO), MAX_RESTORE_ENTRIES),
        };
        let total = total.min(volume);
        Limits {
            max_total_bytes: total,
            max_entry_bytes: total,
            max_entries: entries.min(MAX_RESTORE_ENTRIES),
            max_ratio: u64::MAX,
            ratio_floor: Limits::default().ratio_floor,
        }
    }

    /// The tighter of two sets of bounds, bound by bound (a caller's own limits and derived ones).
    pub fn tightest(self, other: Limits) -> Limits {
        Limits {
            max_total_bytes: self.max_total_bytes.min(other.max_total_bytes),
            max_entry_bytes: self.max_entry_bytes.min(other.max_entry_bytes),
            max_entries: self.max_entries.min(other.max_entries),
            max_ratio: self.max_ratio.min(other.max_ratio),
            ratio_floor: self.ratio_floor.min(other.ratio_floor),
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

/// Where a size limit comes from, for the messages (the limits themselves are plain numbers).
const BOUNDED_BY: &str = "(a restore bounds it by the sidecar's payload size, or without a sidecar by 1032 times \
                          the archive's size, and by the free space of the state volume less a margin)";

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

/// One entry of the archive as the tar format means it: a header, with the path and link target
/// the GNU long-name or PAX extension entries before it give.
struct Member {
    path: Vec<u8>,
    link: Option<Vec<u8>>,
}

/// Reads the archive entry by entry, handing each member to `each` with its full path and link
/// target. The tar crate's own handling of extension entries (GNU `L`/`K`, PAX `x`) reads each
/// whole into memory, whatever size its header declares, and its GNU sparse handling keeps a
/// record per sparse block: a small archive could exhaust memory before any check here ran. So
/// entries are read raw and extensions handled here, with their sizes checked before they are
/// read. What they mean is the tar crate's: a GNU long name wins over a PAX `path`, which wins
/// over the header; a PAX `size` must equal the header's (readers that disagree on an entry's
/// size see different archives); PAX sparse files are refused.
fn read_members<R: Read>(
    archive: &mut tar::Archive<R>,
    read_err: &dyn Fn(io::Error) -> SnapshotError,
    mut each: impl FnMut(&mut tar::Entry<'_, R>, Member) -> Result<(), SnapshotError>,
) -> Result<(), SnapshotError> {
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut pax: Option<Vec<u8>> = None;
    for entry in archive.entries().map_err(read_err)?.raw(true) {
        let mut entry = entry.map_err(read_err)?;
        let header = entry.header();
        let kind = header.entry_type();
        // As the tar crate: extension types count only in GNU and ustar headers.
        let recognized = header.as_gnu().is_some() || header.as_ustar().is_some();
        let size = entry.size();
        if recognized && (kind.is_gnu_longname() || kind.is_gnu_longlink()) {
            let (slot, what) = if kind.is_gnu_longname() {
                (&mut long_name, "name")
            } else {
                (&mut long_link, "link target")
            };
            if slot.is_some() {
                return Err(bad(format!("two GNU long-{what} entries describe the same entry")));
            }
            // One path and its terminating NUL, no more, is ever read into memory.
            if size > MAX_PATH_BYTES as u64 + 1 {
                return Err(bad(format!(
                    "a GNU long {what} of {size} bytes; entry paths and link targets are limited to \
                     {MAX_PATH_BYTES} bytes"
                )));
            }
            let mut value = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            entry.read_to_end(&mut value).map_err(read_err)?;
            if value.last() == Some(&0) {
                value.pop();
            }
            *slot = Some(value);
            continue;
        }
        if recognized && kind.is_pax_local_extensions() {
            if pax.is_some() {
                return Err(bad("two PAX extended headers describe the same entry"));
            }
            if size > MAX_PAX_BYTES {
                return Err(bad(format!(
                    "a PAX extended header of {size} bytes; at most {MAX_PAX_BYTES} are accepted"
                )));
            }
            let mut value = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            entry.read_to_end(&mut value).map_err(read_err)?;
            pax = Some(value);
            continue;
        }
        let (mut pax_path, mut pax_link) = (None, None);
        if let Some(records) = pax.take() {
            for record in tar::PaxExtensions::new(&records) {
                let record = record.map_err(|_| bad("a PAX extended header is malformed"))?;
                match record.key_bytes() {
                    b"path" => pax_path = Some(record.value_bytes().to_vec()),
                    b"linkpath" => pax_link = Some(record.value_bytes().to_vec()),
                    b"size" => {
                        let declared = record.value().ok().and_then(|v| v.parse::<u64>().ok());
                        if declared != Some(size) {
                            return Err(bad(format!(
                                "a PAX header gives the entry after it a size ({}) other than its tar header's \
                                 ({size}); tools would read different archives from it",
                                String::from_utf8_lossy(record.value_bytes())
                            )));
                        }
                    }
                    key if key.starts_with(b"GNU.sparse.") => {
                        return Err(bad(
                            "the archive holds a sparse file (GNU.sparse PAX records): not supported",
                        ));
                    }
                    _ => {}
                }
            }
        }
        let header = entry.header();
        let path = long_name
            .take()
            .or(pax_path)
            .unwrap_or_else(|| header.path_bytes().into_owned());
        let link = long_link
            .take()
            .or(pax_link)
            .or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
        check_name_lengths(&path, link.as_deref())?;
        each(&mut entry, Member { path, link })?;
    }
    if long_name.is_some() || long_link.is_some() || pax.is_some() {
        return Err(bad(
            "the archive ends with an extension header that describes no entry (not a complete .tar.gz?)",
        ));
    }
    Ok(())
}

/// Entry paths and link targets within Linux's bounds: anything longer could not be created,
/// and bounding them bounds the memory each listed entry takes.
fn check_name_lengths(path: &[u8], link: Option<&[u8]>) -> Result<(), SnapshotError> {
    let shown = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned();
        if bytes.len() > 80 { format!("{text}...") } else { text }
    };
    if path.len() > MAX_PATH_BYTES {
        return Err(bad(format!(
            "entry path {} is {} bytes; paths are limited to {MAX_PATH_BYTES} bytes",
            shown(path),
            path.len()
        )));
    }
    if let Some(long) = path.split(|b| *b == b'/').find(|c| c.len() > MAX_NAME_BYTES) {
        return Err(bad(format!(
            "entry path {} has a component of {} bytes; names are limited to {MAX_NAME_BYTES} bytes",
            shown(path),
            long.len()
        )));
    }
    if let Some(link) = link
        && link.len() > MAX_LINK_BYTES
    {
        return Err(bad(format!(
            "link {} has a target of {} bytes; link targets are limited to {MAX_LINK_BYTES} bytes",
            shown(path),
            link.len()
        )));
    }
    Ok(())
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
    let mut name_bytes: u64 = 0;
    let read_err = |e: io::Error| bad(format!("the archive cannot be read (not a complete .tar.gz?): {e}"));
    read_members(&mut archive, &read_err, |entry, member| {
        let header = entry.header();
        let entry_type = header.entry_type();
        if entry_type == EntryType::XGlobalHeader {
            return Ok(());
        }
        let path = normalize_entry_path(&member.path)?;
        let size = entry.size();
        let mode = header.mode().unwrap_or(0o600) & 0o777;
        // GNU base-256 times reach u64::MAX, which no `SystemTime` holds: clamp to year 9999.
        let mtime = header.mtime().unwrap_or(0).min(MAX_MTIME_SECS);
        if size > limits.max_entry_bytes {
            return Err(bad(format!(
                "entry {path} is {size} bytes, over the limit of {} for this archive {BOUNDED_BY}",
                limits.max_entry_bytes
            )));
        }
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(bad(format!(
                "the archive expands beyond the size limit of {} bytes for it {BOUNDED_BY}: a damaged or hostile \
                 archive, or a state volume too small for it",
                limits.max_total_bytes
            )));
        }
        if listed.len() as u64 >= limits.max_entries {
            return Err(bad(format!(
                "the archive has too many entries: more than {} (its sidecar's count, or {MAX_RESTORE_ENTRIES} \
                 without a sidecar)",
                limits.max_entries
            )));
        }
        name_bytes = name_bytes.saturating_add((path.len() + member.link.as_ref().map_or(0, Vec::len)) as u64);
        if name_bytes > MAX_LISTING_BYTES {
            return Err(bad(format!(
                "the archive's entry names add up to more than {MAX_LISTING_BYTES} bytes"
            )));
        }
        let first = path.split('/').next().unwrap_or_default().to_string();
        match &root {
            None => root = Some(first),
            Some(r) if *r != first => {
                return Err(bad(format!("entry {path} is outside the archive root {r}")));
            }
            Some(_) => {}
        }
        let link = || -> Result<String, SnapshotError> {
            let target = member
                .link
                .as_deref()
                .ok_or_else(|| bad(format!("link {path} has no target")))?;
            let target = std::str::from_utf8(target).map_err(|_| bad(format!("link {path} target is not UTF-8")))?;
            if target.is_empty() || target.contains('\0') {
                return Err(bad(format!("link {path} has an empty target")));
            }
            Ok(target.to_string())
        };
        let kind = match entry_type {
            EntryType::Regular | EntryType::Continuous => Kind::File,
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink(link()?),
            EntryType::Link => Kind::HardLink(link()?),
            other => {
                return Err(bad(format!("entry {path} has an unsupported type {other:?}")));
            }
        };
        let is_manifest = path.matches('/').count() == 1 && path.ends_with("/manifest.json");
        if is_manifest && kind == Kind::File {
            if manifest_raw.is_some() {
                return Err(bad("the archive has more than one manifest.json"));
            }
            if size > MAX_MANIFEST_BYTES {
                return Err(bad("manifest.json is larger than 1 MiB"));
            }
            let mut raw = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            entry.read_to_end(&mut raw).map_err(read_err)?;
            manifest_raw = Some(raw);
        } else {
            // Drain the content to measure the real expansion (tar skips it anyway).
            io::copy(entry, &mut io::sink()).map_err(read_err)?;
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
        Ok(())
    })?;
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
    // Paths into `listed`, not copies: a hard link's source is `target` joined with its target.
    let mut extracted: HashSet<&str> = HashSet::new();
    let read_err = |e: io::Error| bad(format!("the archive changed or cannot be read during extraction: {e}"));
    read_members(&mut archive, &read_err, |entry, member| {
        if entry.header().entry_type() == EntryType::XGlobalHeader {
            return Ok(());
        }
        let path = normalize_entry_path(&member.path)?;
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
                let copied = io::copy(&mut entry.by_ref().take(expected.size), &mut out).map_err(read_err)?;
                if copied != expected.size {
                    return Err(bad(format!("entry {} is truncated", expected.path)));
                }
                out.set_permissions(fs::Permissions::from_mode(expected.mode))
                    .map_err(SnapshotError::Write)?;
                out.set_modified(UNIX_EPOCH + Duration::from_secs(expected.mtime))
                    .map_err(SnapshotError::Write)?;
                extracted.insert(expected.path.as_str());
            }
            Kind::HardLink(raw_target) => {
                let root = expected.path.split('/').next().unwrap_or_default();
                let target_path = normalize_entry_path(raw_target.as_bytes())?;
                let resolved = if within(&target_path, root) {
                    target_path
                } else {
                    format!("{root}/{target_path}")
                };
                if !extracted.contains(resolved.as_str()) {
                    return Err(bad(format!("hard link {} has no extracted target", expected.path)));
                }
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(SnapshotError::Write)?;
                }
                fs::hard_link(target.join(&resolved), &dest).map_err(SnapshotError::Write)?;
            }
            Kind::Symlink(link_target) => links.push((dest, link_target.clone())),
        }
        Ok(())
    })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sidecar(file_count: u64, payload_bytes: u64, entry_count: Option<u64>) -> Sidecar {
        serde_json::from_value(serde_json::json!({
            "format": "clawkeeper-snapshot/1", "gateway": "home", "archive_key": "k", "archive_root": "r",
            "trigger": "manual", "taken_at": "t", "archive_bytes": 1000, "sha256": "x",
            "file_count": file_count, "payload_bytes": payload_bytes, "entry_count": entry_count,
            "consistency": {"sqlite": "x", "files": "x", "quiescent": true}, "state_fingerprint": "x"
        }))
        .expect("sidecar")
    }

    #[test]
    fn restore_limits_come_from_the_sidecar_the_archive_and_the_volume() {
        let plenty = u64::MAX;
        // A sidecar that counts entries: its figures and a little slack.
        let with_count = Limits::for_restore(Some(&sidecar(10, 5000, Some(14))), plenty, 1000);
        assert_eq!(
            with_count.max_total_bytes,
            5000 + MAX_MANIFEST_BYTES + SIDECAR_BYTE_SLACK
        );
        assert_eq!(with_count.max_entry_bytes, with_count.max_total_bytes);
        assert_eq!(with_count.max_entries, 14 + SIDECAR_ENTRY_SLACK);
        assert_eq!(
            with_count.max_ratio,
            u64::MAX,
            "the ratio check is off: it could not trip"
        );
        // An older sidecar: twice its files, the manifest, and room for dirs and links.
        let old = Limits::for_restore(Some(&sidecar(10, 5000, None)), plenty, 1000);
        assert_eq!(old.max_entries, 20 + 1 + OLD_SIDECAR_EXTRA_ENTRIES);
        // No sidecar: deflate's ceiling times the archive, the fixed entry cap.
        let none = Limits::for_restore(None, plenty, 1000);
        assert_eq!(none.max_total_bytes, 1000 * DEFLATE_MAX_RATIO);
        assert_eq!(none.max_entries, MAX_RESTORE_ENTRIES);
        // The volume bounds everything, the margin kept.
        let small = Limits::for_restore(None, 10_000, 1000);
        assert_eq!(small.max_total_bytes, 9000);
        // A sidecar claiming millions of files does not lift the memory bound.
        let huge = Limits::for_restore(Some(&sidecar(u64::MAX, u64::MAX, None)), plenty, u64::MAX);
        assert_eq!(huge.max_entries, MAX_RESTORE_ENTRIES);
        assert_eq!(huge.max_total_bytes, crate::space::usable_state_bytes(plenty));
        // A caller's limits and the derived ones: the tighter of each.
        let caller = Limits {
            max_entries: 5,
            ..Limits::default()
        };
        let both = caller.tightest(with_count);
        assert_eq!(
            (both.max_entries, both.max_total_bytes),
            (5, with_count.max_total_bytes)
        );
    }

    fn raw_tar(blocks: &[(tar::Header, Vec<u8>)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (header, data) in blocks {
            tar.append(header, data.as_slice()).expect("append");
        }
        let tar = tar.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).expect("gzip");
        gz.finish().expect("gzip")
    }

    fn long_name(kind: u8, value: &[u8]) -> (tar::Header, Vec<u8>) {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().expect("gnu").name[..13].copy_from_slice(b"././@LongLink");
        header.set_entry_type(EntryType::new(kind));
        header.set_size(value.len() as u64 + 1);
        header.set_cksum();
        (header, [value, b"\0"].concat())
    }

    #[test]
    fn extension_headers_that_describe_nothing_or_twice_are_refused() {
        let refused = |bytes: Vec<u8>, fragment: &str| {
            let err = verify_archive(bytes.as_slice(), Limits::default()).expect_err("refused");
            assert!(err.to_string().contains(fragment), "{err}");
        };
        refused(raw_tar(&[long_name(b'L', b"r/x")]), "describes no entry");
        let mut file = tar::Header::new_gnu();
        file.set_path("r/x").expect("path");
        file.set_size(0);
        file.set_cksum();
        refused(
            raw_tar(&[long_name(b'L', b"r/a"), long_name(b'L', b"r/b"), (file, Vec::new())]),
            "two GNU long-name entries",
        );
        // 4096 bytes and the NUL are read; one more byte is not.
        refused(
            raw_tar(&[long_name(b'K', &[b'a'; MAX_PATH_BYTES + 1])]),
            "GNU long link target of 4098 bytes",
        );
    }
}
