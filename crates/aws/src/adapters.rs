//! Every AWS adapter a function may use, built once from the [`Config`] at init: one SDK
//! configuration, one client per service, each pointed at the resources the configuration names.
//! A function's `main` builds this and hands it to its handler; nothing else constructs a client.

use aws_config::SdkConfig;
use std::sync::Arc;

use clawkeeper_core::config::Config;
use clawkeeper_core::engine::Ports;
use clawkeeper_core::fleet::{FleetCache, FleetError};
use clawkeeper_core::ports::NoGatewayAdmin;
use clawkeeper_core::registry::Fleet;

use super::dynamodb::DynamoStore;
use super::ecs::EcsClient;
use super::invoke::SnapshotInvoker;
use super::s3::S3Store;
use super::secrets::SecretsClient;
use super::sns::SnsNotifier;

/// The adapters behind the core's ports.
pub struct Adapters {
    /// The state table (watchdog state, outbox, incidents, dedupe markers).
    pub store: DynamoStore,
    /// The owners' topic.
    pub notifier: SnsNotifier,
    /// ECS reads and changes.
    pub ecs: EcsClient,
    /// Asynchronous snapshot requests (a no-op with a warning when no snapshot function is set).
    pub snapshots: SnapshotInvoker,
    /// The snapshot bucket.
    pub objects: S3Store,
    /// Gateway tokens in Secrets Manager.
    pub secrets: SecretsClient,
    /// The SDK configuration they share, for a function's own extra client.
    pub sdk: SdkConfig,
    /// The watched gateways: the configuration's seeds and the registry (in the state table).
    pub fleet: FleetCache,
}

impl Adapters {
    /// Every adapter for `config`, reaching AWS as `env` says ([`super::sdk_config`]).
    pub fn from_config(config: &Config, env: &super::SdkEnvironment) -> Self {
        Self::new(super::sdk_config(env, config.timings.aws_attempt), config)
    }

    /// Builds every adapter for `config` on an SDK configuration.
    pub fn new(sdk: SdkConfig, config: &Config) -> Self {
        Self {
            store: DynamoStore::new(&sdk, config.table.clone()),
            notifier: SnsNotifier::new(&sdk, config.topic_arn.clone()),
            ecs: EcsClient::new(&sdk),
            snapshots: SnapshotInvoker::new(&sdk, config.snapshot_function.clone()),
            objects: S3Store::new(&sdk, config.bucket.clone()),
            secrets: SecretsClient::new(&sdk),
            sdk,
            fleet: FleetCache::new(config.gateways.clone()),
        }
    }

    /// `config` watching the fleet (seeds and registry, read at most every
    /// [`clawkeeper_core::fleet::FLEET_TTL`], and again at once unless the cached fleet satisfies
    /// `known`: an input about a gateway registered a moment ago), with the fleet itself. When the
    /// registry cannot be read but the last fleet known (else the seeds) satisfies `known`, it goes
    /// on with that one: the registry's outage then stops nothing of a gateway already known. An
    /// input about an unknown one gets the error, so it is retried rather than dropped.
    pub async fn watched_or_known(
        &self,
        config: &Config,
        known: impl Fn(&Fleet) -> bool,
    ) -> Result<(Config, Arc<Fleet>), FleetError> {
        match self.fleet.knowing(&self.store, &known).await {
            Ok(fleet) => Ok(watching(config, fleet)),
            Err(e) if known(&e.last_known) => {
                tracing::warn!(error = %e, "gateway registry unreadable; going on with the fleet last known");
                Ok(watching(config, e.last_known))
            }
            Err(e) => Err(e),
        }
    }

    /// `config` watching the fleet read now (the reconciler's and control's every invocation).
    pub async fn watched_fresh(&self, config: &Config) -> Result<(Config, Arc<Fleet>), FleetError> {
        Ok(watching(config, self.fleet.fresh(&self.store).await?))
    }

    /// The ports the watchdog engine drives, without the gateway's admin RPC (only the
    /// reconciler reaches it: [`Adapters::engine_ports_with`]).
    pub fn engine_ports(&self) -> Ports<'_, DynamoStore, SnsNotifier, EcsClient, SnapshotInvoker> {
        self.engine_ports_with(&NoGatewayAdmin)
    }

    /// The ports the watchdog engine drives, with `admin` for the gateway's admin RPC.
    pub fn engine_ports_with<'a, G>(
        &'a self,
        admin: &'a G,
    ) -> Ports<'a, DynamoStore, SnsNotifier, EcsClient, SnapshotInvoker, G> {
        Ports {
            store: &self.store,
            notifier: &self.notifier,
            ecs: &self.ecs,
            snapshots: &self.snapshots,
            admin,
        }
    }
}

/// `config` with the gateways of `fleet`, beside the fleet itself.
pub fn watching(config: &Config, fleet: Arc<Fleet>) -> (Config, Arc<Fleet>) {
    (config.with_gateways(fleet.gateways()), fleet)
}
