//! Fixtures the policy's test suites share: the clock's origin and the gateways they watch.

use crate::gateway::{Gateway, GatewayTarget};

/// 2026-11-20 08:00:00 UTC.
pub const T0: i64 = 1_795_161_600;

/// The service gateway `home` on cluster `openclaw`, with a log group and no token.
pub fn service_gateway() -> Gateway {
    Gateway {
        id: "home".into(),
        cluster: "openclaw".into(),
        target: GatewayTarget::Service("openclaw-gateway".into()),
        probe_url: None,
        token_secret_arn: None,
        log_group: Some("/ecs/openclaw-gateway".into()),
        state_root: "/mnt/openclaw".into(),
        state_dir: ".openclaw".into(),
    }
}

/// The same gateway as a standalone task of family `openclaw-solo`.
pub fn standalone_gateway() -> Gateway {
    Gateway {
        target: GatewayTarget::Standalone {
            family: "openclaw-solo".into(),
        },
        ..service_gateway()
    }
}
