//! Shared by the restore tests: an in-memory object store, state trees told apart by a version
//! word, snapshots made by the real capture code, and a look at a tree.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clawkeeper_core::aws_error::AwsError;
use clawkeeper_core::objects::{ChunkSink, ObjectInfo, PartSource, PendingUpload, UploadError, Uploaded};
use clawkeeper_core::ports::ObjectStore;
use clawkeeper_snapshot::capture::{CaptureOptions, capture};
use clawkeeper_snapshot::inventory::{gateway_assets, take_inventory};
use clawkeeper_snapshot::layout::{Sidecar, archive_key, sidecar_key};
use clawkeeper_snapshot::restore::RestoreRequest;
use clawkeeper_snapshot::space::{FreeSpace, Space};
use clawkeeper_snapshot::verify::Limits;

pub const GATEWAY: &str = "home";

/// Objects in memory; counts downloads (a refusal "before download" leaves it at 0).
#[derive(Default)]
pub struct MemStore {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    downloads: AtomicUsize,
}

impl MemStore {
    pub fn put(&self, key: &str, body: Vec<u8>) {
        self.objects.lock().expect("lock").insert(key.to_string(), body);
    }

    pub fn downloads(&self) -> usize {
        self.downloads.load(Ordering::SeqCst)
    }
}

impl ObjectStore for MemStore {
    fn min_part_size(&self) -> usize {
        5 << 20
    }

    async fn put_stream(&self, _: &str, _: &str, _: impl PartSource) -> Result<Uploaded, UploadError> {
        Err(UploadError::ProducerStopped)
    }

