//! One CloudWatch Logs delivery through the watchdog: decode it, classify each line, run each
//! channel signal (and each line that says why OpenClaw refused to start) through the engine under
//! the log event's id as its dedupe key.

use clawkeeper_aws::Adapters;
use clawkeeper_aws::FunctionError;
use clawkeeper_aws::lambda::moment;
use clawkeeper_core::engine;
use clawkeeper_core::health;
use clawkeeper_core::watch::time::now_secs;
use clawkeeper_core::watch::{ChannelEvent, ChannelSignal, Input, StartRefusalLine, start_refusal_cause};
use clawkeeper_core::{Config, Gateway};
use clawkeeper_openclaw::channel_log::{classify_line, decode_subscription};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

/// What a warm process keeps between deliveries.
pub struct App {
    pub config: Config,
    pub adapters: Adapters,
}

/// Decodes one delivery and runs each channel line it classifies through the engine, once per log event.
pub async fn handle(app: &App, invocation: LambdaEvent<Value>) -> Result<Value, FunctionError> {
    let start = moment(&invocation.context);
    let event = invocation.payload;
    let data = decode_subscription(&event).map_err(|e| {
        tracing::error!(error = %e, "undecodable log subscription payload; failing so the retry path keeps it");
        FunctionError::new("MalformedPayload", e.to_string())
    })?;
    if data.is_control() {
        tracing::info!("CloudWatch Logs control message acknowledged");
        return Ok(json!({ "control": true }));
    }
    let of_group = |g: &&clawkeeper_core::Gateway| g.log_group.as_deref() == Some(data.log_group.as_str());
    let (config, _) = app
        .adapters
        .watched_or_known(&app.config, |fleet| fleet.members.iter().any(|m| of_group(&&m.gateway)))
        .await?;
    let Some(gateway) = config.gateways.iter().find(of_group) else {
        // Retrying cannot help: the subscription points at a group no gateway is configured with.
        tracing::warn!(log_group = %data.log_group, events = data.log_events.len(), "log group of no configured gateway; ignored");
        return Ok(json!({ "ignored": format!("log group {} is not a configured gateway's", data.log_group) }));
    };
    let ports = app.adapters.engine_ports();
    let mut handled = Vec::new();
    let mut ignored = 0usize;
    let mut failures = Vec::new();
    for log_event in &data.log_events {
        let dedupe = format!("log/{}", log_event.id);
        // The line OpenClaw prints before it exits 78: kept in the state, so the stop event
        // task-events plans (before or after this) knows the cause without reading the logs.
        if let Some(cause) = start_refusal_cause(&log_event.message) {
            tracing::info!(gateway = %gateway.id, event_id = %log_event.id, cause = cause.as_str(), "start refusal line");
            let line = StartRefusalLine {
                cause,
                at: log_event.timestamp.div_euclid(1000),
            };
            match engine::handle(
                &ports,
                gateway,
                &app.config.policy,
                &Input::StartRefusalLogged(line),
                Some(&dedupe),
                start.at(now_secs()),
            )
            .await
            {
                Ok(outcome) => handled.push(json!({
                    "event_id": log_event.id,
                    "kind": "start_refused",
                    "cause": cause.as_str(),
                    "duplicate": outcome.duplicate,
                    "executed": outcome.executed,
                })),
                Err(e) => {
                    tracing::error!(gateway = %gateway.id, event_id = %log_event.id, error = %e, "line not handled");
                    failures.push((e.is_transient(), e.to_string()));
                }
            }
            continue;
        }
        let Some(classified) = classify_line(&log_event.message) else {
            ignored += 1;
            continue;
        };
        // A 2026.9 conflict stop too: the channel is restarted, but two writers must be told.
        let conflict = matches!(
            classified.kind,
            ChannelEvent::Conflict | ChannelEvent::ConflictStopped | ChannelEvent::TelegramConflict
        );
        // A conflict is checked against ECS: two tasks at once is the usual cause (single writer).
        let running_tasks = if conflict {
            running_tasks(app, gateway).await
        } else {
            None
        };
        tracing::info!(
            gateway = %gateway.id, event_id = %log_event.id, channel = %classified.channel,
            account = classified.account.as_deref().unwrap_or("default"), kind = classified.kind.as_str(),
            running_tasks, "channel signal"
        );
        let signal = ChannelSignal {
            channel: classified.channel,
            account: classified.account,
            kind: classified.kind,
            at: log_event.timestamp.div_euclid(1000),
            running_tasks,
        };
        match engine::handle(
            &ports,
            gateway,
            &app.config.policy,
            &Input::Channel(signal),
            Some(&dedupe),
            start.at(now_secs()),
        )
        .await
        {
            Ok(outcome) => handled.push(json!({
                "event_id": log_event.id,
                "kind": classified.kind.as_str(),
                "duplicate": outcome.duplicate,
                "executed": outcome.executed,
            })),
            Err(e) => {
                // Keep going: the events already handled are deduplicated when Lambda retries the batch.
                tracing::error!(gateway = %gateway.id, event_id = %log_event.id, error = %e, "signal not handled");
                failures.push((e.is_transient(), e.to_string()));
            }
        }
    }
    if !failures.is_empty() {
        let error_type = if failures.iter().all(|(t, _)| *t) {
            "Retryable"
        } else {
            "Failed"
        };
        let message: Vec<String> = failures.into_iter().map(|(_, m)| m).collect();
        return Err(FunctionError::new(error_type, message.join("; ")));
    }
    Ok(json!({ "gateway": gateway.id, "signals": handled, "ignored": ignored }))
}

/// RUNNING tasks of the gateway, or `None` when ECS cannot say (the signal is handled anyway).
async fn running_tasks(app: &App, gateway: &Gateway) -> Option<u32> {
    match health::running_tasks(&app.adapters.ecs, gateway).await {
        Ok(Some(n)) => u32::try_from(n).ok(),
        Ok(None) => {
            tracing::warn!(gateway = %gateway.id, "service not found for the conflict check");
            None
        }
        Err(e) => {
            tracing::warn!(gateway = %gateway.id, error = %e, "conflict check: ECS not readable");
            None
        }
    }
}
