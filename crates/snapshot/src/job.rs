//! One snapshot run of one gateway against an [`ObjectStore`]: abort uploads that earlier,
//! killed runs left behind, inventory, skip when nothing changed since the newest snapshot,
//! refuse at once a state that cannot fit in the invocation, otherwise stream the archive into a
//! multipart upload while it is being written, then write the sidecar last (with `verified`). A
//! run that fails anywhere aborts its upload and writes no sidecar, so a half-written snapshot
//! never looks like a snapshot.
//!
//! Verification costs no second read of the archive: a verifier thread parses the archive stream
//! as it is produced (gzip, tar layout, manifest, paths, links, sizes: the reader a restore uses),
//! and the store's full-object CRC-64/NVME of what it received must equal the producer's CRC of
//! what it sent. Together they prove the stored object is a valid archive. A store that reports
//! no checksum, or a request with `read_back`, gets the full read-back through the verifying
//! reader as well.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use clawkeeper_core::objects::{ChunkSink, ObjectInfo, Part, PartSource, UploadError};
use clawkeeper_core::ports::ObjectStore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::budget::{self, Phase, Progress};
use crate::capture::{CaptureOptions, CaptureReport, capture};
use crate::clock;
use crate::error::SnapshotError;
use crate::inventory::{EntryKind, Inventory, gateway_assets, hex, take_inventory};
use crate::layout::{Sidecar, archive_key, parse_snapshot_key, sidecar_key, snapshots_prefix};
use crate::verify::{Limits, VerifiedArchive, verify_archive};

/// What to snapshot and why.
#[derive(Debug, Clone)]
pub struct SnapshotRequest {
    /// Gateway id (the S3 prefix).
    pub gateway: String,
    /// The gateway's mounted `/home/node`.
    pub state_root: PathBuf,
    /// The state dir under it (`.openclaw`).
    pub state_dir: String,
    /// Why (`scheduled`, `task-stopped`, `pre-deployment`, `manual`...); validated by the caller.
    pub trigger: String,
    /// True when the caller knows the gateway is stopped.
    pub quiescent: bool,
    /// The task whose state this is, when known.
    pub source_task: Option<String>,
    /// Take a snapshot even when nothing changed.
    pub force: bool,
    /// Capture settings (creation time, scratch dir, retries).
    pub capture: CaptureOptions,
    /// Multipart uploads under the gateway's prefix older than this are left by a run that
    /// died (no live run lasts longer than the function's timeout) and are aborted.
    pub stale_upload_age: Duration,
    /// When the invocation ends: the run refuses a state it cannot archive by then, and stops
    /// (saying so) when it falls behind. `None` for no limit.
    pub invocation_deadline: Option<Instant>,
    /// Also read the stored archive back in full through the verifying reader.
    pub read_back: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SnapshotOutcome {
    /// A new snapshot exists: its sidecar.
    Created(Box<Sidecar>),
    /// Nothing changed since `current_key`; no archive was written.
    Unchanged {
        /// Gateway id.
        gateway: String,
        /// The newest snapshot, still current.
        current_key: String,
        /// RFC 3339.
        checked_at: String,
        /// The unchanged fingerprint.
        state_fingerprint: String,
    },
}

/// One gateway's result in the snapshot function's answer: how the run ended, and what retention
/// did after a new snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotSummary {
    /// How the run ended.
    #[serde(flatten)]
    pub outcome: SnapshotOutcome,
    /// Old snapshots retention deleted after this one (none when nothing new was made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_deleted: Option<Vec<String>>,
    /// Why retention failed (the snapshot exists; the next run retries retention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_error: Option<String>,
}

/// The snapshot function's answer when every requested gateway succeeded (any failure fails the
/// invocation instead): one summary per gateway, in request order. `control` reads it back as
/// this same type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotAnswer {
    /// One summary per gateway.
    pub results: Vec<SnapshotSummary>,
}

