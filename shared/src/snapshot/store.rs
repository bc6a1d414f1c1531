//! The object store a snapshot run needs, as a small capability trait: S3 in production
//! ([`crate::aws::s3::S3Store`]), an in-memory fake in tests. The core never sees an SDK type.

use std::future::Future;

use tokio::sync::mpsc;

use crate::aws_error::AwsError;

/// One message of a streamed upload. The upload completes only on [`Part::Finish`]: a
/// producer that fails or disappears leaves an upload that is aborted, never completed.
#[derive(Debug)]
pub enum Part {
    /// The next part of the object (at least the store's minimum part size, except the last).
    Data(Vec<u8>),
    /// Everything was sent: complete the object.
    Finish,
}

/// What a streamed upload wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Bytes written.
    pub bytes: u64,
    /// Number of parts.
    pub parts: u32,
}

/// Why a streamed upload did not complete. It was aborted in both cases.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] AwsError),
    /// The producer stopped without [`Part::Finish`].
    #[error("the archive producer stopped before the end of the archive")]
    ProducerStopped,
}

/// An object listed under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written (epoch milliseconds), when the store says.
    pub last_modified_millis: Option<i64>,
}

/// A multipart upload that was started and neither completed nor aborted (a run that was
/// killed mid-upload leaves one behind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The key it would have written.
    pub key: String,
    /// Its upload id.
    pub upload_id: String,
    /// When it was started (milliseconds since the epoch), when the store says.
    pub initiated_millis: Option<i64>,
}

/// The object store operations of snapshots and restores.
pub trait ObjectStore: Send + Sync {
    /// Minimum size of every part but the last (5 MiB on S3).
    fn min_part_size(&self) -> usize;

    /// Writes `key` from a stream of parts; completes on [`Part::Finish`], aborts otherwise.
    fn put_stream(
        &self,
        key: &str,
        content_type: &str,
        parts: mpsc::Receiver<Part>,
    ) -> impl Future<Output = Result<Uploaded, UploadError>> + Send;

    /// Writes a small object in one request.
    fn put_bytes(
        &self,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Reads a small object; `None` when it does not exist.
    fn get_bytes(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, AwsError>> + Send;

    /// Every object under `prefix`.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<ObjectInfo>, AwsError>> + Send;

    /// Deletes `keys` (missing ones are not an error).
    fn delete(&self, keys: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Streams an object into a local file; `false` when it does not exist.
    fn download(&self, key: &str, to: &std::path::Path) -> impl Future<Output = Result<bool, AwsError>> + Send;

    /// Streams an object into `chunks`, in order; `false` when it does not exist. Stops early
    /// without error when the receiver goes away (the reader has its own answer then).
    fn read_stream(
        &self,
        key: &str,
        chunks: mpsc::Sender<Vec<u8>>,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;

    /// Multipart uploads in progress under `prefix`.
    fn pending_uploads(&self, prefix: &str) -> impl Future<Output = Result<Vec<PendingUpload>, AwsError>> + Send;

    /// Aborts one multipart upload (its parts are freed; the key is never written).
    fn abort_upload(&self, key: &str, upload_id: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}
