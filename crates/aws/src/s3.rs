//! S3 adapter of [`ObjectStore`]: multipart uploads fed part by part from the archive stream, a
//! few parts in flight, with S3's full-object CRC-64/NVME checksum (aborted unless the producer
//! says it finished), small JSON objects, listing, deletes and
//! streamed downloads. Path-style addressing when an endpoint override is set (moto in tests).

use std::io::Write;
use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier,
};
use clawkeeper_core::aws_error::{AwsError, Retry};
use clawkeeper_core::objects::{ChunkSink, ObjectInfo, Part, PartSource, PendingUpload, UploadError, Uploaded};
use clawkeeper_core::ports::ObjectStore;

use super::FromSdk;

/// S3's minimum size of every multipart part but the last.
pub const MIN_PART_SIZE: usize = 5 << 20;

/// How long a `CompleteMultipartUpload` may take, all attempts together. S3 assembles the object
/// before it answers, which for an archive of gigabytes can take minutes (it keeps the connection
/// open meanwhile): the ordinary attempt timeout of an AWS call (10 s) would give up on a
/// completion that is going well, leaving an archive without its sidecar.
pub const COMPLETE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// One bucket of snapshots.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    part_size: usize,
}

impl S3Store {
    /// A store for `bucket`, with 8 MiB parts. Path-style addressing when the endpoint is
    /// overridden (moto in tests has no per-bucket host names).
    pub fn new(sdk: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Self {
            client: Client::from_conf(config),
            bucket: bucket.into(),
            part_size: 8 << 20,
        }
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Aborts the upload of a failed stream, best effort: the bucket's lifecycle rule removes
    /// incomplete uploads eventually.
    async fn abort(&self, key: &str, upload_id: &str) {
        if let Err(e) = self.abort_upload(key, upload_id).await {
            tracing::warn!(key, error = %e, "could not abort a failed multipart upload");
        }
    }

    /// Sends the parts as they come, [`PARTS_IN_FLIGHT`] at a time, then completes the upload.
    /// Each part carries its CRC-64/NVME (S3 refuses a part whose bytes do not match it) and the
    /// completed object's full-object CRC is returned for the caller to compare with its own.
    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        parts: &mut impl PartSource,
    ) -> Result<Uploaded, UploadError> {
        let mut sending = tokio::task::JoinSet::new();
        let mut completed = Vec::new();
        let mut bytes = 0u64;
        let mut number = 0i32;
        let produced_crc = loop {
            while sending.len() >= PARTS_IN_FLIGHT {
                completed.push(next_sent(&mut sending).await?);
            }
            match parts.next_part().await {
                Some(Part::Data(data)) => {
                    number = number.saturating_add(1);
                    bytes += data.len() as u64;
                    let request = self
                        .client
                        .upload_part()
                        .bucket(&self.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .part_number(number)
                        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
                        .body(ByteStream::from(data));
                    sending.spawn(async move {
                        let answer = request
                            .send()
                            .await
                            .map_err(|e| AwsError::from_sdk("s3", "UploadPart", e))?;
                        Ok::<_, AwsError>(
                            CompletedPart::builder()
                                .part_number(number)
                                .set_e_tag(answer.e_tag)
                                .set_checksum_crc64_nvme(answer.checksum_crc64_nvme)
                                .build(),
                        )
                    });
                }
                Some(Part::Finish { crc64nvme }) => break crc64nvme,
                None => return Err(UploadError::ProducerStopped),
            }
        };
        while !sending.is_empty() {
            completed.push(next_sent(&mut sending).await?);
        }
        completed.sort_by_key(|part| part.part_number);
        let parts_count = u32::try_from(completed.len()).unwrap_or(u32::MAX);
        let answer = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .checksum_type(ChecksumType::FullObject)
            // S3 refuses to complete an object whose bytes do not have this CRC (BadDigest).
            .checksum_crc64_nvme(encode_crc64(produced_crc))
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
            .customize()
            .config_override(
                aws_sdk_s3::config::Builder::default().timeout_config(
                    aws_config::timeout::TimeoutConfig::builder()
                        .connect_timeout(super::sdk::CONNECT_TIMEOUT)
                        .operation_attempt_timeout(COMPLETE_TIMEOUT)
                        .operation_timeout(COMPLETE_TIMEOUT)
                        .build(),
                ),
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("s3", "CompleteMultipartUpload", e))?;
        let crc64nvme = match answer.checksum_crc64_nvme.as_deref().and_then(decode_crc64) {
            Some(crc) => Some(crc),
            // A store that completes without saying its checksum (some S3-compatible ones) may
            // still keep one: ask for it rather than have the caller download the object.
            None => self.stored_crc64(key).await,
        };
        Ok(Uploaded {
            bytes,
            parts: parts_count,
            crc64nvme,
        })
    }

    /// The full-object CRC-64/NVME the store keeps for `key` (`HeadObject` in checksum mode);
    /// `None` when it keeps none or the question fails (the caller then reads the object back).
    async fn stored_crc64(&self, key: &str) -> Option<u64> {
        let answer = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        match answer {
            Ok(head) => head.checksum_crc64_nvme.as_deref().and_then(decode_crc64),
            Err(e) => {
                let e = AwsError::from_sdk("s3", "HeadObject", e);
                tracing::warn!(key, error = %e, "could not read the stored checksum of the upload");
                None
            }
        }
    }
}

/// Parts sent at once: enough to keep the link busy while one is being answered, few enough to
/// keep memory at a few parts (each held until S3 has it).
pub const PARTS_IN_FLIGHT: usize = 4;

/// The next part S3 answered, or the first failure (the other sends stop with the set).
async fn next_sent(
    sending: &mut tokio::task::JoinSet<Result<CompletedPart, AwsError>>,
) -> Result<CompletedPart, UploadError> {
    match sending.join_next().await {
        Some(Ok(sent)) => Ok(sent?),
        Some(Err(e)) => Err(UploadError::Store(AwsError {
            service: "s3",
            operation: "UploadPart",
            code: None,
            retry: Retry::Transient,
            message: format!("the part upload task failed: {e}"),
        })),
        None => Err(UploadError::ProducerStopped),
    }
}

/// S3's base64 CRC-64/NVME (8 bytes, big-endian) as a number; `None` when it is not one.
pub fn decode_crc64(encoded: &str) -> Option<u64> {
    let raw = aws_smithy_types::base64::decode(encoded).ok()?;
    Some(u64::from_be_bytes(raw.try_into().ok()?))
}

/// A CRC-64/NVME as S3 writes it: base64 of its 8 big-endian bytes.
pub fn encode_crc64(crc: u64) -> String {
    aws_smithy_types::base64::encode(crc.to_be_bytes())
}

impl ObjectStore for S3Store {
    fn min_part_size(&self) -> usize {
        self.part_size.max(MIN_PART_SIZE)
    }

