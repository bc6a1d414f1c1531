//! Hostile input to the archive reader (`verify_archive`, `extract_archive`): random bytes,
//! random tar entries wrapped in gzip (any path, type, link target, mode and time), and
//! mutations of a real archive written by the snapshot code. The reader never panics, refuses
//! what it cannot vouch for with `InvalidArchive`, and never writes outside the staging
//! directory: each extraction runs in a temp dir whose parent is inspected afterwards.
//! The crafted attacks (traversal, absolute paths, links out, missing payloads, bombs) are in
//! `restore_safety.rs`; this file adds random exploration and the cases found by it.

mod fuzz_support;

use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use clawkeeper_snapshot::capture::{CaptureOptions, capture};
use clawkeeper_snapshot::clock;
use clawkeeper_snapshot::inventory::{gateway_assets, take_inventory};
use clawkeeper_snapshot::verify::{Limits, extract_archive, verify_archive};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use tar::{EntryType, Header};

/// Small limits, so random archives reach them too (and a bomb costs milliseconds).
fn limits() -> Limits {
    Limits {
        max_total_bytes: 1 << 20,
        max_entry_bytes: 256 << 10,
        max_entries: 64,
        max_ratio: 1100,
        ratio_floor: 64 << 10,
    }
}

/// A real archive from the snapshot code: state dir with config, creds, a database, a link,
/// and the auth-profile key dir. Made once per test binary.
fn real_archive() -> &'static (Vec<u8>, String) {
    static ARCHIVE: OnceLock<(Vec<u8>, String)> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("home");
        let state = root.join(".openclaw");
        clawkeeper_tests::home::write_small_state(&root);
        fs::create_dir_all(state.join("state")).expect("state");
        std::os::unix::fs::symlink("openclaw.json", state.join("config-link")).expect("link");
        let conn = rusqlite::Connection::open(state.join("state/openclaw.sqlite")).expect("db");
        conn.execute_batch("PRAGMA journal_mode=DELETE; CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);")
            .expect("fill");
        drop(conn);
        fs::create_dir_all(root.join(".config/openclaw")).expect("key dir");
        fs::write(root.join(".config/openclaw/auth-profile.key"), [7u8; 32]).expect("key");
        let assets = gateway_assets(&root, ".openclaw").expect("assets");
        let inventory = take_inventory(&assets).expect("inventory");
        let scratch = tmp.path().join("scratch");
        fs::create_dir_all(&scratch).expect("scratch");
        let options = CaptureOptions::new(clock::epoch_millis(std::time::SystemTime::now()), &scratch);
        let (report, bytes) = capture(&inventory, &options, Vec::new()).expect("capture");
        (bytes, report.archive_root)
    })
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).expect("gunzip");
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

