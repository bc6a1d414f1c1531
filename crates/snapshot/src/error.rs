//! The one error type of snapshot capture, upload, verification and restore. Each variant maps
//! to a stable `error_type` for Lambda callers, and says whether a retry may help.

use std::path::PathBuf;

use clawkeeper_core::aws_error::AwsError;

/// What went wrong with a snapshot or a restore.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A root the snapshot needs (the state dir) is missing or not a directory.
    #[error("state directory {path} is missing or not a directory; is the volume mounted?")]
    StateMissing {
        /// The path that was expected.
        path: PathBuf,
    },
    /// Reading the live state failed.
    #[error("reading {path}: {source}")]
    Read {
        /// The file or directory being read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A SQLite database could not be captured consistently.
    #[error("SQLite database {path}: {problem}")]
    Sqlite {
        /// The live database.
        path: PathBuf,
        /// What failed (busy past the deadline, the copy, the integrity check...).
        problem: String,
    },
    /// Writing the archive stream (or the private scratch copies) failed.
    #[error("writing the archive: {0}")]
    Write(#[source] std::io::Error),
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] AwsError),
    /// The archive uploader stopped before the archive was complete.
    #[error("the archive upload was aborted: {0}")]
    UploadAborted(String),
    /// An archive failed verification: it is not safe or not complete.
    #[error("archive rejected: {0}")]
    InvalidArchive(String),
    /// A sidecar or manifest could not be (de)serialized.
    #[error("{what}: {source}")]
    Json {
        /// Which document.
        what: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// A request or precondition is not met (restore target not empty, unknown snapshot...).
    #[error("{0}")]
    Refused(String),
    /// A blocking worker failed to run to completion.
    #[error("internal: {0}")]
    Internal(String),
    /// A restore was asked for without the caller's word that no gateway task runs.
    #[error(
        "restore refused: the caller did not confirm that the gateway is stopped (`confirm_stopped: true`, sent by \
         `control` after ECS reports no task); restore never writes under a running gateway"
    )]
    NotConfirmedStopped,
    /// The state dir shows a live writer (a gateway lock with fresh writes, or files changing).
    #[error("restore refused: the state looks in use by a running gateway: {0}")]
    LiveWriter(String),
    /// The requested snapshot does not exist.
    #[error("{0}")]
    UnknownSnapshot(String),
    /// Swapping the restored state into place failed; what was rolled back is said.
    #[error("swapping the restored state into place failed: {0}")]
    Swap(String),
    /// A restore killed during its swap left a journal whose renames match nothing on disk (a
    /// path both journaled ends miss, or moved by hand since): nothing was touched. The message
    /// names the paths and what to do.
    #[error("an interrupted restore could not be recovered, and nothing was changed: {0}")]
    InterruptedSwap(String),
    /// Too little of the invocation is left to start a long step: it was not started, and the
    /// state in place is as it was.
    #[error(
        "not starting the {step}: {} s of the invocation remain and it needs at least {} s; the state in place \
         is unchanged. Restore again (the next try starts over), with a longer timeout if this repeats",
        remaining.as_secs(),
        reserve.as_secs()
    )]
    DeadlineTooClose {
        /// The step that was not started (`download`, `verification and extraction`, `swap`).
        step: &'static str,
        /// What was left of the deadline.
        remaining: std::time::Duration,
        /// What the step keeps in reserve.
        reserve: std::time::Duration,
    },
    /// The local scratch dir (Lambda's `/tmp`) cannot hold the archive: refused before download.
    #[error(
        "the snapshot archive is {needed} bytes but {} has {available} bytes free: {advice}",
        path.display()
    )]
    ScratchTooSmall {
        /// The scratch dir.
        path: std::path::PathBuf,
        /// Bytes the download needs (the archive and a margin).
        needed: u64,
        /// Bytes free there.
        available: u64,
        /// What to do, with the size to set.
        advice: String,
    },
    /// The state cannot be archived inside one invocation: too much of it for the time left, or a
    /// database larger than the scratch space its private copy needs. Said before the capture
    /// starts when the sizes show it, or as soon as the capture falls behind the deadline, never
    /// by a timeout; nothing is published.
    #[error("the state is too large for one snapshot run: {0}")]
    StateTooLarge(String),
    /// The state volume cannot hold the restored state beside the one kept as
    /// `<name>.pre-restore-<stamp>`: refused before download.
    #[error(
        "restoring needs {needed} bytes on the state volume of {} but only {usable} can be used (free space \
         less a margin the gateway needs to run): free space there (old `*.pre-restore-*` dirs can go once \
         you no longer need them) and restore again",
        path.display()
    )]
    StateVolumeTooSmall {
        /// The state root.
        path: std::path::PathBuf,
        /// Bytes the restored files take (from the sidecar).
        needed: u64,
        /// Free bytes less the margin.
        usable: u64,
    },
}

impl SnapshotError {
    /// A stable name for Lambda's `errorType`, alarms and callers.
    pub fn error_type(&self) -> &'static str {
        match self {
            SnapshotError::StateMissing { .. } => "StateMissing",
            SnapshotError::Read { .. } => "StateReadFailed",
            SnapshotError::Sqlite { .. } => "SqliteCaptureFailed",
            SnapshotError::Write(_) => "ArchiveWriteFailed",
            SnapshotError::Store(e) if e.is_transient() => "AwsTransient",
            SnapshotError::Store(_) => "AwsRequestFailed",
            SnapshotError::UploadAborted(_) => "UploadAborted",
            SnapshotError::InvalidArchive(_) => "InvalidArchive",
            SnapshotError::Json { .. } => "InvalidDocument",
            SnapshotError::Refused(_) => "Refused",
            SnapshotError::Internal(_) => "Internal",
            SnapshotError::NotConfirmedStopped => "NotConfirmedStopped",
            SnapshotError::LiveWriter(_) => "GatewayRunning",
            SnapshotError::UnknownSnapshot(_) => "UnknownSnapshot",
            SnapshotError::Swap(_) => "RestoreSwapFailed",
            SnapshotError::InterruptedSwap(_) => "InterruptedSwapUnresolved",
            SnapshotError::DeadlineTooClose { .. } => "DeadlineTooClose",
            SnapshotError::ScratchTooSmall { .. } => "ScratchTooSmall",
            SnapshotError::StateVolumeTooSmall { .. } => "StateVolumeTooSmall",
            SnapshotError::StateTooLarge(_) => "StateTooLarge",
        }
    }

    pub(crate) fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SnapshotError::Read {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sqlite(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        SnapshotError::Sqlite {
            path: path.into(),
            problem: problem.into(),
        }
    }
}
