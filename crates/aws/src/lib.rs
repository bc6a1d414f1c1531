//! clawkeeper's AWS adapters: the core's ports ([`clawkeeper_core::ports`]) on the AWS SDK, the
//! one place SDK clients are configured ([`sdk`]), the adapter set a function builds once at
//! init ([`Adapters`]), and the Lambda glue every function's `main` shares ([`lambda`]).

pub mod adapters;
pub mod dynamodb;
pub mod ecs;
pub mod invoke;
pub mod lambda;
pub mod logging;
pub mod metrics;
pub mod registry;
pub mod s3;
pub mod sdk;
pub mod sdk_error;
pub mod secrets;
pub mod signed_post;
pub mod snapshot_status;
pub mod sns;
pub mod stop_permits;

pub use adapters::Adapters;
pub use lambda::FunctionError;
pub(crate) use sdk::rfc3339;
pub use sdk::{SdkEnvironment, sdk_config};
pub use sdk_error::FromSdk;
