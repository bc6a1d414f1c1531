//! The walk of a snapshot's assets: what will go into the archive, and a fingerprint of it.
//!
//! The walk never follows a symbolic link: a link is kept as a link when its target stays
//! inside the same asset, and left out (with a warning) otherwise, so nothing outside the
//! roots is read and a restored tree never points outside itself. Entries come out in sorted
//! order, a directory before its contents, so archives are deterministic.

use std::collections::BTreeMap;
use std::fs;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::SnapshotError;
use crate::exclude::{self, Exclusion};
use crate::layout::ManifestSkip;

/// Which OpenClaw asset kind a root is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    /// The OpenClaw state dir (exactly one per archive).
    State,
    /// The auth-profile key dir (`~/.config/openclaw`), kept beside the state.
    Credentials,
}

impl AssetKind {
    /// The manifest's `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::State => "state",
            AssetKind::Credentials => "credentials",
        }
    }
}

/// A source tree to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// Its kind.
    pub kind: AssetKind,
    /// Absolute, normalized path.
    pub source: PathBuf,
}

/// What an inventory entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory (archived as a directory entry, so empty ones survive).
    Dir,
    /// A regular file, read with the stability check.
    File,
    /// A SQLite database, captured through the online backup API.
    Sqlite {
        /// The header's file change counter at inventory time.
        change_counter: u32,
    },
    /// A symbolic link whose target stays inside its asset.
    Symlink {
        /// The link text, as read.
        target: PathBuf,
    },
    /// A `-wal`/`-shm`/`-journal` file: fingerprinted, never archived.
    SqliteSidecar,
}

/// One path of an asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Index of its asset in [`Inventory::assets`].
    pub asset: usize,
    /// Path relative to the asset root (empty for the root itself).
    pub rel: PathBuf,
    /// What it is.
    pub kind: EntryKind,
    /// Size in bytes at inventory time.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl Entry {
    /// Modification time in whole seconds (what a tar header holds).
    pub fn mtime_secs(&self) -> u64 {
        u64::try_from(self.mtime_ns.div_euclid(1_000_000_000)).unwrap_or(0)
    }
}

/// Everything a snapshot will capture, before reading any content.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The roots, in archive order (state first).
    pub assets: Vec<Asset>,
    /// Every kept path, sorted, directories before their contents.
    pub entries: Vec<Entry>,
    /// Directories left out on purpose (for the manifest).
    pub skipped: Vec<ManifestSkip>,
    /// Files and directories left out on purpose.
    pub excluded: u64,
    /// Things a person should know (links left out, special files).
    pub warnings: Vec<String>,
}

/// Builds the asset list of a gateway: its state dir, and the auth-profile key dir
/// `<state_root>/.config/openclaw` when it exists. Fails when the state dir is missing: an
/// unmounted volume must not produce an empty "successful" snapshot.
pub fn gateway_assets(state_root: &Path, state_dir: &str) -> Result<Vec<Asset>, SnapshotError> {
    let root = crate::layout::normalize_absolute(state_root).ok_or_else(|| {
        SnapshotError::Refused(format!(
            "state root {} must be an absolute path without '..'",
            state_root.display()
        ))
    })?;
    let state = root.join(state_dir);
    let is_dir = fs::symlink_metadata(&state).map(|m| m.is_dir()).unwrap_or(false);
    if !is_dir {
        return Err(SnapshotError::StateMissing { path: state });
    }
    let mut assets = vec![Asset {
        kind: AssetKind::State,
        source: state,
    }];
    let keys = root.join(".config").join("openclaw");
    if fs::symlink_metadata(&keys).map(|m| m.is_dir()).unwrap_or(false) {
        assets.push(Asset {
            kind: AssetKind::Credentials,
            source: keys,
        });
    }
    Ok(assets)
}

/// Walks `assets` and lists what a snapshot will hold.
pub fn take_inventory(assets: &[Asset]) -> Result<Inventory, SnapshotError> {
    let mut inventory = Inventory {
        assets: assets.to_vec(),
        ..Inventory::default()
    };
    for (index, asset) in assets.iter().enumerate() {
        let meta = fs::symlink_metadata(&asset.source).map_err(|e| SnapshotError::read(&asset.source, e))?;
        inventory
            .entries
            .push(entry(index, PathBuf::new(), EntryKind::Dir, &meta));
        walk_dir(&mut inventory, index, asset, Path::new(""))?;
    }
    drop_link_chains(&mut inventory);
    Ok(inventory)
}

