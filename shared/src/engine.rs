//! The watchdog engine: load a gateway's state, run the pure policy on one input, store the result
//! with a conditional write, then execute the outbox.
//!
//! Exactly-once effects over at-least-once input come from three rules:
//! 1. the new state (with its outbox of planned actions), the event's dedupe marker and the incident
//!    record are written in ONE conditional transaction before anything is done; a concurrent writer
//!    makes it fail with a conflict, and we reload and plan again;
//! 2. actions are executed from the stored outbox and removed from it only after they succeeded, so
//!    a crash between the two re-runs them from the outbox (never re-plans them: keys are unique);
//! 3. a duplicate event finds its dedupe marker (or an old task version) and plans nothing, but
//!    still drains whatever a failed earlier attempt left in the outbox.

use std::future::Future;

use crate::aws_error::AwsError;
use crate::ecs::{EcsControl, RunSpec};
use crate::gateway::{Gateway, GatewayTarget};
use crate::notifier::{Notifier, Publication};
use crate::policy_settings::PolicySettings;
use crate::store::{IncidentRecord, SaveRequest, SeenMarker, StateStore, StoreError, Versioned};
use crate::watch::{Action, ActionKind, GatewayState, Input, plan};

/// How long dedupe markers of service and deployment events are kept (EventBridge retries for
/// at most 24 hours).
pub const SEEN_MARKER_TTL_SECS: i64 = 2 * 24 * 3600;
/// How long incident records are kept.
pub const INCIDENT_TTL_SECS: i64 = 90 * 24 * 3600;
/// Conflicting writers are rare (one gateway, a few events a minute); past this many reloads the
/// invocation fails and Lambda retries it later.
const MAX_CONFLICT_RETRIES: usize = 8;

/// Hands a snapshot request to the snapshot function (an asynchronous invoke).
pub trait SnapshotRequester {
    /// Asks for a snapshot of `gateway` with this trigger word; returns once the request is queued.
    fn request_snapshot(&self, gateway: &str, trigger: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// The adapters the engine drives.
pub struct Ports<'a, S, N, E, R> {
    pub store: &'a S,
    pub notifier: &'a N,
    pub ecs: &'a E,
    pub snapshots: &'a R,
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The input was a duplicate (dedupe marker present): nothing new was planned.
    pub duplicate: bool,
    /// Keys of the actions executed by this invocation (new ones and leftovers from the outbox).
    pub executed: Vec<String>,
    /// The gateway's phase after the input.
    pub phase: String,
    /// The state's revision after the input.
    pub rev: u64,
}

/// Why the engine could not finish an input. The input is then retried by Lambda (or kept by the
/// dead-letter queue): nothing is lost, and nothing done is done twice.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Reading or writing the state failed.
    #[error("gateway {gateway}: state store: {source}")]
    Store {
        gateway: String,
        #[source]
        source: StoreError,
    },
    /// The state kept changing under us.
    #[error("gateway {gateway}: the state changed concurrently {MAX_CONFLICT_RETRIES} times in a row")]
    Contention { gateway: String },
    /// An action failed; it stays in the outbox for the retry.
    #[error("gateway {gateway}: action {key} ({action}) failed: {source}")]
    Action {
        gateway: String,
        key: String,
        action: &'static str,
        #[source]
        source: AwsError,
    },
}

impl EngineError {
    /// True when a retry of the invocation may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store { source, .. } => source.is_transient() || matches!(source, StoreError::Conflict { .. }),
            Self::Contention { .. } => true,
            Self::Action { source, .. } => source.is_transient(),
        }
    }
}

