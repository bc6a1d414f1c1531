//! Writes a snapshot archive: tar, then gzip, into any `Write` sink, as OpenClaw lays out its
//! backups (`<root>/manifest.json`, `<root>/payload/posix/<absolute source path>/...`).
//!
//! Memory stays bounded whatever the state size: files are streamed through, only small files
//! are held whole (to check they did not change while read), and SQLite copies go to scratch
//! disk. The SHA-256, CRC-64/NVME and size of the archive bytes are computed on the way out: the
//! SHA-256 names the archive in its sidecar, the CRC is what S3's full-object checksum of the
//! upload must equal.
//!
//! The writers also feed the run's [`Progress`]: where the time goes (the `snapshot profile` log
//! line) and whether the run still fits before its deadline ([`crate::budget`]).

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::budget::{self, Phase, Progress};
use crate::clock;
use crate::error::SnapshotError;
use crate::inventory::{AssetKind, Entry, EntryKind, Inventory, hex};
use crate::layout::{
    Consistency, MANIFEST_SCHEMA_VERSION, Manifest, ManifestAsset, ManifestPaths, SIDECAR_FORMAT, Sidecar,
    SqliteSummary, payload_path,
};
use crate::sqlite;

/// Knobs of a capture; [`CaptureOptions::new`] has the production values.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Creation time (milliseconds since the epoch): archive root name and `createdAt`.
    pub created_at_millis: i64,
    /// Where private SQLite copies are made (local disk, e.g. Lambda's `/tmp`).
    pub scratch_dir: PathBuf,
    /// Reads of a changing file before giving up on a stable copy.
    pub attempts: u32,
    /// First pause between attempts (doubles each time).
    pub retry_delay: Duration,
    /// Files up to this size are read whole and checked; larger ones are streamed.
    pub in_memory_limit: u64,
    /// How long a SQLite capture waits for writers.
    pub sqlite_busy_deadline: Duration,
    /// gzip level, 1 to 9 ([`clawkeeper_core::config::DEFAULT_GZIP_LEVEL`] unless the owner set
    /// `CLAWKEEPER_SNAPSHOT_GZIP_LEVEL`).
    pub compression: u32,
    /// When the capture must be done (the invocation's deadline less the time to finish the
    /// upload); `None` for no limit.
    pub deadline: Option<Instant>,
    /// Shared with the uploader and the verifier: time per phase, bytes so far.
    pub progress: Arc<Progress>,
}

impl CaptureOptions {
    /// Production defaults for an archive created at `created_at_millis`.
    pub fn new(created_at_millis: i64, scratch_dir: impl Into<PathBuf>) -> Self {
        Self {
            created_at_millis,
            scratch_dir: scratch_dir.into(),
            attempts: 5,
            retry_delay: Duration::from_millis(40),
            in_memory_limit: 8 << 20,
            sqlite_busy_deadline: Duration::from_secs(60),
            compression: clawkeeper_core::config::DEFAULT_GZIP_LEVEL,
            deadline: None,
            progress: Arc::default(),
        }
    }
}

/// What a capture wrote.
#[derive(Debug, Clone)]
pub struct CaptureReport {
    /// The archive's root directory name.
    pub archive_root: String,
    /// The manifest written at `<root>/manifest.json`.
    pub manifest: Manifest,
    /// Regular files archived (databases included, the manifest not).
    pub file_count: u64,
    /// Their uncompressed bytes.
    pub payload_bytes: u64,
    /// Tar entries written: the manifest, files, directories and links (what a restore counts).
    pub entries: u64,
    /// Compressed archive bytes written to the sink.
    pub archive_bytes: u64,
    /// SHA-256 (hex) of those bytes.
    pub sha256: String,
    /// CRC-64/NVME of those bytes (S3's full-object checksum of the upload).
    pub crc64nvme: u64,
    /// Per database.
    pub sqlite: Vec<SqliteSummary>,
    /// Things a person should know. Paths only, never content.
    pub warnings: Vec<String>,
}

