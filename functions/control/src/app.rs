//! The control function's adapters in one place, generic over the capability traits so every
//! action runs against in-memory fakes in tests and against AWS in Lambda.

use std::time::Duration;

use clawkeeper_shared::engine::{self, EngineError, Outcome, Ports, SnapshotRequester};
use clawkeeper_shared::notifier::Notifier;
use clawkeeper_shared::snapshot::ObjectStore;
use clawkeeper_shared::store::StateStore;
use clawkeeper_shared::watch::Input;
use clawkeeper_shared::watch::plan::owner::{OwnerAction, OwnerInput};
use clawkeeper_shared::{Config, FunctionError, Gateway};

use crate::functions::Functions;

/// Everything an action may use.
pub struct App<S, N, E, R, O, F> {
    /// The function's configuration.
    pub config: Config,
    /// Watchdog state and incident log.
    pub store: S,
    /// The owners' topic.
    pub notifier: N,
    /// ECS, read and control.
    pub ecs: E,
    /// Asynchronous snapshot requests the policy may plan.
    pub snapshots: R,
    /// The snapshot bucket.
    pub objects: O,
    /// Synchronous invokes of the snapshot and restore functions.
    pub functions: F,
    /// How often a restore polls ECS while it waits.
    pub poll: Duration,
}

impl<S, N, E, R, O, F> App<S, N, E, R, O, F>
where
    S: StateStore + Sync,
    N: Notifier + Sync,
    E: clawkeeper_shared::ecs::Ecs + clawkeeper_shared::ecs::EcsControl + Sync,
    R: SnapshotRequester + Sync,
    O: ObjectStore,
    F: Functions + Sync,
{
    /// The configured gateway (parsing already checked the id).
    pub fn gateway(&self, id: &str) -> Result<&Gateway, FunctionError> {
        self.config
            .gateway(id)
            .ok_or_else(|| FunctionError::new("UnknownGateway", format!("unknown gateway {id:?}")))
    }

    /// Runs an owner's request through the watchdog engine: the one way state changes, so the
    /// watchdog sees the owner's wish and the incident log records who asked.
    pub async fn owner(
        &self,
        gateway: &Gateway,
        by: &str,
        action: OwnerAction,
        now: i64,
    ) -> Result<Outcome, FunctionError> {
        let ports = Ports {
            store: &self.store,
            notifier: &self.notifier,
            ecs: &self.ecs,
            snapshots: &self.snapshots,
        };
        let input = Input::Owner(OwnerInput {
            by: by.to_string(),
            action,
        });
        engine::handle(&ports, gateway, &self.config.policy, &input, None, now)
            .await
            .map_err(engine_failure)
    }
}

/// An engine failure as the caller sees it: what failed, and that a retry may help.
pub fn engine_failure(e: EngineError) -> FunctionError {
    tracing::error!(error = %e, transient = e.is_transient(), "owner request not fully carried out");
    let error_type = if e.is_transient() { "Retryable" } else { "ActionFailed" };
    FunctionError::new(
        error_type,
        format!("{e}; what was not done stays in the watchdog's outbox and is retried by its next run"),
    )
}

/// Epoch seconds now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