/// Runs one snapshot of one gateway.
pub async fn take_snapshot<S: ObjectStore>(
    store: &S,
    request: SnapshotRequest,
) -> Result<SnapshotOutcome, SnapshotError> {
    let started = Instant::now();
    let aborted = abort_stale_uploads(
        store,
        &request.gateway,
        request.capture.created_at_millis,
        request.stale_upload_age,
    )
    .await;
    let (root, dir) = (request.state_root.clone(), request.state_dir.clone());
    let inventory = blocking(move || {
        let assets = gateway_assets(&root, &dir)?;
        take_inventory(&assets)
    })
    .await?;
    let fingerprint = inventory.fingerprint();

    if !request.force
        && let Some((key, newest)) = newest_snapshot(store, &request.gateway).await?
        && newest.state_fingerprint == fingerprint
    {
        // Nothing written: the caller records the run in the gateway's snapshot status, which
        // the reconciler's freshness check reads.
        let checked_at = clock::rfc3339(request.capture.created_at_millis);
        tracing::info!(gateway = %request.gateway, current = %key, "state unchanged since the newest snapshot; no archive written");
        return Ok(SnapshotOutcome::Unchanged {
            gateway: request.gateway,
            current_key: key,
            checked_at,
            state_fingerprint: fingerprint,
        });
    }

    let mut options = request.capture.clone();
    if let Some(end) = request.invocation_deadline {
        let deadline = budget::capture_deadline(end);
        refuse_if_too_large(&inventory, &options.scratch_dir, deadline)?;
        options.deadline = Some(deadline);
    }
    let key = archive_key(
        &request.gateway,
        &clock::compact(request.capture.created_at_millis),
        &request.trigger,
    );
    let progress = options.progress.clone();
    let upload_started = Instant::now();
    let (mut report, stored_crc) = upload_archive(store, &key, inventory, options).await?;
    let upload_ms = upload_started.elapsed();
    if aborted > 0 {
        report.warnings.push(format!(
            "aborted {aborted} incomplete upload(s) left by an earlier run that was interrupted"
        ));
    }
    let read_back = match stored_crc {
        Some(stored) if stored != report.crc64nvme => {
            // What the store holds is not what was written: never publish it.
            discard(store, &request.gateway, &key).await;
            return Err(SnapshotError::InvalidArchive(format!(
                "the store's checksum of {key} ({stored:016x}) differs from the archive written ({:016x})",
                report.crc64nvme
            )));
        }
        Some(_) => request.read_back,
        // Nothing proves the stored bytes are the written ones: read them back.
        None => true,
    };
    let verified = match if read_back {
        verify_stored(store, &key, &report.sha256, report.archive_bytes)
            .await
            .map(|_| ())
    } else {
        Ok(())
    } {
        Ok(()) => true,
        Err(e @ (SnapshotError::InvalidArchive(_) | SnapshotError::UploadAborted(_))) => {
            // What the store holds is not what was written: never publish it.
            discard(store, &request.gateway, &key).await;
            return Err(e);
        }
        Err(e) => {
            // The archive may be fine; only the read-back failed. Published, marked unverified.
            tracing::warn!(gateway = %request.gateway, key = %key, error = %e, "the read-back verification could not run");
            report.warnings.push(format!(
                "not verified after upload: the read-back failed ({})",
                e.error_type()
            ));
            false
        }
    };

    let sidecar = Sidecar {
        source_task: request.source_task.clone(),
        state_fingerprint: fingerprint,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        verified,
        ..report.sidecar(
            &request.gateway,
            &key,
            &request.trigger,
            request.capture.created_at_millis,
            request.quiescent,
        )
    };
    let body = serde_json::to_vec_pretty(&sidecar).map_err(|source| SnapshotError::Json {
        what: "sidecar",
        source,
    })?;
    if let Err(e) = store.put_bytes(&sidecar_key(&key), "application/json", body).await {
        // Without its sidecar the archive is not a snapshot: remove it rather than leave an orphan.
        if let Err(cleanup) = store.delete(std::slice::from_ref(&key)).await {
            tracing::warn!(gateway = %request.gateway, key = %key, error = %cleanup, "could not remove the archive whose sidecar failed");
        }
        return Err(e.into());
    }
    tracing::info!(
        gateway = %request.gateway,
        key = %key,
        bytes = sidecar.archive_bytes,
        files = sidecar.file_count,
        warnings = sidecar.warnings.len(),
        "snapshot written"
    );
    log_profile(
        &request.gateway,
        &progress,
        &sidecar,
        upload_ms,
        started.elapsed(),
        read_back,
    );
    Ok(SnapshotOutcome::Created(Box::new(sidecar)))
}