impl CaptureReport {
    /// The sidecar of this capture's archive at `key`, taken at `taken_at_millis`: everything the
    /// capture knows. What only the snapshot job knows (source task, state fingerprint, duration,
    /// the read-back verdict) is left empty for it to fill.
    pub fn sidecar(&self, gateway: &str, key: &str, trigger: &str, taken_at_millis: i64, quiescent: bool) -> Sidecar {
        Sidecar {
            format: SIDECAR_FORMAT.into(),
            gateway: gateway.to_string(),
            archive_key: key.to_string(),
            archive_root: self.archive_root.clone(),
            trigger: trigger.to_string(),
            taken_at: clock::rfc3339(taken_at_millis),
            archive_bytes: self.archive_bytes,
            sha256: self.sha256.clone(),
            file_count: self.file_count,
            payload_bytes: self.payload_bytes,
            entry_count: Some(self.entries),
            consistency: Consistency {
                sqlite: "page-copy+integrity_check".into(),
                files: "stability-check".into(),
                quiescent,
            },
            source_task: None,
            warnings: self.warnings.clone(),
            sqlite: self.sqlite.clone(),
            state_fingerprint: String::new(),
            assets: self.manifest.assets.clone(),
            duration_ms: 0,
            verified: false,
        }
    }
}

/// A `Write` that hashes (SHA-256 and CRC-64/NVME) and counts what passes through.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    crc: crc_fast::Digest,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            crc: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme),
            bytes: 0,
        }
    }

    /// The CRC-64/NVME of the bytes so far.
    pub fn crc64nvme(&self) -> u64 {
        self.crc.finalize()
    }

    /// The sink, the byte count and the hex SHA-256.
    pub fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex(&self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.crc.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A `Write` that adds the time spent in `inner` to a phase of the run's profile.
struct Timed<W> {
    inner: W,
    phase: Phase,
    progress: Arc<Progress>,
}

impl<W: Write> Write for Timed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let started = Instant::now();
        let written = self.inner.write(buf);
        self.progress.add(self.phase, started.elapsed());
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        let started = Instant::now();
        let flushed = self.inner.flush();
        self.progress.add(self.phase, started.elapsed());
        flushed
    }
}

/// A copy holding writers off this long may have made some give up (OpenClaw's SQLite busy
/// timeout): worth a warning in the sidecar.
const WRITERS_MAY_GIVE_UP: Duration = Duration::from_secs(5);

/// How often (in archive bytes) the deadline and the projection are looked at.
const BUDGET_CHECK_BYTES: u64 = 4 << 20;

/// The tar stream's end of the encoder: counts what the archive takes in and stops the run once
/// [`budget::over_budget`] says it cannot finish in time (checked every [`BUDGET_CHECK_BYTES`]).
struct Budgeted<W> {
    inner: W,
    progress: Arc<Progress>,
    started: Instant,
    deadline: Option<Instant>,
    total_bytes: u64,
    sqlite_total: u64,
    unchecked: u64,
    verdict: Option<String>,
}

impl<W> Budgeted<W> {
    /// `Err` (and the reason kept) once the run must stop.
    fn check(&mut self) -> io::Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        let now = Instant::now();
        let figures = self
            .progress
            .figures(now - self.started, self.total_bytes, self.sqlite_total);
        if let Some(reason) = budget::over_budget(&figures, deadline.saturating_duration_since(now)) {
            self.progress.mark_overrun();
            self.verdict = Some(reason);
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                "the snapshot run is past its time budget",
            ));
        }
        Ok(())
    }
}

impl<W: Write> Write for Budgeted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.unchecked >= BUDGET_CHECK_BYTES {
            self.unchecked = 0;
            self.check()?;
        }
        let n = self.inner.write(buf)?;
        self.unchecked += n as u64;
        self.progress.archived(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The writer stack under the tar builder: budget check, gzip (timed), hashing (timed), sink.
type Encoder<W> = Budgeted<Timed<GzEncoder<Timed<HashingWriter<W>>>>>;

/// Writes the archive of `inventory` into `sink` and returns the report and the sink.
pub fn capture<W: Write>(
    inventory: &Inventory,
    options: &CaptureOptions,
    sink: W,
) -> Result<(CaptureReport, W), SnapshotError> {
    let root = clock::archive_root(options.created_at_millis);
    let manifest = build_manifest(inventory, &root, options.created_at_millis);
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|source| SnapshotError::Json {
        what: "manifest",
        source,
    })?;

    let progress = &options.progress;
    let hashing = Timed {
        inner: HashingWriter::new(sink),
        phase: Phase::Sink,
        progress: progress.clone(),
    };
    let gz = GzEncoder::new(hashing, Compression::new(options.compression.min(9)));
    let (total_bytes, sqlite_total) = inventory_bytes(inventory);
    let mut tar = tar::Builder::new(Budgeted {
        inner: Timed {
            inner: gz,
            phase: Phase::Encode,
            progress: progress.clone(),
        },
        progress: progress.clone(),
        started: Instant::now(),
        deadline: options.deadline,
        total_bytes,
        sqlite_total,
        unchecked: 0,
        verdict: None,
    });
    let written = match write_entries(&mut tar, inventory, options, &root, &manifest_json) {
        Ok(written) => written,
        // A write refused by the budget (or a database copy interrupted by the deadline) is the
        // run being out of time, not an I/O fault.
        Err(e) => {
            let verdict = tar.get_mut().verdict.take();
            return Err(match verdict {
                Some(reason) => SnapshotError::StateTooLarge(reason),
                None if progress.overrun() => {
                    SnapshotError::StateTooLarge(format!("the run reached its deadline while copying a database ({e})"))
                }
                None => e,
            });
        }
    };
    let encoder = tar.into_inner().map_err(SnapshotError::Write)?;
    let hashing = encoder.inner.inner.finish().map_err(SnapshotError::Write)?.inner;
    let crc64nvme = hashing.crc64nvme();
    let (sink, archive_bytes, sha256) = hashing.finish();
    Ok((
        CaptureReport {
            archive_root: root,
            manifest,
            file_count: written.file_count,
            payload_bytes: written.payload_bytes,
            entries: written.entries,
            archive_bytes,
            sha256,
            crc64nvme,
            sqlite: written.sqlite,
            warnings: written.warnings,
        },
        sink,
    ))
}

