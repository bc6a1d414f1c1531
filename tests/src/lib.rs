//! Helpers for clawkeeper's end-to-end tests: a fresh `moto_server` per test, a Lambda Runtime
//! API emulator driving the real function binaries, and the sample events.

pub mod aws_setup;
pub mod ec2;
pub mod events;
pub mod fault_proxy;
pub mod function;
pub mod http;
pub mod lambda_bridge;
pub mod moto;
pub mod netns;
pub mod recorder;
pub mod runtime_api;
pub mod task_ip_proxy;

use std::path::PathBuf;

pub use function::{FunctionProcess, Invocation};
pub use moto::Moto;

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The standard clawkeeper environment for one gateway `home` watching `cluster`/`service`.
pub fn clawkeeper_env(gateways: &serde_json::Value) -> Vec<(String, String)> {
    [
        ("CLAWKEEPER_TABLE", "clawkeeper-test".to_string()),
        (
            "CLAWKEEPER_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:clawkeeper-test".to_string(),
        ),
        ("CLAWKEEPER_BUCKET", "clawkeeper-test-snapshots".to_string()),
        ("CLAWKEEPER_GATEWAYS", gateways.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
