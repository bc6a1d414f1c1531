//! The `snapshot` function end to end: the real binary through the Runtime API, S3 in moto,
//! the gateway's `/home/node` in a temp dir.

mod snapshot_support;

use std::fs;
use std::io::Write;
use std::path::Path;

use aws_sdk_s3::Client;
use clawkeeper_shared::snapshot::capture::HashingWriter;
use clawkeeper_shared::snapshot::verify::{Limits, verify_archive};
use clawkeeper_tests::{FunctionProcess, Moto, clawkeeper_env};
use serde_json::json;
use snapshot_support::*;

const BUCKET: &str = "clawkeeper-test-snapshots";

async fn s3(moto: &Moto) -> Client {
    let config = aws_sdk_s3::config::Builder::from(&moto.sdk_config().await)
        .force_path_style(true)
        .build();
    let client = Client::from_conf(config);
    client
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create bucket");
    client
}

async fn keys(s3: &Client, prefix: &str) -> Vec<String> {
    let answer = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(prefix)
        .send()
        .await
        .expect("list");
    let mut keys: Vec<String> = answer
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    keys.sort();
    keys
}

async fn get(s3: &Client, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("get")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

fn env(moto: &Moto, state_root: &Path) -> Vec<(String, String)> {
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(&json!([{
        "id": "home", "cluster": "openclaw", "service": "openclaw-gateway",
        "state_root": state_root.to_string_lossy()
    }])));
    env.push((
        "TMPDIR".into(),
        state_root
            .parent()
            .expect("parent")
            .join("scratch")
            .to_string_lossy()
            .into_owned(),
    ));
    fs::create_dir_all(state_root.parent().expect("parent").join("scratch")).expect("scratch");
    env
}