    async fn put_stream(
        &self,
        key: &str,
        content_type: &str,
        mut parts: impl PartSource,
    ) -> Result<Uploaded, UploadError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("s3", "CreateMultipartUpload", e))?;
        let upload_id = created.upload_id.ok_or_else(|| AwsError {
            service: "s3",
            operation: "CreateMultipartUpload",
            code: None,
            retry: Retry::Transient,
            message: "the answer has no upload id".into(),
        })?;
        let result = self.upload_parts(key, &upload_id, &mut parts).await;
        if result.is_err() {
            // Closing the channel first unblocks a producer waiting to send the next part.
            drop(parts);
            self.abort(key, &upload_id).await;
        }
        result
    }

    async fn put_bytes(&self, key: &str, content_type: &str, body: Vec<u8>) -> Result<(), AwsError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("s3", "PutObject", e))?;
        Ok(())
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, AwsError> {
        let answer = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(answer) => answer,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(AwsError::from_sdk("s3", "GetObject", e)),
        };
        let body = answer.body.collect().await.map_err(body_read_error)?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, AwsError> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("s3", "ListObjectsV2", e))?;
            for object in answer.contents() {
                if let Some(key) = object.key() {
                    objects.push(ObjectInfo {
                        key: key.to_string(),
                        size: u64::try_from(object.size().unwrap_or(0)).unwrap_or(0),
                        last_modified_millis: object.last_modified().and_then(|t| t.to_millis().ok()),
                    });
                }
            }
            match answer.next_continuation_token {
                Some(next) if answer.is_truncated == Some(true) => token = Some(next),
                _ => break,
            }
        }
        Ok(objects)
    }

    async fn delete(&self, keys: &[String]) -> Result<(), AwsError> {
        // DeleteObjects takes at most 1000 keys.
        for chunk in keys.chunks(1000) {
            let ids = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| AwsError {
                    service: "s3",
                    operation: "DeleteObjects",
                    code: None,
                    retry: Retry::Permanent,
                    message: e.to_string(),
                })?;
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|e| AwsError {
                    service: "s3",
                    operation: "DeleteObjects",
                    code: None,
                    retry: Retry::Permanent,
                    message: e.to_string(),
                })?;
            let answer = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("s3", "DeleteObjects", e))?;
            if let Some(failed) = answer.errors().first() {
                return Err(AwsError {
                    service: "s3",
                    operation: "DeleteObjects",
                    code: failed.code().map(str::to_string),
                    retry: Retry::Transient,
                    message: format!(
                        "{} of {} keys not deleted, e.g. {}",
                        answer.errors().len(),
                        chunk.len(),
                        failed.key().unwrap_or("?")
                    ),
                });
            }
        }
        Ok(())
    }

    async fn download(&self, key: &str, to: &Path) -> Result<bool, AwsError> {
        let answer = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(answer) => answer,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(false),
            Err(e) => return Err(AwsError::from_sdk("s3", "GetObject", e)),
        };
        let io_error = |e: std::io::Error| AwsError {
            service: "s3",
            operation: "GetObject",
            code: None,
            retry: Retry::Permanent,
            message: format!("writing {}: {e}", to.display()),
        };
        let mut file = std::fs::File::create(to).map_err(io_error)?;
        let mut body = answer.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(body_read_error)?;
            file.write_all(&chunk).map_err(io_error)?;
        }
        file.sync_all().map_err(io_error)?;
        Ok(true)
    }

    async fn read_stream(&self, key: &str, mut chunks: impl ChunkSink) -> Result<bool, AwsError> {
        let answer = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(answer) => answer,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(false),
            Err(e) => return Err(AwsError::from_sdk("s3", "GetObject", e)),
        };
        let mut body = answer.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(body_read_error)?;
            if !chunks.push(chunk.to_vec()).await {
                // The reader stopped (it refused the archive): no point reading on.
                break;
            }
        }
        Ok(true)
    }

    async fn pending_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>, AwsError> {
        let mut pending = Vec::new();
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let answer = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("s3", "ListMultipartUploads", e))?;
            for upload in answer.uploads() {
                if let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) {
                    pending.push(PendingUpload {
                        key: key.to_string(),
                        upload_id: id.to_string(),
                        initiated_millis: upload.initiated().and_then(|t| t.to_millis().ok()),
                    });
                }
            }
            if answer.is_truncated != Some(true) {
                break;
            }
            key_marker = answer.next_key_marker;
            id_marker = answer.next_upload_id_marker;
            if key_marker.is_none() && id_marker.is_none() {
                break;
            }
        }
        Ok(pending)
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), AwsError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("s3", "AbortMultipartUpload", e))?;
        Ok(())
    }
}

