//! Fixtures the policy's test suites share: the clock's origin, the gateways they watch, task
//! ARNs, and [`Sim`], which drives [`plan`] the way the engine does.

use crate::ecs::DeploymentLimits;
use crate::gateway::{Gateway, GatewayTarget};
use crate::policy_settings::PolicySettings;
use crate::watch::action::{Action, ActionKind};
use crate::watch::notice::{Notice, NoticeKind};
use crate::watch::state::GatewayState;
use crate::watch::{EcsObservation, ObservedTask};
use crate::watch::{Input, plan};

/// 2026-11-20 08:00:00 UTC.
pub const T0: i64 = 1_795_161_600;

/// A gateway `id` on `cluster` with the defaults of the configuration: no probe URL, token or
/// log group; state at `/mnt/openclaw/.openclaw`.
pub fn gateway(id: &str, cluster: &str, target: GatewayTarget) -> Gateway {
    Gateway {
        id: id.into(),
        cluster: cluster.into(),
        target,
        probe_url: None,
        token_secret_arn: None,
        log_group: None,
        state_root: "/mnt/openclaw".into(),
        state_dir: ".openclaw".into(),
    }
}

/// The service gateway `home` on cluster `openclaw`, with a log group and no token.
pub fn service_gateway() -> Gateway {
    Gateway {
        log_group: Some("/ecs/openclaw-gateway".into()),
        ..gateway("home", "openclaw", GatewayTarget::Service("openclaw-gateway".into()))
    }
}

/// The service gateway with a token in Secrets Manager: what its probes and admin RPC calls use.
pub fn service_gateway_with_token() -> Gateway {
    Gateway {
        token_secret_arn: Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:gw-token".into()),
        ..service_gateway()
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

/// The ARN of task `task` in cluster `openclaw`.
pub fn arn(task: &str) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task/openclaw/{task}")
}

/// Task `id` of the gateway's family, RUNNING since `started_at` at 10.0.1.23.
pub fn observed_task(id: &str, started_at: i64) -> ObservedTask {
    ObservedTask {
        task_arn: arn(id),
        task_definition: Some("arn:aws:ecs:us-east-1:123456789012:task-definition/openclaw-gateway:7".into()),
        started_at: Some(started_at),
        private_ip: Some("10.0.1.23".into()),
        subnet_id: Some("subnet-0a1b2c3d".into()),
        ..Default::default()
    }
}

/// ECS's view of a single-writer service, desired 1, with `running` tasks.
pub fn ecs_running(running: Vec<ObservedTask>) -> EcsObservation {
    EcsObservation {
        desired: Some(1),
        pending: 0,
        limits: Some(DeploymentLimits {
            minimum_healthy_percent: Some(0),
            maximum_percent: Some(100),
        }),
        running,
        stopped: Vec::new(),
    }
}

/// The policy run as the engine runs it: each input planned on the state the last one left, every
/// new action in the outbox, then confirmed done; plans checked to be deterministic.
pub struct Sim {
    pub state: GatewayState,
    pub cfg: PolicySettings,
    pub gw: Gateway,
    /// Every action taken, with when.
    pub log: Vec<(i64, Action)>,
}

impl Sim {
    /// A gateway never seen, under `cfg`.
    pub fn new(gw: Gateway, cfg: PolicySettings) -> Self {
        Self {
            state: GatewayState::default(),
            cfg,
            gw,
            log: Vec::new(),
        }
    }

    /// Plans `input` at `now` and carries its actions out.
    pub fn at(&mut self, now: i64, input: Input) -> Vec<Action> {
        let out = plan(&self.state, &input, now, &self.cfg, &self.gw);
        assert_eq!(
            out,
            plan(&self.state, &input, now, &self.cfg, &self.gw),
            "deterministic"
        );
        for a in &out.actions {
            assert!(out.state.pending.contains(a), "new actions are in the outbox");
        }
        self.state = out.state;
        for a in &out.actions {
            assert!(self.state.confirm_done(&a.key));
            self.log.push((now, a.clone()));
        }
        out.actions
    }

    /// A reconciler tick at `now`.
    pub fn tick(&mut self, now: i64) -> Vec<Action> {
        self.at(now, Input::Tick)
    }

    /// Every notice sent so far.
    pub fn notices(&self) -> Vec<&Notice> {
        self.log
            .iter()
            .filter_map(|(_, a)| match &a.kind {
                ActionKind::Notify(n) => Some(n),
                _ => None,
            })
            .collect()
    }

    /// Their kinds.
    pub fn kinds(&self) -> Vec<NoticeKind> {
        self.notices().iter().map(|n| n.kind).collect()
    }
}