fn entry(asset: usize, rel: PathBuf, kind: EntryKind, meta: &fs::Metadata) -> Entry {
    Entry {
        asset,
        rel,
        kind,
        size: if meta.is_file() { meta.len() } else { 0 },
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    }
}

fn walk_dir(inventory: &mut Inventory, index: usize, asset: &Asset, rel_dir: &Path) -> Result<(), SnapshotError> {
    let dir = asset.source.join(rel_dir);
    let read = match fs::read_dir(&dir) {
        Ok(read) => read,
        // Removed while we walked: nothing left to capture.
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SnapshotError::read(&dir, e)),
    };
    let mut names = Vec::new();
    for item in read {
        let item = item.map_err(|e| SnapshotError::read(&dir, e))?;
        names.push(item.file_name());
    }
    names.sort();
    if names.iter().any(|n| n == exclude::PRIVATE_CAPTURE_MARKER) && !rel_dir.as_os_str().is_empty() {
        // A private update capture: its owner keeps it out of every export.
        inventory.excluded += 1;
        inventory.entries.retain(|e| !(e.asset == index && e.rel == rel_dir));
        return Ok(());
    }
    for name in names {
        let rel = rel_dir.join(&name);
        let path = asset.source.join(&rel);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(SnapshotError::read(&path, e)),
        };
        let parts: Vec<&str> = rel.iter().map(|p| p.to_str().unwrap_or("\u{fffd}")).collect();
        let is_dir = meta.is_dir();
        let excluded = match asset.kind {
            AssetKind::State => exclude::state_exclusion(&parts, is_dir),
            AssetKind::Credentials => exclude::other_exclusion(&parts, is_dir),
        };
        if let Some(why) = excluded {
            inventory.excluded += 1;
            if is_dir {
                inventory.skipped.push(ManifestSkip {
                    kind: if why == Exclusion::Regenerable {
                        "managed state".into()
                    } else {
                        "entry".into()
                    },
                    source_path: path.to_string_lossy().into_owned(),
                    reason: why.reason().into(),
                });
            }
            continue;
        }
        let file_type = meta.file_type();
        let name_str = name.to_string_lossy();
        if file_type.is_dir() {
            inventory.entries.push(entry(index, rel.clone(), EntryKind::Dir, &meta));
            walk_dir(inventory, index, asset, &rel)?;
        } else if file_type.is_symlink() {
            let target = match fs::read_link(&path) {
                Ok(target) => target,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(SnapshotError::read(&path, e)),
            };
            if link_stays_inside(&rel, &target) {
                inventory
                    .entries
                    .push(entry(index, rel, EntryKind::Symlink { target }, &meta));
            } else {
                inventory.excluded += 1;
                inventory.warnings.push(format!(
                    "left out symbolic link {} (its target is outside the {} directory; links are never followed)",
                    rel.display(),
                    asset.kind.as_str()
                ));
            }
        } else if file_type.is_file() {
            let kind = if exclude::is_sqlite_sidecar(&name_str) {
                EntryKind::SqliteSidecar
            } else if exclude::is_sqlite_name(&name_str) {
                match sqlite_header(&path) {
                    Ok(Some(change_counter)) => EntryKind::Sqlite { change_counter },
                    Ok(None) => EntryKind::File,
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(SnapshotError::read(&path, e)),
                }
            } else {
                EntryKind::File
            };
            inventory.entries.push(entry(index, rel, kind, &meta));
        } else {
            // Sockets, FIFOs, devices: nothing a restore could use.
            inventory.excluded += 1;
        }
    }
    Ok(())
}

/// The change counter of a SQLite file, or `None` when the file is not a SQLite database
/// (too short or another format).
pub fn sqlite_header(path: &Path) -> std::io::Result<Option<u32>> {
    let mut header = [0u8; 100];
    let mut file = fs::File::open(path)?;
    let mut filled = 0;
    while filled < header.len() {
        match file.read(&mut header[filled..])? {
            0 => return Ok(None),
            n => filled += n,
        }
    }
    if &header[..16] != b"SQLite format 3\0" {
        return Ok(None);
    }
    Ok(Some(u32::from_be_bytes([
        header[24], header[25], header[26], header[27],
    ])))
}

