//! The pure watchdog core: ECS events in, decisions out.
//!
//! Flow (ARCHITECTURE.md section 2): an EventBridge `aws.ecs` event is parsed into a [`Signal`]
//! ([`parse_ecs_event`]), then [`plan`] folds the signal (or a reconciler [`Input::Tick`]) into the
//! gateway's [`GatewayState`] and returns the new state plus the [`Action`]s to execute. Nothing here
//! performs I/O or sees an SDK type, so every rule is unit- and property-tested with plain values.
//!
//! The caller's contract:
//! 1. `parse_ecs_event`; for a [`Parsed::Signal`] with a [`Dedupe::Key`], skip the event if the store
//!    already holds its `SEEN` marker (task events are ordered by the versions kept in the state).
//! 2. Load the state, `plan`, write `plan.state` with a conditional update (the new actions are in
//!    its outbox, `state.pending`), then execute `plan.actions` (or every pending action, on retry).
//! 3. After each action succeeds, [`GatewayState::confirm_done`] it and write the state again.

pub mod action;
pub mod channel_runtime;
pub mod ecs_event;
pub mod health;
pub mod notice;
pub mod plan;
pub mod signal;
pub mod start_refusal;
pub mod state;
pub mod time;

pub use action::{Action, ActionKind};
pub use ecs_event::{Dedupe, Parsed, SignalError, parse_ecs_event};
pub use health::{ChannelEvent, ChannelSignal, EcsObservation, Observation, ObservedTask, ProbeReport, SnapshotCheck};
pub use notice::{Notice, NoticeKind, Severity};
pub use plan::{Input, Plan, plan};
pub use signal::{Signal, StopCause, StopEvidence, TaskInfo, TaskStop};
pub use start_refusal::{StartRefusalCause, StartRefusalLine, start_refusal_cause};
pub use state::{GatewayState, Phase};
