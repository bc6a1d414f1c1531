//! [`MemoryStore`]: an in-memory [`StateStore`] with the DynamoDB adapter's conflict semantics.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::permit::StopPermit;
use crate::ports::{StateStore, StopPermits};
use crate::store::{SaveRequest, StoreError, Versioned};
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
    /// gateway -> its stop permit.
    permits: HashMap<String, StopPermit>,
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
    let state = StoreError::parse_stored(gateway, "state", &stored.state)?;
    Ok(Versioned {
        rev: stored.rev,
        phase: stored.phase.clone(),
        updated_at: stored.updated_at,
        state,
    })
}

impl StopPermits for MemoryStore {
    async fn issue(&self, permit: &StopPermit) -> Result<(), StoreError> {
        self.lock().permits.insert(permit.gateway.clone(), permit.clone());
        Ok(())
    }

    async fn take(&self, gateway: &str) -> Result<Option<StopPermit>, StoreError> {
        Ok(self.lock().permits.remove(gateway))
    }
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

    async fn load_many<T: DeserializeOwned + Send>(
        &self,
        gateways: &[String],
    ) -> Result<HashMap<String, Versioned<T>>, StoreError> {
        let inner = self.lock();
        gateways
            .iter()
            .filter_map(|gateway| inner.states.get(gateway).map(|stored| (gateway, stored)))
            .map(|(gateway, stored)| Ok((gateway.clone(), decode(gateway, stored)?)))
            .collect()
    }
}

/// A [`MemoryStore`] whose first `races` saves lose a race: another writer (a reconciler tick, say)
/// stores the same state one revision ahead just before each of them.
#[derive(Debug, Default)]
pub struct RacingStore {
    inner: MemoryStore,
    races: std::sync::atomic::AtomicUsize,
}

impl RacingStore {
    /// A store whose first `races` saves conflict.
    pub fn losing_first(races: usize) -> Self {
        Self {
            inner: MemoryStore::new(),
            races: std::sync::atomic::AtomicUsize::new(races),
        }
    }
}

impl StateStore for RacingStore {
    async fn load<T: DeserializeOwned>(&self, gateway: &str) -> Result<Option<Versioned<T>>, StoreError> {
        self.inner.load(gateway).await
    }

    async fn save<T: Serialize + Sync>(&self, request: SaveRequest<'_, T>) -> Result<u64, StoreError> {
        if super::take_one(&self.races) {
            let current = self.inner.load::<serde_json::Value>(request.gateway).await?;
            // Nothing stored yet: the rival writes an empty state (every field at its default).
            let state = current
                .as_ref()
                .map_or_else(|| serde_json::json!({}), |v| v.state.clone());
            self.inner
                .save(SaveRequest {
                    gateway: request.gateway,
                    state: &state,
                    phase: "unknown",
                    expected_rev: current.map(|v| v.rev),
                    seen_marker: None,
                    incident: None,
                })
                .await?;
        }
        self.inner.save(request).await
    }

    async fn incidents(&self, gateway: &str, since: i64) -> Result<Vec<serde_json::Value>, StoreError> {
        self.inner.incidents(gateway, since).await
    }

    async fn seen(&self, gateway: &str, key: &str) -> Result<bool, StoreError> {
        self.inner.seen(gateway, key).await
    }

    async fn load_many<T: DeserializeOwned + Send>(
        &self,
        gateways: &[String],
    ) -> Result<HashMap<String, Versioned<T>>, StoreError> {
        self.inner.load_many(gateways).await
    }
}
