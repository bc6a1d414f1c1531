//! The `restore` function end to end: the real `snapshot` and `restore` binaries through the
//! Runtime API, S3 in moto, the gateway's `/home/node` in a temp dir; archives made by the real
//! `openclaw backup create`, and the real gateway started on the restored state.

mod snapshot_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clawkeeper_tests::Stack;
use clawkeeper_tests::s3::{get, put};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use snapshot_support::*;

/// The stack of both functions (see [`snapshot_stack`]), with a short settle so recently
/// written test state is judged quickly.
async fn stack() -> Stack {
    snapshot_stack()
        .with_table()
        .env("CLAWKEEPER_RESTORE_SETTLE_SECS", "1")
        .start()
        .await
}

/// Every file under `root` with its content, and every directory and link, by relative path.
fn tree(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            let meta = fs::symlink_metadata(&path).expect("meta");
            if meta.is_dir() {
                stack.push(path);
                out.insert(rel, None);
            } else if meta.is_file() {
                out.insert(rel, Some(fs::read(&path).expect("read")));
            } else {
                out.insert(
                    rel,
                    Some(
                        fs::read_link(&path)
                            .expect("link")
                            .into_os_string()
                            .into_encoded_bytes(),
                    ),
                );
            }
        }
    }
    out
}

/// Plain files byte for byte; SQLite databases by their rows (the snapshot compacts them).
fn assert_same_state(original: &BTreeMap<PathBuf, Option<Vec<u8>>>, restored_root: &Path) {
    let restored = tree(restored_root);
    for (rel, content) in original {
        let Some(content) = content else {
            assert!(restored.contains_key(rel), "directory {} is missing", rel.display());
            continue;
        };
        let copy = restored
            .get(rel)
            .and_then(|c| c.as_ref())
            .unwrap_or_else(|| panic!("{} is missing after the restore", rel.display()));
        if rel.extension().is_some_and(|e| e == "sqlite") {
            continue;
        }
        assert!(copy == content, "{} differs after the restore", rel.display());
    }
    assert_eq!(
        original.len(),
        restored.len(),
        "extra or missing entries: {:?}",
        restored
            .keys()
            .filter(|k| !original.contains_key(*k))
            .collect::<Vec<_>>()
    );
}

/// A `/home/node` with WhatsApp creds, a rollback-journal database, the config and the
/// auth-profile key dir.
fn populate(root: &Path) {
    let state = root.join(".openclaw");
    add_whatsapp_creds(&state, "default", 200);
    make_database(&state.join("state/openclaw.sqlite"), 2000);
    fs::write(state.join("openclaw.json"), b"{\"gateway\":{\"mode\":\"local\"}}").expect("config");
    std::os::unix::fs::symlink("openclaw.json", state.join("config-link.json")).expect("link");
    fs::create_dir_all(root.join(".config/openclaw")).expect("key dir");
    fs::write(root.join(".config/openclaw/auth-profile.key"), [9u8; 32]).expect("key");
}