/// Deletes an archive that must not be published, best effort.
async fn discard<S: ObjectStore>(store: &S, gateway: &str, key: &str) {
    if let Err(cleanup) = store.delete(&[key.to_string()]).await {
        tracing::warn!(gateway, key, error = %cleanup, "could not remove the archive that failed verification");
    }
}

/// Refuses, before any work, a state whose sizes alone show it cannot be archived by `deadline`
/// ([`budget::refuse_before_start`]): a database larger than the free scratch space, or more
/// bytes than the fastest run moves in the time left.
fn refuse_if_too_large(
    inventory: &Inventory,
    scratch: &std::path::Path,
    deadline: Instant,
) -> Result<(), SnapshotError> {
    let total: u64 = inventory.entries.iter().map(|e| e.size).sum();
    let largest_db = inventory
        .entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Sqlite { .. }))
        .map(|e| e.size)
        .max()
        .unwrap_or(0);
    // Unknown free space is not a refusal: the copy itself says so if the disk fills.
    let free = crate::space::free_space(scratch).ok().map(|s| s.available);
    let left = deadline.saturating_duration_since(Instant::now());
    match budget::refuse_before_start(total, largest_db, free, left) {
        Some(reason) => Err(SnapshotError::StateTooLarge(reason)),
        None => Ok(()),
    }
}

/// The `snapshot profile` log line: where the run's time went, for the benchmark and for an owner
/// wondering why a snapshot is slow. `compress_ms` is the encoder's own time (its output's
/// handling taken out), `hash_ms` the hashing, `upload_wait_ms` the producer blocked on the
/// uploader or the verifier, `upload_ms` the whole streamed upload.
fn log_profile(
    gateway: &str,
    progress: &Progress,
    sidecar: &Sidecar,
    upload: Duration,
    total: Duration,
    read_back: bool,
) {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let (encode, sink, wait) = (
        progress.spent(Phase::Encode),
        progress.spent(Phase::Sink),
        progress.spent(Phase::UploadWait),
    );
    tracing::info!(
        gateway,
        sqlite_ms = ms(progress.spent(Phase::Sqlite)),
        compress_ms = ms(encode.saturating_sub(sink)),
        hash_ms = ms(sink.saturating_sub(wait)),
        upload_wait_ms = ms(wait),
        verify_ms = ms(progress.spent(Phase::Verify)),
        upload_ms = ms(upload),
        total_ms = ms(total),
        payload_bytes = sidecar.payload_bytes,
        archive_bytes = sidecar.archive_bytes,
        read_back,
        "snapshot profile"
    );
}

/// The newest snapshot of a gateway (by the stamp in its key) and its sidecar. Archives
/// without a sidecar are not snapshots and are ignored.
pub async fn newest_snapshot<S: ObjectStore>(
    store: &S,
    gateway: &str,
) -> Result<Option<(String, Sidecar)>, SnapshotError> {
    let Some(newest) = crate::catalog::newest_first(store, gateway).await?.into_iter().next() else {
        return Ok(None);
    };
    let sidecar_key = newest.sidecar_key;
    let Some(body) = store.get_bytes(&sidecar_key).await? else {
        return Ok(None);
    };
    match serde_json::from_slice::<Sidecar>(&body) {
        Ok(sidecar) => Ok(Some((sidecar.archive_key.clone(), sidecar))),
        Err(e) => {
            // An unreadable sidecar must not stop new snapshots: take a fresh one.
            tracing::warn!(gateway, key = %sidecar_key, error = %e, "newest sidecar unreadable; ignoring it");
            Ok(None)
        }
    }
}

