//! clawkeeper's adapters around the core: the AWS SDK behind the core's ports ([`aws`]), the
//! gateway's HTTP probes ([`health::probe`]), OpenClaw's log lines ([`channel_log`]), the snapshot
//! engine ([`snapshot`]) and the Lambda glue every function's `main` shares ([`lambda`]).
//!
//! The domain and every decision live in `clawkeeper-core`; its modules are re-exported here under
//! the same paths, so a function needs one dependency to wire adapters to the core.

pub mod aws;
pub mod channel_log;
pub mod lambda;
pub mod metrics;
pub mod snapshot;

pub use clawkeeper_core::{aws_error, config, ecs, engine, gateway, notifier, policy_settings, store, watch};

/// The reconciler's eyes: the core's task reads and probe plan, and the HTTP probe client.
pub mod health {
    pub use clawkeeper_core::health::*;
    pub mod probe;
}

pub use clawkeeper_core::{AwsError, Config, ConfigError, Gateway, GatewayTarget};
pub use lambda::FunctionError;
