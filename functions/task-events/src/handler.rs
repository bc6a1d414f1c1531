//! One ECS event through the watchdog: parse it, find its gateway, run the engine, answer what
//! was done.

use clawkeeper_aws::Adapters;
use clawkeeper_aws::FunctionError;
use clawkeeper_aws::lambda::moment;
use clawkeeper_core::Config;
use clawkeeper_core::engine::{self, EngineError};
use clawkeeper_core::registry::Fleet;
use clawkeeper_core::watch::ecs_event::NO_GATEWAY;
use clawkeeper_core::watch::{Dedupe, Input, Parsed, parse_ecs_event};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

/// What a warm process keeps between events.
pub struct App {
    pub config: Config,
    pub adapters: Adapters,
}

/// Runs one ECS event through the watchdog; a malformed event fails so the retry path keeps it.
pub async fn handle(app: &App, invocation: LambdaEvent<Value>) -> Result<Value, FunctionError> {
    let at = moment(&invocation.context);
    let event = invocation.payload;
    let parse = |gateways: &[clawkeeper_core::Gateway]| {
        parse_ecs_event(&event, gateways).map_err(|e| {
            let id = event.get("id").and_then(Value::as_str).unwrap_or("<no id>");
            tracing::error!(event_id = id, error = %e, "malformed ECS event; failing so the retry path keeps it");
            FunctionError::new("MalformedEvent", e.to_string())
        })
    };
    // The fleet that knows the event's gateway: read again at once when the cached one does not
    // (registered a moment ago). An unreadable registry fails the event (retried, then kept in the
    // dead-letter queue) unless the fleet last known has its gateway.
    let of_a_gateway = |fleet: &Fleet| !matches!(parse_ecs_event(&event, &fleet.gateways()), Ok(Parsed::Ignored { reason }) if reason.ends_with(NO_GATEWAY));
    let (config, _) = app.adapters.watched_or_known(&app.config, of_a_gateway).await?;
    let parsed = parse(&config.gateways)?;
    let (gateway_id, signal, dedupe) = match parsed {
        Parsed::Ignored { reason } => {
            tracing::debug!(reason = %reason, "event ignored");
            return Ok(json!({ "ignored": reason }));
        }
        Parsed::Signal {
            gateway,
            signal,
            dedupe,
        } => (gateway, signal, dedupe),
    };
    let Some(gateway) = config.gateway(&gateway_id) else {
        return Err(FunctionError::new(
            "Internal",
            format!("signal for gateway {gateway_id} that is not configured"),
        ));
    };
    let dedupe_key = match &dedupe {
        Dedupe::Key(key) => Some(key.as_str()),
        Dedupe::TaskVersion { .. } => None,
    };
    let ports = app.adapters.engine_ports();
    let outcome = engine::handle(&ports, gateway, &config.policy, &Input::Signal(signal), dedupe_key, at)
        .await
        .map_err(engine_failure)?;
    Ok(json!({
        "gateway": gateway.id,
        "duplicate": outcome.duplicate,
        "executed": outcome.executed,
        "phase": outcome.phase,
        "rev": outcome.rev,
    }))
}

fn engine_failure(e: EngineError) -> FunctionError {
    tracing::error!(error = %e, transient = e.is_transient(), "event not fully handled; Lambda will retry it");
    let error_type = if e.is_transient() { "Retryable" } else { "Failed" };
    FunctionError::new(error_type, e.to_string())
}
