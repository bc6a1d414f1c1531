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
//!    still drains whatever a failed earlier attempt left in the outbox;
//! 4. only the holder of the outbox lease (taken in the same conditional write) executes it, so two
//!    invocations never run the same action at once. The lease ends with its holder's invocation
//!    ([`Moment::lease_until`]: Lambda's deadline plus [`LEASE_SKEW_SECS`]), so after a crash the
//!    retry or the next reconciler tick takes the outbox over as soon as the dead holder could no
//!    longer be running.

use crate::aws_error::AwsError;
use crate::ecs::RunSpec;
use crate::gateway::{Gateway, GatewayTarget};
use crate::notifier::Publication;
use crate::policy_settings::PolicySettings;
use crate::ports::{EcsControl, GatewayAdmin, NoGatewayAdmin, Notifier, SnapshotRequester, StateStore};
use crate::store::{IncidentRecord, SaveRequest, SeenMarker, StoreError, Versioned};
use crate::watch::channel_runtime::ChannelStart;
use crate::watch::state::OutboxLease;
use crate::watch::{Action, ActionKind, GatewayState, Input, plan};

/// How long dedupe markers of service and deployment events are kept (EventBridge retries for
/// at most 24 hours).
pub const SEEN_MARKER_TTL_SECS: i64 = 2 * 24 * 3600;
/// How long incident records are kept.
pub const INCIDENT_TTL_SECS: i64 = 90 * 24 * 3600;
/// Conflicting writers are rare (one gateway, a few events a minute); past this many reloads the
/// invocation fails and Lambda retries it later.
const MAX_CONFLICT_RETRIES: usize = 8;
/// Drain rounds of one invocation: new actions planned meanwhile, and renewals of a long drain.
const MAX_DRAIN_ROUNDS: usize = 8;

/// The adapters the engine drives.
pub struct Ports<'a, S, N, E, R, G = NoGatewayAdmin> {
    pub store: &'a S,
    pub notifier: &'a N,
    pub ecs: &'a E,
    pub snapshots: &'a R,
    /// The gateway's admin RPC: the reconciler's, [`NoGatewayAdmin`] everywhere else (a channel
    /// start then waits in the outbox for the reconciler).
    pub admin: &'a G,
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
    /// The gateway's state after the input (what the gauges and answers report; no second plan).
    pub state: GatewayState,
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

/// When an input is handled: the wall clock, until when this invocation may hold the outbox, and
/// which Lambda invocation it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    /// Epoch seconds now.
    pub now: i64,
    /// Epoch seconds when a lease this invocation takes ends.
    pub lease_until: i64,
    /// Epoch seconds when Lambda ends this invocation: a lease is renewed up to it, never past.
    pub deadline: i64,
    /// A digest of Lambda's request id (0: unknown). Lambda retries a failed asynchronous
    /// invocation under the same request id, and only once the failed attempt has ended: a lease
    /// held under this invocation is a dead attempt's, free to take at once.
    pub invocation: u64,
}

/// Margin past an invocation's deadline before another may take its lease: clocks of Lambda
/// hosts agree to milliseconds (Amazon Time Sync), a few seconds cover a host that drifted.
pub const LEASE_SKEW_SECS: i64 = 5;
/// The longest a Lambda invocation runs: no lease outlasts it, whatever deadline is claimed.
pub const MAX_INVOCATION_SECS: i64 = 15 * 60;
/// The longest one lease lasts. A holder that runs longer (control's restore orchestration, a slow
/// outbox) renews it as it goes, so one killed in a long invocation holds the outbox up for at
/// most this long, not until its deadline.
pub const LEASE_SECS: i64 = 120;
/// What one action may take at worst: the SDK's operation timeout (30 s) with a margin. An action
/// is only started while the lease has this long left; otherwise the lease is renewed first.
pub const ACTION_BUDGET_SECS: i64 = 40;

impl Moment {
    /// `now`, inside an invocation that Lambda ends at `deadline` (epoch seconds). A deadline in
    /// the past or beyond Lambda's longest run (a clock or runtime gone wrong) is clamped, so a
    /// lease always lasts at least into the next second and never longer than any invocation can.
    pub fn within(now: i64, deadline: i64) -> Self {
        let deadline = deadline.clamp(now.saturating_add(1), now.saturating_add(MAX_INVOCATION_SECS));
        Self {
            now,
            lease_until: lease_end(now, deadline),
            deadline,
            invocation: 0,
        }
    }

    /// The same moment, inside the Lambda invocation with this request id.
    pub fn of_invocation(self, request_id: &str) -> Self {
        Self {
            invocation: invocation_digest(request_id),
            ..self
        }
    }

