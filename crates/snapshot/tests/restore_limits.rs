//! A restore's bounds come from what it knows (the sidecar, the archive's size, the free space
//! of the scratch dir and of the state volume) and are checked before the download or while
//! the archive is listed: an archive over them is refused with nothing written to the state.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clawkeeper_snapshot::layout::Sidecar;
use clawkeeper_snapshot::restore::{RestoreOptions, restore_snapshot_with};
use clawkeeper_snapshot::space::Space;
use clawkeeper_snapshot::verify::{Limits, verify_archive};
use sha2::{Digest, Sha256};
use support::{FakeSpace, MemStore, append, capture_snapshot, put_snapshot, request, tar_gz, tree, write_state};

const STAMP: &str = "20261125T214721Z";
const MIB: u64 = 1 << 20;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `<tmp>/src` with a state of version "new" and a 2 MiB file; `<tmp>/root` with "old".
fn lay_out(tmp: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (src, root, scratch) = (tmp.join("src"), tmp.join("root"), tmp.join("scratch"));
    for dir in [&src, &root, &scratch] {
        std::fs::create_dir_all(dir).expect("dir");
    }
    write_state(&src, "new");
    std::fs::write(src.join(".openclaw/media.bin"), vec![7u8; 2 << 20]).expect("big file");
    write_state(&root, "old");
    (src, root, scratch)
}

fn space(available: u64, total: u64) -> Space {
    Space { available, total }
}

fn options(fake: Vec<(PathBuf, Space)>) -> RestoreOptions {
    RestoreOptions {
        free_space: Arc::new(FakeSpace(fake)),
        ..RestoreOptions::default()
    }
}

/// The root as the gateway sees it, and everything beside (staging dirs, journal).
fn untouched(root: &Path, before: &std::collections::BTreeMap<PathBuf, Option<Vec<u8>>>) {
    assert_eq!(&tree(root), before, "nothing under the state root changed");
}

#[test]
fn an_archive_beyond_its_sidecars_payload_is_refused_before_anything_is_written() {
    let rt = runtime();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (src, root, scratch) = lay_out(tmp.path());
    let snapshot = capture_snapshot(&src, &scratch, STAMP);
    // The same bytes (size and hash match), but a sidecar that says the files are tiny.
    let mut sidecar = snapshot.sidecar.clone();
    sidecar.payload_bytes = 10;
    let store = MemStore::default();
    put_snapshot(&store, &snapshot.key, snapshot.archive, Some(&sidecar));
    let before = tree(&root);
    let err = rt
        .block_on(restore_snapshot_with(
            &store,
            request(&root, &scratch, &snapshot.key),
            RestoreOptions::default(),
        ))
        .expect_err("beyond the sidecar");
    assert_eq!(err.error_type(), "InvalidArchive", "{err}");
    assert!(err.to_string().contains("over the limit of 1114122"), "{err}");
    assert!(err.to_string().contains("sidecar's payload size"), "{err}");
    untouched(&root, &before);
}

#[test]
fn an_archive_without_a_sidecar_is_bounded_by_the_free_space_of_the_state_volume() {
    let rt = runtime();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (src, root, scratch) = lay_out(tmp.path());
    let snapshot = capture_snapshot(&src, &scratch, STAMP);
    let store = MemStore::default();
    // Named by its key, without a sidecar: an `openclaw backup create` archive.
    put_snapshot(&store, &snapshot.key, snapshot.archive.clone(), None);
    let before = tree(&root);
    // 2 MiB free: 1.8 MiB usable once the margin is kept, less than the 2 MiB file.
    let err = rt
        .block_on(restore_snapshot_with(
            &store,
            request(&root, &scratch, &snapshot.key),
            options(vec![(root.clone(), space(2 * MIB, 100 * MIB))]),
        ))
        .expect_err("the volume is too small");
    assert_eq!(err.error_type(), "InvalidArchive", "{err}");
    assert!(err.to_string().contains("free space of the state volume"), "{err}");
    untouched(&root, &before);
    // With room, the same archive restores (checked by its manifest only).
    let report = rt
        .block_on(restore_snapshot_with(
            &store,
            request(&root, &scratch, &snapshot.key),
            RestoreOptions::default(),
        ))
        .expect("restores");
    assert_eq!(report.made_by, "openclaw");
}

#[test]
fn a_sidecar_larger_than_the_state_volume_is_refused_before_download() {
    let rt = runtime();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (src, root, scratch) = lay_out(tmp.path());
    let snapshot = capture_snapshot(&src, &scratch, STAMP);
    let store = MemStore::default();
    put_snapshot(&store, &snapshot.key, snapshot.archive, Some(&snapshot.sidecar));
    let before = tree(&root);
    let err = rt
        .block_on(restore_snapshot_with(
            &store,
            request(&root, &scratch, &snapshot.key),
            options(vec![(root.clone(), space(MIB, 100 * MIB))]),
        ))
        .expect_err("no room");
    assert_eq!(err.error_type(), "StateVolumeTooSmall", "{err}");
    assert!(err.to_string().contains("free space there"), "{err}");
    assert_eq!(store.downloads(), 0, "refused before the download");
    untouched(&root, &before);
}

