//! The reconciler's use of the gateway's admin RPC (OpenClaw's `admin-http-rpc` plugin): read
//! `channels.status` each pass where it reaches the gateway with its token, and run the
//! `channels.start` actions the policy plans. Only the reconciler knows where the gateway answers
//! (its `probe_url`, or the task's private IP in the VPC) and holds the token, so it is the one
//! [`GatewayAdmin`] that can act; every other function leaves these actions in the outbox.

use clawkeeper_core::Gateway;
use clawkeeper_core::health::GatewayToken;
use clawkeeper_core::ports::GatewayAdmin;
use clawkeeper_core::watch::channel_runtime::{ChannelStart, ChannelsCheck, Standing};
use clawkeeper_core::watch::health::ProbeOutcome;
use clawkeeper_openclaw::admin_rpc::AdminRpc;

/// Where this pass reached the gateway, and with which token: what the admin RPC needs.
pub struct Target {
    pub base: String,
    pub token: GatewayToken,
}

/// Reads the channel runtimes, unless the pass gives no reason to expect an answer: nothing
/// probed, the gateway not live (a hung one would only cost another timeout), no token (the RPC
/// needs one), or a token the gateway just refused.
pub async fn read(
    rpc: &AdminRpc,
    gateway: &Gateway,
    target: Option<&Target>,
    outcome: Option<ProbeOutcome>,
    token_rejected: bool,
) -> ChannelsCheck {
    let why = match (target, outcome) {
        _ if token_rejected => "the gateway refused the token".to_string(),
        (_, Some(ProbeOutcome::Live)) if gateway.token_secret_arn.is_none() => {
            "no gateway token (token_secret_arn) to ask the admin RPC with".to_string()
        }
        (None, Some(ProbeOutcome::Live)) => {
            "no usable gateway token (its secret unreadable, or this version refused before)".to_string()
        }
        (Some(target), Some(ProbeOutcome::Live)) => {
            return match rpc.channels_status(&target.base, &target.token).await {
                Ok(accounts) => {
                    let troubled = accounts.iter().filter(|a| a.standing() != Standing::Fine).count();
                    tracing::info!(gateway = %gateway.id, accounts = accounts.len(), troubled, "channels.status read");
                    ChannelsCheck::Read(accounts)
                }
                Err(miss) => {
                    tracing::info!(gateway = %gateway.id, why = %miss, "channels.status unknown");
                    ChannelsCheck::Unknown(miss.to_string())
                }
            };
        }
        (_, None) => return ChannelsCheck::NotAsked,
        (_, Some(_)) => "the gateway is not live".to_string(),
    };
    tracing::debug!(gateway = %gateway.id, why = %why, "channels.status not asked");
    ChannelsCheck::Unknown(why)
}

/// The admin port of one reconciler pass: `channels.start` at the target this pass reached.
pub struct PassAdmin<'a> {
    pub rpc: &'a AdminRpc,
    pub target: Option<Target>,
}

impl GatewayAdmin for PassAdmin<'_> {
    async fn start_channel(&self, gateway: &Gateway, channel: &str, account: &str) -> ChannelStart {
        let Some(target) = &self.target else {
            // A start left from an earlier pass, and the gateway out of reach in this one: the
            // policy tells the owner rather than restart a channel whenever it comes back.
            return ChannelStart::NotStarted {
                why: "the reconciler could not reach the gateway's admin RPC with its token in this pass".into(),
            };
        };
        match self
            .rpc
            .start_channel(&target.base, &target.token, channel, account)
            .await
        {
            Ok(outcome) if outcome.started => ChannelStart::Started {
                outcome: outcome.words(),
            },
            Ok(outcome) => ChannelStart::NotStarted { why: outcome.words() },
            Err(miss) => {
                tracing::warn!(gateway = %gateway.id, channel, account, why = %miss, "channels.start not answered");
                ChannelStart::NotStarted { why: miss.to_string() }
            }
        }
    }
}
