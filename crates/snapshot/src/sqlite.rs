//! One SQLite database into a private, verified copy, holding the gateway's writers off for as
//! short a time as possible.
//!
//! In rollback-journal mode (OpenClaw's on EFS) a reader's lock stops every writer from
//! committing, and OpenClaw's writers give up after a 5 s busy timeout: a copy that reads a 4 GB
//! database page by page under one read transaction (the online backup API, `VACUUM INTO`) would
//! make them fail. So the file's bytes are copied instead, at file-copy speed, in two ways:
//! - **Unlocked** first: copy the bytes with no lock held, then check under a read lock that the
//!   header's change counter and the file size are what they were (also read under a read lock)
//!   before the copy. Every commit in rollback-journal mode changes the counter, so an unchanged one proves
//!   no commit landed during the copy: the bytes are one committed state. Writers never wait. A
//!   change seen mid-copy (the counter is looked at as the copy goes) ends the attempt early.
//! - **Under a read lock** when writers kept committing: the bytes cannot change while the lock is
//!   held, and writers wait only as long as the file copy takes (reported per database).
//!
//! A database in WAL mode has committed pages outside its main file: it is copied with
//! `VACUUM INTO` from a read transaction instead, which under WAL holds no writer off.
//!
//! Either way `PRAGMA integrity_check` must answer `ok` on the copy, which is left in
//! rollback-journal mode as one self-contained file. Sidecar files are never copied.
//!
//! The live file is opened read-only. A hot journal (a writer died mid-transaction) cannot be
//! rolled back through a read-only connection, and must not be rolled back on the live file by
//! us either: the database and its journal are copied to a private directory and the rollback
//! happens there; that rolled-back private file is then the copy.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::budget::{Phase, Progress};
use crate::error::SnapshotError;

/// A verified copy of one database in a private scratch directory (removed on drop).
#[derive(Debug)]
pub struct SqliteCopy {
    /// The copy.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// True when a hot journal had to be rolled back first (on a private copy).
    pub hot_journal_rolled_back: bool,
    /// How long the gateway's writers were held off by the copy (zero when the unlocked copy held).
    pub writers_held: Duration,
    _scratch: tempfile::TempDir,
}

/// Copies without a lock tried before the copy under one.
const UNLOCKED_ATTEMPTS: u32 = 2;
/// Bytes copied between looks at the change counter (and at the deadline).
const CHECK_EVERY: u64 = 16 << 20;
/// Offset of the header's file change counter (4 bytes, big-endian) and of the read and write
/// format versions (2 for WAL).
const CHANGE_COUNTER_AT: u64 = 24;
const FORMAT_VERSIONS_AT: u64 = 18;

/// How long a copy may wait and run.
#[derive(Debug, Clone, Copy)]
pub struct CopyLimits<'a> {
    /// How long to wait for a writer to let go of the database.
    pub busy_deadline: Duration,
    /// When the run must stop (the copy is interrupted then); `None` for no limit.
    pub deadline: Option<Instant>,
    /// Where the copy's time and bytes are counted.
    pub progress: &'a Progress,
}

/// Captures the live database `live` into a private copy under `scratch`.
pub fn capture_database(live: &Path, scratch: &Path, limits: CopyLimits<'_>) -> Result<SqliteCopy, SnapshotError> {
    let started = Instant::now();
    let copy = copy_database(live, scratch, limits);
    limits.progress.add(Phase::Sqlite, started.elapsed());
    if copy.is_ok() {
        let bytes = fs::metadata(live).map_or(0, |m| m.len());
        limits.progress.sqlite_copied(bytes);
    }
    copy
}