    /// The same invocation at a later `now`, with a lease that would start then.
    pub fn at(self, now: i64) -> Self {
        Self {
            now,
            lease_until: lease_end(now, self.deadline.max(now.saturating_add(1))),
            ..self
        }
    }
}

fn lease_end(now: i64, deadline: i64) -> i64 {
    deadline
        .min(now.saturating_add(LEASE_SECS))
        .saturating_add(LEASE_SKEW_SECS)
}

/// FNV-1a of the request id: stable across processes and builds (the std hasher is not), never 0
/// for a real id.
fn invocation_digest(request_id: &str) -> u64 {
    let hash = request_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash.max(1)
}

/// Runs one input through the policy for `gateway` and executes what it decided.
pub async fn handle<S, N, E, R, G>(
    ports: &Ports<'_, S, N, E, R, G>,
    gateway: &Gateway,
    settings: &PolicySettings,
    input: &Input,
    dedupe_key: Option<&str>,
    at: Moment,
) -> Result<Outcome, EngineError>
where
    S: StateStore + Sync,
    N: Notifier + Sync,
    E: EcsControl + Sync,
    R: SnapshotRequester + Sync,
    G: GatewayAdmin + Sync,
{
    handle_from(ports, gateway, settings, input, dedupe_key, at, None).await
}

/// [`handle`], planning first from `loaded`, the state as a batched read found it (`Some(None)`:
/// never saved), instead of loading it; a conflict loads it again as usual.
pub async fn handle_from<S, N, E, R, G>(
    ports: &Ports<'_, S, N, E, R, G>,
    gateway: &Gateway,
    settings: &PolicySettings,
    input: &Input,
    dedupe_key: Option<&str>,
    at: Moment,
    mut loaded: Option<Option<Versioned<GatewayState>>>,
) -> Result<Outcome, EngineError>
where
    S: StateStore + Sync,
    N: Notifier + Sync,
    E: EcsControl + Sync,
    R: SnapshotRequester + Sync,
    G: GatewayAdmin + Sync,
{
    let store_err = |source| EngineError::Store {
        gateway: gateway.id.clone(),
        source,
    };
    let now = at.now;
    let me = lease_token(now);
    let mut attempt = 0;
    let (mut state, mut rev, duplicate) = loop {
        attempt += 1;
        if attempt > MAX_CONFLICT_RETRIES {
            return Err(EngineError::Contention {
                gateway: gateway.id.clone(),
            });
        }
        let stored = match loaded.take() {
            Some(stored) => stored,
            None => ports.store.load::<GatewayState>(&gateway.id).await.map_err(store_err)?,
        };
        let (current, expected_rev) = match stored {
            Some(Versioned { state, rev, .. }) => (state, Some(rev)),
            None => (GatewayState::default(), None),
        };
        let planned = plan(&current, input, now, settings, gateway);
        let mut next = planned.state;
        // Take the outbox (in the same conditional write) unless another live invocation holds it.
        if !next.pending.is_empty() && lease_is_free(&next, &me, at) {
            next.outbox_lease = Some(lease(&me, at));
        }
        let seen_marker = dedupe_key.map(|key| SeenMarker {
            key: key.to_string(),
            expires_at: now + SEEN_MARKER_TTL_SECS,
        });
        if next == current && seen_marker.is_none() {
            // Nothing changed (an old task version, a quiet tick): no write at all.
            break (current, expected_rev.unwrap_or(0), false);
        }
        let incident = incident_record(&current, &next, now);
        let request = SaveRequest {
            gateway: &gateway.id,
            state: &next,
            phase: next.phase.as_str(),
            expected_rev,
            seen_marker,
            incident,
        };
        match ports.store.save(request).await {
            Ok(new_rev) => {
                for action in &planned.actions {
                    tracing::info!(gateway = %gateway.id, key = %action.key, action = action.kind.name(), "planned");
                }
                break (next, new_rev, false);
            }
            Err(StoreError::Conflict { .. }) => {
                tracing::info!(gateway = %gateway.id, attempt, "state changed concurrently; planning again");
                continue;
            }
            Err(StoreError::AlreadySeen { key, .. }) => {
                tracing::info!(gateway = %gateway.id, key = %key, "duplicate event: already handled");
                // Still help with what an earlier attempt left in the outbox: plan nothing, claim it.
                match claim_leftovers(ports.store, gateway, current, expected_rev, &me, at).await? {
                    Some((state, rev)) => break (state, rev, true),
                    None => continue,
                }
            }
            Err(e) => return Err(store_err(e)),
        }
    };

    let mut executed = Vec::new();
    let started = std::time::Instant::now();
    // Actions planned by others while we drain are appended to the outbox, and a drain stops early
    // when its lease runs short: drain a few rounds, each confirmed with a renewed lease.
    for _ in 0..MAX_DRAIN_ROUNDS {
        if state.pending.is_empty() || !holds_lease(&state, &me) {
            break;
        }
        let lease_until = state.outbox_lease.as_ref().map_or(at.now, |l| l.until);
        let elapsed = || i64::try_from(started.elapsed().as_secs()).unwrap_or(i64::MAX);
        let drained = drain(ports, gateway, &state, || may_start(at, lease_until, elapsed())).await;
        // A failed action gives the lease back (Lambda's retry takes over at once), as does a drain
        // with no time left for another action, and one that left actions only the reconciler can
        // execute (it takes them over on its next pass without waiting for this lease).
        let renew = renewal(at, elapsed(), drained.failure.is_some() || drained.left_for_reconciler)
            .map(|renewed| lease(&me, renewed));
        (state, rev) = confirm(ports.store, gateway, state, rev, &drained, &me, renew).await?;
        executed.extend(drained.done);
        if drained.left_for_reconciler && drained.failure.is_none() {
            break;
        }
        if let Some(f) = drained.failure {
            return Err(EngineError::Action {
                gateway: gateway.id.clone(),
                key: f.key,
                action: f.action,
                source: f.source,
            });
        }
    }
    if !state.pending.is_empty() && !holds_lease(&state, &me) {
        tracing::info!(
            gateway = %gateway.id, pending = state.pending.len(),
            "another invocation is executing the outbox; leaving it to them"
        );
    }
    Ok(Outcome {
        duplicate,
        executed,
        phase: state.phase.as_str().to_string(),
        rev,
        state,
    })
}