/// Every path under `dir` (symlinks not followed), relative.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(items) = fs::read_dir(&d) else { continue };
        for item in items.flatten() {
            let path = item.path();
            out.push(path.strip_prefix(dir).expect("under dir").to_path_buf());
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Where a symbolic link at `link` (relative to the staging dir) points, lexically; `None` when
/// it climbs above the staging dir or is absolute.
fn resolve_inside(link: &Path, target: &Path) -> Option<PathBuf> {
    let mut out: Vec<&std::ffi::OsStr> = link.parent()?.iter().collect();
    for c in target.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}

/// Verifies, then extracts `bytes` into `<tmp>/parent/staging` and checks the contract: no
/// panic, refusals are `InvalidArchive` (or `Refused`/write errors of the target), nothing
/// appears beside the staging dir or beside its parent, and every link stays inside staging.
/// Returns whether the archive was accepted.
fn check(bytes: &[u8]) -> Result<bool, TestCaseError> {
    let verified = verify_archive(bytes, limits());
    if let Err(e) = &verified {
        prop_assert_eq!(e.error_type(), "InvalidArchive", "{}", e);
        prop_assert!(!e.to_string().is_empty());
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = tmp.path().join("in.tar.gz");
    fs::write(&archive, bytes).expect("write archive");
    let parent = tmp.path().join("parent");
    fs::create_dir(&parent).expect("parent");
    let staging = parent.join("staging");
    let extracted = extract_archive(&archive, &staging, limits());
    // Verification and extraction agree on what is acceptable (a database failing its
    // integrity check is found only once extracted).
    match (&verified, &extracted) {
        (Err(_), Ok(_)) => prop_assert!(false, "extracted an archive verification refused"),
        (Ok(_), Err(e)) => prop_assert!(
            e.to_string().contains("integrity_check") || e.error_type() == "InvalidArchive",
            "{}",
            e
        ),
        _ => {}
    }
    let beside: Vec<PathBuf> = tree(tmp.path())
        .into_iter()
        .filter(|p| p != Path::new("in.tar.gz") && p != Path::new("parent") && !p.starts_with("parent/staging"))
        .collect();
    prop_assert!(beside.is_empty(), "written outside the staging dir: {:?}", beside);
    match extracted {
        Ok(_) => {
            for rel in tree(&staging) {
                let path = staging.join(&rel);
                if let Ok(target) = fs::read_link(&path) {
                    prop_assert!(
                        resolve_inside(&rel, &target).is_some(),
                        "link {} -> {} leaves the staging dir",
                        rel.display(),
                        target.display()
                    );
                }
            }
            Ok(true)
        }
        Err(_) => {
            prop_assert!(!staging.exists(), "a failed extraction leaves no staging dir behind");
            Ok(false)
        }
    }
}

/// One raw tar entry, written without the builder's checks, as an attacker would.
#[derive(Debug, Clone)]
struct RawEntry {
    path: String,
    kind: u8,
    link: String,
    data: Vec<u8>,
    mode: u32,
    mtime: u64,
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "ROOT", "payload", "posix", "mnt", "openclaw", ".openclaw", ".config", "manifest.json",
            "state", "openclaw.sqlite", "openclaw.sqlite-journal", "creds.json", "..", ".", "", "etc",
        ])
        .prop_map(str::to_string),
        1 => "[a-z\\\\/\\x00é]{1,8}",
        1 => Just("n".repeat(120)),
    ]
}

fn entry_path() -> impl Strategy<Value = String> {
    prop_oneof![
        // Mostly under the archive root, where the checks are.
        4 => prop::collection::vec(segment(), 0..6).prop_map(|s| format!("ROOT/payload/posix/mnt/openclaw/.openclaw/{}", s.join("/"))),
        2 => prop::collection::vec(segment(), 1..8).prop_map(|s| s.join("/")),
        1 => prop::collection::vec(segment(), 1..4).prop_map(|s| format!("/{}", s.join("/"))),
    ]
}

fn raw_entry() -> impl Strategy<Value = RawEntry> {
    (
        entry_path(),
        prop::sample::select(vec![
            b'0', b'0', b'0', b'5', b'5', b'2', b'1', b'3', b'4', b'6', b'7', b'x', b'g', b'L', b'K',
        ]),
        prop_oneof![entry_path(), "[a-z./]{0,20}", Just("../../../../etc".to_string())],
        prop_oneof![
            Just(Vec::new()),
            Just(br#"{"ok":true}"#.to_vec()),
            Just(b"SQLite format 3\0".to_vec()),
            prop::collection::vec(any::<u8>(), 0..600),
        ],
        prop_oneof![Just(0o600u32), Just(0o000), Just(0o7777), any::<u32>()],
        prop_oneof![
            Just(0u64),
            Just(1_795_161_640),
            Just(0o77_777_777_777),
            Just(u64::MAX),
            any::<u64>()
        ],
    )
        .prop_map(|(path, kind, link, data, mode, mtime)| RawEntry {
            path,
            kind,
            link,
            data,
            mode,
            mtime,
        })
}

const ROOT: &str = "2026-11-25T21-47-21.795+00-00-openclaw-backup";

fn manifest() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 1, "createdAt": "2026-11-25T21:47:21.795Z", "archiveRoot": ROOT,
        "assets": [{"kind": "state", "sourcePath": "/mnt/openclaw/.openclaw",
                    "archivePath": format!("{ROOT}/payload/posix/mnt/openclaw/.openclaw")}]
    }))
    .expect("json")
}