/// Aborts the multipart uploads under the gateway's snapshots prefix that are older than
/// `older_than` at `now_millis`: a run killed mid-upload (timeout, out of memory) cannot abort
/// its own, and an incomplete upload is invisible but billed. Best effort: returns how many
/// were aborted and logs what could not be.
pub async fn abort_stale_uploads<S: ObjectStore>(
    store: &S,
    gateway: &str,
    now_millis: i64,
    older_than: Duration,
) -> usize {
    let pending = match store.pending_uploads(&snapshots_prefix(gateway)).await {
        Ok(pending) => pending,
        Err(e) => {
            tracing::warn!(gateway, error = %e, "could not list incomplete uploads; the bucket lifecycle rule removes them eventually");
            return 0;
        }
    };
    let limit = i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
    let mut aborted = 0;
    for upload in pending {
        // Without a start time the age is unknown: leave it to the lifecycle rule.
        let Some(initiated) = upload.initiated_millis else {
            continue;
        };
        if now_millis.saturating_sub(initiated) < limit {
            continue;
        }
        match store.abort_upload(&upload.key, &upload.upload_id).await {
            Ok(()) => {
                tracing::info!(gateway, key = %upload.key, "aborted an incomplete upload left by an interrupted run");
                aborted += 1;
            }
            Err(e) => tracing::warn!(gateway, key = %upload.key, error = %e, "could not abort an incomplete upload"),
        }
    }
    aborted
}

/// Reads `key` back from the store through the verifying reader (layout, manifest, paths,
/// links, sizes) and checks that its bytes are exactly the ones written: size and SHA-256.
/// Memory stays bounded: the object is streamed, nothing is extracted.
pub async fn verify_stored<S: ObjectStore>(
    store: &S,
    key: &str,
    sha256: &str,
    bytes: u64,
) -> Result<VerifiedArchive, SnapshotError> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>(4);
    let (expected_sha, expected_bytes) = (sha256.to_string(), bytes);
    let reader = blocking(move || {
        let mut stream = HashingChannelReader::new(rx);
        let verified = verify_archive(&mut stream, Limits::default())?;
        // The tar end marker comes before the gzip trailer: read to the real end.
        io::copy(&mut stream, &mut io::sink())
            .map_err(|e| SnapshotError::InvalidArchive(format!("reading back: {e}")))?;
        let (read, digest) = stream.finish();
        if read != expected_bytes || digest != expected_sha {
            return Err(SnapshotError::InvalidArchive(format!(
                "the stored archive ({read} bytes) differs from the one written ({expected_bytes} bytes): hash mismatch"
            )));
        }
        Ok(verified)
    });
    let download = store.read_stream(key, ChannelSink(tx));
    let (downloaded, verified) = tokio::join!(download, reader);
    match downloaded {
        Ok(true) => verified,
        Ok(false) => Err(SnapshotError::UploadAborted(format!(
            "{key} is not in the store after its upload"
        ))),
        // A refusal from the reader explains more than the transfer error it caused.
        Err(e) => match verified {
            Err(refused @ SnapshotError::InvalidArchive(_)) if !refused.to_string().contains("cannot be read") => {
                Err(refused)
            }
            _ => Err(SnapshotError::Store(e)),
        },
    }
}

/// A blocking `Read` over chunks sent by an async task, hashing and counting what it yields.
struct HashingChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
    hasher: Sha256,
    bytes: u64,
}

