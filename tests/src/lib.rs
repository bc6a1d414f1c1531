//! Helpers for clawkeeper's end-to-end tests: a fresh `moto_server` per test, a Lambda Runtime
//! API emulator driving the real function binaries, the sample events, and one way to set a test
//! up: [`stack::Stack`] (moto, the table, the owner's inbox, the gateway service, the functions'
//! environment), with the names in [`consts`].

pub mod aws_setup;
pub mod bench_support;
pub mod consts;
pub mod crash;
pub mod ec2;
pub mod elf_sections;
pub mod events;
pub mod fault_proxy;
pub mod fleet_load;
pub mod function;
pub mod function_url;
pub mod home;
pub mod http;
pub mod lambda_bridge;
pub mod moto;
pub mod netns;
pub mod real_gateway;
pub mod recorder;
pub mod runtime_api;
pub mod s3;
pub mod stack;
pub mod stub;
pub mod stub_gateway;
pub mod task_ip_proxy;

use std::path::PathBuf;

use clawkeeper_core::{Config, ConfigError};

pub use function::{FunctionProcess, Invocation, ok, owner_actions};
pub use moto::Moto;
pub use stack::Stack;

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The standard clawkeeper environment for `gateways`: the table, topic and bucket of [`consts`].
pub fn clawkeeper_env(gateways: &serde_json::Value) -> Vec<(String, String)> {
    clawkeeper_env_raw(&gateways.to_string())
}

fn clawkeeper_env_raw(gateways: &str) -> Vec<(String, String)> {
    [
        ("CLAWKEEPER_TABLE", consts::TABLE),
        ("CLAWKEEPER_TOPIC_ARN", consts::TOPIC_ARN),
        ("CLAWKEEPER_BUCKET", consts::BUCKET),
        ("CLAWKEEPER_GATEWAYS", gateways),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The functions' [`Config`] read from [`clawkeeper_env`] with `gateways` as the raw
/// `CLAWKEEPER_GATEWAYS` text, as a function reads its environment at init.
pub fn config(gateways: &str) -> Result<Config, ConfigError> {
    let env = clawkeeper_env_raw(gateways);
    Config::from_lookup(move |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

/// Sets `name` to `value` in `env`: replaced where it is, else added. (A function process and
/// the IAM recording both take the last value of a name; one entry per name keeps that plain.)
pub fn set_env(env: &mut Vec<(String, String)>, name: &str, value: impl Into<String>) {
    let value = value.into();
    match env.iter_mut().find(|(k, _)| k == name) {
        Some((_, v)) => *v = value,
        None => env.push((name.to_string(), value)),
    }
}
