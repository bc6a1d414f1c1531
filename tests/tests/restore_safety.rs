//! The archive reader refuses unsafe or incomplete archives before anything is written, and
//! extracts good ones into a fresh directory only.

use std::fs;
use std::io::Write;
use std::path::Path;

use clawkeeper_snapshot::verify::{Limits, extract_archive, verify_archive};
use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{EntryType, Header};

const ROOT: &str = "2026-11-25T21-47-21.795+00-00-openclaw-backup";
const STATE: &str = "/mnt/openclaw/.openclaw";

fn manifest(assets: &[(&str, &str, &str)]) -> Vec<u8> {
    let assets: Vec<serde_json::Value> = assets
        .iter()
        .map(|(kind, source, archive)| serde_json::json!({"kind": kind, "sourcePath": source, "archivePath": archive}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 1, "createdAt": "2026-11-25T21:47:21.795Z", "archiveRoot": ROOT, "assets": assets
    }))
    .expect("json")
}

fn state_payload() -> String {
    format!("{ROOT}/payload/posix{STATE}")
}

/// One raw entry: the path is written into the header as is (no validation), as an attacker would.
enum Raw<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Fifo(&'a str),
}

fn archive(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for entry in entries {
        let mut header = Header::new_gnu();
        let (path, data, kind, link): (&str, &[u8], EntryType, Option<&str>) = match entry {
            Raw::File(p, d) => (p, d, EntryType::Regular, None),
            Raw::Dir(p) => (p, b"", EntryType::Directory, None),
            Raw::Symlink(p, t) => (p, b"", EntryType::Symlink, Some(t)),
            Raw::Fifo(p) => (p, b"", EntryType::Fifo, None),
        };
        // Long names go in GNU extension entries, written by hand to skip the builder's checks.
        for (value, kind) in [(Some(path), b'L'), (link, b'K')] {
            if let Some(value) = value.filter(|v| v.len() >= 100) {
                let mut long = Header::new_gnu();
                long.as_gnu_mut().expect("gnu").name[..13].copy_from_slice(b"././@LongLink");
                long.set_entry_type(EntryType::new(kind));
                long.set_size(value.len() as u64 + 1);
                long.set_cksum();
                tar.append(&long, [value.as_bytes(), b"\0"].concat().as_slice())
                    .expect("long name");
            }
        }
        let gnu = header.as_gnu_mut().expect("gnu");
        let n = path.len().min(99);
        gnu.name[..n].copy_from_slice(&path.as_bytes()[..n]);
        if let Some(link) = link {
            let n = link.len().min(99);
            gnu.linkname[..n].copy_from_slice(&link.as_bytes()[..n]);
        }
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        tar.append(&header, data).expect("append");
    }
    tar.into_inner().expect("tar").finish().expect("gzip")
}

fn good_entries<'a>(manifest: &'a [u8], state: &'a str, file: &'a str) -> Vec<Raw<'a>> {
    vec![
        Raw::File(Box::leak(format!("{ROOT}/manifest.json").into_boxed_str()), manifest),
        Raw::Dir(state),
        Raw::File(file, b"{\"ok\":true}"),
    ]
}

fn refused(bytes: &[u8], fragment: &str) {
    match verify_archive(bytes, Limits::default()) {
        Ok(v) => panic!("expected a refusal containing {fragment:?}, got {v:?}"),
        Err(e) => {
            assert_eq!(e.error_type(), "InvalidArchive", "{e}");
            assert!(e.to_string().contains(fragment), "{e} does not contain {fragment:?}");
        }
    }
}