/// A token unique to this invocation of `handle`.
fn lease_token(now: i64) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{now}-{nanos}-{n}", std::process::id())
}

/// Whether an action may start `elapsed` seconds into a drain whose lease ends at `lease_until`:
/// always when the lease reaches past the invocation's deadline (the holder cannot outlive it),
/// else only with an action's worst case left on it.
fn may_start(at: Moment, lease_until: i64, elapsed: i64) -> bool {
    lease_until >= at.deadline.saturating_add(LEASE_SKEW_SECS)
        || at.now.saturating_add(elapsed).saturating_add(ACTION_BUDGET_SECS) <= lease_until
}

/// The moment a drain's lease is renewed from, `elapsed` seconds in; `None` (give it back) after a
/// failed action or when the invocation has no time for another action.
fn renewal(at: Moment, elapsed: i64, failed: bool) -> Option<Moment> {
    let now = at.now.saturating_add(elapsed);
    (!failed && now.saturating_add(ACTION_BUDGET_SECS) < at.deadline).then(|| at.at(now))
}

/// The lease `me` takes at `at`.
fn lease(me: &str, at: Moment) -> OutboxLease {
    OutboxLease {
        owner: me.to_string(),
        until: at.lease_until,
        invocation: at.invocation,
    }
}

/// Free: nobody holds it, `me` does, it lapsed, or it is held under this very Lambda invocation
/// (a retry of an attempt that died holding it).
fn lease_is_free(state: &GatewayState, me: &str, at: Moment) -> bool {
    state.outbox_lease.as_ref().is_none_or(|lease| {
        lease.owner == me || lease.until <= at.now || (at.invocation != 0 && lease.invocation == at.invocation)
    })
}

fn holds_lease(state: &GatewayState, me: &str) -> bool {
    state.outbox_lease.as_ref().is_some_and(|lease| lease.owner == me)
}

/// For a duplicate event: take over a leftover outbox if no live invocation holds it. `None` when
/// the state changed meanwhile (plan again).
async fn claim_leftovers<S: StateStore + Sync>(
    store: &S,
    gateway: &Gateway,
    mut state: GatewayState,
    rev: Option<u64>,
    me: &str,
    at: Moment,
) -> Result<Option<(GatewayState, u64)>, EngineError> {
    if state.pending.is_empty() || !lease_is_free(&state, me, at) {
        return Ok(Some((state, rev.unwrap_or(0))));
    }
    state.outbox_lease = Some(lease(me, at));
    let request = SaveRequest {
        gateway: &gateway.id,
        state: &state,
        phase: state.phase.as_str(),
        expected_rev: rev,
        seen_marker: None,
        incident: None,
    };
    match store.save(request).await {
        Ok(new_rev) => Ok(Some((state, new_rev))),
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(source) => Err(EngineError::Store {
            gateway: gateway.id.clone(),
            source,
        }),
    }
}

struct Failure {
    key: String,
    action: &'static str,
    source: AwsError,
}

