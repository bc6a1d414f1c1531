//! The snapshot function's failure record: how a failed snapshot reaches the owner from a VPC
//! without NAT. The function runs beside the EFS volume with only the S3 and DynamoDB gateway
//! endpoints, so it cannot publish to SNS; it records the failure in the gateway's snapshot status
//! in the state table instead ([`SnapshotStatusStore`], reachable through the free endpoint), and
//! the next run that saves the state ends it. The reconciler, which can reach SNS, reads the
//! fleet's statuses in batches and turns a record into the facts of a `snapshot_failed` notice with
//! [`failure_observation`], deduplicated by [`FailureRecord::notice_key`].
//!
//! The record holds the error type and message of a [`SnapshotError`](crate::SnapshotError):
//! paths, SQLite and AWS error text, never file contents (no error carries any).

use clawkeeper_core::ports::{SnapshotStatus, SnapshotStatusStore};
use clawkeeper_core::store::StoreError;
use clawkeeper_core::watch::SnapshotCheck;
use clawkeeper_core::watch::health::SnapshotFailure;
use serde::{Deserialize, Serialize};

use crate::clock;

/// Longest message kept in a record (messages are for a person, not a dump).
pub const MAX_MESSAGE_CHARS: usize = 600;

/// The last failed snapshot run of a gateway, while no run has succeeded since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// Gateway id.
    pub gateway: String,
    /// When this failure happened (RFC 3339).
    pub failed_at: String,
    /// Same, in milliseconds since the epoch.
    pub failed_at_millis: i64,
    /// When the current run of failures began (the first failure since the last success).
    pub first_failed_at_millis: i64,
    /// Failed runs in a row.
    pub consecutive_failures: u32,
    /// The trigger of the failed run (`scheduled`, `task-stopped`, ...).
    pub trigger: String,
    /// Stable error type (`SqliteCaptureFailed`, `StateMissing`, `AwsTransient`...).
    pub error_type: String,
    /// What went wrong, for a person (no secrets, cut to [`MAX_MESSAGE_CHARS`]).
    pub message: String,
}

impl FailureRecord {
    /// The record of a failure at `now_millis`, continuing the run of failures in `previous`.
    pub fn next(
        previous: Option<&FailureRecord>,
        gateway: &str,
        trigger: &str,
        error_type: &str,
        message: &str,
        now_millis: i64,
    ) -> Self {
        let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        Self {
            gateway: gateway.to_string(),
            failed_at: clock::rfc3339(now_millis),
            failed_at_millis: now_millis,
            first_failed_at_millis: previous.map_or(now_millis, |p| p.first_failed_at_millis.min(now_millis)),
            consecutive_failures: previous.map_or(1, |p| p.consecutive_failures.saturating_add(1)),
            trigger: trigger.to_string(),
            error_type: error_type.to_string(),
            message,
        }
    }

    /// Dedupe key of the notice: one notice per run of failures (a new one only after a
    /// success cleared the record and a new failure began another run).
    pub fn notice_key(&self) -> String {
        format!("{}/snapshot-failed/{}", self.gateway, self.first_failed_at_millis)
    }
}

/// The record that stands for one the table holds but that cannot be read: reported as a failure
/// of its own, so it is never silently dropped.
pub fn unreadable_record(gateway: &str) -> FailureRecord {
    FailureRecord::next(
        None,
        gateway,
        "unknown",
        "InvalidDocument",
        "the snapshot failure record could not be read",
        0,
    )
}

/// Records a failed run, counting on from the previous record. Best effort by design of the
/// caller: a failure to write it is logged there, the run fails either way.
pub async fn record_failure<S: SnapshotStatusStore>(
    store: &S,
    gateway: &str,
    trigger: &str,
    error_type: &str,
    message: &str,
    now_millis: i64,
) -> Result<FailureRecord, StoreError> {
    // An unreadable previous record starts a new run of failures (and so a new notice).
    let previous = store
        .snapshot_status::<FailureRecord>(gateway)
        .await
        .ok()
        .flatten()
        .and_then(|status| status.failure);
    let record = FailureRecord::next(previous.as_ref(), gateway, trigger, error_type, message, now_millis);
    store.record_failure(gateway, &record).await?;
    Ok(record)
}