fn leftovers(root: &Path) -> Vec<String> {
    fs::read_dir(root)
        .expect("root")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".clawkeeper-restore-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_restores_byte_for_byte_and_keeps_the_previous_state() {
    let stack = stack().await;
    let s3 = stack.s3();
    let root = stack.state_root();
    populate(&root);
    let state = root.join(".openclaw");
    let original_state = tree(&state);
    let original_keys = tree(&root.join(".config/openclaw"));
    let original_rows = table_counts(&state.join("state/openclaw.sqlite"));

    let mut snapshot = stack.spawn("snapshot");
    let taken = snapshot
        .invoke(&json!({"gateway": "home", "trigger": "manual"}))
        .expect_ok();
    let key = taken["results"][0]["archive_key"].as_str().expect("key").to_string();
    let sidecar: Value = serde_json::from_slice(&get(&s3, &key.replace(".tar.gz", ".json")).await).expect("sidecar");
    assert_eq!(
        sidecar["verified"], true,
        "read back and verified after upload: {sidecar:#}"
    );

    // The live state goes bad: a config overwritten, creds lost, the database damaged.
    fs::write(state.join("openclaw.json"), b"{broken").expect("overwrite");
    let account = state.join("credentials/whatsapp/default");
    for i in 0..50 {
        fs::remove_file(account.join(format!("pre-key-{i}.json"))).expect("lose a key");
    }
    fs::write(state.join("state/openclaw.sqlite"), b"not a database any more").expect("damage");
    fs::write(root.join(".config/openclaw/auth-profile.key"), [0u8; 32]).expect("key");
    let broken = tree(&state);

    let mut restore = stack.spawn("restore");
    // Whoever invokes it, the caller's word that the gateway is stopped counts for nothing.
    let refused = restore
        .invoke(&json!({"gateway": "home", "snapshot": "latest", "confirm_stopped": true}))
        .expect_failed();
    assert_eq!(refused.error_type, "InvalidRequest", "{refused:?}");
    assert!(refused.error_message.contains("confirm_stopped"), "{refused:?}");
    // Without control's stop permit: refused, nothing touched.
    let refused = restore
        .invoke(&json!({"gateway": "home", "snapshot": "latest"}))
        .expect_failed();
    assert_eq!(refused.error_type, "NoStopPermit", "{refused:?}");
    assert_eq!(tree(&state), broken);
    // A permit for another snapshot is refused, and used up: the next try has none either.
    stack.issue_stop_permit("home", "home/snapshots/another.tar.gz").await;
    let refused = restore
        .invoke(&json!({"gateway": "home", "snapshot": "latest"}))
        .expect_failed();
    assert_eq!(refused.error_type, "NoStopPermit", "{refused:?}");
    assert!(refused.error_message.contains("another.tar.gz"), "{refused:?}");
    let refused = restore
        .invoke(&json!({"gateway": "home", "snapshot": "latest"}))
        .expect_failed();
    assert!(refused.error_message.contains("no stop permit"), "{refused:?}");
    assert_eq!(tree(&state), broken);

    stack.issue_stop_permit("home", "latest").await;
    let report = restore
        .invoke(&json!({"gateway": "home", "snapshot": "latest", "by": "test"}))
        .expect_ok();
    assert_eq!(report["result"], "restored", "{report:#}");
    assert_eq!(report["snapshot_key"], key.as_str());
    assert_eq!(report["made_by"], "clawkeeper");
    assert_eq!(report["sidecar_checked"], true);
    assert_eq!(report["archive_sha256"], sidecar["sha256"]);
    assert_eq!(report["files"], sidecar["file_count"], "{report:#}");
    assert_eq!(report["assets"].as_array().expect("assets").len(), 2, "{report:#}");

    assert_same_state(&original_state, &state);
    assert_same_state(&original_keys, &root.join(".config/openclaw"));
    assert_eq!(table_counts(&state.join("state/openclaw.sqlite")), original_rows);
    rusqlite::Connection::open(state.join("state/openclaw.sqlite"))
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)))
        .map(|ok| assert_eq!(ok, "ok"))
        .expect("integrity");

    // The bad state is kept under its dated name, for going back.
    let previous = PathBuf::from(report["previous_state"].as_str().expect("previous_state"));
    assert!(
        previous.starts_with(&root)
            && previous
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".openclaw.pre-restore-")),
        "{}",
        previous.display()
    );
    assert_eq!(tree(&previous), broken);
    let previous_keys = report["assets"][1]["previous"].as_str().expect("previous keys");
    assert_eq!(
        fs::read(Path::new(previous_keys).join("auth-profile.key")).expect("kept"),
        [0u8; 32]
    );
    assert!(leftovers(&root).is_empty(), "{:?}", leftovers(&root));
    assert!(
        !restore.logs().contains("c2VjcmV0LW5vaXNl"),
        "no creds content in the logs"
    );

    // A recovery on its own needs a permit of its own too (a restore's permit does not do).
    stack.issue_stop_permit("home", &key).await;
    let refused = restore
        .invoke(&json!({"gateway": "home", "recover": true}))
        .expect_failed();
    assert_eq!(refused.error_type, "NoStopPermit", "{refused:?}");
    stack.issue_stop_permit("home", "recover").await;
    let recovered = restore
        .invoke(&json!({"gateway": "home", "recover": true, "by": "test"}))
        .expect_ok();
    assert_eq!(recovered["result"], "nothing_to_recover", "{recovered:#}");
    assert_same_state(&original_state, &state);
}

