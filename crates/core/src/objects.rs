//! What the object store port ([`crate::ports::ObjectStore`]) speaks: streamed parts, listings and
//! pending uploads. The stream ends are traits ([`PartSource`], [`ChunkSink`]) so the core needs no
//! async runtime; the snapshot engine plugs its channels into them.

use std::future::Future;

use crate::aws_error::AwsError;

/// One message of a streamed upload. The upload completes only on [`Part::Finish`]: a
/// producer that fails or disappears leaves an upload that is aborted, never completed.
#[derive(Debug)]
pub enum Part {
    /// The next part of the object (at least the store's minimum part size, except the last).
    Data(Vec<u8>),
    /// Everything was sent: complete the object, whose CRC-64/NVME over every byte sent the
    /// producer computed as it wrote them (the store checks it against what it received).
    Finish {
        /// The producer's CRC-64/NVME of the whole object.
        crc64nvme: u64,
    },
}

/// What a streamed upload wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Bytes written.
    pub bytes: u64,
    /// Number of parts.
    pub parts: u32,
    /// The CRC-64/NVME of the whole object as the store computed it from what it received (S3's
    /// full-object checksum), when the store reports one: equal to the producer's own CRC of the
    /// bytes it sent, it proves the stored object is the one written without reading it back.
    pub crc64nvme: Option<u64>,
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

/// Where a streamed upload pulls its parts from (the archive writer's channel in production).
pub trait PartSource: Send {
    /// The next part; `None` when the producer went away without [`Part::Finish`].
    fn next_part(&mut self) -> impl Future<Output = Option<Part>> + Send;
}

/// Where a streamed read pushes the object's bytes, in order.
pub trait ChunkSink: Send {
    /// Hands on one chunk; `false` when the reader went away (it has its own answer then).
    fn push(&mut self, chunk: Vec<u8>) -> impl Future<Output = bool> + Send;
}
