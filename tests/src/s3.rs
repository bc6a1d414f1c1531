//! S3 in moto: the one way tests build an S3 client, and what they read and write in the
//! snapshot bucket ([`BUCKET`]).

use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::consts::BUCKET;

/// An S3 client for `sdk`'s endpoint, path-style (moto's buckets are not DNS names).
pub fn client(sdk: &SdkConfig) -> Client {
    Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
}

/// Creates [`BUCKET`]; returns a client.
pub async fn create_bucket(sdk: &SdkConfig) -> Client {
    let s3 = client(sdk);
    s3.create_bucket().bucket(BUCKET).send().await.expect("create bucket");
    s3
}

/// Puts `body` at `key` in [`BUCKET`].
pub async fn put(s3: &Client, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("put");
}

/// The bytes at `key` in [`BUCKET`].
pub async fn get(s3: &Client, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("get")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// The keys under `prefix` in [`BUCKET`], sorted.
pub async fn keys(s3: &Client, prefix: &str) -> Vec<String> {
    let answer = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(prefix)
        .send()
        .await
        .expect("list");
    let mut keys: Vec<String> = answer
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    keys.sort();
    keys
}

/// The multipart uploads still open in [`BUCKET`], as (key, upload id).
pub async fn open_uploads(s3: &Client) -> Vec<(String, String)> {
    let answer = s3
        .list_multipart_uploads()
        .bucket(BUCKET)
        .send()
        .await
        .expect("uploads");
    answer
        .uploads()
        .iter()
        .map(|u| {
            (
                u.key().unwrap_or_default().to_string(),
                u.upload_id().unwrap_or_default().to_string(),
            )
        })
        .collect()
}