/// Runs one input through the policy for `gateway` and executes what it decided.
pub async fn handle<S, N, E, R>(
    ports: &Ports<'_, S, N, E, R>,
    gateway: &Gateway,
    settings: &PolicySettings,
    input: &Input,
    dedupe_key: Option<&str>,
    now: i64,
) -> Result<Outcome, EngineError>
where
    S: StateStore + Sync,
    N: Notifier + Sync,
    E: EcsControl + Sync,
    R: SnapshotRequester + Sync,
{
    let store_err = |source| EngineError::Store {
        gateway: gateway.id.clone(),
        source,
    };
    let mut attempt = 0;
    let (mut state, mut rev, duplicate) = loop {
        attempt += 1;
        if attempt > MAX_CONFLICT_RETRIES {
            return Err(EngineError::Contention {
                gateway: gateway.id.clone(),
            });
        }
        let loaded = ports.store.load::<GatewayState>(&gateway.id).await.map_err(store_err)?;
        let (current, expected_rev) = match loaded {
            Some(Versioned { state, rev, .. }) => (state, Some(rev)),
            None => (GatewayState::default(), None),
        };
        let planned = plan(&current, input, now, settings, gateway);
        let seen_marker = dedupe_key.map(|key| SeenMarker {
            key: key.to_string(),
            expires_at: now + SEEN_MARKER_TTL_SECS,
        });
        if planned.state == current && seen_marker.is_none() {
            // Nothing changed (an old task version, a quiet tick): no write at all.
            break (current, expected_rev.unwrap_or(0), false);
        }
        let incident = incident_record(&current, &planned.state, now);
        let request = SaveRequest {
            gateway: &gateway.id,
            state: &planned.state,
            phase: planned.state.phase.as_str(),
            expected_rev,
            seen_marker,
            incident,
        };
        match ports.store.save(request).await {
            Ok(new_rev) => {
                for action in &planned.actions {
                    tracing::info!(gateway = %gateway.id, key = %action.key, action = action.kind.name(), "planned");
                }
                break (planned.state, new_rev, false);
            }
            Err(StoreError::Conflict { .. }) => {
                tracing::info!(gateway = %gateway.id, attempt, "state changed concurrently; planning again");
                continue;
            }
            Err(StoreError::AlreadySeen { key, .. }) => {
                tracing::info!(gateway = %gateway.id, key = %key, "duplicate event: already handled");
                break (current, expected_rev.unwrap_or(0), true);
            }
            Err(e) => return Err(store_err(e)),
        }
    };

    let (executed, failure) = drain(ports, gateway, &state).await;
    if !executed.is_empty() {
        (state, rev) = confirm(ports.store, gateway, state, rev, &executed).await?;
    }
    if let Some(f) = failure {
        return Err(EngineError::Action {
            gateway: gateway.id.clone(),
            key: f.key,
            action: f.action,
            source: f.source,
        });
    }
    Ok(Outcome {
        duplicate,
        executed,
        phase: state.phase.as_str().to_string(),
        rev,
    })
}

struct Failure {
    key: String,
    action: &'static str,
    source: AwsError,
}

/// Executes the outbox in order; stops at the first failure (later steps may depend on it).
async fn drain<S, N, E, R>(
    ports: &Ports<'_, S, N, E, R>,
    gateway: &Gateway,
    state: &GatewayState,
) -> (Vec<String>, Option<Failure>)
where
    N: Notifier + Sync,
    E: EcsControl + Sync,
    R: SnapshotRequester + Sync,
{
    let mut done = Vec::new();
    for action in &state.pending {
        match execute(ports, gateway, action).await {
            Ok(()) => {
                tracing::info!(gateway = %gateway.id, key = %action.key, action = action.kind.name(), "executed");
                done.push(action.key.clone());
            }
            Err(source) => {
                tracing::error!(
                    gateway = %gateway.id, key = %action.key, action = action.kind.name(),
                    transient = source.is_transient(), error = %source, "action failed"
                );
                return (
                    done,
                    Some(Failure {
                        key: action.key.clone(),
                        action: action.kind.name(),
                        source,
                    }),
                );
            }
        }
    }
    (done, None)
}

