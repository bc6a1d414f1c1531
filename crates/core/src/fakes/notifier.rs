//! Notifier fakes: one that records, one that never answers.

use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use super::{lock, take_one, transient};
use crate::aws_error::AwsError;
use crate::notifier::Publication;
use crate::ports::Notifier;

/// Records every publication; fails the first `fail` publishes with a transient fault.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    sent: Mutex<Vec<Publication>>,
    fail: AtomicUsize,
    latency: Duration,
}

impl RecordingNotifier {
    /// A notifier whose first `n` publishes fail (throttled).
    pub fn failing_first(n: usize) -> Self {
        Self {
            fail: AtomicUsize::new(n),
            ..Self::default()
        }
    }

    /// Every publish takes `latency` (blocking the thread): long enough for a racing invocation to
    /// reach the outbox meanwhile.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// What was published, in order.
    pub fn sent(&self) -> Vec<Publication> {
        lock(&self.sent).clone()
    }
}

impl Notifier for RecordingNotifier {
    async fn publish(&self, p: &Publication) -> Result<String, AwsError> {
        if take_one(&self.fail) {
            return Err(transient("sns", "Publish"));
        }
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
        let mut sent = lock(&self.sent);
        sent.push(p.clone());
        Ok(format!("msg-{}", sent.len()))
    }
}

/// A publish that never returns: the process is killed while SNS has the request.
#[derive(Debug, Default)]
pub struct HangingNotifier;

impl Notifier for HangingNotifier {
    async fn publish(&self, _: &Publication) -> Result<String, AwsError> {
        std::future::pending().await
    }
}