/// What one drain did.
#[derive(Default)]
struct Drained {
    /// Keys of the actions done, in order.
    done: Vec<String>,
    /// What `channels.start` answered, per action key (recorded in the state with the confirmation).
    starts: Vec<(String, ChannelStart)>,
    /// Some actions were left for the reconciler (channel starts this function cannot reach).
    left_for_reconciler: bool,
    /// The action that failed, if one did.
    failure: Option<Failure>,
}

/// What executing one action came to.
enum Executed {
    Done,
    /// A channel start, with its answer.
    Started(ChannelStart),
    /// Not for this function: it stays in the outbox.
    NotHere,
}

/// Executes the outbox in order while `in_time()` says the lease has room for one more action;
/// stops at the first failure (later steps may depend on it). A channel start this function cannot
/// reach is skipped, not failed: nothing after it depends on it, and the reconciler runs it.
async fn drain<S, N, E, R, G>(
    ports: &Ports<'_, S, N, E, R, G>,
    gateway: &Gateway,
    state: &GatewayState,
    in_time: impl Fn() -> bool,
) -> Drained
where
    N: Notifier + Sync,
    E: EcsControl + Sync,
    R: SnapshotRequester + Sync,
    G: GatewayAdmin + Sync,
{
    let mut out = Drained::default();
    for action in &state.pending {
        if !in_time() {
            tracing::info!(gateway = %gateway.id, left = state.pending.len() - out.done.len(), "lease running short; renewing before the next action");
            break;
        }
        match execute(ports, gateway, action).await {
            Ok(Executed::NotHere) => {
                tracing::info!(gateway = %gateway.id, key = %action.key, action = action.kind.name(), "left for the reconciler");
                out.left_for_reconciler = true;
            }
            Ok(executed) => {
                tracing::info!(gateway = %gateway.id, key = %action.key, action = action.kind.name(), "executed");
                if let Executed::Started(answer) = executed {
                    out.starts.push((action.key.clone(), answer));
                }
                out.done.push(action.key.clone());
            }
            Err(source) => {
                tracing::error!(
                    gateway = %gateway.id, key = %action.key, action = action.kind.name(),
                    transient = source.is_transient(), error = %source, "action failed"
                );
                out.failure = Some(Failure {
                    key: action.key.clone(),
                    action: action.kind.name(),
                    source,
                });
                return out;
            }
        }
    }
    out
}

async fn execute<S, N, E, R, G>(
    ports: &Ports<'_, S, N, E, R, G>,
    gateway: &Gateway,
    action: &Action,
) -> Result<Executed, AwsError>
where
    N: Notifier + Sync,
    E: EcsControl + Sync,
    R: SnapshotRequester + Sync,
    G: GatewayAdmin + Sync,
{
    if let ActionKind::StartChannel { channel, account } = &action.kind {
        // Every answer is final (a failed start is the policy's to tell the owner), except that
        // this function cannot ask at all.
        return Ok(match ports.admin.start_channel(gateway, channel, account).await {
            ChannelStart::NotHere => Executed::NotHere,
            answer => {
                tracing::info!(gateway = %gateway.id, channel, account, answer = ?answer, "channels.start");
                Executed::Started(answer)
            }
        });
    }
    execute_aws(ports, gateway, action).await.map(|()| Executed::Done)
}

async fn execute_aws<S, N, E, R, G>(
    ports: &Ports<'_, S, N, E, R, G>,
    gateway: &Gateway,
    action: &Action,
) -> Result<(), AwsError>
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
        // Executed by `execute`, over the admin port.
        ActionKind::StartChannel { .. } => Ok(()),
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

