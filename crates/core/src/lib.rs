//! clawkeeper's core: the domain (gateways, configuration, ECS signals, state, notices), every
//! decision (the watchdog policy in [`watch::plan`], the probe plan in [`health`]) and the engine
//! that stores a decision and executes its outbox, generic over the ports it defines, all in
//! [`ports`].
//!
//! Nothing here talks to AWS, HTTP or SQLite: the adapters live in `clawkeeper-aws`,
//! `clawkeeper-openclaw` and `clawkeeper-snapshot`, so the whole policy builds and tests without
//! compiling an SDK (`cargo test -p clawkeeper-core`).

pub mod aws_error;
pub mod config;
pub mod control;
pub mod ecs;
pub mod engine;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
pub mod fleet;
pub mod gateway;
pub mod health;
pub mod notifier;
pub mod objects;
pub mod permit;
pub mod policy_settings;
pub mod ports;
pub mod registry;
pub mod store;
pub mod watch;

pub use aws_error::AwsError;
pub use config::{Config, ConfigError};
pub use gateway::{Gateway, GatewayTarget};