impl HashingChannelReader {
    fn new(rx: mpsc::Receiver<Vec<u8>>) -> Self {
        Self {
            rx,
            chunk: Vec::new(),
            at: 0,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (u64, String) {
        (self.bytes, hex(&self.hasher.finalize()))
    }
}

impl Read for HashingChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(next) => {
                    self.chunk = next;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Streams the archive of `inventory` into `key` while a verifier parses the same bytes; returns
/// the capture's report and the store's full-object CRC-64/NVME, when it gave one.
async fn upload_archive<S: ObjectStore>(
    store: &S,
    key: &str,
    inventory: Inventory,
    options: CaptureOptions,
) -> Result<(CaptureReport, Option<u64>), SnapshotError> {
    // Capacity 1: at most one finished part waits while the next is filled and others are sent.
    let (tx, rx) = mpsc::channel(1);
    // The verifier gets each part as it is handed to the uploader; two may wait for it.
    let (to_verifier, verifier_rx) = std_mpsc::sync_channel::<Vec<u8>>(2);
    let part_size = store.min_part_size().max(1);
    let progress = options.progress.clone();
    let verifier = blocking({
        let progress = progress.clone();
        move || verify_stream(verifier_rx, &progress)
    });
    let producer = blocking(move || {
        let writer = PartWriter::new(tx, part_size).with_verifier(to_verifier, options.progress.clone());
        let (report, writer) = capture(&inventory, &options, writer)?;
        writer.finish(report.crc64nvme).map_err(SnapshotError::Write)?;
        Ok(report)
    });
    let upload = store.put_stream(key, "application/gzip", ChannelParts(rx));
    let (uploaded, produced, verified) = tokio::join!(upload, producer, verifier);
    // Whoever stopped first explains the others: a store failure stops the producer (its parts
    // are refused), so does the verifier's refusal (its stream is refused), and a producer that
    // fails ends both streams early.
    if let Err(UploadError::Store(e)) = uploaded {
        return Err(SnapshotError::Store(e));
    }
    let report = match (produced, verified) {
        (Err(SnapshotError::Write(e)), Err(refused @ SnapshotError::InvalidArchive(_)))
            if e.kind() == io::ErrorKind::BrokenPipe =>
        {
            return Err(refused);
        }
        (Err(e), _) | (Ok(_), Err(e)) => return Err(e),
        (Ok(report), Ok(seen)) => {
            if seen.entries != report.entries {
                return Err(SnapshotError::InvalidArchive(format!(
                    "the archive stream holds {} entries but {} were written",
                    seen.entries, report.entries
                )));
            }
            report
        }
    };
    match uploaded {
        Ok(uploaded) if uploaded.bytes != report.archive_bytes => Err(SnapshotError::UploadAborted(format!(
            "uploaded {} bytes but the archive has {}",
            uploaded.bytes, report.archive_bytes
        ))),
        Ok(uploaded) => Ok((report, uploaded.crc64nvme)),
        Err(UploadError::Store(e)) => Err(SnapshotError::Store(e)),
        Err(UploadError::ProducerStopped) => Err(SnapshotError::UploadAborted(
            "the uploader saw the archive stream stop early".into(),
        )),
    }
}

/// The verifier's side: the verifying reader over the produced stream, read to its real end
/// (the tar end marker comes before the gzip trailer, whose CRC and length gzip checks).
fn verify_stream(parts: std_mpsc::Receiver<Vec<u8>>, progress: &Progress) -> Result<VerifiedArchive, SnapshotError> {
    let started = Instant::now();
    let mut stream = PartReader {
        parts,
        chunk: Vec::new(),
        at: 0,
        waited: Duration::ZERO,
    };
    let verified = verify_archive(&mut stream, Limits::default());
    let drained = verified.and_then(|verified| {
        io::copy(&mut stream, &mut io::sink())
            .map_err(|e| SnapshotError::InvalidArchive(format!("the archive stream after its end marker: {e}")))?;
        Ok(verified)
    });
    progress.add(Phase::Verify, started.elapsed().saturating_sub(stream.waited));
    drained
}

/// A blocking `Read` over the parts the producer hands the verifier, timing its waits (so the
/// profile counts the verifier's work, not its idling).
struct PartReader {
    parts: std_mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
    waited: Duration,
}

impl Read for PartReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.chunk.len() {
            let asked = Instant::now();
            let next = self.parts.recv();
            self.waited += asked.elapsed();
            match next {
                Ok(next) => {
                    self.chunk = next;
                    self.at = 0;
                }
                // The producer is done (or gone: the capture's own error says why).
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The upload end of the archive channel, as the object store port pulls it.
struct ChannelParts(mpsc::Receiver<Part>);

impl PartSource for ChannelParts {
    async fn next_part(&mut self) -> Option<Part> {
        self.0.recv().await
    }
}

/// The download end of the read-back channel, as the object store port pushes into it.
struct ChannelSink(mpsc::Sender<Vec<u8>>);

impl ChunkSink for ChannelSink {
    async fn push(&mut self, chunk: Vec<u8>) -> bool {
        self.0.send(chunk).await.is_ok()
    }
}

/// Runs file-system work (`f`) on a blocking thread, so the upload keeps streaming meanwhile; a
/// worker that panicked is an internal error, never a crash of the invocation.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, SnapshotError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, SnapshotError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SnapshotError::Internal(format!("file-system worker: {e}")))?
}

/// A `Write` that cuts the archive stream into parts of at least `part_size` bytes and hands
/// them to the uploader. Blocks when the uploader is behind: memory stays at a few parts.
pub struct PartWriter {
    tx: mpsc::Sender<Part>,
    buf: Vec<u8>,
    part_size: usize,
    verifier: Option<(std_mpsc::SyncSender<Vec<u8>>, Arc<Progress>)>,
}

impl PartWriter {
    /// A writer feeding `tx`.
    pub fn new(tx: mpsc::Sender<Part>, part_size: usize) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(part_size),
            part_size,
            verifier: None,
        }
    }

    /// Also hands every part to a verifier (a copy: the uploader owns its part until S3 has it),
    /// counting the time blocked on either in `progress`.
    pub fn with_verifier(mut self, verifier: std_mpsc::SyncSender<Vec<u8>>, progress: Arc<Progress>) -> Self {
        self.verifier = Some((verifier, progress));
        self
    }

    fn send(&mut self, part: Part) -> io::Result<()> {
        let started = Instant::now();
        if let (Some((verifier, _)), Part::Data(data)) = (&self.verifier, &part) {
            verifier
                .send(data.clone())
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the archive verifier stopped"))?;
        }
        let sent = self
            .tx
            .blocking_send(part)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the uploader stopped"));
        if let Some((_, progress)) = &self.verifier {
            progress.add(Phase::UploadWait, started.elapsed());
        }
        sent
    }

    /// Sends the last part and the end marker with the CRC-64/NVME of everything written: only
    /// now may the upload complete. The verifier sees the end of its stream as its channel closes.
    pub fn finish(mut self, crc64nvme: u64) -> io::Result<()> {
        if !self.buf.is_empty() {
            let last = std::mem::take(&mut self.buf);
            self.send(Part::Data(last))?;
        }
        self.verifier = None;
        self.send(Part::Finish { crc64nvme })
    }
}

impl Write for PartWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.part_size - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= self.part_size {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(self.part_size));
            self.send(Part::Data(full))?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An archive with no sidecar this long after its name's time is an orphan: no live run takes
/// that long (Lambda stops at 15 minutes), so its sidecar will never come.
pub const ORPHAN_ARCHIVE_AGE_MILLIS: i64 = 2 * 15 * 60 * 1000;

/// Archives without a sidecar older than [`ORPHAN_ARCHIVE_AGE_MILLIS`] at `now_millis`: left when S3
/// completed an upload after the client had given up. They are not snapshots (nothing lists
/// them) but would otherwise stay forever, as lifecycle rules only abort incomplete uploads. Pure.
pub fn orphan_archives(objects: &[ObjectInfo], now_millis: i64) -> Vec<String> {
    let keys: std::collections::HashSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    objects
        .iter()
        .filter(|o| o.key.ends_with(".tar.gz") && !keys.contains(sidecar_key(&o.key).as_str()))
        .filter(|o| {
            parse_snapshot_key(&o.key)
                .is_some_and(|name| now_millis.saturating_sub(name.taken_at_millis) > ORPHAN_ARCHIVE_AGE_MILLIS)
        })
        .map(|o| o.key.clone())
        .collect()
}

/// Applies `policy` to a gateway's snapshots: deletes each dropped snapshot's sidecar first
/// (so it stops being a snapshot at once), then its archive, and deletes orphan archives
/// ([`orphan_archives`]). Each sidecar is read for `verified` and `quiescent` (an unreadable one
/// counts as neither). Returns the deleted archive keys.
pub async fn apply_retention<S: ObjectStore>(
    store: &S,
    gateway: &str,
    policy: &crate::retention::RetentionPolicy,
    now_millis: i64,
) -> Result<Vec<String>, SnapshotError> {
    let objects = store.list(&snapshots_prefix(gateway)).await?;
    let orphans = orphan_archives(&objects, now_millis);
    if !orphans.is_empty() {
        store.delete(&orphans).await?;
        tracing::warn!(
            gateway,
            deleted = orphans.len(),
            "deleted archives that never got a sidecar"
        );
    }
    let mut candidates = Vec::new();
    for object in objects.iter().filter(|o| o.key.ends_with(".json")) {
        let Some(name) = parse_snapshot_key(&object.key) else {
            continue;
        };
        let Some(archive) = crate::layout::archive_key_of_sidecar(&object.key) else {
            continue;
        };
        let sidecar = store
            .get_bytes(&object.key)
            .await?
            .and_then(|body| serde_json::from_slice::<Sidecar>(&body).ok());
        candidates.push(crate::retention::Candidate {
            key: archive,
            taken_at_millis: name.taken_at_millis,
            trigger: name.trigger,
            verified: sidecar.as_ref().is_some_and(|s| s.verified),
            quiescent: sidecar.as_ref().is_some_and(|s| s.consistency.quiescent),
        });
    }
    let mut doomed = crate::retention::to_delete(&candidates, policy);
    if !doomed.is_empty() {
        let sidecars: Vec<String> = doomed.iter().map(|k| sidecar_key(k)).collect();
        store.delete(&sidecars).await?;
        store.delete(&doomed).await?;
        tracing::info!(gateway, deleted = doomed.len(), "retention applied");
    }
    doomed.extend(orphans);
    Ok(doomed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str) -> ObjectInfo {
        ObjectInfo {
            key: key.to_string(),
            size: 1,
            last_modified_millis: None,
        }
    }

    #[test]
    fn only_old_archives_without_a_sidecar_are_orphans() {
        let taken = clock::parse_compact("20261125T100000Z").unwrap_or_default();
        let objects = [
            object("home/snapshots/20261125T100000Z-scheduled.tar.gz"),
            object("home/snapshots/20261125T100000Z-scheduled.json"),
            object("home/snapshots/20261125T100000Z-manual.tar.gz"),
            object("home/snapshots/_status/last-failure.json"),
        ];
        // Too young: a live run may still write its sidecar.
        assert!(orphan_archives(&objects, taken + ORPHAN_ARCHIVE_AGE_MILLIS).is_empty());
        assert_eq!(
            orphan_archives(&objects, taken + ORPHAN_ARCHIVE_AGE_MILLIS + 1),
            ["home/snapshots/20261125T100000Z-manual.tar.gz"]
        );
    }
}