/// A gzip tar whose entry names are written raw, as an attacker would.
fn crafted(entries: &[(&str, &[u8], tar::EntryType, Option<&str>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (path, data, kind, link) in entries {
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().expect("gnu");
        gnu.name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        tar.append(&header, *data).expect("append");
    }
    tar.into_inner().expect("tar").finish().expect("gzip")
}

#[tokio::test(flavor = "multi_thread")]
async fn crafted_archives_and_live_writers_are_refused_and_nothing_in_place_changes() {
    let stack = stack().await;
    let s3 = stack.s3();
    let root = stack.state_root();
    populate(&root);
    let before = tree(&root);
    let mut restore = stack.spawn("restore");

    // Short names keep each path inside one tar header.
    let r = "2026-11-25T21-47-21.795+00-00-openclaw-backup";
    let state_src = "/m/.openclaw";
    let state = format!("{r}/payload/posix{state_src}");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 1, "createdAt": "2026-11-25T21:47:21.795Z", "archiveRoot": r,
        "assets": [{"kind": "state", "sourcePath": state_src, "archivePath": state}]
    }))
    .expect("manifest");
    let manifest_path = format!("{r}/manifest.json");
    let escape = format!("{state}/../../../../../../x");
    let link = format!("{state}/evil");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "traversal",
            crafted(&[
                (&manifest_path, &manifest, tar::EntryType::Regular, None),
                (&state, b"", tar::EntryType::Directory, None),
                (&escape, b"pwned", tar::EntryType::Regular, None),
            ]),
            "'..'",
        ),
        (
            "link-out",
            crafted(&[
                (&manifest_path, &manifest, tar::EntryType::Regular, None),
                (&state, b"", tar::EntryType::Directory, None),
                (&link, b"", tar::EntryType::Symlink, Some("/etc")),
            ]),
            "points outside",
        ),
    ];
    for (i, (name, archive, fragment)) in cases.into_iter().enumerate() {
        // Each uploaded as the newest snapshot, with a sidecar that matches it byte for byte.
        let key = format!("home/snapshots/2099010{}T000000Z-{name}.tar.gz", i + 1);
        let sidecar = json!({
            "format": "clawkeeper-snapshot/1", "gateway": "home", "archive_key": key, "archive_root": r,
            "trigger": name, "taken_at": "2099-01-01T00:00:00.000Z", "archive_bytes": archive.len(),
            "sha256": sha256_hex(&archive), "file_count": 1, "payload_bytes": 5,
            "consistency": {"sqlite": "x", "files": "x", "quiescent": true}, "state_fingerprint": "x"
        });
        put(&s3, &key, archive).await;
        put(
            &s3,
            &key.replace(".tar.gz", ".json"),
            serde_json::to_vec(&sidecar).expect("json"),
        )
        .await;
        stack.issue_stop_permit("home", "latest").await;
        let failure = restore
            .invoke(&json!({"gateway": "home", "snapshot": "latest"}))
            .expect_failed();
        assert_eq!(failure.error_type, "InvalidArchive", "{name}: {failure:?}");
        assert!(failure.error_message.contains(fragment), "{name}: {failure:?}");
        assert_eq!(tree(&root), before, "{name}: nothing in place changed");
        assert!(!stack.dir().join("x").exists() && !root.join("x").exists());
    }

    // A good archive whose bytes are not the ones its sidecar records.
    let mut snapshot = stack.spawn("snapshot");
    let taken = snapshot
        .invoke(&json!({"gateway": "home", "trigger": "manual"}))
        .expect_ok();
    let key = taken["results"][0]["archive_key"].as_str().expect("key").to_string();
    let mut bytes = get(&s3, &key).await;
    bytes.push(0);
    put(&s3, &key, bytes).await;
    stack.issue_stop_permit("home", &key).await;
    let failure = restore
        .invoke(&json!({"gateway": "home", "snapshot": key}))
        .expect_failed();
    assert_eq!(failure.error_type, "InvalidArchive", "{failure:?}");
    assert!(failure.error_message.contains("hash mismatch"), "{failure:?}");
    assert_eq!(tree(&root), before);

    // A gateway lock (as OpenClaw writes it) and a fresh write: a running gateway.
    let locks = root.join(".openclaw/tmp/openclaw-1000");
    fs::create_dir_all(&locks).expect("lock dir");
    fs::write(locks.join("gateway.state.lock"), b"{\"pid\":7}").expect("lock");
    let before = tree(&root);
    stack.issue_stop_permit("home", "latest").await;
    let failure = restore
        .invoke(&json!({"gateway": "home", "snapshot": "latest"}))
        .expect_failed();
    assert_eq!(failure.error_type, "GatewayRunning", "{failure:?}");
    assert!(failure.error_message.contains("gateway.state.lock"), "{failure:?}");
    // Files still changing without a lock: also a live writer.
    fs::remove_file(locks.join("gateway.state.lock")).expect("unlock");
    let before_writer = tree(&root);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, path) = (stop.clone(), root.join(".openclaw/state/openclaw.sqlite-journal"));
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                fs::write(&path, i.to_le_bytes()).expect("write");
                i += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = fs::remove_file(&path);
        })
    };
    stack.issue_stop_permit("home", "latest").await;
    let failure = restore
        .invoke(&json!({"gateway": "home", "snapshot": "latest"}))
        .expect_failed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().expect("writer");
    assert_eq!(failure.error_type, "GatewayRunning", "{failure:?}");
    assert!(failure.error_message.contains("still being written"), "{failure:?}");
    assert_eq!(tree(&root).len(), before_writer.len());
    assert_ne!(before.len(), 0);

    // Unknown snapshots and keys outside the gateway's prefix.
    stack.issue_stop_permit("home", "20200101T000000Z-manual").await;
    let unknown = restore
        .invoke(&json!({"gateway": "home", "snapshot": "20200101T000000Z-manual"}))
        .expect_failed();
    assert_eq!(unknown.error_type, "UnknownSnapshot", "{unknown:?}");
    stack.issue_stop_permit("home", "other/snapshots/x.tar.gz").await;
    let outside = restore
        .invoke(&json!({"gateway": "home", "snapshot": "other/snapshots/x.tar.gz"}))
        .expect_failed();
    assert_eq!(outside.error_type, "Refused", "{outside:?}");
    assert!(leftovers(&root).is_empty(), "{:?}", leftovers(&root));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_openclaw_backup_restores_and_the_real_gateway_serves_the_restored_state() {
    let stack = stack().await;
    let s3 = stack.s3();
    let tmp = stack.dir();

    // The old machine: a state dir a real gateway wrote, plus WhatsApp creds; its own backup.
    let old_home = tmp.join("old-home");
    copy_tree(&real_gateway_home(), &old_home);
    add_whatsapp_creds(&old_home.join(".openclaw"), "default", 120);
    let out = tmp.join("backups");
    fs::create_dir_all(&out).expect("out");
    let (ok, stdout, stderr) = run_openclaw(
        &old_home,
        &["backup", "create", "--json", "--output", &out.to_string_lossy()],
    );
    assert!(ok, "{stdout}\n{stderr}");
    let archive = fs::read_dir(&out)
        .expect("out")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap_or_else(|| panic!("no archive in {}: {stdout}", out.display()));
    let key = "home/snapshots/moved-from-laptop.tar.gz";
    put(&s3, key, fs::read(&archive).expect("archive")).await;

    // The gateway on AWS: some other state in place.
    let root = stack.state_root();
    fs::create_dir_all(root.join(".openclaw")).expect("state");
    fs::write(root.join(".openclaw/openclaw.json"), b"{\"other\":true}").expect("config");
    let mut restore = stack.spawn("restore");
    stack.issue_stop_permit("home", key).await;
    let report = restore
        .invoke_within(&json!({"gateway": "home", "snapshot": key}), Duration::from_secs(120))
        .expect_ok();
    assert_eq!(report["made_by"], "openclaw", "{report:#}");
    assert_eq!(report["sidecar_checked"], false);
    assert_eq!(report["assets"][0]["kind"], "state");
    assert_eq!(
        report["assets"][0]["archive_source"],
        old_home.join(".openclaw").to_string_lossy().as_ref()
    );
    let state = root.join(".openclaw");
    let creds = |home: &Path| tree(&home.join(".openclaw/credentials"));
    assert_eq!(creds(&root), creds(&old_home), "the creds came across byte for byte");
    // OpenClaw records its own backup run in the source database after writing the archive.
    let rows = |db: &Path| -> Vec<(String, i64)> {
        table_counts(db)
            .into_iter()
            .filter(|(t, _)| t != "backup_runs")
            .collect()
    };
    assert_eq!(
        rows(&state.join("state/openclaw.sqlite")),
        rows(&old_home.join(".openclaw/state/openclaw.sqlite"))
    );
    let previous = PathBuf::from(report["previous_state"].as_str().expect("previous"));
    assert_eq!(
        fs::read(previous.join("openclaw.json")).expect("kept"),
        b"{\"other\":true}"
    );

    // The real gateway starts on the restored state and is live.
    let mut gateway = RunningGateway::start(&root);
    let live = gateway.wait_live(Duration::from_secs(120));
    assert!(live.is_ok(), "{live:?}");

    // While it runs, a restore is refused by the live-writer check and changes nothing.
    let before = files_under(&root.join(".openclaw/credentials"));
    stack.issue_stop_permit("home", key).await;
    let refused = restore
        .invoke_within(&json!({"gateway": "home", "snapshot": key}), Duration::from_secs(60))
        .expect_failed();
    drop(gateway);
    assert_eq!(refused.error_type, "GatewayRunning", "{refused:?}");
    assert_eq!(files_under(&root.join(".openclaw/credentials")), before);
    assert!(leftovers(&root).is_empty(), "{:?}", leftovers(&root));
}
