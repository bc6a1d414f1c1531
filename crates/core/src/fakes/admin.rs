//! A gateway admin port that records the channel starts it was asked for and answers as told.

use std::sync::Mutex;

use super::lock;
use crate::gateway::Gateway;
use crate::ports::GatewayAdmin;
use crate::watch::channel_runtime::ChannelStart;

/// Records `(gateway, channel, account)` of every `channels.start` and answers each with
/// [`RecordingAdmin::answering`]'s answer (`started`, `handed-off` by default).
#[derive(Debug)]
pub struct RecordingAdmin {
    answer: ChannelStart,
    starts: Mutex<Vec<(String, String, String)>>,
}

impl Default for RecordingAdmin {
    fn default() -> Self {
        Self::answering(ChannelStart::Started {
            outcome: "handed-off".into(),
        })
    }
}

impl RecordingAdmin {
    /// One that answers every start with `answer`.
    pub fn answering(answer: ChannelStart) -> Self {
        Self {
            answer,
            starts: Mutex::new(Vec::new()),
        }
    }

    /// The starts asked for, in order.
    pub fn starts(&self) -> Vec<(String, String, String)> {
        lock(&self.starts).clone()
    }
}

impl GatewayAdmin for RecordingAdmin {
    async fn start_channel(&self, gateway: &Gateway, channel: &str, account: &str) -> ChannelStart {
        if self.answer != ChannelStart::NotHere {
            lock(&self.starts).push((gateway.id.clone(), channel.to_string(), account.to_string()));
        }
        self.answer.clone()
    }
}