/// Bytes the archive will take in (every entry's size at inventory time and a header each), and
/// of them, the databases'.
fn inventory_bytes(inventory: &Inventory) -> (u64, u64) {
    inventory.entries.iter().fold((0u64, 0u64), |(total, sqlite), entry| {
        let db = if matches!(entry.kind, EntryKind::Sqlite { .. }) {
            entry.size
        } else {
            0
        };
        (
            total.saturating_add(entry.size.saturating_add(512)),
            sqlite.saturating_add(db),
        )
    })
}

/// What [`write_entries`] counted.
struct Written {
    file_count: u64,
    payload_bytes: u64,
    entries: u64,
    sqlite: Vec<SqliteSummary>,
    warnings: Vec<String>,
}

/// The manifest, then every entry of the inventory.
fn write_entries<W: Write>(
    tar: &mut tar::Builder<Encoder<W>>,
    inventory: &Inventory,
    options: &CaptureOptions,
    root: &str,
    manifest_json: &[u8],
) -> Result<Written, SnapshotError> {
    let mut writer = ArchiveWriter {
        tar,
        inventory,
        options,
        root,
        file_count: 0,
        payload_bytes: 0,
        // The manifest, appended next.
        entries: 1,
        sqlite: Vec::new(),
        warnings: inventory.warnings.clone(),
    };

    let mut header = Header::new_gnu();
    header.set_entry_type(EntryType::Regular);
    header.set_size(manifest_json.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(u64::try_from(options.created_at_millis / 1000).unwrap_or(0));
    writer
        .tar
        .append_data(&mut header, Path::new(root).join("manifest.json"), manifest_json)
        .map_err(SnapshotError::Write)?;

    for entry in &inventory.entries {
        writer.append(entry)?;
    }
    Ok(Written {
        file_count: writer.file_count,
        payload_bytes: writer.payload_bytes,
        entries: writer.entries,
        sqlite: writer.sqlite,
        warnings: writer.warnings,
    })
}

fn build_manifest(inventory: &Inventory, root: &str, created_at_millis: i64) -> Manifest {
    let assets = inventory
        .assets
        .iter()
        .map(|a| ManifestAsset {
            kind: a.kind.as_str().to_string(),
            source_path: a.source.to_string_lossy().into_owned(),
            archive_path: payload_path(root, &a.source).to_string_lossy().into_owned(),
        })
        .collect();
    let state_dir = inventory
        .assets
        .iter()
        .find(|a| a.kind == AssetKind::State)
        .map(|a| a.source.to_string_lossy().into_owned());
    Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        created_at: clock::rfc3339(created_at_millis),
        archive_root: root.to_string(),
        runtime_version: Some(format!("clawkeeper {}", env!("CARGO_PKG_VERSION"))),
        platform: Some("linux".into()),
        paths: Some(ManifestPaths { state_dir }),
        assets,
        skipped: inventory.skipped.clone(),
    }
}

struct ArchiveWriter<'a, W: Write> {
    tar: &'a mut tar::Builder<Encoder<W>>,
    inventory: &'a Inventory,
    options: &'a CaptureOptions,
    root: &'a str,
    file_count: u64,
    payload_bytes: u64,
    entries: u64,
    sqlite: Vec<SqliteSummary>,
    warnings: Vec<String>,
}

