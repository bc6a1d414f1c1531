//! What clawkeeper reads from OpenClaw from the outside: its log lines, classified into channel
//! signals ([`channel_log`]), its HTTP health endpoints, probed on the hyper stack the SDK
//! already builds on ([`probe`]), and its opt-in admin RPC over the same client ([`admin_rpc`]:
//! channel runtimes and restarts).

pub mod admin_rpc;
pub mod channel_log;
pub mod probe;