    async fn put_bytes(&self, key: &str, _: &str, body: Vec<u8>) -> Result<(), AwsError> {
        self.put(key, body);
        Ok(())
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, AwsError> {
        Ok(self.objects.lock().expect("lock").get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, AwsError> {
        Ok(self
            .objects
            .lock()
            .expect("lock")
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectInfo {
                key: k.clone(),
                size: v.len() as u64,
                last_modified_millis: None,
            })
            .collect())
    }

    async fn delete(&self, keys: &[String]) -> Result<(), AwsError> {
        let mut objects = self.objects.lock().expect("lock");
        for key in keys {
            objects.remove(key);
        }
        Ok(())
    }

    async fn download(&self, key: &str, to: &Path) -> Result<bool, AwsError> {
        self.downloads.fetch_add(1, Ordering::SeqCst);
        let body = self.objects.lock().expect("lock").get(key).cloned();
        match body {
            Some(body) => {
                fs::write(to, body).expect("write the download");
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn read_stream(&self, key: &str, mut chunks: impl ChunkSink) -> Result<bool, AwsError> {
        let body = self.objects.lock().expect("lock").get(key).cloned();
        match body {
            Some(body) => {
                chunks.push(body).await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn pending_uploads(&self, _: &str) -> Result<Vec<PendingUpload>, AwsError> {
        Ok(Vec::new())
    }

    async fn abort_upload(&self, _: &str, _: &str) -> Result<(), AwsError> {
        Ok(())
    }
}

/// Writes a gateway's state (`.openclaw`) and auth-profile key dir (`.config/openclaw`) under
/// `root`, every file saying `version`.
pub fn write_state(root: &Path, version: &str) {
    let state = root.join(".openclaw");
    fs::create_dir_all(state.join("agents/main/sessions")).expect("state dirs");
    fs::write(state.join("openclaw.json"), format!("{{\"version\":\"{version}\"}}")).expect("config");
    // (Transcripts, `*.jsonl`, are left out of snapshots as OpenClaw leaves them out.)
    fs::write(
        state.join("agents/main/sessions/sessions.json"),
        format!("{{\"said\":\"{version}\"}}\n"),
    )
    .expect("session");
    write_keys(root, version);
}

/// Only the key dir.
pub fn write_keys(root: &Path, version: &str) {
    let keys = root.join(".config/openclaw");
    fs::create_dir_all(&keys).expect("keys dir");
    fs::write(keys.join("auth-profile.key"), format!("key-{version}")).expect("key");
}

/// Every file (with its bytes) and directory (`None`) under `dir`, relative; empty when `dir`
/// does not exist.
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(items) = fs::read_dir(dir.join(&rel)) else {
            continue;
        };
        for item in items.flatten() {
            let rel = rel.join(item.file_name());
            let meta = fs::symlink_metadata(dir.join(&rel)).expect("meta");
            if meta.is_dir() {
                out.insert(rel.clone(), None);
                stack.push(rel);
            } else {
                out.insert(rel.clone(), Some(fs::read(dir.join(&rel)).expect("read")));
            }
        }
    }
    out
}

/// What [`gateway_view`] shows: the state dir's tree and the key dir's.
pub type Views = (BTreeMap<PathBuf, Option<Vec<u8>>>, BTreeMap<PathBuf, Option<Vec<u8>>>);

/// The gateway's view of a root: its state dir and its key dir.
pub fn gateway_view(root: &Path) -> Views {
    (tree(&root.join(".openclaw")), tree(&root.join(".config/openclaw")))
}

/// Names in a directory (what a restore may leave beside the state); none when it is missing.
pub fn root_names(root: &Path) -> Vec<String> {
    let Ok(items) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut names: Vec<String> = items
        .flatten()
        .map(|i| i.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A snapshot made by the real capture code.
pub struct Snapshot {
    pub key: String,
    pub archive: Vec<u8>,
    pub sidecar: Sidecar,
}

/// Captures the gateway under `src_root` as snapshot `<stamp>-manual`.
pub fn capture_snapshot(src_root: &Path, scratch: &Path, stamp: &str) -> Snapshot {
    let assets = gateway_assets(src_root, ".openclaw").expect("assets");
    let inventory = take_inventory(&assets).expect("inventory");
    let millis = clawkeeper_snapshot::clock::parse_compact(stamp).expect("stamp");
    let (report, archive) = capture(&inventory, &CaptureOptions::new(millis, scratch), Vec::new()).expect("capture");
    let key = archive_key(GATEWAY, stamp, "manual");
    let sidecar = Sidecar {
        state_fingerprint: "x".into(),
        verified: true,
        ..report.sidecar(GATEWAY, &key, "manual", millis, true)
    };
    Snapshot { key, archive, sidecar }
}

/// Puts the archive and (unless `None`) a sidecar for it.
pub fn put_snapshot(store: &MemStore, key: &str, archive: Vec<u8>, sidecar: Option<&Sidecar>) {
    store.put(key, archive);
    if let Some(sidecar) = sidecar {
        store.put(&sidecar_key(key), serde_json::to_vec(sidecar).expect("sidecar json"));
    }
}

/// A restore of `snapshot` onto `root`, confirmed stopped, with no settle wait.
pub fn request(root: &Path, scratch: &Path, snapshot: &str) -> RestoreRequest {
    RestoreRequest {
        gateway: GATEWAY.into(),
        state_root: root.to_path_buf(),
        state_dir: ".openclaw".into(),
        snapshot: snapshot.into(),
        confirm_stopped: true,
        quiet_window: Duration::ZERO,
        settle: Duration::ZERO,
        scratch_dir: scratch.to_path_buf(),
        limits: Limits::default(),
    }
}

/// Free space as a test says, per path prefix (the rest: plenty).
pub struct FakeSpace(pub Vec<(PathBuf, Space)>);

impl FreeSpace for FakeSpace {
    fn space(&self, path: &Path) -> io::Result<Space> {
        Ok(self
            .0
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map(|(_, space)| *space)
            .unwrap_or(Space {
                available: 1 << 40,
                total: 1 << 41,
            }))
    }
}

/// A `.tar.gz` of the given entries, written through the tar crate's builder.
pub fn tar_gz(build: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>)) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    build(&mut tar);
    tar.into_inner().expect("tar").finish().expect("gzip")
}

/// Appends a regular file or directory entry.
pub fn append(tar: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>, path: &str, data: Option<&[u8]>) {
    let mut header = tar::Header::new_gnu();
    match data {
        Some(data) => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(data.len() as u64);
            header.set_mode(0o600);
            tar.append_data(&mut header, path, data).expect("file");
        }
        None => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            header.set_mode(0o700);
            tar.append_data(&mut header, path, io::empty()).expect("dir");
        }
    }
}
