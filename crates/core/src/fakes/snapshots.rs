//! A snapshot requester that records what it was asked.

use std::sync::Mutex;

use super::lock;
use crate::aws_error::AwsError;
use crate::ports::SnapshotRequester;

/// Records `(gateway, trigger)` of every request.
#[derive(Debug, Default)]
pub struct RecordingSnapshots {
    requests: Mutex<Vec<(String, String)>>,
}

impl RecordingSnapshots {
    /// The requests, in order.
    pub fn requests(&self) -> Vec<(String, String)> {
        lock(&self.requests).clone()
    }
}

impl SnapshotRequester for RecordingSnapshots {
    async fn request_snapshot(&self, gateway: &str, trigger: &str) -> Result<(), AwsError> {
        lock(&self.requests).push((gateway.to_string(), trigger.to_string()));
        Ok(())
    }
}
