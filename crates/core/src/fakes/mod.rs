//! In-memory fakes of every port in [`crate::ports`], for tests of the core and of the crates
//! around it (built with the `fakes` feature). Each keeps what it was asked so a test can assert
//! on it, and each can be told to fail, the way its AWS counterpart fails.

mod admin;
mod ecs;
mod notifier;
mod registry;
mod snapshots;
mod store;

pub use admin::RecordingAdmin;
pub use ecs::FakeEcs;
pub use notifier::{HangingNotifier, RecordingNotifier};
pub use registry::{MemoryRegistry, RecordingSubscriptions};
pub use snapshots::RecordingSnapshots;
pub use store::{MemoryStore, RacingStore};

use crate::aws_error::{AwsError, Retry};

/// A transient AWS fault of `service`'s `operation`, as a throttled or timed-out call reports it.
pub fn transient(service: &'static str, operation: &'static str) -> AwsError {
    AwsError {
        service,
        operation,
        code: Some("ThrottlingException".into()),
        retry: Retry::Transient,
        message: "injected fault".into(),
    }
}

/// Locks a fake's record, even after a panicking test thread held it: every record is appended to
/// whole, so a poisoned one is still consistent.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes one from `budget` when any is left: the fakes' "fail the next n calls".
fn take_one(budget: &std::sync::atomic::AtomicUsize) -> bool {
    use std::sync::atomic::Ordering;
    budget
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}
