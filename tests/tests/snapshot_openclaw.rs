//! Interop with the real OpenClaw from npm: clawkeeper's archive of a state dir a real gateway
//! wrote (plus WhatsApp creds, the auth-profile key dir and an extra database) passes
//! `openclaw backup verify` and `openclaw backup restore` brings back the same bytes; a torn
//! `creds.json` is taken from its `.bak`; captures during live writes hold whole transactions.

mod snapshot_support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clawkeeper_snapshot::capture::{CaptureOptions, CaptureReport, capture};
use clawkeeper_snapshot::clock;
use clawkeeper_snapshot::inventory::{EntryKind, Inventory, gateway_assets, take_inventory};
use clawkeeper_snapshot::layout::payload_path;
use clawkeeper_snapshot::verify::{Limits, extract_archive};
use snapshot_support::*;

fn options(scratch: &Path) -> CaptureOptions {
    let mut options = CaptureOptions::new(clock::epoch_millis(std::time::SystemTime::now()), scratch);
    options.retry_delay = Duration::from_millis(5);
    options
}

/// Captures `state_root` into `<dir>/<name>.tar.gz`.
fn capture_to_file(state_root: &Path, dir: &Path, options: &CaptureOptions) -> (PathBuf, CaptureReport, Inventory) {
    let assets = gateway_assets(state_root, ".openclaw").expect("assets");
    let inventory = take_inventory(&assets).expect("inventory");
    fs::create_dir_all(dir).expect("out dir");
    let path = dir.join(format!("{}.tar.gz", clock::archive_root(options.created_at_millis)));
    let file = fs::File::create(&path).expect("archive file");
    let (report, mut file) = capture(&inventory, options, file).expect("capture");
    file.flush().expect("flush");
    (path, report, inventory)
}

/// Checks every captured file of `inventory` against its copy under `restored` (an extraction
/// that kept the archive layout): plain files byte-identical, databases with the same rows.
fn assert_restored(inventory: &Inventory, restored: &Path, archive_root: &str) -> usize {
    let mut checked = 0;
    for entry in &inventory.entries {
        let source = inventory.assets[entry.asset].source.join(&entry.rel);
        let copy = restored.join(payload_path(archive_root, &source));
        match &entry.kind {
            EntryKind::File => {
                assert_eq!(
                    fs::read(&source).expect("source"),
                    fs::read(&copy).unwrap_or_else(|e| panic!("{}: {e}", copy.display())),
                    "{}",
                    entry.rel.display()
                );
                checked += 1;
            }
            EntryKind::Sqlite { .. } => {
                assert_eq!(table_counts(&source), table_counts(&copy), "{}", entry.rel.display());
                checked += 1;
            }
            EntryKind::SqliteSidecar => {
                assert!(!copy.exists(), "sidecar {} must not be restored", copy.display());
            }
            EntryKind::Dir => assert!(copy.is_dir(), "{}", copy.display()),
            EntryKind::Symlink { target } => {
                assert_eq!(&fs::read_link(&copy).expect("link"), target);
            }
        }
    }
    checked
}