fn copy_database(live: &Path, scratch: &Path, limits: CopyLimits<'_>) -> Result<SqliteCopy, SnapshotError> {
    let dir = tempfile::Builder::new()
        .prefix("clawkeeper-sqlite-")
        .tempdir_in(scratch)
        .map_err(SnapshotError::Write)?;
    let copy_path = dir.path().join("copy.sqlite");
    let busy_until = Instant::now() + limits.busy_deadline;
    let sql_err = |what: &str, e: rusqlite::Error| SnapshotError::sqlite(live, format!("{what}: {e}"));

    let mut hot_journal_rolled_back = false;
    let mut writers_held = Duration::ZERO;
    match open_live(live, busy_until) {
        Ok(source) if is_wal(live).map_err(|e| SnapshotError::read(live, e))? => {
            vacuum_into(&source, &copy_path, limits.deadline).map_err(|e| copy_error(live, e, limits))?;
        }
        Ok(source) => match page_copy(&source, live, &copy_path, limits) {
            Ok(held) => writers_held = held,
            Err(CopyFailure::Sqlite(e)) if is_read_only_error(&e) => {
                // A writer died mid-transaction meanwhile: same remedy as at open.
                drop(source);
                hot_journal_rolled_back = true;
                rollback_on_private_copy(live, dir.path(), &copy_path)?;
            }
            Err(CopyFailure::Sqlite(e)) => return Err(copy_error(live, e, limits)),
            Err(CopyFailure::Io(e)) => return Err(SnapshotError::read(live, e)),
            Err(CopyFailure::Deadline) => return Err(out_of_time(live, limits)),
        },
        Err(e) if is_read_only_error(&e) => {
            hot_journal_rolled_back = true;
            rollback_on_private_copy(live, dir.path(), &copy_path)?;
        }
        Err(e) => return Err(sql_err("opening read-only", e)),
    }

    let dest = Connection::open(&copy_path).map_err(|e| sql_err("opening the private copy", e))?;
    // One self-contained file: rollback-journal mode (OpenClaw's mode on EFS), whatever the live
    // database's mode was.
    dest.query_row("PRAGMA journal_mode=DELETE", [], |row| row.get::<_, String>(0))
        .map_err(|e| sql_err("journal_mode", e))?;
    let problems: Vec<String> = {
        let mut stmt = dest
            .prepare("PRAGMA integrity_check")
            .map_err(|e| sql_err("integrity_check", e))?;
        let rows = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(|e| sql_err("integrity_check", e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| sql_err("integrity_check", e))?
    };
    if problems != ["ok"] {
        let first: Vec<&str> = problems.iter().take(3).map(String::as_str).collect();
        return Err(SnapshotError::sqlite(
            live,
            format!("integrity_check failed on the captured copy: {}", first.join("; ")),
        ));
    }
    dest.close().map_err(|(_, e)| sql_err("closing the private copy", e))?;
    let bytes = fs::metadata(&copy_path).map_err(SnapshotError::Write)?.len();
    Ok(SqliteCopy {
        path: copy_path,
        bytes,
        hot_journal_rolled_back,
        writers_held,
        _scratch: dir,
    })
}

/// Why a page copy stopped.
#[derive(Debug)]
enum CopyFailure {
    Sqlite(rusqlite::Error),
    Io(std::io::Error),
    Deadline,
}

impl From<rusqlite::Error> for CopyFailure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl From<std::io::Error> for CopyFailure {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// What identifies one committed state of a rollback-journal database: its header's change
/// counter and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    counter: u32,
    len: u64,
}

/// The live file's [`Stamp`], read with a read transaction open on `source` (no commit can be
/// under way then). The transaction ends before this returns unless `keep` is set.
fn stamp_under_read_lock(source: &Connection, file: &fs::File, keep: bool) -> Result<Stamp, CopyFailure> {
    source.execute_batch("BEGIN")?;
    let stamped = source
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0))
        .map_err(CopyFailure::from)
        .and_then(|_| read_stamp(file).map_err(CopyFailure::from));
    if !keep || stamped.is_err() {
        source.execute_batch("COMMIT")?;
    }
    stamped
}

fn read_stamp(file: &fs::File) -> std::io::Result<Stamp> {
    use std::os::unix::fs::FileExt;
    let mut counter = [0u8; 4];
    file.read_exact_at(&mut counter, CHANGE_COUNTER_AT)?;
    Ok(Stamp {
        counter: u32::from_be_bytes(counter),
        len: file.metadata()?.len(),
    })
}

/// True when the live file's header says WAL mode.
fn is_wal(live: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let mut versions = [0u8; 2];
    fs::File::open(live)?.read_exact_at(&mut versions, FORMAT_VERSIONS_AT)?;
    Ok(versions == [2, 2])
}

/// Copies the live file's bytes into `copy` as one committed state (see the module comment):
/// unlocked while no commit lands meanwhile, else under a read lock. Returns how long writers
/// were held off.
///
/// The live file is read through one descriptor, opened before the first lock and closed after
/// the last: POSIX drops every lock a process holds on a file when it closes *any* descriptor of
/// that file, so opening and closing one per read would silently release the read lock SQLite
/// took for `source`, and a writer in another process could commit in the middle of a "locked"
/// copy.
fn page_copy(source: &Connection, live: &Path, copy: &Path, limits: CopyLimits<'_>) -> Result<Duration, CopyFailure> {
    let file = fs::File::open(live)?;
    for _ in 0..UNLOCKED_ATTEMPTS {
        let before = stamp_under_read_lock(source, &file, false)?;
        if copy_bytes(&file, copy, Some(before), limits.deadline)?
            && stamp_under_read_lock(source, &file, false)? == before
        {
            return Ok(Duration::ZERO);
        }
    }
    // Writers kept committing: hold them off for one copy.
    let locked = Instant::now();
    stamp_under_read_lock(source, &file, true)?;
    let copied = copy_bytes(&file, copy, None, limits.deadline);
    source.execute_batch("COMMIT")?;
    copied?;
    Ok(locked.elapsed())
}

