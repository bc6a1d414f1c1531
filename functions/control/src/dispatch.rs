//! One owner request: parsed strictly, attributed to its caller, checked against the operators,
//! dispatched to its action. It arrives as the event itself (a direct invoke: automation, `aws
//! lambda invoke`, the CLI with `--direct`) or as the JSON body of a function URL call (`url.rs`),
//! whose answer is an HTTP response.

use clawkeeper_aws::FunctionError;
use clawkeeper_aws::adapters::watching;
use clawkeeper_aws::lambda::moment;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

use crate::app::{App, Shared};
use crate::caller::Caller;
use crate::request::{self, Request};
use crate::{restore, url};

/// Answers one invocation: a function URL call with a URL response (always `Ok`: a function error
/// would reach the HTTP caller as a bare 502), a direct invoke with the answer or its error.
pub async fn handle(shared: &Shared, event: LambdaEvent<Value>) -> Result<Value, FunctionError> {
    let LambdaEvent { payload, context } = event;
    if url::is_url_event(&payload) {
        let outcome = match url::parse(&payload) {
            Ok(call) => run(shared, &call.request, &call.caller, &context).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &outcome {
            tracing::warn!(error_type = e.error_type, error = %e.message, "control URL request not answered with 200");
        }
        return Ok(url::response(outcome));
    }
    run(shared, &payload, &Caller::claimed(&context), &context).await
}

/// Parses one owner request, checks that `caller` may ask for it, and runs its action.
async fn run(shared: &Shared, payload: &Value, caller: &Caller, context: &Context) -> Result<Value, FunctionError> {
    // The fleet as it is now (owner requests are rare: one read each), with what another warm
    // process registered a moment ago. With the registry unreadable, the fleet last known (else
    // the seeds): status, history and the rest still answer for what they can read, and
    // register and unregister read the registry themselves.
    let (config, fleet) = match shared.adapters.watched_fresh(&shared.config).await {
        Ok(watched) => watched,
        Err(e) => {
            tracing::warn!(error = %e, "gateway registry unreadable; answering with the fleet last known");
            watching(&shared.config, e.last_known)
        }
    };
    let app = &App {
        config,
        fleet,
        seeds: &shared.config,
        adapters: &shared.adapters,
        functions: &shared.functions,
        operators: &shared.operators,
    };
    let request = request::parse(payload, &app.config).inspect_err(|e| {
        tracing::warn!(error_type = e.error_type, error = %e.message, "refused control request");
    })?;
    tracing::info!(action = request.action(), by = %caller, verified = caller.verified_arn().is_some(), "control request");
    app.operators.authorize(request.action(), caller).inspect_err(|e| {
        tracing::warn!(action = request.action(), by = %caller, error = %e.message, "refused: not an operator");
    })?;
    // What the log, the notices and the answers record: the ARN, or the claim marked as one.
    let by = caller.render();
    let at = moment(context);
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
        Request::Register { gateway, owner_email } => app.register(&gateway, owner_email.as_deref(), &by).await,
        Request::Unregister { gateway } => app.unregister(&gateway, &by).await,
        Request::Gateways => app.gateways().await,
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
