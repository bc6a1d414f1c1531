//! One owner request: parsed strictly, attributed to its caller, dispatched to its action.

use clawkeeper_aws::FunctionError;
use clawkeeper_aws::lambda::moment;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

use crate::app::App;
use crate::request::{self, Request};
use crate::{caller, restore};

/// Parses one owner request, names its caller, and runs its action.
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, FunctionError> {
    let request = request::parse(&event.payload, &app.config).inspect_err(|e| {
        tracing::warn!(error_type = e.error_type, error = %e.message, "refused control request");
    })?;
    let by = caller::identify(&event.context);
    tracing::info!(action = request.action(), by = %by, "control request");
    let at = moment(&event.context);
    let answer = match request {
        Request::Status { gateway } => app.status(gateway.as_deref()).await,
        Request::Restart { gateway, force } => app.restart(&gateway, force, &by, at).await,
        Request::Pause { gateway } => app.pause(&gateway, &by, at).await,
        Request::Resume { gateway } => app.resume(&gateway, &by, at).await,
        Request::Silence {
            gateway,
            minutes,
            reason,
        } => app.silence(&gateway, minutes, reason, &by, at).await,
        Request::History { gateway, days } => app.history(gateway.as_deref(), days, at).await,
        Request::Snapshot { gateway } => app.snapshot(&gateway, &by, at).await,
        Request::Snapshots { gateway, limit } => app.list_snapshots(gateway.as_deref(), limit).await,
        Request::Test { gateway } => app.test(gateway.as_deref(), &by, at).await,
        Request::Restore {
            gateway,
            snapshot,
            stop_timeout_secs,
            health_timeout_secs,
        } => {
            let waits = restore::Waits {
                stop_timeout_secs,
                health_timeout_secs,
            };
            let report = app.restore(&gateway, &snapshot, waits, &by, at).await?;
            serde_json::to_value(report).map_err(|e| FunctionError::new("Internal", format!("restore report: {e}")))
        }
    };
    answer.inspect_err(|e| tracing::warn!(error_type = e.error_type, error = %e.message, "control action failed"))
}