/// Copies the live database open as `live` into `copy`. With `unchanged`, gives up (`Ok(false)`)
/// as soon as the live file's stamp is no longer that one; without it, the caller holds the read
/// lock. Stops at `deadline`.
fn copy_bytes(
    live: &fs::File,
    copy: &Path,
    unchanged: Option<Stamp>,
    deadline: Option<Instant>,
) -> Result<bool, CopyFailure> {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    let mut to = fs::File::create(copy)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    // Looked at before the first byte too: a run already out of time copies nothing.
    let mut since_check = CHECK_EVERY;
    loop {
        if since_check >= CHECK_EVERY {
            since_check = 0;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(CopyFailure::Deadline);
            }
            if unchanged.is_some_and(|stamp| read_stamp(live).ok() != Some(stamp)) {
                return Ok(false);
            }
        }
        let n = live.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n])?;
        at += n as u64;
        since_check += n as u64;
    }
    // No flush to disk: the copy is scratch this process reads back through the page cache, and
    // a locked copy holds the gateway's writers until it returns, so a flush of gigabytes to the
    // scratch disk would be time the writers wait for nothing. Errors a write can meet (a full
    // disk) are raised by `write_all`; a copy that reads back wrong fails `integrity_check`.
    Ok(unchanged.is_none_or(|stamp| read_stamp(live).ok() == Some(stamp)))
}

/// `VACUUM INTO` the copy, interrupted once `deadline` passes (by a watcher thread holding the
/// connection's interrupt handle, woken early when the copy ends).
fn vacuum_into(source: &Connection, copy: &Path, deadline: Option<Instant>) -> Result<(), rusqlite::Error> {
    let target = copy.to_str().ok_or_else(|| {
        rusqlite::Error::InvalidParameterName(format!("scratch path {} is not UTF-8", copy.display()))
    })?;
    let Some(deadline) = deadline else {
        return source.execute("VACUUM INTO ?1", [target]).map(|_| ());
    };
    let interrupt = source.get_interrupt_handle();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let wait = deadline.saturating_duration_since(Instant::now());
            if finished.recv_timeout(wait) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                interrupt.interrupt();
            }
        });
        let copied = source.execute("VACUUM INTO ?1", [target]).map(|_| ());
        // Wakes the watcher; it may have fired already, which only matters if the copy failed.
        let _ = done.send(());
        copied
    })
}

/// A failed copy's error: the deadline's interruption is the run being out of time.
fn copy_error(live: &Path, e: rusqlite::Error, limits: CopyLimits<'_>) -> SnapshotError {
    if e.sqlite_error_code() == Some(ErrorCode::OperationInterrupted)
        && limits.deadline.is_some_and(|d| Instant::now() >= d)
    {
        return out_of_time(live, limits);
    }
    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) {
        return SnapshotError::sqlite(live, "copy: still locked by a writer at the deadline");
    }
    SnapshotError::sqlite(live, format!("copy: {e}"))
}

/// The run reached its deadline while copying `live`.
fn out_of_time(live: &Path, limits: CopyLimits<'_>) -> SnapshotError {
    limits.progress.mark_overrun();
    SnapshotError::StateTooLarge(format!(
        "the run reached its deadline while copying {} ({} bytes)",
        live.display(),
        fs::metadata(live).map_or(0, |m| m.len())
    ))
}

fn open_live(live: &Path, deadline: Instant) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(live, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(deadline.saturating_duration_since(Instant::now()))?;
    // A read surfaces a hot journal now (SQLITE_READONLY_ROLLBACK), before the copy starts.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0))?;
    Ok(conn)
}

fn is_read_only_error(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ReadOnly)
}