/// How a plain file read ended.
enum ReadOutcome {
    /// Size and mtime unchanged across the read (and, for creds, the JSON parses).
    Stable(Vec<u8>),
    /// Still changing (or unparsable) after every attempt: the last bytes read.
    Unstable(Vec<u8>),
    /// Removed before it could be read.
    Vanished,
    /// Too large to hold: stream it.
    Large,
}

impl<W: Write> ArchiveWriter<'_, W> {
    fn source(&self, entry: &Entry) -> PathBuf {
        self.inventory.assets[entry.asset].source.join(&entry.rel)
    }

    fn archive_path(&self, entry: &Entry) -> PathBuf {
        payload_path(self.root, &self.source(entry))
    }

    fn header(entry: &Entry, kind: EntryType, size: u64) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(entry.mode);
        header.set_mtime(entry.mtime_secs());
        header.set_uid(u64::from(entry.uid));
        header.set_gid(u64::from(entry.gid));
        header
    }

    fn append(&mut self, entry: &Entry) -> Result<(), SnapshotError> {
        let path = self.archive_path(entry);
        match &entry.kind {
            EntryKind::Dir => {
                let mut header = Self::header(entry, EntryType::Directory, 0);
                self.tar
                    .append_data(&mut header, &path, io::empty())
                    .map_err(SnapshotError::Write)?;
                self.entries += 1;
                Ok(())
            }
            EntryKind::Symlink { target } => {
                let mut header = Self::header(entry, EntryType::Symlink, 0);
                self.tar
                    .append_link(&mut header, &path, target)
                    .map_err(SnapshotError::Write)?;
                self.entries += 1;
                Ok(())
            }
            EntryKind::SqliteSidecar => Ok(()),
            EntryKind::Sqlite { change_counter } => self.append_sqlite(entry, *change_counter, &path),
            EntryKind::File => self.append_file(entry, &path),
        }
    }

    fn append_sqlite(&mut self, entry: &Entry, change_counter: u32, path: &Path) -> Result<(), SnapshotError> {
        let live = self.source(entry);
        if !live.exists() {
            self.warnings
                .push(format!("{} was removed during the snapshot", live.display()));
            return Ok(());
        }
        let limits = sqlite::CopyLimits {
            busy_deadline: self.options.sqlite_busy_deadline,
            deadline: self.options.deadline,
            progress: &self.options.progress,
        };
        let copy = sqlite::capture_database(&live, &self.options.scratch_dir, limits)?;
        let file = fs::File::open(&copy.path).map_err(SnapshotError::Write)?;
        let mut header = Self::header(entry, EntryType::Regular, copy.bytes);
        let mut hashing = HashingReader::new(file.take(copy.bytes));
        self.tar
            .append_data(&mut header, path, &mut hashing)
            .map_err(SnapshotError::Write)?;
        if copy.hot_journal_rolled_back {
            self.warnings.push(format!(
                "{} had a hot journal (a writer stopped mid-transaction); it was rolled back on a private copy",
                live.display()
            ));
        }
        if copy.writers_held >= WRITERS_MAY_GIVE_UP {
            self.warnings.push(format!(
                "{} was written to throughout, so it was copied under a read lock that held the gateway's writers off \
                 for {} s; writes that waited longer than their busy timeout (OpenClaw's is 5 s) failed",
                live.display(),
                copy.writers_held.as_secs()
            ));
        }
        self.file_count += 1;
        self.entries += 1;
        self.payload_bytes += copy.bytes;
        self.sqlite.push(SqliteSummary {
            path: live.to_string_lossy().into_owned(),
            change_counter,
            bytes: copy.bytes,
            sha256: hashing.finish(),
            hot_journal_rolled_back: copy.hot_journal_rolled_back,
            writers_held_ms: u64::try_from(copy.writers_held.as_millis()).unwrap_or(u64::MAX),
        });
        Ok(())
    }

    /// WhatsApp (Baileys) key files are JSON rewritten in place: a read can see them torn.
    fn is_whatsapp_json(&self, entry: &Entry) -> bool {
        if self.inventory.assets[entry.asset].kind != AssetKind::State {
            return false;
        }
        let mut parts = entry.rel.iter();
        parts.next().is_some_and(|p| p == "credentials")
            && parts.next().is_some_and(|p| p == "whatsapp")
            && entry.rel.extension().is_some_and(|e| e == "json")
    }

    fn append_file(&mut self, entry: &Entry, path: &Path) -> Result<(), SnapshotError> {
        let source = self.source(entry);
        let check_json = self.is_whatsapp_json(entry);
        let bytes = match read_stable(&source, check_json, self.options)? {
            ReadOutcome::Stable(bytes) => bytes,
            ReadOutcome::Vanished => {
                self.warnings
                    .push(format!("{} was removed during the snapshot", source.display()));
                return Ok(());
            }
            ReadOutcome::Large => return self.stream_large(entry, &source, path),
            ReadOutcome::Unstable(bytes) => {
                let is_creds = entry.rel.file_name().is_some_and(|n| n == "creds.json");
                let backup = source.with_file_name("creds.json.bak");
                match (is_creds && check_json, is_creds && check_json && backup.exists()) {
                    (true, true) => match read_stable(&backup, true, self.options)? {
                        ReadOutcome::Stable(bak) => {
                            self.warnings.push(format!(
                                "{} was torn or changing on every read; archived its creds.json.bak copy in its place",
                                source.display()
                            ));
                            bak
                        }
                        _ => {
                            self.warnings.push(format!(
                                "{} and its .bak were torn or changing on every read; archived the last read as is",
                                source.display()
                            ));
                            bytes
                        }
                    },
                    _ => {
                        self.warnings.push(format!(
                            "{} {} on every read; archived the last read as is",
                            source.display(),
                            if check_json {
                                "was torn or changing"
                            } else {
                                "kept changing"
                            }
                        ));
                        bytes
                    }
                }
            }
        };
        let mut header = Self::header(entry, EntryType::Regular, bytes.len() as u64);
        self.tar
            .append_data(&mut header, path, bytes.as_slice())
            .map_err(SnapshotError::Write)?;
        self.file_count += 1;
        self.entries += 1;
        self.payload_bytes += bytes.len() as u64;
        Ok(())
    }

    /// A file too large to hold: streamed with the size seen at open (padded or cut to it, as a
    /// tar header is written first), and flagged if it changed meanwhile.
    fn stream_large(&mut self, entry: &Entry, source: &Path, path: &Path) -> Result<(), SnapshotError> {
        let file = match fs::File::open(source) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.warnings
                    .push(format!("{} was removed during the snapshot", source.display()));
                return Ok(());
            }
            Err(e) => return Err(SnapshotError::read(source, e)),
        };
        let before = file.metadata().map_err(|e| SnapshotError::read(source, e))?;
        let size = before.len();
        let mut header = Self::header(entry, EntryType::Regular, size);
        let reader = file.take(size).chain(io::repeat(0)).take(size);
        self.tar
            .append_data(&mut header, path, reader)
            .map_err(SnapshotError::Write)?;
        let after = fs::symlink_metadata(source).ok();
        if after.is_none_or(|a| a.len() != size || a.mtime() != before.mtime() || a.mtime_nsec() != before.mtime_nsec())
        {
            self.warnings.push(format!(
                "{} ({size} bytes) changed while it was streamed; its copy may be inconsistent",
                source.display()
            ));
        }
        self.file_count += 1;
        self.entries += 1;
        self.payload_bytes += size;
        Ok(())
    }
}

