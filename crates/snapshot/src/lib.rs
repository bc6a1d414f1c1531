//! Snapshots of a gateway's state: a consistent capture of the OpenClaw state dir (and the
//! auth-profile key dir beside it) into an OpenClaw backup archive, streamed to an object store
//! with a sidecar summary written last, and the reader that verifies and extracts such archives
//! for restore (docs/ARCHITECTURE.md).
//!
//! The pieces, from the bottom up:
//! - [`exclude`]: which paths OpenClaw itself leaves out of a backup (pure rules).
//! - [`inventory`]: a walk of the assets that never follows links out of a root, and the
//!   fingerprint that tells whether anything changed since the last snapshot.
//! - [`sqlite`]: one database through SQLite's online backup API into a private compacted copy.
//! - [`capture`]: the archive itself, tar then gzip into any `Write`, in bounded memory.
//! - [`verify`]: the safety checks of an archive and its extraction into a fresh directory.
//! - [`job`]: one snapshot run against the core's object store port
//!   ([`clawkeeper_core::ports::ObjectStore`]): skip unchanged state, upload,
//!   sidecar last, abort on failure.
//! - [`retention`]: which snapshots to keep (pure).
//! - [`restore`]: a verified archive staged beside the live state and swapped in by journaled
//!   renames that a restore killed half way rolls forward or back.
//! - [`space`]: free space of the scratch dir and the state volume, checked before a download.
//! - [`status`]: the failure record the reconciler turns into a `snapshot_failed` notice.

pub mod budget;
pub mod capture;
pub mod catalog;
pub mod clock;
pub mod error;
pub mod exclude;
pub mod inventory;
pub mod job;
pub mod layout;
pub mod restore;
pub mod retention;
pub mod space;
pub mod sqlite;
pub mod status;

pub mod verify;

pub use capture::{CaptureOptions, CaptureReport, capture};
pub use error::SnapshotError;
pub use inventory::{Asset, AssetKind};
pub use job::{SnapshotAnswer, SnapshotOutcome, SnapshotRequest, SnapshotSummary, take_snapshot};
pub use layout::Sidecar;