/// True when a link at `rel` (relative to its asset root) with link text `target` resolves,
/// lexically, to a path inside the asset root. Absolute targets never do.
pub fn link_stays_inside(rel: &Path, target: &Path) -> bool {
    let mut depth: Vec<&std::ffi::OsStr> = rel.parent().map(|p| p.iter().collect()).unwrap_or_default();
    for component in target.components() {
        match component {
            Component::Normal(part) => depth.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    !target.as_os_str().is_empty()
}

/// True when resolving `target` from a link at `rel` passes through `is_link` paths (symbolic
/// links of the same asset, relative to its root) before its last component. Such a chain
/// (`a/b/up -> ../..`, then `a/b/c/evil -> ../up/../../../etc/passwd`) can leave the asset although
/// every link on its own stays inside lexically, so it is refused whatever the links say now.
pub fn link_passes_through_a_link(rel: &Path, target: &Path, is_link: impl Fn(&Path) -> bool) -> bool {
    let mut at: PathBuf = rel.parent().map(Path::to_path_buf).unwrap_or_default();
    let components: Vec<Component<'_>> = target.components().collect();
    for (i, component) in components.iter().enumerate() {
        match component {
            Component::Normal(part) => {
                at.push(part);
                if i + 1 < components.len() && is_link(&at) {
                    return true;
                }
            }
            Component::ParentDir => {
                at.pop();
            }
            _ => {}
        }
    }
    false
}

/// Leaves out of `inventory` every symbolic link whose target passes through another link of its
/// asset ([`link_passes_through_a_link`]), with a warning: the archive never holds such a chain.
fn drop_link_chains(inventory: &mut Inventory) {
    let links: std::collections::HashSet<(usize, PathBuf)> = inventory
        .entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Symlink { .. }))
        .map(|e| (e.asset, e.rel.clone()))
        .collect();
    let mut dropped = Vec::new();
    inventory.entries.retain(|e| match &e.kind {
        EntryKind::Symlink { target } => {
            let chained = link_passes_through_a_link(&e.rel, target, |p| links.contains(&(e.asset, p.to_path_buf())));
            if chained {
                dropped.push(e.rel.clone());
            }
            !chained
        }
        _ => true,
    });
    for rel in dropped {
        inventory.excluded += 1;
        inventory.warnings.push(format!(
            "left out symbolic link {} (its target passes through another link; links are never followed)",
            rel.display()
        ));
    }
}