/// Copies the database and its hot journal into `dir` and opens the copy read-write, which
/// makes SQLite roll the journal back there; the rolled-back file becomes `copy`. The live files
/// are only read.
fn rollback_on_private_copy(live: &Path, dir: &Path, copy: &Path) -> Result<(), SnapshotError> {
    let hot = dir.join("hot.sqlite");
    fs::copy(live, &hot).map_err(|e| SnapshotError::read(live, e))?;
    let mut journal = live.as_os_str().to_owned();
    journal.push("-journal");
    let journal = PathBuf::from(journal);
    let mut hot_journal = hot.as_os_str().to_owned();
    hot_journal.push("-journal");
    match fs::copy(&journal, PathBuf::from(hot_journal)) {
        Ok(_) => {}
        // Committed or rolled back meanwhile: the main file alone is consistent.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(SnapshotError::read(&journal, e)),
    }
    let conn = Connection::open_with_flags(
        &hot,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| SnapshotError::sqlite(live, format!("opening the private copy: {e}")))?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0))
        .map_err(|e| SnapshotError::sqlite(live, format!("rolling back the hot journal on a private copy: {e}")))?;
    conn.close()
        .map_err(|(_, e)| SnapshotError::sqlite(live, format!("closing the private copy: {e}")))?;
    fs::rename(&hot, copy).map_err(SnapshotError::Write)
}

/// Rows of `table` in a database file, for tests and restore checks.
pub fn count_rows(path: &Path, table: &str) -> Result<i64, rusqlite::Error> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.query_row(
        &format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\"")),
        [],
        |row| row.get(0),
    )
}