#[test]
fn a_well_formed_archive_verifies_and_extracts_into_a_fresh_directory_only() {
    let state = state_payload();
    let manifest = manifest(&[("state", STATE, &state)]);
    let file = format!("{state}/openclaw.json");
    let link = format!("{state}/link");
    let mut entries = good_entries(&manifest, &state, &file);
    entries.push(Raw::Symlink(&link, "openclaw.json"));
    let bytes = archive(&entries);
    let verified = verify_archive(bytes.as_slice(), Limits::default()).expect("valid");
    assert_eq!((verified.entries, verified.files, verified.symlinks), (4, 2, 1));

    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("a.tar.gz");
    fs::write(&path, &bytes).expect("write");
    let target = tmp.path().join("staging");
    extract_archive(&path, &target, Limits::default()).expect("extract");
    assert_eq!(fs::read(target.join(&file)).expect("file"), b"{\"ok\":true}");
    assert_eq!(
        fs::read_link(target.join(&link)).expect("link"),
        Path::new("openclaw.json")
    );

    // Never over existing content.
    let err = extract_archive(&path, &target, Limits::default()).expect_err("not empty");
    assert_eq!(err.error_type(), "Refused");
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn traversal_absolute_paths_and_unsafe_links_are_refused() {
    let state = state_payload();
    let manifest = manifest(&[("state", STATE, &state)]);
    let file = format!("{state}/openclaw.json");
    let cases: Vec<(Raw<'_>, &str)> = vec![
        (
            Raw::File(
                Box::leak(format!("{state}/../../../../etc/cron.d/x").into_boxed_str()),
                b"x",
            ),
            "'..'",
        ),
        (Raw::File("/etc/passwd", b"x"), "absolute"),
        (Raw::File("other-root/x", b"x"), "outside the archive root"),
        (
            Raw::File(Box::leak(format!("{ROOT}/elsewhere").into_boxed_str()), b"x"),
            "outside the payload",
        ),
        (
            Raw::Symlink(
                Box::leak(format!("{state}/evil").into_boxed_str()),
                "../../../../../../etc",
            ),
            "points outside",
        ),
        (
            Raw::Symlink(Box::leak(format!("{state}/abs").into_boxed_str()), "/etc/shadow"),
            "points outside",
        ),
        (
            Raw::Fifo(Box::leak(format!("{state}/pipe").into_boxed_str())),
            "unsupported type",
        ),
        (
            Raw::File(Box::leak(file.clone().into_boxed_str()), b"again"),
            "duplicate entry",
        ),
    ];
    for (bad, fragment) in cases {
        let mut entries = good_entries(&manifest, &state, &file);
        entries.push(bad);
        refused(&archive(&entries), fragment);
    }
    // A file stored beneath a symbolic link would be written through it on extraction.
    let link = format!("{state}/dir");
    let beneath = format!("{state}/dir/file");
    let mut entries = good_entries(&manifest, &state, &file);
    entries.push(Raw::Symlink(&link, "sub"));
    entries.push(Raw::File(&beneath, b"x"));
    refused(&archive(&entries), "beneath a symbolic link");
}

#[test]
fn manifests_must_match_the_archive() {
    let state = state_payload();
    let file = format!("{state}/openclaw.json");
    // No manifest at all.
    refused(&archive(&[Raw::Dir(&state), Raw::File(&file, b"{}")]), "no ");
    // A manifest naming a payload that is not there.
    let missing = format!("{ROOT}/payload/posix/mnt/openclaw/.config/openclaw");
    let m = manifest(&[
        ("state", STATE, &state),
        ("credentials", "/mnt/openclaw/.config/openclaw", &missing),
    ]);
    refused(&archive(&good_entries(&m, &state, &file)), "no payload");
    // archivePath must be <root>/payload/posix<sourcePath>.
    let m = manifest(&[("state", "/somewhere/else", &state)]);
    refused(&archive(&good_entries(&m, &state, &file)), "archivePath");
    // Two state assets.
    let m = manifest(&[("state", STATE, &state), ("state", STATE, &state)]);
    refused(&archive(&good_entries(&m, &state, &file)), "state assets");
    // Another schema.
    let mut m: serde_json::Value = serde_json::from_slice(&manifest(&[("state", STATE, &state)])).expect("json");
    m["schemaVersion"] = 2.into();
    let m = serde_json::to_vec(&m).expect("json");
    refused(&archive(&good_entries(&m, &state, &file)), "schemaVersion");
    // Not an archive at all, or a cut one.
    refused(b"definitely not gzip", "cannot be read");
    let good = archive(&good_entries(&manifest(&[("state", STATE, &state)]), &state, &file));
    refused(&good[..good.len() / 2], "cannot be read");
}

#[test]
fn gzip_bombs_are_stopped_by_size_and_ratio_limits() {
    let state = state_payload();
    let manifest = manifest(&[("state", STATE, &state)]);
    let file = format!("{state}/openclaw.json");
    let zeros = vec![0u8; 8 << 20];
    let bomb = format!("{state}/zeros");
    let mut entries = good_entries(&manifest, &state, &file);
    entries.push(Raw::File(&bomb, &zeros));
    let bytes = archive(&entries);
    // One deflate stream expands at most about 1032:1, so a ratio bound above that never trips
    // and the default leaves it off; a caller may still set a lower one.
    verify_archive(bytes.as_slice(), Limits::default()).expect("a file of zeros is no bomb by itself");
    let limits = Limits {
        ratio_floor: 1 << 20,
        max_ratio: 100,
        ..Limits::default()
    };
    refused_with(&bytes, limits, "ratio");
    let limits_total = Limits {
        max_total_bytes: 4 << 20,
        ..Limits::default()
    };
    refused_with(&bytes, limits_total, "size limit");
    let limits_small = Limits {
        max_entry_bytes: 1 << 20,
        ..Limits::default()
    };
    refused_with(&bytes, limits_small, "over the limit");
    // A restore without a sidecar: at most 1032 times the archive, and what the state volume
    // can take (here 6 MiB free, 5.4 MiB usable, less than the 8 MiB of zeros).
    let archive_len = bytes.len() as u64;
    verify_archive(bytes.as_slice(), Limits::for_restore(None, u64::MAX, archive_len)).expect("fits");
    refused_with(
        &bytes,
        Limits::for_restore(None, 6 << 20, archive_len),
        "free space of the state volume",
    );
    let bound = Limits::for_restore(None, u64::MAX, 1000);
    assert_eq!(bound.max_total_bytes, 1_032_000);
    refused_with(&bytes, bound, "over the limit of 1032000");
}

#[test]
fn a_10_kib_path_is_refused_before_it_is_read() {
    let state = state_payload();
    let manifest = manifest(&[("state", STATE, &state)]);
    let file = format!("{state}/openclaw.json");
    // The tar crate would read a GNU long name of any declared size into memory; this one is
    // refused from its header.
    let long = format!("{state}/{}", "d/".repeat(5 << 10));
    let mut entries = good_entries(&manifest, &state, &file);
    entries.push(Raw::File(&long, b"x"));
    refused(&archive(&entries), "limited to 4096 bytes");
    // Under 4096 bytes, but one component longer than a file name can be.
    let wide = format!("{state}/{}", "n".repeat(300));
    let mut entries = good_entries(&manifest, &state, &file);
    entries.push(Raw::File(&wide, b"x"));
    refused(&archive(&entries), "component of 300 bytes");
    // A link target longer than a path.
    let link = format!("{state}/link");
    let target = "t/".repeat(2600);
    let mut entries = good_entries(&manifest, &state, &file);
    entries.push(Raw::Symlink(&link, &target));
    refused(&archive(&entries), "limited to 4096 bytes");
    // A path at the limit that is otherwise fine still verifies.
    let deep = format!("{state}/{}", "abcdefghi/".repeat(300));
    let deep = deep.trim_end_matches('/').to_string();
    assert!(deep.len() < 4096);
    let mut entries = good_entries(&manifest, &state, &file);
    entries.push(Raw::File(&deep, b"x"));
    verify_archive(archive(&entries).as_slice(), Limits::default()).expect("a long but valid path");
}

/// The good entries, with `pax` records before one more entry (`path`, `data`).
fn with_pax(pax: &[(&str, &[u8])], path: &str, data: &[u8]) -> Vec<u8> {
    let state = state_payload();
    let manifest = manifest(&[("state", STATE, &state)]);
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let append = |tar: &mut tar::Builder<GzEncoder<Vec<u8>>>, path: &str, data: &[u8], kind: EntryType| {
        let mut header = Header::new_ustar();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        tar.append_data(&mut header, path, data).expect("append");
    };
    append(
        &mut tar,
        &format!("{ROOT}/manifest.json"),
        &manifest,
        EntryType::Regular,
    );
    append(&mut tar, &state, b"", EntryType::Directory);
    tar.append_pax_extensions(pax.iter().copied()).expect("pax");
    append(&mut tar, path, data, EntryType::Regular);
    tar.into_inner().expect("tar").finish().expect("gzip")
}

#[test]
fn pax_headers_are_read_within_bounds_and_as_the_tar_crate_means_them() {
    let state = state_payload();
    // A PAX path is the entry's path (OpenClaw's node-tar writes long paths this way).
    let long = format!("{state}/{}/openclaw.json", "sub".repeat(60));
    let bytes = with_pax(&[("path", long.as_bytes())], &format!("{state}/short"), b"{}");
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("a.tar.gz");
    fs::write(&path, &bytes).expect("write");
    let target = tmp.path().join("staging");
    extract_archive(&path, &target, Limits::default()).expect("extract");
    assert_eq!(fs::read(target.join(&long)).expect("at its PAX path"), b"{}");
    assert!(!target.join(format!("{state}/short")).exists());
    // A PAX size other than the header's: readers would disagree on where the next entry is.
    refused(
        &with_pax(&[("size", b"5")], &format!("{state}/f"), b"abc"),
        "other than its tar header's",
    );
    // PAX sparse files would be written as their sparse map.
    refused(
        &with_pax(&[("GNU.sparse.major", b"1")], &format!("{state}/f"), b"abc"),
        "sparse",
    );
    // A PAX link target longer than a path.
    let target_path = "x".repeat(4097);
    refused(
        &with_pax(&[("linkpath", target_path.as_bytes())], &format!("{state}/f"), b""),
        "target of 4097 bytes",
    );
    // A PAX header that declares 1 GiB is refused from its header, never read.
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let mut header = Header::new_ustar();
    header.set_path("PaxHeaders/x").expect("path");
    header.set_entry_type(EntryType::XHeader);
    header.set_size(1 << 30);
    header.set_cksum();
    tar.append(&header, &b"30 path=a\n"[..]).expect("append");
    let bytes = tar.into_inner().expect("tar").finish().expect("gzip");
    refused(&bytes, "PAX extended header of 1073741824 bytes");
}

fn refused_with(bytes: &[u8], limits: Limits, fragment: &str) {
    let err = verify_archive(bytes, limits).expect_err("refused");
    assert!(err.to_string().contains(fragment), "{err}");
}

#[test]
fn a_failed_extraction_leaves_nothing_behind() {
    // A database that fails integrity_check is only found once extracted: the staging dir goes.
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("db.sqlite");
    {
        let conn = rusqlite::Connection::open(&db).expect("db");
        conn.execute_batch("PRAGMA journal_mode=DELETE; CREATE TABLE t(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000) INSERT INTO t SELECT randomblob(300) FROM n;")
            .expect("fill");
    }
    let mut bytes = fs::read(&db).expect("read");
    let len = bytes.len();
    for b in &mut bytes[4096..len - 1024] {
        *b ^= 0xff;
    }
    let state = state_payload();
    let manifest = manifest(&[("state", STATE, &state)]);
    let file = format!("{state}/openclaw.json");
    let db_entry = format!("{state}/state/openclaw.sqlite");
    let mut entries = good_entries(&manifest, &state, &file);
    entries.push(Raw::File(&db_entry, &bytes));
    let path = tmp.path().join("a.tar.gz");
    fs::File::create(&path)
        .and_then(|mut f| f.write_all(&archive(&entries)))
        .expect("write");
    let target = tmp.path().join("staging");
    let err = extract_archive(&path, &target, Limits::default()).expect_err("corrupt database");
    assert!(err.to_string().contains("integrity_check"), "{err}");
    assert!(!target.exists(), "the staging dir this call created is removed");
}