#[test]
fn a_scratch_dir_too_small_is_refused_before_download() {
    let rt = runtime();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (src, root, scratch) = lay_out(tmp.path());
    let snapshot = capture_snapshot(&src, &scratch, STAMP);
    let before = tree(&root);
    for with_sidecar in [true, false] {
        let store = MemStore::default();
        put_snapshot(
            &store,
            &snapshot.key,
            snapshot.archive.clone(),
            with_sidecar.then_some(&snapshot.sidecar),
        );
        let err = rt
            .block_on(restore_snapshot_with(
                &store,
                request(&root, &scratch, &snapshot.key),
                options(vec![(scratch.clone(), space(MIB, 512 * MIB))]),
            ))
            .expect_err("no room in /tmp");
        assert_eq!(err.error_type(), "ScratchTooSmall", "{err}");
        assert!(err.to_string().contains("`ScratchStorageMiB`"), "{err}");
        assert_eq!(store.downloads(), 0, "refused before the download");
        untouched(&root, &before);
    }
}

/// An archive of the manifest, the state dir and `files` empty files, with a sidecar that
/// matches its bytes and says `entry_count`.
fn many_empty_files(files: usize, entry_count: Option<u64>) -> (Vec<u8>, Sidecar) {
    let root = "2026-11-25T21-47-21.795+00-00-openclaw-backup";
    let state = format!("{root}/payload/posix/mnt/openclaw/.openclaw");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 1, "createdAt": "2026-11-25T21:47:21.795Z", "archiveRoot": root,
        "assets": [{"kind": "state", "sourcePath": "/mnt/openclaw/.openclaw", "archivePath": state}]
    }))
    .expect("manifest");
    let archive = tar_gz(|tar| {
        append(tar, &format!("{root}/manifest.json"), Some(&manifest));
        append(tar, &state, None);
        for i in 0..files {
            append(tar, &format!("{state}/f{i}"), Some(b""));
        }
    });
    let sidecar: Sidecar = serde_json::from_value(serde_json::json!({
        "format": "clawkeeper-snapshot/1", "gateway": "home",
        "archive_key": format!("home/snapshots/{STAMP}-manual.tar.gz"), "archive_root": root,
        "trigger": "manual", "taken_at": "2026-11-25T21:47:21.795Z", "archive_bytes": archive.len(),
        "sha256": sha256_hex(&archive), "file_count": 1, "payload_bytes": 0, "entry_count": entry_count,
        "consistency": {"sqlite": "x", "files": "x", "quiescent": true}, "state_fingerprint": "x"
    }))
    .expect("sidecar");
    (archive, sidecar)
}

#[test]
fn many_empty_entries_beyond_the_sidecars_count_are_refused() {
    let rt = runtime();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (root, scratch) = (tmp.path().join("root"), tmp.path().join("scratch"));
    std::fs::create_dir_all(&scratch).expect("scratch");
    write_state(&root, "old");
    let before = tree(&root);
    // A sidecar that counts entries: 3 (manifest, dir, one file), and 500 empty files.
    // One from before entries were counted: its one file allows 2 + 10,001 entries.
    for (files, entry_count) in [(500, Some(3)), (10_100, None)] {
        let (archive, sidecar) = many_empty_files(files, entry_count);
        let store = MemStore::default();
        put_snapshot(&store, &sidecar.archive_key, archive, Some(&sidecar));
        let err = rt
            .block_on(restore_snapshot_with(
                &store,
                request(&root, &scratch, &sidecar.archive_key),
                RestoreOptions::default(),
            ))
            .expect_err("too many entries");
        assert_eq!(err.error_type(), "InvalidArchive", "{err}");
        assert!(err.to_string().contains("too many entries"), "{files}: {err}");
        untouched(&root, &before);
    }
    // Within its count, the same shape restores.
    let (archive, sidecar) = many_empty_files(500, Some(502));
    let store = MemStore::default();
    put_snapshot(&store, &sidecar.archive_key, archive, Some(&sidecar));
    rt.block_on(restore_snapshot_with(
        &store,
        request(&root, &scratch, &sidecar.archive_key),
        RestoreOptions::default(),
    ))
    .expect("within its count");
}

#[test]
fn the_capture_counts_the_entries_a_restore_reads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (src, _, scratch) = lay_out(tmp.path());
    std::os::unix::fs::symlink("openclaw.json", src.join(".openclaw/link.json")).expect("link");
    std::fs::create_dir_all(src.join(".openclaw/empty")).expect("empty dir");
    let snapshot = capture_snapshot(&src, &scratch, STAMP);
    let verified = verify_archive(snapshot.archive.as_slice(), Limits::default()).expect("verifies");
    assert_eq!(snapshot.sidecar.entry_count, Some(verified.entries));
    // The bounds a restore derives from that sidecar admit exactly this archive.
    let limits = Limits::for_restore(Some(&snapshot.sidecar), u64::MAX, snapshot.sidecar.archive_bytes);
    verify_archive(snapshot.archive.as_slice(), limits).expect("within its own sidecar's bounds");
    let tight = Limits {
        max_entries: verified.entries - 1,
        ..limits
    };
    assert!(verify_archive(snapshot.archive.as_slice(), tight).is_err());
}