/// `PRAGMA integrity_check` of a database file: `Ok(())` when it says `ok`.
pub fn check_integrity(path: &Path) -> Result<(), String> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| e.to_string())?;
    let answer: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if answer == "ok" { Ok(()) } else { Err(answer) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_db(path: &Path, rows: i64) {
        let conn = Connection::open(path).expect("open");
        conn.execute_batch("PRAGMA journal_mode=DELETE; CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);")
            .expect("schema");
        for i in 0..rows {
            conn.execute("INSERT INTO t(v) VALUES (?1)", [vec![i as u8; 512]])
                .expect("insert");
        }
        conn.execute("DELETE FROM t WHERE id % 2 = 0", []).expect("delete");
    }

    fn patient(progress: &Progress) -> CopyLimits<'_> {
        CopyLimits {
            busy_deadline: Duration::from_secs(5),
            deadline: None,
            progress,
        }
    }

    #[test]
    fn a_quiet_database_is_copied_byte_for_byte_without_holding_writers() {
        let progress = Progress::default();
        let dir = tempfile::tempdir().expect("tempdir");
        let live = dir.path().join("live.sqlite");
        make_db(&live, 400);
        let copy = capture_database(&live, dir.path(), patient(&progress)).expect("capture");
        assert!(!copy.hot_journal_rolled_back);
        assert_eq!(copy.writers_held, Duration::ZERO, "no commit landed: no lock held");
        assert_eq!(count_rows(&copy.path, "t").expect("count"), 200);
        assert_eq!(fs::read(&copy.path).expect("copy"), fs::read(&live).expect("live"));
        let names: Vec<_> = fs::read_dir(copy.path.parent().expect("dir"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["copy.sqlite"], "no journal beside the copy");
        check_integrity(&copy.path).expect("ok");
    }

    #[test]
    fn a_database_written_throughout_is_copied_under_a_read_lock_as_one_committed_state() {
        let progress = Progress::default();
        let dir = tempfile::tempdir().expect("tempdir");
        let live = dir.path().join("live.sqlite");
        {
            let conn = Connection::open(&live).expect("open");
            conn.execute_batch(
                "PRAGMA journal_mode=DELETE; CREATE TABLE a(v BLOB); CREATE TABLE b(v BLOB); \
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000) \
                 INSERT INTO a(v) SELECT randomblob(2000) FROM n; INSERT INTO b SELECT * FROM a;",
            )
            .expect("fill");
        }
        // A writer committing as fast as it can, each transaction one row into both tables: a
        // copy of one committed state has as many rows in each.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let writer = {
            let (live, stop, commits) = (live.clone(), stop.clone(), commits.clone());
            std::thread::spawn(move || {
                let conn = Connection::open(&live).expect("writer");
                conn.busy_timeout(Duration::from_secs(30)).expect("timeout");
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    conn.execute_batch(
                        "BEGIN IMMEDIATE; INSERT INTO a(v) VALUES (randomblob(100)); \
                         INSERT INTO b(v) VALUES (randomblob(100)); COMMIT;",
                    )
                    .expect("commit");
                    commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        };
        while commits.load(std::sync::atomic::Ordering::Relaxed) < 10 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let copy = capture_database(&live, dir.path(), patient(&progress));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().expect("the writer never failed");
        let copy = copy.expect("capture");
        assert!(
            copy.writers_held > Duration::ZERO,
            "commits kept landing: copied under the lock"
        );
        let (a, b) = (
            count_rows(&copy.path, "a").expect("a"),
            count_rows(&copy.path, "b").expect("b"),
        );
        assert_eq!(a, b, "one committed state");
        assert!(a >= 8010, "{a}");
        check_integrity(&copy.path).expect("ok");
    }

    #[test]
    fn a_wal_database_is_copied_with_its_committed_wal_pages() {
        let progress = Progress::default();
        let dir = tempfile::tempdir().expect("tempdir");
        let live = dir.path().join("live.sqlite");
        let conn = Connection::open(&live).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(v); \
             INSERT INTO t VALUES (1), (2), (3);",
        )
        .expect("wal");
        // Still open: the rows are in the WAL file, not the main one.
        assert!(fs::metadata(dir.path().join("live.sqlite-wal")).expect("wal").len() > 0);
        let copy = capture_database(&live, dir.path(), patient(&progress)).expect("capture");
        assert_eq!(count_rows(&copy.path, "t").expect("count"), 3);
        let mode: String = Connection::open(&copy.path)
            .expect("copy")
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .expect("mode");
        assert_eq!(mode, "delete", "one self-contained file");
        drop(conn);
    }

    #[test]
    fn a_hot_journal_is_rolled_back_on_a_private_copy_only() {
        let progress = Progress::default();
        let dir = tempfile::tempdir().expect("tempdir");
        let live = dir.path().join("live.sqlite");
        make_db(&live, 10);
        // Fake a writer that died mid-transaction: keep the journal of an uncommitted change.
        {
            let conn = Connection::open(&live).expect("open");
            conn.execute_batch("PRAGMA journal_mode=PERSIST; PRAGMA cache_size=1;")
                .expect("mode");
            conn.execute_batch("BEGIN; DELETE FROM t; ").expect("begin");
            // Force pages out to the main file while the transaction is open.
            conn.execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
                 INSERT INTO t(v) SELECT randomblob(4000) FROM n;",
            )
            .expect("spill");
            let journal = fs::read(dir.path().join("live.sqlite-journal")).expect("journal");
            let main = fs::read(&live).expect("main");
            fs::write(dir.path().join("saved-journal"), journal).expect("save");
            fs::write(dir.path().join("saved-main"), main).expect("save");
            conn.execute_batch("ROLLBACK").expect("rollback");
        }
        fs::copy(dir.path().join("saved-main"), &live).expect("restore main");
        fs::copy(dir.path().join("saved-journal"), dir.path().join("live.sqlite-journal")).expect("journal");
        let live_before = fs::read(&live).expect("read");
        let journal_before = fs::read(dir.path().join("live.sqlite-journal")).expect("read");

        let copy = capture_database(&live, dir.path(), patient(&progress)).expect("capture");
        assert!(copy.hot_journal_rolled_back);
        assert_eq!(
            count_rows(&copy.path, "t").expect("count"),
            5,
            "the uncommitted delete is gone"
        );
        assert_eq!(fs::read(&live).expect("read"), live_before, "live file untouched");
        assert_eq!(
            fs::read(dir.path().join("live.sqlite-journal")).expect("read"),
            journal_before,
            "live journal untouched"
        );
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::*;

    #[test]
    fn a_copy_past_the_deadline_is_interrupted_as_out_of_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let live = dir.path().join("live.sqlite");
        let conn = Connection::open(&live).expect("open");
        conn.execute_batch(
            "CREATE TABLE t(v BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO t(v) SELECT randomblob(2000) FROM n;",
        )
        .expect("fill");
        drop(conn);
        let progress = Progress::default();
        let limits = CopyLimits {
            busy_deadline: Duration::from_secs(5),
            deadline: Some(Instant::now()),
            progress: &progress,
        };
        let err = capture_database(&live, dir.path(), limits).expect_err("interrupted");
        assert_eq!(err.error_type(), "StateTooLarge", "{err}");
        assert!(progress.overrun());
        // The same copy with time to spare succeeds and counts its bytes and time.
        let limits = CopyLimits {
            deadline: Some(Instant::now() + Duration::from_secs(600)),
            ..limits
        };
        let copy = capture_database(&live, dir.path(), limits).expect("copy");
        assert_eq!(count_rows(&copy.path, "t").expect("count"), 2000);
        assert!(progress.spent(Phase::Sqlite) > Duration::ZERO);
    }
}
