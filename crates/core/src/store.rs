//! Per-gateway watchdog state, the incident log and event dedupe markers, behind the
//! [`StateStore`] trait (ARCHITECTURE.md section 3).
//!
//! One [`StateStore::save`] writes the new state, the dedupe marker of the event that caused it and the
//! incident record atomically: either the event is recorded as handled together with its effects, or
//! nothing changed and the caller learns why ([`StoreError::Conflict`] or [`StoreError::AlreadySeen`]).
//! The DynamoDB adapter lives in `clawkeeper-aws`; [`crate::fakes::MemoryStore`] is the in-memory fake
//! with the same semantics.

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
    /// Parses a JSON document stored for `gateway` (`what`: `state`, `incident`); one that does not
    /// parse is [`StoreError::Corrupt`], with serde's reason.
    pub fn parse_stored<T: DeserializeOwned>(gateway: &str, what: &'static str, json: &str) -> Result<T, StoreError> {
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
            gateway: gateway.to_string(),
            what,
            reason: e.to_string(),
            source: Some(e),
        })
    }

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
