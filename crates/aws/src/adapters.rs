//! Every AWS adapter a function may use, built once from the [`Config`] at init: one SDK
//! configuration, one client per service, each pointed at the resources the configuration names.
//! A function's `main` builds this and hands it to its handler; nothing else constructs a client.

use aws_config::SdkConfig;
use clawkeeper_core::config::Config;
use clawkeeper_core::engine::Ports;
use clawkeeper_core::ports::NoGatewayAdmin;

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
}

impl Adapters {
    /// Loads the SDK configuration from the environment ([`super::load_sdk_config`]) and builds
    /// every adapter for `config`.
    pub async fn from_config(config: &Config) -> Self {
        Self::new(super::load_sdk_config(config.timings.aws_attempt).await, config)
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
        }
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