/// A tar.gz of `entries` (with the good manifest first when `with_manifest`).
fn raw_archive(entries: &[RawEntry], with_manifest: bool) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut all = Vec::new();
    if with_manifest {
        all.push(RawEntry {
            path: "ROOT/manifest.json".into(),
            kind: b'0',
            link: String::new(),
            data: manifest(),
            mode: 0o600,
            mtime: 0,
        });
    }
    all.extend_from_slice(entries);
    for e in &all {
        let path = e.path.replace("ROOT", ROOT);
        let link = e.link.replace("ROOT", ROOT);
        for (value, kind) in [(&path, b'L'), (&link, b'K')] {
            if value.len() >= 100 {
                let mut long = Header::new_gnu();
                if let Some(gnu) = long.as_gnu_mut() {
                    gnu.name[..13].copy_from_slice(b"././@LongLink");
                }
                long.set_entry_type(EntryType::new(kind));
                long.set_size(value.len() as u64 + 1);
                long.set_cksum();
                let _ = tar.append(&long, [value.as_bytes(), b"\0"].concat().as_slice());
            }
        }
        let mut header = Header::new_gnu();
        if let Some(gnu) = header.as_gnu_mut() {
            let n = path.len().min(99);
            gnu.name[..n].copy_from_slice(&path.as_bytes()[..n]);
            let n = link.len().min(99);
            gnu.linkname[..n].copy_from_slice(&link.as_bytes()[..n]);
        }
        header.set_entry_type(EntryType::new(e.kind));
        header.set_size(e.data.len() as u64);
        header.set_mode(e.mode);
        header.set_mtime(e.mtime);
        header.set_cksum();
        let _ = tar.append(&header, e.data.as_slice());
    }
    gzip(&tar.into_inner().expect("tar"))
}

/// Recomputes the checksum of the 512-byte header block at `block`.
fn fix_checksum(tar: &mut [u8], block: usize) {
    let Some(h) = tar.get_mut(block..block + 512) else {
        return;
    };
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
}

proptest! {
    #![proptest_config(fuzz_support::config(300))]

    #[test]
    fn random_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        prop_assert!(!check(&bytes)?);
        // The same bytes behind a gzip header reach the tar reader.
        prop_assert!(!check(&gzip(&bytes))? || bytes.is_empty());
    }

    #[test]
    fn random_tar_entries_never_escape(
        entries in prop::collection::vec(raw_entry(), 0..8),
        with_manifest in any::<bool>(),
    ) {
        check(&raw_archive(&entries, with_manifest))?;
    }

    #[test]
    fn byte_mutations_of_a_real_archive_never_escape(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = real_archive().0.clone();
        for (at, value) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        check(&bytes)?;
    }

    #[test]
    fn tar_level_mutations_of_a_real_archive_never_escape(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()), 1..6),
        fix in any::<bool>(),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        // Under the gzip layer, with header checksums recomputed: the tar and manifest checks
        // see the damage instead of the CRC.
        let mut tar = gunzip(&real_archive().0);
        let blocks = tar.len() / 512;
        for (block, offset, value) in &edits {
            let start = block.index(blocks) * 512;
            tar[start + offset.index(512)] = *value;
            if fix {
                fix_checksum(&mut tar, start);
            }
        }
        if let Some(cut) = cut {
            tar.truncate(cut.index(tar.len()));
        }
        check(&gzip(&tar))?;
    }
}

#[test]
fn the_real_archive_verifies_and_extracts_inside_the_staging_dir() {
    let accepted = check(&real_archive().0).expect("contract holds");
    assert!(accepted, "the snapshot code's own archive is accepted");
}

#[test]
fn an_entry_time_past_the_end_of_time_is_refused_or_clamped_not_a_panic() {
    // Found by `random_tar_entries_never_escape`: GNU base-256 mtimes reach u64::MAX, and
    // `UNIX_EPOCH + Duration::from_secs(u64::MAX)` panics in the extraction.
    let state = "ROOT/payload/posix/mnt/openclaw/.openclaw";
    for kind in [b'0', b'5'] {
        let entries = vec![
            RawEntry {
                path: state.into(),
                kind: b'5',
                link: String::new(),
                data: Vec::new(),
                mode: 0o700,
                mtime: 0,
            },
            RawEntry {
                path: format!("{state}/late"),
                kind,
                link: String::new(),
                data: Vec::new(),
                mode: 0o600,
                mtime: u64::MAX,
            },
        ];
        let bytes = raw_archive(&entries, true);
        check(&bytes).expect("contract holds");
    }
}