impl Inventory {
    /// A digest of everything that decides the content of a snapshot: each kept path with its
    /// kind, size and modification time, link targets, SQLite change counters, and the
    /// sidecar files that hold uncommitted or WAL-committed data. Equal fingerprints mean
    /// a new snapshot would hold the same state.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        for asset in &self.assets {
            hasher.update(asset.kind.as_str().as_bytes());
            hasher.update(asset.source.as_os_str().as_encoded_bytes());
            hasher.update(b"\n");
        }
        for e in &self.entries {
            hasher.update(e.asset.to_le_bytes());
            hasher.update(e.rel.as_os_str().as_encoded_bytes());
            hasher.update([0]);
            let line = match &e.kind {
                // A directory's mtime moves with every file created in it; its files say more.
                EntryKind::Dir => format!("d {:o}", e.mode),
                EntryKind::File | EntryKind::SqliteSidecar => format!("f {} {} {:o}", e.size, e.mtime_ns, e.mode),
                EntryKind::Sqlite { change_counter } => {
                    format!("s {} {} {} {:o}", change_counter, e.size, e.mtime_ns, e.mode)
                }
                EntryKind::Symlink { target } => format!("l {}", target.to_string_lossy()),
            };
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
        hex(&hasher.finalize())
    }

    /// SQLite change counters by path relative to the state root's parent of each asset.
    pub fn sqlite_counters(&self) -> BTreeMap<PathBuf, u32> {
        self.entries
            .iter()
            .filter_map(|e| match e.kind {
                EntryKind::Sqlite { change_counter } => {
                    Some((self.assets[e.asset].source.join(&e.rel), change_counter))
                }
                _ => None,
            })
            .collect()
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn links_that_leave_the_root_are_detected() {
        assert!(link_stays_inside(Path::new("a/link"), Path::new("target")));
        assert!(link_stays_inside(Path::new("a/link"), Path::new("../b/c")));
        assert!(!link_stays_inside(Path::new("a/link"), Path::new("../../x")));
        assert!(!link_stays_inside(Path::new("link"), Path::new("../x")));
        assert!(!link_stays_inside(Path::new("link"), Path::new("/etc/passwd")));
        assert!(!link_stays_inside(Path::new("link"), Path::new("")));
    }

    #[test]
    fn a_link_whose_target_passes_through_another_link_is_left_out_of_a_capture() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join(".openclaw");
        fs::create_dir_all(state.join("a/b/c")).expect("mkdir");
        fs::write(state.join("openclaw.json"), b"{}").expect("write");
        symlink("../..", state.join("a/b/up")).expect("symlink");
        symlink("../up/../../../etc/passwd", state.join("a/b/c/evil")).expect("symlink");
        symlink("up", state.join("a/b/alias")).expect("symlink");
        let assets = gateway_assets(dir.path(), ".openclaw").expect("assets");
        let inventory = take_inventory(&assets).expect("inventory");
        let links: Vec<String> = inventory
            .entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Symlink { .. }))
            .map(|e| e.rel.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            links,
            ["a/b/alias", "a/b/up"],
            "the chain is left out, a link to a link kept"
        );
        assert!(
            inventory
                .warnings
                .iter()
                .any(|w| w.contains("a/b/c/evil") && w.contains("another link")),
            "{:?}",
            inventory.warnings
        );
        assert!(link_passes_through_a_link(
            Path::new("a/b/c/evil"),
            Path::new("../up/x"),
            |p| p == Path::new("a/b/up")
        ));
        assert!(!link_passes_through_a_link(
            Path::new("a/alias"),
            Path::new("up"),
            |p| p == Path::new("a/up")
        ));
    }

    #[test]
    fn the_walk_keeps_what_openclaw_keeps_and_never_follows_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join(".openclaw");
        fs::create_dir_all(state.join("tmp/x")).expect("mkdir");
        fs::create_dir_all(state.join("credentials/whatsapp/a")).expect("mkdir");
        fs::create_dir_all(state.join("logs")).expect("mkdir");
        fs::create_dir_all(dir.path().join("outside")).expect("mkdir");
        fs::write(state.join("tmp/x/junk"), b"x").expect("write");
        fs::write(state.join("credentials/whatsapp/a/creds.json"), b"{}").expect("write");
        fs::write(state.join("logs/gateway.log"), b"log").expect("write");
        fs::write(state.join("gateway.pid"), b"1").expect("write");
        fs::write(state.join("openclaw.json"), b"{}").expect("write");
        fs::write(state.join("fake.sqlite"), b"not a database").expect("write");
        fs::write(state.join("fake.sqlite-journal"), b"j").expect("write");
        symlink("openclaw.json", state.join("inside-link")).expect("symlink");
        symlink("../outside", state.join("outside-link")).expect("symlink");

        let assets = gateway_assets(dir.path(), ".openclaw").expect("assets");
        assert_eq!(assets.len(), 1, "no key dir here");
        let inventory = take_inventory(&assets).expect("inventory");
        let paths: Vec<String> = inventory
            .entries
            .iter()
            .map(|e| e.rel.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            paths,
            [
                "",
                "credentials",
                "credentials/whatsapp",
                "credentials/whatsapp/a",
                "credentials/whatsapp/a/creds.json",
                "fake.sqlite",
                "fake.sqlite-journal",
                "inside-link",
                "logs",
                "openclaw.json"
            ]
        );
        assert_eq!(inventory.entries[5].kind, EntryKind::File, "not a SQLite header");
        assert_eq!(inventory.entries[6].kind, EntryKind::SqliteSidecar);
        assert_eq!(inventory.warnings.len(), 1, "{:?}", inventory.warnings);
        assert!(inventory.warnings[0].contains("outside-link"));
        assert_eq!(inventory.skipped.len(), 1);
        assert_eq!(inventory.skipped[0].reason, "regenerable");

        let before = inventory.fingerprint();
        assert_eq!(before, take_inventory(&assets).expect("again").fingerprint());
        fs::write(state.join("openclaw.json"), b"{\"changed\":1}").expect("write");
        assert_ne!(before, take_inventory(&assets).expect("again").fingerprint());
    }

    #[test]
    fn a_missing_state_dir_is_an_error_not_an_empty_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = gateway_assets(dir.path(), ".openclaw").expect_err("missing");
        assert_eq!(err.error_type(), "StateMissing");
    }
}
