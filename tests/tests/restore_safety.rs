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
    // One deflate stream expands at most about 1032:1, so a bomb shows as a high ratio over
    // many entries; a lower limit shows the check at work on a small archive.
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
