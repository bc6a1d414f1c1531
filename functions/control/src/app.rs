//! What every control action works with, and the one way an action changes a gateway: an owner
//! request through the watchdog engine.

use clawkeeper_aws::Adapters;
use clawkeeper_aws::FunctionError;
use clawkeeper_core::engine::{self, EngineError, Moment, Outcome};
use clawkeeper_core::registry::Fleet;
use clawkeeper_core::watch::Input;
use clawkeeper_core::watch::plan::owner::{OwnerAction, OwnerInput};
use clawkeeper_core::{Config, Gateway};
use std::sync::Arc;

use crate::functions::LambdaFunctions;
use crate::operators::Operators;

/// What a warm process keeps: its configuration (with the seed gateways), the AWS adapters built
/// once from it, synchronous invokes of the snapshot and restore functions, and its operators.
pub struct Shared {
    /// The function's configuration.
    pub config: Config,
    /// The state table, topic, ECS, snapshot requests and the snapshot bucket.
    pub adapters: Adapters,
    /// Synchronous invokes of the snapshot and restore functions.
    pub functions: LambdaFunctions,
    /// Who may pause, silence and restore (`CLAWKEEPER_OPERATOR_PRINCIPALS`; none: anyone).
    pub operators: Operators,
}

/// Everything one request's action may use: the configuration watching the current fleet, and
/// the process's adapters.
pub struct App<'s> {
    /// The configuration, its gateways those of the fleet as this request found it.
    pub config: Config,
    /// The fleet itself (where each gateway comes from, owners).
    pub fleet: Arc<Fleet>,
    /// The environment's configuration (its gateways are the seeds).
    pub seeds: &'s Config,
    /// The state table, topic, ECS, snapshot requests and the snapshot bucket.
    pub adapters: &'s Adapters,
    /// Synchronous invokes of the snapshot and restore functions.
    pub functions: &'s LambdaFunctions,
    /// Who may pause, silence and restore.
    pub operators: &'s Operators,
}

impl App<'_> {
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
        at: Moment,
    ) -> Result<Outcome, FunctionError> {
        let ports = self.adapters.engine_ports();
        let input = Input::Owner(OwnerInput {
            by: by.to_string(),
            action,
        });
        engine::handle(&ports, gateway, &self.config.policy, &input, None, at)
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
