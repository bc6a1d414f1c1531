//! Per-gateway watchdog state, the incident log and event dedupe markers, behind the
//! [`StateStore`] trait (ARCHITECTURE.md section 3).
//!
//! One [`StateStore::save`] writes the new state, the dedupe marker of the event that caused it and the
//! incident record atomically: either the event is recorded as handled together with its effects, or
//! nothing changed and the caller learns why ([`StoreError::Conflict`] or [`StoreError::AlreadySeen`]).
//! The DynamoDB adapter lives in [`crate::aws::dynamodb`]; [`memory::MemoryStore`] is the in-memory fake
//! with the same semantics for tests of the core.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::aws_error::AwsError;

/// A gateway's state as stored, with the revision used for optimistic concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// Revision of this state: 1 for the first save, then one more per save.
    pub rev: u64,
    /// The phase recorded beside the state (readable without decoding it).
    pub phase: String,
    /// When the state was written, epoch seconds (wall clock of the writer; for people, not decisions).
    pub updated_at: i64,
    /// The state itself.
    pub state: T,
}

/// A dedupe marker: the key of an event (or action) already handled, kept until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenMarker {
    /// The dedupe key, e.g. `task#<arn>#<version>`.
    pub key: String,
    /// Epoch seconds after which DynamoDB's TTL may delete the marker.
    pub expires_at: i64,
}

/// One incident-log record, written (or overwritten) under its opening time.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    /// Epoch seconds the incident was opened: its key, so later saves of the same incident overwrite it.
    pub opened_at: i64,
    /// The incident as the core describes it (signals, actions, notifications, close).
    pub body: serde_json::Value,
    /// Epoch seconds after which DynamoDB's TTL may delete the record (90 days after opening).
    pub expires_at: i64,
}

