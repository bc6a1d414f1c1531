//! One SQLite database into a private, compacted, verified copy: SQLite's online backup API
//! reads the live file under SQLite's own locks (so a committing writer is waited for, never
//! torn), `PRAGMA integrity_check` must answer `ok`, then `VACUUM` drops free pages and the
//! copy is left in rollback-journal mode as one self-contained file. Sidecar files are never
//! copied.
//!
//! The live file is opened read-only. A hot journal (a writer died mid-transaction) cannot be
//! rolled back through a read-only connection, and must not be rolled back on the live file by
//! us either: the database and its journal are copied to a private directory and the rollback
//! happens there.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::SnapshotError;

/// Pages copied per backup step: small enough to let a live writer in between steps.
const PAGES_PER_STEP: i32 = 4096;
/// After this many restarts caused by concurrent writes, copy the rest in one locked step.
const MAX_RESTARTS: u32 = 3;

/// A verified, compacted copy of one database in a private scratch directory (removed on drop).
#[derive(Debug)]
pub struct SqliteCopy {
    /// The copy.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// True when a hot journal had to be rolled back first (on a private copy).
    pub hot_journal_rolled_back: bool,
    _scratch: tempfile::TempDir,
}

/// Captures the live database `live` into a private copy under `scratch`, waiting at most
/// `busy_deadline` for writers.
pub fn capture_database(live: &Path, scratch: &Path, busy_deadline: Duration) -> Result<SqliteCopy, SnapshotError> {
    let dir = tempfile::Builder::new()
        .prefix("clawkeeper-sqlite-")
        .tempdir_in(scratch)
        .map_err(SnapshotError::Write)?;
    let copy_path = dir.path().join("copy.sqlite");
    let deadline = Instant::now() + busy_deadline;
    let sql_err = |what: &str, e: rusqlite::Error| SnapshotError::sqlite(live, format!("{what}: {e}"));

    let mut hot_journal_rolled_back = false;
    let source = match open_live(live, deadline) {
        Ok(conn) => conn,
        Err(e) if is_read_only_error(&e) => {
            hot_journal_rolled_back = true;
            rollback_on_private_copy(live, dir.path())?
        }
        Err(e) => return Err(sql_err("opening read-only", e)),
    };
    let mut dest = Connection::open(&copy_path).map_err(|e| sql_err("creating the private copy", e))?;
    match backup(&source, &mut dest, deadline) {
        Ok(()) => {}
        Err(BackupFailure::Sqlite(e)) if is_read_only_error(&e) && !hot_journal_rolled_back => {
            // A writer died between our probe and the copy: same remedy as at open.
            drop(source);
            hot_journal_rolled_back = true;
            let source = rollback_on_private_copy(live, dir.path())?;
            backup(&source, &mut dest, deadline).map_err(|f| f.into_error(live))?;
        }
        Err(f) => return Err(f.into_error(live)),
    }

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
    // One self-contained file: rollback-journal mode (OpenClaw's mode on EFS), no free pages.
    dest.query_row("PRAGMA journal_mode=DELETE", [], |row| row.get::<_, String>(0))
        .map_err(|e| sql_err("journal_mode", e))?;
    dest.execute_batch("VACUUM").map_err(|e| sql_err("VACUUM", e))?;
    dest.close().map_err(|(_, e)| sql_err("closing the private copy", e))?;
    let bytes = fs::metadata(&copy_path).map_err(SnapshotError::Write)?.len();
    Ok(SqliteCopy {
        path: copy_path,
        bytes,
        hot_journal_rolled_back,
        _scratch: dir,
    })
}

fn open_live(live: &Path, deadline: Instant) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(live, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(deadline.saturating_duration_since(Instant::now()))?;
    // A read surfaces a hot journal now (SQLITE_READONLY_ROLLBACK), before the backup starts.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0))?;
    Ok(conn)
}

fn is_read_only_error(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ReadOnly)
}

/// Copies the database and its hot journal into `dir` and opens the copy read-write, which
/// makes SQLite roll the journal back there. The live files are only read.
fn rollback_on_private_copy(live: &Path, dir: &Path) -> Result<Connection, SnapshotError> {
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
    Ok(conn)
}

enum BackupFailure {
    Sqlite(rusqlite::Error),
    Busy,
}

impl BackupFailure {
    fn into_error(self, live: &Path) -> SnapshotError {
        match self {
            BackupFailure::Sqlite(e) => SnapshotError::sqlite(live, format!("online backup: {e}")),
            BackupFailure::Busy => {
                SnapshotError::sqlite(live, "online backup: still locked by a writer at the deadline")
            }
        }
    }
}

fn backup(source: &Connection, dest: &mut Connection, deadline: Instant) -> Result<(), BackupFailure> {
    let backup = Backup::new(source, dest).map_err(BackupFailure::Sqlite)?;
    let mut restarts = 0;
    let mut last_remaining = i32::MAX;
    let mut pause = Duration::from_millis(10);
    loop {
        // Small steps let a live writer commit between them; a write restarts the copy, and after
        // a few restarts the rest is copied in one step under one read lock.
        let pages = if restarts >= MAX_RESTARTS { -1 } else { PAGES_PER_STEP };
        match backup.step(pages).map_err(BackupFailure::Sqlite)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {
                let remaining = backup.progress().remaining;
                if remaining > last_remaining {
                    restarts += 1;
                }
                last_remaining = remaining;
            }
            StepResult::Busy | StepResult::Locked => {
                if Instant::now() >= deadline {
                    return Err(BackupFailure::Busy);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            // StepResult is non_exhaustive: treat anything new as "try again".
            #[allow(unreachable_patterns)]
            _ => std::thread::sleep(pause),
        }
    }
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

    #[test]
    fn a_copy_is_compacted_verified_and_single_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let live = dir.path().join("live.sqlite");
        make_db(&live, 400);
        let copy = capture_database(&live, dir.path(), Duration::from_secs(5)).expect("capture");
        assert!(!copy.hot_journal_rolled_back);
        assert_eq!(count_rows(&copy.path, "t").expect("count"), 200);
        assert!(
            copy.bytes < fs::metadata(&live).expect("meta").len(),
            "VACUUM dropped free pages"
        );
        let names: Vec<_> = fs::read_dir(copy.path.parent().expect("dir"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["copy.sqlite"], "no journal beside the copy");
        check_integrity(&copy.path).expect("ok");
    }

    #[test]
    fn a_hot_journal_is_rolled_back_on_a_private_copy_only() {
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

        let copy = capture_database(&live, dir.path(), Duration::from_secs(5)).expect("capture");
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