#[test]
fn archives_of_a_real_gateway_state_pass_openclaw_verify_and_restore() {
    let started = Instant::now();
    let gateway_home = real_gateway_home();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("home");
    copy_tree(&gateway_home, &root);
    let state = root.join(".openclaw");
    assert!(
        state.join("state/openclaw.sqlite").exists(),
        "a real gateway wrote its database"
    );
    add_whatsapp_creds(&state, "default", 400);
    fs::create_dir_all(root.join(".config/openclaw")).expect("key dir");
    fs::write(root.join(".config/openclaw/auth-profile.key"), [7u8; 32]).expect("key");
    make_database(&state.join("extra/data.sqlite"), 5000);
    std::os::unix::fs::symlink("../openclaw.json", state.join("extra/config-link")).expect("inside link");
    std::os::unix::fs::symlink("/etc/hostname", state.join("extra/outside-link")).expect("outside link");

    let scratch = tmp.path().join("scratch");
    fs::create_dir_all(&scratch).expect("scratch");
    let options = options(&scratch);
    let capture_started = Instant::now();
    let (archive, report, inventory) = capture_to_file(&root, &tmp.path().join("out"), &options);
    let capture_time = capture_started.elapsed();
    assert_eq!(report.manifest.assets.len(), 2, "{:?}", report.manifest.assets);
    assert_eq!(report.manifest.assets[1].kind, "credentials");
    assert!(report.file_count > 680, "{}", report.file_count);
    let dbs: Vec<&str> = report.sqlite.iter().map(|s| s.path.as_str()).collect();
    assert!(dbs.iter().any(|p| p.ends_with("/state/openclaw.sqlite")), "{dbs:?}");
    assert!(dbs.iter().any(|p| p.ends_with("/extra/data.sqlite")), "{dbs:?}");
    assert_eq!(report.warnings.len(), 1, "only the outside link: {:?}", report.warnings);
    assert!(report.warnings[0].contains("outside-link"));
    assert_eq!(fs::metadata(&archive).expect("archive").len(), report.archive_bytes);

    // OpenClaw's own checks, from a home with no live state of its own.
    let other_home = tmp.path().join("other-home");
    fs::create_dir_all(&other_home).expect("home");
    let archive_arg = archive.to_string_lossy().into_owned();
    let (ok, out, err) = run_openclaw(&other_home, &["backup", "verify", &archive_arg, "--json"]);
    assert!(ok, "openclaw backup verify failed:\n{out}\n{err}");
    let verified: serde_json::Value = serde_json::from_str(&out).expect("verify JSON");
    assert_eq!(verified["ok"], true, "{verified:#}");
    assert_eq!(verified["assetCount"], 2, "{verified:#}");

    let target = tmp.path().join("restored-by-openclaw");
    let target_arg = target.to_string_lossy().into_owned();
    let (ok, out, err) = run_openclaw(
        &other_home,
        &["backup", "restore", &archive_arg, "--target", &target_arg, "--json"],
    );
    assert!(ok, "openclaw backup restore failed:\n{out}\n{err}");
    let checked = assert_restored(&inventory, &target, &report.archive_root);
    assert_eq!(checked as u64, report.file_count);

    // Our own reader agrees.
    let ours = tmp.path().join("restored-by-clawkeeper");
    let verified = extract_archive(&archive, &ours, Limits::default()).expect("our extraction");
    assert_eq!(verified.files, report.file_count + 1, "files and the manifest");
    assert_restored(&inventory, &ours, &report.archive_root);

    eprintln!(
        "interop: {} files, {} payload bytes, archive {} bytes, sha256 {}, capture {:?}, test {:?}",
        report.file_count,
        report.payload_bytes,
        report.archive_bytes,
        report.sha256,
        capture_time,
        started.elapsed()
    );
}

#[test]
fn a_torn_creds_json_is_taken_from_its_bak_with_a_warning() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("home");
    let state = root.join(".openclaw");
    let account = add_whatsapp_creds(&state, "work", 20);
    let good = fs::read(account.join("creds.json.bak")).expect("bak");
    // Baileys truncates then writes: a reader can see the first half of the file for good.
    fs::write(account.join("creds.json"), &good[..good.len() / 2]).expect("torn");
    let scratch = tmp.path().join("scratch");
    fs::create_dir_all(&scratch).expect("scratch");
    let (archive, report, _) = capture_to_file(&root, &tmp.path().join("out"), &options(&scratch));
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains("creds.json") && report.warnings[0].contains(".bak"),
        "{:?}",
        report.warnings
    );
    assert!(!report.warnings[0].contains("noiseKey"), "never content in a warning");

    let ours = tmp.path().join("restored");
    extract_archive(&archive, &ours, Limits::default()).expect("extract");
    let restored = fs::read(ours.join(payload_path(&report.archive_root, &account.join("creds.json")))).expect("creds");
    assert_eq!(restored, good, "creds.json in the archive is the .bak copy");

    let home = tmp.path().join("other-home");
    fs::create_dir_all(&home).expect("home");
    let (ok, out, err) = run_openclaw(&home, &["backup", "verify", &archive.to_string_lossy(), "--json"]);
    assert!(ok, "{out}\n{err}");
}