/// Everything one [`StateStore::save`] writes, atomically.
#[derive(Debug, Clone)]
pub struct SaveRequest<'a, T> {
    /// The gateway id.
    pub gateway: &'a str,
    /// The new state.
    pub state: &'a T,
    /// The state's phase (`healthy`, `down`, ...), stored beside it for listing.
    pub phase: &'a str,
    /// The revision the caller loaded; `None` when the state must not exist yet.
    pub expected_rev: Option<u64>,
    /// The dedupe marker of the event being handled; the save fails with
    /// [`StoreError::AlreadySeen`] if it exists already.
    pub seen_marker: Option<SeenMarker>,
    /// The incident record to write with the state.
    pub incident: Option<IncidentRecord>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state changed since the caller loaded it (or exists though the caller expected none):
    /// reload, plan again and retry.
    #[error("state of gateway {gateway} changed concurrently (expected revision {})", expected_label(*.expected_rev))]
    Conflict {
        /// The gateway id.
        gateway: String,
        /// The revision the caller expected.
        expected_rev: Option<u64>,
    },
    /// The dedupe marker exists: the event was handled before. Nothing of the save was applied.
    #[error("event {key} of gateway {gateway} was already handled")]
    AlreadySeen {
        /// The gateway id.
        gateway: String,
        /// The dedupe key.
        key: String,
    },
    /// The table does not exist (or is not active) in this account and region.
    #[error("DynamoDB table {table} not found: check CLAWKEEPER_TABLE and the region")]
    TableNotFound {
        /// The configured table name.
        table: String,
        /// The SDK error.
        #[source]
        source: AwsError,
    },
    /// A stored item is not what clawkeeper writes (edited by hand, or written by an incompatible version).
    #[error("stored {what} of gateway {gateway} is unreadable: {reason}")]
    Corrupt {
        /// The gateway id.
        gateway: String,
        /// Which item, e.g. `state` or `incident`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
        /// The decoding error, when there is one.
        #[source]
        source: Option<serde_json::Error>,
    },
    /// The state could not be serialized.
    #[error("cannot serialize the state of gateway {gateway}")]
    Encode {
        /// The gateway id.
        gateway: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// Any other failed AWS call.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

fn expected_label(rev: Option<u64>) -> String {
    rev.map_or_else(|| "none".to_string(), |r| r.to_string())
}

impl StoreError {
    /// True when repeating the whole invocation later may succeed.
    ///
    /// A [`StoreError::Conflict`] is retried by the caller at once (reload and plan again), not by
    /// failing the invocation, so it is not reported as transient here.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Aws(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// Where the watchdog keeps its state. Saves are conditional on the revision the caller loaded.
pub trait StateStore {
    /// Loads the state of `gateway`; `None` when it was never saved.
    fn load<T: DeserializeOwned>(
        &self,
        gateway: &str,
    ) -> impl Future<Output = Result<Option<Versioned<T>>, StoreError>> + Send;

    /// Writes the state, the dedupe marker and the incident record in one transaction and returns the
    /// new revision. Nothing is written when it fails.
    fn save<T: Serialize + Sync>(
        &self,
        request: SaveRequest<'_, T>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Incident records of `gateway` opened at or after `since` (epoch seconds), oldest first.
    fn incidents(
        &self,
        gateway: &str,
        since: i64,
    ) -> impl Future<Output = Result<Vec<serde_json::Value>, StoreError>> + Send;

    /// True when the dedupe marker `key` of `gateway` exists.
    fn seen(&self, gateway: &str, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every stored gateway state, as `(gateway, state)`, in no particular order (for the reconciler).
    fn list_states<T: DeserializeOwned>(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, Versioned<T>)>, StoreError>> + Send;
}

pub mod memory {
    //! [`MemoryStore`]: an in-memory [`StateStore`](super::StateStore) with the DynamoDB adapter's
    //! conflict semantics, for tests of code that uses the store.

    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::sync::{Mutex, MutexGuard, PoisonError};

    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::{SaveRequest, StateStore, StoreError, Versioned};
    use crate::watch::time::now_secs;

    /// The in-memory store. Like DynamoDB before its TTL sweep, it keeps expired markers: a marker counts
    /// as seen until it is deleted.
    #[derive(Debug, Default)]
    pub struct MemoryStore {
        inner: Mutex<Inner>,
    }

    #[derive(Debug, Default)]
    struct Inner {
        /// gateway -> stored state (as JSON, like the table, so the types round-trip the same way).
        states: HashMap<String, Versioned<String>>,
        /// (gateway, key).
        seen: HashSet<(String, String)>,
        /// (gateway, opened_at) -> body.
        incidents: BTreeMap<(String, i64), serde_json::Value>,
    }

    impl MemoryStore {
        /// An empty store.
        pub fn new() -> Self {
            Self::default()
        }

        fn lock(&self) -> MutexGuard<'_, Inner> {
            // A test that panicked while holding the lock leaves consistent data: every write below
            // happens after all checks, so the poisoned state is still usable.
            self.inner.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    fn decode<T: DeserializeOwned>(gateway: &str, stored: &Versioned<String>) -> Result<Versioned<T>, StoreError> {
        let state = serde_json::from_str(&stored.state).map_err(|e| StoreError::Corrupt {
            gateway: gateway.to_string(),
            what: "state",
            reason: e.to_string(),
            source: Some(e),
        })?;
        Ok(Versioned {
            rev: stored.rev,
            phase: stored.phase.clone(),
            updated_at: stored.updated_at,
            state,
        })
    }

    impl StateStore for MemoryStore {
        async fn load<T: DeserializeOwned>(&self, gateway: &str) -> Result<Option<Versioned<T>>, StoreError> {
            let inner = self.lock();
            inner.states.get(gateway).map(|s| decode(gateway, s)).transpose()
        }

        async fn save<T: Serialize + Sync>(&self, request: SaveRequest<'_, T>) -> Result<u64, StoreError> {
            let gateway = request.gateway.to_string();
            let json = serde_json::to_string(request.state).map_err(|source| StoreError::Encode {
                gateway: gateway.clone(),
                source,
            })?;
            let mut inner = self.lock();
            // Same precedence as the DynamoDB adapter: a handled event is reported as such even when the
            // state moved on too, so the caller drops the event instead of planning it again.
            if let Some(marker) = &request.seen_marker
                && inner.seen.contains(&(gateway.clone(), marker.key.clone()))
            {
                return Err(StoreError::AlreadySeen {
                    gateway,
                    key: marker.key.clone(),
                });
            }
            let current = inner.states.get(&gateway).map(|s| s.rev);
            if current != request.expected_rev {
                return Err(StoreError::Conflict {
                    gateway,
                    expected_rev: request.expected_rev,
                });
            }
            let rev = request.expected_rev.map_or(1, |r| r + 1);
            inner.states.insert(
                gateway.clone(),
                Versioned {
                    rev,
                    phase: request.phase.to_string(),
                    updated_at: now_secs(),
                    state: json,
                },
            );
            if let Some(marker) = request.seen_marker {
                inner.seen.insert((gateway.clone(), marker.key));
            }
            if let Some(incident) = request.incident {
                inner
                    .incidents
                    .insert((gateway, incident.opened_at.max(0)), incident.body);
            }
            Ok(rev)
        }

        async fn incidents(&self, gateway: &str, since: i64) -> Result<Vec<serde_json::Value>, StoreError> {
            let inner = self.lock();
            Ok(inner
                .incidents
                .range((gateway.to_string(), since.max(0))..=(gateway.to_string(), i64::MAX))
                .map(|(_, body)| body.clone())
                .collect())
        }

        async fn seen(&self, gateway: &str, key: &str) -> Result<bool, StoreError> {
            Ok(self.lock().seen.contains(&(gateway.to_string(), key.to_string())))
        }

        async fn list_states<T: DeserializeOwned>(&self) -> Result<Vec<(String, Versioned<T>)>, StoreError> {
            let inner = self.lock();
            inner
                .states
                .iter()
                .map(|(gateway, stored)| Ok((gateway.clone(), decode(gateway, stored)?)))
                .collect()
        }
    }
}