/// Removes executed actions from the stored outbox, reloading on conflict, renews the lease to
/// `renew` while actions are left, and gives it back when the outbox is empty or there is no
/// renewal (an action failed, or no time is left). A failed
/// action stays in the outbox, even a permanent failure (a deleted topic, a missing permission):
/// the invocation fails, alarms fire, and once the owner fixes the cause the next invocation
/// delivers it.
async fn confirm<S: StateStore + Sync>(
    store: &S,
    gateway: &Gateway,
    mut state: GatewayState,
    mut rev: u64,
    drained: &Drained,
    me: &str,
    renew: Option<OutboxLease>,
) -> Result<(GatewayState, u64), EngineError> {
    let store_err = |source| EngineError::Store {
        gateway: gateway.id.clone(),
        source,
    };
    for _ in 0..MAX_CONFLICT_RETRIES {
        for (key, answer) in &drained.starts {
            // Only while the start is still pending here: a state reloaded after a conflict may
            // have been confirmed (and recorded) by another writer already.
            if state.pending.iter().any(|a| &a.key == key) {
                state.health.channel_runtime.record_start(key, answer);
            }
        }
        for key in &drained.done {
            state.confirm_done(key);
        }
        if holds_lease(&state, me) {
            state.outbox_lease = renew.clone().filter(|_| !state.pending.is_empty());
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
        (None, None) => owner_action_record(before, after),
        _ => None,
    }
}

/// With no incident open, an owner's request is written to the incident log on its own, under the
/// id the policy gave it (from the incident id sequence, so it never overwrites an incident).
fn owner_action_record(before: &GatewayState, after: &GatewayState) -> Option<IncidentRecord> {
    let entry = after.owner_log.last()?;
    let id = entry.record?;
    if before.owner_log.last() == Some(entry) {
        return None;
    }
    let mut body = serde_json::to_value(entry).ok()?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("kind".into(), serde_json::Value::from("owner_action"));
        obj.insert("id".into(), serde_json::Value::from(id));
    }
    Some(IncidentRecord {
        opened_at: id,
        body,
        expires_at: id + INCIDENT_TTL_SECS,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Config;
    use crate::fakes::{FakeEcs, HangingNotifier, MemoryStore, RacingStore, RecordingNotifier, RecordingSnapshots};
    use crate::watch::{Parsed, parse_ecs_event};

    type Ecs = FakeEcs;
    type Snapshots = RecordingSnapshots;

    /// A notifier whose publishes take a moment: long enough for a racing invocation to reach the
    /// outbox; failing the first `fail`.
    fn outbox(fail: usize) -> RecordingNotifier {
        RecordingNotifier::failing_first(fail).with_latency(Duration::from_millis(3))
    }

    /// The engine's ports over the test fakes.
    fn ports<'a, S, N>(
        store: &'a S,
        notifier: &'a N,
        ecs: &'a Ecs,
        snapshots: &'a Snapshots,
    ) -> Ports<'a, S, N, Ecs, Snapshots> {
        Ports {
            store,
            notifier,
            ecs,
            snapshots,
            admin: &NoGatewayAdmin,
        }
    }

    /// One input through [`handle`] for the configured gateway at `now`, with a minute of
    /// invocation left.
    async fn run<S, N>(
        ports: &Ports<'_, S, N, Ecs, Snapshots>,
        config: &Config,
        input: &Input,
        now: i64,
    ) -> Result<Outcome, EngineError>
    where
        S: StateStore + Sync,
        N: Notifier + Sync,
    {
        handle(
            ports,
            &config.gateways[0],
            &config.policy,
            input,
            None,
            Moment::within(now, now + 60),
        )
        .await
    }

    fn config() -> Config {
        Config::from_lookup(|name| {
            Some(
                match name {
                    "CLAWKEEPER_TABLE" => "t-table",
                    "CLAWKEEPER_TOPIC_ARN" => "arn:aws:sns:us-east-1:123456789012:t",
                    "CLAWKEEPER_BUCKET" => "t-bucket",
                    "CLAWKEEPER_GATEWAYS" => r#"[{"id":"home","cluster":"openclaw","service":"openclaw-gateway"}]"#,
                    "CLAWKEEPER_POLICY" => r#"{"down_grace_secs":0,"min_notify_interval_secs":0}"#,
                    _ => return None,
                }
                .to_string(),
            )
        })
        .expect("test config")
    }

    fn crash_signal(config: &Config) -> (Input, i64) {
        let text = include_str!("../../../tests/fixtures/events/task-stopped-crash.json");
        let event: serde_json::Value = serde_json::from_str(text).expect("fixture");
        match parse_ecs_event(&event, &config.gateways).expect("parses") {
            Parsed::Signal { signal, .. } => {
                let at = crate::watch::time::parse_rfc3339(event["time"].as_str().unwrap_or("")).unwrap_or(0);
                (Input::Signal(signal), at + 5)
            }
            Parsed::Ignored { reason } => panic!("ignored: {reason}"),
        }
    }

    fn sent(outbox: &RecordingNotifier) -> Vec<String> {
        outbox.sent().into_iter().map(|p| p.kind).collect()
    }

    #[tokio::test]
    async fn a_lost_race_is_planned_again_and_takes_effect_once() {
        let config = config();
        let (input, now) = crash_signal(&config);
        let store = RacingStore::losing_first(2);
        let (notifier, ecs) = (outbox(0), Ecs::default());
        let snapshots = Snapshots::default();
        let ports = ports(&store, &notifier, &ecs, &snapshots);
        let outcome = run(&ports, &config, &input, now).await.expect("handled");
        assert_eq!(outcome.phase, "down");
        assert_eq!(sent(&notifier), ["gateway_down"]);
        // The same event again (Lambda retry, EventBridge duplicate): nothing more.
        run(&ports, &config, &input, now + 1).await.expect("handled");
        assert_eq!(sent(&notifier), ["gateway_down"]);
        let stored = store.load::<GatewayState>("home").await.expect("load").expect("state");
        assert!(
            stored.state.pending.is_empty(),
            "outbox drained: {:?}",
            stored.state.pending
        );
    }

    #[tokio::test]
    async fn endless_contention_fails_retryably() {
        let config = config();
        let (input, now) = crash_signal(&config);
        let store = RacingStore::losing_first(usize::MAX);
        let (notifier, ecs) = (outbox(0), Ecs::default());
        let snapshots = Snapshots::default();
        let ports = ports(&store, &notifier, &ecs, &snapshots);
        let err = run(&ports, &config, &input, now).await.expect_err("contention");
        assert!(matches!(err, EngineError::Contention { .. }), "{err}");
        assert!(err.is_transient());
        assert!(sent(&notifier).is_empty(), "nothing done without a stored plan");
    }

    #[tokio::test]
    async fn a_failed_notice_stays_in_the_outbox_and_goes_out_once_on_retry() {
        let config = config();
        let (input, now) = crash_signal(&config);
        let store = MemoryStore::new();
        let (notifier, ecs) = (outbox(1), Ecs::default());
        let snapshots = Snapshots::default();
        let ports = ports(&store, &notifier, &ecs, &snapshots);
        let err = run(&ports, &config, &input, now).await.expect_err("publish failed");
        assert!(err.is_transient(), "{err}");
        let stored = store
            .load::<GatewayState>("home")
            .await
            .expect("load")
            .expect("state saved first");
        assert_eq!(
            stored.state.pending.len(),
            1,
            "the notice waits: {:?}",
            stored.state.pending
        );
        // The retry (same event, old task version now) plans nothing and delivers the held notice.
        let outcome = run(&ports, &config, &input, now + 1).await.expect("retry");
        assert_eq!(outcome.executed.len(), 1);
        assert_eq!(sent(&notifier), ["gateway_down"]);
        run(&ports, &config, &input, now + 2).await.expect("again");
        assert_eq!(sent(&notifier), ["gateway_down"], "never twice");
    }

    #[tokio::test]
    async fn a_duplicate_keyed_event_plans_nothing() {
        let config = config();
        let store = MemoryStore::new();
        let (notifier, ecs) = (outbox(0), Ecs::default());
        let snapshots = Snapshots::default();
        let ports = ports(&store, &notifier, &ecs, &snapshots);
        let text = include_str!("../../../tests/fixtures/events/deployment-failed.json");
        let event: serde_json::Value = serde_json::from_str(text).expect("fixture");
        let Ok(Parsed::Signal { signal, dedupe, .. }) = parse_ecs_event(&event, &config.gateways) else {
            panic!("a signal");
        };
        let crate::watch::Dedupe::Key(key) = dedupe else {
            panic!("keyed dedupe");
        };
        let input = Input::Signal(signal);
        let first = handle(
            &ports,
            &config.gateways[0],
            &config.policy,
            &input,
            Some(&key),
            Moment::within(1_795_160_000, 1_795_160_060),
        )
        .await
        .expect("first");
        assert!(!first.duplicate);
        let second = handle(
            &ports,
            &config.gateways[0],
            &config.policy,
            &input,
            Some(&key),
            Moment::within(1_795_160_100, 1_795_160_160),
        )
        .await
        .expect("second");
        assert!(second.duplicate);
        assert_eq!(sent(&notifier), ["deployment_failed"]);
    }

    #[test]
    fn two_invocations_racing_on_one_gateway_both_take_effect_exactly_once() {
        let config = config();
        let store = MemoryStore::new();
        let (notifier, ecs) = (outbox(0), Ecs::default());
        let snapshots = Snapshots::default();
        let ports = ports(&store, &notifier, &ecs, &snapshots);
        let (crash, now) = crash_signal(&config);
        let gateway = &config.gateways[0];
        let run = |input: &Input, at: i64| {
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            runtime
                .block_on(handle(
                    &ports,
                    gateway,
                    &config.policy,
                    input,
                    None,
                    Moment::within(at, at + 60),
                ))
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        // The crash event, its duplicate and reconciler ticks on real threads: loads, plans and
        // saves interleave, so conflicts happen and are retried.
        let barrier = std::sync::Barrier::new(4);
        std::thread::scope(|scope| {
            let workers: Vec<_> = [crash.clone(), crash.clone(), Input::Tick, Input::Tick]
                .into_iter()
                .enumerate()
                .map(|(i, input)| {
                    let (barrier, run) = (&barrier, &run);
                    scope.spawn(move || {
                        barrier.wait();
                        (0..10)
                            .map(|round| run(&input, now + round + i as i64))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for worker in workers {
                for result in worker.join().expect("worker") {
                    result.expect("every invocation succeeds (conflicts are retried)");
                }
            }
        });
        assert_eq!(sent(&notifier), ["gateway_down"], "one notice for one crash");
    }

    #[tokio::test]
    async fn a_holder_killed_mid_publish_loses_the_outbox_when_its_invocation_would_have_ended() {
        let config = config();
        let gateway = &config.gateways[0];
        let (input, now) = crash_signal(&config);
        let (store, ecs, snapshots) = (MemoryStore::new(), Ecs::default(), Snapshots::default());
        let hanging = ports(&store, &HangingNotifier, &ecs, &snapshots);
        let first = Moment::within(now, now + 60);
        // Killed after the state (with its outbox and lease) was written, while publishing.
        let killed = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            handle(&hanging, gateway, &config.policy, &input, None, first),
        )
        .await;
        assert!(killed.is_err(), "the publish never returned");
        let stored = store.load::<GatewayState>("home").await.expect("load").expect("state");
        let waiting = stored.state.pending.len();
        assert!(waiting >= 1, "the notice waits in the outbox");
        assert_eq!(
            stored.state.outbox_lease.as_ref().map(|l| l.until),
            Some(first.lease_until)
        );

        let outbox = outbox(0);
        let ports = ports(&store, &outbox, &ecs, &snapshots);
        // A retry while the dead holder's invocation could still be running leaves it to the holder.
        let early = Moment::within(now + 30, now + 90);
        handle(&ports, gateway, &config.policy, &input, None, early)
            .await
            .expect("early retry");
        assert!(sent(&outbox).is_empty(), "{:?}", sent(&outbox));
        // The first retry after that deadline (plus the skew margin) delivers it, once.
        let late = Moment::within(first.lease_until, first.lease_until + 60);
        let outcome = handle(&ports, gateway, &config.policy, &input, None, late)
            .await
            .expect("retry");
        assert_eq!(sent(&outbox), ["gateway_down"]);
        assert_eq!(outcome.executed.len(), waiting, "everything the dead holder left");
        handle(
            &ports,
            gateway,
            &config.policy,
            &Input::Tick,
            None,
            Moment::within(late.now + 1, late.now + 61),
        )
        .await
        .expect("tick");
        assert_eq!(sent(&outbox), ["gateway_down"], "exactly once after the takeover");
    }

    #[tokio::test]
    async fn a_retry_of_the_same_invocation_takes_its_dead_attempts_lease_at_once() {
        let config = config();
        let gateway = &config.gateways[0];
        let (input, now) = crash_signal(&config);
        let (store, ecs, snapshots) = (MemoryStore::new(), Ecs::default(), Snapshots::default());
        let first = Moment::within(now, now + 60).of_invocation("req-7");
        let killed = tokio::time::timeout(
            Duration::from_millis(200),
            handle(
                &ports(&store, &HangingNotifier, &ecs, &snapshots),
                gateway,
                &config.policy,
                &input,
                None,
                first,
            ),
        )
        .await;
        assert!(killed.is_err(), "killed while publishing, holding the lease");
        let outbox = outbox(0);
        let ports = ports(&store, &outbox, &ecs, &snapshots);
        // Another invocation (a reconciler tick, say) while the lease runs leaves it alone...
        let other = Moment::within(now + 1, now + 61).of_invocation("req-8");
        handle(&ports, gateway, &config.policy, &Input::Tick, None, other)
            .await
            .expect("tick");
        assert!(sent(&outbox).is_empty(), "{:?}", sent(&outbox));
        // ...but Lambda's retry of the killed invocation (same request id) delivers at once.
        let retry = Moment::within(now + 2, now + 62).of_invocation("req-7");
        handle(&ports, gateway, &config.policy, &input, None, retry)
            .await
            .expect("retry");
        assert_eq!(sent(&outbox), ["gateway_down"]);
    }

    #[tokio::test]
    async fn a_channel_start_waits_in_the_outbox_for_the_reconciler_whose_answer_is_recorded() {
        use crate::fakes::RecordingAdmin;
        use crate::watch::channel_runtime::{ChannelRuntime, ChannelStart, ChannelsCheck, Lifecycle};
        use crate::watch::health::Observation;
        let config = config();
        let gateway = &config.gateways[0];
        let (store, notifier, ecs, snapshots) = (MemoryStore::new(), outbox(0), Ecs::default(), Snapshots::default());
        let blocked = ChannelRuntime {
            channel: "whatsapp".into(),
            account: "default".into(),
            lifecycle: Some(Lifecycle::Blocked),
            health_state: Some("conflict".into()),
            disconnect_status: Some(440),
            terminal_disconnect: true,
            ..Default::default()
        };
        let input = Input::Observed(Observation {
            channels: ChannelsCheck::Read(vec![blocked]),
            ..Default::default()
        });
        let now = 1_795_161_600;
        // A function that cannot reach the admin RPC plans the start and leaves it, without
        // failing and without holding the outbox.
        let elsewhere = ports(&store, &notifier, &ecs, &snapshots);
        let planned = run(&elsewhere, &config, &input, now).await.expect("planned");
        assert!(planned.executed.is_empty(), "{:?}", planned.executed);
        let stored = store.load::<GatewayState>("home").await.expect("load").expect("state");
        assert_eq!(stored.state.pending.len(), 1, "{:?}", stored.state.pending);
        assert_eq!(stored.state.outbox_lease, None, "the lease is given back at once");
        // The reconciler's next pass executes it and records what OpenClaw answered.
        let admin = RecordingAdmin::default();
        let reconciler = Ports {
            store: &store,
            notifier: &notifier,
            ecs: &ecs,
            snapshots: &snapshots,
            admin: &admin,
        };
        let outcome = handle(
            &reconciler,
            gateway,
            &config.policy,
            &Input::Tick,
            None,
            Moment::within(now + 60, now + 110),
        )
        .await
        .expect("executed");
        assert_eq!(outcome.executed, [format!("home/channel/whatsapp/default/{now}/start")]);
        assert_eq!(
            admin.starts(),
            [("home".to_string(), "whatsapp".to_string(), "default".to_string())]
        );
        let stored = store.load::<GatewayState>("home").await.expect("load").expect("state");
        assert!(stored.state.pending.is_empty());
        let restart = stored
            .state
            .health
            .channel_runtime
            .get("whatsapp", "default")
            .and_then(|a| a.restart.clone());
        assert_eq!(
            restart.and_then(|r| r.answer),
            Some(ChannelStart::Started {
                outcome: "handed-off".into()
            })
        );
        // Never twice.
        handle(
            &reconciler,
            gateway,
            &config.policy,
            &Input::Tick,
            None,
            Moment::within(now + 120, now + 170),
        )
        .await
        .expect("tick");
        assert_eq!(admin.starts().len(), 1);
        assert!(sent(&notifier).is_empty(), "no notice: {:?}", sent(&notifier));
    }

    #[test]
    fn a_long_drain_starts_an_action_only_with_time_on_its_lease_and_renews_it() {
        // A short invocation: its lease covers its deadline, every action may start.
        let short = Moment::within(1000, 1030);
        assert!(may_start(short, short.lease_until, 29));
        // A long one (control's 900 s): a lease of 120 s, actions while 40 s are left on it...
        let long = Moment::within(1000, 1900);
        assert_eq!(long.lease_until, 1000 + LEASE_SECS + LEASE_SKEW_SECS);
        assert!(may_start(long, long.lease_until, 85));
        assert!(!may_start(long, long.lease_until, 86), "renew first");
        // ...renewed from where the drain got to, up to the deadline, never after a failure.
        let renewed = renewal(long, 86, false).expect("renewed");
        assert_eq!(
            (renewed.now, renewed.lease_until),
            (1086, 1086 + LEASE_SECS + LEASE_SKEW_SECS)
        );
        assert_eq!(renewal(long, 86, true), None, "a failed action gives the lease back");
        assert_eq!(renewal(long, 861, false), None, "no time for another action");
        assert_eq!(
            renewal(long, 859, false).map(|m| m.lease_until),
            Some(1900 + LEASE_SKEW_SECS)
        );
    }

    #[test]
    fn a_lease_is_capped_and_a_request_id_always_has_a_nonzero_digest() {
        assert_eq!(
            Moment::within(100, 1000).lease_until,
            100 + LEASE_SECS + LEASE_SKEW_SECS
        );
        let renewed = Moment::within(100, 1000).at(900);
        assert_eq!((renewed.now, renewed.lease_until), (900, 1000 + LEASE_SKEW_SECS));
        assert_eq!(Moment::within(1, 2).invocation, 0);
        let a = Moment::within(1, 2).of_invocation("a").invocation;
        assert!(a != 0 && a != Moment::within(1, 2).of_invocation("b").invocation);
        assert_eq!(a, Moment::within(5, 9).of_invocation("a").invocation, "stable");
    }

    #[test]
    fn a_lease_lasts_into_the_next_second_and_never_past_the_longest_invocation() {
        assert_eq!(Moment::within(100, 160).lease_until, 160 + LEASE_SKEW_SECS);
        assert_eq!(
            Moment::within(100, 0).lease_until,
            101 + LEASE_SKEW_SECS,
            "a deadline in the past"
        );
        assert_eq!(
            Moment::within(100, i64::MAX).deadline,
            100 + MAX_INVOCATION_SECS,
            "a deadline past Lambda's longest run"
        );
    }
}