#[test]
fn a_symlink_standing_for_a_whole_asset_may_not_point_beside_it() {
    // The state asset itself stored as a link: `.openclaw -> .config/openclaw` "stays inside"
    // by the per-entry rule (no `..`), yet after the swap it would make the state dir an alias
    // of another directory of the volume. An asset root must be a directory.
    let state = "ROOT/payload/posix/mnt/openclaw/.openclaw";
    let entries = vec![RawEntry {
        path: state.into(),
        kind: b'2',
        link: ".config/openclaw".into(),
        data: Vec::new(),
        mode: 0o777,
        mtime: 0,
    }];
    let bytes = raw_archive(&entries, true);
    let result = verify_archive(bytes.as_slice(), limits());
    let e = result.expect_err("an asset root that is a link is refused");
    assert_eq!(e.error_type(), "InvalidArchive", "{e}");
}

#[test]
fn an_entry_stored_beneath_a_file_is_refused_by_verification() {
    // Found by `random_tar_entries_never_escape`: verification accepted it and extraction then
    // failed with "File exists", an `ArchiveWriteFailed` that reads like a disk problem.
    let state = "ROOT/payload/posix/mnt/openclaw/.openclaw";
    let file = |path: String| RawEntry {
        path,
        kind: b'0',
        link: String::new(),
        data: b"{}".to_vec(),
        mode: 0o600,
        mtime: 0,
    };
    let entries = vec![file(format!("{state}/a")), file(format!("{state}/a/b"))];
    let bytes = raw_archive(&entries, true);
    let e = verify_archive(bytes.as_slice(), limits()).expect_err("beneath a file");
    assert!(e.to_string().contains("beneath a file"), "{e}");
    check(&bytes).expect("contract holds");
}

/// A directory entry of `path`.
fn dir_entry(path: String) -> RawEntry {
    RawEntry {
        path,
        kind: b'5',
        link: String::new(),
        data: Vec::new(),
        mode: 0o700,
        mtime: 0,
    }
}

/// A symbolic link at `path` to `link`.
fn link_entry(path: String, link: &str) -> RawEntry {
    RawEntry {
        path,
        kind: b'2',
        link: link.into(),
        data: Vec::new(),
        mode: 0o777,
        mtime: 0,
    }
}

#[test]
fn a_link_chain_that_escapes_through_another_link_is_refused_and_nothing_is_written() {
    // Each link stays inside on its own (`up` goes to the asset root, `evil` walks `..` back up
    // lexically), but `evil` resolves through `up`, which already sits at the root, and so lands
    // three levels above it: outside the state dir.
    let state = "ROOT/payload/posix/mnt/openclaw/.openclaw";
    let chains = [
        ("a/b/c/evil", "../up/../../../etc/passwd"),
        ("a/b/c/evil", "../up/x"),
        ("a/b/c/evil", "./../up/../up/y"),
    ];
    for (link, target) in chains {
        let entries = vec![
            dir_entry(state.into()),
            dir_entry(format!("{state}/a")),
            dir_entry(format!("{state}/a/b")),
            dir_entry(format!("{state}/a/b/c")),
            link_entry(format!("{state}/a/b/up"), "../.."),
            link_entry(format!("{state}/{link}"), target),
        ];
        let bytes = raw_archive(&entries, true);
        let e = verify_archive(bytes.as_slice(), limits()).expect_err("a chain through a link");
        assert_eq!(e.error_type(), "InvalidArchive", "{target}: {e}");
        assert!(e.to_string().contains("through another link"), "{target}: {e}");
        check(&bytes).expect("nothing written outside staging");
    }
    // A link to a link (the last component) resolves where that link does, which is checked on
    // its own: accepted.
    let entries = vec![
        dir_entry(state.into()),
        dir_entry(format!("{state}/a")),
        link_entry(format!("{state}/a/up"), ".."),
        link_entry(format!("{state}/a/alias"), "up"),
    ];
    verify_archive(raw_archive(&entries, true).as_slice(), limits()).expect("a link to a link");
}
