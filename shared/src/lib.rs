//! clawkeeper's shared library: configuration, domain model, the pure decision logic, and the
//! AWS adapters behind small traits. Every function crate is a thin `main` over this crate.

pub mod aws;
pub mod aws_error;
pub mod channel_log;
pub mod config;
pub mod ecs;
pub mod engine;
pub mod gateway;
pub mod health;
pub mod lambda;
pub mod notifier;
pub mod policy_settings;
pub mod snapshot;
pub mod store;
pub mod watch;

pub use aws_error::AwsError;
pub use config::{Config, ConfigError};
pub use gateway::{Gateway, GatewayTarget};
pub use lambda::FunctionError;
