//! A watched OpenClaw gateway, as configured in `CLAWKEEPER_GATEWAYS`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ecs::TaskGroup;

/// How the gateway runs on ECS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum GatewayTarget {
    /// An ECS service (the recommended shape: desired count 1).
    Service(String),
    /// A standalone task started with `RunTask`, identified by its task definition family.
    Standalone {
        /// Task definition family.
        family: String,
    },
}

/// One watched gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// Short id used in DynamoDB keys, S3 prefixes and notifications.
    pub id: String,
    /// ECS cluster name or ARN.
    pub cluster: String,
    /// Service or standalone task family.
    pub target: GatewayTarget,
    /// Probe base URL; without it, the running task's private IP on port 18789.
    pub probe_url: Option<String>,
    /// Secrets Manager ARN of the gateway token (for `/readyz` details).
    pub token_secret_arn: Option<String>,
    /// CloudWatch Logs group of the gateway container.
    pub log_group: Option<String>,
    /// Mount point of the gateway's `/home/node` in the VPC functions.
    pub state_root: String,
    /// OpenClaw state dir, relative to `state_root`.
    pub state_dir: String,
}

impl Gateway {
    /// The ECS event `group` of this gateway's tasks: `service:<name>` or `family:<name>`.
    pub fn task_group(&self) -> String {
        match &self.target {
            GatewayTarget::Service(name) => format!("service:{name}"),
            GatewayTarget::Standalone { family } => format!("family:{family}"),
        }
    }

    /// Which ECS tasks are this gateway's.
    pub fn tasks(&self) -> TaskGroup {
        match &self.target {
            GatewayTarget::Service(name) => TaskGroup::Service(name.clone()),
            GatewayTarget::Standalone { family } => TaskGroup::Family(family.clone()),
        }
    }

    /// The gateway as one `CLAWKEEPER_GATEWAYS` element (what the registry stores and `gateways`
    /// lists); [`crate::config::parse_gateway_object`] reads it back to the same gateway.
    pub fn to_object(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert("id".into(), self.id.clone().into());
        object.insert("cluster".into(), self.cluster.clone().into());
        match &self.target {
            GatewayTarget::Service(name) => object.insert("service".into(), name.clone().into()),
            GatewayTarget::Standalone { family } => object.insert("task_family".into(), family.clone().into()),
        };
        for (key, value) in [
            ("probe_url", &self.probe_url),
            ("token_secret_arn", &self.token_secret_arn),
            ("log_group", &self.log_group),
        ] {
            if let Some(value) = value {
                object.insert(key.into(), value.clone().into());
            }
        }
        object.insert("state_root".into(), self.state_root.clone().into());
        object.insert("state_dir".into(), self.state_dir.clone().into());
        serde_json::Value::Object(object)
    }

    /// Absolute path of the OpenClaw state dir on the mounted volume.
    pub fn state_path(&self) -> PathBuf {
        PathBuf::from(&self.state_root).join(&self.state_dir)
    }
}