async fn execute<S, N, E, R>(ports: &Ports<'_, S, N, E, R>, gateway: &Gateway, action: &Action) -> Result<(), AwsError>
where
    N: Notifier + Sync,
    E: EcsControl + Sync,
    R: SnapshotRequester + Sync,
{
    let cluster = gateway.cluster.as_str();
    let service = match &gateway.target {
        GatewayTarget::Service(name) => Some(name.as_str()),
        GatewayTarget::Standalone { .. } => None,
    };
    match &action.kind {
        ActionKind::Notify(notice) => {
            let publication = Publication {
                subject: notice.subject.clone(),
                message: notice.message.clone(),
                gateway: gateway.id.clone(),
                kind: notice.kind.as_str().to_string(),
                severity: notice.severity.as_str().to_string(),
            };
            ports.notifier.publish(&publication).await.map(|_| ())
        }
        ActionKind::SetDesiredCount { count } => match service {
            Some(service) => ports.ecs.set_desired_count(cluster, service, *count).await,
            None => Ok(()),
        },
        ActionKind::ForceNewDeployment => match service {
            Some(service) => ports.ecs.force_new_deployment(cluster, service).await,
            None => Ok(()),
        },
        ActionKind::StopTask { task_arn, reason } => ports.ecs.stop_task(cluster, task_arn, reason).await,
        ActionKind::RunTask {
            task_definition,
            subnets,
            security_groups,
            assign_public_ip,
        } => {
            let spec = RunSpec {
                task_definition: task_definition.clone(),
                subnets: subnets.clone(),
                security_groups: security_groups.clone(),
                assign_public_ip: *assign_public_ip,
                // The action key makes RunTask itself idempotent (ECS keeps client tokens for a while).
                client_token: Some(client_token(&action.key)),
            };
            ports.ecs.run_task(cluster, &spec).await.map(|_| ())
        }
        ActionKind::RequestSnapshot { trigger } => ports.snapshots.request_snapshot(&gateway.id, trigger).await,
    }
}

/// RunTask client tokens: up to 64 ASCII letters, digits, hyphens and underscores.
fn client_token(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

/// Removes executed actions from the stored outbox, reloading on conflict. A failed action stays
/// there, even a permanent failure (a deleted topic, a missing permission): the invocation fails,
/// alarms fire, and once the owner fixes the cause the next invocation delivers it.
async fn confirm<S: StateStore + Sync>(
    store: &S,
    gateway: &Gateway,
    mut state: GatewayState,
    mut rev: u64,
    executed: &[String],
) -> Result<(GatewayState, u64), EngineError> {
    let store_err = |source| EngineError::Store {
        gateway: gateway.id.clone(),
        source,
    };
    for _ in 0..MAX_CONFLICT_RETRIES {
        for key in executed {
            state.confirm_done(key);
        }
        let request = SaveRequest {
            gateway: &gateway.id,
            state: &state,
            phase: state.phase.as_str(),
            expected_rev: Some(rev).filter(|&r| r > 0),
            seen_marker: None,
            incident: None,
        };
        match store.save(request).await {
            Ok(new_rev) => return Ok((state, new_rev)),
            Err(StoreError::Conflict { .. }) => {
                // Someone else wrote meanwhile: take their state and remove our keys from it.
                match store.load::<GatewayState>(&gateway.id).await.map_err(store_err)? {
                    Some(v) => (state, rev) = (v.state, v.rev),
                    None => return Ok((state, rev)),
                }
            }
            Err(e) => return Err(store_err(e)),
        }
    }
    Err(EngineError::Contention {
        gateway: gateway.id.clone(),
    })
}

/// The incident record to write with a new state: the open incident when it changed, or the one
/// that just closed.
fn incident_record(before: &GatewayState, after: &GatewayState, now: i64) -> Option<IncidentRecord> {
    let record = |incident: &crate::watch::state::Incident, closed_at: Option<i64>| {
        let mut body = serde_json::to_value(incident).ok()?;
        if let (Some(obj), Some(at)) = (body.as_object_mut(), closed_at) {
            obj.insert("closed_at".into(), serde_json::Value::from(at));
        }
        Some(IncidentRecord {
            opened_at: incident.id,
            body,
            expires_at: incident.id + INCIDENT_TTL_SECS,
        })
    };
    match (&before.incident, &after.incident) {
        (_, Some(open)) if before.incident.as_ref() != Some(open) => record(open, None),
        (Some(closed), None) => record(closed, Some(now)),
        (Some(closed), Some(open)) if closed.id != open.id => record(closed, Some(now)),
        _ => None,
    }
}