fn read_stable(path: &Path, check_json: bool, options: &CaptureOptions) -> Result<ReadOutcome, SnapshotError> {
    let mut delay = options.retry_delay;
    let mut last = Vec::new();
    for attempt in 0..options.attempts.max(1) {
        if attempt > 0 {
            std::thread::sleep(delay);
            delay = delay.saturating_mul(2);
        }
        let before = match fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ReadOutcome::Vanished),
            Err(e) => return Err(SnapshotError::read(path, e)),
        };
        if before.len() > options.in_memory_limit {
            return Ok(ReadOutcome::Large);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(before.len()).unwrap_or(0));
        match fs::File::open(path) {
            Ok(file) => {
                file.take(options.in_memory_limit + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| SnapshotError::read(path, e))?;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ReadOutcome::Vanished),
            Err(e) => return Err(SnapshotError::read(path, e)),
        }
        let after = match fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ReadOutcome::Vanished),
            Err(e) => return Err(SnapshotError::read(path, e)),
        };
        let stable = before.len() == after.len()
            && bytes.len() as u64 == after.len()
            && before.mtime() == after.mtime()
            && before.mtime_nsec() == after.mtime_nsec()
            && before.ino() == after.ino();
        let whole = !check_json || serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok();
        if stable && whole {
            return Ok(ReadOutcome::Stable(bytes));
        }
        last = bytes;
    }
    Ok(ReadOutcome::Unstable(last))
}

/// A `Read` that hashes what passes through.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn finish(self) -> String {
        hex(&self.hasher.finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
