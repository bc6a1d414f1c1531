//! The fleet a warm process watches: the seeds of its environment merged with the registry
//! ([`crate::registry::merge`]), read at most once per `ttl`, and again at once when an input names
//! a gateway the cached fleet does not know, so a gateway registered a moment ago is watched from
//! its first event. (An event of a service that is no gateway's costs one more `Query` then; its
//! Lambda invocation costs far more, and an event of a new gateway must never be dropped.)
//!
//! A registry that cannot be read is an error with the last fleet known (or the seeds): each caller
//! decides whether it may go on with it (the reconciler does, and fails the run so the alarm
//! fires) or must fail so its input is retried (an event of a gateway it does not know).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::gateway::Gateway;
use crate::ports::GatewayRegistry;
use crate::registry::{Fleet, RegistryContents, merge};
use crate::store::StoreError;

/// How long a read registry serves a warm process: below the reconciler's minute, so each tick
/// sees the registrations of the minute before.
pub const FLEET_TTL: Duration = Duration::from_secs(30);

/// The registry could not be read.
#[derive(Debug, thiserror::Error)]
#[error("gateway registry unreadable: {source}")]
pub struct FleetError {
    /// The read's error.
    #[source]
    pub source: StoreError,
    /// The last fleet read, else the seeds alone.
    pub last_known: Arc<Fleet>,
}

impl FleetError {
    /// True when a later attempt may read it.
    pub fn is_transient(&self) -> bool {
        self.source.is_transient()
    }
}

struct Cached {
    read_at: Instant,
    fleet: Arc<Fleet>,
}

/// The cached fleet of one warm process.
pub struct FleetCache {
    seeds: Vec<Gateway>,
    ttl: Duration,
    cached: Mutex<Option<Cached>>,
}

impl FleetCache {
    /// A cache over `seeds` (the environment's gateways) with the default TTL.
    pub fn new(seeds: Vec<Gateway>) -> Self {
        Self::with_ttl(seeds, FLEET_TTL)
    }

    /// A cache with its own TTL (tests).
    pub fn with_ttl(seeds: Vec<Gateway>, ttl: Duration) -> Self {
        Self {
            seeds,
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The fleet, read again when the cached one is older than the TTL.
    pub async fn current<R: GatewayRegistry + Sync>(&self, registry: &R) -> Result<Arc<Fleet>, FleetError> {
        self.read_unless_younger_than(registry, self.ttl).await
    }

    /// The fleet for an input: the cached one when `known` says it knows the input's gateway,
    /// else read again.
    pub async fn knowing<R: GatewayRegistry + Sync>(
        &self,
        registry: &R,
        known: impl Fn(&Fleet) -> bool,
    ) -> Result<Arc<Fleet>, FleetError> {
        // Expired and unreadable: a fresh read would fail the same way.
        let fleet = self.current(registry).await?;
        if known(&fleet) {
            return Ok(fleet);
        }
        self.fresh(registry).await
    }

    /// The fleet read now (the reconciler's once-a-minute pass: one `Query` per run).
    pub async fn fresh<R: GatewayRegistry + Sync>(&self, registry: &R) -> Result<Arc<Fleet>, FleetError> {
        self.read_unless_younger_than(registry, Duration::ZERO).await
    }

    /// The fleet as last read, else the seeds alone.
    pub fn last_known(&self) -> Arc<Fleet> {
        self.lock().as_ref().map_or_else(
            || Arc::new(merge(&self.seeds, &RegistryContents::default())),
            |c| Arc::clone(&c.fleet),
        )
    }

    async fn read_unless_younger_than<R: GatewayRegistry + Sync>(
        &self,
        registry: &R,
        age: Duration,
    ) -> Result<Arc<Fleet>, FleetError> {
        if let Some(cached) = self.lock().as_ref()
            && cached.read_at.elapsed() < age
        {
            return Ok(Arc::clone(&cached.fleet));
        }
        match registry.read().await {
            Ok(contents) => {
                let fleet = Arc::new(merge(&self.seeds, &contents));
                for problem in &fleet.problems {
                    tracing::error!(problem = %problem, "gateway registry item skipped");
                }
                *self.lock() = Some(Cached {
                    read_at: Instant::now(),
                    fleet: Arc::clone(&fleet),
                });
                Ok(fleet)
            }
            Err(source) => Err(FleetError {
                source,
                last_known: self.last_known(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        // Every write replaces the whole value: a poisoned lock still holds a consistent one.
        self.cached.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::parse_gateway_object;
    use crate::fakes::MemoryRegistry;
    use crate::registry::Registration;

    fn registration(id: &str) -> Registration {
        Registration {
            id: id.into(),
            gateway: json!({"id": id, "cluster": "openclaw", "service": id}),
            owner_email: None,
            registered_at: 0,
            by: "test".into(),
            removed: false,
        }
    }

    fn ids(fleet: &Fleet) -> Vec<String> {
        fleet.members.iter().map(|m| m.gateway.id.clone()).collect()
    }

    #[tokio::test]
    async fn a_registration_is_seen_after_the_ttl_or_at_once_by_an_input_that_names_it() {
        let seed = parse_gateway_object(json!({"id":"home","cluster":"openclaw","service":"gw"})).expect("seed");
        let registry = MemoryRegistry::default();
        let cache = FleetCache::with_ttl(vec![seed], Duration::from_secs(3600));
        assert_eq!(ids(&cache.current(&registry).await.expect("read")), ["home"]);
        registry.put_registration(&registration("lab")).await.expect("put");
        // Within the TTL the cached fleet serves...
        assert_eq!(ids(&cache.current(&registry).await.expect("read")), ["home"]);
        assert_eq!(registry.reads(), 1);
        // ...unless an input names a gateway it does not know.
        let fleet = cache
            .knowing(&registry, |f| f.member("lab").is_some())
            .await
            .expect("read");
        assert_eq!(ids(&fleet), ["home", "lab"]);
        assert_eq!(registry.reads(), 2);
        // A known one reads nothing more.
        cache
            .knowing(&registry, |f| f.member("home").is_some())
            .await
            .expect("read");
        assert_eq!(registry.reads(), 2);

        let short = FleetCache::with_ttl(Vec::new(), Duration::ZERO);
        assert_eq!(ids(&short.current(&registry).await.expect("read")), ["lab"]);
        registry.put_registration(&registration("zoo")).await.expect("put");
        assert_eq!(ids(&short.current(&registry).await.expect("read")), ["lab", "zoo"]);
    }

    #[tokio::test]
    async fn an_unreadable_registry_is_an_error_carrying_the_last_fleet_known() {
        let registry = MemoryRegistry::default();
        registry.put_registration(&registration("lab")).await.expect("put");
        let cache = FleetCache::with_ttl(Vec::new(), Duration::ZERO);
        cache.current(&registry).await.expect("first read");
        registry.fail_next_reads(1);
        let e = cache.current(&registry).await.expect_err("unreadable");
        assert!(e.is_transient());
        assert_eq!(ids(&e.last_known), ["lab"]);
        assert!(e.to_string().contains("registry unreadable"), "{e}");
    }
}