fn sha256_hex(bytes: &[u8]) -> String {
    let mut hashing = HashingWriter::new(std::io::sink());
    hashing.write_all(bytes).expect("hash");
    hashing.finish().2
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_lands_in_s3_sidecar_last_and_unchanged_state_adds_nothing() {
    let moto = Moto::start();
    let s3 = s3(&moto).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("home");
    let state = root.join(".openclaw");
    add_whatsapp_creds(&state, "default", 300);
    make_database(&state.join("state/openclaw.sqlite"), 3000);
    fs::write(state.join("openclaw.json"), b"{\"gateway\":{}}").expect("config");
    fs::create_dir_all(root.join(".config/openclaw")).expect("key dir");
    fs::write(root.join(".config/openclaw/auth-profile.key"), [9u8; 32]).expect("key");

    let mut function = FunctionProcess::spawn("snapshot", &env(&moto, &root));
    let answer = function
        .invoke(&json!({"gateway": "home", "trigger": "manual", "source_task": "arn:aws:ecs:us-east-1:123456789012:task/openclaw/abc"}))
        .expect_ok();
    let created = &answer["results"][0];
    assert_eq!(created["result"], "created", "{answer:#}");
    let key = created["archive_key"].as_str().expect("key").to_string();
    assert!(
        key.starts_with("home/snapshots/") && key.ends_with("-manual.tar.gz"),
        "{key}"
    );
    assert_eq!(created["trigger"], "manual");
    assert_eq!(created["consistency"]["quiescent"], false);
    assert_eq!(
        created["source_task"],
        "arn:aws:ecs:us-east-1:123456789012:task/openclaw/abc"
    );
    assert!(created["file_count"].as_u64().expect("count") > 450, "{created:#}");

    let sidecar_key = key.replace(".tar.gz", ".json");
    assert_eq!(keys(&s3, "home/").await, vec![sidecar_key.clone(), key.clone()]);
    let archive = get(&s3, &key).await;
    let sidecar: serde_json::Value = serde_json::from_slice(&get(&s3, &sidecar_key).await).expect("sidecar");
    assert_eq!(sidecar["sha256"], sha256_hex(&archive).as_str());
    assert_eq!(sidecar["archive_bytes"], archive.len() as u64);
    assert_eq!(
        sidecar["sqlite"][0]["path"],
        state.join("state/openclaw.sqlite").to_string_lossy().as_ref()
    );
    assert!(sidecar["state_fingerprint"].as_str().is_some_and(|f| f.len() == 64));
    let verified = verify_archive(archive.as_slice(), Limits::default()).expect("a valid archive");
    assert_eq!(verified.manifest.assets.len(), 2);

    // Nothing changed: no new archive, a record that the newest one is current.
    let again = function
        .invoke(&json!({"gateway": "home", "trigger": "manual"}))
        .expect_ok();
    assert_eq!(again["results"][0]["result"], "unchanged", "{again:#}");
    assert_eq!(again["results"][0]["current_key"], key.as_str());
    assert_eq!(keys(&s3, "home/snapshots/").await.len(), 2);
    let check: serde_json::Value = serde_json::from_slice(&get(&s3, "home/last-check.json").await).expect("check");
    assert_eq!(check["current_key"], key.as_str());

    // A change and the schedule: a new snapshot of every gateway.
    fs::write(state.join("openclaw.json"), b"{\"gateway\":{\"changed\":true}}").expect("config");
    let scheduled = function
        .invoke(
            &json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-25T21:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/snapshots"], "detail": {}}),
        )
        .expect_ok();
    assert_eq!(scheduled["results"][0]["result"], "created", "{scheduled:#}");
    assert_eq!(scheduled["results"][0]["trigger"], "scheduled");
    // Retention keeps the newest snapshot of each hour: the first one of this hour goes, archive
    // and sidecar together.
    assert_eq!(
        scheduled["results"][0]["retention_deleted"],
        json!([key]),
        "{scheduled:#}"
    );
    let newest = scheduled["results"][0]["archive_key"]
        .as_str()
        .expect("key")
        .to_string();
    assert_eq!(
        keys(&s3, "home/snapshots/").await,
        vec![newest.replace(".tar.gz", ".json"), newest.clone()]
    );

    assert!(
        !function.logs().contains("c2VjcmV0LW5vaXNl"),
        "no creds content in the logs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_mid_upload_leaves_no_sidecar_and_no_incomplete_upload() {
    let moto = Moto::start();
    let s3 = s3(&moto).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("home");
    let state = root.join(".openclaw");
    add_whatsapp_creds(&state, "default", 20);
    // 12 MiB that gzip cannot shrink: at least one 8 MiB part is uploaded before the failure.
    let mut noise = Vec::with_capacity(12 << 20);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while noise.len() < 12 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    fs::create_dir_all(state.join("media")).expect("media");
    fs::write(state.join("media/aaa-big.bin"), &noise).expect("noise");
    // A database whose pages are damaged: integrity_check fails after the big file went out.
    let db = state.join("zzz/broken.sqlite");
    make_database(&db, 3000);
    let mut bytes = fs::read(&db).expect("db");
    let len = bytes.len();
    for b in &mut bytes[8192..len - 4096] {
        *b ^= 0x5a;
    }
    fs::write(&db, bytes).expect("damage");

    let mut function = FunctionProcess::spawn("snapshot", &env(&moto, &root));
    let failure = function
        .invoke(&json!({"gateway": "home", "trigger": "manual"}))
        .expect_failed();
    assert_eq!(failure.error_type, "SqliteCaptureFailed", "{failure:?}");
    assert!(failure.error_message.contains("broken.sqlite"), "{failure:?}");

    assert_eq!(keys(&s3, "home/").await, Vec::<String>::new(), "no archive, no sidecar");
    let uploads = s3
        .list_multipart_uploads()
        .bucket(BUCKET)
        .send()
        .await
        .expect("uploads");
    assert!(uploads.uploads().is_empty(), "aborted: {:?}", uploads.uploads());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_with_stable_error_types() {
    let moto = Moto::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("home");
    let mut function = FunctionProcess::spawn("snapshot", &env(&moto, &root));
    let failure = function.invoke(&json!({"gateway": "office"})).expect_failed();
    assert_eq!(failure.error_type, "UnknownGateway");
    let failure = function
        .invoke(&json!({"gateway": "home", "trigger": "Not/OK"}))
        .expect_failed();
    assert_eq!(failure.error_type, "InvalidRequest");
    // The volume is not mounted: a clear error, not an empty snapshot.
    let failure = function.invoke(&json!({"gateway": "home"})).expect_failed();
    assert_eq!(failure.error_type, "StateMissing", "{failure:?}");
}