/// What a gateway's snapshot status tells the policy: when the state was last saved, and the
/// failure record while failures run. No status at all (`None`) is a gateway no run has saved
/// yet; a status that cannot be read still says there is a failure record, never nothing.
pub fn status_facts(
    gateway: &str,
    status: Option<&Result<SnapshotStatus<FailureRecord>, StoreError>>,
) -> (SnapshotCheck, Option<SnapshotFailure>) {
    match status {
        None => (SnapshotCheck::NoneFound, None),
        Some(Ok(status)) => (
            status.saved_at_millis.map_or(SnapshotCheck::NoneFound, |ms| {
                SnapshotCheck::NewestAt(ms.div_euclid(1000))
            }),
            status.failure.as_ref().map(failure_observation),
        ),
        Some(Err(e)) => {
            tracing::warn!(gateway, error = %e, "unreadable snapshot status");
            (
                SnapshotCheck::NotChecked,
                Some(failure_observation(&unreadable_record(gateway))),
            )
        }
    }
}

/// What the reconciler hands the policy about a failure record: the facts and the dedupe key;
/// the policy renders the `snapshot_failed` notice (with the deployment's commands). Pure.
pub fn failure_observation(record: &FailureRecord) -> SnapshotFailure {
    SnapshotFailure {
        key: record.notice_key(),
        first_failed_at: record.first_failed_at_millis.div_euclid(1000),
        failed_at: record.failed_at_millis.div_euclid(1000),
        consecutive_failures: record.consecutive_failures,
        trigger: record.trigger.clone(),
        error_type: record.error_type.clone(),
        message: record.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_count_a_run_of_failures_and_dedupe_by_its_start() {
        let first = FailureRecord::next(None, "home", "scheduled", "StateMissing", "no volume", 1_000_000);
        assert_eq!(first.consecutive_failures, 1);
        let second = FailureRecord::next(Some(&first), "home", "task-stopped", "AwsTransient", "slow", 4_600_000);
        assert_eq!(second.consecutive_failures, 2);
        assert_eq!(second.first_failed_at_millis, 1_000_000);
        assert_eq!(
            first.notice_key(),
            second.notice_key(),
            "one notice per run of failures"
        );
        let failure = failure_observation(&second);
        assert_eq!(failure.key, "home/snapshot-failed/1000000");
        assert_eq!((failure.first_failed_at, failure.failed_at), (1000, 4600));
        assert_eq!(
            (failure.consecutive_failures, failure.error_type.as_str()),
            (2, "AwsTransient")
        );
        let long = "x".repeat(5000);
        let cut = FailureRecord::next(None, "home", "scheduled", "Internal", &long, 0);
        assert_eq!(cut.message.chars().count(), MAX_MESSAGE_CHARS);
        assert_eq!(unreadable_record("home").error_type, "InvalidDocument");
    }

    #[test]
    fn a_status_gives_the_saved_time_and_the_run_of_failures() {
        let failing = FailureRecord::next(None, "home", "scheduled", "StateMissing", "no volume", 9_000_500);
        let status = Ok(SnapshotStatus {
            saved_at_millis: Some(7_200_999),
            failure: Some(failing),
        });
        let (check, failure) = status_facts("home", Some(&status));
        assert_eq!(check, SnapshotCheck::NewestAt(7200));
        assert_eq!(failure.map(|f| f.key), Some("home/snapshot-failed/9000500".to_string()));

        let never_saved: Result<SnapshotStatus<FailureRecord>, StoreError> = Ok(SnapshotStatus {
            saved_at_millis: None,
            failure: None,
        });
        assert_eq!(
            status_facts("home", Some(&never_saved)),
            (SnapshotCheck::NoneFound, None)
        );
        assert_eq!(status_facts("home", None), (SnapshotCheck::NoneFound, None));

        let unreadable = Err(StoreError::Corrupt {
            gateway: "home".into(),
            what: "snapshot failure record",
            reason: "not JSON".into(),
            source: None,
        });
        let (check, failure) = status_facts("home", Some(&unreadable));
        assert_eq!(check, SnapshotCheck::NotChecked);
        assert_eq!(failure.map(|f| f.error_type), Some("InvalidDocument".to_string()));
    }
}