#[test]
fn captures_during_live_writes_hold_whole_transactions_and_whole_creds() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("home");
    let state = root.join(".openclaw");
    let account = add_whatsapp_creds(&state, "default", 50);
    let db = state.join("state/live.sqlite");
    make_database(&db, 1000);
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));

    // A writer committing batches of 10 rows in rollback-journal mode, as OpenClaw on EFS.
    let writer = {
        let (stop, commits, db) = (stop.clone(), commits.clone(), db.clone());
        std::thread::spawn(move || {
            let mut conn = rusqlite::Connection::open(&db).expect("open");
            conn.busy_timeout(Duration::from_secs(10)).expect("busy");
            conn.execute_batch("PRAGMA journal_mode=DELETE").expect("mode");
            let mut batch = 1_000_000i64;
            while !stop.load(Ordering::Relaxed) {
                let tx = conn.transaction().expect("tx");
                for i in 0..10 {
                    tx.execute(
                        "INSERT INTO items(batch, body) VALUES (?1, ?2)",
                        rusqlite::params![batch, format!("live {i} {}", "y".repeat(500))],
                    )
                    .expect("insert");
                }
                tx.commit().expect("commit");
                batch += 1;
                commits.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Baileys-style in-place rewrites of creds.json: truncate, half, pause, rest.
    let rewriter = {
        let (stop, creds) = (stop.clone(), account.join("creds.json"));
        std::thread::spawn(move || {
            let body = fs::read(&creds).expect("creds");
            let mut rewrites = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut file = fs::File::create(&creds).expect("truncate");
                file.write_all(&body[..body.len() / 2]).expect("half");
                std::thread::sleep(Duration::from_millis(1));
                file.write_all(&body[body.len() / 2..]).expect("rest");
                drop(file);
                rewrites += 1;
                std::thread::sleep(Duration::from_millis(3));
            }
            rewrites
        })
    };

    let scratch = tmp.path().join("scratch");
    fs::create_dir_all(&scratch).expect("scratch");
    std::thread::sleep(Duration::from_millis(200));
    for round in 0..3 {
        let mut options = options(&scratch);
        options.created_at_millis += round;
        let (archive, report, _) = capture_to_file(&root, &tmp.path().join(format!("out-{round}")), &options);
        let ours = tmp.path().join(format!("restored-{round}"));
        // Extraction runs integrity_check on every database.
        extract_archive(&archive, &ours, Limits::default()).expect("verified extraction");
        let captured = ours.join(payload_path(&report.archive_root, &db));
        let conn = rusqlite::Connection::open_with_flags(&captured, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open copy");
        let partial: i64 = conn
            .query_row(
                "SELECT count(*) FROM (SELECT batch FROM items WHERE batch >= 1000000 GROUP BY batch HAVING count(*) != 10)",
                [],
                |r| r.get(0),
            )
            .expect("query");
        assert_eq!(partial, 0, "round {round}: a transaction was captured half");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
            .expect("rows");
        assert!(rows >= 1000, "{rows}");
        let creds =
            fs::read(ours.join(payload_path(&report.archive_root, &account.join("creds.json")))).expect("creds");
        assert!(
            serde_json::from_slice::<serde_json::Value>(&creds).is_ok(),
            "round {round}: creds.json in the archive is torn"
        );
        eprintln!(
            "live round {round}: {rows} rows captured, {} commits so far, warnings {:?}",
            commits.load(Ordering::Relaxed),
            report.warnings
        );
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    let rewrites = rewriter.join().expect("rewriter");
    assert!(commits.load(Ordering::Relaxed) > 10, "the writer kept writing");
    assert!(rewrites > 10, "the creds kept changing");
}
