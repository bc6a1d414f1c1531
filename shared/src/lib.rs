//! clawkeeper's shared library: configuration, domain model, the pure decision logic, and the
//! AWS adapters behind small traits. Every function crate is a thin `main` over this crate.

pub mod aws;
pub mod aws_error;
pub mod config;
pub mod ecs;
pub mod gateway;
pub mod lambda;
pub mod policy_settings;

pub use aws_error::AwsError;
pub use config::{Config, ConfigError};
pub use gateway::{Gateway, GatewayTarget};
pub use lambda::FunctionError;