/// A `GetObject` body that broke off mid-read (a dropped connection): worth retrying.
fn body_read_error(e: impl std::fmt::Display) -> AwsError {
    AwsError {
        service: "s3",
        operation: "GetObject",
        code: None,
        retry: Retry::Transient,
        message: format!("reading the body: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{decode_crc64, encode_crc64};

    #[test]
    fn decodes_the_base64_big_endian_crc_s3_returns() {
        // CRC-64/NVME of "123456789" (the catalogue check value) as S3 writes it.
        assert_eq!(decode_crc64("rosUhgp5mIg="), Some(0xAE8B_1486_0A79_9888));
        assert_eq!(decode_crc64("AAAAAAAAAAE="), Some(1));
    }

    #[test]
    fn encodes_what_it_decodes() {
        assert_eq!(encode_crc64(0xAE8B_1486_0A79_9888), "rosUhgp5mIg=");
        for crc in [0, 1, u64::MAX, 0x0123_4567_89AB_CDEF] {
            assert_eq!(decode_crc64(&encode_crc64(crc)), Some(crc));
        }
    }

    #[test]
    fn anything_but_eight_base64_bytes_is_not_a_crc() {
        // Seven bytes, nine bytes, not base64, empty: no number rather than a wrong one.
        for bad in ["rosUhgp5mA==", "rosUhgp5mIgA", "not base64!", ""] {
            assert_eq!(decode_crc64(bad), None, "{bad:?}");
        }
    }
}
